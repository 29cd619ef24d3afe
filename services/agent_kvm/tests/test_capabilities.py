"""Capabilities XML: architectures, vm modes and domain types, on QEMU and the test driver."""

from __future__ import annotations

import libvirt

from polyvisor.agent_kvm.capabilities import normalize_arch, parse_capabilities
from polyvisor.agentkit.driver import SupportedInstance

QEMU_CAPS = """
<capabilities>
  <host><cpu><arch>x86_64</arch></cpu></host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'><machine>pc</machine><domain type='qemu'/><domain type='kvm'/></arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <machine canonical='pc-i440fx-7.2'>pc</machine><machine>q35</machine>
      <domain type='qemu'/><domain type='kvm'/>
    </arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='aarch64'><machine>virt</machine><domain type='qemu'/></arch>
  </guest>
</capabilities>
"""


def test_qemu_host_with_kvm_and_tcg() -> None:
    caps = parse_capabilities(QEMU_CAPS)
    assert caps.host_arch == "x86_64"
    assert caps.supported_instances("kvm") == (
        SupportedInstance("i686", "kvm", "hvm"),
        SupportedInstance("x86_64", "kvm", "hvm"),
    )
    # TCG emulates aarch64 as well
    assert SupportedInstance("aarch64", "qemu", "hvm") in caps.supported_instances("qemu")
    assert caps.domain_type("kvm") == "kvm"
    guest = caps.guest("amd64", "kvm")
    assert guest is not None and guest.raw_arch == "x86_64" and "q35" in guest.machines
    assert caps.guest("aarch64", "kvm") is None


def test_the_test_driver_counts_as_any_virt_type() -> None:
    conn = libvirt.open("test:///default")
    try:
        caps = parse_capabilities(conn.getCapabilities())
    finally:
        conn.close()
    assert caps.domain_type("kvm") == "test"
    archs = {s.architecture for s in caps.supported_instances("kvm")}
    assert archs == {"i686"}
    assert {s.vm_mode for s in caps.supported_instances("qemu")} == {"hvm", "xen"}
    assert caps.guest("", "kvm") is not None  # the host's own architecture


def test_arch_aliases() -> None:
    assert [normalize_arch(a) for a in ("i386", "AMD64", "arm64", "ppc64el", "s390x")] == [
        "i686",
        "x86_64",
        "aarch64",
        "ppc64le",
        "s390x",
    ]
