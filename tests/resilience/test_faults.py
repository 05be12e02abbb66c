"""Part 2, reduced for CI: the same workload while the sandbox answers 429 to every third
request (every fourth of those global), bursts of 503, 2 s delays, drops the gateway three
times, and answers 403 in the channel that AMA reminders go to."""

from __future__ import annotations

from testkit.processes import Workload, run_chaos


async def test_discords_bad_day_loses_and_duplicates_nothing(tmp_path, seed):
    workload = Workload(
        recaps=6,
        reminders=16,
        announcements=3,
        span=30.0,
        kills=0,
        seed=seed,
        faults=True,
        # A reminder must survive a burst of 503s, 2 s delays and global 429s and still come
        # before its event: 45 s of lead is tight, but leaves room for that barrage (15 s did
        # not, about one run in three on a loaded machine).
        offsets=("45s", "0m"),
        grace={"45s": "45s", "0m": "30s"},
        sandbox={"nonce_window": 2.0},  # seconds: only the bot itself can prevent a duplicate
    )
    report = await run_chaos(tmp_path / "run", workload, say=print)
    print(report.table())
    statuses = report.interactions["statuses"]
    assert int(statuses.get("429", 0)) > 10, statuses  # the faults really happened
    assert int(statuses.get("503", 0)) >= 3, statuses
    assert int(statuses.get("403", 0)) >= 1, statuses
    assert report.lost == 0, report.table()
    assert report.duplicated == 0, report.table()
    assert not report.strays, report.strays
    assert not report.problems, report.problems
    denied = [o for o in report.outcomes if o.kind == "reminder" and ":ama:" in o.key]
    assert denied and all(o.verdict == "failed" for o in denied)
    assert all("403" in (o.reason or "") and "Missing Permissions" in o.reason for o in denied)
    # Everything else delivered, exactly once.
    rest = [o for o in report.outcomes if o not in denied]
    assert all(o.verdict == "delivered" for o in rest), [
        (o.key, o.verdict, o.reason) for o in rest if o.verdict != "delivered"
    ]
    assert report.interactions["answered_twice"] == 0
