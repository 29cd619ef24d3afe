"""The vSphere network data plane against vcsim: port groups, NICs with the port's MAC,
guestinfo network configuration, attach/detach on a running VM, port groups removed unused."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim
from vmware_fixtures import Direct, local_image, options_for

from polyvisor.agent_vmware.guestinfo import decode
from polyvisor.agent_vmware.net.convert import binding_from_pb
from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agent_vmware.net.nics import port_key
from polyvisor.agent_vmware.net.switches import SwitchMapping, port_group_name
from polyvisor.agent_vmware.ports_driver import PortsVmwareDriver
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.convert import host_report_to_proto
from polyvisor.agentkit.driver import DriverError, InstanceSpec, LocalImage
from polyvisor.network.v1 import bindings_pb2, networks_pb2
from tests.fixtures.vcsim import VcsimEndpoint

MAPPINGS = {
    "physnet1": SwitchMapping("physnet1", "vSwitch0"),
    "physnet2": SwitchMapping("physnet2", "DVS0", distributed=True),
}


@dataclass
class Bindings:
    """The network service's side, as typed PortBindingSpec messages (BindingSource)."""

    by_server: dict[str, list[bindings_pb2.PortBindingSpec]] = field(default_factory=dict)
    by_port: dict[str, bindings_pb2.PortBindingSpec] = field(default_factory=dict)
    reports: list[tuple[str, bool, bool, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, server_id: str, spec: bindings_pb2.PortBindingSpec, *, at_spawn: bool) -> None:
        self.by_port[spec.port_id] = spec
        if at_spawn:
            self.by_server.setdefault(server_id, []).append(spec)

    def bindings_for(self, server_id: str) -> list[PortBinding]:
        return [binding_from_pb(s) for s in self.by_server.get(server_id, [])]

    def binding(self, server_id: str, port_id: str) -> PortBinding:
        try:
            return binding_from_pb(self.by_port[port_id])
        except KeyError:
            raise DriverError(f"no port {port_id}") from None

    def report(
        self, port: PortBinding, *, active: bool, port_security_enforced: bool, message: str = ""
    ) -> None:
        with self.lock:
            self.reports.append((port.port_id, active, port_security_enforced, message))


def port_spec(
    network_id: str,
    mac: str,
    ip: str,
    *,
    physnet: str = "physnet1",
    vlan: int = 0,
    gateway: str = "10.20.0.1",
) -> bindings_pb2.PortBindingSpec:
    return bindings_pb2.PortBindingSpec(
        port_id=str(uuid.uuid4()),
        network_id=network_id,
        network_type=networks_pb2.NETWORK_TYPE_VLAN if vlan else networks_pb2.NETWORK_TYPE_FLAT,
        physical_network=physnet,
        segmentation_id=vlan,
        mtu=1500,
        admin_state_up=True,
        mac_address=mac,
        port_security_enabled=True,
        ips=[
            bindings_pb2.BoundIp(
                ip_address=ip,
                ip_version=networks_pb2.IP_VERSION_4,
                cidr="10.20.0.0/24",
                prefix_length=24,
                gateway_ip=gateway,
                dns_nameservers=["10.20.0.2", "9.9.9.9"],
                enable_dhcp=False,
            )
        ],
    )


def std_groups(direct: Direct, name: str) -> list[tuple[str, int]]:
    """(ESXi host, VLAN id) of each host's standard port group ``name``."""
    out = []
    for host in direct.cluster("DC0_C0").host:
        for pg in host.configManager.networkSystem.networkInfo.portgroup or ():
            if pg.spec.name == name:
                out.append((host.name, pg.spec.vlanId))
    return out


def dvs(direct: Direct) -> vim.DistributedVirtualSwitch:
    return next(d for d in direct.objects(vim.DistributedVirtualSwitch) if d.name == "DVS0")


def dv_group(direct: Direct, name: str) -> vim.dvs.DistributedVirtualPortgroup | None:
    return next((p for p in dvs(direct).portgroup if p.name == name), None)


def nics(vm: vim.VirtualMachine) -> list[vim.vm.device.VirtualEthernetCard]:
    return [
        d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)
    ]


@pytest.fixture
def networks(direct: Direct) -> Iterator[list[str]]:
    """Network ids of this test; every port group of theirs is gone afterwards."""
    made: list[str] = []
    yield made
    for net in made:
        name = port_group_name(net)
        for host in direct.cluster("DC0_C0").host:
            try:
                host.configManager.networkSystem.RemovePortGroup(pgName=name)
            except vim.fault.NotFound:
                pass
        pg = dv_group(direct, name)
        if pg is not None:
            WaitForTask(pg.Destroy_Task())


def new_network(networks: list[str]) -> str:
    net = str(uuid.uuid4())
    networks.append(net)
    return net


@pytest.fixture
def source() -> Bindings:
    return Bindings()


