"""/episode, /recap, /schedule and their autocomplete, through the sandbox with real discord.py.

Content is written per test (native episode files, blog-format recaps, the hub's YAML from
the real corpus); the clock is the Sunday before the S2:E5 livestream. Every request the bot
makes is checked against Discord's OpenAPI spec at teardown.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.config import Settings
from bot.content.index import ContentIndex
from testkit.harness import Harness
from testkit.sandbox.interactions import APPLICATION_COMMAND
from tests.builders import episode_md, recap_md

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "model-mondays"
RECAPS_URL = "https://example.org/blog/{yyyy}/{mm}/{dd}/{slug}/"
SUNDAY = datetime(2025, 7, 13, 16, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64

# -- content ---------------------------------------------------------------------------------


# This world's files: times given in UTC, links numbered by episode, no AMA unless given.
our_episode = partial(
    episode_md,
    timezone=None,
    summary="",
    guests=(),
    livestream=None,
    ama=None,
    body="About the episode.",
)
our_recap = partial(
    recap_md,
    None,
    authors=("sharda", "nitya"),
    categories=(),
    tags=("recap",),
    url=None,
    episode=None,
    summary="A short summary.",
    image=None,
    more=True,
)


def links(number: int) -> dict[str, str]:
    return {
        "livestream_url": f"https://developer.microsoft.com/en-us/reactor/events/{number}/",
        "ama_url": f"https://discord.gg/example?event={number}",
    }


AUTHORS = """authors:
  nitya:
    name: Nitya Narasimhan
  sharda:
    name: Sharda Kaur
