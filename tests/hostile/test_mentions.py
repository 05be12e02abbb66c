"""Mentions and look-alikes in every content field and every organiser input: whatever the
bot sends (messages, interaction callbacks, follow-ups, edits) allows no ping beyond the
configured members role, and no stored message notifies anyone else.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.clock import ManualClock
from testkit.harness import Harness
from tests.e2e.test_reminders import LS_START, SUNDAY

LOOKALIKES = [
    "＠everyone",  # fullwidth commercial at
    "@\u200beveryone",
    "@every\u200done",
    "@\u2060here",
    "\uff20here",
    "@everyone\u0338",
]


def mentions(h: Harness) -> str:
    user = h.member.user.id
    org = h.organisers_role.id
    members = h.members_role.id
    real = [
        "@everyone",
        "@here",
        f"<@{user}>",
        f"<@!{user}>",
        f"<@&{org}>",
        f"<@&{members}>",
        f"<@&{h.guild.id}>",  # the @everyone role by id
        f"<@\u200b{user}>",
    ]
    return " ".join(real + LOOKALIKES)


def hostile_episode(m: str) -> str:
    q = json.dumps  # YAML double-quoted strings are JSON strings
    return (
        "---\nid: s9-e01\nseason: 9\nepisode: 1\n"
        f"title: {q('Pings ' + m)}\nsummary: {q(m)}\n"
        f"guests: [{q(m)}]\nhosts: [{q('Host ' + m)}]\ntags: [{q(m)}]\n"
        "status: scheduled\ntimezone: America/Los_Angeles\n"
        "livestream:\n  start: 2025-07-14T10:30\n  duration: 30m\n"
        "  url: https://example.org/live\n"
        "ama:\n  start: 2025-07-18T10:30\n  duration: 30m\n---\n"
        f"{m}\n"
    )


def hostile_recap(m: str, published: str) -> str:
    return (
        f"---\nid: pings\ndate:\n  created: {published}\ndraft: false\n"
        f"authors:\n  - mallory\ncategories: [{json.dumps(m)}]\ntags: [{json.dumps(m)}]\n"
        "episode: s9-e01\nurl: https://example.org/recaps/pings/\n---\n\n"
        f"# S9:E1 Recap {m}\n\n> {m}\n\n## Key takeaway\n\n{m}\n\n{m}\n"
    )


def hostile_authors(m: str) -> str:
    return (
        "authors:\n  mallory:\n"
        f"    name: {json.dumps('Mallory ' + m)}\n    description: {json.dumps(m)}\n"
    )


def message_bodies(h: Harness) -> list[tuple[str, dict[str, Any]]]:
    """Every body the bot sent that can become a message: channel messages and edits,
    interaction callbacks (their `data`), webhook follow-ups and edits of @original."""
    out = []
    for r in h.sandbox.requests:
        if r.method not in ("POST", "PATCH") or not isinstance(r.json, dict):
            continue
        path = r.path
        if path.endswith("/callback"):
            if r.json.get("type") in (4, 7) and isinstance(r.json.get("data"), dict):
                out.append((f"{r.method} {path}", r.json["data"]))
        elif ("/messages" in path or path.startswith("/webhooks/")) and not path.endswith(
            "/crosspost"
        ):
            out.append((f"{r.method} {path}", r.json))
    return out


def assert_no_stray_ping(h: Harness) -> int:
    allowed_roles = {str(h.members_role.id)}
    bodies = message_bodies(h)
    for where, body in bodies:
        if not (body.get("content") or "").strip():
            continue
        mentions_ = body.get("allowed_mentions")
        assert mentions_ is not None, f"{where}: content without allowed_mentions"
        assert not set(mentions_.get("parse") or []), (where, mentions_)
        assert not mentions_.get("users"), (where, mentions_)
        assert set(mentions_.get("roles") or []) <= allowed_roles, (where, mentions_)
    for sm in list(h.sandbox.world.message_index.values()):
        pings = sm.pings
        assert not pings.everyone and not pings.users, (sm.data.get("content"), pings)
        assert set(pings.roles) <= {h.members_role.id}, (sm.data.get("content"), pings)
    return len(bodies)


async def test_mentions_in_every_content_field_and_organiser_input_never_ping(tmp_path):
    clock = ManualClock(SUNDAY)
    h = Harness(
        tmp_path / "world",
        clock=clock,
        content_source=tmp_path / "empty",
        overrides={"reminders": {"offsets": ["1h"]}, "announcements": {"backlog_days": 0}},
    )
    (tmp_path / "empty" / "episodes").mkdir(parents=True)
    await h.start()
    try:
        m = mentions(h)
        await h.merge(
            {"episodes/s9-e01.md": hostile_episode(m), "authors.yml": hostile_authors(m)},
            "Episode with pings",
        )
        await h.start_bot()
        sb = h.sandbox
        await h.posting.sync.wait_for_attempts(1)
        await h.posting.sync.wait_idle()
        assert h.bot.index.episode("s9-e01") is not None, h.bot.index.problems

        # A recap merged while the bot runs: announced, with the members role only.
        published = (SUNDAY - timedelta(minutes=5)).isoformat(timespec="seconds")
        await h.merge({"recaps/pings.md": hostile_recap(m, published)}, "Recap with pings")
        assert await h.send_webhook() == 202
        await h.posting.sync.wait_idle()
        await h.posting.deliver_due()
        await sb.wait_for_message(h.announcements, lambda msg: bool(msg.get("embeds")))

        # Members read it all back.
        for command, options in (
            ("episode", {"query": "s9e1"}),
            ("episode", {"query": m[:100]}),
            ("recap", {"query": "pings"}),
            ("recap", {"query": m[:100]}),
            ("schedule", {}),
        ):
            result = await sb.slash(h.member, h.general, command, **options)
            assert result.response_type in (4, 5)
        for command in ("episode", "recap"):
            await sb.autocomplete(h.member, h.general, command, "query", m[:100])

        # Organisers: an announcement full of mentions, to the members role, and inputs that
        # come back in error replies.
        preview = await sb.slash(
            h.organiser,
            h.general,
            "announce",
            subcommand="create",
            message=m,
            when="in 2h",
            role=h.members_role,
        )
        confirm = next(
            c["custom_id"]
            for row in preview.components
            for c in row["components"]
            if c["label"] == "Confirm"
        )
        await sb.click(h.organiser, h.general, preview.message, confirm)
        for sub, options in (
            ("create", {"message": m, "when": m[:90]}),
            ("cancel", {"key": m}),
            ("skip", {"episode": m, "event": "both"}),
        ):
            result = await sb.slash(h.organiser, h.general, "announce", subcommand=sub, **options)
            result = await sb.wait_final(result)  # cancel and skip acknowledge first
            assert result.ephemeral and result.content
        await sb.slash(h.organiser, h.general, "announce", subcommand="list")

        # The livestream reminder and the organiser's announcement fall due.
        clock.set(SUNDAY + timedelta(hours=2, minutes=1))
        await h.posting.deliver_due()
        clock.set(LS_START - timedelta(minutes=59))
        await h.posting.deliver_due()
        reminders = sb.messages(h.reminders)
        assert reminders, "the livestream reminder was not posted"
        announced = sb.messages(h.announcements)
        assert len(announced) >= 2, [a.get("content", "")[:60] for a in announced]
        assert any(sb.pings(a["id"]).roles == [h.members_role.id] for a in announced), (
            "the members role is never pinged: the test would prove nothing"
        )

        checked = assert_no_stray_ping(h)
        assert checked >= 12, checked
    finally:
        await h.stop()
    h.sandbox.assert_valid()
