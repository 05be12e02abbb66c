"""The running bot's self-check: `amabot doctor`'s checks at every READY and on server,
channel and role updates, with what is found told once.

Discord-free: the facts come from an injected reader (bot/discord/inspect.py over the bot's
own REST client), the organisers are told through an injected `alert`. Requests are
debounced (a role dragged in the settings fires a burst of updates) and the check runs in one
owned task. Problems go to the log, to `/healthz` (through `on_problems`) and to the
organisers' alerts channel once per problem: which problems were told is kept in the store,
so a restart does not repeat them, and a problem that was fixed and comes back is told again.
A channel whose checks pass again gets its refused posts retried (`on_channels_ok`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from bot.config import ConfigError, ContentSettings, Settings, parse_listen, webhook_secret
from bot.plan.doctor import (
    CheckoutFacts,
    DiscordFacts,
    Finding,
    LocalFacts,
    check_discord,
    check_local,
)
from bot.services.gitsync import GitContent
from bot.store import State, inspect_database

log = logging.getLogger("amabot.selfcheck")

STATE_TOLD = "selfcheck.told"
DEBOUNCE = 2.0


def _bind_error(listen: str) -> str | None:
    host, port = parse_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


async def local_facts(
    settings: Settings, environ: Mapping[str, str], *, bind: bool = True
) -> LocalFacts:
    """The webhook receiver, the content checkout and the database, as the checks see them.
    `bind=False` in the running bot: its own receiver holds the port."""
    listen = settings.webhook.listen
    secret_set = True
    if listen:
        try:
            webhook_secret(settings, environ)
        except ConfigError:
            secret_set = False
    bind_error = await asyncio.to_thread(_bind_error, listen) if listen and bind else None
    checkouts: dict[Path, CheckoutFacts] = {}
    for view in settings.shows():  # one checkout per content path, as the bot follows them
        if view.content.path not in checkouts:
            checkouts[view.content.path] = await _checkout_facts(view.content)
    first, *others = checkouts.values()
    db = await asyncio.to_thread(
        inspect_database, settings.storage.database, password_env=settings.storage.password_env
    )
    return LocalFacts(
        webhook_listen=listen,
        webhook_secret_set=secret_set,
        webhook_bind_error=bind_error,
        content_path=first.path,
        content_exists=first.exists,
        is_checkout=first.is_checkout,
        remote=first.remote,
        remote_error=first.remote_error,
        branch=first.branch,
        branch_on_remote=first.branch_on_remote,
        other_checkouts=tuple(others),
        database=str(settings.storage.database),
        database_error=db.error,
        schema=db.schema,
        schema_latest=db.latest,
        lease=db.lease,
    )


async def _checkout_facts(content: ContentSettings) -> CheckoutFacts:
    git = GitContent(
        content.path, remote=content.remote, branch=content.branch, timeout=content.git_timeout
    )
    exists = await asyncio.to_thread(content.path.is_dir)
    is_checkout = exists and await git.is_checkout()
    branch = content.branch or (await git.current_branch() if is_checkout else None)
    on_remote: bool | None = None
    remote_error: str | None = None
    if is_checkout:
        if branch is None:
            remote_error = "the checkout is on no branch (detached HEAD); set content.branch"
        else:
            on_remote, remote_error = await git.remote_branch(branch)
    return CheckoutFacts(
        str(content.path), exists, is_checkout, content.remote, remote_error, branch, on_remote
    )


def problem_alert(finding: Finding) -> dict[str, Any]:
    """The note to the organisers: what is wrong and the fix. Pings nobody."""
    text = f"⚠️ Set-up problem: {finding.check}: {finding.problem}.\nFix: {finding.fix}."
    return {"content": text[:2000], "allowed_mentions": {"parse": []}}


class SelfCheck:
    def __init__(
        self,
        *,
        settings: Settings,
        state: State,
        read_facts: Callable[[], Awaitable[DiscordFacts]],
        alert: Callable[[Finding], Awaitable[None]],
        on_problems: Callable[[list[Finding]], None],
        on_channels_ok: Callable[[set[int]], Awaitable[Any]],
        environ: Mapping[str, str],
        debounce: float = DEBOUNCE,
    ):
        self.settings = settings
        self.state = state
        self.read_facts = read_facts
        self.alert = alert
        self.on_problems = on_problems
        self.on_channels_ok = on_channels_ok
        self.environ = environ
        self.debounce = debounce
        self.findings: list[Finding] = []
        self.runs = 0
        self._wanted = asyncio.Event()
        self._local = False
        self._done = asyncio.Condition()
        self._logged: set[str] = set()
        self._last_local: list[Finding] = []

    def request(self, reason: str, *, local: bool = False) -> None:
        """Check soon (debounced). `local` adds the webhook, content and database checks
        (at READY; they do not change with a Discord event)."""
        log.debug("self-check requested: %s", reason)
        self._local = self._local or local
        self._wanted.set()

    async def run(self) -> None:
        """The owned loop: one check per burst of requests; a failed check is logged and the
        next request tries again."""
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self.debounce)
            self._wanted.clear()
            local, self._local = self._local, False
            try:
                await self.check_now(local=local)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the self-check failed; it runs again at the next update")

    async def wait_runs(self, n: int) -> None:
        """Until `n` checks have completed (tests)."""
        async with self._done:
            await self._done.wait_for(lambda: self.runs >= n)

    async def check_now(self, *, local: bool = False) -> list[Finding]:
        facts = await self.read_facts()
        findings = check_discord(self.settings, facts)
        if local:
            lf = await local_facts(self.settings, self.environ, bind=False)
            self._last_local = check_local(self.settings, lf)
        findings.extend(self._last_local)
        self.findings = findings
        problems = [f for f in findings if not f.ok]
        self.on_problems(problems)
        await self._tell(problems)
        ok_channels = {f.channel_id for f in findings if f.channel_id and f.ok}
        ok_channels -= {f.channel_id for f in problems if f.channel_id}
        if ok_channels:
            await self.on_channels_ok(ok_channels)
        async with self._done:
            self.runs += 1
            self._done.notify_all()
        return findings

    async def _tell(self, problems: list[Finding]) -> None:
        told = set(await self.state.get_json(STATE_TOLD, []) or [])
        current = {f.key for f in problems}
        for finding in problems:
            if finding.key not in self._logged:  # once per process: the log after a restart
                self._logged.add(finding.key)
                log.warning(
                    "set-up problem: %s: %s; fix: %s", finding.check, finding.problem, finding.fix
                )
            if finding.key in told:
                continue
            try:
                await self.alert(finding)
            except Exception as exc:  # the log and /healthz still say it; try next time
                log.error("could not tell the organisers about %s: %s", finding.check, exc)
                continue
            told.add(finding.key)
        self._logged &= current
        for key in told - current:
            log.info("set-up problem resolved: %s", key.replace("|", ": ", 1))
        await self.state.set_json(STATE_TOLD, sorted(told & current))
