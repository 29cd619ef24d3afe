"""The network service over real gRPC, PostgreSQL and NATS: resources, bad input, access."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from netsvc_client import Service, physnet

from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb


async def _code(coro) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await coro
    return e.value.code(), e.value.details() or ""


async def test_every_call_needs_a_token(service: Service) -> None:
    stub = service.caller().stub
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.ListNetworks(pb.ListNetworksRequest())
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_network_subnet_port_round_trip(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(
        name="prod", physical_network=physnet(), segmentation_id=120, mtu=9000
    )
    assert (net.network_type, net.segmentation_id, net.mtu, net.admin_state_up) == (
        pb.NETWORK_TYPE_VLAN, 120, 9000, True,
    )  # fmt: skip
    sub = await admin.subnet(
        net.id, "10.1.0.0/24", dns_nameservers=["10.1.0.2"],
        host_routes=[pb.HostRoute(destination="192.168.0.0/16", nexthop="10.1.0.254")],
    )  # fmt: skip
    assert sub.gateway_ip == "10.1.0.1" and sub.enable_dhcp and sub.ip_version == pb.IP_VERSION_4
    assert [(p.start, p.end) for p in sub.allocation_pools] == [("10.1.0.2", "10.1.0.254")]
    v6 = await admin.subnet(net.id, "2001:db8:1::/64")
    port = await admin.port(net.id, name="a")
    ips = {f.subnet_id: f.ip_address for f in port.fixed_ips}
    assert ips[sub.id] == "10.1.0.2"  # the lowest free pool address
    assert ips[v6.id].startswith("2001:db8:1:")
    assert port.mac_address.startswith("fa:16:3e:")
    assert len(port.security_group_ids) == 1  # the project's default group
    got = (await admin.GetNetwork(pb.GetNetworkRequest(network_id=net.id))).network
    assert list(got.subnet_ids) == [sub.id, v6.id]
    listed = (await admin.ListPorts(pb.ListPortsRequest(network_id=net.id))).ports
    assert [p.id for p in listed] == [port.id]


async def test_fixed_ip_rules(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=10)
    sub = await admin.subnet(net.id, "10.2.0.0/24")
    port = await admin.port(net.id, fixed_ips=[{"ip_address": "10.2.0.50"}])
    assert [(f.subnet_id, f.ip_address) for f in port.fixed_ips] == [(sub.id, "10.2.0.50")]
    code, msg = await _code(admin.port(net.id, fixed_ips=[{"ip_address": "10.2.0.50"}]))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "10.2.0.50 is already allocated" in msg
    code, msg = await _code(
        admin.port(net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.3.0.5"}])
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outside subnet" in msg
    code, msg = await _code(admin.port(net.id, fixed_ips=[{"ip_address": "10.9.0.5"}]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outside every subnet" in msg
    code, msg = await _code(admin.port(net.id, fixed_ips=[{"ip_address": "10.2.0.1"}]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "gateway" in msg
    code, msg = await _code(admin.port(net.id, fixed_ips=[{"ip_address": "10.2.0.255"}]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "broadcast" in msg
    # Nothing half-created: only the first port exists, and .50 is its address alone.
    ports = (await admin.ListPorts(pb.ListPortsRequest(network_id=net.id))).ports
    assert [p.id for p in ports] == [port.id]
    # Freed on delete, then taken again.
    await admin.DeletePort(pb.DeletePortRequest(port_id=port.id))
    again = await admin.port(net.id, fixed_ips=[{"ip_address": "10.2.0.50"}])
    assert again.fixed_ips[0].ip_address == "10.2.0.50"


async def test_vlan_and_flat_segments(service: Service) -> None:
    admin = service.admin()
    phys = physnet()
    first = await admin.network(physical_network=phys, segmentation_id=300)
    code, msg = await _code(admin.network(physical_network=phys, segmentation_id=300))
    assert code == grpc.StatusCode.ALREADY_EXISTS and first.id in msg and "VLAN 300" in msg
    other = await admin.network(physical_network=physnet(), segmentation_id=300)
    assert other.segmentation_id == 300  # another physical network: its own VLAN space
    for bad in (0, 4095, -1):
        code, msg = await _code(admin.network(physical_network=phys, segmentation_id=bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, bad
    flat = await admin.network(physical_network=phys, network_type=pb.NETWORK_TYPE_FLAT)
    code, msg = await _code(admin.network(physical_network=phys, network_type=pb.NETWORK_TYPE_FLAT))
    assert code == grpc.StatusCode.ALREADY_EXISTS and flat.id in msg
    code, _ = await _code(admin.network(physical_network=phys, mtu=20))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    member = service.caller()
    code, _ = await _code(member.network(physical_network=physnet(), segmentation_id=5))
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_overlapping_subnets_refused(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=11)
    await admin.subnet(net.id, "10.4.0.0/24")
    code, msg = await _code(admin.subnet(net.id, "10.4.0.128/25"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "overlaps" in msg
    code, msg = await _code(admin.subnet(net.id, "10.4.0.0/16"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "overlaps" in msg
    other = await admin.network(physical_network=physnet(), segmentation_id=11)
    await admin.subnet(other.id, "10.4.0.0/24")  # another network may reuse the range
    code, msg = await _code(
        admin.subnet(
            net.id,
            "10.5.0.0/24",
            allocation_pools=[pb.AllocationPool(start="10.5.0.1", end="10.5.0.9")],
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "gateway" in msg
    subs = (await admin.ListSubnets(pb.ListSubnetsRequest(network_id=net.id))).subnets
    assert len(subs) == 1


async def test_delete_network_with_ports_refused(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=12)
    sub = await admin.subnet(net.id, "10.6.0.0/28")
    port = await admin.port(net.id, device_id="server-1", device_owner="compute:kvm")
    dhcp = await admin.port(net.id, device_owner="network:dhcp")
    code, msg = await _code(admin.DeleteNetwork(pb.DeleteNetworkRequest(network_id=net.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "1 port(s) in use" in msg and port.id in msg and "server-1" in msg
    code, msg = await _code(admin.DeleteSubnet(pb.DeleteSubnetRequest(subnet_id=sub.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "in use" in msg
    await admin.DeletePort(pb.DeletePortRequest(port_id=port.id))
    await admin.DeleteNetwork(pb.DeleteNetworkRequest(network_id=net.id))  # takes the dhcp port
    for req, call in (
        (pb.GetNetworkRequest(network_id=net.id), admin.GetNetwork),
        (pb.GetSubnetRequest(subnet_id=sub.id), admin.GetSubnet),
        (pb.GetPortRequest(port_id=dhcp.id), admin.GetPort),
    ):
        code, _ = await _code(call(req))
        assert code == grpc.StatusCode.NOT_FOUND


async def test_another_projects_port_does_not_exist_for_you(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=13, shared=True)
    await admin.subnet(net.id, "10.7.0.0/24")
    alice, bob = service.caller(), service.caller()
    port = await alice.port(net.id)  # a shared network: any project may have ports on it
    assert port.project_id == alice.project
    for call in (
        bob.GetPort(pb.GetPortRequest(port_id=port.id)),
        bob.DeletePort(pb.DeletePortRequest(port_id=port.id)),
        bob.GetPortBindingSpec(bpb.GetPortBindingSpecRequest(port_id=port.id)),
    ):
        code, msg = await _code(call)
        assert code == grpc.StatusCode.NOT_FOUND and port.id in msg
    assert (await bob.ListPorts(pb.ListPortsRequest())).ports == []
    code, _ = await _code(bob.ListPorts(pb.ListPortsRequest(all_projects=True)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    private = await admin.network(physical_network=physnet(), segmentation_id=13)
    code, _ = await _code(alice.port(private.id))
    assert code == grpc.StatusCode.NOT_FOUND
    reader = service.caller(alice.project, roles=("reader",))
    code, _ = await _code(reader.DeletePort(pb.DeletePortRequest(port_id=port.id)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # A user cannot bind ports; a service token can.
    code, _ = await _code(alice.bind(port.id, "kvm-1"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # The api creates ports for a project only on networks that project may use.
    api = service.api()
    code, _ = await _code(api.port(private.id, project_id=alice.project))
    assert code == grpc.StatusCode.NOT_FOUND
    on_behalf = await api.port(net.id, project_id=alice.project, device_id="srv-1")
    assert on_behalf.project_id == alice.project


async def test_security_groups_and_rules(service: Service) -> None:
    alice = service.caller()
    groups = (await alice.ListSecurityGroups(spb.ListSecurityGroupsRequest())).security_groups
    assert [g.name for g in groups] == ["default"]  # created on first use
    default = groups[0]
    assert default.is_default
    rules = {(r.direction, r.ethertype, r.remote_group_id) for r in default.rules}
    assert rules == {
        (spb.DIRECTION_EGRESS, spb.ETHERTYPE_IPV4, ""),
        (spb.DIRECTION_EGRESS, spb.ETHERTYPE_IPV6, ""),
        (spb.DIRECTION_INGRESS, spb.ETHERTYPE_IPV4, default.id),
        (spb.DIRECTION_INGRESS, spb.ETHERTYPE_IPV6, default.id),
    }
    web = await alice.group("web")
    ssh = await alice.rule(web.id, direction=spb.DIRECTION_INGRESS, protocol="TCP",
                           port_range_min=22, remote_ip_prefix="10.0.0.0/8")  # fmt: skip
    assert (ssh.protocol, ssh.port_range_min, ssh.port_range_max) == ("tcp", 22, 22)
    assert ssh.ethertype == spb.ETHERTYPE_IPV4
    ping6 = await alice.rule(web.id, direction=spb.DIRECTION_INGRESS, protocol="icmp",
                             ethertype=spb.ETHERTYPE_IPV6)  # fmt: skip
    assert ping6.protocol == "icmpv6"
    code, msg = await _code(alice.rule(web.id, direction=spb.DIRECTION_INGRESS, protocol="tcp",
                                       port_range_min=22, remote_ip_prefix="10.0.0.0/8"))  # fmt: skip
    assert code == grpc.StatusCode.ALREADY_EXISTS
    bad = [
        dict(direction=spb.DIRECTION_INGRESS, protocol="tcp", port_range_min=80, port_range_max=22),
        dict(direction=spb.DIRECTION_INGRESS, protocol="tcp", port_range_min=0),
        dict(
            direction=spb.DIRECTION_INGRESS, protocol="udp", port_range_min=1, port_range_max=70000
        ),
        dict(direction=spb.DIRECTION_INGRESS, protocol="gre", port_range_min=1),
        dict(direction=spb.DIRECTION_INGRESS, protocol="bogus"),
        dict(direction=spb.DIRECTION_INGRESS, protocol="300"),
        dict(direction=spb.DIRECTION_INGRESS, protocol="icmp", port_range_min=256),
        dict(protocol="tcp"),
        dict(
            direction=spb.DIRECTION_INGRESS, remote_ip_prefix="10.0.0.0/8", remote_group_id=web.id
        ),
        dict(
            direction=spb.DIRECTION_INGRESS,
            remote_ip_prefix="2001:db8::/32",
            ethertype=spb.ETHERTYPE_IPV4,
        ),
        dict(direction=spb.DIRECTION_INGRESS, remote_ip_prefix="not-a-cidr"),
    ]
    for fields in bad:
        code, msg = await _code(alice.rule(web.id, **fields))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (fields, msg)
    bob = service.caller()
    code, _ = await _code(bob.rule(web.id, direction=spb.DIRECTION_EGRESS))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await _code(alice.rule(web.id, direction=spb.DIRECTION_INGRESS,
                                     remote_group_id=(await bob.group("x")).id))  # fmt: skip
    assert code == grpc.StatusCode.NOT_FOUND
    got = await alice.GetSecurityGroup(spb.GetSecurityGroupRequest(security_group_id=web.id))
    assert {r.id for r in got.security_group.rules} == {ssh.id, ping6.id}
    await alice.DeleteSecurityGroupRule(
        spb.DeleteSecurityGroupRuleRequest(security_group_rule_id=ssh.id)
    )
    code, _ = await _code(
        alice.DeleteSecurityGroup(spb.DeleteSecurityGroupRequest(security_group_id=default.id))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_port_security_and_group_membership(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=14, shared=True)
    await admin.subnet(net.id, "10.8.0.0/24")
    alice = service.caller()
    web = await alice.group("web")
    code, msg = await _code(
        alice.port(net.id, port_security_enabled=False, security_group_ids=[web.id])
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "port security" in msg
    code, msg = await _code(alice.port(net.id, port_security_enabled=False,
                                       allowed_address_pairs=[pb.AllowedAddressPair(ip_address="10.8.0.99")]))  # fmt: skip
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    open_port = await alice.port(net.id, port_security_enabled=False)
    assert list(open_port.security_group_ids) == [] and not open_port.port_security_enabled
    port = await alice.port(net.id, security_group_ids=[web.id],
                            allowed_address_pairs=[pb.AllowedAddressPair(ip_address="10.8.1.0/24")])  # fmt: skip
    code, _ = await _code(
        alice.DeleteSecurityGroup(spb.DeleteSecurityGroupRequest(security_group_id=web.id))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    default = next(g for g in (await alice.ListSecurityGroups(spb.ListSecurityGroupsRequest())).security_groups
               if g.is_default)  # fmt: skip
    upd = await alice.UpdatePort(pb.UpdatePortRequest(
        port=pb.Port(id=port.id, security_group_ids=[default.id]),
        update_mask=FieldMask(paths=["security_group_ids"]),
    ))  # fmt: skip
    assert list(upd.port.security_group_ids) == [default.id]
    assert upd.port.revision > port.revision
    await alice.DeleteSecurityGroup(spb.DeleteSecurityGroupRequest(security_group_id=web.id))
    code, _ = await _code(alice.port(net.id, mac_address=port.mac_address))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, _ = await _code(alice.port(net.id, mac_address="01:00:5e:00:00:01"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_binding_spec_resolves_everything(service: Service) -> None:
    admin = service.admin()
    phys = physnet()
    net = await admin.network(physical_network=phys, segmentation_id=120, mtu=1450, shared=True)
    sub = await admin.subnet(net.id, "10.9.0.0/24", dns_nameservers=["10.9.0.2"],
                             host_routes=[pb.HostRoute(destination="172.16.0.0/12", nexthop="10.9.0.254")])  # fmt: skip
    alice = service.caller()
    web = await alice.group("web")
    await alice.rule(
        web.id, direction=spb.DIRECTION_INGRESS, protocol="icmp", remote_group_id=web.id
    )
    a = await alice.port(net.id, security_group_ids=[web.id])
    b = await alice.port(net.id, security_group_ids=[web.id])
    api, agent = service.api(), service.agent("kvm-1")
    code, _ = await _code(agent.bind(a.id, "kvm-1"))
    assert code == grpc.StatusCode.PERMISSION_DENIED  # agents do not bind; the api does
    bound = await api.bind(a.id, "kvm-1", device_id="srv-a", device_owner="compute:kvm")
    spec = bound.spec
    assert (
        bound.port.binding.state == pb.BINDING_STATE_PENDING and bound.port.binding.host == "kvm-1"
    )
    assert (spec.network_type, spec.physical_network, spec.segmentation_id, spec.mtu) == (
        pb.NETWORK_TYPE_VLAN, phys, 120, 1450,
    )  # fmt: skip
    assert spec.mac_address == a.mac_address and spec.port_security_enabled
    (ip,) = spec.ips
    assert (ip.ip_address, ip.cidr, ip.prefix_length, ip.gateway_ip, list(ip.dns_nameservers)) == (
        a.fixed_ips[0].ip_address, "10.9.0.0/24", 24, "10.9.0.1", ["10.9.0.2"],
    )  # fmt: skip
    assert ip.subnet_id == sub.id and ip.host_routes[0].nexthop == "10.9.0.254" and ip.enable_dhcp
    assert [(r.protocol, r.remote_group_id) for r in spec.rules] == [("icmp", web.id)]
    (remote,) = spec.remote_groups
    assert remote.security_group_id == web.id
    assert list(remote.addresses) == sorted([a.fixed_ips[0].ip_address, b.fixed_ips[0].ip_address])
    assert (
        spec.host == "kvm-1" and spec.vif_type == pb.VIF_TYPE_BRIDGE and spec.device_id == "srv-a"
    )
    # Bound elsewhere: refused until unbound.
    code, _ = await _code(api.bind(a.id, "kvm-2"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    done = await agent.SetPortBindingState(bpb.SetPortBindingStateRequest(
        port_id=a.id, host="kvm-1", state=pb.BINDING_STATE_ACTIVE, port_security_enforced=True,
        revision=spec.revision,
    ))  # fmt: skip
    assert (
        done.port.binding.state == pb.BINDING_STATE_ACTIVE
        and done.port.binding.port_security_enforced
    )
    # An agent reports for its own host only; a host that does not hold the binding is refused.
    code, _ = await _code(agent.SetPortBindingState(bpb.SetPortBindingStateRequest(
        port_id=a.id, host="kvm-9", state=pb.BINDING_STATE_FAILED)))  # fmt: skip
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await _code(service.agent("kvm-9").SetPortBindingState(bpb.SetPortBindingStateRequest(
        port_id=a.id, host="kvm-9", state=pb.BINDING_STATE_FAILED)))  # fmt: skip
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # Agents read what they plumb, but do not create ports.
    spec2 = (await agent.GetPortBindingSpec(bpb.GetPortBindingSpecRequest(port_id=a.id))).spec
    assert spec2.revision == done.port.revision
    code, _ = await _code(agent.port(net.id))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    un = await api.UnbindPort(bpb.UnbindPortRequest(port_id=a.id))
    assert un.port.binding.state == pb.BINDING_STATE_UNBOUND and un.port.device_id == ""


async def test_ipv6_fixed_ips_on_a_sparse_subnet(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=15)
    sub = await admin.subnet(net.id, "2001:db8:15::/64")
    port = await admin.port(net.id, fixed_ips=[{"ip_address": "2001:db8:15::10"}])
    assert [(f.subnet_id, f.ip_address) for f in port.fixed_ips] == [(sub.id, "2001:db8:15::10")]
    code, msg = await _code(admin.port(net.id, fixed_ips=[{"ip_address": "2001:DB8:15:0::10"}]))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "2001:db8:15::10" in msg
    others = [await admin.port(net.id) for _ in range(5)]
    addresses = {p.fixed_ips[0].ip_address for p in [port, *others]}
    assert len(addresses) == 6
    await admin.DeletePort(pb.DeletePortRequest(port_id=port.id))
    again = await admin.port(net.id, fixed_ips=[{"ip_address": "2001:db8:15::10"}])
    assert again.fixed_ips[0].ip_address == "2001:db8:15::10"


async def test_request_ids_and_pages(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=16)
    await admin.subnet(net.id, "10.16.0.0/24")
    req = pb.CreatePortRequest(request_id="r-1", port=pb.Port(network_id=net.id))
    first, second = await admin.CreatePort(req), await admin.CreatePort(req)
    assert first.port.id == second.port.id  # a retried create creates once
    ids = {first.port.id} | {(await admin.port(net.id)).id for _ in range(4)}
    seen: list[str] = []
    token = ""
    while True:
        page = await admin.ListPorts(
            pb.ListPortsRequest(network_id=net.id, page_size=2, page_token=token)
        )
        assert len(page.ports) <= 2
        seen += [p.id for p in page.ports]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    code, _ = await _code(admin.ListPorts(pb.ListPortsRequest(page_token="garbage!")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
