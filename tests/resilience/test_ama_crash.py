"""A SIGKILL mid-AMA loses no acknowledged question, approval or vote and duplicates no
message (issue 21, items 4 and 8).

The bot runs as a process (testkit/processes.py) against the stand-in in a process of its
own, with a nonce window of one second and every outage longer than that, so only the bot
itself can keep a message from going out twice. Members ask (receipt seen), an organiser
approves (answer seen), members vote (answer seen); the bot is SIGKILLed right after an
acknowledgement while more clicks are in flight, restarted, then killed once more inside the
gap between Discord's answer to a question's public message and the outbox's record of it
(testkit/gap.py), restarted. Afterwards, from the stand-in's record and the bot's store:
every acknowledged question, approval and vote is stored; each approved question has exactly
one public message in the thread, each question one review card, the session one prompt and
one board; the counts shown equal the stored truth.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from typing import Any

import aiohttp

from bot.plan import ama_posts
from bot.plan.ama import QuestionState
from bot.plan.posts import nonce_for
from bot.store import open_store
from testkit.gap import landed as gap_landed
from testkit.processes import Workload, World
from tests.builders import AMA_QUESTIONS as QUESTIONS

NONCE_WINDOW = 1.0
DOWN = NONCE_WINDOW + 0.5  # each outage outlasts the nonce window
ASKERS = 10
SAVED = re.compile(r"question #(\d+) is saved")


def text_of(result: Any) -> str:
    texts = [result.content or ""] + [f.get("content") or "" for f in result.followups]
    return " ".join(t for t in texts if t)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        str(c.get("custom_id"))
        for row in message.get("components") or []
        for c in row.get("components", [])
        if c.get("custom_id")
    ]


def shown_count(message: dict[str, Any]) -> int | None:
    for row in message.get("components") or []:
        for c in row.get("components", []):
            if str(c.get("label", "")).startswith("Me too · "):
                return int(str(c["label"]).rsplit(" ", 1)[1])
    return None


async def poll(read, check, *, within: float, what: str):
    limit = time.monotonic() + within
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > limit:
            raise TimeoutError(f"{what} not within {within}s; last: {value!r}"[:2000])
        await asyncio.sleep(0.1)


async def serve(world: World) -> None:
    """(Re)start the bot: serving, and its gateway session up for members' interactions."""
    await world.start_bot()
    await world.sb.wait_ready(timeout=30)


async def settled(world: World) -> None:
    """Until nothing is pending but the AMA episode's own reminders (due hours from now)."""
    reminders = world.w.events_per_episode
    async with aiohttp.ClientSession() as session:

        async def health() -> dict[str, Any] | None:
            return await world.bot.healthz(session)

        await poll(
            health,
            lambda h: h is not None and h["posts"]["pending"] == reminders,
            within=30,
            what="nothing pending",
        )


class Run:
    """The members, the organiser and what the bot told them."""

    def __init__(self, world: World):
        self.world = world
        self.sb = world.sb
        self.ava = world.sandbox.member("ava")
        self.general = world.sandbox.channel("general")
        self.questions = world.sandbox.channel("ama-questions")
        self.review = world.sandbox.channel("ama-review")
        self.members = [world.sandbox.member(f"m{i:04d}") for i in range(world.w.members)]
        self.asked: dict[int, tuple[int, str]] = {}  # question -> (asker, text), receipt seen
        self.approved: set[int] = set()  # answer seen
        self.votes: set[tuple[int, int]] = set()  # (member, question), "Counted" seen
        self.clicked: set[tuple[int, int]] = set()  # every vote click, answered or not
        self.answers: Counter[str] = Counter()

    async def final(self, pending, timeout: float = 8.0) -> str:
        return text_of(await self.sb.wait_final(await pending, timeout=timeout))

    async def ask(self, member: int, text: str) -> int | None:
        try:
            answer = await self.final(
                self.sb.slash(member, self.general, "ask", question=text, timeout=6)
            )
        except Exception as exc:  # the bot was killed under it: not acknowledged
            self.answers[f"ask: {type(exc).__name__}"] += 1
            return None
        found = SAVED.search(answer)
        assert found, answer  # the questions are unlike each other: stored at once
        qid = int(found.group(1))
        self.asked[qid] = (member, text)
        self.answers["ask: saved"] += 1
        return qid

    async def card(self, qid: int) -> dict[str, Any]:
        approve = f"amabot:ama:review:{qid}:approve"

        async def cards() -> list[dict[str, Any]]:
            return [m for m in await self.sb.messages(self.review) if approve in custom_ids(m)]

        found = await poll(cards, bool, within=20, what=f"the card of #{qid}")
        return found[0]

    async def approve(self, qid: int) -> None:
        card = await self.card(qid)
        answer = await self.final(
            self.sb.click(self.ava, self.review, card["id"], f"amabot:ama:review:{qid}:approve")
        )
        assert "approved" in answer, answer
        self.approved.add(qid)

    async def approve_the_rest(self) -> None:
        """Every card still open (also a question stored just before a kill, its receipt
        never seen) is approved."""
        for m in await self.sb.messages(self.review):
            for row in m.get("components") or []:
                for c in row.get("components", []):
                    cid = str(c.get("custom_id"))
                    if cid.endswith(":approve") and not c.get("disabled"):
                        await self.approve(int(cid.split(":")[3]))

    async def public(self, thread: int) -> dict[int, list[dict[str, Any]]]:
        """Question -> its messages in the thread."""
        found: dict[int, list[dict[str, Any]]] = {}
        for m in await self.sb.messages(thread):
            for cid in custom_ids(m):
                if cid.startswith("amabot:ama:vote:"):
                    found.setdefault(int(cid.rsplit(":", 1)[1]), []).append(m)
        return found

    async def vote(self, member: int, thread: int, message: dict[str, Any], qid: int) -> bool:
        self.clicked.add((member, qid))
        try:
            answer = await self.final(
                self.sb.click(member, thread, message["id"], f"amabot:ama:vote:{qid}", timeout=6)
            )
        except Exception as exc:
            self.answers[f"vote: {type(exc).__name__}"] += 1
            return False
        assert answer.startswith("Counted"), answer  # one click per member and question
        self.votes.add((member, qid))
        self.answers["vote: counted"] += 1
        return True