"""


def write_world(root: Path) -> Path:
    """Live, upcoming, TBD, cancelled and aired episodes; published, draft and orphan recaps."""
    eps = root / "episodes"
    (eps / "img").mkdir(parents=True)
    (eps / "img" / "s2e5.png").write_bytes(PNG)
    files = {
        "s2-e03.md": our_episode(
            "s2-e03",
            season=2,
            number=3,
            title="SLMs and Reasoning",
            **links(3),
            status="scheduled",
            livestream="2025-07-13T15:45:00+00:00",
            duration="60m",
            guests=("Mojan Javaheripi",),
            image="https://example.org/s2e3.png",
        ),
        "s2-e04.md": our_episode(
            "s2-e04",
            season=2,
            number=4,
            title="Observability & Evaluation",
            **links(4),
            status="published",
            livestream="2025-07-07T17:30:00+00:00",
            ama="2025-07-11T17:30:00+00:00",
            guests=("Marlene Mhangami",),
            replay="https://www.youtube.com/watch?v=s2e4",
        ),
        "s2-e05.md": our_episode(
            "s2-e05",
            season=2,
            number=5,
            title="Fine Tuning & Distillation",
            **links(5),
            status="scheduled",
            livestream="2025-07-14T17:30:00+00:00",
            ama="2025-07-18T17:30:00+00:00",
            guests=("Dave Voutila",),
            tags=("fine-tuning", "distillation"),
            summary="Model customization is critical.",
            body="Model customization is critical.",
            image="img/s2e5.png",
        ),
        "s2-e06.md": our_episode(
            "s2-e06", season=2, number=6, title="Research & Innovation", **links(6), status="tbd"
        ),
        "s2-e07.md": our_episode(
            "s2-e07",
            season=2,
            number=7,
            title="AI-Assisted Azure Development",
            **links(7),
            status="cancelled",
            livestream="2025-07-28T17:30:00+00:00",
        ),
    }
    for name, text in files.items():
        (eps / name).write_text(text, encoding="utf-8")
    recaps = root / "recaps"
    recaps.mkdir()
    (recaps / "s2-e04.md").write_text(
        our_recap(
            "S2:E4 Understanding Observability with Marlene Mhangami",
            "2025-07-08",
            takeaway="Evaluate early, evaluate often.",
        )
    )
    (recaps / "welcome.md").write_text(
        our_recap(
            "Welcome to Model Mondays!",
            "2025-03-03",
            authors=("nitya",),
            url="https://example.org/welcome/",
        )
    )
    (recaps / "s2-e05-draft.md").write_text(
        our_recap("S2:E5 Zanzibar draft notes", "2025-07-12", draft=True)
    )
    (root / "authors.yml").write_text(AUTHORS)
    return root


@pytest.fixture
async def make_harness(tmp_path):
    """Build a Harness over a content folder; teardown stops it and checks the spec."""
    made: list[Harness] = []

    async def make(source: Path, *, clock=None, overrides=None, start_bot: bool = True) -> Harness:
        h = Harness(
            tmp_path / f"h{len(made)}",
            clock=clock or ManualClock(SUNDAY),
            content_source=source,
            overrides={"site": {"recaps_url": RECAPS_URL}, **(overrides or {})},
        )
        made.append(h)
        await h.start()
        if start_bot:
            await h.start_bot()
        return h

    yield make
    for h in made:
        await h.stop()
    for h in made:
        h.sandbox.assert_valid()


@pytest.fixture
async def world(tmp_path, make_harness):
    return await make_harness(write_world(tmp_path / "src"))


def buttons(result) -> dict[str, str]:
    """The link buttons (the "Add to calendar" and "Remind me" actions are not links)."""
    return {
        b["label"]: b["url"] for row in result.components for b in row["components"] if "url" in b
    }


def actions(result) -> list[str]:
    return [
        b["custom_id"] for row in result.components for b in row["components"] if "url" not in b
    ]


def fields(result) -> dict[str, str]:
    return {f["name"]: f["value"] for f in result.embeds[0].get("fields", [])}


def callback_of(sandbox, result):
    [request] = [
        r for r in sandbox.requests if r.path.endswith("/callback") and f"/{result.id}/" in r.path
    ]
    return request


def ts(when: str) -> int:
    return int(datetime.fromisoformat(when).timestamp())


# -- /episode --------------------------------------------------------------------------------


async def test_episode_without_query_is_next_upcoming_else_latest(world):
    sb, clock = world.sandbox, world.clock
    live = await sb.slash(world.member, world.general, "episode")
    assert live.response_type == 4 and not live.ephemeral
    embed = live.embeds[0]
    assert embed["title"] == "S2:E3 · SLMs and Reasoning"
    assert "Live now" in embed["description"]
    assert "live now" in fields(live)["Livestream"]
    assert embed["image"]["url"] == "https://example.org/s2e3.png"

    clock.set(SUNDAY.replace(hour=17))  # the S2:E3 livestream is over
    nxt = await sb.slash(world.member, world.general, "episode")
    embed = nxt.embeds[0]
    assert embed["title"] == "S2:E5 · Fine Tuning & Distillation"
    start = ts("2025-07-14T17:30:00+00:00")
    assert fields(nxt)["Livestream"] == f"<t:{start}:F> (<t:{start}:R>)"
    assert str(ts("2025-07-18T17:30:00+00:00")) in fields(nxt)["AMA"]
    assert fields(nxt)["Guest"] == "Dave Voutila"
    assert "`fine-tuning`" in fields(nxt)["Tags"]
    assert "Upcoming" in embed["description"] and "Model customization" in embed["description"]
    # A local image is attached and shown from the attachment (sent as attachment://, which
    # Discord answers with the file's CDN address).
    assert nxt.response["data"]["embeds"][0]["image"]["url"] == "attachment://episode.png"
    assert embed["image"]["url"] == nxt.message["attachments"][0]["url"]
    assert [f["filename"] for f in nxt.files] == ["episode.png"]
    # Links that exist, and only those: its recap is still a draft, it has no replay.
    assert set(buttons(nxt)) == {"Register", "Join the AMA"}

    clock.set(datetime(2025, 8, 20, tzinfo=UTC))  # nothing ahead (S2:E7 is cancelled)
    latest = await sb.slash(world.member, world.general, "episode")
    assert latest.embeds[0]["title"].startswith("S2:E5")
    assert "Aired" in latest.embeds[0]["description"]


@pytest.mark.parametrize("query", ["s2e5", "S2:E5", "s02e05", "2x05", "s2-e05", "distilation"])
async def test_episode_by_code_any_form_or_typo(world, query):
    result = await world.sandbox.slash(world.member, world.general, "episode", query=query)
    assert result.embeds[0]["title"].startswith("S2:E5 ·"), query


async def test_episode_statuses_links_and_recap(world):
    sb = world.sandbox

    async def episode(query: str, **kw):
        return await sb.slash(world.member, world.general, "episode", query=query, **kw)

    aired = await episode("s2-e04")
    assert "Aired" in aired.embeds[0]["description"]
    assert "Replay available" in aired.embeds[0]["description"]
    links = buttons(aired)
    assert links["Watch the replay"] == "https://www.youtube.com/watch?v=s2e4"
    assert links["Read the recap"] == (
        "https://example.org/blog/2025/07/08/"
        "s2e4-understanding-observability-with-marlene-mhangami/"
    )
    assert "Register" not in links and links["Livestream page"]
    assert "Understanding Observability" in fields(aired)["Recap"]

    tbd = await episode("s2e6")
    assert "to be announced" in tbd.embeds[0]["description"]
    assert fields(tbd)["Livestream"] == "TBD" and fields(tbd)["AMA"] == "TBD"
    assert tbd.components == []  # no links exist, so no buttons

    cancelled = await episode("S2:E7")
    assert "Cancelled" in cancelled.embeds[0]["description"]
    assert "cancelled" in fields(cancelled)["Livestream"]

    private = await episode("s2e4", private=True)
    assert private.ephemeral and private.embeds[0]["title"].startswith("S2:E4")


async def test_unknown_episode_is_ephemeral_with_suggestions(world):
    sb = world.sandbox
    nothing = await sb.slash(world.member, world.general, "episode", query="quantum zebra")
    assert nothing.ephemeral and not nothing.embeds
    assert "couldn't find an episode" in nothing.content

    half = await sb.slash(world.member, world.general, "episode", query="distillation quantum")
    assert half.ephemeral and not half.embeds
    assert "Did you mean" in half.content and "S2:E5 · Fine Tuning" in half.content
    assert half.content.count("\n• ") <= 3


# -- /recap ----------------------------------------------------------------------------------


async def test_recap_with_and_without_query(world):
    sb = world.sandbox
    latest = await sb.slash(world.member, world.general, "recap")
    assert not latest.ephemeral
    embed = latest.embeds[0]
    assert embed["title"] == "S2:E4 Understanding Observability with Marlene Mhangami"
    assert embed["description"] == "A short summary."
    f = fields(latest)
    assert f["Key takeaway"] == "Evaluate early, evaluate often."
    assert f["Authors"] == "Sharda Kaur and Nitya Narasimhan"
    assert f["Published"] == f"<t:{ts('2025-07-08T07:00:00+00:00')}:D>"
    assert f["Episode"] == "S2:E4 · Observability & Evaluation"
    assert buttons(latest) == {
        "Read the recap": "https://example.org/blog/2025/07/08/"
        "s2e4-understanding-observability-with-marlene-mhangami/"
    }

    by_code = await sb.slash(world.member, world.general, "recap", query="s2e4")
    assert by_code.embeds[0]["title"] == embed["title"]

    # A recap that covers no episode: no Episode field; its own `url:` wins over the pattern.
    orphan = await sb.slash(world.member, world.general, "recap", query="welcome")
    assert orphan.embeds[0]["title"] == "Welcome to Model Mondays!"
    assert "Episode" not in fields(orphan) and fields(orphan)["Author"] == "Nitya Narasimhan"
    assert buttons(orphan) == {"Read the recap": "https://example.org/welcome/"}

    private = await sb.slash(world.member, world.general, "recap", query="welcome", private=True)
    assert private.ephemeral


async def test_draft_recap_is_never_shown(world):
    sb = world.sandbox
    for query in ("s2e5", "zanzibar", "s2-e05-draft", "S2:E5 Zanzibar draft notes"):
        result = await sb.slash(world.member, world.general, "recap", query=query)
        assert result.ephemeral and not result.embeds, query
        assert "Zanzibar" not in result.content.split("Did you mean", 1)[-1]
    for typed in ("", "zanz", "s2e5", "draft"):
        choices = await sb.autocomplete(world.member, world.general, "recap", "query", typed)
        assert all("Zanzibar" not in c["name"] for c in choices), typed
        assert all(c["value"] != "s2-e05-draft" for c in choices)
    everything = await sb.autocomplete(world.member, world.general, "recap", "query", "")
    assert [c["value"] for c in everything] == ["s2-e04", "welcome"]


# -- /schedule -------------------------------------------------------------------------------


async def test_schedule_season_and_count(world):
    sb = world.sandbox
    result = await sb.slash(world.member, world.general, "schedule")
    text = result.embeds[0]["description"]
    assert not result.ephemeral
    codes = re.findall(r"\*\*(S\d+:E\d+)\*\*", text)
    # TBD and cancelled episodes are not listed (an AMA is inferred on the Friday).
    assert codes[:2] == ["S2:E3", "S2:E5"] and set(codes) == {"S2:E3", "S2:E5"}
    assert "live now" in text.split("\n\n")[0]
    start = ts("2025-07-14T17:30:00+00:00")
    assert f"<t:{start}:F> (<t:{start}:R>)" in text

    one = await sb.slash(world.member, world.general, "schedule", count=1)
    assert re.findall(r"\*\*(S\d+:E\d+)\*\*", one.embeds[0]["description"]) == ["S2:E3"]

    other = await sb.slash(world.member, world.general, "schedule", season=3, private=True)
    assert other.ephemeral and "Nothing is scheduled in season 3" in other.embeds[0]["description"]

    # Discord's client enforces 1..10 from the synced option; a stray value is clamped.
    [command] = [c for c in sb.world.global_commands if c["name"] == "schedule"]
    [count] = [o for o in command["options"] if o["name"] == "count"]
    assert (count["min_value"], count["max_value"]) == (1, 10)
    too_many = await sb.slash(world.member, world.general, "schedule", count=50)
    assert len(re.findall(r"\*\*S\d+:E\d+\*\*", too_many.embeds[0]["description"])) <= 10


# -- real corpus -----------------------------------------------------------------------------


def corpus_folder(dest: Path) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not beside the repository ({CORPUS})")
    shutil.copytree(CORPUS / "hub-data" / "episodes", dest / "episodes")
    shutil.copytree(CORPUS / "hub-data" / "speakers", dest / "speakers")
    shutil.copytree(CORPUS / "blog-posts", dest / "recaps")
    shutil.copy(CORPUS / "blog-posts" / ".authors.yml", dest / "authors.yml")
    return dest


async def test_autocomplete_ranking_on_the_real_corpus(tmp_path, make_harness):
    h = await make_harness(corpus_folder(tmp_path / "corpus"))
    sb = h.sandbox

    async def names(typed: str, channel=h.general) -> list[str]:
        choices = await sb.autocomplete(h.member, channel, "episode", "query", typed)
        assert len(choices) <= 25 and all(len(c["name"]) <= 100 for c in choices)
        return [c["name"] for c in choices]

    s2e5 = "S2:E5 · Fine Tuning & Distillation — Dave Voutila"
    for typed in ("s2e5", "S2:E5", "s02e05", "2x05", "distilation", "fine tuning"):
        assert (await names(typed))[0] == s2e5, typed
    voutila = await names("voutila")
    assert s2e5 in voutila[:2] and all("Voutila" in n for n in voutila[:2])
    upcoming = await names("")
    assert upcoming[0] == s2e5  # the Sunday before its livestream: the next one first
    assert len(upcoming) == 25

    # The chosen value resolves to that episode, in a DM as in the guild.
    [first] = (await sb.autocomplete(h.member, None, "episode", "query", "s2e5"))[:1]
    dm = await sb.slash(h.member, None, "episode", query=first["value"])
    assert dm.embeds[0]["title"] == "S2:E5 · Fine Tuning & Distillation"
    assert not dm.ephemeral and dm.message["channel_id"] != str(h.general.id)

    # Drafts never appear: only the two published posts of the blog are offered.
    recaps = await sb.autocomplete(h.member, h.general, "recap", "query", "")
    assert [c["value"] for c in recaps] == ["2025-06-30", "2025-03-03"]
    assert await sb.autocomplete(h.member, h.general, "recap", "query", "distillation") == []


# -- scale and limits ------------------------------------------------------------------------


def synthetic_episodes(root: Path, n: int) -> Path:
    eps = root / "episodes"
    eps.mkdir(parents=True)
    long_title = (
        "Model workshop about a long and winding topic that keeps going past any sensible length"
    )
    for i in range(n):
        season, number = i // 100 + 1, i % 100 + 1
        (eps / f"s{season}-e{number}.md").write_text(
            f"---\nseason: {season}\nepisode: {number}\ntitle: {long_title} {i}\n"
            f"guests: [Guest Person {i}, Another Guest With A Rather Long Name]\n"
            f"status: scheduled\nlivestream:\n  start: {2026 + i // 5000}-01-05T13:30\n---\n"
        )
    return root


async def test_choice_caps_with_10000_episodes(tmp_path, make_harness):
    h = await make_harness(write_world(tmp_path / "small"))
    # Loading 10,000 files through git and the bot's start-up is slow for a unit of tests;
    # the index is the same class the bot builds, swapped in before any command runs.
    index = ContentIndex(synthetic_episodes(tmp_path / "big", 10_000), Settings())
    index.reload()
    assert len(index.episodes()) == 10_000
    h.bot.index = index
    sb = h.sandbox
    for typed in ("", "model", "workshop", "guest person", "s7e42", "winding 99"):
        choices = await sb.autocomplete(h.member, h.general, "episode", "query", typed)
        assert 1 <= len(choices) <= 25, typed
        assert all(1 <= len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    many = await sb.autocomplete(h.member, h.general, "episode", "query", "model")
    assert len(many) == 25
    exact = await sb.autocomplete(h.member, h.general, "episode", "query", "s7e42")
    assert exact[0]["name"].startswith("S7:E42 · ")
    shown = await sb.slash(h.member, h.general, "schedule", count=10)
    assert shown.embeds[0]["description"].count("**S") == 10


def huge_world(root: Path) -> Path:
    """Every field ten times longer than the Discord limit it ends up in."""
    word = "distillation "
    title = (word * 200)[:2560]
    summary = (word * 3200)[:40960]
    guests = tuple(f"Guest{i} " + "Longname" * 20 for i in range(60))
    tags = tuple(f"tag{i}-" + "x" * 40 for i in range(300))
    eps = root / "episodes"
    eps.mkdir(parents=True)
    (eps / "s9-e1.md").write_text(
        our_episode(
            "s9-e1",
            season=9,
            number=1,
            title=title,
            **links(1),
            status="scheduled",
            livestream="2025-07-14T17:30:00+00:00",
            ama="2025-07-18T17:30:00+00:00",
            guests=guests,
            tags=tags,
            summary=summary,
            body=summary,
            replay="https://www.youtube.com/watch?v=" + "v" * 5000,
        )
    )
    (root / "recaps").mkdir()
    (root / "recaps" / "s9-e1.md").write_text(
        our_recap(
            "S9:E1 " + title,
            "2025-07-10",
            summary=summary,
            takeaway=(word * 1000)[:10240],
            authors=tuple(f"author{i}" for i in range(200)),
        )
    )
    return root


async def test_content_ten_times_every_limit_still_valid(tmp_path, make_harness):
    h = await make_harness(huge_world(tmp_path / "huge"))
    sb = h.sandbox
    episode = await sb.slash(h.member, h.general, "episode", query="s9e1")
    recap = await sb.slash(h.member, h.general, "recap", query="s9e1")
    schedule = await sb.slash(h.member, h.general, "schedule", count=10)
    for result in (episode, recap, schedule):
        assert result.response_type == 4 and result.message is not None
        [embed] = result.embeds
        assert len(embed["title"]) <= 256 and len(embed.get("description", "")) <= 4096
        assert all(len(f["value"]) <= 1024 for f in embed.get("fields", []))
        assert all(len(row["components"]) <= 5 for row in result.components)
        total = len(embed["title"]) + len(embed.get("description", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        total += len(embed.get("footer", {}).get("text", ""))
        assert total <= 6000
    assert episode.embeds[0]["title"].endswith("…")
    assert "Watch the replay" not in buttons(episode)  # a 5000-character URL is no button
    for command in ("episode", "recap"):
        choices = await sb.autocomplete(h.member, h.general, command, "query", "distillation")
        assert choices and all(len(c["name"]) <= 100 for c in choices)
    long_query = "distillation " * 40
    result = await sb.slash(h.member, h.general, "episode", query=long_query[:6000])
    assert result.response_type == 4


# -- safety ----------------------------------------------------------------------------------


async def test_mentions_in_content_never_ping(tmp_path, make_harness):
    h = await make_harness(write_world(tmp_path / "src"), start_bot=False)
    role = f"<@&{h.members_role.id}>"
    user = f"<@{h.member.user.id}>"
    (h.repo.checkout / "recaps" / "pings.md").write_text(
        our_recap(
            f"S2:E4 Pinging @everyone and {role}",
            "2025-07-09",
            summary=f"@everyone @here {role} {user} read this",
            takeaway=f"{role} @everyone",
        )
    )
    await h.start_bot()
    sb = h.sandbox
    shown = await sb.slash(h.member, h.general, "recap", query="pinging")
    assert "@everyone" in shown.embeds[0]["title"]
    missing = await sb.slash(h.member, h.general, "episode", query=f"@everyone {role} {user}")
    assert role in missing.content and "@everyone" in missing.content
    for result in (shown, missing):
        request = callback_of(sb, result)
        mentions = request.json["data"]["allowed_mentions"]
        assert mentions["parse"] == []
        assert not mentions.get("roles") and not mentions.get("users")
        assert sb.pings(result.message["id"]).nobody


async def test_unexpected_error_gives_a_reference_that_is_in_the_log(world, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("index exploded")

    monkeypatch.setattr(world.bot.index, "next_upcoming", broken)
    monkeypatch.setattr(world.bot.index, "search_recaps", broken)
    caplog.set_level(logging.ERROR)
    result = await world.sandbox.slash(world.member, world.general, "episode")
    assert result.ephemeral and not result.embeds
    [reference] = re.findall(r"reference `([0-9a-f]+)`", result.content)
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and "/episode" in logged[0].getMessage()
    assert logged[0].exc_info and "index exploded" in str(logged[0].exc_info[1])

    # A failing autocomplete is still answered (with nothing), and logged with a reference.
    choices = await world.sandbox.autocomplete(world.member, world.general, "recap", "query", "x")
    assert choices == []
    assert any("recap autocomplete" in r.getMessage() for r in caplog.records)


async def test_commands_answer_in_dms(world):
    sb = world.sandbox
    for command, options in (("episode", {}), ("recap", {"query": "s2e4"}), ("schedule", {})):
        result = await sb.slash(world.member, None, command, **options)
        assert result.response_type == 4 and result.embeds, command
        assert "guild_id" not in result.message or not result.message["guild_id"]
    choices = await sb.autocomplete(world.member, None, "episode", "query", "s2e5")
    assert choices[0]["value"] == "s2-e05"


async def test_unknown_command_gets_an_ephemeral_answer(world):
    sb = world.sandbox
    iid = await sb.send_interaction(
        world.member,
        world.general,
        APPLICATION_COMMAND,
        {"id": "1234567890123456789", "name": "vanished", "type": 1, "options": []},
    )
    rec = sb.interactions[iid]
    await sb.wait_for(lambda: rec.acknowledged, what="an answer to /vanished")
    result = sb.result(rec)
    assert result.ephemeral and "don't know that command" in result.content
    unanswered = [r for r in sb.interactions.values() if not r.acknowledged]
    assert unanswered == []


async def test_empty_content_folder_answers_politely(tmp_path, make_harness):
    (tmp_path / "empty").mkdir()
    h = await make_harness(tmp_path / "empty")
    sb = h.sandbox
    episode = await sb.slash(h.member, h.general, "episode")
    recap = await sb.slash(h.member, h.general, "recap")
    schedule = await sb.slash(h.member, h.general, "schedule")
    assert episode.ephemeral and "no episodes yet" in episode.content
    assert recap.ephemeral and "no published recaps yet" in recap.content
    assert "Nothing is scheduled" in schedule.embeds[0]["description"]
    assert await sb.autocomplete(h.member, h.general, "episode", "query", "") == []
