"""Part 3, reduced for CI: 100 members at once send /episode, /recap and autocomplete to the
bot process (1,000 episodes loaded) while posts are delivered. Full size: bench/load.py."""

from __future__ import annotations

from testkit.processes import percentile, run_load


async def test_hundred_members_at_once_all_answered_once_and_deliveries_on_time(tmp_path, seed):
    report = await run_load(
        tmp_path / "run", members=100, episodes=1000, rounds=2, span=25.0, seed=seed, say=print
    )
    print(report.summary())
    assert report.sent == 200
    assert not report.unanswered, report.unanswered[:5]
    assert report.answered_twice == 0
    assert report.second_callbacks_rejected == 0
    d = report.deliveries
    assert d.lost == 0 and d.duplicated == 0, d.table()
    assert d.count("delivered") == len(d.outcomes), d.table()
    assert not [p for p in d.problems if "past its grace" in p], d.problems
    # Discord's limit: an interaction unanswered within 3 s fails for the member.
    assert percentile(report.server_ms, 100) < 3000
    assert d.interactions["failed_interactions"] == 0
    assert d.interactions["invalid_requests"] < 100  # far below the 10,000 that get a ban