async def test_a_sigkill_mid_ama_loses_no_acknowledged_question_or_vote_and_posts_once(
    tmp_path, seed
):
    rng = random.Random(seed)
    world = World(
        tmp_path / "run",
        Workload(
            recaps=0,
            reminders=0,
            announcements=0,
            span=1.0,
            kills=0,
            seed=seed,
            members=14,
            ama=True,
            sandbox={"nonce_window": NONCE_WINDOW},
        ),
        say=print,
    )
    began = time.monotonic()
    await world.setup()
    try:
        await serve(world)
        run = Run(world)
        sb = run.sb
        opened = await run.final(
            sb.slash(run.ava, run.general, "ama", subcommand="open", timeout=6)
        )
        assert "collecting" in opened, opened
        threads = await poll(
            lambda: sb.threads(run.questions), bool, within=20, what="the questions thread"
        )
        thread = int(threads[0]["id"])
        await poll(lambda: sb.threads(run.review), bool, within=20, what="the host board")

        # Members ask, the organiser approves: all acknowledged.
        first = await asyncio.gather(
            *(run.ask(run.members[i], QUESTIONS[i]) for i in range(ASKERS - 2))
        )
        assert None not in first
        for qid in first:
            await run.approve(qid)
        messages = await poll(
            lambda: run.public(thread),
            lambda found: set(found) >= set(first),
            within=20,
            what="the approved questions in the thread",
        )

        # A storm of votes (and two more questions), SIGKILLed right after the 15th answer
        # with more clicks in flight.
        clicks = [(m, q) for m in run.members for q in rng.sample(first, 4) if run.asked[q][0] != m]
        rng.shuffle(clicks)
        acknowledged = 0
        enough = asyncio.Event()
        gate = asyncio.Semaphore(6)

        async def click(member: int, qid: int) -> None:
            nonlocal acknowledged
            async with gate:
                if not world.bot.alive:
                    return  # the member sees the bot gone and stops clicking
                if await run.vote(member, thread, messages[qid][0], qid):
                    acknowledged += 1
                    if acknowledged == 15:
                        enough.set()

        async def kill_after_the_fifteenth() -> None:
            await enough.wait()
            await world.bot.kill()

        killer = asyncio.create_task(kill_after_the_fifteenth())
        await asyncio.gather(
            *(click(m, q) for m, q in clicks),
            run.ask(run.members[ASKERS - 2], QUESTIONS[ASKERS - 2]),
            run.ask(run.members[ASKERS - 1], QUESTIONS[ASKERS - 1]),
        )
        await asyncio.wait_for(killer, 30)
        assert world.bot.downtimes, "the bot was never killed"
        print(f"killed after {len(run.votes)} counted votes of {len(clicks)} clicks")
        await asyncio.sleep(DOWN)
        await serve(world)
        await settled(world)  # the cards of questions stored just before the kill are out
        for qid in sorted(set(run.asked) - set(first)):
            await run.card(qid)  # an acknowledged question has its card
        await run.approve_the_rest()

        # The second kill: inside the gap between Discord's answer to the approved
        # question's public message (the only send an approval makes) and its record.
        gap_qid = await run.ask(run.members[ASKERS], QUESTIONS[ASKERS])
        assert gap_qid is not None
        await run.card(gap_qid)
        killing = asyncio.create_task(world.bot.kill_in_gap(world.gap, within=20))
        await asyncio.sleep(0)  # the hook is armed (its `kill` file written)
        try:
            await sb.click(
                run.ava,
                run.review,
                (await run.card(gap_qid))["id"],
                f"amabot:ama:review:{gap_qid}:approve",
                timeout=6,
            )
        except Exception as exc:  # killed before it acknowledged: fine, not counted
            print(f"the approval of #{gap_qid}: {type(exc).__name__}")
        assert await killing, "the bot was not killed in the send gap"
        await asyncio.sleep(DOWN)
        await serve(world)

        # Settled: nothing pending, the counts shown within what members did and steady.
        await settled(world)

        async def counts() -> dict[int, int | None]:
            return {q: shown_count(ms[0]) for q, ms in (await run.public(thread)).items()}

        def plausible(shown: dict[int, int | None]) -> bool:
            return all(
                sum(1 for v in run.votes if v[1] == q)
                <= (n or 0)
                <= sum(1 for v in run.clicked if v[1] == q)
                for q, n in shown.items()
            )

        steady = await poll(counts, plausible, within=20, what="plausible counts")
        await asyncio.sleep(1.5)
        assert await counts() == steady
        await world.finish()
        store = await open_store(world.base / "amabot.sqlite3")
        try:
            (session,) = await store.ama.sessions()
            stored = {q.id: q for q in await store.ama.questions(session.id)}
            keys = {ama_posts.question_key(session.key, q): q for q in stored}
            posts = {k: await store.outbox.get(k) for k in keys}
        finally:
            await store.close()

        print(f"{dict(run.answers)}; {len(world.bot.downtimes)} kills")
        # Nothing acknowledged is lost.
        for qid, (asker, text) in run.asked.items():
            assert qid in stored, f"question #{qid} was acknowledged but is not stored"
            assert (stored[qid].author_id, stored[qid].text) == (asker, text)
        for qid in run.approved:
            assert stored[qid].state is QuestionState.APPROVED, (qid, stored[qid].state)
        # The approval killed in the gap had been stored before the send.
        assert stored[gap_qid].state is QuestionState.APPROVED
        for member, qid in run.votes:
            assert member in stored[qid].voters, f"vote of {member} on #{qid} lost"
        for qid, q in stored.items():
            assert {(m, qid) for m in q.voters} <= run.clicked, f"#{qid}: votes nobody cast"

        # The gap was really hit, on that question's public message.
        landed = gap_landed(world.gap)
        assert landed == [nonce_for(ama_posts.question_key(session.key, gap_qid))], landed

        # Nothing posted twice: one public message per approved question, one card per
        # question, one prompt, one board.
        public = await run.public(thread)
        approved = {q for q, s in stored.items() if s.state is QuestionState.APPROVED}
        # Each stored question was approved (also one stored just before a kill, its
        # receipt never seen).
        assert approved == set(stored), (approved, set(stored))
        assert set(public) == approved, (sorted(public), sorted(approved))
        assert all(len(ms) == 1 for ms in public.values()), {
            q: len(ms) for q, ms in public.items() if len(ms) != 1
        }
        for qid in approved:
            assert (
                int(public[qid][0]["id"])
                == posts[ama_posts.question_key(session.key, qid)].message_id
            )
        cards = Counter(
            cid.split(":")[3]
            for m in await sb.messages(run.review)
            for cid in custom_ids(m)
            if cid.endswith(":approve")
        )
        assert cards == Counter({str(q): 1 for q in stored}), cards
        prompts = [m for m in await sb.messages(run.questions) if m["author"].get("bot")]
        assert len(prompts) == 1, [m["content"][:60] for m in prompts]
        (board_thread,) = await sb.threads(run.review)
        boards = await sb.messages(int(board_thread["id"]))
        assert len(boards) == 1, len(boards)
        # What members see is the stored truth (restored at start, not lost with the kill).
        shown = {q: shown_count(ms[0]) for q, ms in public.items()}
        assert shown == {q: len(stored[q].voters) for q in approved}, shown
        took = time.monotonic() - began
        print(f"run took {took:.1f}s")
    finally:
        await world.close()
