"""The pure parts of the vSphere network plane: switch mappings, netplan, NIC models."""

from __future__ import annotations

import pytest

from polyvisor.agent_vmware.config import VmwareAgentSettings
from polyvisor.agent_vmware.net.guestnet import netplan_config
from polyvisor.agent_vmware.net.model import BoundIp, HostRoute, PortBinding
from polyvisor.agent_vmware.net.nics import nic_model
from polyvisor.agent_vmware.net.switches import SwitchMapping, parse_switch_mappings


def test_switch_mappings() -> None:
    assert parse_switch_mappings(" physnet1:vSwitch0, prod:dvs:DSwitch-prod ,") == {
        "physnet1": SwitchMapping("physnet1", "vSwitch0"),
        "prod": SwitchMapping("prod", "DSwitch-prod", distributed=True),
    }
    assert parse_switch_mappings("") == {}


@pytest.mark.parametrize("bad", ["physnet1", "physnet1:", ":vSwitch0", "a:dvs:", "a:x,a:y"])
def test_bad_switch_mappings(bad: str) -> None:
    with pytest.raises(ValueError, match="physical_switch_mappings"):
        parse_switch_mappings(bad)


def test_settings_carry_the_mappings_and_report_the_physical_networks() -> None:
    s = VmwareAgentSettings(
        vcenter_url="http://vc/sdk",
        vcenter_user="u",
        vcenter_password="p",
        cluster_name="C0",
        physical_switch_mappings="physnet2:dvs:D,physnet1:vSwitch1",
    )
    opts = s.options()
    assert opts.switch_mappings["physnet2"].distributed
    assert opts.physical_networks == ("physnet1", "physnet2")
    with pytest.raises(ValueError):
        VmwareAgentSettings(
            vcenter_url="http://vc/sdk",
            vcenter_user="u",
            vcenter_password="p",
            cluster_name="C0",
            physical_switch_mappings="nocolon",
        )


def _port(mac: str, *ips: BoundIp) -> PortBinding:
    return PortBinding(port_id="p", network_id="n", mac_address=mac, ips=ips, mtu=9000)


def test_netplan_two_nics_dual_stack_one_default_route_per_version() -> None:
    a = _port(
        "fa:16:3e:00:00:01",
        BoundIp(
            "10.0.0.5", 24, "10.0.0.1", ("10.0.0.2",), (HostRoute("192.168.0.0/16", "10.0.0.254"),)
        ),
        BoundIp("2001:db8::5", 64, "2001:db8::1", ("2001:db8::2", "10.0.0.2")),
    )
    b = _port("fa:16:3e:00:00:02", BoundIp("10.1.0.5", 24, "10.1.0.1"))
    c = _port("fa:16:3e:00:00:03")
    cfg = netplan_config([a, b, c])
    eth0, eth1, eth2 = (cfg["ethernets"][f"eth{i}"] for i in range(3))
    assert cfg["version"] == 2
    assert eth0["addresses"] == ["10.0.0.5/24", "2001:db8::5/64"]
    assert eth0["routes"] == [
        {"to": "0.0.0.0/0", "via": "10.0.0.1"},
        {"to": "192.168.0.0/16", "via": "10.0.0.254"},
        {"to": "::/0", "via": "2001:db8::1"},
    ]
    assert eth0["nameservers"] == {"addresses": ["10.0.0.2", "2001:db8::2"]}
    assert eth0["mtu"] == 9000
    assert "routes" not in eth1  # the second NIC's gateway would be a second default route
    assert eth1["match"] == {"macaddress": "fa:16:3e:00:00:02"}
    assert eth2 == {
        "match": {"macaddress": "fa:16:3e:00:00:03"},
        "set-name": "eth2",
        "mtu": 9000,
        "dhcp4": False,
        "dhcp6": False,
    }


def test_nic_models() -> None:
    assert nic_model("") == "vmxnet3"
    assert nic_model("E1000") == "e1000"
    with pytest.raises(ValueError, match="hw_vif_model 'virtio' has no vSphere NIC"):
        nic_model("virtio")
