"""``GET /metrics``: Prometheus' text format, as an aiohttp route for the webhook server.

The metrics themselves are defined in bot/services/metrics.py; this only serves what its
`scrape` returns (bot/web imports no service: the app hands the route its scrape)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("amabot.webhook")

# Prometheus' text exposition format; the caller passes the library's own when it differs.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Scrape = Callable[[], Awaitable[bytes]]


def metrics_route(
    scrape: Scrape, *, content_type: str = CONTENT_TYPE, path: str = "/metrics"
) -> web.RouteDef:
    """``GET /metrics`` for `make_webhook_app(extra_routes=[...])`."""

    async def handler(request: web.Request) -> web.Response:
        try:
            body = await scrape()
        except Exception:
            log.exception("metrics scrape failed")
            return web.Response(status=500, text="metrics scrape failed\n")
        return web.Response(body=body, headers={"Content-Type": content_type})

    return web.get(path, handler)
