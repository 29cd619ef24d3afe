"""The input rules as pure functions: subnets and pools, fixed IPs, VLANs, MACs, rules."""

from __future__ import annotations

import pytest

from polyvisor.common.errors import InvalidArgument
from polyvisor.networksvc.model import (
    AddressPair,
    AllocationPool,
    Direction,
    HostRoute,
    NetworkType,
)
from polyvisor.networksvc.rules import normalise_rule
from polyvisor.networksvc.validation import (
    MATERIALISE_LIMIT,
    check_fixed_ip,
    check_network,
    generate_mac,
    normalise_mac,
    parse_address_pairs,
    parse_vlan_ranges,
    plan_subnet,
)


def plan(cidr: str, **kw):  # type: ignore[no-untyped-def]
    args = dict(gateway_ip="", no_gateway=False, pools=(), dns_nameservers=(), host_routes=())
    args.update(kw)
    return plan_subnet(cidr, **args)


def test_default_pool_is_the_cidr_less_network_broadcast_gateway() -> None:
    p = plan("10.0.0.0/24")
    assert p.gateway_ip == "10.0.0.1"
    assert p.allocation_pools == (AllocationPool("10.0.0.2", "10.0.0.254"),)
    assert p.pool_size == 253 and p.materialised
    p = plan("10.0.0.0/24", gateway_ip="10.0.0.254")
    assert p.allocation_pools == (AllocationPool("10.0.0.1", "10.0.0.253"),)
    p = plan("10.0.0.0/24", gateway_ip="10.0.0.100")
    assert p.allocation_pools == (
        AllocationPool("10.0.0.1", "10.0.0.99"),
        AllocationPool("10.0.0.101", "10.0.0.254"),
    )
    p = plan("10.0.0.0/28", no_gateway=True)
    assert p.gateway_ip == "" and p.pool_size == 14
    assert plan("10.0.0.0/28").pool_size == 13


def test_ipv6_pools_and_sparse_ipam() -> None:
    p = plan("2001:db8::/64")
    assert p.ip_version == 6 and p.gateway_ip == "2001:db8::1"
    assert not p.materialised and p.pool_size > MATERIALISE_LIMIT
    assert plan("2001:db8::/120").materialised


