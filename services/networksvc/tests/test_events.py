"""Events on NATS for the agents: port changes, and every rule or member change of a group
as the group's whole new state with a rising revision."""

from __future__ import annotations

import asyncio
import uuid

from google.protobuf.field_mask_pb2 import FieldMask
from netsvc_client import Service, physnet

from polyvisor.common.bus.client import Bus
from polyvisor.common.streams import NETWORK_EVENTS, network_security_group_subject
from polyvisor.network.v1 import bindings_pb2 as bpb
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
        assert [g.kind for g in groups] == [
            epb.SECURITY_GROUP_EVENT_KIND_CREATED,
            epb.SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED,
            epb.SECURITY_GROUP_EVENT_KIND_RULES_CHANGED,
            epb.SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED,
        ]
        created, joined, ruled, left = groups
        # Whole sets at a revision rising by one per event: an agent keeps the newest.
        first = created.revision
        assert [g.revision for g in groups] == [first, first + 1, first + 2, first + 3]
        assert [list(g.members.addresses) for g in groups] == [[], [ip], [ip], []]
        assert [[r.id for r in g.rules if r.protocol == "tcp"] for g in groups] == [
            [],
            [],
            [rule.id],
            [rule.id],
        ]
        # A member change also names the port whose share changed.
        assert (joined.member.port_id, list(joined.member.addresses)) == (port.id, [ip])
        assert (left.member.port_id, list(left.member.addresses)) == (port.id, [])
        assert left.member.port_revision > joined.member.port_revision == port.revision
        assert not created.HasField("member") and not ruled.HasField("member")
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


async def test_member_shares_follow_addresses_not_ports(service: Service, nats_url: str) -> None:
    """An address two ports bring (a VRRP address in both ports' allowed address pairs) stays
    a member until neither brings it; each event names the port whose share changed."""
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=41, shared=True)
    await admin.subnet(net.id, "10.41.0.0/24")
    alice = service.caller()
    ha = await alice.group("ha")
    vip = pb.AllowedAddressPair(ip_address="10.41.0.100")
    a = await alice.port(net.id, security_group_ids=[ha.id], allowed_address_pairs=[vip])
    b = await alice.port(net.id, security_group_ids=[ha.id], allowed_address_pairs=[vip])
    # b leaves the group: its own address leaves the set, the VIP stays (a still brings it).
    await alice.UpdatePort(
        pb.UpdatePortRequest(
            port=pb.Port(id=b.id, port_security_enabled=False),
            update_mask=FieldMask(
                paths=["security_group_ids", "allowed_address_pairs", "port_security_enabled"]
            ),
        )
    )
    got = await alice.GetSecurityGroupMembers(
        bpb.GetSecurityGroupMembersRequest(security_group_id=ha.id)
    )
    mid = set(got.members.addresses)
    assert [(m.port_id, sorted(m.addresses)) for m in got.ports] == [
        (a.id, sorted([a.fixed_ips[0].ip_address, "10.41.0.100"]))
    ]
    await alice.DeletePort(pb.DeletePortRequest(port_id=a.id))
    bus = await Bus.connect(nats_url, name="network-events-test")
    try:
        raw = await _drain(bus, network_security_group_subject(ha.id), 5)
    finally:
        await bus.close()
    events = [epb.SecurityGroupEvent.FromString(x) for x in raw]
    ip_a, ip_b = a.fixed_ips[0].ip_address, b.fixed_ips[0].ip_address
    vip = "10.41.0.100"
    assert [sorted(e.members.addresses) for e in events[1:]] == [
        sorted([ip_a, vip]),
        sorted([ip_a, ip_b, vip]),
        sorted([ip_a, vip]),  # b left; the VIP stays, a still brings it
        [],
    ]
    assert mid == {ip_a, vip}
    assert [(e.member.port_id, sorted(e.member.addresses)) for e in events[1:]] == [
        (a.id, sorted([ip_a, vip])),
        (b.id, sorted([ip_b, vip])),
        (b.id, []),
        (a.id, []),
    ]
    first = events[0].revision
    assert [e.revision for e in events] == list(range(first, first + 5))
    now = await alice.GetSecurityGroupMembers(
        bpb.GetSecurityGroupMembersRequest(security_group_id=ha.id)
    )
    assert list(now.members.addresses) == [] and list(now.ports) == []
    assert now.members.revision == events[-1].revision
