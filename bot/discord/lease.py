"""One leader per database: the lease taken before anything touches the outbox, renewed every
third of its time, released on close (issue 14), with a term that fences every write and a
local deadline that stops sends (issue 22).

Without a standby (SQLite's default) a second `amabot run` on the same database exits with
status 2 and changes nothing; a holder on this host whose process is gone is replaced. With
one (bot/discord/standby.py) the second process waits for the lease instead.

Once taken, the store is fenced with (holder, term): a write after another process took the
lease is refused by the database itself. Sends cannot be fenced by Discord, so the leader also
keeps a deadline by the monotonic clock, as River does: the start of its last successful
renewal + ttl − margin. Past it, no send starts until a renewal succeeds. A renewal that finds
the lease gone, or any write refused as fenced out, makes the leader step down: the bot stops
(gateway closed, delivery and wake-ups stopped) and exits with STEPPED_DOWN, so its supervisor
starts it again, as a standby. A fresh process rather than a standby in the same one: nothing
the old leader had in flight (a wake-up, a send waiting on a lock) can outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.store.interface import FencedOut, LeaseInfo, Store

if TYPE_CHECKING:
    from bot.discord.standby import Standby

log = logging.getLogger("amabot")

# The exit status of a leader that lost its lease and stepped down (1: a fault, 2: refused).
STEPPED_DOWN = 3
# Renewals retried this often after a failed one (the database was unreachable).
RETRY_RENEW = 1.0


class AnotherInstance(ConfigError):
    """Another `amabot run` holds the database's lease (exit status 2, nothing changed)."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.key = "storage.database"
        self.file = None


def _holder_is_dead(holder: str) -> bool:
    """A lease holder ("host:pid:tag") on this host whose process no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def safety_margin(ttl: timedelta) -> float:
    """Seconds before the lease's expiry at which the leader stops trusting itself: a fifth
    of the ttl, for the renewal's own round trip and clock drift between hosts."""
    return ttl.total_seconds() / 5


class LeaseKeeper:
    """Takes the database's lease for this process (waiting for it on a standby), fences the
    store with its term and keeps it; `on_lost(reason)` is told when it is lost (another
    process took it, a write was fenced out) or the keeper dies: the bot stops at once."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        on_lost: Callable[[str], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.clock = clock
        self.on_lost = on_lost
        self.monotonic = monotonic
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.term = 0  # the lease's term while this process holds it
        self.lost: str | None = None  # why this process stepped down
        self._deadline = 0.0  # monotonic; sends stop past it until a renewal succeeds
        self._leases: Any = None  # the store's leases, once taken
        self._task: asyncio.Task[None] | None = None
        self._stepping_down: asyncio.Task[None] | None = None
        self._stepping = False

    async def take(self, store: Store, standby: Standby | None = None) -> None:
        """Take the lease and fence `store` with its term. Held by another live process:
        without `standby`, raise AnotherInstance (the caller closes the store); with one,
        wait there until the lease is free or expired."""
        leases = store.leases
        ttl = self.settings.storage.lease_ttl
        while True:
            started = self.monotonic()
            if await leases.take(self.holder, self.clock(), ttl):
                break
            held = await leases.get()
            if held is None:  # released between the two reads
                continue
            dead = _holder_is_dead(held.holder)
            if dead and await leases.take(self.holder, self.clock(), ttl, replacing=held.holder):
                log.warning("took over the lease of %s, whose process is gone", held.holder)
                break
            if standby is None:
                raise AnotherInstance(
                    f"another amabot ({held.holder}) is running on "
                    f"{self.settings.storage.database} (its lease runs until "
                    f"{held.expires_at.isoformat()}); not starting a second one. "
                    "Nothing was changed."
                )
            await standby.wait(held)
        info = await leases.get()
        self.term = info.term if info is not None and info.holder == self.holder else 0
        self._deadline = started + ttl.total_seconds() - safety_margin(ttl)
        store.fence(self.holder, self.term, self.fenced_out)
        log.info("holding the lease as %s (term %d)", self.holder, self.term)
        if standby is not None:
            await standby.promoted(self.term)
        self._leases = leases
        self._task = asyncio.create_task(self._keep_lease(), name="amabot-lease")

    async def _keep_lease(self) -> None:
        """Renew the lease every third of its time (every second after a failed try); losing
        it steps down at once."""
        ttl = self.settings.storage.lease_ttl
        pause = ttl.total_seconds() / 3
        try:
            while True:
                await asyncio.sleep(pause)
                try:
                    ours = await self.renew()
                except Exception:
                    log.exception("could not renew the lease; trying again")
                    pause = RETRY_RENEW
                    continue
                if not ours:
                    return
                pause = ttl.total_seconds() / 3
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the lease keeper died")
            self.lost = self.lost or "the lease keeper died"
            self.on_lost("the lease keeper died")

    async def renew(self) -> bool:
        """Renew now: True and a new deadline (from this attempt's start, as River does), or
        False and step down (another process holds the lease). A database error raises."""
        ttl = self.settings.storage.lease_ttl
        started = self.monotonic()
        if not await self._leases.renew(self.holder, self.clock(), ttl):
            await self._step_down()
            return False
        self._deadline = started + ttl.total_seconds() - safety_margin(ttl)
        return True

    async def _step_down(self) -> None:
        if self._stepping:
            return
        self._stepping = True
        held: LeaseInfo | None = None
        with contextlib.suppress(Exception):
            held = await self._leases.get()
        to = f"{held.holder} (term {self.term} → {held.term})" if held else "nobody"
        self.lost = f"lost the lease to {to}"
        log.critical("lost the lease to %s; stepping down", to)
        self.on_lost(self.lost)

    # -- the guard delivery asks before each send (bot/services/delivery.py) --------------

    def may_send(self) -> str | None:
        """None while this process may start a send; otherwise why not."""
        if self.lost is not None:
            return self.lost
        if self._task is None:
            return "the lease is not held"
        if self.monotonic() >= self._deadline:
            return "the lease was not renewed in time; not trusting it until it is"
        return None

    def fenced_out(self, error: FencedOut) -> None:
        """A write was refused: another process holds the lease now. Step down at once,
        rather than at the next renewal. The store tells us of every refused write (whoever
        made it: delivery, reconcile, the content sync, a command, the AMA)."""
        if self.lost is None:
            log.error("a write was fenced out: %s", error)
            self.lost = "a write was fenced out"  # no send from now on
        if self._stepping_down is None and not self._stepping and self._leases is not None:
            self._stepping_down = asyncio.get_running_loop().create_task(
                self._step_down(), name="amabot-step-down"
            )

    @property
    def held(self) -> bool:
        """Taken and still being renewed (lost or stopped: False)."""
        return self._task is not None and not self._task.done() and self.lost is None

    async def stop(self) -> None:
        """Stop renewing (the lease itself is released with `release`)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def release(self, leases: Any) -> None:
        """Only ever our own: a lease another process took over is left alone. A standby
        polling the lease takes it within a second (the leader resigns)."""
        with contextlib.suppress(Exception):
            await leases.release(self.holder)
