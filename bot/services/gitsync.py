"""Keep the content checkout in step with the content repository.

`GitContent` runs git (fetch + fast-forward only) as a subprocess with a timeout and turns
every failure into a one-line message instead of an exception. `ContentSync` is the one owner
of pulling: the poll loop and the webhook both go through it, so pulls never overlap and a
burst of webhook deliveries costs at most one extra pull.

Discord-free: nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from bot.clock import Clock, system_clock

log = logging.getLogger("amabot.gitsync")

# A reaped process group still needs a moment to release its pipes.
_REAP_TIMEOUT = 5.0
_MAX_MESSAGE = 300
_MAX_REASONS = 8
_GIT_LOCATION_VARS = frozenset(
    ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")
)


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed on timeout or never started
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    start_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # git hands work to children (remote helpers, ssh); they hold our pipes open, so killing
    # git alone would leave communicate() waiting for them. Each command gets its own session,
    # so its process group is exactly git and what it started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def run_command(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    time_limit: float,
) -> CommandResult:
    """Run a command without a shell; kill its whole process group if it outlives `time_limit`.

    Never raises for the command's own failures (missing binary, bad cwd, non-zero exit,
    timeout); cancellation kills the process group and propagates.
    """
    args = tuple(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # own process group (to kill) and no terminal to prompt on
        )
    except OSError as exc:
        return CommandResult(args, None, start_error=f"{type(exc).__name__}: {exc}")
    try:
        async with asyncio.timeout(time_limit):
            out, err = await proc.communicate()
    except TimeoutError:
        _kill_group(proc)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_REAP_TIMEOUT):
                await proc.wait()
        return CommandResult(args, None, timed_out=True)
    except asyncio.CancelledError:
        _kill_group(proc)
        raise
    return CommandResult(args, proc.returncode, out, err)


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """Hide `user:token@` in URLs: remotes may carry a token and git echoes URLs in errors."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def _one_line(stderr: bytes, fallback: str) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    # git's own verdict is on the fatal:/error: line; hints and progress are noise.
    chosen = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), None)
    if chosen is None:
        chosen = lines[-1] if lines else fallback
    for prefix in ("fatal: ", "error: "):
        chosen = chosen.removeprefix(prefix)
    chosen = redact(chosen)
    return chosen if len(chosen) <= _MAX_MESSAGE else chosen[: _MAX_MESSAGE - 1] + "…"


@dataclass(frozen=True, slots=True)
class PullResult:
    """One pull attempt. `before`/`after` are commit ids (None when unknown or not git)."""

    before: str | None = None
    after: str | None = None
    changed_paths: tuple[str, ...] = ()  # relative to the content root; both sides of renames
    renamed: tuple[tuple[str, str], ...] = ()  # (old path, new path) git saw as renames
    # The remote's history was rewritten (force-push) and the checkout was reset to it.
    rewritten: bool = False
    error: str | None = None  # one line, no credentials
    rescan: bool = False  # not a git checkout: the index should rescan by content hash
    branch: str | None = None
    reason: str = ""
    at: datetime | None = None  # when the attempt finished (ContentSync's clock)
    duration: float = 0.0  # seconds

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        return self.rescan or (self.ok and self.before != self.after)


