"""The agent's command loop: JetStream durable pull consumer on ``agent.<host>.cmd``.

    loop = CommandLoop(consumer, dispatcher, handler, max_pending=32)
    tasks.start("commands", loop.run())

Messages are fetched only while fewer than ``max_pending`` commands are queued or running,
handed to the server's FIFO queue (``ServerDispatcher``), and acknowledged once the command
is answered; every held message is kept "in progress" so that a long queue never makes
JetStream redeliver it. A message that cannot be parsed is terminated. If answering fails
(the bus is down) the message is naked and comes back. When the agent stops, every held
message is naked at once: a restarted agent (or a standby) takes it over; if the agent dies
instead, JetStream redelivers after the ack wait.
"""

from __future__ import annotations

import asyncio
import contextlib

from polyvisor.agent.v1 import commands_pb2
from polyvisor.agentkit.command_handler import CommandHandler
from polyvisor.agentkit.commands import Command, Verb
from polyvisor.agentkit.convert import InvalidCommand, command_from_proto
from polyvisor.agentkit.dispatcher import ServerDispatcher
from polyvisor.agentkit.metrics import COMMANDS
from polyvisor.common.bus.consumer import PullConsumer
from polyvisor.common.bus.messages import BusMessage
from polyvisor.common.errors import PolyvisorError, Unavailable
from polyvisor.common.logging import get_logger

__all__ = ["CommandLoop"]

log = get_logger(__name__)


class CommandLoop:
    def __init__(
        self,
        consumer: PullConsumer,
        dispatcher: ServerDispatcher,
        handler: CommandHandler,
        *,
        max_pending: int,
        fetch_timeout: float = 2.0,
        host: str = "",
    ) -> None:
        self.consumer = consumer
        self.dispatcher = dispatcher
        self.handler = handler
        self.max_pending = max(1, max_pending)
        self.fetch_timeout = fetch_timeout
        self.host = host
        self._held: dict[BusMessage, None] = {}  # in fetch order
        self._room = asyncio.Event()
        self._room.set()
        self._paused = False
        self._taking = asyncio.Event()  # cleared by pause(): no fetch from then on
        self._taking.set()

    @property
    def held(self) -> int:
        return len(self._held)

    def pause(self) -> None:
        """Stop taking commands: no fetch from now on (a message a fetch in flight still
        brings goes straight back). Fetching only to give back would spin: each message
        given back is delivered again at once, and after ``max_deliver`` deliveries
        JetStream drops it for good, so a draining agent would lose the commands queued
        behind the ones it finishes."""
        self._paused = True
        self._taking.clear()

    async def run(self) -> None:
        keepalive = asyncio.get_running_loop().create_task(self._keep_in_progress())
        try:
            while True:
                await self._taking.wait()
                free = self.max_pending - len(self._held)
                if free <= 0:
                    self._room.clear()
                    await self._room.wait()
                    continue
                try:
                    msgs = await self.consumer.fetch(min(free, 64), self.fetch_timeout)
                except Unavailable as exc:
                    log.warning("command fetch failed, retrying", error=str(exc))
                    await asyncio.sleep(1.0)
                    continue
                for msg in msgs:
                    await self._accept(msg)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            await self._release_held()

    async def _accept(self, msg: BusMessage) -> None:
        try:
            cmd = command_from_proto(msg.parse(commands_pb2.AgentCommand))
        except (PolyvisorError, InvalidCommand) as exc:
            log.error("unusable command terminated", error=str(exc), seq=msg.stream_seq)
            COMMANDS.labels("unknown", "invalid").inc()
            with contextlib.suppress(PolyvisorError):
                await msg.term()
            return
        if self._paused:
            with contextlib.suppress(PolyvisorError):
                await msg.nak()
            return
        if cmd.host and self.host and cmd.host != self.host:
            log.warning("command addressed to another host", to=cmd.host, server_id=cmd.server_id)
        self._held[msg] = None
        # An abort must reach the driver while the server's live migration still runs, so it
        # is not queued behind it.
        queue = cmd.server_id
        if cmd.verb == Verb.ABORT_MIGRATION:
            queue = f"{cmd.server_id}:abort"
        self.dispatcher.submit(queue, lambda: self._run(cmd, msg))

    async def _run(self, cmd: Command, msg: BusMessage) -> None:
        try:
            await self.handler.handle(cmd)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "command could not be answered, will be redelivered",
                server_id=cmd.server_id,
                command_id=cmd.command_id,
                error=str(exc),
                exc_info=not isinstance(exc, PolyvisorError),
            )
            with contextlib.suppress(PolyvisorError):
                await msg.nak(delay=min(30.0, 2.0 * msg.num_delivered))
        else:
            with contextlib.suppress(PolyvisorError):
                await msg.ack()
        finally:
            self._held.pop(msg, None)
            self._room.set()

    async def _keep_in_progress(self) -> None:
        period = max(0.5, self.consumer.ack_wait / 3)
        while True:
            await asyncio.sleep(period)
            for msg in list(self._held):
                if not msg.settled:
                    with contextlib.suppress(PolyvisorError):
                        await msg.in_progress()

    async def _release_held(self) -> None:
        """Stopping: give every message we hold back to JetStream at once, in order."""
        held, self._held = list(self._held), {}
        for msg in held:
            if not msg.settled:
                with contextlib.suppress(Exception):
                    await msg.nak()
