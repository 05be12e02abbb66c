"""The leader's side of issue 22, in process over a real SQLite file: the lease keeper's
local deadline stops sends, a renewal that finds the lease gone or a write fenced out makes
the leader step down, and a standby waits for the lease and takes it with a new term. Two
store objects on one file are two processes; delivery is the real Dispatcher."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config import ConfigError, Settings, load_settings
from bot.discord.app import Readiness
from bot.discord.lease import AnotherInstance, LeaseKeeper
from bot.discord.standby import Standby, standby_allowed
from bot.plan.posts import PlannedPost, PostStatus
from bot.services.delivery import Dispatcher
from bot.store import open_store
from bot.store.interface import FencedOut
from tests.e2e.conftest import eventually
from tests.test_delivery import RecordingSender

T0 = datetime(2025, 7, 14, 17, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def settings(**storage: Any) -> Settings:
    base = Settings()
    return dataclasses.replace(base, storage=dataclasses.replace(base.storage, **storage))


def post(key: str) -> PlannedPost:
    return PlannedPost(
        key=key,
        kind="recap",
        due_at=T0,
        channel_id=10,
        payload={"content": key, "allowed_mentions": {"parse": []}},
    )


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def world(tmp_path):
    clock = ManualClock(T0)
    path = tmp_path / "amabot.sqlite3"
    ours = await open_store(path, clock=clock)
    theirs = await open_store(path, clock=clock)  # another process on the same file
    lost: list[str] = []
    mono = Monotonic()
    keeper = LeaseKeeper(settings(), clock, lost.append, monotonic=mono)
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(ours.outbox, sender, clock=clock)
    dispatcher.lease_guard = keeper
    await ours.outbox.reconcile([post("recap:a")], scope="recap", now=T0)
    yield {
        "clock": clock,
        "ours": ours,
        "theirs": theirs,
        "keeper": keeper,
        "lost": lost,
        "mono": mono,
        "sender": sender,
        "dispatcher": dispatcher,
    }
    await keeper.stop()
    await ours.close()
    await theirs.close()


async def test_the_leader_sends_nothing_past_its_deadline_until_it_renews(world):
    keeper, mono, sender = world["keeper"], world["mono"], world["sender"]
    await keeper.take(world["ours"])
    assert keeper.term == 1 and keeper.may_send() is None
    # ttl 30 s, margin 6 s: trusted for 24 s from the start of the take.
    mono.now += 24.5
    assert "not renewed in time" in keeper.may_send()
    assert await world["dispatcher"].deliver_due() == 0
    assert sender.sent == []
    assert (await world["ours"].outbox.get("recap:a")).status is PostStatus.PENDING  # unclaimed
    assert await keeper.renew()  # still ours: trusted again, from this renewal's start
    assert keeper.may_send() is None
    assert await world["dispatcher"].deliver_due() == 1
    assert [nonce for _, _, nonce in sender.sent] == [
        (await world["ours"].outbox.get("recap:a")).nonce
    ]
    assert world["lost"] == []


async def test_a_leader_fenced_out_by_a_new_holder_writes_nothing_and_steps_down(world):
    keeper, clock, theirs = world["keeper"], world["clock"], world["theirs"]
    await keeper.take(world["ours"])
    # Paused past its lease (the local deadline says nothing yet: its clock was stopped
    # too); the standby takes the lease after expiry.
    clock.advance(31 * S)
    assert await theirs.leases.take("standby:2:b", clock(), 30 * S)
    before = await theirs.outbox.get("recap:a")
    await world["dispatcher"].deliver_due()
    assert world["sender"].sent == []
    assert await theirs.outbox.get("recap:a") == before  # not even claimed
    assert world["dispatcher"].stopped and "fenced out" in world["dispatcher"].stopped
    await eventually(lambda: _now(world["lost"]), bool, within=2.0)  # renewals: every 10 s
    assert world["lost"] == ["lost the lease to standby:2:b (term 1 → 2)"]
    assert keeper.may_send() == world["lost"][0]
    with pytest.raises(FencedOut):
        await world["ours"].state.set("x", "y")


async def test_a_write_fenced_out_anywhere_else_steps_the_leader_down_at_once(world):
    """Reconcile, the content sync, a command, the AMA: the store tells the keeper of any
    refused write, so it steps down without waiting for its next renewal, whether or not the
    writer handles the error."""
    keeper, clock, theirs = world["keeper"], world["clock"], world["theirs"]
    await keeper.take(world["ours"])
    clock.advance(31 * S)
    assert await theirs.leases.take("standby:2:b", clock(), 30 * S)
    with pytest.raises(FencedOut):
        await world["ours"].state.set("outbox.reloaded_at", clock().isoformat())
    await eventually(lambda: _now(world["lost"]), bool, within=2.0)  # renewals: every 10 s
    assert world["lost"] == ["lost the lease to standby:2:b (term 1 → 2)"]
    assert keeper.may_send() is not None


async def test_a_renewal_that_finds_the_lease_gone_steps_down(world):
    keeper, clock, theirs = world["keeper"], world["clock"], world["theirs"]
    await keeper.take(world["ours"])
    clock.advance(40 * S)
    assert await theirs.leases.take("standby:2:b", clock(), 30 * S)
    assert not await keeper.renew()
    assert world["lost"] == ["lost the lease to standby:2:b (term 1 → 2)"]
    assert not keeper.held
    await world["dispatcher"].deliver_due()
    assert world["sender"].sent == []


async def test_a_standby_waits_for_the_lease_and_takes_it_with_a_new_term(world):
    leader, clock = world["keeper"], world["clock"]
    await leader.take(world["ours"])
    readiness = Readiness()
    standby = LeaseKeeper(settings(standby=True), clock, world["lost"].append)
    waiting = asyncio.create_task(
        standby.take(world["theirs"], Standby(settings(standby=True), readiness, poll=0.01))
    )
    await eventually(lambda: _now(readiness.standby), bool)
    assert leader.holder in readiness.standby and "term 1" in readiness.standby
    assert not readiness.report()["ready"]
    assert not waiting.done()
    await leader.stop()
    await leader.release(world["ours"].leases)  # a clean stop resigns: taken at once
    await asyncio.wait_for(waiting, 5)
    assert readiness.standby is None
    assert standby.term == 2 and standby.may_send() is None
    with pytest.raises(FencedOut):  # the old leader's store is fenced with term 1
        await world["ours"].state.set("x", "old")
    await world["theirs"].state.set("x", "new")
    await standby.stop()


async def test_without_a_standby_a_second_process_is_refused(world):
    await world["keeper"].take(world["ours"])
    second = LeaseKeeper(settings(), world["clock"], world["lost"].append)
    with pytest.raises(AnotherInstance, match="another amabot"):
        await second.take(world["theirs"])


def test_standing_by_is_the_default_on_a_database_server_only(tmp_path):
    assert not standby_allowed(settings())
    assert standby_allowed(settings(standby=True))
    assert standby_allowed(settings(database="postgresql://amabot@db/amabot"))
    assert not standby_allowed(settings(database="postgresql://db/amabot", standby=False))
    path = tmp_path / "amabot.toml"
    path.write_text("[storage]\nstandby = true\n[discord]\nguild_id = 1\n")
    assert load_settings(path).storage.standby is True
    path.write_text('[storage]\nstandby = "yes"\n[discord]\nguild_id = 1\n')
    with pytest.raises(ConfigError, match=r"storage\.standby"):
        load_settings(path)


async def _now(value: Any) -> Any:
    return value
