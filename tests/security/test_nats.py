"""The bus is closed: NATS with authentication and per-identity subject permissions.

A real nats-server (the embedded one, as `./dev up` and every fixture run it) with a
control-plane user and the users of two agents, kvm-a and kvm-b. Without credentials (or with
wrong ones) nobody connects. An agent runs its whole flow on its own subjects (its durable
command consumer, its events and reports) and cannot read another host's commands (neither
by subscribing, nor through that host's consumer, nor by reading the stream, nor by listening
on the inboxes replies go to), nor publish another host's events or reports, nor commands.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import pytest

from polyvisor.agent.v1 import commands_pb2, host_report_pb2
from polyvisor.agentkit.bus import AgentBus
from polyvisor.common.bus.client import Bus
from polyvisor.common.derived_keys import derive_agent_key
from polyvisor.common.embedded import EmbeddedNats
from polyvisor.common.natsauth import agent_nats_user, agent_user, service_user
from polyvisor.common.streams import (
    AGENT_CMD,
    EVENTS,
    HOSTS,
    command_subject,
    ensure_streams,
    query_subject,
    report_subject,
    server_event_subject,
)
from polyvisor.events.v1 import server_events_pb2

SECRET = "nats-test-agent-secret"
HOSTS_ = ("kvm-a", "kvm-b")


@dataclass
class World:
    nats: EmbeddedNats
    admin_url: str

    def agent_url(self, host: str) -> str:
        return self.nats.url_for(agent_nats_user(host), derive_agent_key(SECRET, host))

    @property
    def bare_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats.port}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = Path(tmp_path_factory.mktemp("nats-auth"))
    server = EmbeddedNats(
        root,
        die_with_parent=True,
        users=[
            service_user("api", "api-password"),
            *(agent_user(h, derive_agent_key(SECRET, h)) for h in HOSTS_),
        ],
    )
    url = server.start()
    try:
        yield World(server, url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def control(world: World) -> AsyncIterator[Bus]:
    bus = await Bus.connect(world.nats.url_for("api", "api-password"), name="control")
    await ensure_streams(bus, AGENT_CMD, EVENTS, HOSTS)
    yield bus
    await bus.close()


class Violations:
    """A raw client that records the server's permission errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def on_error(self, e: Exception) -> None:
        self.errors.append(str(e))

    async def connect(self, url: str, **kw: object) -> nats.NATS:
        return await nats.connect(
            url,
            error_cb=self.on_error,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=2,
            **kw,  # type: ignore[arg-type]
        )

    async def saw(self, text: str) -> bool:
        for _ in range(50):
            if any(text.lower() in e.lower() for e in self.errors):
                return True
            await asyncio.sleep(0.05)
        return False


async def test_without_credentials_nobody_connects(world: World) -> None:
    for url in (
        world.bare_url,
        world.nats.url_for("api", "wrong-password"),
        world.nats.url_for(agent_nats_user("kvm-a"), derive_agent_key(SECRET, "kvm-b")),
        world.nats.url_for(agent_nats_user("kvm-a"), derive_agent_key("other-secret", "kvm-a")),
    ):
        with pytest.raises((nats.errors.Error, OSError)):
            nc = await nats.connect(
                url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2
            )
            await nc.close()


def command(host: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=uuid.uuid4().hex, server_id=str(uuid.uuid4()), host=host
    )


async def test_an_agent_runs_on_its_own_subjects(world: World, control: Bus) -> None:
    bus = await Bus.connect(world.agent_url("kvm-a"), name="agent-a")
    try:
        agent = AgentBus(bus, "kvm-a")
        await agent.ensure_streams()
        consumer = await agent.command_consumer(ack_wait=5, max_deliver=3, max_ack_pending=10)
        sent = command("kvm-a")
        await control.publish(command_subject("kvm-a"), sent, msg_id=sent.command_id)
        (msg,) = await consumer.fetch(1, timeout=5)
        assert msg.parse(commands_pb2.AgentCommand).command_id == sent.command_id
        await msg.ack()
        ev = server_events_pb2.ServerEvent(event_id=uuid.uuid4().hex, server_id=sent.server_id)
        await bus.publish(server_event_subject("kvm-a", sent.server_id), ev, msg_id=ev.event_id)
        await bus.publish(report_subject("kvm-a"), host_report_pb2.HostReport(host_id="kvm-a"))
        await consumer.close()
    finally:
        await bus.close()


async def test_an_agent_starts_on_streams_another_version_configured(
    world: World, control: Bus
) -> None:
    """The control plane (upgraded first, or not yet) set EVENTS to other subjects than this
    agent's version: the agent uses the stream as it is. It may not update streams; trying
    (the stream "differs") timed out, so every start of its runtime failed, for good."""
    other = [*EVENTS.subjects, "events.other.*"]
    await control.ensure_stream(EVENTS.name, other, max_age=EVENTS.max_age)
    try:
        bus = await Bus.connect(world.agent_url("kvm-a"), name="agent-a")
        try:
            await AgentBus(bus, "kvm-a").ensure_streams()
            assert sorted(await bus.stream_subjects(EVENTS.name) or []) == sorted(other)
        finally:
            await bus.close()
    finally:
        await ensure_streams(control, EVENTS)


