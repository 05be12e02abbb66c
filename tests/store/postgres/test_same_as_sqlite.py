"""Differential: the same random sequence of outbox operations on SQLite and on PostgreSQL
gives the same answers and leaves the same rows. The conformance suite checks each rule by
hand; this walks the combinations nobody wrote down (a retry after a cancel, a reconcile
over a claimed row, a publish queued by a late mark_sent...), so a dialect slip shows."""

from __future__ import annotations

import random

import pytest

from bot.store import open_store

from ..conftest import T0, minutes, planned

KEYS = [f"recap:r{i}" for i in range(6)] + [f"reminder:e{i}:ama:1h" for i in range(6)]
STEPS = 150
CYCLE = {"reconcile", "claim", "note_attempt", "mark_sent", "retry_later", "retry_unsure"}
RARE = {"mark_failed", "mark_skipped", "cancel"}


def operations(rng: random.Random):
    """(name, call) pairs: each call takes a store and returns a comparable answer."""
    at = T0 + minutes(rng.randrange(0, 120))
    key = rng.choice(KEYS)
    scope = key.split(":")[0] + ":"
    shift = minutes(rng.randrange(-30, 90))
    payload = {"content": f"v{rng.randrange(3)}"}

    chosen = [k for k in KEYS if k.startswith(scope) and rng.random() < 0.7]
    by = rng.choice([None, 42])

    def plan(store):
        posts = [
            planned(k, T0 + shift, payload=payload, deadline=T0 + shift + minutes(20))
            for k in chosen
        ]
        return store.outbox.reconcile(posts, scope=scope, now=at)

    choices = {
        "reconcile": plan,
        "claim": lambda s: s.outbox.claim(key, at),
        "note_attempt": lambda s: s.outbox.note_attempt(key, 7, [payload], at),
        "mark_sent": lambda s: s.outbox.mark_sent(key, 1000 + KEYS.index(key), at, publish=True),
        "retry_later": lambda s: s.outbox.retry_later(key, "503", at + minutes(5), at),
        "retry_unsure": lambda s: s.outbox.retry_later(
            key, "timeout", at + minutes(1), at, unsure=True, count_attempt=False
        ),
        "mark_failed": lambda s: s.outbox.mark_failed(key, "403 Missing Access", at),
        "mark_skipped": lambda s: s.outbox.mark_skipped(key, "late", at),
        "cancel": lambda s: s.outbox.cancel(key, "organiser", at, by=by),
        "recover_sending": lambda s: s.outbox.recover_sending(at),
        "retry_refused": lambda s: s.outbox.retry_refused([111], at),
        "request_edit": lambda s: s.outbox.request_edit(key, payload, at),
        "mark_edited": lambda s: s.outbox.mark_edited(key, at),
        "edit_later": lambda s: s.outbox.edit_later(key, at + minutes(2), "429", at),
        "publish_later": lambda s: s.outbox.publish_later(
            key, at + minutes(1), "paced", at, attempt=True
        ),
        "publish_done": lambda s: s.outbox.publish_done(key, "done", at),
        "due_keys": lambda s: s.outbox.due_keys(at),
        "next_due_at": lambda s: s.outbox.next_due_at(),
        "wake_times": lambda s: s.outbox.wake_times(),
        "edits_pending": lambda s: s.outbox.edits_pending(at),
        "publishes_due": lambda s: s.outbox.publishes_due(at),
        "overdue": lambda s: s.outbox.overdue(at, at - minutes(10)),
        "stuck": lambda s: s.outbox.stuck(at - minutes(1)),
        "counts": lambda s: s.outbox.counts(),
        "recent": lambda s: s.outbox.recent(["sent", "failed", "skipped", "cancelled"], 5),
    }
    # the delivery cycle often, the ends of a row's life (failed, skipped, cancelled) rarely
    names = sorted(choices)
    weights = [1 if n in RARE else 6 if n in CYCLE else 2 for n in names]
    name = rng.choices(names, weights)[0]
    return name, choices[name]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_random_walk_gives_the_same_answers_on_both_backends(
    seed, postgres_url, tmp_path, clock
):
    rng = random.Random(seed)
    async with (
        await open_store(tmp_path / "amabot.sqlite3", clock=clock) as lite,
        await open_store(postgres_url, clock=clock) as pg,
    ):
        for step in range(STEPS):
            name, call = operations(rng)
            expected = await call(lite)
            got = await call(pg)
            assert got == expected, f"seed {seed}, step {step}: {name}"
        assert await pg.outbox.all() == await lite.outbox.all()
        assert await pg.outbox.counts() == await lite.outbox.counts()
