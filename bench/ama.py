"""AMA benchmark (issue 21): 500 members asking and voting in a compressed AMA.

The real bot (discord.py) against the in-process stand-in, on the real clock: an organiser
opens the AMA (`review = "off"`: a question is public once stored), then 300 members ask one
question each with `/ask` and members click "Me too" 3,000 times, all within 60 s. Each
member acts in order (a click waits for the member's previous one), members act at once. A
model keeps who backs what: a click toggles the member's vote, as the bot says it does.

Prints: every vote counted exactly once (each question's voters in the store and its shown
count equal the model's), failed interactions (the stand-in's "This interaction failed"
past 3 s), how long after the last click the shown counts equal the truth (target 5 s), the
message edits per question message and per thread in any 5 s window, and the bot's own time
per interaction (bot/discord/timing.py). Exits 1 if a vote is lost or doubled, an
interaction failed, or the shown counts never catch up.

    python3 bench/ama.py [--members 500] [--questions 300] [--clicks 3000] [--span 60]
    python3 bench/ama.py --smoke   # 20 members, 10 questions, 60 clicks in 3 s: that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import system_clock
from bot.config import load_settings
from bot.render.ama import parse_ama_id
from testkit.harness import Harness

SMOKE_HELP = "the smallest run, that it runs at all (tests/test_benches.py): figures mean little"
EPISODE = "s9-e01"
ZONE = "America/Los_Angeles"
CATCH_UP_TARGET = 5.0  # seconds after the last click (issue 21, item 10)
CATCH_UP_WAIT = 600.0  # how long the bench waits for the shown counts at most
LABEL = re.compile(r"Me too · (\d+)")
SAVED = re.compile(r"question #(\d+) is saved")
SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "ve", "zo", "ni", "pa", "shi", "da", "fe", "qu", "bri"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def episode_file(ama_start: datetime) -> str:
    """An episode whose livestream and AMA are ahead of the real clock (questions open with
    `/ama open`)."""
    local = ama_start.astimezone(ZoneInfo(ZONE))
    livestream = local - timedelta(days=1)
    return "\n".join(
        [
            "---",
            f"id: {EPISODE}",
            "season: 9",
            "episode: 1",
            "title: 'Fine Tuning & Distillation'",
            "summary: Customising a model for your application.",
            "status: scheduled",
            f"timezone: {ZONE}",
            "livestream:",
            f"  start: {livestream:%Y-%m-%dT%H:%M}",
            "  duration: 30m",
            "  url: https://example.org/register",
            "ama:",
            f"  start: {local:%Y-%m-%dT%H:%M}",
            "  url: https://example.org/join",
            "guests: ['Dave Voutila']",
            "hosts: ['Nitya Narasimhan']",
            "---",
            "About it.",
            "",
        ]
    )


def question_text(rng: random.Random, n: int) -> str:
    """A question of its own words (no two alike, so none is offered as "+1 that instead")."""
    words = [
        "".join(rng.choice(SYLLABLES) for _ in range(3)) + str(n) + "abcde"[k] for k in range(5)
    ]
    return f"How do {words[0]} {words[1]} and {words[2]} fit with {words[3]} {words[4]}?"


@dataclass
class Model:
    """Who backs which question, as the members' clicks say."""

    voters: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    disagreed: list[str] = field(default_factory=list)  # the bot's answer vs the model's


@dataclass
class Figures:
    asked: int = 0
    clicks: int = 0
    errors: list[str] = field(default_factory=list)
    interaction_ids: list[int] = field(default_factory=list)
    last_click: float = 0.0


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="amabot-bench-ama-") as tmp:
        base = Path(tmp)
        content = base / "content-src" / "episodes"
        content.mkdir(parents=True)
        ama_start = (system_clock() + timedelta(hours=3)).replace(second=0, microsecond=0)
        (content / f"{EPISODE}.md").write_text(episode_file(ama_start), encoding="utf-8")
        h = Harness(
            base / "world",
            clock=system_clock,
            content_source=content.parent,
            validate=False,  # the spec checker runs in this loop; it is the stand-in's cost
        )
        await h.start()
        try:
            sb = h.sandbox
            questions = sb.add_channel(h.guild, "ama-questions", "text")
            review = sb.add_channel(h.guild, "ama-review", "text")
            members = [sb.add_member(h.guild, f"member{i:03d}") for i in range(args.members)]
            h.overrides = {
                "content": {"poll_interval": "1h"},
                "ama": {
                    "enabled": True,
                    "channel_id": questions.id,
                    "review_channel_id": review.id,
                    "review": "off",
                    "push": False,
                },
            }
            h.settings = load_settings(h.write_config(), environ=h.environ)
            t = time.perf_counter()
            await h.start_bot()
            print(f"bot started in {time.perf_counter() - t:.1f}s")
            return await measure(h, members, args)
        finally:
            await h.stop()


