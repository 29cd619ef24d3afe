"""All of the api's NATS: the streams it relies on, publishing agent commands, and the durable
consumer of agents' server events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from polyvisor.agent.v1 import queries_pb2
from polyvisor.agent.v1.commands_pb2 import AgentCommand as AgentCommandPb
from polyvisor.api.adoption import AdoptedVm, UnmanagedVm
from polyvisor.api.convert.commands import build_command
from polyvisor.api.convert.events import event_from_proto
from polyvisor.api.keyed_queue import KeyedQueue
from polyvisor.api.lifecycle import AgentCommand, AgentEvent
from polyvisor.api.spawnspec import Target
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.consumer import PullConsumer
from polyvisor.common.bus.messages import BusMessage
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from polyvisor.common.grants import ImageGrantFeed
from polyvisor.common.logging import get_logger
from polyvisor.common.streams import (
    AGENT_CMD,
    EVENTS,
    SERVER_EVENTS,
    command_subject,
    ensure_streams,
    query_subject,
    server_event_subject,
)
from polyvisor.events.v1 import server_events_pb2
from polyvisor.types.v1 import hypervisor_pb2

log = get_logger(__name__)

CMD_STREAM = AGENT_CMD.name
EVENTS_STREAM = EVENTS.name
event_subject = server_event_subject


def _image_of(msg: AgentCommandPb) -> str:
    """The image a command tells its host to read or fill ("" for none)."""
    which = msg.WhichOneof("command")
    if which == "spawn":
        return str(msg.spawn.image.image_id)
    if which == "rebuild":
        return str(msg.rebuild.image.image_id)
    if which == "snapshot":
        return str(msg.snapshot.image_id)
    return ""


class ApiBus:
    def __init__(
        self, bus: Bus, grants: ImageGrantFeed | None = None, grant_ttl_s: float = 3600.0
    ) -> None:
        self.bus = bus
        self.grants = grants
        self.grant_ttl_s = grant_ttl_s

    async def ensure_streams(self) -> None:
        await ensure_streams(self.bus, AGENT_CMD, EVENTS)

    async def publish_command(self, cmd: AgentCommand, target: Target) -> None:
        msg = build_command(cmd, target)
        image_id = _image_of(msg)
        if self.grants is not None and image_id:
            # The agent may read this image (and no other) while the build may last: the one
            # it boots (spawn, rebuild) or the one it fills (snapshot).
            await self.grants.grant(msg.host, image_id, self.grant_ttl_s)
        await self.bus.publish(
            command_subject(msg.host), msg, msg_id=msg.command_id, stream=CMD_STREAM
        )

    async def console_output(
        self, host: str, server_id: str, lines: int, timeout_s: float = 10.0
    ) -> str:
        """The last `lines` lines of a server's serial console, asked of its host's agent."""
        try:
            reply = await self.bus.request(
                query_subject(host, "console_output"),
                queries_pb2.ConsoleOutputRequest(server_id=server_id, lines=lines),
                timeout=timeout_s,
            )
        except Unavailable as e:
            raise Unavailable(
                f"the agent of host {host} did not answer for the console output: {e}",
                {"host": host},
            ) from e
        answer = queries_pb2.ConsoleOutputReply.FromString(reply.data)
        if answer.error_kind == "unsupported":
            raise FailedPrecondition(answer.error, {"server_id": server_id, "host": host})
        if answer.error_kind == "not_found":
            raise FailedPrecondition(
                f"server {server_id} is not on its host {host} now: {answer.error}",
                {"server_id": server_id, "host": host},
            )
        if answer.error:
            raise Unavailable(
                f"host {host} could not read the console output: {answer.error}", {"host": host}
            )
        return answer.output

    async def agent_answers(self, host: str, timeout_s: float = 5.0) -> bool:
        """Whether a process of `host`'s agent is subscribed to its queries (it answers a
        console output request for a server no host has, at once). False only when nobody is (NATS says
        so at once: no responders); Unavailable when that cannot be told (no answer in
        time, or no bus)."""
        try:
            await self.bus.request(
                query_subject(host, "console_output"),
                queries_pb2.ConsoleOutputRequest(server_id="liveness-probe", lines=1),
                timeout=timeout_s,
            )
        except Unavailable as e:
            if e.details.get("no_responders"):
                return False
            raise Unavailable(
                f"cannot tell whether the agent of host {host} is down: {e}", {"host": host}
            ) from e
        return True

    async def _query(self, host: str, what: str, request: Any, timeout_s: float) -> bytes:
        try:
            reply = await self.bus.request(query_subject(host, what), request, timeout=timeout_s)
        except Unavailable as e:
            raise Unavailable(
                f"the agent of host {host} did not answer ({what}): {e}", {"host": host}
            ) from e
        return bytes(reply.data)

    async def unmanaged_vms(self, host: str, timeout_s: float = 30.0) -> list[UnmanagedVm]:
        """The VMs of `host` no server owns, as its agent lists them."""
        data = await self._query(
            host, "unmanaged_vms", queries_pb2.UnmanagedVmsRequest(), timeout_s
        )
        reply = queries_pb2.UnmanagedVmsReply.FromString(data)
        _raise_for(reply.error, reply.error_kind, host)
        return [
            UnmanagedVm(v.ref, v.name, v.vcpus, v.memory_mb, v.disk_gb, _power(v.power_state))
            for v in reply.vms
        ]

    async def adopt_vm(
        self, host: str, server_id: str, ref: str, timeout_s: float = 60.0
    ) -> AdoptedVm:
        """Ask the agent of `host` to tag the unmanaged VM `ref` as server `server_id`."""
        request = queries_pb2.AdoptVmRequest(server_id=server_id, ref=ref)
        reply = queries_pb2.AdoptVmReply.FromString(
            await self._query(host, "adopt", request, timeout_s)
        )
        _raise_for(reply.error, reply.error_kind, host)
        return AdoptedVm(_power(reply.power_state), reply.instance_name, reply.member_host)

    async def event_consumer(self, durable: str, ack_wait_s: float = 30.0) -> PullConsumer:
        return await self.bus.pull_consumer(
            EVENTS_STREAM,
            durable=durable,
            filter_subject=SERVER_EVENTS,
            max_deliver=20,
            ack_wait=ack_wait_s,
        )


def event_handler(
    apply: Callable[[AgentEvent], Awaitable[object]],
    queue: KeyedQueue | None = None,
) -> Callable[[BusMessage], Awaitable[None]]:
    """A consumer handler: parse a ServerEvent, apply it (a bad payload is dropped).

    The consumer runs handlers concurrently; one server's events are applied one at a time,
    in the order their handlers were started, which is the order the consumer received them
    (JetStream's order per subject, except for redeliveries; see `events`)."""
    order = queue if queue is not None else KeyedQueue()

    async def handle(msg: BusMessage) -> None:
        try:
            ev = msg.parse(server_events_pb2.ServerEvent)
        except InvalidArgument:
            log.error("undecodable server event dropped", subject=msg.subject)
            await msg.term()
            return
        if not ev.server_id:
            log.error("server event without a server id dropped", subject=msg.subject)
            await msg.term()
            return
        event = event_from_proto(ev)
        # Nothing above yields: the event takes its place in its server's line in the order
        # the consumer started the handlers.
        await order.run(event.server_id, lambda: apply(event))

    return handle


def _power(value: int) -> str:
    return hypervisor_pb2.PowerState.Name(value).removeprefix("POWER_STATE_")


def _raise_for(error: str, kind: str, host: str) -> None:
    """An agent's refusal of an adoption query, as the caller's error."""
    if not error:
        return
    if kind == "unsupported":
        raise FailedPrecondition(error, {"hypervisor_id": host})
    if kind == "not_found":
        raise NotFound(error, {"hypervisor_id": host})
    raise Unavailable(f"host {host}: {error}", {"hypervisor_id": host})
