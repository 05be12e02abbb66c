"""`amabot demo`: the bot's main job, offline, in well under 30 seconds.

It starts the local Discord stand-in with a guild named after the series, runs the real bot
against it with the sample content (in a temporary git repository) and a temporary database,
and plays the week of S2:E5 on a clock the demo controls: reminders before the Monday
livestream, the recap merged and announced, members asking /episode, /recap and /schedule,
reminders before the Friday AMA, and an organiser scheduling an announcement. Then the
Friday AMA itself: members ask (one anonymously, through the form), an organiser approves,
members vote, the guest works the host board, the asker is told, and at close the Q&A record
is pushed on its branch to the content remote and printed. It prints a transcript: who typed
what, and every bot post or reply rendered as text.

The same guild runs a second series, Talk Tuesdays (`[[series]]`, its folders under
``talk-tuesdays/`` in the same repository): its own #talk-tuesdays-announcements and
#talk-tuesdays-reminders channels and its own role. Its Tuesday livestream is reminded in its
channels, its recap is announced there only, and members' /episode, /schedule and
autocomplete search both series, each answer naming its series.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from bot.config import load_settings
from testkit.harness import Harness, git

SAMPLE_CONTENT = Path(__file__).resolve().parent.parent / "content"
DEMO_EPISODE = "s2-e05"
MERGED_RECAP = "recaps/s2-e05.md"
# Sunday before the S2:E5 livestream (Mon 14 Jul 2025, 13:30 New York).
DEMO_START = datetime(2025, 7, 13, 16, 0, tzinfo=UTC)
DEMO_ZONE = "America/Los_Angeles"
RECAPS_URL = "https://microsoft.github.io/model-mondays/blog/{yyyy}/{mm}/{dd}/{slug}/"

# The second series: its id (its folders, its channels' names) and name.
TALK_ID, TALK_NAME = "talk-tuesdays", "Talk Tuesdays"
TALK_LIVESTREAM = datetime(2025, 7, 15, 16, 0, tzinfo=UTC)  # Tue 18:00 in Paris
TALK_RECAP = f"{TALK_ID}/recaps/s1-e03.md"


def _talk_episode(number: int, title: str, guest: str, status: str, day: str, ama: str) -> str:
    return f"""---
season: 1
episode: {number}
title: {title}
guests: [{guest}]
status: {status}
timezone: Europe/Paris
livestream:
  start: {day}T18:00
  duration: 45m
  url: https://example.org/talk-tuesdays/s1-e{number:02d}
ama:
  start: {ama}T19:30
  duration: 30m
  url: https://discord.gg/example?event=talk-{number}
---
{title}, with {guest}.
"""


TALK_FILES = {
    f"{TALK_ID}/episodes/s1-e02.md": _talk_episode(
        2, "Prompt Flows That Scale", "Cedric Vidal", "published", "2025-07-08", "2025-07-11"
    ),
    f"{TALK_ID}/episodes/s1-e03.md": _talk_episode(
        3, "Vector Search in Practice", "Pamela Fox", "scheduled", "2025-07-15", "2025-07-18"
    ),
}
TALK_RECAP_TEXT = """---
date:
  created: 2025-07-15
draft: false
authors:
  - nitya
tags:
  - vector-search
episode: s1-e03
---

# S1:E3 Vector Search in Practice, with Pamela Fox

