"""The container's domain XML and what an LXC host reports it runs (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from polyvisor.agent_kvm.capabilities import parse_capabilities
from polyvisor.agent_kvm.domain_xml import Interface, parse_domain_xml
from polyvisor.agent_kvm.lxc_xml import CONFIG_MOUNT, LxcSpec, build_lxc_xml, console_tty
from polyvisor.agentkit.driver import SupportedInstance

LXC_CAPS = """<capabilities>
  <host><cpu><arch>x86_64</arch></cpu></host>
  <guest><os_type>exe</os_type><arch name='x86_64'><wordsize>64</wordsize>
    <emulator>/usr/lib/libvirt/libvirt_lxc</emulator><domain type='lxc'/></arch></guest>
  <guest><os_type>exe</os_type><arch name='i686'><wordsize>32</wordsize>
    <emulator>/usr/lib/libvirt/libvirt_lxc</emulator><domain type='lxc'/></arch></guest>
</capabilities>"""


def spec(**kw: object) -> LxcSpec:
    base: dict[str, object] = {
        "server_id": "0b0e5f4e-8d3a-4a53-9a37-7f4c1b2d9e10",
        "display_name": "web-1",
        "vcpus": 2,
        "memory_mb": 256,
        "arch": "x86_64",
        "rootfs_image": "/run/polyvisor/lxc/0123456789abcdef.raw",
        "config_dir": "/var/lib/polyvisor/instances/x/config",
        "image_id": "img-1",
        "host_id": "lxc-1",
    }
    base.update(kw)
    return LxcSpec(**base)  # type: ignore[arg-type]


def test_a_container_boots_its_image_as_root_with_its_config_read_only() -> None:
    root = ET.fromstring(build_lxc_xml(spec()))
    assert root.get("type") == "lxc"
    assert root.findtext("os/type") == "exe"
    assert root.find("os/type").get("arch") == "x86_64"  # type: ignore[union-attr]
    assert root.findtext("os/init") == "/sbin/init"
    assert root.findtext("memory") == "256" and root.findtext("vcpu") == "2"
    # its own network namespace, NIC or not
    assert root.find("features/privnet") is not None
    fs = root.findall("devices/filesystem")
    assert [f.get("type") for f in fs] == ["file", "mount"]
    assert fs[0].find("driver").attrib == {"type": "loop", "format": "raw"}  # type: ignore[union-attr]
    assert fs[0].find("source").get("file") == spec().rootfs_image  # type: ignore[union-attr]
    assert fs[0].find("target").get("dir") == "/"  # type: ignore[union-attr]
    assert fs[1].find("target").get("dir") == CONFIG_MOUNT  # type: ignore[union-attr]
    assert fs[1].find("readonly") is not None
    assert [c.get("type") for c in root.findall("devices/console")] == ["pty"]
    assert root.find("devices/graphics") is None  # no VNC
    assert root.find("devices/disk") is None


def test_a_container_is_tagged_as_ours_like_a_vm() -> None:
    info = parse_domain_xml(build_lxc_xml(spec()))
    assert info.name == "polyvisor-0b0e5f4e-8d3a-4a53-9a37-7f4c1b2d9e10"
    assert (info.tag.server_id, info.tag.host_id) == (spec().server_id, "lxc-1")
    assert info.vnc_port is None and info.disk_paths == ()


def test_nics_are_veths_on_the_port_bridge_named_after_the_port() -> None:
    nics = (
        Interface("FA:16:3E:00:00:01", "brq-net1", "tap1234abcd-12", mtu=1450),
        Interface("fa:16:3e:00:00:02", "brq-net2", "tap5678abcd-34"),
    )
    root = ET.fromstring(build_lxc_xml(spec(interfaces=nics)))
    ifaces = root.findall("devices/interface")
    assert [i.get("type") for i in ifaces] == ["bridge", "bridge"]
    first = ifaces[0]
    assert first.find("mac").get("address") == "fa:16:3e:00:00:01"  # type: ignore[union-attr]
    assert first.find("source").get("bridge") == "brq-net1"  # type: ignore[union-attr]
    # the host end carries the tap name the data plane's nftables rules match on
    assert first.find("target").get("dev") == "tap1234abcd-12"  # type: ignore[union-attr]
    assert first.find("guest").get("dev") == "eth0"  # type: ignore[union-attr]
    assert first.find("mtu").get("size") == "1450"  # type: ignore[union-attr]
    assert first.find("model") is None  # a veth has no device model
    assert ifaces[1].find("guest").get("dev") == "eth1"  # type: ignore[union-attr]


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="vCPU"):
        build_lxc_xml(spec(vcpus=0))
    with pytest.raises(ValueError, match="absolute"):
        build_lxc_xml(spec(init="sbin/init"))


def test_console_tty_of_a_running_container() -> None:
    live = (
        "<domain type='lxc'><devices><console type='pty' tty='/dev/pts/3'>"
        "<source path='/dev/pts/3'/><target type='lxc' port='0'/></console></devices></domain>"
    )
    assert console_tty(live) == "/dev/pts/3"
    assert console_tty(build_lxc_xml(spec())) is None  # defined, not running


def test_an_lxc_host_runs_exe_only() -> None:
    caps = parse_capabilities(LXC_CAPS)
    assert caps.supported_instances("lxc") == (
        SupportedInstance("x86_64", "lxc", "exe"),
        SupportedInstance("i686", "lxc", "exe"),
    )
    assert caps.guest("x86_64", "lxc", os_type="exe") is not None
    assert caps.guest("x86_64", "lxc") is None  # no hvm guest on it
    assert caps.supported_instances("kvm") == ()
