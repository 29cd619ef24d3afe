"""All of the agent's NATS: its command consumer, server events, host reports.

Subjects and streams are the conventions' (docs/conventions.md):
``agent.<host>.cmd`` in AGENT_CMD (a work queue), ``events.server.<host>.<id>`` in EVENTS,
``hosts.report.<host>`` in HOSTS; ids go through ``subject_token``.
"""

from __future__ import annotations

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.agentkit.commands import ServerEventOut
from polyvisor.agentkit.convert import event_to_proto
from polyvisor.agentkit.metrics import EVENTS_PUBLISHED
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.consumer import PullConsumer
from polyvisor.common.bus.messages import PublishAck
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.streams import (
    AGENT_CMD,
    EVENTS,
    HOSTS,
    command_subject,
    report_subject,
    require_streams,
    server_event_subject,
)

__all__ = [
    "AGENT_CMD_STREAM",
    "EVENTS_STREAM",
    "HOSTS_STREAM",
    "AgentBus",
    "command_subject",
    "consumer_name",
    "event_subject",
    "report_msg_id",
    "report_subject",
]

AGENT_CMD_STREAM = AGENT_CMD.name
EVENTS_STREAM = EVENTS.name
HOSTS_STREAM = HOSTS.name


def consumer_name(host: str) -> str:
    return f"agent-{subject_token(host)}"


event_subject = server_event_subject


def report_msg_id(report: host_report_pb2.HostReport) -> str:
    """The report's Nats-Msg-Id: the stream drops a repeat of the same report (a retried
    publish), never a report of another incarnation whose sequence happens to match."""
    return f"{report.agent_id}:{report.incarnation}:{report.sequence}"


class AgentBus:
    def __init__(self, bus: Bus, host: str) -> None:
        self.bus = bus
        self.host = host

    async def ensure_streams(self) -> None:
        """The streams it uses exist. An agent may not create or change streams (its NATS
        user may only read their info): a configuration of another version is used as it
        is; updating it (refused by NATS) failed every start of the agent's runtime."""
        await require_streams(self.bus, AGENT_CMD, EVENTS, HOSTS)

    async def command_consumer(
        self, *, ack_wait: float, max_deliver: int, max_ack_pending: int
    ) -> PullConsumer:
        return await self.bus.pull_consumer(
            AGENT_CMD_STREAM,
            consumer_name(self.host),
            filter_subject=command_subject(self.host),
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            max_ack_pending=max_ack_pending,
        )

    async def publish_event(self, event: ServerEventOut) -> PublishAck:
        ack = await self.bus.publish(
            event_subject(self.host, event.server_id),
            event_to_proto(event),
            msg_id=event.event_id,
        )
        EVENTS_PUBLISHED.labels(event.kind.value).inc()
        return ack

    async def publish_report(self, report: host_report_pb2.HostReport) -> PublishAck:
        return await self.bus.publish(
            report_subject(self.host),
            report,
            msg_id=report_msg_id(report),
        )
