"""What the read-only pages share (`/status`, `/ama/<episode>/screen`): the token check and
the response headers of a page that holds a token in its address."""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web


def presented_token(request: web.Request) -> str:
    """The token a request carries: `?token=` (a browser source can send nothing else) or
    `Authorization: Bearer …`."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.query.get("token", "")


def authorised(request: web.Request, token: str) -> bool:
    return hmac.compare_digest(presented_token(request).encode(), token.encode())


def refused() -> web.Response:
    return web.Response(
        status=401,
        text="401: this page needs its token (?token=…)\n",
        headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
    )


def csp_hash(text: str) -> str:
    """A Content-Security-Policy source allowing exactly this inline script or style."""
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def page_headers(*, scripts: tuple[str, ...] = (), styles: tuple[str, ...] = ()) -> dict[str, str]:
    """No caching, no referrer (the address holds the token), nothing but our own inline
    script and style and requests back to us."""
    script_src = " ".join(csp_hash(s) for s in scripts) or "'none'"
    style_src = " ".join(csp_hash(s) for s in styles) or "'none'"
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {script_src}; style-src {style_src}; "
            "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        ),
    }
