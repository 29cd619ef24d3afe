"""A server's ports through its lifecycle, with the real network service, scheduler and image
service and fake agents: made and bound to the chosen host before the spawn command leaves
(which carries their binding specs), addresses on the server, freed when the build fails for
good or the server is deleted (the user's own ports kept), rebound on a reschedule."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from polyvisor.compute.v1 import flavors_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import network_service_pb2_grpc, networks_pb2
from polyvisor.types.v1 import fault_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, eventually, wait_hosts

HOSTS = ("net-kvm-1", "net-kvm-2")


@pytest.fixture(scope="module")
async def stack(
    module_root: Path, module_nats: str, make_database: Callable[..., str]
) -> AsyncIterator[Stack]:
    s = Stack(module_root, make_database("api"), module_nats)
    try:
        address = await s.start_network("physnet1:100:199,physnet2:200:299")
        await s.start_control_plane(
            {
                "POLYVISOR_NETWORK_ADDRESS": address,
                "POLYVISOR_BUILD_TIMEOUT_S": "20",
                "POLYVISOR_MAX_BUILD_ATTEMPTS": "2",
            }
        )
        yield s
    finally:
        await s.stop()


class Net:
    """The network service with one caller's token."""

    def __init__(self, stack: Stack, client: Client) -> None:
        assert stack.network is not None
        ch = grpc.aio.insecure_channel(stack.network.address)
        stack.channels.append(ch)
        self.stub = network_service_pb2_grpc.NetworkServiceStub(ch)
        self.md = client.md

    async def network(self, name: str, cidr: str, **kw: object) -> str:
        kw.setdefault("network_type", networks_pb2.NETWORK_TYPE_VLAN)
        kw.setdefault("physical_network", "physnet1")
        net = (
            await self.stub.CreateNetwork(
                networks_pb2.CreateNetworkRequest(network=networks_pb2.Network(name=name, **kw)),
                metadata=self.md,
            )
        ).network
        await self.stub.CreateSubnet(
            networks_pb2.CreateSubnetRequest(
                subnet=networks_pb2.Subnet(
                    name=f"{name}-v4", network_id=net.id, cidr=cidr, ip_version=4
                )
            ),
            metadata=self.md,
        )
        return str(net.id)

    async def port(self, network_id: str) -> networks_pb2.Port:
        return (
            await self.stub.CreatePort(
                networks_pb2.CreatePortRequest(port=networks_pb2.Port(network_id=network_id)),
                metadata=self.md,
            )
        ).port

    async def get_port(self, port_id: str) -> networks_pb2.Port:
        return (
            await self.stub.GetPort(networks_pb2.GetPortRequest(port_id=port_id), metadata=self.md)
        ).port

    async def ports_of(self, server_id: str) -> list[networks_pb2.Port]:
        return list(
            (
                await self.stub.ListPorts(
                    networks_pb2.ListPortsRequest(device_id=server_id),
                    metadata=self.md,
                )
            ).ports
        )


@dataclass
class Env:
    stack: Stack
    admin: Client
    agent: FakeAgentProcess
    image_id: str

    async def member(self) -> tuple[Client, Net]:
        """A new project, with a network of its own (10.77.0.0/24)."""
        c = await self.stack.new_project_user(self.admin, "member")
        net = Net(self.stack, c)
        return c, net

    def commands(self, server_id: str, verb: str = "spawn") -> list[dict]:  # type: ignore[type-arg]
        return [
            c
            for c in self.agent.commands()
            if c["server_id"] == server_id and c.get("verb") == verb
        ]


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    agent = await stack.start_agent(*HOSTS, physical_networks="physnet1")
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="net-small", name="net-small", vcpus=1, ram_mb=256, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("net-boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    await wait_hosts(admin, *HOSTS)
    return Env(stack, admin, agent, image.id)


async def create(
    c: Client, env: Env, *nics: servers_pb2.ServerNetwork, **meta: str
) -> servers_pb2.Server:
    return await c.create_server(
        f"s-{uuid.uuid4().hex[:6]}",
        env.image_id,
        "net-small",
        metadata=meta,
        networks=list(nics),
    )


async def test_the_projects_only_network_gets_a_bound_port_and_its_address(env: Env) -> None:
    c, net = await env.member()
    network_id = await net.network("only", "10.77.0.0/24")
    server = await create(c, env)
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)

    ports = await net.ports_of(server.id)
    assert len(ports) == 1
    port = ports[0]
    assert port.network_id == network_id
    assert port.binding.host == active.host
    # The spawn command carried the port's binding spec for its host.
    spawns = env.commands(server.id)
    assert spawns[-1]["ports"] == [
        {"port_id": port.id, "host": active.host, "mac_address": port.mac_address}
    ]
    # The server shows the port's address.
    assert len(active.addresses) == 1
    a = active.addresses[0]
    assert a.network == "only"
    assert a.address == port.fixed_ips[0].ip_address
    assert ipaddress.ip_address(a.address) in ipaddress.ip_network("10.77.0.0/24")
    assert a.version == 4
    assert a.mac_address == port.mac_address


