"""`amabot migrate --to postgresql://...`: a SQLite database filled through the store, copied
into an empty PostgreSQL database, reads back the same through the store; a second run into
the now non-empty database is refused and writes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.cli.main import main
from bot.plan.ama import AmaKey, AmaLimits, AmaTimes, Phase, QuestionState, SessionMove
from bot.store import open_store

from ..conftest import T0, minutes, planned

KEY = AmaKey("model-mondays", "s2-e05")
TIMES = AmaTimes(T0, T0 + minutes(60), T0 + minutes(90), T0 + minutes(120))


async def fill(store) -> None:
    """A bit of everything the bot keeps, written the way the bot writes it."""
    posts = [planned(f"recap:r{i}", T0 + minutes(i)) for i in range(5)]
    await store.outbox.reconcile(posts, scope="recap:", now=T0)
    await store.outbox.claim("recap:r0", T0)
    await store.outbox.note_attempt("recap:r0", 111, [{"content": "post recap:r0"}], T0)
    await store.outbox.mark_sent("recap:r0", 9001, T0, publish=True)
    await store.outbox.cancel("recap:r1", "organiser", T0, by=42)
    await store.outbox.insert_skipped(planned("recap:old"), "backlog", T0)
    await store.outbox.next_announcement_id()
    await store.outbox.next_announcement_id()
    await store.state.set_json("plan.inputs", {"a": [1, 2]})
    await store.audit.record("cancel", "recap:r1", 42, "by hand", T0)
    await store.events.upsert(
        "event:s2-e05:ama", discord_id=777, spec_hash="h", status=1, body={"x": 1}, now=T0
    )
    await store.events.mark_error("event:s2-e06:ama", "403 Missing Access", T0, permission=True)
    await store.events.calendar_sequences({"s2-e05-ama@amabot": "h1"}, T0)
    await store.events.calendar_sequences({"s2-e05-ama@amabot": "h2"}, T0)
    await store.optin.set_pref(5, "ama", "dm", timedelta(minutes=30), T0)
    await store.optin.add_interest(5, "event:s2-e05:ama", T0)
    await store.optin.mark_dm_closed(6, "50007", T0)
    session = await store.ama.upsert_session(
        KEY, title="S2:E5", timezone="UTC", guests=["Dave"], times=TIMES, now=T0
    )
    await store.ama.move_session(session.id, SessionMove.OPEN, T0, actor=1)
    asked = []
    for member in (100, 200, 300):
        asked.append(
            await store.ama.ask(
                session.id,
                author_id=member,
                author_name=f"m{member}",
                text=f"Question of member {member} about fine-tuning?",
                anonymous=False,
                notify=True,
                phase=Phase.BEFORE,
                state=QuestionState.APPROVED,
                limits=AmaLimits(),
                now=T0,
            )
        )
    await store.ama.toggle_vote(asked[0].id, 400, T0)
    # a merge into a later question: its canonical_id points forward
    await store.ama.merge(asked[0].id, asked[2].id, T0, actor=9)
    assert await store.leases.take("old-host", T0, timedelta(seconds=30))
    assert await store.leases.release("old-host")


async def snapshot(store) -> dict:
    session = await store.ama.session_of(KEY)
    return {
        "outbox": await store.outbox.all(),
        "state": await store.state.with_prefix(""),
        "audit": await store.audit.recent(100),
        "events": await store.events.all(),
        "prefs": await store.optin.prefs(),
        "interested": await store.optin.interested(),
        "dm_closed": await store.optin.dm_closed(),
        "session": session,
        "questions": await store.ama.questions(session.id),
        "to_tell": await store.ama.to_tell(3),
    }


async def migrate(tmp_path, *args: str) -> int:
    """`amabot migrate ...` as an operator types it, with an empty config file. It runs its
    own event loop, so off this test's."""
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    return await asyncio.to_thread(main, ["migrate", "--config", str(config), *args])


async def test_migrate_copies_everything_and_refuses_a_second_run(
    tmp_path, postgres_url, clock, capsys
):
    source = tmp_path / "amabot.sqlite3"
    async with await open_store(source, clock=clock) as sqlite:
        await fill(sqlite)
        before = await snapshot(sqlite)

    code = await migrate(tmp_path, "--from", str(source), "--to", postgres_url)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "outbox" in out and "the counts match on both sides" in out

    async with await open_store(postgres_url, clock=clock) as pg:
        assert await snapshot(pg) == before
        assert await pg.leases.get() is None  # not copied: the first bot takes it afresh
        # sequences go on where SQLite's left off
        assert await pg.outbox.next_announcement_id() == 3
        assert (await pg.events.calendar_sequences({"s2-e05-ama@amabot": "h2"}, T0)) == {
            "s2-e05-ama@amabot": 1
        }
        newer = await pg.audit.record("skip", None, None, "", T0)
        assert newer.id > max(e.id for e in before["audit"])
        other = await pg.ama.upsert_session(
            AmaKey("other", "e1"), title="x", timezone="UTC", guests=[], times=TIMES, now=T0
        )
        assert other.id > before["session"].id
        rows_after_first = len(await pg.outbox.all())

    code = await migrate(tmp_path, "--from", str(source), "--to", postgres_url)
    err = capsys.readouterr().err
    assert code == 1
    assert "is not empty" in err and "nothing was copied" in err
    async with await open_store(postgres_url, clock=clock) as pg:
        assert len(await pg.outbox.all()) == rows_after_first


async def test_migrate_refuses_while_a_bot_holds_the_sqlite_lease(
    tmp_path, postgres_url, clock, capsys
):
    source = tmp_path / "amabot.sqlite3"
    async with await open_store(source, clock=clock) as sqlite:
        await sqlite.state.set("k", "v")
        # a lease far in the future: a bot is running on this file right now
        assert await sqlite.leases.take("live-bot", T0 + timedelta(days=36500), timedelta(days=1))
    code = await migrate(tmp_path, "--from", str(source), "--to", postgres_url)
    assert code == 1
    assert "live-bot" in capsys.readouterr().err
    async with await open_store(postgres_url, clock=clock) as pg:
        assert await pg.state.get("k") is None


async def test_migrate_refuses_a_password_in_the_url_and_a_missing_file(tmp_path, capsys):
    url = "postgresql://bot:hunter2@localhost/amabot"
    assert await migrate(tmp_path, "--to", url) == 2
    assert "hunter2" not in capsys.readouterr().err
    missing = tmp_path / "nothing.sqlite3"
    code = await migrate(
        tmp_path, "--from", str(missing), "--to", "postgresql://x@/y?host=/nowhere"
    )
    assert code == 1
    assert not missing.exists()
