"""Every bench runs: each at its smallest size (`--smoke`), as a subprocess, a few at once.

A bench no test runs rots unseen (bench/load.py failed on an organiser's deferred answer for
a whole round). This checks that each exits 0 and prints its figures: the shape of the figure
lines, never the timings (those are for a quiet machine and a person reading them). The
benches wait on timers far more than they compute, so a few run side by side: the slowest,
bench/load.py (its reminders fall due over about 40 s), starts first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NUMBER = r"[\d.,]+"

# bench -> the figure lines its smoke run must print (regexes matched against whole lines).
FIGURES: dict[str, list[str]] = {
    "load.py": [
        rf"{NUMBER} members, {NUMBER} episodes: {NUMBER} interactions sent, {NUMBER} answered, "
        rf"0 unanswered.*",
        rf"  all +n= *{NUMBER} +p50 +{NUMBER} ms +p99 +{NUMBER} ms +max +{NUMBER} ms .*",
        r"total( +\d+){6}",
        rf"timings: setup {NUMBER}s, first start {NUMBER}s, .*",
    ],
    "chaos.py": [
        r"total( +\d+){6}",
        rf"timings: setup {NUMBER}s, first start {NUMBER}s, .*",
        rf"interactions: {NUMBER} answered, .*",
    ],
    "failover.py": [
        r"total( +\d+){6}",
        rf"failovers: {NUMBER}; leader's end -> new leader's first send: median {NUMBER}s, "
        rf"max {NUMBER}s; .*",
        r"lost 0, duplicated 0, .*",
    ],
    "commands.py": [
        rf"no-op /ping +{NUMBER} +{NUMBER} +{NUMBER}x .*",
        rf"/episode +{NUMBER} +{NUMBER} +{NUMBER}x .*",
        rf"/recap autocomplete +{NUMBER} +{NUMBER} +{NUMBER}x .*",
    ],
    "reminders.py": [
        r"sent (\d+)/\1 \(POSTs accepted: \d+, duplicates: 0\), .*",
        rf"lateness at the stand-in \(receipt - due\): p50 -?{NUMBER} ms, p99 -?{NUMBER} ms, .*",
    ],
    "sqlite_sync.py": [
        rf"NORMAL claim\+record: median {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms .*",
        rf"FULL +claim\+record: median {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms .*",
    ],
    "store_cost.py": [
        rf"sqlite +claim\+attempt\+sent: median {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms .*",
        rf"postgresql +claim\+attempt\+sent: median {NUMBER} ms, p99 {NUMBER} ms, .*",
        rf"postgresql fenced +claim\+attempt\+sent: median {NUMBER} ms, p99 {NUMBER} ms, .*",
        rf"ratio postgresql/sqlite \(medians\): {NUMBER}x, fenced {NUMBER}x .*",
    ],
    "content_index.py": [
        rf"floor \(read \+ CSafeLoader frontmatter, one process\): {NUMBER} ms.*",
        rf"start-up \(build \+ search index, as the bot loads\): {NUMBER} ms +ratio: {NUMBER}.*",
        rf"incremental reload, one file changed: .*{NUMBER} ms.*",
        rf"search_episodes: p50 {NUMBER} ms, p99 {NUMBER} ms.*",
        rf"peak RSS: {NUMBER} MB.*",
    ],
    "ama.py": [
        rf"{NUMBER} members: {NUMBER} questions asked, {NUMBER} clicks, in {NUMBER}s .*",
        r"votes: model (\d+), store \1, questions differing 0, answers disagreeing 0: "
        r"every vote counted exactly once",
        r"failed interactions: 0 \(errors seen by members: 0\)",
        rf"shown counts equal the truth {NUMBER}s after the last click .*",
        rf"edits per question message: max {NUMBER}, median {NUMBER}, total {NUMBER}; "
        rf"per thread in any 5 s window: max [0-4] \(questions\), [0-4] \(host board, "
        rf"{NUMBER} edits\); 429s 0",
        rf"bot's own time per interaction: n={NUMBER} p50 {NUMBER} ms, p99 {NUMBER} ms, .*",
    ],
    "series.py": [
        rf"  start-up \(load, bind, plan, backlog recorded\): {NUMBER}s; .*",
        rf"start-up: 1 series of {NUMBER} \+ {NUMBER}: {NUMBER}s; {NUMBER} series of {NUMBER} "
        rf"\+ {NUMBER}: {NUMBER}s: {NUMBER}x",
        rf"merge -> post median: 1 series {NUMBER} ms; {NUMBER} series {NUMBER} ms: {NUMBER}x",
    ],
    "merge_to_post.py": [
        rf"  webhook -> announcement: +median +{NUMBER} ms .*",
        rf"webhook -> announcement median: {NUMBER} recaps {NUMBER} ms, {NUMBER} recaps "
        rf"{NUMBER} ms: {NUMBER}x",
    ],
}


def test_every_bench_is_covered():
    assert sorted(FIGURES) == sorted(p.name for p in (REPO / "bench").glob("*.py"))


# The longest first; at most this many at once. All eleven side by side on a 2-core machine
# stretched the timer-bound ones past what their figure lines check (bench/ama.py's edit
# window), so they run in waves: about the wall time of the longest few.
LONGEST_FIRST = ("load.py", "failover.py", "chaos.py", "series.py", "merge_to_post.py")
AT_ONCE = 4
BENCH_TIMEOUT = 200.0


def _smoke(name: str, env: dict[str, str]) -> tuple[int, str, float]:
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(REPO / "bench" / name), "--smoke"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BENCH_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        text = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
        return -9, f"{text}\n(killed after {BENCH_TIMEOUT:.0f} s)", time.monotonic() - began
    return done.returncode, done.stdout, time.monotonic() - began


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[int, str, float]]:
    """bench -> (exit status, output, seconds): every smoke run, `AT_ONCE` at a time."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("AMABOT_CONFIG", None)
    order = [n for n in LONGEST_FIRST if n in FIGURES] + sorted(
        n for n in FIGURES if n not in LONGEST_FIRST
    )
    with ThreadPoolExecutor(AT_ONCE) as pool:
        futures = {name: pool.submit(_smoke, name, env) for name in order}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("bench", sorted(FIGURES))
def test_the_bench_runs_and_prints_its_figures(bench: str, runs):
    code, text, _ = runs[bench]
    assert code == 0, f"bench/{bench} --smoke exited {code}:\n{text[-4000:]}"
    lines = text.splitlines()
    for figure in FIGURES[bench]:
        assert any(re.fullmatch(figure, line) for line in lines), (
            f"bench/{bench} printed no line like {figure!r}:\n{text[-4000:]}"
        )
