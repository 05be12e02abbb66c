"""GitHub push webhook receiver, /healthz and /readyz, on aiohttp.

`/healthz` is "is all well": 200 when it is, 503 with the reasons when not (a post overdue or
stuck, a refusal, the gateway down), so a supervisor reads the status alone. `/readyz` is
"is this process the one serving": 503 while it starts and on a standby. README, "Running
it for real", says which a supervisor should use for what.

The order of checks is the point: size first (without reading an oversized body), then the
HMAC signature over the raw bytes, and only then is anything parsed or acted on. A push to the
content branch only *requests* a pull (ContentSync coalesces them), so replays and duplicate
deliveries are harmless and the response never waits for git.

Discord-free: nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from bot.config import ConfigError, parse_listen

log = logging.getLogger("amabot.webhook")

MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0
_CHUNK = 64 * 1024
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")

BranchSource = str | Callable[[], Awaitable[str | None] | str | None]
PushHandler = Callable[[dict[str, Any]], Awaitable[None] | None]
HealthSource = Callable[[], Awaitable[dict[str, Any]]]
# `{"ready": bool, "reasons": [...]}`: whether this process is serving, and why not.
ReadySource = Callable[[], dict[str, Any]]


def sign(body: bytes, secret: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None, secret: bytes) -> bool:
    if not header:
        return False
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, match.group(1).lower().encode("ascii"))


def _loggable(value: str | None, limit: int = 64) -> str:
    # Header values come from strangers: keep them short and on one line in the log.
    if value is None:
        return "-"
    return repr(value[:limit])


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _json(data: object, *, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, default=_json_default),
        status=status,
        content_type="application/json",
    )


def _refuse(status: int, message: str) -> web.Response:
    resp = _json({"error": message}, status=status)
    resp.force_close()  # no keep-alive after a refusal
    return resp


async def _refuse_and_hang_up(request: web.Request, status: int, message: str) -> web.Response:
    # aiohttp would otherwise linger, reading whatever the client still trickles in; a client
    # that is too slow to send its body has no claim on that time.
    resp = _refuse(status, message)
    await resp.prepare(request)
    await resp.write_eof()
    if request.transport is not None:
        request.transport.close()  # flushes the response, then closes
    return resp


class _TooLarge(Exception):
    pass


async def _read_capped(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)


def _payload(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The JSON object GitHub sent, as JSON or as the form-encoded `payload` field."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            text = fields.get("payload", [None])[0]
            if text is None:
                return None
            data = json.loads(text)
        else:
            data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def make_webhook_app(
    *,
    secret: bytes,
    branch: BranchSource,
    on_push: PushHandler,
    health: HealthSource,
    ready: ReadySource | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] | None = None,
    max_body: int = MAX_BODY,
    read_timeout: float = READ_TIMEOUT,
) -> web.Application:
    """`POST /github` (signed GitHub webhooks), `GET /healthz` and `GET /readyz`.

    `health()` is served with 503 when its `ok` is false; `ready()` (default: ready once
    serving at all) with 503 when its `ready` is false.

    `branch` is the content branch, or a callable returning it (looked up per delivery).
    `on_push(payload)` is called for a push to that branch; if it returns an awaitable, that
    runs in the background so the response does not wait for it.
    """
    if not secret:
        raise ConfigError(
            "the webhook needs a secret: set the environment variable it names",
            key="webhook.secret_env",
        )
    receiver = _Receiver(bytes(secret), branch, on_push, health, max_body, read_timeout)
    app = web.Application(client_max_size=max_body)
    app.router.add_post("/github", receiver.github)
    app.router.add_get("/healthz", receiver.healthz)
    app.router.add_get("/readyz", _readyz(ready or _always_ready))
    if extra_routes:
        app.router.add_routes(list(extra_routes))
    app.on_cleanup.append(receiver.cancel_background)
    return app


def _always_ready() -> dict[str, Any]:
    return {"ready": True, "reasons": []}


def _readyz(ready: ReadySource) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def readyz(request: web.Request) -> web.Response:
        data = ready()
        return _json(data, status=200 if data.get("ready") else 503)

    return readyz


class _Receiver:
    """The two routes' handlers, and the push handlers still running in the background."""

    def __init__(
        self,
        secret: bytes,
        branch: BranchSource,
        on_push: PushHandler,
        health: HealthSource,
        max_body: int,
        read_timeout: float,
    ):
        self.secret = secret
        self.branch = branch
        self.on_push = on_push
        self.health = health
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.background: set[asyncio.Task[Any]] = set()

    async def content_branch(self) -> str | None:
        if isinstance(self.branch, str):
            return self.branch
        value = self.branch()
        if inspect.isawaitable(value):
            value = await value
        return value

    def run_in_background(self, awaitable: Awaitable[Any], delivery: str) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("push handler failed (delivery %s)", delivery)

        task = asyncio.ensure_future(guarded())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def read_body(self, request: web.Request, peer: str) -> bytes | web.Response:
        """The raw body, or the refusal: too large (413) or too slow (408), hung up on."""
        length = request.content_length
        if length is not None and length > self.max_body:
            log.warning("webhook from %s refused: body of %d bytes is too large", peer, length)
            return await _refuse_and_hang_up(request, 413, "body too large")
        try:
            async with asyncio.timeout(self.read_timeout):
                return await _read_capped(request, self.max_body)
        except _TooLarge:
            log.warning("webhook from %s refused: body over %d bytes", peer, self.max_body)
            return await _refuse_and_hang_up(request, 413, "body too large")
        except TimeoutError:
            log.warning(
                "webhook from %s refused: body not received within %gs", peer, self.read_timeout
            )
            return await _refuse_and_hang_up(request, 408, "body not received in time")

    async def github(self, request: web.Request) -> web.Response:
        delivery = _loggable(request.headers.get("X-GitHub-Delivery"))
        peer = request.remote or "-"
        body = await self.read_body(request, peer)
        if isinstance(body, web.Response):
            return body
        if not signature_valid(body, request.headers.get("X-Hub-Signature-256"), self.secret):
            log.warning(
                "webhook from %s refused: missing or wrong signature (delivery %s)", peer, delivery
            )
            return _refuse(401, "bad signature")

        event = request.headers.get("X-GitHub-Event", "")
        payload = _payload(body, request.content_type)
        if payload is None:
            log.warning(
                "signed webhook %s (%s) had no JSON object body", delivery, _loggable(event)
            )
            return _json({"error": "body is not a JSON object"}, status=400)
        if event == "ping":
            log.info("webhook ping (delivery %s)", delivery)
            return _json({"ok": True})
        if event != "push":
            return _json({"ignored": f"event {event[:64]!r} is not handled"}, status=202)
        return await self.push(payload, delivery)

    async def push(self, payload: dict[str, Any], delivery: str) -> web.Response:
        """A signed push: a pull is requested when it is to the content branch."""
        ref = payload.get("ref")
        wanted = await self.content_branch()
        if wanted is not None and ref != f"refs/heads/{wanted}":
            shown = ref[:200] if isinstance(ref, str) else ref
            return _json({"ignored": f"push to {shown!r}, not refs/heads/{wanted}"}, status=202)
        if payload.get("deleted") is True:
            return _json({"ignored": "branch deleted"}, status=202)

        after = payload.get("after")
        after = after[:40] if isinstance(after, str) else None
        log.info("webhook push to %s at %s (delivery %s)", ref, after, delivery)
        try:
            outcome = self.on_push(payload)
        except Exception:
            log.exception("push handler failed (delivery %s)", delivery)
            return _json({"error": "internal error"}, status=500)
        if inspect.isawaitable(outcome):
            self.run_in_background(outcome, delivery)
        return _json({"accepted": True, "ref": ref, "after": after}, status=202)

    async def healthz(self, request: web.Request) -> web.Response:
        try:
            data = await self.health()
        except Exception:
            log.exception("health report failed")
            return _json({"ok": False, "error": "health report failed"}, status=500)
        return _json(data, status=503 if data.get("ok") is False else 200)

    async def cancel_background(self, app: web.Application) -> None:
        for task in list(self.background):
            task.cancel()
        for task in list(self.background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class WebhookServer:
    """Serves an app on `listen` ("host:port"; port 0 picks a free one).

    `idle_timeout` closes connections that have not completed a request's headers (or sit
    idle between requests) in that time, so header tricklers don't pile up; aiohttp's
    default would hold them for an hour.
    """

    def __init__(
        self,
        app: web.Application,
        listen: str,
        *,
        idle_timeout: float = 15.0,
        shutdown_timeout: float = 2.0,
    ):
        self.app = app
        try:
            self.host, self._requested_port = parse_listen(listen)
        except ValueError as exc:
            raise ConfigError(str(exc), key="webhook.listen") from None
        self._idle_timeout = idle_timeout
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("webhook server not started")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=self._shutdown_timeout,
            keepalive_timeout=self._idle_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror or exc}",
                key="webhook.listen",
            ) from exc
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("webhook receiver listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
