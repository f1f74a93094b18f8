"""The dashboard: ``GET /dashboard`` serves one self-contained page, ``GET /`` redirects to it.

The page (``static/dashboard.html``: HTML, inline CSS and JS, nothing fetched from elsewhere)
holds no data. It polls ``/api/system/status`` itself, with the client token the operator enters
when the proxy requires one, so both routes are open (``auth.OPEN_PATHS``); admin actions go to
``/api/keys`` with the admin token. Tokens stay in the browser tab's ``sessionStorage``.

The file is read once, at import. Its inline script and style are allowed by their SHA-256 in a
strict Content-Security-Policy (no other script, style, frame, form target or origin to connect
to; Trusted Types on, so an HTML sink used by mistake in the page's script throws). It is served
with ``Cache-Control: no-cache`` and an ``ETag``: a browser revalidates it on every load and
gets a 304 while it has not changed (a new version of the proxy brings a new page).
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

__all__ = ["PAGE", "routes"]


class Page:
    """An HTML page with inline ``<script>`` and ``<style>`` blocks, and the headers it is served with."""

    __slots__ = ("body", "etag", "headers")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        text = body.decode()
        scripts = _inline_hashes(text, "script")
        styles = _inline_hashes(text, "style")
        policy = "; ".join(
            [
                "default-src 'none'",
                f"script-src {scripts}",
                f"style-src {styles}",
                "connect-src 'self'",
                "img-src data:",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
                "require-trusted-types-for 'script'",
                "trusted-types 'none'",
            ]
        )
        self.headers = {
            "content-security-policy": policy,
            "cache-control": "no-cache",
            "etag": self.etag,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            "cross-origin-opener-policy": "same-origin",
        }


def _inline_hashes(html: str, tag: str) -> str:
    """The CSP source list allowing exactly the page's inline ``<tag>`` blocks, by hash."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    if not blocks or re.search(rf"<{tag}\s[^>]*>", html):
        raise RuntimeError(f"dashboard.html: expected inline <{tag}> blocks without attributes")
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


PAGE = Page(files("gemini_proxy.api").joinpath("static/dashboard.html").read_bytes())


async def dashboard(request: Request) -> Response:
    if PAGE.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=PAGE.headers)
    return Response(PAGE.body, headers=PAGE.headers, media_type="text/html; charset=utf-8")


async def root(request: Request) -> Response:
    # Relative, so that it still lands on the page behind a reverse proxy that adds a path prefix.
    return RedirectResponse("dashboard", status_code=302)


routes = [
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/", root, methods=["GET"]),
]