async def measure(h: Harness, members: list[Any], args: argparse.Namespace) -> int:
    sb = h.sandbox
    assert h.bot is not None and h.bot.ama_service is not None
    ama = h.bot.ama_service
    opened = await sb.slash(h.organiser, h.general, "ama", subcommand="open")
    await sb.wait_final(opened)
    deadline = time.monotonic() + 15
    session = await ama.session_for(EPISODE)
    while session is None or session.thread_id is None:
        if time.monotonic() > deadline:
            print("the AMA's questions thread was never made")
            return 1
        await asyncio.sleep(0.05)
        session = await ama.session_for(EPISODE)
    thread = session.thread_id

    rng = random.Random(args.seed)
    model, figures = Model(), Figures()
    asker_of: dict[int, int] = {}  # question id -> member id
    vote_ids: dict[int, str] = {}  # question id -> its "Me too" custom id, once public
    message_of: dict[int, int] = {}  # question id -> its public message id
    ranked: list[int] = []  # public questions, in the order they appeared (popularity rank)

    def scan() -> None:
        for message in sb.messages(thread)[len(message_of) :]:
            for row in message.get("components") or []:
                for comp in row.get("components", []):
                    parts = parse_ama_id(str(comp.get("custom_id", "")))
                    if parts and parts[0] == "vote":
                        qid = int(parts[1])
                        if qid not in vote_ids:
                            vote_ids[qid] = comp["custom_id"]
                            message_of[qid] = int(message["id"])
                            ranked.append(qid)

    # The plan: who asks when, and when each click comes (its target is picked at click
    # time among the questions public by then: a member backs what they can see).
    span = args.span
    askers = rng.sample(members, args.questions)
    plan: dict[int, list[tuple[float, str, int]]] = defaultdict(list)
    for n, member in enumerate(askers):
        plan[member.id].append((rng.uniform(0, span * 0.5), "ask", n))
    for _ in range(args.clicks):
        member = rng.choice(members)
        plan[member.id].append((rng.uniform(span * 0.05, span), "click", 0))
    by_id = {m.id: m for m in members}

    async def ask(member: Any, n: int) -> None:
        result = await sb.slash(
            member, h.general, "ask", question=question_text(rng, n), anonymous=n % 10 == 0
        )
        figures.interaction_ids.append(result.id)
        done = await sb.wait_final(result, timeout=30)
        text = " ".join([done.content] + [f.get("content", "") for f in done.followups])
        found = SAVED.search(text)
        if found is None:
            figures.errors.append(f"ask by {member.id}: {text[:120]!r}")
            return
        asker_of[int(found[1])] = member.id
        figures.asked += 1

    async def click(member: Any) -> None:
        scan()
        candidates = [q for q in ranked if asker_of.get(q) != member.id]
        if not candidates:
            return
        # Zipf-like: the first questions out draw most of the votes, as on a real stage.
        weights = [1 / (rank + 1) ** 0.8 for rank in range(len(candidates))]
        qid = rng.choices(candidates, weights)[0]
        result = await sb.click(member, thread, message_of[qid], vote_ids[qid])
        figures.interaction_ids.append(result.id)
        figures.last_click = time.monotonic()
        figures.clicks += 1
        backs = model.voters[qid]
        expect = "Counted" if member.id not in backs else "taken back"
        backs.symmetric_difference_update({member.id})
        done = await sb.wait_final(result, timeout=30)
        text = " ".join([done.content] + [f.get("content", "") for f in done.followups])
        if expect not in text:
            model.disagreed.append(f"#{qid} by {member.id}: expected {expect!r}, got {text!r}")

    async def member_task(member_id: int, actions: list[tuple[float, str, int]]) -> None:
        member = by_id[member_id]
        for at, what, n in sorted(actions):
            wait = began + at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await (ask(member, n) if what == "ask" else click(member))
            except Exception as exc:  # a failed interaction: counted, the member goes on
                figures.errors.append(f"{what} by {member_id}: {type(exc).__name__}: {exc}"[:300])

    edits_before = len(sb.requests)
    began = time.monotonic()
    await asyncio.gather(*(member_task(mid, acts) for mid, acts in plan.items()))
    crowd_s = time.monotonic() - began
    last_click = figures.last_click or time.monotonic()

    # The truth is the store's; the shown count is the public message's button.
    async def truth() -> dict[int, set[int]]:
        return {q.id: set(q.voters) for q in await ama.store.ama.questions(session.id)}

    def shown() -> dict[int, int]:
        out = {}
        for qid, mid in message_of.items():
            found = sb.world.find_message(thread, mid)
            label = " ".join(
                str(c.get("label", ""))
                for row in found.data.get("components", [])
                for c in row.get("components", [])
            )
            match = LABEL.search(label)
            out[qid] = int(match[1]) if match else -1
        return out

    stored = await truth()
    behind_at_last = sum(1 for q, n in shown().items() if n != len(stored.get(q, ())))
    caught_up: float | None = None
    while time.monotonic() - last_click < CATCH_UP_WAIT:
        scan()
        stored = await truth()
        view = shown()
        if all(view.get(q, -1) == len(v) for q, v in stored.items() if q in message_of):
            caught_up = time.monotonic() - last_click
            break
        await asyncio.sleep(0.05)

    # Every vote counted exactly once: the store's voters are the model's, question by question.
    stored = await truth()
    wrong = [
        q for q in set(model.voters) | set(stored) if model.voters.get(q, set()) != stored.get(q)
    ]
    model_votes = sum(len(v) for v in model.voters.values())
    stored_votes = sum(len(v) for v in stored.values())

    def edits_in(channel: int | None) -> list[Any]:
        return [
            r
            for r in sb.requests[edits_before:]
            if r.method == "PATCH"
            and r.path.startswith(f"/channels/{channel}/messages/")
            and (r.status or 0) < 300
        ]

    def window_max(requests: list[Any]) -> int:
        """The most edits in any 5 s (the stand-in's receipt times)."""
        times = sorted(r.monotonic for r in requests)
        most, lo = 0, 0
        for hi, at in enumerate(times):
            while at - times[lo] >= 5.0:
                lo += 1
            most = max(most, hi - lo + 1)
        return most

    edits = edits_in(thread)
    board_edits = edits_in(session.board_thread_id)
    per_message = Counter(int(r.path.rsplit("/", 1)[1]) for r in edits)
    per_question = [per_message.get(mid, 0) for mid in message_of.values()]
    limited = sum(1 for r in sb.requests[edits_before:] if r.status == 429)

    timer = h.bot.interaction_timer
    own = [timer.by_id[i] for i in figures.interaction_ids if i in timer.by_id]
    failed = len(sb.failed_interactions)

    print(
        f"{args.members} members: {figures.asked} questions asked, {figures.clicks} clicks, "
        f"in {crowd_s:.1f}s (planned {span:g}s)"
    )
    print(
        f"votes: model {model_votes}, store {stored_votes}, questions differing {len(wrong)}, "
        f"answers disagreeing {len(model.disagreed)}: "
        + ("every vote counted exactly once" if not wrong and not model.disagreed else "WRONG")
    )
    print(f"failed interactions: {failed} (errors seen by members: {len(figures.errors)})")
    catch = f"{caught_up:.2f}s" if caught_up is not None else f"not within {CATCH_UP_WAIT:g}s"
    verdict = "met" if caught_up is not None and caught_up <= CATCH_UP_TARGET else "MISSED"
    print(
        f"shown counts equal the truth {catch} after the last click "
        f"(target {CATCH_UP_TARGET:g}s: {verdict}); "
        f"{behind_at_last} of {len(message_of)} question messages behind at the last click"
    )
    if per_question:
        print(
            f"edits per question message: max {max(per_question)}, "
            f"median {statistics.median(per_question):g}, total {len(edits)}; "
            f"per thread in any 5 s window: max {window_max(edits)} (questions), "
            f"{window_max(board_edits)} (host board, {len(board_edits)} edits); 429s {limited}"
        )
    if own:
        print(
            f"bot's own time per interaction: n={len(own)} p50 {statistics.median(own):.2f} ms, "
            f"p99 {percentile(own, 99):.2f} ms, max {max(own):.2f} ms"
        )
    for line in (figures.errors + model.disagreed)[:10]:
        print(f"  {line}")
    bad = wrong or model.disagreed or failed or figures.errors or caught_up is None
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--clicks", type=int, default=3000)
    ap.add_argument("--span", type=float, default=60.0, help="seconds the asking and voting take")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = ap.parse_args()
    if args.smoke:
        args.members, args.questions, args.clicks, args.span = 20, 10, 60, 3.0
    print(f"AMA bench, seed {args.seed}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
