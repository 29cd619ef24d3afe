"""One dedicated PostgreSQL connection that LISTENs for the api's notifications (server
changes, outbox wake-ups) and calls the registered callbacks; it reconnects when the
connection is lost, and then calls every callback once (something may have been missed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from polyvisor.common.logging import get_logger

log = get_logger(__name__)

Callback = Callable[[str], None]


class PgListener:
    def __init__(
        self,
        dsn: str,
        schema: str,
        callbacks: dict[str, Callback],
        on_state: Callable[[bool], None] = lambda _connected: None,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.callbacks = callbacks
        self.on_state = on_state
        self._conn: asyncpg.Connection | None = None
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with a delay."""
        delay = 0.5
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=10,
                    server_settings={"application_name": "polyvisor-api-listen"},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as e:
                log.warning("listener cannot connect", error=repr(e), retry_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._conn = conn
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                for channel, cb in self.callbacks.items():
                    await conn.add_listener(channel, self._dispatch(cb))
                delay = 0.5
                self.connected.set()
                self.on_state(True)
                for cb in self.callbacks.values():
                    cb("")  # catch up on whatever happened while we were not listening
                await lost.wait()
                log.warning("listener connection lost, reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("listener failed", error=repr(e))
            finally:
                self.connected.clear()
                self.on_state(False)
                self._conn = None
                if not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)

    @staticmethod
    def _dispatch(cb: Callback) -> Callable[..., None]:
        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            try:
                cb(payload)
            except Exception:
                log.exception("notification callback failed")

        return on_notify
