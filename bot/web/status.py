"""``GET /status``: the organisers' status page, plain server-rendered HTML readable on a
phone (no script at all). It lays out the data it is handed (bot/services/status.py builds
it: a title, facts, and sections of rows whose cells are text or ``{"text", "href"}``);
every value is escaped. Read-only, behind its own token (`[webhook] status_token_env`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiohttp import web

from bot.web.pages import authorised, page_headers, refused

log = logging.getLogger("amabot.webhook")

StatusSource = Callable[[], Awaitable[dict[str, Any]]]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 60rem;
  color: #111; background: #fff; line-height: 1.4; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: break-word; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd;
  vertical-align: top; }
th { background: #f4f4f4; }
.empty { color: #666; }
@media (max-width: 40rem) {
  dl { grid-template-columns: 1fr; }
  dd { margin-bottom: .4rem; }
}
"""

_HEADERS = page_headers(styles=(_STYLE,))


def _cell(value: Any) -> str:
    if isinstance(value, dict) and value.get("href"):
        return f'<a href="{escape(str(value["href"]))}">{escape(str(value.get("text", "")))}</a>'
    return escape("" if value is None else str(value))


def render_status(data: dict[str, Any]) -> str:
    """The page for `data` (see the module's docstring)."""
    title = escape(str(data.get("title", "Status")))
    out = [
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1><dl>",
    ]
    for name, value in data.get("facts", []):
        out.append(f"<dt>{escape(str(name))}</dt><dd>{_cell(value)}</dd>")
    out.append("</dl>")
    for section in data.get("sections", []):
        sid = escape(str(section.get("id", "")))
        out.append(f'<section id="{sid}"><h2>{escape(str(section["heading"]))}</h2>')
        rows = section.get("rows", [])
        if not rows:
            out.append(f'<p class="empty">{escape(str(section.get("empty", "None.")))}</p>')
        else:
            out.append('<div class="scroll"><table><thead><tr>')
            out.extend(f"<th>{escape(str(c))}</th>" for c in section.get("columns", []))
            out.append("</tr></thead><tbody>")
            for row in rows:
                out.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table></div>")
        out.append("</section>")
    out.append("</body></html>\n")
    return "".join(out)


def status_route(view: StatusSource, token: str, path: str = "/status") -> web.RouteDef:
    """``GET /status`` for `make_webhook_app(extra_routes=[...])`; only when a token is
    configured (without one the page is off: 404)."""

    async def handler(request: web.Request) -> web.Response:
        if not authorised(request, token):
            return refused()
        try:
            data = await view()
        except Exception:
            log.exception("status page failed")
            return web.Response(status=500, text="status page failed\n")
        return web.Response(text=render_status(data), content_type="text/html", headers=_HEADERS)

    return web.get(path, handler)
