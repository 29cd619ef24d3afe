"""Requests the api makes of this agent and that are answered at once (core NATS
request/reply on ``agent.<host>.query.<what>``, never queued): the console output, and the
VMs no server owns and their adoption (``adopt_queries``).

Every replica of an agent subscribes in one queue group, so one of them answers. A verb the
driver lacks (its capability) is answered with ``error_kind = "unsupported"``.
"""

from __future__ import annotations

import asyncio

from polyvisor.agentkit.adopt_queries import answer_adopt, answer_unmanaged
from polyvisor.agentkit.capabilities import ConsoleLog
from polyvisor.agentkit.convert import (
    InvalidCommand,
    console_reply_to_bytes,
    console_request_from_bytes,
)
from polyvisor.agentkit.driver import Driver, DriverError, InstanceNotFound
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.core import Subscription
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.logging import get_logger
from polyvisor.common.streams import query_subject

__all__ = ["MAX_CONSOLE_BYTES", "MAX_CONSOLE_LINES", "QueryResponder", "last_lines"]

log = get_logger(__name__)

#: What a console output answer may carry at most (NATS' default max payload is 1 MiB).
MAX_CONSOLE_BYTES = 512 * 1024
MAX_CONSOLE_LINES = 10_000


def last_lines(data: bytes, lines: int) -> str:
    """The newest `lines` lines of `data` (all of them for 0), as text."""
    text = data.decode("utf-8", errors="replace")
    if lines <= 0:
        lines = MAX_CONSOLE_LINES
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:])


class QueryResponder:
    def __init__(self, bus: Bus, host: str, driver: Driver, calls: DriverCalls) -> None:
        self.bus = bus
        self.host = host
        self.driver = driver
        self.calls = calls
        self._subs: dict[str, Subscription] = {}

    async def start(self) -> None:
        for what in ("console_output", "unmanaged_vms", "adopt"):
            self._subs[what] = await self.bus.subscribe(
                query_subject(self.host, what), queue=f"agent-{subject_token(self.host)}"
            )
        await self.bus.flush()  # registered with the server before anyone is told we are up

    async def run(self) -> None:
        await asyncio.gather(*(self._serve(what, sub) for what, sub in self._subs.items()))

    async def _serve(self, what: str, sub: Subscription) -> None:
        async for msg in sub:
            if what == "console_output":
                try:
                    server_id, lines = console_request_from_bytes(msg.data)
                except InvalidCommand:
                    continue  # not ours to answer
                reply = await self.console_output(server_id, lines)
            elif what == "unmanaged_vms":
                reply = await answer_unmanaged(self.driver, self.calls, self.host, msg.data)
            else:
                reply = await answer_adopt(self.driver, self.calls, self.host, msg.data)
            try:
                await sub.respond(msg, reply)
            except Exception as exc:  # the asker gave up, or the bus is down: nothing to keep
                log.warning("query reply failed", query=what, error=str(exc))

    async def console_output(self, server_id: str, lines: int) -> bytes:
        """The reply (agent.v1.ConsoleOutputReply) to a console output request."""
        if not isinstance(self.driver, ConsoleLog):
            return console_reply_to_bytes(
                error=f"host {self.host}'s hypervisor driver keeps no console log",
                error_kind="unsupported",
            )
        driver = self.driver
        try:
            data = await self.calls.run(
                "console_output", lambda: driver.console_output(server_id, MAX_CONSOLE_BYTES)
            )
        except InstanceNotFound as exc:
            return console_reply_to_bytes(error=str(exc), error_kind="not_found")
        except (DriverError, OSError) as exc:
            return console_reply_to_bytes(error=str(exc)[:500], error_kind="failed")
        text = await asyncio.to_thread(last_lines, data, min(lines, MAX_CONSOLE_LINES))
        return console_reply_to_bytes(output=text)

    async def close(self) -> None:
        for sub in self._subs.values():
            await sub.unsubscribe()
        self._subs.clear()