> Talk Tuesdays took vector search from the demo to production: chunking, hybrid ranking
> and the evaluation that tells you it works.
"""

_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")


class Transcript:
    """Renders what people would see in Discord as plain text."""

    def __init__(self, harness: Harness, clock: ManualClock, out=None):
        self.h = harness
        self.clock = clock
        self.out = out or sys.stdout
        self.zone = ZoneInfo(DEMO_ZONE)
        self.seen: dict[int, int] = {}
        self.names: dict[int, str] = {}

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def scene(self, title: str) -> None:
        now = self.clock().astimezone(self.zone)
        self.line()
        self.line(f"── {now:%a %d %b %Y %H:%M %Z} · {title} " + "─" * max(0, 40 - len(title)))

    def _time(self, match: re.Match[str]) -> str:
        when = datetime.fromtimestamp(int(match[1]), UTC)
        if match[2] == "R":
            return _relative(when - self.clock())
        return f"{when.astimezone(self.zone):%a %d %b %Y %H:%M %Z}"

    def text(self, value: str) -> str:
        value = _TIMESTAMP.sub(self._time, value)
        for rid, name in self.names.items():
            value = value.replace(f"<@&{rid}>", f"@{name}").replace(f"<#{rid}>", f"#{name}")
        return value

    def message(self, msg: dict[str, Any], prefix: str = "  ") -> None:
        flags = msg.get("flags", 0) or 0
        note = " (only you can see this)" if flags & 64 else ""
        if flags & 1:
            note += " (published to followers)"
        self.line(f"{prefix}amabot{note}:")
        if msg.get("content"):
            for part in self.text(msg["content"]).splitlines():
                self.line(f"{prefix}  {part}")
        for embed in msg.get("embeds") or []:
            if embed.get("title"):
                self.line(f"{prefix}  ┃ **{self.text(embed['title'])}**")
            for part in self.text(embed.get("description", "")).splitlines():
                self.line(f"{prefix}  ┃ {part}")
            for fld in embed.get("fields") or []:
                value = self.text(fld.get("value", "")).replace("\n", " / ")
                self.line(f"{prefix}  ┃ {fld.get('name')}: {value}")
            if embed.get("image"):
                self.line(f"{prefix}  ┃ [image {embed['image'].get('url', '')}]")
            if embed.get("footer"):
                self.line(f"{prefix}  ┃ — {self.text(embed['footer'].get('text', ''))}")
        buttons = [
            c
            for row in msg.get("components") or []
            for c in row.get("components", [])
            if c.get("type") == 2
        ]
        if buttons:
            self.line(prefix + "  " + "  ".join(f"[{b.get('label', '?')}]" for b in buttons))
        pings = msg.get("mention_roles") or []
        if pings or msg.get("mention_everyone"):
            who = ", ".join("@" + self.names.get(int(r), str(r)) for r in pings)
            self.line(f"{prefix}  (pinged: {who or '@everyone'})")

    def new_posts(self) -> int:
        shown = 0
        channels = [self.h.announcements, self.h.reminders]
        for show in self.h.shows:
            channels += [show.announcements, show.reminders]
        dm = self.h.sandbox.world.dm_channels.get(self.h.member.id)
        if dm is not None:
            channels.append(dm)
        for channel in channels:
            messages = self.h.sandbox.messages(channel)
            where = f"#{channel.name}" if channel.name else f"DM to {self.h.member.user.username}"
            for msg in messages[self.seen.get(channel.id, 0) :]:
                self.line(f"  {where}")
                self.message(msg, prefix="    ")
                shown += 1
            self.seen[channel.id] = len(messages)
        return shown


def _relative(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    ahead = seconds >= 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            words = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {words}" if ahead else f"{words} ago"
    return "now"


def prepare_content(target: Path, source: Path) -> str | None:
    """The sample content as it stood on the Sunday of the demo week: S2:E5 still scheduled,
    its recap not yet written; beside it, Talk Tuesdays' folders. Returns the recap text the
    demo merges later."""
    shutil.copytree(source, target)
    episode = target / "episodes" / f"{DEMO_EPISODE}.md"
    if episode.is_file():
        text = episode.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^status: \w+", "status: scheduled", text)
        text = re.sub(r"(?m)^  replay: .*\n", "", text)  # not recorded yet that Sunday
        episode.write_text(text, encoding="utf-8")
    for rel, text in TALK_FILES.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text, encoding="utf-8")
    recap = target / MERGED_RECAP
    if recap.is_file():
        text = recap.read_text(encoding="utf-8")
        recap.unlink()
        return text
    return None


async def _play(
    transcript: Transcript, h: Harness, clock: ManualClock, recap_text: str | None
) -> None:
    sb = h.sandbox
    t = transcript

    async def advance_to(when: datetime, title: str) -> None:
        clock.set(when)
        t.scene(title)
        await h.posting.deliver_due()
        t.new_posts()

    async def run(member, command: str, **options: Any) -> None:
        label = " ".join(f"{k}:{v}" for k, v in options.items())
        t.line(f"  {member.user.username} types: /{command} {label}".rstrip())
        subcommand = options.pop("subcommand", None)
        result = await sb.slash(member, h.general, command, subcommand=subcommand, **options)
        if result.message:
            t.message(result.message)
        return result

    t.scene("the bot starts; the Monday livestream is tomorrow")
    if h.posting.events is not None:
        await h.posting.reconcile_events()
        for event in sb.scheduled_events(h.guild):
            start = datetime.fromisoformat(event["scheduled_start_time"])
            where = (event.get("entity_metadata") or {}).get("location") or "#ama-stage"
            t.line(
                f"  Discord event made by the bot: {event['name']} · "
                f"{start.astimezone(t.zone):%a %d %b %H:%M %Z} · {where}"
            )
    await run(h.member, "schedule")
    t.new_posts()

    start = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)  # the S2:E5 livestream
    ama = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
    await advance_to(start - timedelta(hours=24), "24 hours before the livestream")
    choices = await sb.autocomplete(h.member, h.general, "episode", "query", "fine tun")
    t.line("  sam starts typing: /episode query:fine tun")
    for choice in choices[:3]:
        t.line(f"    suggestion: {choice['name']}")
    reply = await run(h.member, "episode", query=DEMO_EPISODE)
    await _choose_dm_reminder(t, h, reply.message if reply else None)
    talk = h.shows[0] if h.shows else None
    if talk is not None:
        await advance_to(
            TALK_LIVESTREAM - timedelta(hours=24), f"24 hours before {TALK_NAME}' livestream"
        )
    await advance_to(start - timedelta(hours=1), "1 hour before the livestream")
    await advance_to(start - timedelta(minutes=10), "10 minutes before the livestream")

    if recap_text is not None:
        clock.set(start + timedelta(hours=3))
        t.scene("an author merges the S2:E5 recap; GitHub calls the webhook")
        sha = await h.merge({MERGED_RECAP: recap_text}, "Add the S2:E5 recap")
        t.line(f"  git: merged {sha[:7]} 'Add the S2:E5 recap' into main")
        status = await h.send_webhook()
        t.line(f"  webhook: POST /github -> {status}")
        await sb.wait_for_message(h.announcements, timeout=10)
        t.new_posts()
        await run(h.member, "recap")

    if talk is not None:
        await _play_second_series(t, h, talk, advance_to, run)

    await advance_to(ama - timedelta(hours=24), "24 hours before the Friday AMA")
    await run(
        h.organiser,
        "announce",
        subcommand="create",
        message="Bring your fine-tuning questions to the AMA! @everyone",
        when="friday 09:00",
    )
    preview = sb.interactions[max(sb.interactions)]
    confirm = _button(sb.result(preview).message, "Confirm")
    if confirm:
        t.line("  ava clicks [Confirm]")
        result = await sb.click(h.organiser, h.general, sb.result(preview).message["id"], confirm)
        if result.message:
            t.message(result.message)
    await advance_to(ama - timedelta(minutes=90), "the organiser's announcement is due")
    await advance_to(ama - timedelta(hours=1), "1 hour before the Friday AMA")
    await advance_to(ama - timedelta(minutes=10), "10 minutes before the Friday AMA")
    if h.bot is not None and h.bot.ama_service is not None:
        await _play_ama(t, h, clock, ama)
    t.scene("after the week")
    await run(h.member, "episode")


async def _play_second_series(
    t: Transcript,
    h: Harness,
    talk: Any,
    advance_to: Callable[[datetime, str], Any],
    run: Callable[..., Any],
) -> None:
    """Talk Tuesdays' day: its reminders in its own channels, members finding its episode
    beside Model Mondays' (named), /schedule by series, its recap announced in its channel."""
    sb = h.sandbox
    await advance_to(TALK_LIVESTREAM - timedelta(hours=1), f"1 hour before {TALK_NAME}' livestream")
    choices = await sb.autocomplete(h.member, h.general, "episode", "query", "s1e")
    t.line("  sam starts typing: /episode query:s1e")
    for choice in choices[:3]:
        t.line(f"    suggestion: {choice['name']}")
    await run(h.member, "episode", query="vector search")
    await run(h.member, "schedule", count=2)
    await advance_to(
        TALK_LIVESTREAM - timedelta(minutes=10), f"10 minutes before {TALK_NAME}' livestream"
    )
    t.clock.set(TALK_LIVESTREAM + timedelta(hours=3))
    t.scene(f"an author merges the {TALK_NAME} S1:E3 recap; GitHub calls the webhook")
    sha = await h.merge({TALK_RECAP: TALK_RECAP_TEXT}, f"Add the {TALK_NAME} S1:E3 recap")
    t.line(f"  git: merged {sha[:7]} into main; webhook: POST /github -> {await h.send_webhook()}")
    await sb.wait_for_message(talk.announcements, timeout=10)
    t.new_posts()
    await run(h.member, "recap", series=TALK_ID)


