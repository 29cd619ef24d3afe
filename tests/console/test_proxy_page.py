"""The console proxy's page (GET /vnc.html): noVNC served by the proxy itself, everything it
loads from the proxy's own origin, its WebSocket accepted from that origin even when
POLYVISOR_ALLOWED_ORIGINS names only the dashboard, and refused from any other. A real
browser opens it on a real guest in tests/dashboard/test_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from polyvisor.common.errors import Unauthenticated
from polyvisor.common.novnc import novnc_dir
from polyvisor.console.clients import Session
from polyvisor.console.page import CSP
from polyvisor.console.proxy import ConsoleProxy, make_app

DASHBOARD = "http://dashboard.example:8080"
IMPORT = re.compile(r"""(?:^|;|\n)\s*(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']""")
DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["']([^"']+)["']\s*\)""")  # the page's noVNC


class NoTokens:
    """The api with no console token to redeem."""

    async def redeem(self, token: str, server_id: str, user_token: str = "") -> Session:
        raise Unauthenticated("this console token is unknown, used or expired")


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    if novnc_dir() is None:
        pytest.fail("noVNC is not vendored: scripts/vendor-web (./dev runs it)")
    proxy = ConsoleProxy(NoTokens(), origins=frozenset({DASHBOARD}))  # type: ignore[arg-type]
    c = TestClient(TestServer(make_app(proxy)))
    await c.start_server()
    try:
        yield c
    finally:
        await c.close()


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


async def test_the_page_and_every_module_it_loads_come_from_the_proxy(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    page = "/vnc.html?server_id=s1&token=t1"
    resp = await client.get(page)
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "connect-src 'self'" in CSP
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    parser = _Refs()
    parser.feed(await resp.text())
    assert "static/vnc.js" in parser.refs
    # The module graph from the page's script down to noVNC's deflate code, fetched as the
    # browser would: every address relative, so on the proxy's own origin, and served.
    todo = [urljoin(page, ref) for ref in parser.refs]
    seen: set[str] = set()
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        assert not urlsplit(url).netloc, f"{url}: another origin"
        r = await client.get(url)
        assert r.status == 200, url
        if url.endswith(".js"):
            assert r.content_type in ("application/javascript", "text/javascript"), url
            text = await r.text()
            todo += [urljoin(url, m) for rx in (IMPORT, DYNAMIC_IMPORT) for m in rx.findall(text)]
    assert "/static/novnc/core/rfb.js" in seen
    assert "/static/novnc/core/websock.js" in seen
    assert any(u.startswith("/static/novnc/vendor/pako/") for u in seen), seen


async def test_the_page_needs_a_server_and_a_token(client: TestClient) -> None:  # type: ignore[type-arg]
    for query in ("", "?server_id=s1", "?token=t1"):
        assert (await client.get(f"/vnc.html{query}")).status == 400, query


async def test_the_websocket_takes_the_proxys_own_origin_and_the_listed_ones(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    own = f"http://{client.host}:{client.port}"
    url = "/websockify?server_id=s1&token=unknown"
    for origin, status in ((own, 401), (DASHBOARD, 401), ("http://elsewhere.example", 403)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await client.ws_connect(url, headers={"Origin": origin})
        # 401: past the Origin check, the (unknown) token refused; 403: refused at the door
        assert exc.value.status == status, origin
