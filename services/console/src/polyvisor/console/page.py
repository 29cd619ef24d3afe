"""The console proxy's page: noVNC on the proxy's own WebSocket, for a browser given only an
address (the api's page_url; what `openstack console url show` prints).

    GET /vnc.html?server_id=ID&token=TOKEN    the page (static: its script reads the query)
    GET /static/vnc.js, /static/vnc.css       its script and style
    GET /static/novnc/...                     noVNC (polyvisor.common.novnc, the dashboard's too)

The page loads nothing from another origin (its Content-Security-Policy says so) and opens
/websockify beside it, so its WebSocket's Origin is the proxy's own, which the proxy accepts
whatever POLYVISOR_ALLOWED_ORIGINS lists (ConsoleProxy.websockify). Serving the page redeems
nothing: the token is spent by the WebSocket, once.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aiohttp import web

from polyvisor.common.novnc import novnc_dir

__all__ = ["add_page"]

STATIC = Path(str(files("polyvisor.console") / "static"))
PAGE = "/vnc.html"
#: 'self' covers the page's own ws:// and wss:// origin (CSP level 3).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the address carries the token
    "X-Content-Type-Options": "nosniff",
}


def add_page(app: web.Application) -> None:
    novnc = novnc_dir()
    html = (STATIC / "vnc.html").read_text()

    async def page(request: web.Request) -> web.Response:
        if novnc is None:
            raise web.HTTPServiceUnavailable(
                text="this console proxy has no noVNC (run scripts/vendor-web)\n"
            )
        if not request.query.get("server_id") or not request.query.get("token"):
            raise web.HTTPBadRequest(text="the console page needs server_id and token\n")
        return web.Response(text=html, content_type="text/html", headers=HEADERS)

    app.router.add_get(PAGE, page)
    if novnc is not None:
        app.router.add_static("/static/novnc/", novnc, follow_symlinks=False)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