def _add_ama_places(h: Harness) -> None:
    """The AMA's channels and people: #ama-questions (the public thread is made there),
    #ama-review (organisers' cards and the host board), the guest with the Guests role, and
    two more members. The config gains its [ama] section naming them."""
    sb = h.sandbox
    h.ama_questions = sb.add_channel(h.guild, "ama-questions", "text")
    h.ama_review = sb.add_channel(h.guild, "ama-review", "text")
    guests = sb.add_role(h.guild, "Guests")
    h.guest = sb.add_member(h.guild, "dave", roles=[guests])
    h.priya = sb.add_member(h.guild, "priya", roles=[h.members_role])
    h.lee = sb.add_member(h.guild, "lee", roles=[h.members_role])
    h.overrides = {
        **h.overrides,
        "ama": {
            "enabled": True,
            "channel_id": h.ama_questions.id,
            "review_channel_id": h.ama_review.id,
            "host_role_ids": [guests.id],
            # Questions open shortly before the AMA here (the default is the livestream's
            # start): the demo's week runs on a clock that jumps, and messages older than an
            # hour may be edited only a few times an hour (Discord's 30046).
            "open_before": "30m",
        },
    }
    h.settings = load_settings(h.write_config(), environ=h.environ)


AMA_QUESTIONS = (
    "How much data do I need before fine-tuning beats prompt engineering?",
    "Is distillation worth it for models under a billion parameters?",
    "Which evaluation do you run first after a fine-tune?",
)


