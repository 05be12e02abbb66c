"""One bot process per database: the lease taken before anything touches the outbox, renewed
every third of its time, released on close. A second `amabot run` on the same database exits
with status 2 and changes nothing; a holder on this host whose process is gone is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from bot.clock import Clock
from bot.config import ConfigError, Settings

log = logging.getLogger("amabot")


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


class LeaseKeeper:
    """Takes the database's lease for this process and keeps it; `on_lost(reason)` is told
    when it is lost (another process took it) or the keeper dies: the bot stops at once."""

    def __init__(self, settings: Settings, clock: Clock, on_lost: Callable[[str], None]):
        self.settings = settings
        self.clock = clock
        self.on_lost = on_lost
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._leases: Any = None  # the store's leases, once taken
        self._task: asyncio.Task[None] | None = None

    async def take(self, leases: Any) -> None:
        """Take the lease, or raise AnotherInstance (the caller closes the store)."""
        ttl = self.settings.storage.lease_ttl
        if not await leases.take(self.holder, self.clock(), ttl):
            held = await leases.get()
            dead = held is not None and _holder_is_dead(held.holder)
            if not dead or not await leases.take(
                self.holder, self.clock(), ttl, replacing=held.holder
            ):
                raise AnotherInstance(
                    f"another amabot ({held.holder if held else '?'}) is running on "
                    f"{self.settings.storage.database} (its lease runs until "
                    f"{held.expires_at.isoformat() if held else '?'}); not starting a second "
                    "one. Nothing was changed."
                )
            log.warning("took over the lease of %s, whose process is gone", held.holder)
        self._leases = leases
        self._task = asyncio.create_task(self._keep_lease(), name="amabot-lease")

    async def _keep_lease(self) -> None:
        """Renew the lease every third of its time; losing it stops the bot at once."""
        ttl = self.settings.storage.lease_ttl
        try:
            while True:
                await asyncio.sleep(ttl.total_seconds() / 3)
                try:
                    ours = await self._leases.renew(self.holder, self.clock(), ttl)
                except Exception:
                    log.exception("could not renew the lease; trying again")
                    continue
                if not ours:
                    self.on_lost("the database lease was taken by another amabot process")
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the lease keeper died")
            self.on_lost("the lease keeper died")

    @property
    def held(self) -> bool:
        """Taken and still being renewed (lost or stopped: False)."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop renewing (the lease itself is released with `release`)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def release(self, leases: Any) -> None:
        """Only ever our own: a lease another process took over is left alone."""
        with contextlib.suppress(Exception):
            await leases.release(self.holder)
