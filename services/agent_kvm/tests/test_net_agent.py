"""NetworkAgent's decisions on events and resync, against a recording plane and client."""

from __future__ import annotations

from dataclasses import dataclass, field

from polyvisor.agent_kvm.net.agent import NetworkAgent
from polyvisor.agent_kvm.net.model import BoundIp, Direction, PortBinding, RemoteGroup, Rule
from polyvisor.agent_kvm.net.plane import Vif
from polyvisor.network.v1 import network_events_pb2 as ev
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb

HOST = "kvm-1"


def spec(port_id: str, revision: int, host: str = HOST, device: str = "s1") -> PortBinding:
    return PortBinding(
        port_id=port_id, network_id="n1", mac_address="fa:16:3e:00:00:01", host=host,
        device_id=device, revision=revision, security_group_ids=("g1",),
        ips=(BoundIp("10.0.0.5", 4, "sub", "10.0.0.0/24", 24),),
        remote_groups=(RemoteGroup("g2", ("10.0.0.9",), 4),),
    )  # fmt: skip


@dataclass
class FakePlane:
    ports: dict[str, PortBinding] = field(default_factory=dict)
    groups: list[tuple[str, int]] = field(default_factory=list)
    learned: list[RemoteGroup] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def port(self, port_id: str) -> PortBinding | None:
        return self.ports.get(port_id)

    def port_ids(self) -> list[str]:
        return list(self.ports)

    def ports_of_device(self, device_id: str) -> list[PortBinding]:
        return [b for b in self.ports.values() if b.device_id == device_id]

    async def plug(self, b: PortBinding) -> Vif:
        self.ports[b.port_id] = b
        return Vif(b.port_id, b.mac_address, "pvbn1", f"pvt{b.port_id}", 1500)

    async def unplug(self, port_id: str) -> None:
        self.ports.pop(port_id, None)

    def uses_group(self, group_id: str) -> bool:
        return any(group_id in b.security_group_ids for b in self.ports.values())

    async def apply_group(self, group_id: str, revision: int, **_: object) -> bool:
        self.groups.append((group_id, revision))
        return True

    def missing_remote_groups(self) -> dict[str, str]:
        return dict(self.missing)

    async def learn_remote(self, groups: tuple[RemoteGroup, ...]) -> None:
        self.learned.extend(groups)
        self.missing.clear()


@dataclass
class FakeClient:
    specs: dict[str, PortBinding] = field(default_factory=dict)
    reports: list[tuple[str, bool, int]] = field(default_factory=list)
    calls: int = 0

    async def spec(self, port_id: str) -> PortBinding | None:
        self.calls += 1
        return self.specs.get(port_id)

    async def ports(self, *, host: str = "", device_id: str = "") -> list[tuple[str, str, int]]:
        return [
            (b.port_id, b.host, b.revision)
            for b in self.specs.values()
            if (not host or b.host == host) and (not device_id or b.device_id == device_id)
        ]

    async def report(
        self, port_id: str, host: str, *, ok: bool, message: str = "", revision: int = 0
    ) -> None:
        self.reports.append((port_id, ok, revision))


def agent() -> tuple[NetworkAgent, FakePlane, FakeClient]:
    plane, client = FakePlane(), FakeClient()
    a = NetworkAgent(host=HOST, plane=plane, client=client, bus=None)  # type: ignore[arg-type]
    return a, plane, client


def port_event(kind: int, port_id: str, revision: int, host: str = HOST) -> ev.PortEvent:
    return ev.PortEvent(kind=kind, host=host, port=pb.Port(id=port_id, revision=revision))


async def test_a_bound_port_is_plugged_and_reported_and_an_older_event_changes_nothing() -> None:
    a, plane, client = agent()
    client.specs["p1"] = spec("p1", 3)
    await a.on_port_event(port_event(ev.PORT_EVENT_KIND_BOUND, "p1", 3))
    assert plane.ports["p1"].revision == 3 and client.reports == [("p1", True, 3)]
    calls = client.calls
    await a.on_port_event(port_event(ev.PORT_EVENT_KIND_UPDATED, "p1", 2))
    await a.on_port_event(port_event(ev.PORT_EVENT_KIND_BOUND, "p1", 3))  # repeated
    assert client.calls == calls


async def test_another_hosts_port_is_not_plugged_and_one_that_moved_or_went_is_unplugged() -> None:
    a, plane, client = agent()
    client.specs["p2"] = spec("p2", 1, host="kvm-2")
    await a.on_port_event(port_event(ev.PORT_EVENT_KIND_BOUND, "p2", 1, host="kvm-2"))
    assert plane.ports == {}
    plane.ports["p1"] = spec("p1", 1)
    await a.on_port_event(port_event(ev.PORT_EVENT_KIND_BOUND, "p1", 2, host="kvm-2"))
    assert "p1" not in plane.ports
    plane.ports["p3"] = spec("p3", 1)
    await a.on_port_event(port_event(ev.PORT_EVENT_KIND_DELETED, "p3", 2))
    assert "p3" not in plane.ports


async def test_group_events_apply_to_groups_in_use_and_fetch_unknown_remote_members() -> None:
    a, plane, client = agent()
    plane.ports["p1"] = spec("p1", 1)
    client.specs["p1"] = spec("p1", 1)
    rule = spb.SecurityGroupRule(
        security_group_id="g1", direction=spb.DIRECTION_INGRESS, protocol="icmp",
        remote_group_id="g2",
    )  # fmt: skip
    plane.missing = {"g2": "p1"}
    await a.on_group_event(
        ev.SecurityGroupEvent(
            kind=ev.SECURITY_GROUP_EVENT_KIND_RULES_CHANGED, security_group_id="g1", revision=7,
            rules=[rule],
        )
    )  # fmt: skip
    assert plane.groups == [("g1", 7)]
    assert plane.learned == [RemoteGroup("g2", ("10.0.0.9",), 4)]
    await a.on_group_event(ev.SecurityGroupEvent(security_group_id="g-unused", revision=1))
    assert plane.groups == [("g1", 7)]


async def test_resync_plugs_what_is_bound_here_and_unplugs_what_is_not() -> None:
    a, plane, client = agent()
    client.specs["p1"] = spec("p1", 2)
    plane.ports["gone"] = spec("gone", 1)
    await a.resync()
    assert set(plane.ports) == {"p1"}
    nics, network_data = await a.ports_for("s1")
    assert [n.mac_address for n in nics] == ["fa:16:3e:00:00:01"]
    assert network_data["networks"][0]["ip_address"] == "10.0.0.5"


def test_rules_convert_from_the_wire() -> None:
    from polyvisor.agent_kvm.net.convert import rule_from_pb

    r = rule_from_pb(
        spb.SecurityGroupRule(
            direction=spb.DIRECTION_EGRESS, ethertype=spb.ETHERTYPE_IPV6, protocol="tcp",
            port_range_min=22, port_range_max=22,
        )
    )  # fmt: skip
    assert r == Rule(Direction.EGRESS, 6, "tcp", 22, 22)