@pytest.fixture
def driver(
    vcsim_endpoint: VcsimEndpoint, folder: str, source: Bindings
) -> Iterator[PortsVmwareDriver]:
    d = PortsVmwareDriver(
        options_for(
            vcsim_endpoint,
            folder=folder,
            image_cache_folder=f"cache-{folder}",
            switch_mappings=MAPPINGS,
        )
    )
    d.attach_ports(source)
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


@pytest.fixture
def image(images: dict[str, Path]) -> LocalImage:
    return local_image(images["streamOptimized"], "img-net")


def spec_for(image: LocalImage, server_id: str, **kw: object) -> InstanceSpec:
    values: dict[str, object] = {
        "server_id": server_id,
        "name": "web-1",
        "hostname": "web-1",
        "vcpus": 1,
        "memory_mb": 128,
        "disk_gb": 0,
        "image": image,
    }
    values.update(kw)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def test_the_report_has_the_ports_capability_and_the_physical_networks(
    driver: PortsVmwareDriver,
) -> None:
    assert "ports" in capabilities_of(driver)
    info = driver.host_info()
    assert "ports" in info.capabilities
    assert info.physical_networks == ("physnet1", "physnet2")
    report = host_report_to_proto(
        info, host_id="h", agent_id="a", sequence=1, interval_s=10, server_count=0
    )
    assert list(report.physical_networks) == ["physnet1", "physnet2"]


