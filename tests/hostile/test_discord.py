"""Hostile Discord input against the real bot (discord.py) and the Discord stand-in.

Non-organisers (plain members, a look-alike "Organisers" role, DMs) try every organiser
command and button; options and autocomplete get 10,000 characters, control characters and
zero-width text; buttons arrive with forged and stale custom ids; commands that were never
synced are invoked. Every interaction is answered, ephemerally where it is a refusal, and
nothing reaches the outbox.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bot.clock import ManualClock
from testkit.harness import Harness
from testkit.sandbox.interactions import APPLICATION_COMMAND, AUTOCOMPLETE, MESSAGE_COMPONENT
from tests.builders import episode_md
from tests.e2e.test_reminders import SUNDAY

ONLY_ORGANISERS = "Only organisers can do that."
LONG = "ab " * 3334  # 10,002 characters
CONTROL = "s2e5\x00\x01\x07\x1b[2J\r\n\t\x7f\u0085"
ZERO_WIDTH = "s\u200b2\u200ce\u200d5\u2060\ufeff\u00ad"
RTL = "\u202eepisode\u202c"
HOSTILE_TEXTS = [LONG, CONTROL, ZERO_WIDTH, RTL, "", " ", "%s%n{0}", "' OR 1=1 --", "../../etc"]


@contextlib.asynccontextmanager
async def running(base: Path, *, check_unanswered: bool = True) -> AsyncIterator[Harness]:
    content = base / "content-src"
    (content / "episodes").mkdir(parents=True)
    (content / "episodes" / "s9-e01.md").write_text(episode_md(), encoding="utf-8")
    h = Harness(
        base / "world",
        clock=ManualClock(SUNDAY),
        content_source=content,
        overrides={"reminders": {"offsets": ["1h", "10m"]}},
    )
    await h.start()
    try:
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    unanswered = [r.name for r in h.sandbox.interactions.values() if not r.acknowledged]
    assert unanswered == [] or not check_unanswered, unanswered
    h.sandbox.assert_valid()


async def outbox_snapshot(h: Harness) -> list[tuple[str, str]]:
    return sorted((p.key, str(p.status)) for p in await h.bot.db.outbox.all())


async def answered(h: Harness, iid: int):
    sb = h.sandbox
    rec = sb.interactions[iid]
    await sb.wait_for(lambda: rec.acknowledged, what=f"an answer to {rec.name}")
    return sb.result(rec)


async def message_with_buttons(h: Harness, custom_ids: list[str]) -> dict[str, Any]:
    """A message in #general carrying these buttons, as an older version of the bot might
    have left it (Discord only delivers clicks on components a message really carries)."""
    rows = [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 2, "label": str(n), "custom_id": cid}
                for n, cid in enumerate(custom_ids[i : i + 5], i)
            ],
        }
        for i in range(0, len(custom_ids), 5)
    ]
    url = f"{h.sandbox.api_base}/channels/{h.general.id}/messages"
    headers = {"Authorization": f"Bot {h.sandbox.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, json={"content": "old buttons", "components": rows}, headers=headers
        ) as response,
    ):
        assert response.status == 200, await response.text()
        created = await response.json()
    return h.sandbox.stored(int(created["id"])).data


def component_interaction(h: Harness, who: Any, channel: Any, message: dict, custom_id: str):
    """A click as Discord delivers it (raw, so a DM click on a guild message can be sent)."""
    user, ch = h.sandbox._resolve_actor(who, channel)
    data = {"custom_id": custom_id, "component_type": 2}
    return h.sandbox._send_interaction(
        MESSAGE_COMPONENT, user, ch, data, f"[{custom_id[:30]}]", message=message
    )


def announce_command(h: Harness) -> dict[str, Any]:
    return h.sandbox.world.find_command(h.guild.id, "announce")


# -- who may use organiser features ------------------------------------------------------------


async def test_non_organisers_spoofed_roles_and_dms_are_refused_everything(tmp_path):
    async with running(tmp_path) as h:
        sb = h.sandbox
        spoof_role = sb.add_role(h.guild, "Organisers", permissions=0)
        admin_named = sb.add_role(h.guild, "organisers ")  # trailing space, other case
        spoofer = sb.add_member(h.guild, "mallory", roles=[spoof_role, admin_named, h.members_role])
        for role in (spoof_role, admin_named):
            await sb.dispatch(
                "GUILD_ROLE_CREATE", {"guild_id": str(h.guild.id), "role": role.payload()}
            )
        before = await outbox_snapshot(h)
        key = before[0][0]
        calls = {
            "create": {"message": "@everyone hello", "when": "in 2h", "role": h.members_role},
            "list": {"page": 1},
            "cancel": {"key": key},
            "skip": {"episode": "s9-e01", "event": "both"},
        }
        for who in (h.member, spoofer):
            for sub, options in calls.items():
                result = await sb.slash(who, h.general, "announce", subcommand=sub, **options)
                assert result.ephemeral and result.content == ONLY_ORGANISERS, (who, sub, result)
            for sub, option, value in (("cancel", "key", ""), ("skip", "episode", "s9")):
                extra = {"event": "ama"} if sub == "skip" else {}
                assert (
                    await sb.autocomplete(
                        who, h.general, "announce", option, value, subcommand=sub, **extra
                    )
                    == []
                )

        # From a DM: the guild command is not offered there, but a client can still send it.
        command = announce_command(h)
        for sub, options in (
            (
                "create",
                [
                    {"name": "message", "type": 3, "value": "hi"},
                    {"name": "when", "type": 3, "value": "in 2h"},
                ],
            ),
            ("list", []),
            ("cancel", [{"name": "key", "type": 3, "value": key}]),
        ):
            for who in (h.organiser, h.member):
                iid = await sb.send_interaction(
                    who,
                    None,
                    APPLICATION_COMMAND,
                    {
                        "id": str(command["id"]),
                        "name": "announce",
                        "type": 1,
                        "options": [{"name": sub, "type": 1, "options": options}],
                    },
                )
                result = await answered(h, iid)
                assert result.ephemeral or result.message.get("guild_id") is None
                assert "Scheduled" not in result.content and not result.components, result

        # An organiser's real preview, clicked by the member, the spoofer, and from a DM.
        preview = await sb.slash(
            h.organiser, h.general, "announce", subcommand="create", message="Hi", when="in 2h"
        )
        ids = [c["custom_id"] for row in preview.components for c in row["components"]]
        for who, channel in ((h.member, h.general), (spoofer, h.general), (h.member, None)):
            for custom_id in ids:
                rec = await component_interaction(h, who, channel, preview.message, custom_id)
                result = await answered(h, rec.id)
                assert result.ephemeral, (who, custom_id, result)
                assert result.content in (
                    ONLY_ORGANISERS,
                    "Organiser commands work in the server, not in direct messages.",
                ), result.content
        assert await outbox_snapshot(h) == before
        assert not [p for p in await h.bot.db.outbox.all() if p.kind == "announce"]


# -- forged and stale buttons ---------------------------------------------------------------------

FORGED_IDS = [
    "amabot:confirm:0000000000000000",
    "amabot:discard:ffffffffffffffff",
    "amabot:confirm:../../state",
    "amabot:confirm:",
    "amabot:list:0",
    "amabot:list:-1",
    "amabot:list:99999999999999999999",
    "amabot:list:1e3",
    "amabot:zzz",
    "amabot:",
    "amabot:remind:s9-e01:livestream",
    "amabot:ics:no-such-episode",
    "amabot:ics:",
    "amabot:remindme:zzz",
    "amabot:notify:ama:dm:7h",
    "amabot:notify:recaps:dm:1h",
    "amabot:notify:x",
    "amabot:optout:",
    "amabot:optout:everything",
    "random",
    "x" * 100,
    "\u202eamabot:confirm",
    "amabot:confirm:\u0000" + "0" * 15,
]


def component_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


UNROUTED_IDS = ["amabot:" + "x" * 93, "amabot:confirm:\n0000000000000000"]


async def test_amabot_ids_the_router_cannot_parse_are_still_answered(tmp_path):
    # `amabot:` ids the ButtonRouter's template cannot parse (over 97 characters, a newline)
    # are answered by the Organisers on_interaction fallback.
    async with running(tmp_path) as h:
        message = await message_with_buttons(h, UNROUTED_IDS)
        for custom_id in component_ids(message):
            result = await h.sandbox.click(h.member, h.general, message["id"], custom_id, timeout=2)
            assert result.ephemeral and result.content


async def test_forged_and_stale_custom_ids_always_get_an_ephemeral_answer(tmp_path):
    async with running(tmp_path) as h:
        sb = h.sandbox
        before = await outbox_snapshot(h)
        preview = await sb.slash(
            h.organiser, h.general, "announce", subcommand="create", message="Hi", when="in 2h"
        )
        messages = [
            await message_with_buttons(h, FORGED_IDS[i : i + 25])
            for i in range(0, len(FORGED_IDS), 25)
        ]
        for who in (h.organiser, h.member):
            for message in messages:
                for custom_id in component_ids(message):
                    result = await sb.click(who, h.general, message["id"], custom_id)
                    # Handlers that work before answering acknowledge first, then answer.
                    result = await sb.wait_final(result)
                    assert result.ephemeral, (custom_id, result)
                    assert result.content, custom_id
        # A stale preview: confirmed once, its buttons clicked again (double click, old tab).
        confirm = next(
            c["custom_id"]
            for row in preview.components
            for c in row["components"]
            if c["label"] == "Confirm"
        )
        as_shown = copy.deepcopy(preview.message)  # the second click carries the old buttons
        first = await sb.click(h.organiser, h.general, preview.message, confirm)
        assert "Scheduled" in first.content
        again = await component_interaction(h, h.organiser, h.general, as_shown, confirm)
        result = await answered(h, again.id)
        assert result.ephemeral and "nothing was scheduled" in result.content
        announces = [p for p in await h.bot.db.outbox.all() if p.kind == "announce"]
        assert len(announces) == 1
        assert len(await outbox_snapshot(h)) == len(before) + 1


# -- commands that do not exist, and options that make no sense ----------------------------------


async def test_unknown_commands_subcommands_and_option_types_are_answered(tmp_path):
    async with running(tmp_path) as h:
        sb = h.sandbox
        command = announce_command(h)
        payloads = [
            {"id": "1234567890123456789", "name": "vanished", "type": 1, "options": []},
            {"id": "1234567890123456789", "name": "x" * 32, "type": 1},
            {"id": "1234567890123456789", "name": "steal", "type": 3, "target_id": "1"},
            {
                "id": str(command["id"]),
                "name": "announce",
                "type": 1,
                "options": [{"name": "nuke", "type": 1, "options": []}],
            },
            {
                "id": str(command["id"]),
                "name": "announce",
                "type": 1,
                "options": [
                    {
                        "name": "list",
                        "type": 1,
                        "options": [{"name": "page", "type": 4, "value": 10**30}],
                    }
                ],
            },
            {"id": str(command["id"]), "name": "announce", "type": 1, "options": []},
        ]
        for who in (h.member, h.organiser):
            for data in payloads:
                iid = await sb.send_interaction(who, h.general, APPLICATION_COMMAND, data)
                result = await answered(h, iid)
                assert result.ephemeral, (data, result)
        assert [p for p in await h.bot.db.outbox.all() if p.kind == "announce"] == []


async def test_autocomplete_for_a_command_that_does_not_exist_is_answered(tmp_path):
    async with running(tmp_path) as h:
        sb = h.sandbox
        iid = await sb.send_interaction(
            h.member,
            h.general,
            AUTOCOMPLETE,
            {
                "id": "1234567890123456789",
                "name": "vanished",
                "type": 1,
                "options": [{"name": "q", "type": 3, "value": "x", "focused": True}],
            },
        )
        rec = sb.interactions[iid]
        await sb.wait_for(lambda: rec.acknowledged, timeout=2, what="autocomplete for /vanished")
        assert rec.choices == []


async def test_huge_control_and_zero_width_options_get_valid_answers(tmp_path):
    async with running(tmp_path) as h:
        sb = h.sandbox
        for text in HOSTILE_TEXTS:
            for command in ("episode", "recap"):
                choices = await sb.autocomplete(h.member, h.general, command, "query", text)
                assert len(choices) <= 25
                assert all(1 <= len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
                result = await sb.slash(h.member, h.general, command, query=text)
                assert result.response_type in (4, 5), (command, text[:20], result)
                assert result.content or result.embeds
            for sub, option, extra in (
                ("cancel", "key", {}),
                ("skip", "episode", {"event": "ama"}),
            ):
                choices = await sb.autocomplete(
                    h.organiser, h.general, "announce", option, text, subcommand=sub, **extra
                )
                assert len(choices) <= 25
            for options in (
                {"message": text, "when": "in 2h"},
                {"message": "hello", "when": text},
            ):
                result = await sb.slash(
                    h.organiser, h.general, "announce", subcommand="create", **options
                )
                assert result.ephemeral
                if not result.components:  # refused: it says why, briefly
                    assert 0 < len(result.content) <= 2000
            for sub, options in (
                ("cancel", {"key": text}),
                ("skip", {"episode": text, "event": "both"}),
            ):
                result = await sb.slash(
                    h.organiser, h.general, "announce", subcommand=sub, **options
                )
                result = await sb.wait_final(result)  # cancel and skip acknowledge first
                assert result.ephemeral and result.content
        assert [p for p in await h.bot.db.outbox.all() if p.kind == "announce"] == []
