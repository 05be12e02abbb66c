"""Part 1, reduced for CI: the bot is SIGKILLed 4 times (seeded), 2 of them aimed at the gap
between Discord's answer to a send and the bot's record of it, and stays down longer than
the stand-in's nonce window each time, while recaps are merged (webhook and poll), reminders
and members' DM reminders fall due, organisers confirm announcements, the posting channels
hold 500 members' messages (more pile up while the bot is down), and Discord stores two
sends but answers them 503 / drops the connection. Full run: `python3 bench/chaos.py`."""

from __future__ import annotations

from testkit.processes import Workload, run_chaos

NONCE_WINDOW = 1.5


async def test_sigkill_in_the_send_gap_loses_and_duplicates_nothing(tmp_path, seed):
    workload = Workload(
        recaps=8,
        reminders=16,
        announcements=3,
        span=30.0,
        kills=4,
        gap_kills=2,
        seed=seed,
        offsets=("10s", "0m"),
        grace={"10s": "5s", "0m": "5s"},
        min_down=NONCE_WINDOW + 1.0,  # always past the nonce window: only the bot can tell
        max_down=5.0,
        min_up=2.0,
        dm_members=2,
        dm_lead="10s",
        busy=500,
        bury=150,
        after_store=2,
        sandbox={"nonce_window": NONCE_WINDOW},
    )
    report = await run_chaos(tmp_path / "run", workload, say=print)
    print(report.table())
    assert len(report.downtimes) == 4
    assert all(d.serving_at is not None for d in report.downtimes)
    assert len(report.gap_landed) >= 1, report.kills  # the gap was really hit
    expected = workload.recaps + workload.reminders + workload.announcements + 2 * 4
    assert len(report.outcomes) == expected
    assert report.lost == 0, report.table()
    assert report.duplicated == 0, report.table()
    assert not report.strays, report.strays
    assert report.interactions["answered_twice"] == 0
    assert report.count("delivered", "recap") == workload.recaps
    assert report.count("delivered", "announce") == workload.announcements
    # Each reminder and DM: delivered once, or skipped because the bot was down for the
    # whole of its window (verify() turns any other skip into "lost").
    for kind, n in (("reminder", 16), ("dm", 8)):
        assert report.count("delivered", kind) + report.count("skipped", kind) == n
    assert not report.problems, report.problems
