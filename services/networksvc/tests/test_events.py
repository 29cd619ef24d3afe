"""Events on NATS for the agents: port changes, and every rule or member change of a group
as the group's whole new state with a rising revision."""

from __future__ import annotations

import asyncio
import uuid

from netsvc_client import Service, physnet

from polyvisor.common.bus import Bus
from polyvisor.common.streams import NETWORK_EVENTS, network_security_group_subject
from polyvisor.network.v1 import network_events_pb2 as epb
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb


async def _drain(bus: Bus, subject: str, want: int) -> list[bytes]:
    consumer = await bus.pull_consumer(
        NETWORK_EVENTS.name, f"t{uuid.uuid4().hex[:10]}", filter_subject=subject
    )
    got: list[bytes] = []
    try:
        for _ in range(50):
            for msg in await consumer.fetch(batch=50, timeout=1.0):
                got.append(msg.data)
                await msg.ack()
            if len(got) >= want:
                break
            await asyncio.sleep(0.2)
    finally:
        await consumer.close()
    return got


async def test_port_and_group_events(service: Service, nats_url: str) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=40, shared=True)
    await admin.subnet(net.id, "10.40.0.0/24")
    alice = service.caller()
    web = await alice.group("web")
    port = await alice.port(net.id, security_group_ids=[web.id])
    ip = port.fixed_ips[0].ip_address
    rule = await alice.rule(
        web.id, direction=spb.DIRECTION_INGRESS, protocol="tcp", port_range_min=80
    )
    await alice.DeletePort(pb.DeletePortRequest(port_id=port.id))

    bus = await Bus.connect(nats_url, name="network-events-test")
    try:
        raw = await _drain(bus, network_security_group_subject(web.id), 4)
        groups = [epb.SecurityGroupEvent.FromString(b) for b in raw]
        kinds = [g.kind for g in groups]
        assert kinds == [
            epb.SECURITY_GROUP_EVENT_KIND_CREATED,
            epb.SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED,
            epb.SECURITY_GROUP_EVENT_KIND_RULES_CHANGED,
            epb.SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED,
        ]
        revisions = [g.revision for g in groups]
        assert revisions == sorted(revisions) and len(set(revisions)) == 4
        assert [list(g.members.addresses) for g in groups] == [[], [ip], [ip], []]
        assert [r.id for r in groups[2].rules] == [rule.id]
        port_events = [
            epb.PortEvent.FromString(b)
            for b in await _drain(bus, f"events.network.port.{port.id}", 2)
        ]
        assert [e.kind for e in port_events] == [
            epb.PORT_EVENT_KIND_CREATED,
            epb.PORT_EVENT_KIND_DELETED,
        ]
        assert port_events[0].port.mac_address == port.mac_address
        assert port_events[1].port.revision > port_events[0].port.revision
    finally:
        await bus.close()
