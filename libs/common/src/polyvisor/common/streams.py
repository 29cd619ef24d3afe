"""The JetStream streams and subjects every service shares, defined once.

Each service declares the streams it touches at start (``ensure_streams``); since they all
declare the same configuration, only the first declaration creates a stream and the rest are
no-ops. Two services declaring different configurations would update the stream back and
forth, which is why no service spells a stream out on its own.

How many replicas each stream keeps is not part of the spec: it is the deployment's choice,
`POLYVISOR_NATS_REPLICAS` (`ServiceSettings.nats_replicas`, 1 by default, 3 on a
three-node cluster), carried by the `Bus` that creates the stream. Every service of one
deployment must be given the same value, or they would update the streams back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.logging import get_logger

log = get_logger(__name__)

__all__ = [
    "AGENT_CMD",
    "EVENTS",
    "HOSTS",
    "NETWORK_EVENTS",
    "VOLUME_EVENTS",
    "StreamSpec",
    "command_subject",
    "ensure_streams",
    "image_event_subject",
    "network_port_subject",
    "network_security_group_subject",
    "query_subject",
    "report_subject",
    "require_streams",
    "server_event_subject",
    "server_events_filter",
    "volume_subject",
]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "workqueue", "interest"] = "limits"
    max_age: float | None = None  # seconds; None keeps messages until other limits apply


#: Commands to one agent: a durable work queue, each command removed once acknowledged.
AGENT_CMD = StreamSpec("AGENT_CMD", ("agent.*.cmd",), retention="workqueue")
#: Server, image and host events. The api's durable consumer applies server events.
EVENTS = StreamSpec(
    "EVENTS",
    ("events.server.>", "events.image.*"),
    max_age=7 * 24 * 3600.0,
)
#: Network events (ports, security groups) for the agents that plumb them.
NETWORK_EVENTS = StreamSpec("NETWORK_EVENTS", ("events.network.>",), max_age=7 * 24 * 3600.0)
#: The volume service's events (events.volume.<volume_id>).
VOLUME_EVENTS = StreamSpec("VOLUME_EVENTS", ("events.volume.>",), max_age=7 * 24 * 3600.0)
#: Host reports. Agents report periodically, so an hour keeps the latest of every live host.
HOSTS = StreamSpec("HOSTS", ("hosts.report.*",), max_age=3600.0)


async def ensure_streams(bus: Bus, *specs: StreamSpec) -> None:
    for spec in specs:
        await bus.ensure_stream(
            spec.name, list(spec.subjects), retention=spec.retention, max_age=spec.max_age
        )


async def require_streams(bus: Bus, *specs: StreamSpec) -> None:
    """For a user that may not change streams (an agent): a missing stream is created (where
    the user may; else Unavailable until the control plane makes it), one that exists is used
    as it is. Its configuration is the control plane's: one that differs from this version's
    spec (a control plane upgraded before its agents, or not yet) is logged, never updated."""
    for spec in specs:
        subjects = await bus.stream_subjects(spec.name)
        if subjects is None:
            await ensure_streams(bus, spec)
        elif sorted(subjects) != sorted(spec.subjects):
            log.warning(
                "stream configured otherwise than this version expects; used as it is",
                stream=spec.name,
                subjects=subjects,
                expected=list(spec.subjects),
            )


def command_subject(host: str) -> str:
    return f"agent.{subject_token(host)}.cmd"


def query_subject(host: str, what: str) -> str:
    """Where the agent of `host` answers the api's requests (core NATS request/reply, never
    stored): ``agent.<host>.query.<what>``, e.g. ``console_output``."""
    return f"agent.{subject_token(host)}.query.{subject_token(what)}"


def server_event_subject(host: str, server_id: str) -> str:
    """Where the agent of `host` publishes its events about a server: the host is in the
    subject, so NATS lets an agent publish only its own host's events."""
    return f"events.server.{subject_token(host)}.{subject_token(server_id)}"


#: Every server event, of every host.
SERVER_EVENTS = "events.server.>"


def server_events_filter(server_id: str) -> str:
    """The events of one server, whichever host published them."""
    return f"events.server.*.{subject_token(server_id)}"


def image_event_subject(image_id: str) -> str:
    return f"events.image.{subject_token(image_id)}"


def report_subject(host: str) -> str:
    return f"hosts.report.{subject_token(host)}"


def network_port_subject(port_id: str) -> str:
    return f"events.network.port.{subject_token(port_id)}"


def network_security_group_subject(group_id: str) -> str:
    return f"events.network.security_group.{subject_token(group_id)}"


def volume_subject(volume_id: str) -> str:
    return f"events.volume.{subject_token(volume_id)}"