async def test_delete_removes_the_ports_it_made_and_keeps_the_users(env: Env) -> None:
    c, net = await env.member()
    network_id = await net.network("two-nics", "10.78.0.0/24")
    mine = await net.port(network_id)
    server = await create(
        c,
        env,
        servers_pb2.ServerNetwork(network_id=network_id, fixed_ip="10.78.0.50"),
        servers_pb2.ServerNetwork(port_id=mine.id),
    )
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    assert sorted(a.address for a in active.addresses) == sorted(
        ["10.78.0.50", mine.fixed_ips[0].ip_address]
    )
    ports = {p.id: p for p in await net.ports_of(server.id)}
    assert len(ports) == 2 and mine.id in ports
    made = next(i for i in ports if i != mine.id)
    assert all(p.binding.host == active.host for p in ports.values())

    await c.compute.DeleteServer(
        servers_pb2.DeleteServerRequest(server_id=server.id), metadata=c.md
    )

    async def left() -> list[networks_pb2.Port]:
        return await net.ports_of(server.id)

    await eventually(left, lambda found: not found, within=30)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await net.get_port(made)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    kept = await net.get_port(mine.id)
    assert kept.device_id == "" and kept.binding.host == ""
    # Free again: another server may take it.
    again = await create(c, env, servers_pb2.ServerNetwork(port_id=mine.id))
    await c.wait(again.id, st.SERVER_STATE_ACTIVE)
    assert (await net.get_port(mine.id)).device_id == again.id


async def test_a_failed_build_frees_its_ports(env: Env) -> None:
    c, net = await env.member()
    network_id = await net.network("fails", "10.79.0.0/24")
    mine = await net.port(network_id)
    server = await create(
        c,
        env,
        servers_pb2.ServerNetwork(network_id=network_id),
        servers_pb2.ServerNetwork(port_id=mine.id),
        **{"fake.spawn": "fail"},
    )
    failed = await c.wait(server.id, st.SERVER_STATE_ERROR)
    assert failed.fault.message
    # Both hosts were told to spawn it with its ports bound to each in turn.
    spawns = env.commands(server.id)
    assert {s["host"] for s in spawns} == set(HOSTS)
    for s in spawns:
        assert {p["host"] for p in s["ports"]} == {s["host"]}

    async def left() -> list[networks_pb2.Port]:
        return await net.ports_of(server.id)

    await eventually(left, lambda found: not found, within=30)
    kept = await net.get_port(mine.id)
    assert kept.device_id == "" and kept.binding.host == ""
    # The address of the port it made is free again.
    free = (
        await net.stub.ListPorts(
            networks_pb2.ListPortsRequest(network_id=network_id), metadata=net.md
        )
    ).ports
    assert [p.id for p in free] == [mine.id]


async def test_a_reschedule_rebinds_the_ports_to_the_next_host(env: Env) -> None:
    c, net = await env.member()
    await net.network("moves", "10.80.0.0/24")
    server = await create(c, env, **{"fake.spawn": "fail_first"})
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    spawns = env.commands(server.id)
    assert len(spawns) == 2 and spawns[0]["host"] != spawns[1]["host"]
    # The same port, bound first to the host that failed, then to the one it runs on.
    assert spawns[0]["ports"][0]["port_id"] == spawns[1]["ports"][0]["port_id"]
    assert spawns[1]["ports"][0]["host"] == active.host
    [port] = await net.ports_of(server.id)
    assert port.binding.host == active.host
    assert [a.address for a in active.addresses] == [port.fixed_ips[0].ip_address]


async def test_bad_networks_are_refused_before_anything_is_made(env: Env) -> None:
    c, net = await env.member()
    _other, other_net = await env.member()
    theirs = await other_net.network("theirs", "10.81.0.0/24")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(c, env, servers_pb2.ServerNetwork(network_id=theirs))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert theirs in (e.value.details() or "")

    their_port = await other_net.port(theirs)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(c, env, servers_pb2.ServerNetwork(port_id=their_port.id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    mine = await net.network("a", "10.82.0.0/24")
    await net.network("b", "10.83.0.0/24")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(c, env)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "default" in (e.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(c, env, servers_pb2.ServerNetwork(network_id=mine, fixed_ip="not-an-ip"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A fixed IP the network service would refuse is refused at the create, not left to
    # fail the build: outside every subnet, or the gateway, network or broadcast address.
    for ip, why in (
        ("10.99.0.5", "outside every subnet"),
        ("10.82.0.1", "gateway"),
        ("10.82.0.255", "broadcast"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await create(c, env, servers_pb2.ServerNetwork(network_id=mine, fixed_ip=ip))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, ip
        assert ip in (e.value.details() or "") and why in (e.value.details() or ""), ip

    # A port in use by a server is not free for another.
    port = await net.port(mine)
    taken = port.fixed_ips[0].ip_address
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(c, env, servers_pb2.ServerNetwork(network_id=mine, fixed_ip=taken))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"IP address {taken} is already allocated" in (e.value.details() or "")
    first = await create(c, env, servers_pb2.ServerNetwork(port_id=port.id))
    await c.wait(first.id, st.SERVER_STATE_ACTIVE)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(c, env, servers_pb2.ServerNetwork(port_id=port.id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert first.id in (e.value.details() or "")

    # Nothing was made for the refused creates: only the ports the test made exist.
    listed = (
        await net.stub.ListPorts(networks_pb2.ListPortsRequest(network_id=mine), metadata=net.md)
    ).ports
    assert [p.id for p in listed] == [port.id]


async def test_a_network_no_host_reaches_is_explained(env: Env) -> None:
    c, net = await env.member()
    far = await net.network("prod-vlan-120", "10.84.0.0/24", physical_network="physnet2")
    server = await create(c, env, servers_pb2.ServerNetwork(network_id=far))
    failed = await c.wait(server.id, st.SERVER_STATE_ERROR)
    assert failed.fault.code == fault_pb2.FAULT_CODE_NO_VALID_HOST
    assert "2 cannot reach network prod-vlan-120" in failed.fault.message
    # Nothing was made for it.
    listed = (
        await net.stub.ListPorts(networks_pb2.ListPortsRequest(network_id=far), metadata=net.md)
    ).ports
    assert list(listed) == []
