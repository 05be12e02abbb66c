"""Part 1, reduced for CI: the bot is SIGKILLed 3 times at random moments (seeded) and
restarted while recaps are merged (webhook and poll), reminders fall due and organisers
confirm announcements. Full run: `python3 bench/chaos.py`."""

from __future__ import annotations

from testkit.processes import Workload, run_chaos

NONCE_WINDOW = 2.0


async def test_sigkill_three_times_loses_and_duplicates_nothing(tmp_path, seed):
    workload = Workload(
        recaps=8,
        reminders=20,
        announcements=4,
        span=25.0,
        kills=3,
        seed=seed,
        offsets=("10s", "0m"),
        grace={"10s": "5s", "0m": "5s"},
        max_down=6.0,
        # Seconds, not Discord's minutes: a resend after a longer outage is not caught by the
        # nonce, only by the bot itself.
        sandbox={"nonce_window": NONCE_WINDOW},
    )
    report = await run_chaos(tmp_path / "run", workload, say=print)
    print(report.table())
    assert len(report.downtimes) == 3
    assert all(d.serving_at is not None for d in report.downtimes)
    expected = workload.recaps + workload.reminders + workload.announcements
    assert len(report.outcomes) == expected
    assert report.lost == 0, report.table()
    assert report.duplicated == 0, report.table()
    assert not report.strays, report.strays
    assert report.interactions["answered_twice"] == 0
    assert report.count("delivered", "recap") == workload.recaps
    assert report.count("delivered", "announce") == workload.announcements
    # Each reminder: delivered once, or skipped because the bot was down past its grace
    # (verify() turns an unjustified skip into "lost").
    assert report.count("delivered", "reminder") + report.count("skipped", "reminder") == 20
    assert not report.problems, report.problems
