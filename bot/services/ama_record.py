"""The AMA's record written back to the content repository: one Markdown file per AMA,
committed on a branch of its own (``amabot/ama/<episode>``) and pushed to the content remote,
for the recap author to review and merge like any change. `AmaRecordWriter`: the record
rendered from the store and published, else attached in the review channel with the reason.

The bot's checkout is a read-only mirror that a force-push resets: the commit is made in a
throw-away clone of it, never in the mirror. A rerun with the same record pushes nothing (the
branch already holds those bytes), so publishing twice leaves one branch and one commit.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.plan import ama_posts
from bot.plan.ama import AmaSession, QuestionState, SessionMove
from bot.plan.posts import PlannedPost
from bot.render.ama_record import RecordHeader, render_record
from bot.render.limits import allowed_mentions
from bot.services.ama_messages import AmaContext, AmaPart
from bot.services.gitsync import CommandResult, GitContent, run_command
from bot.store import Store

log = logging.getLogger("amabot.ama.record")
ama_log = logging.getLogger("amabot.ama")  # the AMA run's own log, as before the split

AUTHOR = ("amabot", "amabot@users.noreply.github.com")


@dataclass(frozen=True, slots=True)
class RecordResult:
    pushed: bool  # the branch now holds this record (pushed now or already there)
    branch: str
    path: str  # the file's path in the repository
    reason: str = ""  # why not pushed
    unchanged: bool = False  # the branch already held exactly these bytes
    commit: str | None = None


class RecordPublisher:
    """Commits a record on its branch and pushes it to the content remote."""

    def __init__(
        self,
        content: GitContent,
        *,
        folder: str,
        branch_prefix: str,
        env: Mapping[str, str] | None = None,
    ):
        self.content = content
        self.folder = folder.strip("/")
        self.branch_prefix = branch_prefix
        self._env = env

    def branch_for(self, episode_id: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in episode_id)
        return f"{self.branch_prefix}{safe}"

    def file_for(self, episode_id: str) -> str:
        """The record's path relative to the content root."""
        return str(PurePosixPath(self.folder) / f"{episode_id}.md")

    async def publish(self, episode_id: str, markdown: str, message: str) -> RecordResult:
        branch = self.branch_for(episode_id)
        rel = self.file_for(episode_id)
        work = Path(tempfile.mkdtemp(prefix="amabot-record-"))
        try:
            return await self._publish(work, branch, rel, markdown, message)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _git(self, cwd: Path, *args: str) -> CommandResult:
        env = self.content.env
        if self._env:
            env.update(self._env)
        return await run_command(
            ("git", "-c", "core.quotepath=off", *args),
            cwd=cwd,
            env=env,
            time_limit=self.content.timeout,
        )

    async def _publish(
        self, work: Path, branch: str, rel: str, markdown: str, message: str
    ) -> RecordResult:
        root = self.content.root
        url = await self._git(root, "remote", "get-url", self.content.remote)
        prefix = await self._git(root, "rev-parse", "--show-prefix")
        base = (
            self.content.branch
            or (await self._git(root, "rev-parse", "--abbrev-ref", "HEAD")).stdout.decode().strip()
        )
        if not url.ok or not prefix.ok or not base:
            return RecordResult(False, branch, rel, "the content folder is not a git checkout")
        remote = url.stdout.decode().strip()
        path = prefix.stdout.decode().strip() + rel
        clone = await self._git(work, "clone", "--quiet", "--no-checkout", str(root), "repo")
        if not clone.ok:
            return RecordResult(False, branch, path, _why("cloning the checkout", clone))
        repo = work / "repo"
        existing = await self._git(repo, "fetch", "--quiet", remote, f"refs/heads/{branch}")
        if existing.ok:
            shown = await self._git(repo, "show", f"FETCH_HEAD:{path}")
            if shown.ok and shown.stdout.decode("utf-8", "replace") == markdown:
                head = await self._git(repo, "rev-parse", "FETCH_HEAD")
                sha = head.stdout.decode().strip() or None
                return RecordResult(True, branch, path, unchanged=True, commit=sha)
        start = await self._git(repo, "checkout", "--quiet", "-B", branch, f"origin/{base}")
        if not start.ok:
            return RecordResult(False, branch, path, _why(f"starting from {base}", start))
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown, encoding="utf-8", newline="\n")
        name, email = AUTHOR
        steps = (
            ("add", "--", path),
            (
                "-c",
                f"user.name={name}",
                "-c",
                f"user.email={email}",
                "commit",
                "--quiet",
                "-m",
                message,
            ),
        )
        for step in steps:
            done = await self._git(repo, *step)
            if not done.ok:
                return RecordResult(False, branch, path, _why("committing the record", done))
        # The branch is the bot's own: a rerun replaces it (the recap author merges from it).
        pushed = await self._git(
            repo, "push", "--quiet", "--force", remote, f"HEAD:refs/heads/{branch}"
        )
        if not pushed.ok:
            return RecordResult(False, branch, path, _why("pushing the branch", pushed))
        head = await self._git(repo, "rev-parse", "HEAD")
        log.info("AMA record %s pushed to %s", path, branch)
        return RecordResult(True, branch, path, commit=head.stdout.decode().strip() or None)