async def _play_ama(t: Transcript, h: Harness, clock: ManualClock, ama: datetime) -> None:
    """The Friday AMA: asked, reviewed, voted, answered on the board, recorded."""
    sb = h.sandbox
    service = h.bot.ama_service if h.bot is not None else None
    if service is None:
        return
    sam, priya, lee, ava, dave = h.member, h.priya, h.lee, h.organiser, h.guest
    who = {m.id: m.user.username for m in (sam, priya, lee, ava, dave)}

    async def said(result: Any) -> None:
        done = await sb.wait_final(result)
        for part in [done.content] + [f.get("content", "") for f in done.followups]:
            if part:
                t.line(f"    amabot (only you can see this): {t.text(part)}")

    async def click(member: Any, channel: Any, message: dict[str, Any], label: str) -> Any:
        custom_id = _button(message, label, prefix=True)
        t.line(f"  {who[member.id]} clicks [{label}]")
        if custom_id is None:
            raise RuntimeError(f"no [{label}] button on the message")
        return await sb.click(member, channel, message["id"], custom_id)

    def show(channel: Any, message: dict[str, Any], where: str) -> None:
        t.line(f"  {where}")
        t.message(sb.world.find_message(_id(channel), int(message["id"])).data, prefix="    ")

    # Questions open 30 minutes before the AMA (the bot's clock does it; here, its wake-up).
    clock.set(ama - timedelta(minutes=8))
    t.scene("questions for the Friday AMA")
    await service.tick()
    session = await _until(lambda: _session_with_places(service, DEMO_EPISODE))
    thread = session.thread_id
    prompt = sb.messages(h.ama_questions)[-1]
    show(h.ama_questions, prompt, "#ama-questions")
    t.line(f"  (the bot started the thread '{sb.world.channel(thread).name}' on it)")

    t.line(f"  sam types: /ask question:{AMA_QUESTIONS[0]}")
    await said(await sb.slash(sam, h.general, "ask", question=AMA_QUESTIONS[0]))
    form = await click(priya, h.ama_questions, prompt, "Ask a question")
    t.line(f"    (a form opens: {form.modal['title'] if form.modal else '?'})")
    t.line(f"  priya writes: {AMA_QUESTIONS[1]} · Ask anonymously? yes")
    await said(
        await sb.submit_modal(
            priya, None, form.modal["custom_id"], {"question": AMA_QUESTIONS[1], "anonymous": "yes"}
        )
    )
    t.line(f"  lee types: /ask question:{AMA_QUESTIONS[2]}")
    await said(await sb.slash(lee, h.general, "ask", question=AMA_QUESTIONS[2]))

    t.scene("the organisers review")
    cards = await _until(lambda: _with(sb.messages(h.ama_review), "Approve", 3))
    for card in cards:
        show(h.ama_review, card, "#ama-review (organisers only)")
        await said(await click(ava, h.ama_review, card, "Approve"))

    t.scene("members back the questions they want answered")
    public = await _until(lambda: _with(sb.messages(thread), "Me too", 3))
    by_text = {q: m for m in public for q in AMA_QUESTIONS if q[:30] in json_text(m)}
    first, second = by_text[AMA_QUESTIONS[0]], by_text[AMA_QUESTIONS[1]]
    for member, message in ((lee, first), (priya, first), (sam, second)):
        await said(await click(member, thread, message, "Me too"))
    await _until(
        lambda: "Me too · 2" in json_text(sb.world.find_message(thread, int(first["id"])).data)
    )
    for message in public:
        show(thread, message, f"#{sb.world.channel(thread).name}")

    clock.set(ama)
    t.scene("the AMA goes live; the guest works the host board")
    t.line("  ava types: /ama live")
    await said(await sb.slash(ava, h.general, "ama", subcommand="live"))
    t.line("  dave types: /ama board")
    await said(await sb.slash(dave, h.general, "ama", subcommand="board"))
    board_thread = (await service.session_for(DEMO_EPISODE)).board_thread_id
    board = (await _until(lambda: _with(sb.messages(board_thread), "Next", 1)))[0]
    await said(await click(dave, board_thread, board, "Next"))
    clock.set(ama + timedelta(minutes=6))
    notes = await click(dave, board_thread, board, "Notes")
    gist = "Start with prompts; fine-tune once you have a few thousand good examples."
    t.line(f"  dave writes the gist: {gist}")
    await said(await sb.submit_modal(dave, None, notes.modal["custom_id"], {"notes": gist}))
    await said(await click(dave, board_thread, board, "Answered"))
    clock.set(ama + timedelta(minutes=15))
    await said(await click(dave, board_thread, board, "Next"))
    await said(await click(dave, board_thread, board, "Answered"))
    await _until(
        lambda: (
            "answered 2" in json_text(sb.world.find_message(board_thread, int(board["id"])).data)
            or None
        ),
        within=7,
    )
    show(board_thread, board, "host board (private thread: organisers and hosts)")
    await _until(
        lambda: (
            sb.messages(sb.world.dm_channels.get(sam.id))
            if sam.id in sb.world.dm_channels
            else None
        )
    )
    t.new_posts()

    clock.set(ama + timedelta(minutes=40))
    t.scene("the AMA closes; the record goes to the content repository")
    t.line("  ava types: /ama close")
    await said(await sb.slash(ava, h.general, "ama", subcommand="close"))
    branch = f"amabot/ama/{DEMO_EPISODE}"
    record = await _until(
        lambda: _remote_file(h.repo.remote, branch, f"ama/{DEMO_EPISODE}.md"), within=15
    )
    t.line(
        f"  git: the bot pushed the branch {branch} to the content remote, for the recap"
        " author to review and merge:"
    )
    for part in (record or "(not pushed)").splitlines():
        t.line(f"    │ {part}")


