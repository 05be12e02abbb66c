"""The AMA's tables (conformance: every backend, through `open_store`): guarded moves, limits
checked in the same transaction as the insert, merges pooling askers and votes, votes
toggling. On PostgreSQL the "at once" tests run truly side by side (a pool of connections)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.plan.ama import (
    AmaKey,
    AmaLimits,
    AmaTimes,
    Phase,
    Question,
    QuestionMove,
    QuestionState,
    Refusal,
    Refused,
    SessionMove,
    SessionState,
    VoteRefusal,
)

T0 = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
Q = QuestionState
KEY = AmaKey("model-mondays", "s2-e05")
TIMES = AmaTimes(T0 - timedelta(days=4), T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=45))
LIMITS = AmaLimits()


async def session(store):
    return await store.ama.upsert_session(
        KEY,
        title="S2:E5 Fine Tuning",
        timezone="America/New_York",
        guests=["Dave"],
        times=TIMES,
        now=T0 - timedelta(days=5),
    )


async def ask(store, sid, member, text, *, at=T0, state=Q.APPROVED, **kw) -> Question:
    result = await store.ama.ask(
        sid,
        author_id=member,
        author_name=f"m{member}",
        text=text,
        anonymous=False,
        notify=True,
        phase=Phase.BEFORE,
        state=state,
        limits=LIMITS,
        now=at,
        **kw,
    )
    assert isinstance(result, Question), result
    return result


async def test_a_session_is_made_once_and_follows_the_content(store):
    first = await session(store)
    moved = AmaTimes(
        *(
            t + timedelta(days=7)
            for t in (TIMES.opens_at, TIMES.starts_at, TIMES.ends_at, TIMES.closes_at)
        )
    )
    again = await store.ama.upsert_session(
        KEY,
        title="S2:E5 Fine Tuning (moved)",
        timezone="America/New_York",
        guests=[],
        times=moved,
        now=T0,
    )
    assert again.id == first.id
    assert again.times == moved and again.title.endswith("(moved)")
    assert again.state is SessionState.SCHEDULED
    other = await store.ama.upsert_session(
        AmaKey("other-show", "s2-e05"),
        title="x",
        timezone="UTC",
        guests=[],
        times=TIMES,
        now=T0,
    )
    assert other.id != first.id
    assert [s.key.series for s in await store.ama.sessions(series="other-show")] == ["other-show"]


async def test_session_moves_are_guarded_and_survive_reopening(store, open_db):
    s = await session(store)
    assert (await store.ama.move_session(s.id, SessionMove.OPEN, T0, actor=1)).done
    again = await store.ama.move_session(s.id, SessionMove.OPEN, T0, actor=2)
    assert not again.done and again.state == "collecting" and again.by == 1
    assert (await store.ama.move_session(s.id, SessionMove.LIVE, T0 + timedelta(minutes=1))).done
    assert (await store.ama.move_session(s.id, SessionMove.CLOSE, T0 + timedelta(hours=1))).done
    assert (await store.ama.move_session(s.id, SessionMove.REOPEN, T0 + timedelta(hours=2))).done
    assert (await store.ama.move_session(s.id, SessionMove.LIVE, T0 + timedelta(hours=3))).done
    after = await store.ama.session(s.id)
    # the AMA's clock keeps its first start: answers are timed from when it first went live
    assert after.live_started_at == T0 + timedelta(minutes=1)
    await store.close()
    async with await open_db() as reopened:
        assert (await reopened.ama.session(s.id)).state is SessionState.LIVE


async def test_two_organisers_approving_at_once_do_one_thing(store):
    s = await session(store)
    q = await ask(store, s.id, 100, "How much data do I need to fine-tune?", state=Q.PENDING)
    results = await asyncio.gather(
        store.ama.move_question(q.id, QuestionMove.APPROVE, T0, actor=7),
        store.ama.move_question(q.id, QuestionMove.APPROVE, T0, actor=8),
    )
    assert sorted(r.done for r in results) == [False, True]
    loser = next(r for r in results if not r.done)
    winner = 7 if results[0].done else 8
    assert loser.by == winner and loser.state == "approved"
    assert (await store.ama.question(q.id)).decided_by == winner


async def test_limits_hold_against_a_burst_of_submissions(store):
    s = await session(store)
    texts = [f"Burst question number {i} about distillation" for i in range(5)]
    results = await asyncio.gather(
        *(
            store.ama.ask(
                s.id,
                author_id=100,
                author_name="m",
                text=t,
                anonymous=False,
                notify=True,
                phase=Phase.BEFORE,
                state=Q.PENDING,
                limits=LIMITS,
                now=T0,
            )
            for t in texts
        )
    )
    stored = [r for r in results if isinstance(r, Question)]
    assert len(stored) == 1
    assert {r.code for r in results if isinstance(r, Refused)} == {Refusal.TOO_SOON}
    assert len(await store.ama.questions_of(s.id, 100)) == 1


async def test_merge_pools_askers_and_votes_without_counting_anyone_twice(store):
    s = await session(store)
    target = await ask(store, s.id, 100, "Does LoRA work on small models?")
    source = await ask(store, s.id, 200, "LoRA with small models, does it work well?")
    chained = await ask(store, s.id, 300, "Small models and LoRA: any good results?")
    for member in (201, 202):
        await store.ama.toggle_vote(source.id, member, T0)
    await store.ama.toggle_vote(target.id, 202, T0)  # backs both: counts once
    await store.ama.toggle_vote(chained.id, 100, T0)  # the target's own asker
    assert (await store.ama.merge(chained.id, source.id, T0, actor=9)).done
    assert (await store.ama.merge(source.id, target.id, T0, actor=9)).done
    merged = await store.ama.question(target.id)
    assert merged.askers == {100, 200, 300}
    assert merged.voters == {201, 202}
    assert merged.score == 5
    assert (await store.ama.question(source.id)).decided_by == 9
    gone = await store.ama.question(chained.id)
    assert gone.state is Q.MERGED and gone.canonical_id == target.id
    again = await store.ama.merge(source.id, target.id, T0, actor=10)
    assert not again.done and again.by == 9


async def test_merge_refuses_across_sessions_and_into_closed_questions(store):
    s = await session(store)
    other = await store.ama.upsert_session(
        AmaKey("model-mondays", "s2-e06"),
        title="x",
        timezone="UTC",
        guests=[],
        times=TIMES,
        now=T0,
    )
    a = await ask(store, s.id, 100, "A question in the first session")
    b = await ask(store, other.id, 100, "A question in the second session")
    assert not (await store.ama.merge(a.id, b.id, T0, actor=9)).done
    c = await ask(store, s.id, 101, "A question that gets withdrawn", state=Q.PENDING)
    await store.ama.move_question(c.id, QuestionMove.WITHDRAW, T0, actor=101)
    assert not (await store.ama.merge(a.id, c.id, T0, actor=9)).done
    assert (await store.ama.question(a.id)).state is Q.APPROVED


async def test_me_too_toggles_and_refuses_the_asker(store):
    s = await session(store)
    q = await ask(store, s.id, 100, "Can distillation keep tool calling?")
    assert (await store.ama.toggle_vote(q.id, 100, T0)).refused is VoteRefusal.OWN
    first = await store.ama.toggle_vote(q.id, 5, T0)
    assert first.voted and first.count == 1
    twice = await asyncio.gather(*(store.ama.toggle_vote(q.id, m, T0) for m in range(10, 30)))
    assert max(v.count for v in twice) == 21
    back = await store.ama.toggle_vote(q.id, 5, T0)
    assert not back.voted and back.count == 20
    assert len((await store.ama.question(q.id)).voters) == 20


async def test_next_answers_the_current_question_and_takes_the_top(store):
    s = await session(store)
    a = await ask(store, s.id, 100, "The first question, fewer votes")
    b = await ask(store, s.id, 101, "The second question, more votes", at=T0 + timedelta(seconds=1))
    await store.ama.toggle_vote(b.id, 5, T0)
    answered, on_air = await store.ama.next_on_air(s.id, T0 + timedelta(minutes=2), actor=9)
    assert (answered, on_air) == (None, b.id)
    answered, on_air = await store.ama.next_on_air(s.id, T0 + timedelta(minutes=6), actor=9)
    assert (answered, on_air) == (b.id, a.id)
    done = await store.ama.question(b.id)
    assert done.state is Q.ANSWERED and done.on_air_at == T0 + timedelta(minutes=2)
    answered, on_air = await store.ama.next_on_air(s.id, T0 + timedelta(minutes=9), actor=9)
    assert (answered, on_air) == (a.id, None)


async def test_a_pick_from_another_session_changes_nothing(store):
    s = await session(store)
    other = await store.ama.upsert_session(
        AmaKey("model-mondays", "s2-e06"),
        title="x",
        timezone="UTC",
        guests=[],
        times=TIMES,
        now=T0,
    )
    foreign = await ask(store, other.id, 100, "A question of another AMA")
    assert await store.ama.next_on_air(s.id, T0, actor=9, pick=foreign.id) == (None, None)
    assert (await store.ama.question(foreign.id)).state is Q.APPROVED


async def test_editing_an_approved_question_sends_it_back_to_review(store):
    s = await session(store)
    q = await ask(store, s.id, 100, "Original wording of my question")
    await store.ama.toggle_vote(q.id, 5, T0)
    assert not (
        await store.ama.edit(q.id, 999, "Someone else's wording", T0, back_to=Q.PENDING)
    ).done
    moved = await store.ama.edit(q.id, 100, "Better wording of my question", T0, back_to=Q.PENDING)
    assert moved.done and moved.state == "pending"
    after = await store.ama.question(q.id)
    assert after.text == "Better wording of my question" and after.voters == {5}
