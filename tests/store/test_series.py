"""Several series in one store (conformance: every backend): each series' rows are its own,
a reconcile of one never touches another's, rows of the previous version are adopted by the
series owning the bare key namespace."""

from __future__ import annotations

from datetime import timedelta

from bot.plan.optin import Mode
from bot.plan.posts import PostStatus

from .conftest import T0, minutes, planned

H = timedelta(hours=1)


async def test_reconcile_of_one_series_never_touches_anothers_rows(open_db):
    async with await open_db() as store:
        a = [planned("reminder:s1-e01:ama:1h"), planned("reminder:s1-e02:ama:1h")]
        b = [planned("reminder:talk/s1-e01:ama:1h"), planned("reminder:talk/s1-e02:ama:1h")]
        await store.outbox.reconcile(a, scope="reminder:", now=T0, series="mm")
        await store.outbox.reconcile(b, scope="reminder:", now=T0, series="talk")
        # A's plan shrinks to nothing and moves nothing of B's, under the same key scope.
        report = await store.outbox.reconcile([], scope="reminder:", now=T0, series="mm")
        assert sorted(report.cancelled) == sorted(p.key for p in a)
        for post in b:
            row = await store.outbox.get(post.key)
            assert (row.status, row.series) == (PostStatus.PENDING, "talk")
        # B's own plan: a move is B's alone.
        moved = [planned("reminder:talk/s1-e01:ama:1h", T0 + H), b[1]]
        report = await store.outbox.reconcile(moved, scope="reminder:", now=T0, series="talk")
        assert report.moved == ["reminder:talk/s1-e01:ama:1h"] and not report.cancelled


async def test_a_removed_series_pending_rows_are_cancelled_and_its_history_kept(open_db):
    async with await open_db() as store:
        plan = [planned("recap:talk/r1"), planned("recap:talk/r2")]
        await store.outbox.reconcile(plan, scope="recap:", now=T0, series="talk")
        await store.outbox.reconcile([planned("recap:r1")], scope="recap:", now=T0, series="mm")
        claimed = await store.outbox.claim("recap:talk/r1", T0)
        await store.outbox.mark_sent(claimed.key, 99, T0)
        assert await store.outbox.series_with_pending() == {"talk", "mm"}
        reason = "series talk removed from the config"
        assert await store.outbox.cancel_series("talk", reason, T0) == ["recap:talk/r2"]
        r2 = await store.outbox.get("recap:talk/r2")
        assert (r2.status, r2.reason) == (PostStatus.CANCELLED, reason)
        assert (await store.outbox.get("recap:talk/r1")).status is PostStatus.SENT
        assert (await store.outbox.get("recap:r1")).status is PostStatus.PENDING
        assert await store.outbox.series_with_pending() == {"mm"}


async def test_the_home_series_adopts_the_rows_of_no_series_once(open_db):
    async with await open_db() as store:
        # Rows as the previous version wrote them: no series.
        await store.outbox.reconcile([planned("recap:r1")], scope="recap:", now=T0)
        await store.optin.set_pref(1, "ama", Mode.DM, H, T0)
        await store.optin.add_interest(1, "event:s1-e01:ama", T0)
        await store.events.mark_error("event:s1-e01:ama", "x", T0)
        assert (await store.outbox.get("recap:r1")).series == ""
        assert await store.claim_home_series("mm", T0) == "mm"
        # Recorded: a later start with another first series keeps the first owner.
        assert await store.claim_home_series("talk", T0) == "mm"
    async with await open_db() as store:
        assert await store.claim_home_series("other", T0) == "mm"
        assert (await store.outbox.get("recap:r1")).series == "mm"
        assert [p.series for p in await store.optin.prefs()] == ["mm"]
        assert await store.optin.interested(series="mm") != []
        assert list(await store.events.all(series="mm")) == ["event:s1-e01:ama"]
        # Written without a series now: the home series'.
        await store.optin.set_pref(2, "ama", Mode.DM, H, T0)
        assert (await store.optin.pref(2, "ama", series="mm")).series == "mm"


async def test_choices_are_per_series_and_stream(open_db):
    async with await open_db() as store:
        await store.claim_home_series("mm", T0)
        await store.optin.set_pref(1, "ama", Mode.DM, H, T0)
        await store.optin.set_pref(1, "ama", Mode.ROLE, minutes(10), T0, series="talk")
        assert (await store.optin.pref(1, "ama")).mode is Mode.DM
        assert (await store.optin.pref(1, "ama", series="talk")).mode is Mode.ROLE
        assert [(p.series, p.mode) for p in await store.optin.prefs_of(1)] == [
            ("mm", Mode.DM),
            ("talk", Mode.ROLE),
        ]
        assert [p.series for p in await store.optin.prefs(series="talk")] == ["talk"]
        await store.optin.add_interest(1, "event:talk/s1-e01:ama", T0, series="talk")
        await store.optin.add_interest(1, "event:s1-e01:ama", T0)
        await store.optin.opt_out(1, "ama", T0, series="talk")
        assert (await store.optin.pref(1, "ama", series="talk")).mode is Mode.OFF
        assert (await store.optin.pref(1, "ama")).mode is Mode.DM
        assert [i.event_key for i in await store.optin.interested()] == ["event:s1-e01:ama"]
