"""GitContent and ContentSync against real git repositories in tmp_path."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.services.gitsync import ContentSync, GitContent, PullResult, redact, run_command

T0 = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path, monkeypatch):
    # The machine's git config (signing, hooks, default branch, credential helpers) must not
    # leak into these repositories.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test Organiser")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "organiser@example.org")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


def running_commands() -> str:
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout


def commit_file(repo: Path, rel: str, text: str, message: str | None = None) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(repo, "add", "--", rel)
    git(repo, "commit", "-q", "-m", message or f"add {rel}")
    return git(repo, "rev-parse", "HEAD")


class Repos:
    """A bare remote, the bot's content checkout, and an author's clone to push from."""

    def __init__(self, base: Path):
        self.remote = base / "remote.git"
        self.content = base / "content"
        self.author = base / "author"
        git(base, "init", "-q", "--bare", "-b", "main", str(self.remote))
        git(base, "clone", "-q", str(self.remote), str(self.author))
        git(self.author, "config", "user.name", "Test Organiser")
        git(self.author, "config", "user.email", "organiser@example.org")
        git(self.author, "checkout", "-q", "-b", "main")
        commit_file(self.author, "recaps/s2-e05.md", "# S2:E5 Fine Tuning\n", "first recap")
        git(self.author, "push", "-q", "origin", "main")
        git(base, "clone", "-q", str(self.remote), str(self.content))
        git(self.content, "config", "user.name", "The Bot Host")
        git(self.content, "config", "user.email", "host@example.org")

    def push(self, rel: str, text: str) -> str:
        sha = commit_file(self.author, rel, text)
        git(self.author, "push", "-q", "origin", "main")
        return sha

    def content_head(self) -> str:
        return git(self.content, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path) -> Repos:
    return Repos(tmp_path)


# --- GitContent ------------------------------------------------------------------------


async def test_checkout_facts(repos, tmp_path):
    content = GitContent(repos.content)
    assert await content.is_checkout()
    assert await content.current_branch() == "main"
    assert await content.head() == repos.content_head()

    plain = tmp_path / "plain"
    plain.mkdir()
    assert not await GitContent(plain).is_checkout()
    assert not await GitContent(tmp_path / "missing").is_checkout()
    assert not await GitContent(repos.remote).is_checkout()  # bare
    # A folder inside someone else's checkout is not "a checkout" unless asked for.
    (repos.content / "recaps").mkdir(exist_ok=True)
    assert not await GitContent(repos.content / "recaps").is_checkout()
    assert await GitContent(repos.content / "recaps", allow_subdirectory=True).is_checkout()


async def test_fast_forward_reports_changed_paths_then_nothing(repos):
    content = GitContent(repos.content)
    before = repos.content_head()
    repos.push("recaps/s2-e06.md", "# S2:E6 Agents\n")
    target = repos.push("episodes/s2-e06.md", "---\nid: s2-e06\n---\n")

    result = await content.pull()
    assert result.ok, result.error
    assert (result.before, result.after) == (before, target)
    assert set(result.changed_paths) == {"recaps/s2-e06.md", "episodes/s2-e06.md"}
    assert result.changed
    assert result.branch == "main"
    assert (repos.content / "recaps" / "s2-e06.md").read_text() == "# S2:E6 Agents\n"
    assert repos.content_head() == target

    again = await content.pull()
    assert again.ok and not again.changed
    assert again.before == again.after == target
    assert again.changed_paths == ()


async def test_rename_reports_both_paths_and_unicode_names(repos):
    (repos.author / "recaps" / "2025").mkdir()
    git(repos.author, "mv", "recaps/s2-e05.md", "recaps/2025/s2 e05 – ünïcode.md")
    git(repos.author, "commit", "-q", "-m", "move")
    git(repos.author, "push", "-q", "origin", "main")
    result = await GitContent(repos.content).pull()
    assert result.ok, result.error
    assert set(result.changed_paths) == {"recaps/s2-e05.md", "recaps/2025/s2 e05 – ünïcode.md"}
    assert result.renamed == (("recaps/s2-e05.md", "recaps/2025/s2 e05 – ünïcode.md"),)


async def test_content_root_below_the_top_gets_relative_paths(repos):
    repos.push("recaps/s2-e07.md", "# S2:E7\n")
    repos.push("README.md", "outside the content root\n")
    result = await GitContent(repos.content / "recaps", allow_subdirectory=True).pull()
    assert result.ok, result.error
    assert result.changed_paths == ("s2-e07.md",)


async def test_diverged_history_is_an_error_and_leaves_the_tree_alone(repos):
    repos.push("recaps/s2-e06.md", "# remote side\n")
    local = commit_file(repos.content, "recaps/local.md", "# local edit on the server\n")
    (repos.content / "recaps" / "s2-e05.md").write_text("uncommitted scribble\n")

    result = await GitContent(repos.content, follow_remote=False).pull()
    assert not result.ok
    assert "diverged" in result.error and "\n" not in result.error
    assert result.before == result.after == local
    assert repos.content_head() == local
    assert not (repos.content / "recaps" / "s2-e06.md").exists()
    assert (repos.content / "recaps" / "s2-e05.md").read_text() == "uncommitted scribble\n"
    assert not (repos.content / ".git" / "MERGE_HEAD").exists()


async def test_local_changes_in_the_way_are_an_error_not_a_half_merge(repos):
    repos.push("recaps/s2-e05.md", "# S2:E5 edited upstream\n")
    (repos.content / "recaps" / "s2-e05.md").write_text("edited by hand on the server\n")
    before = repos.content_head()

    result = await GitContent(repos.content).pull()
    assert not result.ok
    assert "fast-forward" in result.error
    assert repos.content_head() == before
    assert (repos.content / "recaps" / "s2-e05.md").read_text() == (
        "edited by hand on the server\n"
    )


async def test_local_commits_ahead_are_kept(repos):
    local = commit_file(repos.content, "recaps/local.md", "# ahead\n")
    result = await GitContent(repos.content, follow_remote=False).pull()
    assert result.ok and not result.changed
    assert repos.content_head() == local


async def test_a_rewritten_remote_is_followed_and_says_so(repos):
    remote_head = repos.push("recaps/s2-e06.md", "# remote side\n")
    local = commit_file(repos.content, "recaps/local.md", "# a commit the remote never had\n")
    result = await GitContent(repos.content).pull()
    assert result.ok and result.rewritten and result.changed
    assert (result.before, result.after) == (local, remote_head)
    assert repos.content_head() == remote_head
    assert set(result.changed_paths) == {"recaps/s2-e06.md", "recaps/local.md"}
    assert not (repos.content / "recaps" / "local.md").exists()
    again = await GitContent(repos.content).pull()
    assert again.ok and not again.changed and not again.rewritten


async def test_a_remote_that_dropped_commits_is_followed(repos):
    commit_file(repos.content, "recaps/dropped.md", "# dropped upstream\n")
    result = await GitContent(repos.content).pull()
    assert result.ok and result.rewritten
    assert result.changed_paths == ("recaps/dropped.md",)
    assert not (repos.content / "recaps" / "dropped.md").exists()


async def test_missing_remote_and_wrong_branch_are_one_line_errors(repos, tmp_path):
    repos.remote.rename(tmp_path / "gone.git")
    result = await GitContent(repos.content).pull()
    assert not result.ok
    assert result.error.startswith("git fetch origin/main failed: ")
    assert "\n" not in result.error

    wrong = await GitContent(repos.content, branch="release").pull()
    assert "not release" in wrong.error

    nobody = await GitContent(repos.content, remote="upstream").pull()
    assert "upstream" in nobody.error

    git(repos.content, "checkout", "-q", "--detach")
    detached = await GitContent(repos.content).pull()
    assert "detached" in detached.error


async def test_hung_git_is_killed_at_the_timeout(repos):
    # The ext:: transport runs a command as the "remote"; `sleep` never answers, so git
    # waits forever. The sleep is git's child: only killing the process group frees us.
    git(repos.content, "config", "protocol.ext.allow", "always")
    git(repos.content, "remote", "set-url", "origin", "ext::sleep 37")
    content = GitContent(repos.content, timeout=0.5)

    started = time.monotonic()
    result = await content.pull()
    elapsed = time.monotonic() - started

    assert not result.ok
    assert "timed out after 0.5s" in result.error
    assert elapsed < 4
    assert "sleep 37" not in running_commands()


async def test_run_command_kills_grandchildren_and_reports_missing_binaries(tmp_path):
    started = time.monotonic()
    res = await run_command(["sh", "-c", "sleep 41 & sleep 41; echo never"], time_limit=0.3)
    assert res.timed_out and res.returncode is None and not res.ok
    assert time.monotonic() - started < 4
    assert "sleep 41" not in running_commands()

    missing = await run_command([str(tmp_path / "no-such-git")], time_limit=1)
    assert missing.start_error and not missing.ok

    ok = await run_command(["sh", "-c", "echo hi; echo oops >&2; exit 3"], time_limit=5)
    assert (ok.returncode, ok.stdout, ok.stderr) == (3, b"hi\n", b"oops\n")


def test_redact_hides_url_credentials():
    line = "unable to access 'https://bot:ghp_SECRET123@github.com/org/content.git/': 403"
    assert "ghp_SECRET123" not in redact(line)
    assert "https://***@github.com/org/content.git/" in redact(line)


async def test_token_in_remote_url_never_reaches_the_error(repos, tmp_path):
    git(repos.content, "remote", "set-url", "origin", "http://bot:tok3n-s3cret@127.0.0.1:9/x.git")
    result = await GitContent(repos.content, timeout=10).pull()
    assert not result.ok
    assert "tok3n-s3cret" not in result.error


# --- ContentSync -----------------------------------------------------------------------


class Reloads:
    """Records what on_change saw; optionally holds each reload until released."""

    def __init__(self):
        self.seen: list[PullResult] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, result: PullResult) -> None:
        self.seen.append(result)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()


async def test_pull_now_notifies_and_records_health(repos):
    reloads = Reloads()
    clock = ManualClock(T0)
    sync = ContentSync(GitContent(repos.content), on_change=reloads, interval=60, clock=clock)
    target = repos.push("recaps/s2-e06.md", "# S2:E6\n")

    result = await sync.pull_now("startup")
    assert result.ok and result.after == target and result.reason == "startup"
    assert result.at == T0
    assert reloads.seen == [result]
    assert (sync.last_commit, sync.last_pull_at, sync.last_error) == (target, T0, None)
    assert sync.last_result is result
    assert sync.status()["commit"] == target

    quiet = await sync.pull_now("startup", notify=False)
    assert quiet.ok and not quiet.changed
    assert len(reloads.seen) == 1


async def test_webhook_requests_during_a_slow_pull_coalesce_into_one_more(repos):
    reloads = Reloads()
    reloads.gate = asyncio.Event()
    sync = ContentSync(GitContent(repos.content), on_change=reloads, interval=3600)
    runner = asyncio.create_task(sync.run())
    try:
        sync.request_pull("webhook 1")
        await reloads.entered.wait()  # the first pull is now in progress (held in reload)
        later = repos.push("recaps/s2-e06.md", "# S2:E6\n")
        for i in range(25):
            sync.request_pull(f"webhook {i + 2}")
        reloads.gate.set()
        await sync.wait_idle()
        assert sync.attempts == 2
        assert reloads.seen[0].reason == "webhook 1"
        assert reloads.seen[1].after == later
        assert reloads.seen[1].changed_paths == ("recaps/s2-e06.md",)
        assert "webhook 2" in reloads.seen[1].reason
    finally:
        sync.stop()
        await runner


async def test_pull_now_and_loop_never_overlap(repos):
    active = 0
    peak = 0

    async def reload(result: PullResult) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0)
        active -= 1

    sync = ContentSync(GitContent(repos.content), on_change=reload, interval=3600)
    runner = asyncio.create_task(sync.run())
    try:
        sync.request_pull("webhook")
        results = await asyncio.gather(*(sync.pull_now(f"manual {i}") for i in range(4)))
        await sync.wait_idle()
        assert all(r.ok for r in results)
        assert peak == 1
    finally:
        sync.stop()
        await runner


async def test_loop_survives_a_missing_remote_and_recovers(repos, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="amabot.gitsync")
    reloads = Reloads()
    sync = ContentSync(GitContent(repos.content), on_change=reloads, interval=0.05, retry_base=0.01)
    parked = tmp_path / "parked.git"
    repos.remote.rename(parked)
    runner = asyncio.create_task(sync.run())
    try:
        sync.request_pull("startup")
        failed = await sync.wait_for_attempts(3)
        assert not failed.ok and sync.consecutive_failures >= 3
        assert sync.last_error and "origin/main" in sync.last_error
        assert not reloads.seen
        assert sync.retry_delay() <= sync.interval
        assert any("content pull failed" in r.getMessage() for r in caplog.records)

        parked.rename(repos.remote)
        target = repos.push("recaps/s2-e06.md", "# back\n")
        while not (sync.last_result and sync.last_result.ok):
            await sync.wait_for_attempts(sync.attempts + 1)
        assert sync.last_error is None and sync.consecutive_failures == 0
        assert sync.last_commit == target
        assert reloads.seen[-1].changed_paths == ("recaps/s2-e06.md",)
        assert any("recovered" in r.getMessage() for r in caplog.records)
    finally:
        sync.stop()
        await runner


async def test_not_a_checkout_rescans_every_tick(tmp_path):
    reloads = Reloads()
    sync = ContentSync(None, on_change=reloads, interval=0.01)
    runner = asyncio.create_task(sync.run())
    try:
        await sync.wait_for_attempts(2)
        assert all(r.rescan and r.changed and r.ok for r in reloads.seen)
        assert reloads.seen[0].changed_paths == ()
        assert sync.status()["mode"] == "rescan"
    finally:
        sync.stop()
        await runner


async def test_a_failing_reload_does_not_stop_the_loop(repos, caplog):
    calls = 0

    async def broken(result: PullResult) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("index exploded")

    sync = ContentSync(GitContent(repos.content), on_change=broken, interval=0.01)
    runner = asyncio.create_task(sync.run())
    try:
        await sync.wait_for_attempts(3)
        assert calls >= 2
        assert any("reloading content" in r.getMessage() for r in caplog.records)
    finally:
        sync.stop()
        await runner


async def test_stop_before_run_returns_at_once():
    sync = ContentSync(None, on_change=Reloads(), interval=3600)
    sync.stop()
    await asyncio.wait_for(sync.run(), timeout=5)
    assert sync.attempts == 0