def _why(what: str, res: CommandResult) -> str:
    if res.start_error:
        return f"{what}: could not run git ({res.start_error})"
    if res.timed_out:
        return f"{what}: timed out"
    text = res.stderr.decode("utf-8", "replace").strip().splitlines()
    return f"{what}: {text[-1] if text else f'exit status {res.returncode}'}"


class AmaRecordWriter(AmaPart):
    """An AMA's record written back: pushed on its branch, else attached for the organisers."""

    def __init__(self, ctx: AmaContext, publisher: RecordPublisher | None):
        super().__init__(ctx)
        self.publisher = publisher

    async def markdown(self, session_id: int) -> str | None:
        """The AMA's record as Markdown (deterministic: the same store gives the same bytes)."""
        return await session_record(self.store, session_id)

    async def publish(self, session_id: int, actor: int | None = None) -> str:
        """Write the record back: pushed on its branch (``[ama] push``), else attached in the
        review channel with the reason. Says what happened, for the organiser."""
        session = await self.store.ama.session(session_id)
        markdown = await self.markdown(session_id)
        if session is None or markdown is None:
            return "That AMA is gone."
        result: RecordResult | None = None
        if self.publisher is not None and self.cfg.push:
            counts = await self.store.ama.questions(session_id)
            answered = sum(1 for q in counts if q.state is QuestionState.ANSWERED)
            message = f"AMA record for {session.title} ({answered} answered)"
            result = await self.publisher.publish(session.key.episode_id, markdown, message)
        if result is not None and result.pushed:
            await self.store.ama.move_session(session_id, SessionMove.PUBLISH, self.clock(), actor)
            what = "unchanged on" if result.unchanged else "pushed to"
            return f"The record `{result.path}` is {what} the branch `{result.branch}`."
        reason = result.reason if result is not None else "pushing is off ([ama] push)"
        await self._attach_record(session, markdown, reason)
        return f"The record was not pushed ({reason}); it is attached in the review channel."

    async def _attach_record(self, session: AmaSession, markdown: str, reason: str) -> None:
        channel = self.cfg.review_channel_id
        if not channel:
            ama_log.warning(
                "AMA %s: record not pushed (%s) and no review channel", session.key, reason
            )
            return
        now = self.clock()
        digest = hashlib.sha256(markdown.encode()).hexdigest()[:12]
        post = PlannedPost(
            key=ama_posts.post_key(session.key, f"record-{digest}"),
            kind="ama",
            due_at=now,
            channel_id=channel,
            payload={
                "content": f"The AMA record of {session.title} (not pushed: {reason[:300]}).",
                "files": [{"filename": f"{session.key.episode_id}.md", "text": markdown}],
                "allowed_mentions": allowed_mentions(),
            },
            subject=session.key.episode_id,
        )
        if await self.store.outbox.add_once(post, now):
            self._schedule(post.key, now)


async def session_record(store: Store, session_id: int) -> str | None:
    """A session's record from the store, as the bot pushes it and `amabot ama export`
    prints it."""
    session = await store.ama.session(session_id)
    if session is None:
        return None
    questions = await store.ama.questions(session_id)
    header = RecordHeader(
        series=session.key.series,
        episode_id=session.key.episode_id,
        title=session.title,
        starts_at=session.times.starts_at,
        timezone=session.timezone,
        guests=session.guests,
        live_started_at=session.live_started_at,
    )
    return render_record(header, questions)
