"""``GET /calendar.ics``: the subscribable feed, as an aiohttp route for the webhook server."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web

FeedSource = Callable[[], Awaitable[bytes]]


def calendar_route(get_feed: FeedSource, path: str = "/calendar.ics") -> web.RouteDef:
    """``GET /calendar.ics`` for `make_webhook_app(extra_routes=[...])`.

    `get_feed` builds the feed bytes (typically: hashes -> store sequences -> `feed_ics`).
    An ETag lets subscribers poll cheaply.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await get_feed()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body,
            content_type="text/calendar",
            charset="utf-8",
            headers={"ETag": etag, "Cache-Control": "max-age=300"},
        )

    return web.get(path, handler)