async def stored(control: Bus, stream: str, subject: str) -> int:
    """Messages `stream` holds on `subject` (as the control plane sees it)."""
    watch = await control.watch(stream, subject, deliver="all")
    try:
        n = 0
        while True:
            try:
                await watch.next(timeout=0.5)
            except Exception:
                return n
            n += 1
    finally:
        await watch.close()


async def test_an_agent_cannot_read_another_hosts_commands(world: World, control: Bus) -> None:
    # kvm-a's consumer exists (its agent made it above); a command waits for it.
    sent = command("kvm-a")
    await control.publish(command_subject("kvm-a"), sent, msg_id=sent.command_id)

    v = Violations()
    nc = await v.connect(world.agent_url("kvm-b"), inbox_prefix="_INBOX_agent-kvm-b")
    try:
        # Subscribing to its subject, or to where pulled messages and replies are delivered.
        for subject in ("agent.kvm-a.cmd", "agent.>", ">", "_INBOX.>", "_INBOX_agent-kvm-a.>"):
            await nc.subscribe(subject)
            assert await v.saw(f'Subscription to "{subject}"'), (subject, v.errors)
        # Pulling from kvm-a's durable consumer, making a consumer of its own on kvm-a's
        # subject, reading the stream's messages directly.
        js = nc.jetstream(timeout=1)
        with pytest.raises((nats.errors.Error, TimeoutError)):
            sub = await js.pull_subscribe_bind("agent-kvm-a", stream="AGENT_CMD")
            await sub.fetch(1, timeout=1)
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await js.pull_subscribe("agent.kvm-a.cmd", durable="steal", stream="AGENT_CMD")
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await js.get_msg("AGENT_CMD", seq=1)
        # Publishing a command for a host.
        await nc.publish("agent.kvm-a.cmd", b"x")
        assert await v.saw('Publish to "agent.kvm-a.cmd"')
    finally:
        await nc.close()

    # The command is still there, for kvm-a alone.
    bus = await Bus.connect(world.agent_url("kvm-a"), name="agent-a")
    try:
        consumer = await AgentBus(bus, "kvm-a").command_consumer(
            ack_wait=5, max_deliver=3, max_ack_pending=10
        )
        got = [m.parse(commands_pb2.AgentCommand).command_id for m in await consumer.fetch(5, 5)]
        assert sent.command_id in got
        await consumer.close()
    finally:
        await bus.close()


async def test_an_agent_cannot_publish_another_hosts_events_or_reports(
    world: World, control: Bus
) -> None:
    server_id = str(uuid.uuid4())
    v = Violations()
    nc = await v.connect(world.agent_url("kvm-b"), inbox_prefix="_INBOX_agent-kvm-b")
    try:
        for subject in (
            server_event_subject("kvm-a", server_id),
            report_subject("kvm-a"),
            f"events.server.{server_id}",  # the subject events had before hosts were in it
        ):
            await nc.publish(subject, b"forged")
            assert await v.saw(f'Publish to "{subject}"'), subject
        # Its own host's events go through.
        await nc.publish(server_event_subject("kvm-b", server_id), b"mine")
        await nc.flush()
    finally:
        await nc.close()
    assert await stored(control, "EVENTS", server_event_subject("kvm-a", server_id)) == 0
    assert await stored(control, "EVENTS", f"events.server.{server_id}") == 0
    assert await stored(control, "EVENTS", server_event_subject("kvm-b", server_id)) == 1


async def test_an_agent_answers_its_own_hosts_queries_only(world: World, control: Bus) -> None:
    # kvm-a answers a console output request made to it (a reply it may publish once).
    bus = await Bus.connect(world.agent_url("kvm-a"), name="agent-a-queries")
    try:
        sub = await bus.subscribe(query_subject("kvm-a", "console_output"), queue="agent-kvm-a")
        await bus.flush()  # the subscription is on the server before the request

        async def answer() -> None:
            msg = await sub.next(timeout=10)
            await sub.respond(msg, b"boot log")

        task = asyncio.create_task(answer())
        reply = await control.request(query_subject("kvm-a", "console_output"), b"?", timeout=10)
        await task
        assert reply.data == b"boot log"
    finally:
        await bus.close()

    # kvm-b neither hears kvm-a's queries nor publishes on a query subject.
    v = Violations()
    nc = await v.connect(world.agent_url("kvm-b"), inbox_prefix="_INBOX_agent-kvm-b")
    try:
        await nc.subscribe(query_subject("kvm-a", "console_output"))
        assert await v.saw('Subscription to "agent.kvm-a.query.console_output"'), v.errors
        await nc.publish(query_subject("kvm-a", "console_output"), b"x")
        assert await v.saw('Publish to "agent.kvm-a.query.console_output"'), v.errors
    finally:
        await nc.close()
