"""Rendering: Discord's limits whatever the content, no mention parsed, buttons only for links."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from pathlib import PurePosixPath

import jsonschema
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.config import Settings, SiteSettings
from bot.content.images import attachment_name, repository_image
from bot.content.models import Author, EpisodeStatus, Recap, ShowEvent
from bot.render.limits import allowed_mentions, cut, embed_chars, fit_message
from bot.render.messages import (
    announcement_preview,
    autocomplete_name,
    discord_timestamp,
    episode_reply,
    episode_status,
    live_now_message,
    mark_delayed,
    not_found_reply,
    nothing_yet_reply,
    organiser_announcement,
    recap_announcement,
    recap_autocomplete_name,
    recap_reply,
    recap_url_for,
    reminder_message,
    schedule_reply,
    slugify,
    when_line,
)
from testkit.sandbox.validation import SPEC_PATH
from tests import builders

SPEC = SPEC_PATH  # Discord's own OpenAPI description, shipped with the stand-in
SETTINGS = Settings()
NONE_MENTIONS = {"parse": [], "roles": [], "users": [], "replied_user": False}
EVIL = "@everyone @here <@123> <@!456> <@&789>"

LS = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)  # Monday 10:30 PDT
AMA = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)  # Friday 10:30 PDT
BEFORE = datetime(2025, 7, 10, tzinfo=UTC)


# The episode the renderers are shown: everything filled in.
make_episode = partial(
    builders.make_episode,
    path="episodes/s2-e05.md",
    ls_at=LS,
    ama_at=AMA,
    ama_url="https://discord.gg/x",
    summary="Model customization is critical.",
    hosts=("Nitya Narasimhan",),
    tags=("fine-tuning", "distillation"),
    links={"replay": "https://www.youtube.com/watch?v=VSNGzBB20aw"},
)


def make_recap(**kw) -> Recap:
    base = dict(
        id="s2e5-recap",
        path="recaps/s2e5-recap.md",
        title="S2:E5 Understanding Fine Tuning & Distillation with Dave Voutila",
        published=datetime(2025, 7, 14, 7, 0, tzinfo=UTC),  # 2025-07-14 00:00 PDT
        summary="Model Mondays is a weekly series.",
        key_takeaway="Customise for your needs.",
        authors=("sharda", "nitya"),
        tags=("fine-tuning", "distillation"),
        episode_id="s2-e05",
    )
    base.update(kw)
    return Recap(**base)


AUTHORS = {"sharda": Author("sharda", "Sharda Kaur"), "nitya": Author("nitya", "Nitya Narasimhan")}


# -- the limit checker every test uses -------------------------------------------------------


@cache
def _validator():
    spec = json.loads(SPEC.read_text())
    return jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/MessageCreateRequest", "components": spec["components"]}
    )


def assert_valid(payload: dict) -> None:
    """Every Discord limit, plus the OpenAPI schema for a message create request."""
    content = payload.get("content")
    assert content is None or len(content) <= 2000
    embeds = payload.get("embeds") or []
    assert len(embeds) <= 10
    assert sum(embed_chars(e) for e in embeds) <= 6000
    for e in embeds:
        assert len(e.get("title", "")) <= 256
        assert len(e.get("description", "")) <= 4096
        fields = e.get("fields", [])
        assert len(fields) <= 25
        for f in fields:
            assert 0 < len(f["name"]) <= 256
            assert 0 < len(f["value"]) <= 1024 and f["value"].strip()
        assert len(e.get("footer", {}).get("text", "")) <= 2048
        assert len(e.get("author", {}).get("name", "")) <= 256
        assert embed_chars(e) <= 6000
    rows = payload.get("components") or []
    assert len(rows) <= 5
    for row in rows:
        assert row["type"] == 1 and 1 <= len(row["components"]) <= 5
        for b in row["components"]:
            if b["type"] != 2:
                continue
            assert len(b.get("label", "")) <= 80
            if b["style"] == 5:
                assert re.match(r"https?://", b["url"]) and len(b["url"]) <= 512
                assert "custom_id" not in b
            else:
                assert 1 <= len(b["custom_id"]) <= 100
    am = payload["allowed_mentions"]
    assert am["parse"] == [] and am["users"] == [] and am["replied_user"] is False
    errors = [e.message[:200] for e in _validator().iter_errors(payload)]
    assert not errors, errors


# -- small pieces ----------------------------------------------------------------------------


def test_timestamps():
    dt = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
    assert discord_timestamp(dt) == "<t:1752859800:F>"
    assert discord_timestamp(dt, "R") == "<t:1752859800:R>"
    assert when_line(dt) == "<t:1752859800:F> (<t:1752859800:R>)"
    with pytest.raises(ValueError):
        discord_timestamp(datetime(2025, 1, 1))


def test_allowed_mentions():
    assert allowed_mentions() == NONE_MENTIONS
    assert allowed_mentions(42) == {
        "parse": [],
        "roles": ["42"],
        "users": [],
        "replied_user": False,
    }


def test_cut_at_a_word_with_an_ellipsis():
    text = "the quick brown fox jumps over the lazy dog"
    assert cut(text, 100) == text
    assert cut(text, 12) == "the quick…"
    assert len(cut(text, 12)) <= 12
    assert cut("x" * 50, 10) == "x" * 9 + "…"  # one long word is cut where it must be
    assert cut("abc", 1) == "…" and cut("abc", 0) == ""
    for limit in range(1, 60):
        assert len(cut(text, limit)) <= limit


def test_urls_must_be_plain_http():
    from bot.render.limits import is_http_url

    assert is_http_url("https://discord.gg/azureaifoundry?event=1382862245721014476")
    assert is_http_url("HTTP://example.org/a_b-c~d%20e")
    for bad in (
        "javascript:alert(1)",
        "ftp://x.org",
        "https://",
        "https://x.org/a b",
        "https://x.org/<@1>",
        "",
        None,
    ):
        assert not is_http_url(bad), bad


def test_slugify_like_mkdocs():
    assert (
        slugify("S2:E5 Understanding Fine Tuning & Distillation with Dave Voutila")
        == "s2e5-understanding-fine-tuning-distillation-with-dave-voutila"
    )
    assert slugify("Café — déjà vu!") == "cafe-deja-vu"


# -- fit_message -----------------------------------------------------------------------------


def huge_payload(n=10):
    word = "lorem ipsum "
    long = {k: word * (k * n // len(word) + 1) for k in (80, 100, 256, 1024, 2048, 4096)}
    return {
        "content": word * (2000 * n // len(word)) + EVIL,
        "embeds": [
            {
                "title": long[256],
                "description": long[4096],
                "url": "https://example.org/" + "a" * 5000,
                "color": 0x1FFFFFF,
                "fields": [
                    {"name": long[256], "value": long[1024], "inline": True} for _ in range(25 * n)
                ]
                + [{"name": "", "value": ""}, {"name": "x", "value": "   "}],
                "footer": {"text": long[2048]},
                "author": {"name": long[256]},
                "image": {"url": "ftp://nope"},
            }
            for _ in range(10 * n)
        ],
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 1, "label": long[80], "custom_id": long[100]},
                    {"type": 2, "style": 5, "label": "ok", "url": "https://example.org/ok"},
                    {
                        "type": 2,
                        "style": 5,
                        "label": "long",
                        "url": "https://example.org/" + "u" * 600,
                    },
                    {"type": 2, "style": 5, "label": "js", "url": "javascript:alert(1)"},
                    {"type": 2, "style": 5, "label": "", "url": "https://example.org/"},
                ]
                * 3,
            }
            for _ in range(5 * n)
        ],
    }


def test_fit_message_with_everything_ten_times_too_long():
    payload = huge_payload()
    fitted = fit_message(payload)
    assert_valid(fitted)
    assert fitted["allowed_mentions"] == NONE_MENTIONS  # added when missing
    assert fitted["content"].endswith("…")
    assert fitted["embeds"][0]["title"].endswith("…")
    assert "url" not in fitted["embeds"][0] and "image" not in fitted["embeds"][0]
    assert fitted["embeds"][0]["color"] == 0xFFFFFF
    # No bad link survives, and buttons reflow into rows of five.
    links = [b for r in fitted["components"] for b in r["components"] if b["style"] == 5]
    assert links and all(b["url"] == "https://example.org/ok" for b in links)
    assert payload["content"].startswith(fitted["content"][:-1])  # the input is untouched


def test_fit_message_keeps_small_payloads_unchanged():
    small = {
        "content": "hello",
        "embeds": [
            {
                "title": "t",
                "description": "d",
                "fields": [{"name": "n", "value": "v", "inline": False}],
            }
        ],
        "components": [
            {
                "type": 1,
                "components": [{"type": 2, "style": 5, "label": "Go", "url": "https://x.org"}],
            }
        ],
        "allowed_mentions": allowed_mentions(3),
    }
    assert fit_message(small) == small


def test_empty_field_values_are_replaced():
    fitted = fit_message({"embeds": [{"title": "t", "fields": [{"name": "", "value": ""}]}]})
    (field,) = fitted["embeds"][0]["fields"]
    assert field["name"].strip("\u200b") == "" and field["name"]
    assert field["value"] == "—"


def test_total_across_embeds_is_6000():
    embeds = [{"title": "t", "description": "word " * 800} for _ in range(5)]
    fitted = fit_message({"embeds": embeds})
    assert sum(embed_chars(e) for e in fitted["embeds"]) <= 6000
    assert len(fitted["embeds"]) == 5  # descriptions shrank before any embed was dropped


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(min_size=0, max_size=9000),
    n_fields=st.integers(0, 40),
    n_embeds=st.integers(1, 12),
)
def test_fit_message_property(text, n_fields, n_embeds):
    payload = {
        "content": text * 3,
        "embeds": [
            {
                "title": text,
                "description": text,
                "fields": [{"name": text, "value": text} for _ in range(n_fields)],
                "footer": {"text": text},
            }
            for _ in range(n_embeds)
        ],
    }
    assert_valid(fit_message(payload))


# -- episodes --------------------------------------------------------------------------------


def buttons(payload):
    """The link buttons; `custom_ids` lists the others ("Remind me", "Add to calendar")."""
    return {
        b["label"]: b.get("url")
        for r in payload.get("components", [])
        for b in r["components"]
        if b.get("style") == 5
    }


def custom_ids(payload):
    return [
        b["custom_id"]
        for r in payload.get("components", [])
        for b in r["components"]
        if "custom_id" in b
    ]


def test_episode_reply_shape():
    ep = make_episode()
    payload = episode_reply(
        ep,
        now=BEFORE,
        recap=make_recap(),
        recap_url="https://example.org/recap",
        image_url="https://example.org/img.png",
        settings=SETTINGS,
    )
    assert_valid(payload)
    assert payload["allowed_mentions"] == NONE_MENTIONS
    (embed,) = payload["embeds"]
    assert embed["title"] == "S2:E5 · Fine Tuning & Distillation"
    assert "Model customization is critical." in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Guest"] == "Dave Voutila" and fields["Host"] == "Nitya Narasimhan"
    assert fields["Livestream"] == when_line(LS)
    assert fields["AMA"] == when_line(AMA)
    assert "`fine-tuning`" in fields["Tags"]
    assert embed["image"] == {"url": "https://example.org/img.png"}
    assert buttons(payload) == {
        "Register": "https://example.org/register",
        "Join the AMA": "https://discord.gg/x",
        "Watch the replay": "https://www.youtube.com/watch?v=VSNGzBB20aw",
        "Read the recap": "https://example.org/recap",
    }


def test_attachment_images_are_kept():
    payload = episode_reply(
        make_episode(), now=BEFORE, image_url="attachment://S2-E5.png", settings=SETTINGS
    )
    assert payload["embeds"][0]["image"] == {"url": "attachment://S2-E5.png"}


def test_buttons_only_when_links_exist():
    ep = make_episode(
        livestream=ShowEvent("livestream", LS, timedelta(minutes=30)),
        ama=None,
        links={},
    )
    payload = episode_reply(ep, now=BEFORE, settings=SETTINGS)
    assert payload["components"] == []
    fields = {f["name"]: f["value"] for f in payload["embeds"][0]["fields"]}
    assert fields["AMA"] == "TBD"
    only_ama = make_episode(livestream=None, links={})
    assert buttons(episode_reply(only_ama, now=BEFORE, settings=SETTINGS)) == {
        "Join the AMA": "https://discord.gg/x"
    }


@pytest.mark.parametrize(
    ("kw", "now", "expected"),
    [
        (
            {"status": EpisodeStatus.TBD, "livestream": None, "ama": None, "links": {}},
            BEFORE,
            "Date to be announced",
        ),
        ({"status": EpisodeStatus.CANCELLED}, BEFORE, "Cancelled"),
        ({}, LS + timedelta(minutes=5), "Live now"),
        ({"status": EpisodeStatus.LIVE, "links": {}}, LS - timedelta(hours=1), "Live now"),
        ({"links": {}}, BEFORE, "Upcoming"),
        ({"status": EpisodeStatus.PUBLISHED}, AMA + timedelta(days=1), "Replay available"),
        ({"status": EpisodeStatus.PUBLISHED, "links": {}}, AMA + timedelta(days=1), "Aired"),
    ],
)
def test_status_is_obvious(kw, now, expected):
    ep = make_episode(**kw)
    line, _ = episode_status(ep, now)
    assert expected in line
    payload = episode_reply(ep, now=now, settings=SETTINGS)
    assert expected in payload["embeds"][0]["description"]
    assert_valid(payload)


def test_live_event_is_marked_in_its_field():
    payload = episode_reply(make_episode(), now=AMA + timedelta(minutes=1), settings=SETTINGS)
    fields = {f["name"]: f["value"] for f in payload["embeds"][0]["fields"]}
    assert "live now" in fields["AMA"] and "live now" not in fields["Livestream"]
    assert "the AMA is on" in payload["embeds"][0]["description"]


def test_cancelled_episode_strikes_its_times():
    payload = episode_reply(
        make_episode(status=EpisodeStatus.CANCELLED), now=BEFORE, settings=SETTINGS
    )
    fields = {f["name"]: f["value"] for f in payload["embeds"][0]["fields"]}
    assert fields["Livestream"].startswith("~~") and "cancelled" in fields["Livestream"]


def evil_episode(n=10):
    long = (EVIL + " ") * (400 * n)
    return make_episode(
        id="x" * 300,
        season=None,
        title=long[:3000],
        summary=long,
        guests=tuple(long[:500] for _ in range(60)),
        hosts=(EVIL,) * 50,
        tags=tuple(f"tag{i} {EVIL}" for i in range(400)),
        livestream=ShowEvent("livestream", LS, timedelta(minutes=30), "https://x.org/" + "a" * 600),
        ama=ShowEvent(
            "ama", AMA, timedelta(minutes=30), "https://x.org/ama?" + EVIL.replace(" ", "")
        ),
        links={"replay": "not a url"},
    )


def evil_recap(n=10):
    long = (EVIL + " ") * (400 * n)
    return make_recap(
        id="r" * 300,
        title=long[:5000],
        summary=long,
        key_takeaway=long,
        authors=tuple(f"a{i}" for i in range(200)),
        tags=tuple(EVIL for _ in range(300)),
        url="https://example.org/" + "r" * 3000,
    )


def test_every_render_function_with_huge_hostile_content_is_valid_and_pings_nobody_else():
    ep, rc = evil_episode(), evil_recap()
    evil_authors = {f"a{i}": Author(f"a{i}", EVIL * 20) for i in range(200)}
    event = ep.ama
    payloads = {
        "episode": episode_reply(
            ep, now=BEFORE, recap=rc, recap_url="https://x.org/r", settings=SETTINGS
        ),
        "recap": recap_reply(
            rc, episode=ep, authors=evil_authors, recap_url="https://x.org/r", settings=SETTINGS
        ),
        "schedule": schedule_reply([(ep, event)] * 50, now=BEFORE, settings=SETTINGS),
        "not_found": not_found_reply("episode", EVIL * 500, [EVIL * 100] * 10),
        "announcement": recap_announcement(
            rc, episode=ep, authors=evil_authors, recap_url=None, role_id=0
        ),
        "reminder": reminder_message(ep, event, timedelta(hours=1), role_id=0, settings=SETTINGS),
        "live_now": live_now_message(ep, event, 0, SETTINGS),
        "organiser": organiser_announcement(EVIL * 1000, role_id=0),
    }
    payloads["delayed"] = mark_delayed(payloads["reminder"])
    payloads["preview"] = announcement_preview(
        payloads["organiser"], due_at=AMA, channel_id=5, role_id=0
    )
    # Long titles are cut before the time line, so the reminder still says when.
    assert discord_timestamp(AMA) in payloads["reminder"]["content"]
    assert "https://x.org/ama" not in str(payloads["reminder"])  # "<" in a URL: no button
    for name, payload in payloads.items():
        assert_valid(payload)
        assert payload["allowed_mentions"] == NONE_MENTIONS, name


def test_role_mentions_allow_only_the_configured_role():
    ep, rc = make_episode(title=EVIL), make_recap(title=EVIL, summary=EVIL)
    for payload in (
        recap_announcement(rc, episode=ep, authors={}, recap_url=None, role_id=77),
        reminder_message(ep, ep.ama, timedelta(0), role_id=77, settings=SETTINGS),
        live_now_message(ep, ep.ama, 77, SETTINGS),
        organiser_announcement(EVIL, role_id=77),
    ):
        assert payload["allowed_mentions"] == {
            "parse": [],
            "roles": ["77"],
            "users": [],
            "replied_user": False,
        }
        assert payload["content"].startswith("<@&77> ")
        assert_valid(payload)


def test_autocomplete_name():
    assert autocomplete_name(make_episode()) == "S2:E5 · Fine Tuning & Distillation — Dave Voutila"
    two = make_episode(guests=("A B", "C D"))
    assert autocomplete_name(two) == "S2:E5 · Fine Tuning & Distillation — A B, C D"
    long_guests = autocomplete_name(make_episode(guests=("Somebody With A Long Name",) * 10))
    assert len(long_guests) <= 100 and long_guests.startswith(
        "S2:E5 · Fine Tuning & Distillation — "
    )
    assert long_guests.endswith("…")
    long_title = autocomplete_name(make_episode(title="word " * 100))
    assert len(long_title) <= 100 and long_title.endswith("…") and "—" not in long_title
    assert autocomplete_name(make_episode(title="", guests=())) == "S2:E5"
    assert (
        autocomplete_name(make_episode(title="multi\nline\ttitle", guests=()))
        == "S2:E5 · multi line title"
    )
    for ep in (evil_episode(), make_episode(season=None, id="z" * 500)):
        assert 1 <= len(autocomplete_name(ep)) <= 100


def test_recap_autocomplete_name():
    rc = make_recap()
    assert recap_autocomplete_name(rc, make_episode()) == (
        "S2:E5 Understanding Fine Tuning & Distillation with Dave Voutila · 2025-07-14"
    )
    plain = make_recap(title="Understanding Fine Tuning")
    assert (
        recap_autocomplete_name(plain, make_episode())
        == "S2:E5 · Understanding Fine Tuning · 2025-07-14"
    )
    assert recap_autocomplete_name(plain, None) == "Understanding Fine Tuning · 2025-07-14"
    assert len(recap_autocomplete_name(evil_recap(), make_episode())) <= 100


# -- recaps ----------------------------------------------------------------------------------


def test_recap_url_for():
    pattern = Settings(
        site=SiteSettings(recaps_url="https://example.org/blog/{yyyy}/{mm}/{dd}/{slug}/")
    )
    rc = make_recap()
    # Published 2025-07-14 00:00 in Los Angeles = 07:00Z: the blog's date is the local one.
    assert recap_url_for(rc, pattern) == (
        "https://example.org/blog/2025/07/14/s2e5-understanding-fine-tuning-distillation-with-dave-voutila/"
    )
    assert (
        recap_url_for(replace(rc, url="https://elsewhere.org/post"), pattern)
        == "https://elsewhere.org/post"
    )
    assert recap_url_for(rc, SETTINGS) is None
    by_id = Settings(site=SiteSettings(recaps_url="https://example.org/r/{id}"))
    assert recap_url_for(rc, by_id) == "https://example.org/r/s2e5-recap"
    assert recap_url_for(replace(rc, title=""), pattern).endswith("/s2e5-recap/")


def test_recap_reply_shape():
    payload = recap_reply(
        make_recap(),
        episode=make_episode(),
        authors=AUTHORS,
        recap_url="https://x.org/r",
        settings=SETTINGS,
    )
    assert_valid(payload)
    (embed,) = payload["embeds"]
    assert embed["title"].startswith("S2:E5 Understanding")
    assert embed["url"] == "https://x.org/r"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Key takeaway"] == "Customise for your needs."
    assert fields["Authors"] == "Sharda Kaur and Nitya Narasimhan"
    assert fields["Published"] == "<t:1752476400:D>"
    assert fields["Episode"] == "S2:E5 · Fine Tuning & Distillation"
    assert buttons(payload) == {"Read the recap": "https://x.org/r"}


def test_recap_reply_without_link_episode_or_takeaway():
    rc = make_recap(key_takeaway=None, episode_id=None, authors=("unknown",))
    payload = recap_reply(rc, authors=AUTHORS, settings=SETTINGS)
    fields = {f["name"]: f["value"] for f in payload["embeds"][0]["fields"]}
    assert "Key takeaway" not in fields and "Episode" not in fields
    assert fields["Author"] == "unknown"  # the key, when the authors file lacks it
    assert payload["components"] == []
    assert "url" not in payload["embeds"][0]


def test_recap_announcement():
    payload = recap_announcement(
        make_recap(image="https://x.org/card.png"),
        episode=make_episode(),
        authors=AUTHORS,
        recap_url="https://x.org/r",
        role_id=9,
    )
    assert_valid(payload)
    assert (
        payload["content"]
        == "<@&9> 📝 New recap: **S2:E5 Understanding Fine Tuning & Distillation "
        "with Dave Voutila**"
    )
    (embed,) = payload["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Episode"] == "S2:E5 · Fine Tuning & Distillation"
    assert fields["Authors"] == "Sharda Kaur and Nitya Narasimhan"
    assert "`distillation`" in fields["Tags"]
    assert embed["image"] == {"url": "https://x.org/card.png"}
    assert buttons(payload) == {"Read the recap": "https://x.org/r"}
    no_role = recap_announcement(
        make_recap(image="img/local.png"), episode=None, authors={}, recap_url=None, role_id=0
    )
    assert "<@&" not in no_role["content"]
    # A card given as a repository path is attached (issue 23): read from the checkout when sent.
    assert no_role["embeds"][0]["image"] == {"url": "attachment://local.png"}
    assert no_role["files"] == [{"filename": "local.png", "path": "recaps/img/local.png"}]
    assert no_role["components"] == []
    no_image = recap_announcement(
        make_recap(image="img/notes.txt"), episode=None, authors={}, recap_url=None, role_id=0
    )
    assert "image" not in no_image["embeds"][0] and "files" not in no_image


def test_a_recap_card_given_as_a_repository_path():
    seed = make_recap(image="./../../season-02/img/S2-E5.png")
    attached = recap_announcement(seed, episode=None, authors={}, recap_url=None, role_id=0)
    # Climbing above the content root from recaps/: read from the root, `../` dropped.
    assert attached["files"] == [{"filename": "S2-E5.png", "path": "season-02/img/S2-E5.png"}]
    assert attached["embeds"][0]["image"] == {"url": "attachment://S2-E5.png"}
    assert_valid(attached)
    shown = recap_announcement(
        seed,
        episode=None,
        authors={},
        recap_url=None,
        role_id=0,
        images_url="https://org.github.io/content/",
    )
    assert shown["embeds"][0]["image"] == {
        "url": "https://org.github.io/content/season-02/img/S2-E5.png"
    }
    assert "files" not in shown
    # /recap answers with the same card.
    reply = recap_reply(seed, authors={}, settings=SETTINGS)
    assert reply["files"] == attached["files"]
    assert reply["embeds"][0]["image"] == {"url": "attachment://S2-E5.png"}


@pytest.mark.parametrize(
    ("ref", "document", "expected"),
    [
        ("img/a.png", "recaps/x.md", "recaps/img/a.png"),
        ("../img/a.PNG", "recaps/x.md", "img/a.PNG"),
        ("/season-02/img/a.jpg", "recaps/deep/x.md", "season-02/img/a.jpg"),
        ("./../../season-02/img/S2-E5.png", "recaps/x.md", "season-02/img/S2-E5.png"),
        ("img/a.png?raw=1#top", "x.md", "img/a.png"),
        ("../../../etc/passwd", "recaps/x.md", None),
        ("https://x.org/a.png", "recaps/x.md", None),
        ("data:image/png;base64,AAAA", "recaps/x.md", None),
        ("C:/img/a.png", "recaps/x.md", None),
        ("", "recaps/x.md", None),
    ],
)
def test_repository_image_paths_stay_under_the_content_root(
    ref: str, document: str, expected: str | None
):
    path = repository_image(ref, document)
    assert (path.as_posix() if path is not None else None) == expected


def test_attachment_names_are_safe_for_discord():
    assert attachment_name(PurePosixPath("img/S2 E5 (card).PNG")) == "S2_E5_card_.PNG"
    assert attachment_name(PurePosixPath("img/..png")) == "png.png"


# -- schedule and not found ------------------------------------------------------------------


def test_schedule_reply():
    ep = make_episode()
    payload = schedule_reply([(ep, ep.livestream), (ep, ep.ama)], now=BEFORE, settings=SETTINGS)
    assert_valid(payload)
    desc = payload["embeds"][0]["description"]
    assert "**S2:E5** · Fine Tuning & Distillation — Livestream\n" + when_line(LS) in desc
    assert "— AMA\n" + when_line(AMA) in desc
    empty = schedule_reply([], now=BEFORE, settings=SETTINGS)
    assert "Nothing is scheduled right now" in empty["embeds"][0]["description"]
    season = schedule_reply([], now=BEFORE, settings=SETTINGS, season=3)
    assert "Nothing is scheduled in season 3" in season["embeds"][0]["description"]
    assert season["embeds"][0]["title"].endswith("(season 3)")


def test_schedule_reply_marks_live_and_says_how_many_are_left_out():
    ep = make_episode(title="t " * 70)
    payload = schedule_reply([(ep, ep.ama)] * 60, now=AMA + timedelta(minutes=1), settings=SETTINGS)
    desc = payload["embeds"][0]["description"]
    assert "live now" in desc and re.search(r"…and \d+ more$", desc)
    assert_valid(payload)


def test_not_found_reply():
    payload = not_found_reply(
        "episode", "s9e9", ["S2:E5 · A", "S2:E6 · B", "S2:E7 · C", "S2:E8 · D"]
    )
    assert payload["content"] == (
        "I couldn't find an episode matching “s9e9”.\n"
        "Did you mean:\n• S2:E5 · A\n• S2:E6 · B\n• S2:E7 · C"
    )
    assert (
        not_found_reply("recap", "zzz", [])["content"] == "I couldn't find a recap matching “zzz”."
    )


def test_nothing_yet_reply():
    assert nothing_yet_reply("episode")["content"] == "There are no episodes yet. Check back soon!"
    recap = nothing_yet_reply("recap")
    assert recap["content"] == "There are no published recaps yet. Check back soon!"
    assert recap["allowed_mentions"]["parse"] == []


# -- reminders -------------------------------------------------------------------------------


def test_reminder_message_reads_in_one_glance():
    ep = make_episode()
    payload = reminder_message(ep, ep.ama, timedelta(hours=1), role_id=5, settings=SETTINGS)
    assert payload["content"] == (
        "<@&5> ⏰ **Friday AMA in 1 hour:** Fine Tuning & Distillation with Dave Voutila\n"
        f"{when_line(AMA)} · S2:E5 · Model Mondays"
    )
    assert buttons(payload) == {"Join the AMA": "https://discord.gg/x"}
    assert custom_ids(payload) == ["amabot:remindme:ama"]
    ls = reminder_message(ep, ep.livestream, timedelta(hours=24), role_id=0, settings=SETTINGS)
    assert ls["content"].startswith("⏰ **Monday livestream in 24 hours:**")
    assert buttons(ls) == {"Register for the livestream": "https://example.org/register"}
    now = reminder_message(ep, ep.livestream, timedelta(0), role_id=0, settings=SETTINGS)
    assert "starting now" in now["content"]
    assert buttons(now) == {"Join the livestream": "https://example.org/register"}
    mixed = reminder_message(ep, ep.ama, timedelta(minutes=90), role_id=0, settings=SETTINGS)
    assert "in 1 hour 30 minutes" in mixed["content"]


def test_reminder_without_link_or_guests():
    ep = make_episode(guests=(), ama=ShowEvent("ama", AMA, timedelta(minutes=30)))
    payload = reminder_message(ep, ep.ama, timedelta(minutes=10), role_id=0, settings=SETTINGS)
    assert "**Friday AMA in 10 minutes:** Fine Tuning & Distillation\n" in payload["content"]
    assert custom_ids(payload) == ["amabot:remindme:ama"]  # no link: only "Remind me"
    quiet = reminder_message(
        ep, ep.ama, timedelta(minutes=10), role_id=0, settings=SETTINGS, remind_me=False
    )
    assert quiet["components"] == []


def test_reminder_weekday_is_in_the_events_zone():
    # 17:30 UTC on a Friday is already Saturday in Tokyo.
    ep = make_episode(ama=ShowEvent("ama", AMA, timedelta(minutes=30), None, "Asia/Tokyo"))
    payload = reminder_message(ep, ep.ama, timedelta(hours=1), role_id=0, settings=SETTINGS)
    assert "Saturday AMA" in payload["content"]


def test_mark_delayed_is_idempotent_and_keeps_the_marker_when_long():
    ep = make_episode()
    payload = reminder_message(ep, ep.ama, timedelta(hours=1), role_id=5, settings=SETTINGS)
    delayed = mark_delayed(payload)
    first = delayed["content"].split("\n")[0]
    assert first.endswith("(delayed)")
    assert mark_delayed(delayed) == delayed
    assert delayed["allowed_mentions"] == payload["allowed_mentions"]
    long = mark_delayed({"content": "word " * 500})
    assert long["content"].endswith("(delayed)") and len(long["content"]) <= 2000
    assert mark_delayed({"embeds": [{"title": "x"}]})["content"] == "(delayed)"


def test_live_now_message():
    ep = make_episode()
    payload = live_now_message(ep, ep.ama, 5, SETTINGS)
    assert payload["content"].startswith(
        "<@&5> 🔴 **Friday AMA is live now:** Fine Tuning & Distillation"
    )
    assert discord_timestamp(AMA, "R") in payload["content"]
    assert buttons(payload) == {"Join the AMA": "https://discord.gg/x"}


# -- organiser announcements -----------------------------------------------------------------


def test_organiser_announcement_is_the_text_as_typed():
    text = "Hello @everyone, <@123> and <@&456>: **AMA** tomorrow!"
    assert organiser_announcement(text, role_id=0) == {
        "content": text,
        "allowed_mentions": NONE_MENTIONS,
    }
    with_role = organiser_announcement(text, role_id=9)
    assert with_role["content"] == f"<@&9> {text}"
    assert with_role["allowed_mentions"]["roles"] == ["9"]
    already = organiser_announcement("Hi <@&9>!", role_id=9)
    assert already["content"] == "Hi <@&9>!"
    assert len(organiser_announcement("x " * 3000, role_id=9)["content"]) <= 2000


def test_announcement_preview():
    post = organiser_announcement("Hello @everyone", role_id=9)
    preview = announcement_preview(post, due_at=AMA, channel_id=42, role_id=9)
    assert_valid(preview)
    assert preview["allowed_mentions"] == NONE_MENTIONS
    assert "<#42>" in preview["content"] and when_line(AMA) in preview["content"]
    assert "<@&9> and nobody else" in preview["content"]
    assert preview["embeds"][0]["description"] == "<@&9> Hello @everyone"
    nobody = announcement_preview(
        organiser_announcement("hi", role_id=0), due_at=AMA, channel_id=42, role_id=0
    )
    assert "ping nobody" in nobody["content"]
