"""The data plane's pure parts: nftables rendering, dnsmasq files, network_data.json, the
domain's <interface>."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from polyvisor.agent_kvm.domain_xml import DomainSpec, Interface, build_domain_xml
from polyvisor.agent_kvm.net.dhcp import host_lines, option_lines
from polyvisor.agent_kvm.net.firewall import FirewallPort, render, set_name
from polyvisor.agent_kvm.net.model import (
    AddressPair,
    BoundIp,
    Direction,
    HostRoute,
    PortBinding,
    Rule,
)
from polyvisor.agent_kvm.net.names import bridge_name, tap_name, vlan_device
from polyvisor.agent_kvm.net.network_data import network_data

NET = "6a1f0e1c-0000-4000-8000-000000000001"
PORT = "0b3c9d2e-1111-4000-8000-000000000002"
GROUP = "9d9d9d9d-2222-4000-8000-000000000003"
OTHER = "7e7e7e7e-3333-4000-8000-000000000004"


def port(**kw: object) -> PortBinding:
    base: dict[str, object] = {
        "port_id": PORT,
        "network_id": NET,
        "mac_address": "FA:16:3E:01:02:03",
        "ips": (
            BoundIp(
                "10.0.0.5",
                4,
                "sub-1",
                "10.0.0.0/24",
                24,
                gateway_ip="10.0.0.1",
                dns_nameservers=("10.0.0.2",),
                host_routes=(HostRoute("192.168.0.0/16", "10.0.0.254"),),
            ),
        ),
        "security_group_ids": (GROUP,),
        "device_id": "server-1",
    }
    base.update(kw)
    return PortBinding(**base)  # type: ignore[arg-type]


def test_names_fit_the_kernels_limit() -> None:
    for name in (bridge_name(NET), tap_name(PORT), vlan_device("enp0s31f6long", 4094)):
        assert len(name) <= 15, name
    assert vlan_device("eth1", 120) == "eth1.120"


def test_anti_spoofing_allows_the_ports_mac_ip_and_its_address_pairs_only() -> None:
    b = port(
        allowed_address_pairs=(
            AddressPair("10.0.0.100"),
            AddressPair("10.9.0.0/24", "fa:16:3e:aa:bb:cc"),
        )
    )
    script = render([FirewallPort(b, 3, ())], {})
    assert "ether saddr != { fa:16:3e:01:02:03, fa:16:3e:aa:bb:cc } drop" in script
    assert (
        "ether type ip ether saddr . ip saddr != { fa:16:3e:01:02:03 . 10.0.0.5, "
        "fa:16:3e:01:02:03 . 10.0.0.100, fa:16:3e:aa:bb:cc . 10.9.0.0/24 } drop"
    ) in script
    assert "ether type ip udp sport 67 drop" in script  # never a DHCP server
    assert 'iifname "pvt0b3c9d2e111" meta mark set 0x3 jump' in script
    assert "meta mark and 0xffff0000 == 0x30000 jump" in script
    # default drop: both per-port chains end with it
    for chain in ("_egress {", "_ingress {"):
        body = script.split(chain, 1)[1].split("\n  }", 1)[0].strip().splitlines()
        assert body[-1].strip() == "drop"


def test_rules_render_to_matches_and_remote_groups_to_sets() -> None:
    rules = (
        Rule(Direction.INGRESS, 4, "tcp", 22, 22, remote_ip_prefix="192.0.2.0/24"),
        Rule(Direction.INGRESS, 4, "icmp", remote_group_id=OTHER),
        Rule(Direction.EGRESS, 4, "udp", 1000, 2000),
        Rule(Direction.INGRESS, 4, "47"),
        Rule(Direction.INGRESS, 6, "tcp", remote_ip_prefix="10.0.0.0/8"),  # wrong family: never
    )
    script = render(
        [FirewallPort(port(), 1, rules)], {OTHER: ("10.0.0.7", "10.0.1.0/24", "2001:db8::5")}
    )
    assert "meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto tcp tcp dport 22 accept" in script
    assert f"ip saddr @{set_name(OTHER, 4)} meta l4proto icmp accept" in script
    assert "meta l4proto udp udp dport 1000-2000 return" in script
    assert "meta l4proto 47 accept" in script
    assert "10.0.0.0/8" not in script
    assert (
        f"set {set_name(OTHER, 4)} {{ type ipv4_addr; flags interval; elements = {{ 10.0.0.7, 10.0.1.0/24 }}; }}"
        in script
    )
    assert (
        f"set {set_name(OTHER, 6)} {{ type ipv6_addr; flags interval; elements = {{ 2001:db8::5 }}; }}"
        in script
    )


def test_port_security_off_has_no_chains_and_no_ports_remove_the_tables() -> None:
    assert "jump" not in render([FirewallPort(port(port_security_enabled=False), 1, ())], {})
    empty = render([], {})
    assert "delete table bridge polyvisor" in empty and "chain" not in empty


@pytest.mark.skipif(os.geteuid() != 0, reason="nft -c needs root")  # ./dev installs nft
def test_the_kernel_accepts_the_rendered_ruleset() -> None:
    rules = (
        Rule(Direction.INGRESS, 4, "tcp", 22, 80, remote_group_id=OTHER),
        Rule(Direction.INGRESS, 4, "icmp", 8, 0),
        Rule(Direction.EGRESS, 6, "icmpv6"),
        Rule(Direction.EGRESS, 4, "sctp", 5000, 5001),
    )
    b = port(allowed_address_pairs=(AddressPair("10.9.0.0/24"),))
    script = render([FirewallPort(b, 1, rules)], {OTHER: ("10.0.0.7",)})
    r = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_dnsmasq_gets_a_static_entry_per_address_and_the_subnets_options() -> None:
    b = port()
    assert host_lines([b]) == ["fa:16:3e:01:02:03,set:ssub1,10.0.0.5"]
    opts = option_lines([b], 1450)
    assert "tag:ssub1,option:router,10.0.0.1" in opts
    assert (
        "tag:ssub1,option:classless-static-route,169.254.169.254/32,0.0.0.0,"
        "192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1"
    ) in opts
    assert "tag:ssub1,option:dns-server,10.0.0.2" in opts
    assert "tag:ssub1,option:mtu,1450" in opts
    no_gw = port(ips=(BoundIp("10.0.0.5", 4, "sub-1", "10.0.0.0/24", 24),))
    assert "tag:ssub1,option:router" in option_lines([no_gw], 1500)
    no_dhcp = port(ips=(BoundIp("10.0.0.5", 4, "sub-1", "10.0.0.0/24", 24, enable_dhcp=False),))
    assert host_lines([no_dhcp]) == [] and option_lines([no_dhcp], 1500) == []


def test_network_data_json_describes_the_ports() -> None:
    nd = network_data([port()])
    assert nd["links"] == [
        {
            "id": tap_name(PORT),
            "vif_id": PORT,
            "type": "bridge",
            "ethernet_mac_address": "fa:16:3e:01:02:03",
            "mtu": 1500,
        }
    ]
    (n,) = nd["networks"]
    assert n["ip_address"] == "10.0.0.5" and n["netmask"] == "255.255.255.0"
    assert {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"} in n["routes"]
    assert {"network": "192.168.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.254"} in n[
        "routes"
    ]
    assert nd["services"] == [{"type": "dns", "address": "10.0.0.2"}]


def _spec(**kw: object) -> DomainSpec:
    base: dict[str, object] = dict(
        server_id="s1", display_name="s", vcpus=1, memory_mb=64, domain_type="qemu",
        arch="x86_64", disk_path="/d", disk_format="qcow2", serial_log="/l", vnc_port=5900,
    )  # fmt: skip
    base.update(kw)
    return DomainSpec(**base)  # type: ignore[arg-type]


def test_a_port_becomes_an_interface_on_its_bridge_with_its_mac_and_tap() -> None:
    nic = Interface("FA:16:3E:01:02:03", bridge_name(NET), tap_name(PORT), mtu=1450)
    root = ET.fromstring(build_domain_xml(_spec(interfaces=(nic,))))
    (iface,) = root.findall("devices/interface")
    assert iface.get("type") == "bridge"
    assert iface.find("mac").get("address") == "fa:16:3e:01:02:03"  # type: ignore[union-attr]
    assert iface.find("source").get("bridge") == bridge_name(NET)  # type: ignore[union-attr]
    assert iface.find("target").get("dev") == tap_name(PORT)  # type: ignore[union-attr]
    assert iface.find("model").get("type") == "virtio"  # type: ignore[union-attr]
    assert iface.find("mtu").get("size") == "1450"  # type: ignore[union-attr]
    e1000 = ET.fromstring(
        build_domain_xml(_spec(interfaces=(Interface("fa:16:3e:00:00:01", "b", "t", "e1000"),)))
    )
    assert e1000.find("devices/interface/model").get("type") == "e1000"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="hw_vif_model"):
        build_domain_xml(_spec(interfaces=(Interface("fa:16:3e:00:00:01", "b", "t", "bogus"),)))
    assert ET.fromstring(build_domain_xml(_spec())).find("devices/interface") is None