async def _session_with_places(service: Any, episode: str) -> Any:
    session = await service.session_for(episode)
    ready = session is not None and session.thread_id and session.board_thread_id
    return session if ready else None


def _with(messages: list[dict[str, Any]], label: str, count: int) -> list[dict[str, Any]] | None:
    found = [m for m in messages if _button(m, label, prefix=True)]
    return found if len(found) >= count else None


def json_text(message: dict[str, Any]) -> str:
    import json

    return json.dumps(message, ensure_ascii=False)


def _id(channel: Any) -> int:
    return channel if isinstance(channel, int) else channel.id


async def _until(probe: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll `probe` (a value, or an awaitable of one) until it gives something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


def _remote_file(remote: Path, branch: str, path: str) -> str | None:
    try:
        return git("show", f"{branch}:{path}", cwd=remote)
    except RuntimeError:  # the branch is not pushed yet
        return None


async def _choose_dm_reminder(t: Transcript, h: Harness, message: dict[str, Any] | None) -> None:
    """sam clicks "Remind me" on the /episode reply and asks for a DM before each AMA."""
    sb = h.sandbox
    for label in ("Remind me", "AMAs", "DM 10 minutes before"):
        custom_id = _button(message, label)
        if message is None or custom_id is None:
            return
        t.line(f"  sam clicks [{label}]")
        result = await sb.click(h.member, h.general, message["id"], custom_id)
        message = result.message
        if label != "Remind me" and message is not None:
            t.message(message)


def _button(message: dict[str, Any] | None, label: str, *, prefix: bool = False) -> str | None:
    for row in (message or {}).get("components") or []:
        for comp in row.get("components", []):
            text = str(comp.get("label", ""))
            if (text.startswith(label) if prefix else text == label) and comp.get("custom_id"):
                return comp["custom_id"]
    return None


async def _demo(interactive: bool, content: Path | None, out) -> int:
    clock = ManualClock(DEMO_START)
    with tempfile.TemporaryDirectory(prefix="amabot-demo-") as tmp:
        base = Path(tmp)
        recap_text = prepare_content(base / "content", content or SAMPLE_CONTENT)
        harness = Harness(
            base,
            clock=clock,
            content_source=base / "content",
            validate=None,
            overrides={
                "reminders": {"offsets": ["24h", "1h", "10m"]},
                "site": {"recaps_url": RECAPS_URL},
                "events": {"enabled": True},
            },
        )
        violations: list[str] = []
        async with harness as h:
            h.sandbox.on_violation = lambda v: violations.append(str(v))
            t = Transcript(h, clock, out)
            for obj in (h.announcements, h.reminders, h.general, h.members_role, h.organisers_role):
                t.names[obj.id] = obj.name
            t.line(f"amabot demo: a week of {h.series}, played on a clock the demo controls.")
            t.line(
                f"Discord stand-in at {h.sandbox.base_url}; guild '{h.series}' with #announcements,"
            )
            t.line(
                "#reminders, #ama-stage, #ama-questions, #ama-review and #general; times shown"
                f" in {DEMO_ZONE}."
            )
            _add_ama_places(h)
            talk = h.add_series(
                TALK_ID,
                TALK_NAME,
                timezone="Europe/Paris",
                ama={"enabled": False},  # the AMA in Discord is Model Mondays' here
            )
            for obj in (talk.announcements, talk.reminders, talk.role):
                t.names[obj.id] = obj.name
            t.line(
                f"A second series in the same guild, {TALK_NAME}: #{talk.announcements.name}, "
                f"#{talk.reminders.name} and its role @{talk.role.name}."
            )
            await h.start_bot()
            if interactive:
                await _interactive(t, h, clock)
            else:
                await _play(t, h, clock, recap_text)
            t.line()
            if violations:
                t.line(
                    f"Discord API check: {len(violations)} request(s) did not match Discord's spec:"
                )
                for v in violations[:20]:
                    t.line(f"  {v}")
            elif not h.sandbox.validate:
                t.line("Discord API check: skipped (install the `test` extra to check requests).")
            else:
                requests = len(h.sandbox.requests)
                t.line(
                    f"Discord API check: all {requests} requests matched Discord's OpenAPI spec."
                )
    return 0


async def _interactive(t: Transcript, h: Harness, clock: ManualClock) -> None:
    t.line("Type slash commands as a member would, e.g. `/episode query:s2e5`, `/recap`,")
    t.line("`/schedule count:3`; `:advance 1h` moves the clock; `:organiser /announce list`")
    t.line("runs as an organiser; `:quit` ends.")
    loop = asyncio.get_running_loop()
    read: Callable[[], str] = sys.stdin.readline
    while True:
        t.out.write("> ")
        t.out.flush()
        line = (await loop.run_in_executor(None, read)).strip()
        if not line or line in (":quit", ":q", "exit"):
            if not line and sys.stdin.closed:
                return
            if line:
                return
            continue
        member = h.member
        if line.startswith(":advance"):
            from bot.durations import parse_duration

            try:
                clock.advance(parse_duration(line.split(maxsplit=1)[1]))
            except (IndexError, ValueError) as exc:
                t.line(f"  usage: :advance 1h ({exc})")
                continue
            t.scene("clock moved")
            await h.posting.deliver_due()
            t.new_posts()
            continue
        if line.startswith(":organiser"):
            member = h.organiser
            line = line.removeprefix(":organiser").strip()
        try:
            command, subcommand, options = parse_command_line(line)
            result = await h.sandbox.slash(
                member, h.general, command, subcommand=subcommand, **options
            )
        except Exception as exc:  # a person typing: show the problem, keep the prompt
            t.line(f"  {exc}")
            continue
        if result.message:
            t.message(result.message)
        t.new_posts()


def parse_command_line(line: str) -> tuple[str, str | None, dict[str, Any]]:
    """`/episode query:s2e5` -> ("episode", None, {"query": "s2e5"}); `/announce list` works."""
    words = shlex.split(line.lstrip("/"))
    if not words:
        raise ValueError("type a command such as /episode query:s2e5")
    command, rest = words[0], words[1:]
    subcommand = None
    if rest and ":" not in rest[0]:
        subcommand, rest = rest[0], rest[1:]
    options: dict[str, Any] = {}
    for word in rest:
        key, sep, value = word.partition(":")
        if not sep:
            raise ValueError(f"options look like name:value, not {word!r}")
        options[key] = (
            int(value) if value.isdigit() and key in ("count", "season", "page") else value
        )
    return command, subcommand, options


def run_demo(*, interactive: bool = False, content: Path | None = None, out=None) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord").setLevel(logging.ERROR)
    return asyncio.run(_demo(interactive, content, out))
