"""A server's consoles: a VNC session (a one-time token, through the console proxy when the
cloud has one) and the tail of its serial console output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from polyvisor.api import passwords
from polyvisor.api.models import State
from polyvisor.api.server_base import ServerBase
from polyvisor.api.store import consoles
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
)


def page_base(proxy_url: str) -> str:
    """The console proxy's pages' base URL: its WebSocket base with ws -> http, wss -> https."""
    parts = urlsplit(proxy_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return parts._replace(scheme=scheme).geturl().rstrip("/")


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    type: str
    host: str
    port: int
    token: str
    expire_time: datetime
    url: str = ""
    page_url: str = ""


class ServerConsoles(ServerBase):
    # ------------------------------------------------------------------ console output

    async def console_output(self, p: Principal, server_id: str, lines: int) -> str:
        """The last `lines` lines of the server's serial console, read from its host now."""
        if lines < 0:
            raise InvalidArgument("lines must not be negative", {"field": "lines"})
        server = await self.get(p, server_id)
        if not server.host or server.state in (State.BUILDING, State.DELETING, State.DELETED):
            raise FailedPrecondition(
                f"server {server_id} has no console output now (it is {server.state})",
                {"server_id": server_id, "state": server.state},
            )
        if self._console_output is None:
            raise FailedPrecondition("console output is not available on this api")
        return await self._console_output(server.host, server.id, min(lines, 10_000))

    # ------------------------------------------------------------------ console

    async def console(self, p: Principal, server_id: str, console_type: str) -> ConsoleAccess:
        server = await self.get(p, server_id)
        wanted = console_type or "VNC"
        if server.state != State.ACTIVE or server.console is None:
            raise FailedPrecondition(
                f"server {server_id} has no console now (it is {server.state})",
                {"server_id": server_id, "state": server.state},
            )
        if server.console.type != wanted:
            raise FailedPrecondition(
                f"server {server_id} offers a {server.console.type} console, not {wanted}",
                {"server_id": server_id},
            )
        token = passwords.new_token()
        expire = datetime.now(UTC) + timedelta(seconds=self.console_ttl_s)
        with db_errors():
            await consoles.insert(
                self.pool,
                passwords.secret_digest(token),
                server,
                server.console,
                expire,
                p.user_id,
            )
        if self.console_proxy_url:
            # The client goes to the proxy, never to the hypervisor.
            parts = urlsplit(self.console_proxy_url)
            query = urlencode({"server_id": server.id, "token": token})
            url = f"{self.console_proxy_url}/websockify?{query}"
            secure = parts.scheme in ("wss", "https")
            # The proxy's noVNC page, which opens `url` from its own origin.
            page = (
                f"{page_base(self.console_proxy_url)}/vnc.html?{query}" if wanted == "VNC" else ""
            )
            return ConsoleAccess(
                wanted, parts.hostname or "", parts.port or (443 if secure else 80), token,
                expire, url, page,
            )  # fmt: skip
        return ConsoleAccess(wanted, server.console.host, server.console.port, token, expire)
