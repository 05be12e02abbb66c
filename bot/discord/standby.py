"""A standby (issue 22): a second `amabot run` on a database whose lease another process holds
waits for it instead of exiting.

It is logged in over REST only (the wait happens in `setup_hook`, which discord.py runs inside
`login()`, before `connect()`): no gateway session, no sends, no writes. It says so in the log
(who holds the lease, until when) and on `/readyz` (503, "standby: ..."), and polls the lease
every second: it takes it when the leader resigns (a clean stop releases the lease: within a
second), or when it expires (a leader killed, paused or cut off: within the ttl and a second).
Then the normal start-up follows, the outbox's adoption included (rows left in `sending` are
looked up in Discord's history before any resend, as after a crash).

Standing by is the default on PostgreSQL; on SQLite (one host) only with `[storage] standby =
true`, else a second run is refused as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.config import Settings, webhook_secret
from bot.store.interface import LeaseInfo
from bot.web.webhook import WebhookServer, make_webhook_app

log = logging.getLogger("amabot")

POLL = 1.0  # seconds between two looks at the lease
_SERVER_DATABASES = ("postgresql://", "postgres://")


def standby_allowed(settings: Settings) -> bool:
    """Whether a second `amabot run` stands by (True) or is refused (False): `[storage]
    standby` when set, else the backend's default (a database server: yes; SQLite: no)."""
    chosen: bool | None = getattr(settings.storage, "standby", None)
    if chosen is not None:
        return chosen
    return str(settings.storage.database).startswith(_SERVER_DATABASES)


class Standby:
    """The waiting side of `LeaseKeeper.take`: tells who holds the lease, answers `/readyz`
    (and `/healthz`) while waiting when `[webhook] listen` is set, paces the polls."""

    def __init__(
        self,
        settings: Settings,
        readiness: Any,
        *,
        secret: bytes = b"",
        poll: float = POLL,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.readiness = readiness  # bot.discord.app.Readiness: its `standby` hook
        self.secret = secret
        self.poll = poll
        self.monotonic = monotonic
        self.since: float | None = None
        self.seen: LeaseInfo | None = None
        self._server: WebhookServer | None = None

    async def wait(self, held: LeaseInfo) -> None:
        """One poll's wait, `held` being who holds the lease now."""
        if self.seen is None or self.seen.holder != held.holder or self.seen.term != held.term:
            log.info(
                "standing by: the lease on %s is held by %s (term %d, until %s unless "
                "renewed); taking over when it is released or expires",
                self.settings.storage.database,
                held.holder,
                held.term,
                held.expires_at.isoformat(timespec="seconds"),
            )
        if self.since is None:
            self.since = self.monotonic()
            await self._serve_readiness()
        self.seen = held
        self.readiness.standby = f"the lease is held by {held.holder} (term {held.term})"
        await asyncio.sleep(self.poll)

    async def promoted(self, term: int) -> None:
        """The lease is ours: the waiting ends, the normal start-up follows."""
        if self.since is not None:
            log.info(
                "took over the lease (term %d) after standing by for %.1fs; starting",
                term,
                self.monotonic() - self.since,
            )
        self.readiness.standby = None
        await self.stop()

    async def _serve_readiness(self) -> None:
        """`/readyz` says standby (503) and `/healthz` ok while waiting; the leader's full
        receiver takes the port over at promotion. A push now is for the leader to pull."""
        listen = self.settings.webhook.listen
        if not listen or not self.secret:
            return
        readiness = self.readiness

        async def health() -> dict[str, Any]:
            return {"ok": True, "standby": readiness.standby}

        app = make_webhook_app(
            secret=self.secret,
            branch=self.settings.content.branch or "",
            on_push=lambda _payload: None,
            health=health,
            ready=readiness.report,
        )
        server = WebhookServer(app, listen)
        try:
            await server.start()
        except OSError as exc:  # the leader's port on this host: it answers for both
            log.warning("standby: not serving /readyz on %s: %s", listen, exc)
            return
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.stop()
            self._server = None


def standby_for(bot: Any) -> Standby | None:
    """The AmaBot's standby when a second run may stand by (`standby_allowed`), else None."""
    settings = bot.settings
    if not standby_allowed(settings):
        return None
    secret = webhook_secret(settings, bot.environ) if settings.webhook.listen else b""
    return Standby(settings, bot.readiness, secret=secret)
