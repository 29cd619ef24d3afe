"""AddServerPort and RemoveServerPort through the api, with the real network service,
scheduler and image service and fake agents: a NIC added to a running server (a new port,
or the user's), plugged by its host, its address on the server; taken off again (the port
the server made deleted, the user's kept and unbound); refusals before anything is made (a
host without the `ports` capability, another project's port or network, a taken or foreign
fixed IP); a host that fails the attach leaves the server as it was and frees the port."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from polyvisor.client.cli.app import build_parser, run
from polyvisor.compute.v1 import flavors_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import networks_pb2
from polyvisor.types.v1 import fault_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, eventually, wait_hosts
from tests.api.test_ports import Net

CAPABLE, INCAPABLE = "nic-kvm-1", "nic-kvm-2"


@pytest.fixture(scope="module")
async def stack(
    module_root: Path, module_nats: str, make_database: Callable[..., str]
) -> AsyncIterator[Stack]:
    s = Stack(module_root, make_database("api"), module_nats)
    try:
        address = await s.start_network("physnet1:100:199")
        await s.start_control_plane({"POLYVISOR_NETWORK_ADDRESS": address})
        yield s
    finally:
        await s.stop()


@dataclass
class Env:
    stack: Stack
    admin: Client
    capable: FakeAgentProcess
    image_id: str

    async def member(self) -> tuple[Client, Net]:
        c = await self.stack.new_project_user(self.admin, "member")
        return c, Net(self.stack, c)

    def commands(self, server_id: str, verb: str) -> list[dict]:  # type: ignore[type-arg]
        return [
            c
            for c in self.capable.commands()
            if c["server_id"] == server_id and c.get("verb") == verb
        ]


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    capable = await stack.start_agent(
        CAPABLE, physical_networks="physnet1", capabilities="ports", security_groups="1"
    )
    await stack.start_agent(INCAPABLE, physical_networks="physnet1")
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="nic-small", name="nic-small", vcpus=1, ram_mb=256, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("nic-boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    await wait_hosts(admin, CAPABLE, INCAPABLE)
    return Env(stack, admin, capable, image.id)


async def server_on(
    c: Client, env: Env, host: str, network_id: str, **meta: str
) -> servers_pb2.Server:
    """An ACTIVE server of `c` on `host` (the scheduler picks among two: a server on the
    other one makes the next land here, with the different_host hint)."""
    first = await c.create_server(
        f"s-{uuid.uuid4().hex[:6]}",
        env.image_id,
        "nic-small",
        metadata=meta,
        networks=[servers_pb2.ServerNetwork(network_id=network_id)],
    )
    first = await c.wait(first.id, st.SERVER_STATE_ACTIVE)
    if first.host == host:
        return first
    second = await c.create_server(
        f"s-{uuid.uuid4().hex[:6]}",
        env.image_id,
        "nic-small",
        metadata=meta,
        networks=[servers_pb2.ServerNetwork(network_id=network_id)],
        scheduler_hints={"different_host": first.id},
    )
    second = await c.wait(second.id, st.SERVER_STATE_ACTIVE)
    assert second.host == host
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=first.id), metadata=c.md)
    return second


async def add(c: Client, server_id: str, **nic: str) -> servers_pb2.AddServerPortResponse:
    return await c.compute.AddServerPort(
        servers_pb2.AddServerPortRequest(
            server_id=server_id,
            network=servers_pb2.ServerNetwork(**nic),
            request_id=uuid.uuid4().hex,
        ),
        metadata=c.md,
    )


async def remove(c: Client, server_id: str, port_id: str) -> servers_pb2.RemoveServerPortResponse:
    return await c.compute.RemoveServerPort(
        servers_pb2.RemoveServerPortRequest(
            server_id=server_id, port_id=port_id, request_id=uuid.uuid4().hex
        ),
        metadata=c.md,
    )


async def ports_on(net: Net, network_id: str) -> list[str]:
    listed = await net.stub.ListPorts(
        networks_pb2.ListPortsRequest(network_id=network_id), metadata=net.md
    )
    return sorted(p.id for p in listed.ports)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call  # type: ignore[misc]
    return e.value


async def test_add_and_remove_a_new_port_and_the_users_port(env: Env) -> None:
    c, net = await env.member()
    first = await net.network("nic-a", "10.90.0.0/24")
    extra = await net.network("nic-b", "10.91.0.0/24")
    server = await server_on(c, env, CAPABLE, first)
    [boot_port] = await net.ports_of(server.id)

    # A new port on another network, at the address asked for.
    resp = await add(c, server.id, network_id=extra, fixed_ip="10.91.0.7")
    assert resp.server.task == st.SERVER_TASK_ATTACHING_PORT
    made = await net.get_port(resp.port_id)
    assert (made.device_id, made.binding.host) == (server.id, CAPABLE)
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    assert not active.HasField("fault")
    by_address = {a.address: a for a in active.addresses}
    assert by_address["10.91.0.7"].mac_address == made.mac_address
    assert by_address["10.91.0.7"].network == "nic-b"
    assert [cmd["port_id"] for cmd in env.commands(server.id, "attach_port")] == [made.id]

    # The user's own port.
    mine = await net.port(extra)
    resp = await add(c, server.id, port_id=mine.id)
    assert resp.port_id == mine.id
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    assert mine.fixed_ips[0].ip_address in {a.address for a in active.addresses}
    assert (await net.get_port(mine.id)).device_id == server.id

    # Taken off again: the port it made is deleted, the user's kept and unbound.
    await remove(c, server.id, made.id)
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    assert "10.91.0.7" not in {a.address for a in active.addresses}
    assert [cmd["port_id"] for cmd in env.commands(server.id, "detach_port")] == [made.id]
    await eventually(lambda: ports_on(net, extra), lambda ids: made.id not in ids)
    await remove(c, server.id, mine.id)
    active = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    assert {a.address for a in active.addresses} == {boot_port.fixed_ips[0].ip_address}
    kept = await eventually(lambda: net.get_port(mine.id), lambda p: not p.device_id)
    assert kept.binding.host == ""

    # Added again, then the server deleted: the user's port survives it, the rest go.
    await add(c, server.id, port_id=mine.id)
    await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    again = await add(c, server.id, network_id=extra)
    await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    await c.compute.DeleteServer(
        servers_pb2.DeleteServerRequest(server_id=server.id), metadata=c.md
    )
    await eventually(lambda: net.ports_of(server.id), lambda found: not found, within=30)
    assert await ports_on(net, extra) == [mine.id]
    assert again.port_id not in await ports_on(net, extra)


async def test_refusals_leave_nothing_behind(env: Env) -> None:
    c, net = await env.member()
    network_id = await net.network("nic-r", "10.92.0.0/24")
    server = await server_on(c, env, CAPABLE, network_id)
    other, other_net = await env.member()
    theirs = await other_net.network("nic-theirs", "10.93.0.0/24")
    their_port = await other_net.port(theirs)
    before = await ports_on(net, network_id)

    e = await refused(add(c, server.id, port_id=their_port.id))
    assert e.code() == grpc.StatusCode.NOT_FOUND and their_port.id in (e.details() or "")
    e = await refused(add(c, server.id, network_id=theirs))
    assert e.code() == grpc.StatusCode.NOT_FOUND and theirs in (e.details() or "")
    [own] = await net.ports_of(server.id)
    taken = own.fixed_ips[0].ip_address
    e = await refused(add(c, server.id, network_id=network_id, fixed_ip=taken))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"{taken} is already allocated" in (e.details() or "")
    e = await refused(add(c, server.id, network_id=network_id, fixed_ip="10.99.0.5"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "10.99.0.5" in (e.details() or "")
    e = await refused(add(c, server.id, network_id=network_id, fixed_ip="not-an-ip"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = await refused(add(c, server.id))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT

    # A port of another server is not free; a port of no server cannot be removed.
    elsewhere = await server_on(c, env, CAPABLE, network_id)
    [busy] = await net.ports_of(elsewhere.id)
    e = await refused(add(c, server.id, port_id=busy.id))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and elsewhere.id in (e.details() or "")
    e = await refused(remove(c, server.id, busy.id))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    e = await refused(remove(other, server.id, own.id))
    assert e.code() == grpc.StatusCode.NOT_FOUND  # another project's server

    # A host whose driver cannot plug ports: refused before any port is made.
    plain = await server_on(c, env, INCAPABLE, network_id)
    e = await refused(add(c, plain.id, network_id=network_id))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "lacks the 'ports' capability" in (e.details() or "") and INCAPABLE in (
        e.details() or ""
    )
    [plain_port] = await net.ports_of(plain.id)
    e = await refused(remove(c, plain.id, plain_port.id))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION

    made_since = set(await ports_on(net, network_id)) - set(before)
    assert made_since == {busy.id, plain_port.id}  # the two servers' own, nothing else
    assert (await c.get(server.id)).task == st.SERVER_TASK_NONE
    assert await ports_on(other_net, theirs) == [their_port.id]
    assert not (await other_net.get_port(their_port.id)).device_id


async def test_a_host_that_fails_the_attach_leaves_the_server_and_frees_the_port(
    env: Env,
) -> None:
    c, net = await env.member()
    network_id = await net.network("nic-f", "10.94.0.0/24")
    server = await server_on(c, env, CAPABLE, network_id, **{"fake.power": "fail"})
    [own] = await net.ports_of(server.id)
    resp = await add(c, server.id, network_id=network_id)
    assert resp.port_id != own.id
    after = await c.wait(server.id, st.SERVER_STATE_ACTIVE)
    assert after.fault.code == fault_pb2.FAULT_CODE_ATTACH_FAILED
    assert "attach_port failed" in after.fault.message
    assert [a.address for a in after.addresses] == [own.fixed_ips[0].ip_address]
    # The port made for it is deleted; the server keeps only its own.
    await eventually(
        lambda: net.ports_of(server.id), lambda found: [p.id for p in found] == [own.id]
    )
    assert resp.port_id not in await ports_on(net, network_id)


async def test_a_server_that_requires_security_groups_goes_only_where_they_are_enforced(
    env: Env,
) -> None:
    """Only the host with a data plane that enforces security groups takes such a server;
    when that host is ruled out, the create fails with the scheduler's explanation (a
    vCenter cluster without NSX never pretends to enforce them)."""
    c, net = await env.member()
    network_id = await net.network("nic-sg", "10.95.0.0/24")
    nic = [servers_pb2.ServerNetwork(network_id=network_id)]
    placed = []
    for _ in range(3):
        s = await c.create_server(
            f"sg-{uuid.uuid4().hex[:6]}", env.image_id, "nic-small",
            networks=nic, require_security_groups=True,
        )  # fmt: skip
        placed.append((await c.wait(s.id, st.SERVER_STATE_ACTIVE)).host)
    assert placed == [CAPABLE] * 3
    s = await c.create_server(
        f"sg-{uuid.uuid4().hex[:6]}", env.image_id, "nic-small", networks=nic,
        require_security_groups=True, scheduler_hints={"different_host": s.id},
    )  # fmt: skip
    failed = await c.wait(s.id, st.SERVER_STATE_ERROR)
    assert failed.fault.code == fault_pb2.FAULT_CODE_NO_VALID_HOST
    assert "cannot enforce security groups" in failed.fault.message
    # Nothing was made for it; its port binding never existed.
    assert await net.ports_of(s.id) == []


async def test_the_cli_adds_and_removes_a_port(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`polyvisor server add port` / `server remove port`, as a user types them (names)."""
    c, net = await env.member()
    network_id = await net.network("nic-cli", "10.96.0.0/24")
    await net.network("nic-cli-b", "10.97.0.0/24")
    server = await server_on(c, env, CAPABLE, network_id)
    assert env.stack.network is not None
    monkeypatch.setenv("POLYVISOR_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("POLYVISOR_TOKEN", c.token)
    base = ["--api-url", env.stack.apis[0].address, "--network-url", env.stack.network.address]

    async def polyvisor(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await run(build_parser().parse_args([*base, *argv]))
        return code, capsys.readouterr().out

    code, out = await polyvisor("server", "add", "port", server.name, "--network", "nic-cli-b",
                                "--fixed-ip", "10.97.0.9", "--wait", "-f", "json")  # fmt: skip
    assert code == 0, out
    shown = json.loads(out)
    assert "10.97.0.9" in json.dumps(shown["addresses"])
    [added] = [p for p in await net.ports_of(server.id) if p.fixed_ips[0].ip_address == "10.97.0.9"]
    code, out = await polyvisor("server", "remove", "port", server.name, added.id, "--wait")
    assert code == 0, out
    assert f"port {added.id} removed" in out
    after = await c.get(server.id)
    assert "10.97.0.9" not in {a.address for a in after.addresses}
