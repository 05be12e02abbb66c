"""``GET /ama/<series>/<episode>/screen``: the AMA's question on air, large, for a host's
browser source (OBS), as Slido's presenter view: who asked (as members see it), the next few
by votes. ``/ama/<episode>/screen`` (no series: the URL of before several series) is the
first series' AMA.

The page polls its own address + ``.json`` every second (plain JavaScript, no framework),
so a click on the host board shows within 2 s without a reload. ``?transparent=1`` drops the
background for an overlay. Read-only, behind its own token (`[webhook] screen_token_env`).
The data comes from the caller (bot/services/ama_screen.py); bot/web imports no service.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable
from typing import Any, Protocol

from aiohttp import web

from bot.web.pages import authorised, page_headers, refused


class ScreenSource(Protocol):
    """An episode's AMA (of `series`; no series: the first series') -> the screen's data,
    or None when there is no such AMA."""

    def __call__(
        self, episode: str, series: str | None = None
    ) -> Awaitable[dict[str, Any] | None]: ...


POLL_MS = 1000

_STYLE = """
html, body { margin: 0; height: 100%; }
body { font-family: system-ui, sans-serif; color: #fff; background: #111;
  display: flex; flex-direction: column; padding: 4vh 5vw; box-sizing: border-box; }
body.transparent { background: transparent; text-shadow: 0 0 6px #000, 0 0 2px #000; }
#title { font-size: 2.4vh; opacity: .7; margin: 0 0 2vh; }
#on-air { flex: 1; display: flex; flex-direction: column; justify-content: center; }
#on-air-text { font-size: 6vh; line-height: 1.2; font-weight: 600; margin: 0; }
#on-air-by { font-size: 3vh; opacity: .8; margin: 2vh 0 0; }
#on-air.empty #on-air-text { opacity: .5; font-weight: 400; }
#next-heading { font-size: 2.4vh; opacity: .7; margin: 2vh 0 1vh; }
#next { list-style: none; padding: 0; margin: 0; font-size: 2.8vh; }
#next li { margin: .6vh 0; }
#next .by, #next .votes { opacity: .7; font-size: .8em; }
"""

_SCRIPT = """
(function () {
  var url = location.pathname + ".json" + location.search;
  function put(id, text) { document.getElementById(id).textContent = text; }
  function votes(n) { return n === 1 ? "1 vote" : n + " votes"; }
  function show(d) {
    put("title", d.title);
    var box = document.getElementById("on-air");
    if (d.on_air) {
      box.className = "";
      box.dataset.question = String(d.on_air.id);
      put("on-air-text", d.on_air.text);
      put("on-air-by", "asked by " + d.on_air.asked_by + " \\u00b7 " + votes(d.on_air.votes));
    } else {
      box.className = "empty";
      box.dataset.question = "";
      put("on-air-text", "No question on air yet");
      put("on-air-by", "");
    }
    var list = document.getElementById("next");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    d.next.forEach(function (q) {
      var li = document.createElement("li");
      li.dataset.question = String(q.id);
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = q.text;
      var by = document.createElement("span");
      by.className = "by";
      by.textContent = " \\u2014 " + q.asked_by + " \\u00b7 ";
      var n = document.createElement("span");
      n.className = "votes";
      n.textContent = votes(q.votes);
      li.appendChild(text); li.appendChild(by); li.appendChild(n);
      list.appendChild(li);
    });
    document.getElementById("next-heading").hidden = d.next.length === 0;
  }
  function poll() {
    fetch(url, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { show(d); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  show(JSON.parse(document.getElementById("initial").textContent));
  setTimeout(poll, POLL_MS);
})();
""".replace("POLL_MS", str(POLL_MS))

_HEADERS = page_headers(scripts=(_SCRIPT,), styles=(_STYLE,))


def _page(data: dict[str, Any], transparent: bool) -> str:
    # JSON inside <script>: no "<" at all ("</script>" would end the element, "<!--" change
    # how it is read); JSON.parse reads the escape back.
    initial = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    body_class = ' class="transparent"' if transparent else ""
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>AMA: {html.escape(data['title'])}</title><style>{_STYLE}</style></head>"
        f"<body{body_class}><p id=title></p>"
        '<div id=on-air><p id="on-air-text"></p><p id="on-air-by"></p></div>'
        '<p id="next-heading">Next</p><ol id=next></ol>'
        f'<script type="application/json" id=initial>{initial}</script>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def screen_routes(view: ScreenSource, token: str) -> list[web.RouteDef]:
    """The page and its data, for `make_webhook_app(extra_routes=[...])`; only when a token
    is configured (without one the page is off: 404)."""

    async def data(request: web.Request) -> dict[str, Any] | web.Response:
        if not authorised(request, token):
            return refused()
        episode, series = request.match_info["episode"], request.match_info.get("series")
        found = await (view(episode) if series is None else view(episode, series=series))
        if found is None:
            return web.Response(status=404, text="404: no AMA for this episode\n")
        return found

    async def page(request: web.Request) -> web.Response:
        found = await data(request)
        if isinstance(found, web.Response):
            return found
        transparent = request.query.get("transparent", "") in ("1", "true", "yes")
        return web.Response(
            text=_page(found, transparent), content_type="text/html", headers=_HEADERS
        )

    async def as_json(request: web.Request) -> web.Response:
        found = await data(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(found, headers={"Cache-Control": "no-store"})

    return [
        web.get("/ama/{episode}/screen", page),
        web.get("/ama/{episode}/screen.json", as_json),
        web.get("/ama/{series}/{episode}/screen", page),
        web.get("/ama/{series}/{episode}/screen.json", as_json),
    ]