class GitContent:
    """The content root as a git checkout: fetch and fast-forward.

    Never merges or rebases. The checkout is a read-only mirror of the content repository:
    when the remote's history was rewritten (a force-push: the checkout's HEAD is no longer
    an ancestor of the remote branch), it is reset to the remote branch and the result says
    `rewritten`, so the bot re-plans from the new tree and tells the organisers. With
    `follow_remote=False` such a checkout is reported and left exactly as it was.
    Uncommitted edits in the way of a fast-forward are never thrown away: that is an error.
    """

    def __init__(
        self,
        root: Path,
        *,
        remote: str = "origin",
        branch: str | None = None,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        allow_subdirectory: bool = False,
        follow_remote: bool = True,
    ):
        self.root = Path(root)
        self.follow_remote = follow_remote
        self.remote = remote
        self.branch = branch
        self.timeout = timeout
        # A content folder nested inside some other checkout (say the bot's own sample
        # content) must not make the bot pull that other repository.
        self.allow_subdirectory = allow_subdirectory
        # Variables a git hook or a shell may have exported would point git elsewhere.
        inherited = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
        self._env = {
            **inherited,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
            "LANGUAGE": "C",
            **(env or {}),
        }
        if "GIT_SSH_COMMAND" not in self._env and "GIT_SSH" not in self._env:
            self._env["GIT_SSH_COMMAND"] = "ssh -oBatchMode=yes"
        self._lock = asyncio.Lock()

    @property
    def env(self) -> dict[str, str]:
        """The environment git runs with (no inherited GIT_DIR and the like, no prompts)."""
        return dict(self._env)

    async def _git(self, *args: str) -> CommandResult:
        argv = ("git", "-c", "core.quotepath=off", *args)
        return await run_command(argv, cwd=self.root, env=self._env, time_limit=self.timeout)

    def _failure(self, what: str, res: CommandResult) -> str:
        if res.start_error:
            return f"{what}: could not run git ({res.start_error})"
        if res.timed_out:
            return f"{what}: timed out after {self.timeout:g}s (killed)"
        return f"{what}: {_one_line(res.stderr, f'exit status {res.returncode}')}"

    async def _out(self, *args: str) -> str | None:
        res = await self._git(*args)
        return res.stdout.decode("utf-8", "replace").strip() if res.ok else None

    async def is_checkout(self) -> bool:
        # A missing folder fails to start git at all, which _out reports as None.
        res = await self._git("rev-parse", "--is-inside-work-tree", "--show-prefix")
        lines = res.stdout.decode("utf-8", "replace").splitlines() if res.ok else []
        if not lines or lines[0] != "true":  # not a repository, or a bare one
            return False
        return self.allow_subdirectory or len(lines) < 2 or lines[1] == ""

    async def head(self) -> str | None:
        return await self._out("rev-parse", "--verify", "--quiet", "HEAD^{commit}")

    async def remote_url(self) -> str | None:
        """The URL of the followed remote (`git remote get-url`), to route a GitHub push to
        this checkout; None when git cannot say."""
        return await self._out("remote", "get-url", "--", self.remote)

    async def current_branch(self) -> str | None:
        name = await self._out("symbolic-ref", "--short", "--quiet", "HEAD")
        return name or None

    async def remote_branch(self, branch: str) -> tuple[bool | None, str | None]:
        """(is `branch` on the remote, error): `amabot doctor`'s "remote reachable" check."""
        res = await self._git("ls-remote", "--heads", self.remote, f"refs/heads/{branch}")
        if not res.ok:
            return None, redact(self._failure(f"git ls-remote {self.remote}", res))
        return bool(res.stdout.strip()), None

    async def pull(self) -> PullResult:
        async with self._lock:
            started = time.monotonic()
            result = await self._pull()
            return replace(result, duration=time.monotonic() - started)

    async def _position(self) -> tuple[bool, str | None, str | None]:
        """(a checkout we may pull, its branch, its HEAD) in one git call when it has a
        commit (each git process costs milliseconds on the merge -> announcement path)."""
        res = await self._git(
            "rev-parse",
            "--is-inside-work-tree",
            "--show-prefix",
            "HEAD^{commit}",
            "--symbolic-full-name",
            "HEAD",
        )
        lines = res.stdout.decode("utf-8", "replace").splitlines() if res.ok else []
        if len(lines) != 4 or lines[0] != "true":  # no commit yet, not a repository, bare
            if not await self.is_checkout():
                return False, None, None
            return True, await self.current_branch(), await self.head()
        if not self.allow_subdirectory and lines[1] != "":
            return False, None, None
        branch = (
            lines[3].removeprefix("refs/heads/") if lines[3].startswith("refs/heads/") else None
        )
        return True, branch, lines[2]

    async def _pull(self) -> PullResult:
        ok, current, before = await self._position()
        if not ok:
            return PullResult(error=f"{self.root} is not the top of a git checkout")
        branch = self.branch or current
        base = PullResult(before=before, after=before, branch=branch)
        if branch is None:
            return replace(base, error="HEAD is detached; set [content] branch")
        if current != branch:
            on = f"branch {current}" if current else "a detached HEAD"
            return replace(
                base, error=f"checkout is on {on}, not {branch}; refusing to fast-forward"
            )

        where = f"{self.remote}/{branch}"
        fetch = await self._git(
            "fetch", "--quiet", "--no-tags", "--", self.remote, f"refs/heads/{branch}"
        )
        if not fetch.ok:
            return replace(base, error=self._failure(f"git fetch {where} failed", fetch))
        target = await self._out("rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
        if target is None:
            return replace(base, error=f"git fetch {where} gave no commit")
        if target == before:
            return base

        # The usual case first: a fast-forward. Only when it does not end at the remote's
        # commit is the history looked at (diverged, behind, or something in the way).
        merge = await self._git("merge", "--ff-only", "--quiet", "--no-edit", target)
        after = await self.head()
        if merge.ok and after == target:
            changed, renamed = await self._changes(before, after)
            return replace(base, after=after, changed_paths=changed, renamed=renamed)

        if before is not None and after == before:
            ff = await self._git("merge-base", "--is-ancestor", before, target)
            if ff.returncode == 1:
                behind = await self._git("merge-base", "--is-ancestor", target, before)
                if self.follow_remote:
                    # Diverged, or the remote dropped commits we hold: history was rewritten.
                    return await self._follow(base, before, target, where)
                if behind.ok:
                    # Local commits on top of the remote: nothing to take, nothing to lose.
                    return base
                return replace(
                    base,
                    error=(
                        f"local {branch} ({before[:12]}) has diverged from {where} "
                        f"({target[:12]}); not fast-forwarding (reset the checkout to {where})"
                    ),
                )
            if not ff.ok:
                return replace(base, error=self._failure("git merge-base failed", ff))
        if not merge.ok:
            return replace(
                base, after=after, error=self._failure(f"fast-forward to {where} failed", merge)
            )
        return replace(base, after=after, error=f"fast-forward to {where} left HEAD at {after}")

    async def _changes(
        self, before: str | None, after: str
    ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """The changed paths (both sides of a rename: the index drops the one and loads the
        other) and git's renames, in one `git diff`; `--relative`: paths are relative to the
        content root even when it is a subdirectory of the checkout."""
        if before is None:
            res = await self._git("ls-tree", "-r", "-z", "--name-only", after)
            if not res.ok:
                log.warning("%s", self._failure("could not list changed files", res))
                return (), ()
            names = res.stdout.decode("utf-8", "surrogateescape").split("\0")
            return tuple(n for n in names if n), ()
        found = await self.changes_between(before, after)
        if found is None:
            log.warning("could not list the files changed from %s to %s", before[:12], after[:12])
            return (), ()
        return found

    async def changes_between(
        self, before: str, after: str
    ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
        """(changed paths, renames) between two commits; None if git cannot say (one of them
        is gone). A recap whose id is its file name keeps its announcement across `git mv`
        through the renames (bot/content/identity.py)."""
        res = await self._git("diff", "--name-status", "-z", "-M", "--relative", before, after)
        if not res.ok:
            return None
        fields = res.stdout.decode("utf-8", "surrogateescape").split("\0")
        paths: list[str] = []
        renames: list[tuple[str, str]] = []
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status[:1] in ("R", "C"):
                old, new = fields[i + 1], fields[i + 2]
                paths.extend((old, new) if status[0] == "R" else (new,))
                if status[0] == "R":
                    renames.append((old, new))
                i += 3
            else:
                paths.append(fields[i + 1])
                i += 2
        return tuple(dict.fromkeys(paths)), tuple(renames)

    async def _follow(self, base: PullResult, before: str, target: str, where: str) -> PullResult:
        """Reset the checkout to the rewritten remote branch; what changed is the diff of the
        two trees, whatever the histories."""
        reset = await self._git("reset", "--hard", "--quiet", target)
        after = await self.head()
        if not reset.ok or after != target:
            return replace(
                base, after=after, error=self._failure(f"reset to rewritten {where} failed", reset)
            )
        log.warning(
            "%s was rewritten (force-push): checkout reset from %s to %s",
            where,
            before[:12],
            target[:12],
        )
        changed, renamed = await self._changes(before, after)
        return replace(base, after=after, changed_paths=changed, renamed=renamed, rewritten=True)


class ContentSync:
    """The one owner of pulling: polls, takes webhook requests, never runs two pulls at once.

    Every successful pull (including one that found nothing new) is handed to `on_change`,
    inside the same serialised section, so reloads happen in order and never overlap.
    Without git (`git=None`) every tick is a `rescan` result instead.
    """

    def __init__(
        self,
        git: GitContent | None,
        *,
        on_change: Callable[[PullResult], Awaitable[None]],
        interval: float,
        clock: Clock = system_clock,
        retry_base: float = 5.0,
    ):
        if interval <= 0:
            raise ValueError("poll interval must be positive")
        self.git = git
        self.interval = float(interval)
        self._on_change = on_change
        self._clock = clock
        self._retry_base = max(min(retry_base, self.interval), 0.001)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._progress = asyncio.Condition()
        self._reasons: dict[str, None] = {}
        self._stopping = False
        self._busy = False
        self.attempts = 0
        self.consecutive_failures = 0
        self.last_result: PullResult | None = None
        self.last_commit: str | None = None
        self.last_pull_at: datetime | None = None  # last successful pull
        self.last_error: str | None = None  # None once a pull succeeds again

    def request_pull(self, reason: str) -> None:
        """Ask for a pull as soon as possible; returns at once. Requests coalesce."""
        if len(self._reasons) < _MAX_REASONS:
            self._reasons[reason] = None
        self._wake.set()

    def stop(self) -> None:
        """End `run()` after the pull in progress, if any."""
        self._stopping = True
        self._wake.set()

    async def pull_now(self, reason: str, *, notify: bool = True) -> PullResult:
        """Pull now (serialised with the loop) and return the result."""
        return await self._cycle(reason, notify=notify)

    def retry_delay(self) -> float:
        """Seconds until the next attempt: the interval, sooner after a fresh failure."""
        if self.consecutive_failures == 0:
            return self.interval
        # `int ** int` is typed Any (a negative exponent gives a float); this one never is.
        backoff: float = self._retry_base * 2 ** (self.consecutive_failures - 1)
        return min(self.interval, backoff)

    async def run(self) -> None:
        """Poll until `stop()`. Waits one interval first; `request_pull` first to pull at once."""
        while not self._stopping:
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_delay()):
                        await self._wake.wait()
            if self._stopping:
                break
            # Cleared before the pull: a request that arrives during it sets the event again
            # and earns exactly one more pull, however many requests there were.
            self._wake.clear()
            reasons = ", ".join(self._reasons) or "poll"
            self._reasons.clear()
            await self._cycle(reasons, notify=True)

    async def wait_for_attempts(self, n: int) -> PullResult:
        """Wait until at least `n` pulls have been attempted in total; return the last."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.attempts >= n)
        if self.last_result is None:
            raise RuntimeError("no pull attempted")
        return self.last_result

    async def wait_idle(self) -> None:
        """Wait until no pull is running or requested (needs `run()` to be going)."""
        async with self._progress:
            await self._progress.wait_for(lambda: not self._busy and not self._wake.is_set())

    def status(self) -> dict[str, object]:
        """JSON-ready figures for /healthz."""
        return {
            "mode": "git" if self.git is not None else "rescan",
            "commit": self.last_commit,
            "last_pull_at": self.last_pull_at.isoformat() if self.last_pull_at else None,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "pulls": self.attempts,
        }

    async def _cycle(self, reason: str, *, notify: bool) -> PullResult:
        async with self._lock:
            self._busy = True
            try:
                result = await self._attempt(reason)
                if result.ok and notify:
                    try:
                        await self._on_change(result)
                    except Exception:
                        log.exception("reloading content after a pull failed (%s)", reason)
            finally:
                self._busy = False
                async with self._progress:
                    self._progress.notify_all()
            return result

    async def _attempt(self, reason: str) -> PullResult:
        started = time.monotonic()
        if self.git is None:
            result = PullResult(rescan=True)
        else:
            try:
                result = await self.git.pull()
            except Exception as exc:  # a bug here must not stop the polling
                log.exception("content pull crashed")
                result = PullResult(error=f"content pull crashed: {type(exc).__name__}")
        result = replace(
            result, reason=reason, at=self._clock(), duration=time.monotonic() - started
        )
        self.attempts += 1
        self.last_result = result
        if result.ok:
            if self.consecutive_failures:
                log.info("content pull recovered after %d failures", self.consecutive_failures)
            self.consecutive_failures = 0
            self.last_error = None
            self.last_pull_at = result.at
            if result.after is not None:
                self.last_commit = result.after
            if result.before != result.after:
                log.info(
                    "content %s: %s -> %s, %d files changed (%s)",
                    result.branch,
                    (result.before or "none")[:12],
                    (result.after or "none")[:12],
                    len(result.changed_paths),
                    reason,
                )
        else:
            self.consecutive_failures += 1
            self.last_error = result.error
            log.warning(
                "content pull failed (%s; %d in a row, retry in %gs): %s",
                reason,
                self.consecutive_failures,
                self.retry_delay(),
                result.error,
            )
        return result
