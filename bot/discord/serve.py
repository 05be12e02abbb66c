"""`amabot run`: connect, serve until SIGINT/SIGTERM, shut down cleanly. A connection that
fails is tried again inside the process with backoff (each try a new `AmaBot`); only a
refused token (or intents, or a config error) ends it with an exit status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Iterator

import discord

from bot.config import ConfigError, Settings, discord_token
from bot.discord.app import AmaBot
from bot.discord.lease import STEPPED_DOWN
from bot.logsetup import configure_logging

log = logging.getLogger("amabot")

FIRST_RETRY = 2.0
MAX_RETRY = 300.0


def retry_delays(first: float = FIRST_RETRY, cap: float = MAX_RETRY) -> Iterator[float]:
    """2, 4, 8 ... 300 s, each with up to a fifth of jitter: a restart-always supervisor would
    otherwise spend one IDENTIFY per start (Discord resets the token at 1,000 a day)."""
    delay = first
    while True:
        yield delay * (1 + secrets.randbelow(200) / 1000)
        delay = min(delay * 2, cap)


class _Retry(Exception):
    """This attempt ended on something worth another try (the network, Discord's side)."""


async def _run(
    settings: Settings, token: str, *, ready_timeout: float, first_retry: float = FIRST_RETRY
) -> int:
    """Serve until stopped. A connection that fails is tried again inside the process, with
    backoff; only a refused token (or intents, or a config error) ends it with a status."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def request_stop(signame: str) -> None:
        if not stopping.is_set():
            log.info("%s received; shutting down", signame)
            stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, request_stop, sig.name)

    delays = retry_delays(first_retry)
    status = 0
    while not stopping.is_set():
        try:
            status = await _serve_once(settings, token, stopping, ready_timeout=ready_timeout)
            break
        except _Retry:
            delay = next(delays)
            log.warning("trying again in %.0fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
    log.info("stopped")
    return status


async def _serve_once(
    settings: Settings, token: str, stopping: asyncio.Event, *, ready_timeout: float
) -> int:
    bot = AmaBot(settings)
    runner = asyncio.create_task(bot.start(token), name="amabot-discord")
    stopper = asyncio.create_task(stopping.wait(), name="amabot-stop")
    ready = asyncio.create_task(bot.wait_until_ready(), name="amabot-ready")
    try:
        done, _ = await asyncio.wait(
            {runner, stopper, ready}, timeout=ready_timeout, return_when="FIRST_COMPLETED"
        )
        while not done and bot.readiness.standby is not None:  # waiting for the lease
            done, _ = await asyncio.wait(
                {runner, stopper, ready}, timeout=ready_timeout, return_when="FIRST_COMPLETED"
            )
        if not done:
            # discord.py keeps reconnecting with its own backoff; starting over would only
            # spend another IDENTIFY.
            log.error(
                "could not reach the Discord gateway at %s within %.0fs; still trying",
                settings.discord.gateway_url,
                ready_timeout,
            )
            done, _ = await asyncio.wait({runner, stopper, ready}, return_when="FIRST_COMPLETED")
        if ready in done and runner not in done:
            log.info("connected to Discord as %s", bot.user)
            done, _ = await asyncio.wait({runner, stopper}, return_when="FIRST_COMPLETED")
        if bot.fatal is not None:
            log.error("amabot stopped: %s", bot.fatal)
            return STEPPED_DOWN if bot.lease.lost is not None else 1
        if runner in done:
            return _runner_status(
                runner, settings, logged_in=bot.user is not None, connected=bot.ws is not None
            )
        return 0
    finally:
        await bot.close()
        for task in (runner, stopper, ready):
            task.cancel()
        await asyncio.gather(runner, stopper, ready, return_exceptions=True)


def _runner_status(
    runner: asyncio.Task[None], settings: Settings, *, logged_in: bool, connected: bool
) -> int:
    exc = runner.exception()
    if exc is None:
        return 0
    # Found while starting (e.g. the webhook port is taken); a cog's failure comes wrapped.
    config_error = getattr(exc, "original", exc)
    if isinstance(config_error, ConfigError):
        log.error("%s", config_error)
        return config_error.exit_code
    if isinstance(exc, discord.LoginFailure):
        log.error("Discord rejected the token in $%s", settings.discord.token_env)
        return 1
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        log.error("Discord refused the gateway intents: %s", exc)
        return 1
    if logged_in and not connected and _is_network(exc):
        # discord.py can trip over its own missing websocket after a failed first connect;
        # the cause underneath is what the operator needs.
        cause = exc if isinstance(exc, OSError) else (exc.__context__ or exc)
        log.error(
            "could not reach the Discord gateway at %s: %s", settings.discord.gateway_url, cause
        )
    elif _is_network(exc) or isinstance(exc, discord.DiscordServerError):
        log.error("could not connect to Discord (%s): %s", settings.discord.api_base, exc)
    else:
        log.error("the bot stopped on an unexpected error", exc_info=exc)
    raise _Retry from exc


def _is_network(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError | discord.GatewayNotFound | discord.ConnectionClosed):
            return True
        seen = seen.__context__
    return False


def run_bot(settings: Settings, *, ready_timeout: float | None = None) -> int:
    """`amabot run`: connect, serve until SIGINT/SIGTERM, shut down cleanly."""
    configure_logging()
    # Voice is never used; discord.py would warn about its missing libraries on every start.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    token = discord_token(settings, os.environ)  # ConfigError -> exit 2 in the CLI
    timeout = settings.discord.connect_timeout if ready_timeout is None else ready_timeout
    return asyncio.run(_run(settings, token, ready_timeout=timeout))