@pytest.mark.parametrize(
    ("cidr", "kw", "needle"),
    [
        ("10.0.0.0/33", {}, "not a valid CIDR"),
        ("10.0.0.1/24", {}, "not a valid CIDR"),  # host bits set
        ("10.0.0.0/31", {}, "too small"),
        ("", {}, "required"),
        ("10.0.0.0/24", {"gateway_ip": "10.0.1.1"}, "not a usable address"),
        ("10.0.0.0/24", {"gateway_ip": "10.0.0.255"}, "not a usable address"),
        ("10.0.0.0/24", {"gateway_ip": "10.0.0.1", "no_gateway": True}, "exclusive"),
        ("10.0.0.0/24", {"pools": [AllocationPool("10.0.0.10", "10.0.0.5")]}, "not a range"),
        (
            "10.0.0.0/24",
            {"pools": [AllocationPool("10.0.0.0", "10.0.0.5")]},
            "network or broadcast",
        ),
        ("10.0.0.0/24", {"pools": [AllocationPool("10.0.0.1", "10.0.0.5")]}, "gateway"),
        ("10.0.0.0/24", {"pools": [AllocationPool("10.0.1.2", "10.0.1.5")]}, "not a range inside"),
        (
            "10.0.0.0/24",
            {
                "pools": [
                    AllocationPool("10.0.0.2", "10.0.0.9"),
                    AllocationPool("10.0.0.9", "10.0.0.20"),
                ]
            },
            "overlap",
        ),
        ("10.0.0.0/24", {"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, "duplicates"),
        ("10.0.0.0/24", {"dns_nameservers": ["dns.example"]}, "not an IP"),
        ("10.0.0.0/24", {"host_routes": [HostRoute("2001:db8::/32", "10.0.0.1")]}, "not IPv4"),
        ("10.0.0.0/24", {"existing_cidrs": ["10.0.0.128/25"]}, "overlaps"),
    ],
)
def test_bad_subnets(cidr: str, kw: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument) as e:
        plan(cidr, **kw)
    assert needle in e.value.message


def test_fixed_ip_checks() -> None:
    assert check_fixed_ip(" 10.0.0.5", "10.0.0.0/24", "10.0.0.1", "s") == "10.0.0.5"
    for ip, needle in (
        ("10.0.1.5", "outside subnet s"),
        ("10.0.0.0", "network or broadcast"),
        ("10.0.0.255", "network or broadcast"),
        ("10.0.0.1", "gateway"),
        ("2001:db8::5", "outside subnet"),
        ("nope", "not an IP"),
    ):
        with pytest.raises(InvalidArgument) as e:
            check_fixed_ip(ip, "10.0.0.0/24", "10.0.0.1", "s")
        assert needle in e.value.message, ip


def test_vlan_ranges_and_provider_checks() -> None:
    ranges = parse_vlan_ranges("physnet1:100:199, physnet2")
    assert ranges == {"physnet1": (100, 199), "physnet2": None}
    for bad in ("p:1:5000", "p:10:5", "p:1", "bad name"):
        with pytest.raises(ValueError):
            parse_vlan_ranges(bad)
    assert check_network(NetworkType.VLAN, "physnet1", 0, 0, ranges) == (NetworkType.VLAN, 1500)
    for args, needle in (
        ((None, "physnet1", 5, 0), "network_type is required"),
        ((NetworkType.VLAN, "", 5, 0), "physical_network is required"),
        ((NetworkType.VLAN, "physnet9", 5, 0), "unknown physical network"),
        ((NetworkType.VLAN, "physnet1", 4095, 0), "out of range 1-4094"),
        ((NetworkType.VLAN, "physnet2", 0, 0), "segmentation_id is required"),
        ((NetworkType.FLAT, "physnet1", 5, 0), "flat network has no segmentation_id"),
        ((NetworkType.FLAT, "physnet1", 0, 10000), "mtu"),
    ):
        with pytest.raises(InvalidArgument) as e:
            check_network(*args, ranges)
        assert needle in e.value.message


def test_macs() -> None:
    mac = generate_mac()
    assert mac.startswith("fa:16:3e:") and normalise_mac(mac) == mac
    assert normalise_mac("FA-16-3E-00-00-01") == "fa:16:3e:00:00:01"
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "fa:16:3e:00:00", "zz:16:3e:00:00:01"):
        with pytest.raises(InvalidArgument):
            normalise_mac(bad)


def test_address_pairs() -> None:
    got = parse_address_pairs(
        [AddressPair("10.0.0.7/24", ""), AddressPair("10.0.0.9", "FA:16:3E:00:00:02")]
    )
    assert got == (AddressPair("10.0.0.0/24", ""), AddressPair("10.0.0.9", "fa:16:3e:00:00:02"))
    with pytest.raises(InvalidArgument):
        parse_address_pairs([AddressPair("10.0.0.9", ""), AddressPair("10.0.0.9", "")])


def rule(**kw):  # type: ignore[no-untyped-def]
    args = dict(
        direction=Direction.INGRESS, ethertype="", protocol="", port_range_min=None,
        port_range_max=None, remote_ip_prefix="", remote_group_id="",
    )  # fmt: skip
    args.update(kw)
    return normalise_rule(**args)


def test_rules_normalised() -> None:
    r = rule(protocol="TCP", port_range_min=443)
    assert (r.protocol, r.port_range_min, r.port_range_max, r.ethertype) == (
        "tcp",
        443,
        443,
        "IPv4",
    )
    assert rule(protocol="6").protocol == "tcp"
    assert rule(protocol="47").protocol == "47"
    r = rule(protocol="tcp", port_range_min=1, port_range_max=65535)
    assert (r.port_range_min, r.port_range_max) == (None, None)  # the whole range is "any"
    r = rule(protocol="icmp", remote_ip_prefix="2001:db8::1/32")
    assert (r.protocol, r.ethertype, r.remote_ip_prefix) == ("icmpv6", "IPv6", "2001:db8::/32")
    r = rule(protocol="icmp", port_range_min=8, port_range_max=0)
    assert (r.port_range_min, r.port_range_max) == (8, 0)  # echo request, code 0


@pytest.mark.parametrize(
    "kw",
    [
        {"direction": None},
        {"protocol": "bogus"},
        {"protocol": "256"},
        {"protocol": "tcp", "port_range_min": 0},
        {"protocol": "tcp", "port_range_min": 10, "port_range_max": 9},
        {"protocol": "tcp", "port_range_max": 9},
        {"protocol": "udp", "port_range_min": 1, "port_range_max": 65536},
        {"protocol": "icmp", "port_range_min": 256},
        {"protocol": "icmp", "port_range_max": 0},
        {"protocol": "", "port_range_min": 22},
        {"protocol": "icmpv6", "ethertype": "IPv4"},
        {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "g"},
        {"remote_ip_prefix": "10.0.0.0/8", "ethertype": "IPv6"},
    ],
)
def test_bad_rules(kw: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument):
        rule(**kw)
