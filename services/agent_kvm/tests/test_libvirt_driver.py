"""The libvirt driver on libvirt's test:///default: every verb, idempotency, cleanup, events.

test:///default keeps its domains in this process (shared by every connection), so each test
uses its own server ids and leaves no domain behind.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest

from polyvisor.agent_kvm.config_drive import read_config_drive
from polyvisor.agent_kvm.domain_xml import Interface, domain_name
from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, LibvirtDriver, PortsLibvirtDriver
from polyvisor.agent_kvm.net.shell import NetError
from polyvisor.agentkit.capabilities import CAPABILITIES, capabilities_of
from polyvisor.agentkit.driver import (
    Driver,
    DriverError,
    ImageRef,
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    LocalImage,
    PowerState,
    RenditionWanted,
    SpawnFailed,
)

TEST_URI = "test:///default"


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> LocalImage:
    path = tmp_path_factory.mktemp("cache") / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    ref = ImageRef(image_id="img-1", disk_format="qcow2")
    return LocalImage(ref, RenditionWanted("qcow2"), path, path.stat().st_size, "0" * 64)


def make_driver(tmp: Path, **kw: object) -> LibvirtDriver:
    config = LibvirtConfig(
        uri=TEST_URI,
        virt_type="kvm",
        instances_dir=tmp / "instances",
        host_id=kw.pop("host_id", "kvm-test-1"),  # type: ignore[arg-type]
        vnc_port_range=kw.pop("vnc_port_range", (5900, 6000)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
    return LibvirtDriver(config)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[LibvirtDriver]:
    d = make_driver(tmp_path)
    d.open()
    yield d
    for inst in d.list_instances():
        d.destroy(inst.server_id)
    d.close()


def sid() -> str:
    return str(uuid.uuid4())


def spec_for(image: LocalImage, server_id: str, **kw: object) -> InstanceSpec:
    values: dict[str, object] = {
        "server_id": server_id,
        "name": "web-1",
        "hostname": "web-1",
        "vcpus": 2,
        "memory_mb": 256,
        "disk_gb": 1,
        "image": image,
        "ssh_public_keys": ("ssh-ed25519 AAAA test",),
        "user_data": b"#cloud-config\n",
    }
    values.update(kw)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def raw_domains() -> dict[str, libvirt.virDomain]:
    conn = libvirt.open(TEST_URI)
    try:
        return {d.name(): d for d in conn.listAllDomains(0)}
    finally:
        conn.close()


def test_it_is_a_driver(driver: LibvirtDriver) -> None:
    assert isinstance(driver, Driver)


def test_host_info_from_capabilities_node_info_and_disk(driver: LibvirtDriver) -> None:
    info = driver.host_info()
    assert info.hypervisor_type == "kvm" and info.connected
    assert info.hostname == "kvm-test-1"
    assert info.vcpus.total == 16 and info.memory_mb.total == 3072  # the test node
    assert info.memory_mb.reserved == 512
    assert info.disk_gb.total > 0
    assert {(s.architecture, s.vm_mode) for s in info.supported_instances} == {
        ("i686", "hvm"),
        ("i686", "xen"),
    }
    assert info.disk_formats == (RenditionWanted("qcow2"), RenditionWanted("raw"))
    assert info.vnc_port_range == (5900, 6000)
    assert info.cluster is None  # a KVM host is no cluster: the sub-report stays unset
    assert set(info.capabilities) == {
        name for name, proto in CAPABILITIES.items() if isinstance(driver, proto)
    }


def test_copy_disk_mode_reports_and_boots_raw_only(tmp_path: Path, base_image: LocalImage) -> None:
    """What the host reports is what it boots: in copy mode raw only, so the scheduler names a
    raw rendition for it and a qcow2 one is refused, not booted."""
    d = make_driver(tmp_path, disk_mode="copy")
    d.open()
    try:
        assert d.host_info().disk_formats == (RenditionWanted("raw"),)
        with pytest.raises(SpawnFailed, match="boots raw renditions, got qcow2"):
            d.spawn(spec_for(base_image, sid()))
        assert d.list_instances() == []
    finally:
        d.close()


def test_spawn_makes_overlay_config_drive_and_a_tagged_running_domain(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    s = sid()
    inst = driver.spawn(spec_for(base_image, s, disk_gb=2))
    assert inst.server_id == s and inst.power_state == PowerState.RUNNING
    assert inst.name == domain_name(s)
    assert inst.console is not None and 5900 <= inst.console.port <= 6000
    workdir = driver.instance_dir(s)
    disk = workdir / "disk.qcow2"
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(disk)], capture_output=True, text=True, check=True
    ).stdout
    assert str(base_image.path) in info and '"backing-filename-format": "qcow2"' in info
    assert '"virtual-size": 2147483648' in info  # grown from 64M to the flavor's 2G
    files = read_config_drive(workdir / "config-drive.iso")
    assert f'instance-id: "{s}"'.encode() in files["meta-data"]
    assert b"ssh-ed25519 AAAA test" in files["meta-data"]
    dom = raw_domains()[domain_name(s)]
    assert dom.UUIDString() == s
    assert dom.info()[3] == 2 and dom.info()[1] == 256 * 1024
    assert driver.list_instances() == [
        type(inst)(server_id=s, power_state=PowerState.RUNNING, name=domain_name(s))
    ]


def test_spawn_is_an_ensure(driver: LibvirtDriver, base_image: LocalImage) -> None:
    s = sid()
    first = driver.spawn(spec_for(base_image, s))
    driver.power_off(s)
    again = driver.spawn(spec_for(base_image, s))  # a redelivered spawn
    assert again.power_state == PowerState.RUNNING
    assert again.console == first.console
    assert list(raw_domains()).count(domain_name(s)) == 1


def test_a_server_to_stay_off_is_made_and_rebuilt_without_being_started(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    """A stopped server evacuated here is defined, never started (a redelivered spawn does not
    start it either); rebuilt while stopped, it gets its new disk and stays off."""
    s = sid()
    made = driver.spawn(spec_for(base_image, s, powered_off=True))
    assert made.power_state == PowerState.SHUTDOWN and made.console is not None
    dom = raw_domains()[domain_name(s)]
    assert not dom.isActive() and dom.isPersistent()
    assert driver.spawn(spec_for(base_image, s, powered_off=True)).power_state == (
        PowerState.SHUTDOWN
    )
    disk = driver.instance_dir(s) / "disk.qcow2"
    before = disk.stat().st_ino
    rebuilt = driver.rebuild(s, base_image, 1, powered_off=True)
    assert rebuilt.power_state == PowerState.SHUTDOWN
    assert disk.stat().st_ino != before  # a new disk in place of the old one
    assert not raw_domains()[domain_name(s)].isActive()
    # Rebuilt running (as a running server is): started on its new disk.
    assert driver.rebuild(s, base_image, 1).power_state == PowerState.RUNNING
    assert raw_domains()[domain_name(s)].isActive()


def test_power_reboot_console_and_destroy(driver: LibvirtDriver, base_image: LocalImage) -> None:
    s = sid()
    driver.spawn(spec_for(base_image, s))
    assert driver.power_off(s).power_state == PowerState.SHUTDOWN
    assert driver.power_off(s).power_state == PowerState.SHUTDOWN  # idempotent
    assert driver.reboot(s, hard=True).power_state == PowerState.RUNNING  # starts it
    assert driver.reboot(s, hard=False).power_state == PowerState.RUNNING
    assert driver.reboot(s, hard=True).power_state == PowerState.RUNNING
    assert driver.power_on(s).power_state == PowerState.RUNNING
    assert driver.power_on(s).power_state == PowerState.RUNNING
    console = driver.console(s)
    assert console.type == "vnc" and console.host == "127.0.0.1"
    driver.destroy(s)
    assert domain_name(s) not in raw_domains()
    assert not driver.instance_dir(s).exists()
    assert base_image.path.exists()  # the cached base is never deleted
    driver.destroy(s)  # gone already: success
    for verb in (driver.power_on, driver.power_off, driver.console):
        with pytest.raises(InstanceNotFound):
            verb(s)
    with pytest.raises(InstanceNotFound):
        driver.reboot(s, hard=False)


def test_vnc_ports_are_distinct_and_reused_after_destroy(
    tmp_path: Path, base_image: LocalImage
) -> None:
    d = make_driver(tmp_path, vnc_port_range=(6100, 6101))
    a, b, c = sid(), sid(), sid()
    try:
        pa = d.spawn(spec_for(base_image, a)).console
        pb = d.spawn(spec_for(base_image, b)).console
        assert {pa.port, pb.port} == {6100, 6101}  # type: ignore[union-attr]
        with pytest.raises(SpawnFailed, match="no free VNC port"):
            d.spawn(spec_for(base_image, c))
        assert not d.instance_dir(c).exists()
        d.destroy(a)
        assert d.spawn(spec_for(base_image, c)).console.port == pa.port  # type: ignore[union-attr]
    finally:
        for s in (a, b, c):
            d.destroy(s)
        d.close()


def test_a_restarted_driver_finds_its_domains_and_their_ports(
    tmp_path: Path, base_image: LocalImage
) -> None:
    hypervisor = libvirt.open(TEST_URI)  # the test driver forgets all with its last client
    first = make_driver(tmp_path, vnc_port_range=(6200, 6201))
    s = sid()
    port = first.spawn(spec_for(base_image, s)).console.port  # type: ignore[union-attr]
    first.close()
    second = make_driver(tmp_path, vnc_port_range=(6200, 6201))
    try:
        assert [i.server_id for i in second.list_instances()] == [s]
        other = sid()
        assert second.spawn(spec_for(base_image, other)).console.port != port  # type: ignore[union-attr]
        second.destroy(other)
        second.destroy(s)
    finally:
        second.close()
        hypervisor.close()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hw_disk_bus": "floppy"}, "hw_disk_bus"),
        ({"architecture": "aarch64"}, "cannot run aarch64"),
    ],
)
def test_a_failed_spawn_leaves_nothing_behind(
    driver: LibvirtDriver, base_image: LocalImage, change: dict[str, str], match: str
) -> None:
    s = sid()
    ref = ImageRef(image_id="img-1", disk_format="qcow2", **change)
    image = LocalImage(ref, base_image.rendition, base_image.path, base_image.size, "0" * 64)
    with pytest.raises(SpawnFailed, match=match):
        driver.spawn(spec_for(image, s))
    assert not driver.instance_dir(s).exists()
    assert domain_name(s) not in raw_domains()


def test_a_missing_base_image_fails_cleanly(driver: LibvirtDriver, base_image: LocalImage) -> None:
    s = sid()
    gone = LocalImage(base_image.ref, base_image.rendition, Path("/nonexistent/base.qcow2"), 1, "0")
    with pytest.raises(SpawnFailed, match="base image"):
        driver.spawn(spec_for(gone, s))
    assert not driver.instance_dir(s).exists()


class StartFails(LibvirtDriver):
    """Defines the domain, then fails to start it (a QEMU that will not run)."""

    def _define_and_start(self, conn, sid, xml, *, start=True):  # type: ignore[no-untyped-def]
        conn.defineXML(xml)
        raise DriverError("injected: qemu exited at start")


def test_a_domain_that_does_not_start_is_undefined(tmp_path: Path, base_image: LocalImage) -> None:
    d = StartFails(make_driver(tmp_path).config)
    s = sid()
    try:
        with pytest.raises(SpawnFailed, match="injected"):
            d.spawn(spec_for(base_image, s))
        assert domain_name(s) not in raw_domains()
        assert not d.instance_dir(s).exists()
        assert d.list_instances() == []
    finally:
        d.close()


def test_leftovers_of_an_interrupted_spawn_are_replaced(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    s = sid()
    workdir = driver.instance_dir(s)
    workdir.mkdir(parents=True)
    (workdir / "disk.qcow2").write_bytes(b"half a disk")
    (workdir / "stray").write_bytes(b"x")
    driver.spawn(spec_for(base_image, s))
    assert not (workdir / "stray").exists()
    assert (workdir / "disk.qcow2").stat().st_size > len(b"half a disk")


def test_domains_that_are_not_ours_are_never_touched(
    driver: LibvirtDriver, base_image: LocalImage, tmp_path: Path
) -> None:
    s = sid()
    conn = libvirt.open(TEST_URI)
    other_agent = make_driver(tmp_path / "other", host_id="kvm-test-2")
    theirs = sid()
    try:
        # same name as one of ours would have, but no tag
        conn.defineXML(
            f"<domain type='test'><name>{domain_name(s)}</name><memory>65536</memory>"
            "<os><type>hvm</type></os></domain>"
        )
        # another agent on the same libvirtd (tests, a shared lab host)
        other_agent.spawn(spec_for(base_image, theirs))
        seen = {i.server_id for i in driver.list_instances()}
        assert s not in seen and theirs not in seen
        assert "test" not in {i.name for i in driver.list_instances()}  # libvirt's own VM
        with pytest.raises(DriverError, match="not tagged"):
            driver.destroy(s)
        with pytest.raises(DriverError, match="not tagged"):
            driver.power_off(theirs)
        assert domain_name(s) in raw_domains()
        assert [i.server_id for i in other_agent.list_instances()] == [theirs]
    finally:
        conn.lookupByName(domain_name(s)).undefine()
        other_agent.destroy(theirs)
        other_agent.close()
        conn.close()


def test_changes_made_outside_the_driver_are_watched(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    s = sid()
    driver.spawn(spec_for(base_image, s))
    seen: list[InstanceChange] = []
    got = threading.Condition()

    def emit(change: InstanceChange) -> None:
        with got:
            seen.append(change)
            got.notify_all()

    def wait_for(pred) -> InstanceChange:  # type: ignore[no-untyped-def]
        with got:
            assert got.wait_for(lambda: any(pred(c) for c in seen), timeout=10)
            return next(c for c in seen if pred(c))

    stop = driver.watch(emit)
    conn = libvirt.open(TEST_URI)
    try:
        dom = conn.lookupByName(domain_name(s))
        dom.destroy()  # someone stops it behind our back
        wait_for(lambda c: c.server_id == s and c.power_state == PowerState.SHUTDOWN)
        dom.undefine()  # and deletes it
        wait_for(lambda c: c.server_id == s and c.vanished)
    finally:
        conn.close()
        stop()
    assert driver.list_instances() == []


class RecordingPorts:
    """A port hook as the network data plane would answer, recording the calls."""

    def __init__(self, fail: bool = False) -> None:
        self.plugged: list[str] = []
        self.unplugged: list[str] = []
        self.fail = fail

    def plug_for(self, server_id: str) -> tuple[tuple[Interface, ...], dict[str, object]]:
        self.plugged.append(server_id)
        nic = Interface("fa:16:3e:00:00:0a", "pvbnet", f"pvt{server_id.replace('-', '')[:11]}")
        return (nic,), {"links": [{"id": nic.tap}], "networks": [], "services": []}

    def unplug_for(self, server_id: str) -> None:
        self.unplugged.append(server_id)


def test_spawn_plugs_the_servers_ports_with_the_images_nic_model_and_destroy_unplugs(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    assert not driver.host_info().features.security_groups
    ports = RecordingPorts()
    driver.attach_ports(ports)
    # Its data plane (nftables) enforces the groups of the ports it plugs.
    assert driver.host_info().features.security_groups
    s = sid()
    e1000 = LocalImage(
        replace(base_image.ref, hw_vif_model="e1000"),
        base_image.rendition, base_image.path, base_image.size, base_image.sha256,
    )  # fmt: skip
    driver.spawn(spec_for(e1000, s))
    assert ports.plugged == [s]
    xml = raw_domains()[domain_name(s)].XMLDesc(0)
    assert "<mac address='fa:16:3e:00:00:0a'/>" in xml
    assert "<model type='e1000'/>" in xml
    files = read_config_drive(driver.instance_dir(s) / "config-drive.iso")
    assert b"pvt" in files["network_data.json"]
    meta = driver.instance_meta(s)
    assert meta is not None and meta.uuid == s and meta.public_keys == ("ssh-ed25519 AAAA test",)
    assert meta.user_data == b"#cloud-config\n"
    driver.destroy(s)
    assert ports.unplugged == [s]
    assert driver.instance_meta(s) is None


def test_an_unknown_nic_model_fails_the_spawn_and_unplugs(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    ports = RecordingPorts()
    driver.attach_ports(ports)
    s = sid()
    bogus = LocalImage(
        replace(base_image.ref, hw_vif_model="tulip9000"),
        base_image.rendition, base_image.path, base_image.size, base_image.sha256,
    )  # fmt: skip
    with pytest.raises(SpawnFailed, match="hw_vif_model"):
        driver.spawn(spec_for(bogus, s))
    assert ports.unplugged == [s]
    assert domain_name(s) not in raw_domains()


class UnreachablePorts(RecordingPorts):
    """The network service restarting (its database killed): UNAVAILABLE, retryable."""

    def plug_for(self, server_id: str) -> tuple[tuple[Interface, ...], dict[str, object]]:
        self.plugged.append(server_id)
        raise NetError("network service: ports of the server: UNAVAILABLE", retryable=True)


def test_a_network_service_that_says_try_again_fails_the_spawn_retryably_and_leaves_nothing(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    driver.attach_ports(UnreachablePorts())
    s = sid()
    with pytest.raises(DriverError, match="UNAVAILABLE") as caught:
        driver.spawn(spec_for(base_image, s))
    # still retryable (a SpawnFailed would be answered at once, and the build end in ERROR)
    assert caught.value.retryable and not isinstance(caught.value, SpawnFailed)
    assert domain_name(s) not in raw_domains()
    assert not driver.instance_dir(s).exists()


def test_only_a_host_with_a_network_data_plane_has_the_ports_capability(tmp_path: Path) -> None:
    plain = make_driver(tmp_path)
    networked = PortsLibvirtDriver(plain.config)
    assert "ports" not in capabilities_of(plain)
    assert "ports" in capabilities_of(networked)


def test_only_a_host_configured_for_ceph_attaches_rbd_volumes(tmp_path: Path) -> None:
    from polyvisor.agent_kvm.libvirt_rbd_volumes import RbdMigratingLibvirtDriver

    plain = make_driver(tmp_path)
    assert {"volume_file", "boot_volume"} <= set(capabilities_of(plain))
    assert "volume_rbd" not in capabilities_of(plain)
    assert "volume_rbd" in capabilities_of(RbdMigratingLibvirtDriver(plain.config))


def test_the_metadata_service_answers_the_metadata_set_after_the_spawn(
    driver: LibvirtDriver, base_image: LocalImage
) -> None:
    from polyvisor.agent_kvm.net.metadata import meta_data_json
    from polyvisor.agentkit.capabilities import GuestMetadata
    from polyvisor.agentkit.driver import InstanceNotFound

    assert isinstance(driver, GuestMetadata)
    s = sid()
    driver.spawn(replace(spec_for(base_image, s), metadata={"role": "web"}))
    meta = driver.instance_meta(s)
    assert meta is not None and meta_data_json(meta)["meta"] == {"role": "web"}
    driver.set_metadata(s, {"role": "db", "tier": "gold"})
    meta = driver.instance_meta(s)
    assert meta is not None and meta_data_json(meta)["meta"] == {"role": "db", "tier": "gold"}
    assert meta.uuid == s  # the rest of what the guest reads is kept
    with pytest.raises(InstanceNotFound):
        driver.set_metadata(sid(), {"a": "b"})
