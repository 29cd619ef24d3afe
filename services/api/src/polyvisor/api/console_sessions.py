"""Console sessions: a console token redeemed once by the console proxy.

    sessions = ConsoleSessions(pool, api_bus.publish_command, verifier, session_s=60.0)
    s = await sessions.redeem(proxy, token, server_id, user_token)

The token (from GetServerConsole) is taken from the store, whoever asks first, so it works
once; it must be the asked server's, live, and when the client presented its own bearer
token, that user's. A fresh VNC password (8 characters, VNC authentication's limit) is then
sent to the server's agent in an `OpenConsole` command and handed to the proxy, and to
nobody else: it is never stored, and the browser never sees it.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from polyvisor.api import passwords
from polyvisor.api.lifecycle.commands import OpenConsole
from polyvisor.api.models import State
from polyvisor.api.spawnspec import Target
from polyvisor.api.store import consoles
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import CONSOLE_IDENTITY, Principal, TokenVerifier
from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from polyvisor.common.logging import get_logger

__all__ = ["ConsoleSession", "ConsoleSessions", "new_vnc_password"]

log = get_logger(__name__)

_PASSWORD_CHARS = string.ascii_letters + string.digits
_BAD_TOKEN = "this console token is unknown, used or expired"


def new_vnc_password() -> str:
    """8 random characters: all VNC authentication uses (it keys DES with 8 bytes)."""
    return "".join(secrets.choice(_PASSWORD_CHARS) for _ in range(8))


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    server_id: str
    user_id: str
    project_id: str
    host: str
    port: int
    password: str = field(repr=False)
    expire_time: datetime


class ConsoleSessions:
    def __init__(
        self,
        pool: Pool,
        publish: Callable[[OpenConsole, Target], Awaitable[None]],
        verifier: TokenVerifier,
        *,
        session_s: float = 60.0,
    ) -> None:
        self.pool = pool
        self.publish = publish
        self.verifier = verifier
        self.session_s = session_s

    async def redeem(
        self, caller: Principal, token: str, server_id: str, user_token: str = ""
    ) -> ConsoleSession:
        if caller.user_id != CONSOLE_IDENTITY or not caller.is_service:
            raise PermissionDenied("only the console proxy redeems console tokens")
        if not token or not server_id:
            raise Unauthenticated(_BAD_TOKEN)
        with db_errors():
            row = await consoles.take(self.pool, passwords.secret_digest(token))
        if row is None:
            raise Unauthenticated(_BAD_TOKEN)
        # Taken now: whatever follows, this token never opens anything again.
        if row.server_id != server_id:
            log.warning("console token presented for another server", server_id=server_id)
            raise PermissionDenied("this console token is for another server")
        if user_token:
            try:
                person = self.verifier.verify(user_token)
            except Unauthenticated as e:
                raise PermissionDenied("this console token is for another user") from e
            if person.user_id != row.user_id:
                raise PermissionDenied("this console token is for another user")
        with db_errors():
            server = await server_store.get(self.pool, row.server_id, None)
        if server is None or server.state != State.ACTIVE or server.console is None:
            raise FailedPrecondition(
                f"server {row.server_id} has no console now", {"server_id": row.server_id}
            )
        password = new_vnc_password()
        cmd = OpenConsole(
            host=server.host,
            generation=server.generation,
            password=password,
            valid_for_s=self.session_s,
            session=uuid.uuid4().hex[:12],
        )
        await self.publish(cmd, Target(server))
        log.info("console session opened", server_id=server.id, user_id=row.user_id)
        return ConsoleSession(
            server.id,
            row.user_id,
            row.project_id,
            server.console.host,
            server.console.port,
            password,
            row.expire_time,
        )
