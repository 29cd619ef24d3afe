"""The WebSocket-to-VNC proxy (aiohttp).

    GET /websockify?server_id=ID&token=TOKEN    (WebSocket, subprotocol "binary")
    GET /vnc.html?server_id=ID&token=TOKEN      noVNC on that WebSocket (polyvisor.console.page)

0. A browser's Origin must be one of `origins` (POLYVISOR_ALLOWED_ORIGINS: the dashboard's),
   or the proxy's own (its page, same-origin), or `origins` empty (any).

1. The token is redeemed with the api, once (bound to the server, the user and an expiry).
   A bearer token in `Authorization` (a CLI or SDK client) must be the token's user's.
2. The proxy connects to the hypervisor's VNC server and logs in with the session's password,
   which the api has just sent to the server's agent: until the agent has set it the server
   refuses it, so the proxy tries again for a while.
3. Only then is the WebSocket accepted; toward the browser the proxy is an RFB server with
   no authentication, then it relays bytes both ways until either side closes.

Any failure before the upgrade is an HTTP error the browser sees (401 unknown, used or
expired token; 403 another server's or user's; 409 no console now; 502 the VNC server).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from polyvisor.common.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    PolyvisorError,
    Unauthenticated,
)
from polyvisor.common.logging import get_logger
from polyvisor.console.clients import ConsoleAuth, Session
from polyvisor.console.page import add_page
from polyvisor.console.rfb import RfbError, VncRefused, serve_no_auth, vnc_login

__all__ = ["make_app"]

log = get_logger(__name__)

_STATUS: tuple[tuple[type[PolyvisorError], type[web.HTTPException]], ...] = (
    (Unauthenticated, web.HTTPUnauthorized),
    (PermissionDenied, web.HTTPForbidden),
    (NotFound, web.HTTPNotFound),
    (FailedPrecondition, web.HTTPConflict),
)


class _WsReader:
    """Exactly n bytes at a time from a WebSocket's binary messages."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.buf = bytearray()

    async def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                self.buf += msg.data
            elif msg.type == WSMsgType.TEXT:
                self.buf += msg.data.encode()
            else:
                raise RfbError("the browser closed the console")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class ConsoleProxy:
    def __init__(
        self,
        auth: ConsoleAuth,
        *,
        login_wait_s: float = 15.0,
        connect_timeout_s: float = 5.0,
        origins: frozenset[str] = frozenset(),
    ) -> None:
        self.auth = auth
        self.login_wait_s = login_wait_s
        self.connect_timeout_s = connect_timeout_s
        self.origins = origins
        self.open_sessions = 0

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def websockify(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin", "").rstrip("/")
        own = urlsplit(origin).netloc == request.host  # the proxy's page (page.py)
        if self.origins and origin and origin not in self.origins and not own:
            raise web.HTTPForbidden(text=f"origin {origin} may not open consoles\n")
        token = request.query.get("token", "")
        server_id = request.query.get("server_id", "")
        user_token = ""
        authz = request.headers.get("Authorization", "")
        if authz.lower().startswith("bearer "):
            user_token = authz[7:].strip()
        try:
            session = await self.auth.redeem(token, server_id, user_token)
        except PolyvisorError as e:
            for kind, http in _STATUS:
                if isinstance(e, kind):
                    raise http(text=f"{e.message}\n") from e
            raise web.HTTPServiceUnavailable(text=f"{e.message}\n") from e
        try:
            reader, writer = await self._login(session)
        except (OSError, RfbError, TimeoutError) as e:
            log.warning("console unreachable", server_id=session.server_id, error=str(e))
            raise web.HTTPBadGateway(text=f"the server's console does not answer: {e}\n") from e
        ws = web.WebSocketResponse(protocols=("binary",), max_msg_size=0, heartbeat=30.0)
        try:
            await ws.prepare(request)
            self.open_sessions += 1
            log.info("console session", server_id=session.server_id, user_id=session.user_id)
            await self._relay(ws, reader, writer)
        finally:
            self.open_sessions -= 1 if ws.prepared else 0
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            await ws.close()
        return ws

    async def _login(self, s: Session) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.login_wait_s
        delay = 0.1
        while True:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(s.host, s.port), self.connect_timeout_s
            )
            try:
                await asyncio.wait_for(vnc_login(reader, writer, s.password), 10)
                return reader, writer
            except VncRefused:
                writer.close()
                if loop.time() + delay > deadline:
                    raise
            except BaseException:
                writer.close()
                raise
            # The agent has not set the session's password yet.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _relay(
        self,
        ws: web.WebSocketResponse,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        client = _WsReader(ws)
        try:
            await serve_no_auth(client.read, ws.send_bytes)
        except RfbError as e:
            log.info("browser left during the handshake", error=str(e))
            return
        if client.buf:
            writer.write(bytes(client.buf))
            client.buf.clear()

        async def up() -> None:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    writer.write(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    writer.write(msg.data.encode())
                else:
                    break
                await writer.drain()

        async def down() -> None:
            while data := await reader.read(65536):
                await ws.send_bytes(data)

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def make_app(proxy: ConsoleProxy) -> web.Application:
    app = web.Application()
    app.router.add_get("/websockify", proxy.websockify)
    app.router.add_get("/healthz", proxy.healthz)
    add_page(app)
    return app