def test_spawn_gives_a_nic_on_the_port_group_and_guestinfo_its_addresses(
    driver: PortsVmwareDriver,
    direct: Direct,
    source: Bindings,
    networks: list[str],
    image: LocalImage,
) -> None:
    net = new_network(networks)
    sid = str(uuid.uuid4())
    port = port_spec(net, "fa:16:3e:12:34:56", "10.20.0.15", vlan=120)
    source.add(sid, port, at_spawn=True)

    driver.spawn(spec_for(image, sid))

    name = port_group_name(net)
    groups = std_groups(direct, name)
    assert groups and all(vlan == 120 for _, vlan in groups)
    vm = direct.vm_by_tag(sid)
    assert vm is not None
    [nic] = nics(vm)
    assert isinstance(nic, vim.vm.device.VirtualVmxnet3)
    assert (nic.macAddress, nic.addressType) == ("fa:16:3e:12:34:56", "manual")
    assert isinstance(nic.backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo)
    assert nic.backing.deviceName == name

    extra = direct.extra(vm)
    meta = json.loads(decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"]))
    assert meta["network"] == {
        "version": 2,
        "ethernets": {
            "eth0": {
                "match": {"macaddress": "fa:16:3e:12:34:56"},
                "set-name": "eth0",
                "mtu": 1500,
                "addresses": ["10.20.0.15/24"],
                "routes": [{"to": "0.0.0.0/0", "via": "10.20.0.1"}],
                "nameservers": {"addresses": ["10.20.0.2", "9.9.9.9"]},
            }
        },
    }
    assert extra[port_key(port.port_id)] == "fa:16:3e:12:34:56"
    # Bound, and plainly not enforcing security groups (no NSX).
    assert source.reports == [(port.port_id, True, False, "")]


def test_a_distributed_switch_network_and_the_images_nic_model(
    driver: PortsVmwareDriver,
    direct: Direct,
    source: Bindings,
    networks: list[str],
    image: LocalImage,
) -> None:
    net = new_network(networks)
    sid = str(uuid.uuid4())
    source.add(
        sid,
        port_spec(net, "fa:16:3e:00:aa:01", "10.20.0.16", physnet="physnet2", vlan=121),
        at_spawn=True,
    )
    e1000e = dataclasses.replace(image, ref=dataclasses.replace(image.ref, hw_vif_model="e1000e"))

    driver.spawn(spec_for(e1000e, sid))

    pg = dv_group(direct, port_group_name(net))
    assert pg is not None and pg.config.defaultPortConfig.vlan.vlanId == 121
    assert std_groups(direct, port_group_name(net)) == []
    vm = direct.vm_by_tag(sid)
    assert vm is not None
    [nic] = nics(vm)
    assert isinstance(nic, vim.vm.device.VirtualE1000e)
    assert nic.macAddress == "fa:16:3e:00:aa:01"
    assert nic.backing.port.portgroupKey == pg.key
    assert nic.backing.port.switchUuid == dvs(direct).uuid

    driver.destroy(sid)
    assert dv_group(direct, port_group_name(net)) is None


def guest_network(direct: Direct, vm: vim.VirtualMachine) -> dict[str, list[str]]:
    """MAC -> addresses in the VM's guestinfo network configuration."""
    extra = direct.extra(vm)
    meta = json.loads(decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"]))
    return {
        e["match"]["macaddress"]: e.get("addresses", [])
        for e in meta.get("network", {}).get("ethernets", {}).values()
    }


def test_attach_and_detach_a_port_on_a_running_vm(
    driver: PortsVmwareDriver,
    direct: Direct,
    source: Bindings,
    networks: list[str],
    image: LocalImage,
) -> None:
    net_a, net_b = new_network(networks), new_network(networks)
    sid = str(uuid.uuid4())
    source.add(sid, port_spec(net_a, "fa:16:3e:00:00:0a", "10.20.0.10"), at_spawn=True)
    extra = port_spec(net_b, "fa:16:3e:00:00:0b", "10.20.0.11", vlan=130)
    source.add(sid, extra, at_spawn=False)
    driver.spawn(spec_for(image, sid))
    vm = direct.vm_by_tag(sid)
    assert vm is not None and vm.runtime.powerState == "poweredOn"
    assert std_groups(direct, port_group_name(net_b)) == []

    driver.attach_port(sid, extra.port_id)
    driver.attach_port(sid, extra.port_id)  # idempotent

    by_mac = {n.macAddress: n for n in nics(vm)}
    assert sorted(by_mac) == ["fa:16:3e:00:00:0a", "fa:16:3e:00:00:0b"]
    added = by_mac["fa:16:3e:00:00:0b"]
    assert isinstance(added, vim.vm.device.VirtualVmxnet3)
    assert added.addressType == "manual"
    assert added.backing.deviceName == port_group_name(net_b)
    assert {vlan for _, vlan in std_groups(direct, port_group_name(net_b))} == {130}
    assert (extra.port_id, True, False, "") in source.reports

    assert direct.extra(vm)[port_key(extra.port_id)] == "fa:16:3e:00:00:0b"
    # The guest's network configuration names both NICs now, with the new one's address.
    assert guest_network(direct, vm) == {
        "fa:16:3e:00:00:0a": ["10.20.0.10/24"],
        "fa:16:3e:00:00:0b": ["10.20.0.11/24"],
    }

    # The api may unbind the port before the detach reaches us: the NIC is still found.
    del source.by_port[extra.port_id]
    driver.detach_port(sid, extra.port_id)
    driver.detach_port(sid, extra.port_id)  # idempotent
    # vSphere drops a key set to ""; vcsim keeps it empty.
    assert not direct.extra(vm).get(port_key(extra.port_id))

    assert [n.macAddress for n in nics(vm)] == ["fa:16:3e:00:00:0a"]
    assert guest_network(direct, vm) == {"fa:16:3e:00:00:0a": ["10.20.0.10/24"]}
    assert vm.runtime.powerState == "poweredOn"
    # Nobody uses net_b's port group any more; net_a's still carries the server.
    assert std_groups(direct, port_group_name(net_b)) == []
    assert std_groups(direct, port_group_name(net_a)) != []


def test_port_groups_go_when_their_last_vm_goes(
    driver: PortsVmwareDriver,
    direct: Direct,
    source: Bindings,
    networks: list[str],
    image: LocalImage,
) -> None:
    net = new_network(networks)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    source.add(one, port_spec(net, "fa:16:3e:00:01:01", "10.20.0.21"), at_spawn=True)
    source.add(two, port_spec(net, "fa:16:3e:00:01:02", "10.20.0.22"), at_spawn=True)
    driver.spawn(spec_for(image, one))
    driver.spawn(spec_for(image, two))
    name = port_group_name(net)
    assert std_groups(direct, name) != []

    driver.destroy(one)
    assert std_groups(direct, name) != []  # two still uses it

    driver.destroy(two)
    assert std_groups(direct, name) == []
    assert not [n for n in direct.objects(vim.Network) if n.name == name]


def test_port_groups_a_stopped_agent_left_are_removed_at_tidy(
    driver: PortsVmwareDriver,
    direct: Direct,
    source: Bindings,
    networks: list[str],
    image: LocalImage,
) -> None:
    left, used = new_network(networks), new_network(networks)
    host = direct.cluster("DC0_C0").host[0]
    host.configManager.networkSystem.AddPortGroup(
        portgrp=vim.host.PortGroup.Specification(
            name=port_group_name(left), vlanId=150, vswitchName="vSwitch0",
            policy=vim.host.NetworkPolicy(),
        )
    )  # fmt: skip
    sid = str(uuid.uuid4())
    source.add(sid, port_spec(used, "fa:16:3e:00:03:01", "10.20.0.41"), at_spawn=True)
    driver.spawn(spec_for(image, sid))

    driver.tidy_port_groups()

    assert std_groups(direct, port_group_name(left)) == []
    assert std_groups(direct, port_group_name(used)) != []  # a VM is on it


def test_a_network_the_cluster_does_not_reach_fails_the_spawn_cleanly(
    driver: PortsVmwareDriver,
    direct: Direct,
    source: Bindings,
    networks: list[str],
    image: LocalImage,
) -> None:
    net = new_network(networks)
    sid = str(uuid.uuid4())
    source.add(
        sid, port_spec(net, "fa:16:3e:00:02:01", "10.20.0.31", physnet="elsewhere"), at_spawn=True
    )

    with pytest.raises(DriverError, match="physical network 'elsewhere' is not mapped"):
        driver.spawn(spec_for(image, sid))

    assert direct.vm_by_tag(sid) is None
    assert std_groups(direct, port_group_name(net)) == []
    assert driver.list_instances() == []
    assert source.reports[-1][:3] == (source.by_server[sid][0].port_id, False, False)
