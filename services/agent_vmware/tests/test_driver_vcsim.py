"""The driver against vcsim (2 clusters x 3 ESXi hosts), read back with plain pyvmomi."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim
from vmware_fixtures import Direct, datastore_dir, eventually, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.guestinfo import decode
from polyvisor.agent_vmware.watcher import Batch
from polyvisor.agentkit.capabilities import CAPABILITIES
from polyvisor.agentkit.driver import (
    DriverError,
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    LocalImage,
    PowerState,
    RenditionWanted,
    SpawnFailed,
)
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint

MIB = 1 << 20


@pytest.fixture
def driver(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[VmwareDriver]:
    d = VmwareDriver(
        options_for(vcsim_endpoint, folder=folder, image_cache_folder=f"cache-{folder}")
    )
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


def spec_for(image: LocalImage, **kw: object) -> InstanceSpec:
    values: dict[str, object] = {
        "server_id": str(uuid.uuid4()),
        "name": "web-1",
        "hostname": "web-1",
        "vcpus": 2,
        "memory_mb": 256,
        "disk_gb": 0,
        "image": image,
        "ssh_public_keys": ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB alice@example",),
        "user_data": b"#cloud-config\nruncmd: [echo hi]\n",
        "metadata": {"role": "web"},
    }
    values.update(kw)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def test_report_equals_what_vcenter_shows(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    driver.spawn(spec_for(local_image(images["streamOptimized"], "img-report"), vcpus=3))
    info = driver.host_info()
    cluster = direct.cluster("DC0_C0")
    hosts = list(cluster.host)
    usable = [
        h
        for h in hosts
        if h.runtime.connectionState == "connected" and not h.runtime.inMaintenanceMode
    ]
    assert len(hosts) == 3
    assert info.connected and info.hypervisor_type == "vmware"
    assert info.hypervisor_version == direct.content.about.apiVersion
    assert info.vcpus.total == sum(h.hardware.cpuInfo.numCpuThreads for h in usable)
    assert info.vcpus.max_unit == max(h.hardware.cpuInfo.numCpuThreads for h in usable)
    assert info.memory_mb.total == sum(h.hardware.memorySize // MIB for h in usable)
    assert info.memory_mb.max_unit == max(h.hardware.memorySize // MIB for h in usable)
    stores = list(cluster.datastore)
    assert info.disk_gb.total == sum(d.summary.capacity for d in stores) // (1 << 30)
    assert info.used_disk_gb == sum(d.summary.capacity - d.summary.freeSpace for d in stores) // (
        1 << 30
    )
    assert info.cluster is not None
    members = info.cluster.hosts
    assert info.cluster.drs_enabled is cluster.configurationEx.drsConfig.enabled
    assert sorted(
        (h.name, h.cpu_threads, h.memory_mb, h.connection_state) for h in members
    ) == sorted(
        (
            h.name,
            h.hardware.cpuInfo.numCpuThreads,
            h.hardware.memorySize // MIB,
            h.runtime.connectionState,
        )
        for h in hosts
    )
    # The per-ESXi-host detail of the hypervisor API: CPU capacity and what the VMs take.
    by_name = {h.name: h for h in members}
    for h in hosts:
        running = [vm for vm in h.vm if vm.runtime.powerState == "poweredOn"]
        got = by_name[h.name]
        assert got.cpu_mhz == h.summary.hardware.cpuMhz * h.summary.hardware.numCpuCores > 0
        assert got.vm_count == len(h.vm)
        assert got.vcpus_allocated == sum(vm.summary.config.numCpu for vm in running)
        assert got.memory_allocated_mb == sum(vm.summary.config.memorySizeMB for vm in running)
    assert sum(h.vcpus_allocated for h in members) >= 3  # our VM runs on one
    assert {r.disk_format for r in info.disk_formats} == {"vmdk"}
    assert info.vnc_port_range == (5900, 6105)
    assert set(info.capabilities) == {
        name for name, proto in CAPABILITIES.items() if isinstance(driver, proto)
    }
    assert driver.host_id == f"{direct.content.about.instanceUuid}:{cluster._moId}"


def test_datastore_regex_filters_the_disk_report(
    vcsim_endpoint: VcsimEndpoint, folder: str
) -> None:
    d = VmwareDriver(options_for(vcsim_endpoint, folder=folder, datastore_regex="^nothing$"))
    d.start(wait=30)
    try:
        assert d.host_info().disk_gb.total == 0
    finally:
        d.close()


@pytest.mark.parametrize(
    ("adapter", "controller"),
    [
        ("lsiLogic", vim.vm.device.VirtualLsiLogicController),
        ("paraVirtual", vim.vm.device.ParaVirtualSCSIController),
        ("ide", vim.vm.device.VirtualIDEController),
    ],
)
def test_spawn_tags_configures_and_powers_on(
    driver: VmwareDriver,
    direct: Direct,
    vcsim: Vcsim,
    images: dict[str, Path],
    adapter: str,
    controller: type,
) -> None:
    image = local_image(images["streamOptimized"], f"img-{adapter}", adapter=adapter)
    spec = spec_for(image)
    inst = driver.spawn(spec)
    assert inst.power_state == PowerState.RUNNING

    vm = direct.vm_by_tag(spec.server_id)
    assert vm is not None
    # The instance name is the VM's vCenter name, the same at spawn as in later observations.
    assert inst.name == vm.name == spec.server_id
    assert {i.name for i in driver.list_instances() if i.server_id == spec.server_id} == {vm.name}
    cluster = direct.cluster("DC0_C0")
    assert vm.runtime.powerState == "poweredOn"
    assert vm.runtime.host in list(cluster.host)
    assert inst.member_host == vm.runtime.host.name
    assert vm.config.instanceUuid == spec.server_id
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB) == (2, 256)

    disks = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert len(disks) == 1
    ctrl = next(d for d in vm.config.hardware.device if d.key == disks[0].controllerKey)
    assert isinstance(ctrl, controller)

    extra = Direct.extra(vm)
    port = int(extra["RemoteDisplay.vnc.port"])
    assert extra["RemoteDisplay.vnc.enabled"] == "true" and 5900 <= port <= 6105
    assert len(extra["RemoteDisplay.vnc.password"]) == 8  # VNC never open to anyone
    assert inst.console is not None and inst.console.port == port
    meta = json.loads(decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"]))
    assert meta["instance-id"] == spec.server_id and meta["local-hostname"] == "web-1"
    assert "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB alice@example" in meta["public-keys-data"]
    assert (
        decode(extra["guestinfo.userdata"], extra["guestinfo.userdata.encoding"]) == spec.user_data
    )

    # The VM's disk holds the image's bytes (the flat extent vCenter copied from the cache).
    ds = datastore_dir(vcsim.data_dir)
    flat = (ds / spec.server_id / f"{spec.server_id}-flat.vmdk").read_bytes()
    raw = images["raw"].read_bytes()
    assert flat[: len(raw)] == raw and not any(flat[len(raw) :])


def test_spawn_is_idempotent_and_grows_the_disk(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    image = local_image(images["streamOptimized"], "img-grow")
    spec = spec_for(image, disk_gb=1)
    first = driver.spawn(spec)
    again = driver.spawn(spec)
    assert (again.server_id, again.member_host) == (first.server_id, first.member_host)
    vms = [v for v in direct.objects(vim.VirtualMachine) if v.name == spec.server_id]
    assert len(vms) == 1
    disk = next(
        d for d in vms[0].config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)
    )
    assert disk.capacityInKB == 1 << 20
    # A stopped server is started by a repeated spawn ("ensure it runs").
    WaitForTask(vms[0].PowerOffVM_Task())
    assert driver.spawn(spec).power_state == PowerState.RUNNING
    assert vms[0].runtime.powerState == "poweredOn"


def test_concurrent_spawns_of_one_image_upload_it_once(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    image = local_image(images["streamOptimized"], "img-shared")
    specs = [spec_for(image, name=f"w{i}") for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(driver.spawn, specs))
    assert all(r.power_state == PowerState.RUNNING for r in results)
    assert driver.images.uploads == 1
    ports = {r.console.port for r in results if r.console}
    assert len(ports) == 4  # every VM its own VNC port
    assert {i.server_id for i in driver.list_instances()} == {s.server_id for s in specs}


def test_power_operations(driver: VmwareDriver, direct: Direct, images: dict[str, Path]) -> None:
    spec = spec_for(local_image(images["streamOptimized"], "img-power"))
    driver.spawn(spec)
    vm = direct.vm_by_tag(spec.server_id)
    assert vm is not None

    assert driver.power_off(spec.server_id).power_state == PowerState.SHUTDOWN
    assert vm.runtime.powerState == "poweredOff"
    assert driver.power_off(spec.server_id).power_state == PowerState.SHUTDOWN  # idempotent
    assert driver.power_on(spec.server_id).power_state == PowerState.RUNNING
    assert vm.runtime.powerState == "poweredOn"
    assert driver.power_on(spec.server_id).power_state == PowerState.RUNNING

    booted = vm.summary.runtime.bootTime
    # vcsim runs no VMware Tools, so a soft reboot falls back to a reset, as on a real
    # guest without tools: either way the VM comes back powered on, booted again.
    assert driver.reboot(spec.server_id, hard=False).power_state == PowerState.RUNNING
    assert vm.summary.runtime.bootTime > booted
    booted = vm.summary.runtime.bootTime
    assert driver.reboot(spec.server_id, hard=True).power_state == PowerState.RUNNING
    assert vm.runtime.powerState == "poweredOn" and vm.summary.runtime.bootTime > booted

    driver.power_off(spec.server_id)
    assert driver.reboot(spec.server_id, hard=True).power_state == PowerState.RUNNING

    console = driver.console(spec.server_id)
    assert console.type == "vnc" and console.port == int(Direct.extra(vm)["RemoteDisplay.vnc.port"])
    assert console.host == vm.runtime.host.name

    with pytest.raises(InstanceNotFound):
        driver.power_on(str(uuid.uuid4()))


def test_hard_reboots_always_end_running(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    # vcsim's reset powers off, then on, and may drop the power-on when the two race; a
    # reboot still promises a running VM, so the driver completes what the reset left.
    spec = spec_for(local_image(images["streamOptimized"], "img-resets"))
    driver.spawn(spec)
    vm = direct.vm_by_tag(spec.server_id)
    assert vm is not None
    for _ in range(20):
        assert driver.reboot(spec.server_id, hard=True).power_state == PowerState.RUNNING
        assert vm.runtime.powerState == "poweredOn"


def test_destroy_leaves_nothing_behind(
    driver: VmwareDriver, direct: Direct, vcsim: Vcsim, images: dict[str, Path]
) -> None:
    spec = spec_for(local_image(images["streamOptimized"], "img-destroy"))
    inst = driver.spawn(spec)
    folder = datastore_dir(vcsim.data_dir) / spec.server_id
    assert folder.is_dir()

    driver.destroy(spec.server_id)
    assert direct.vm_by_tag(spec.server_id) is None
    assert not [v for v in direct.objects(vim.VirtualMachine) if v.name == spec.server_id]
    assert not folder.exists()
    assert driver.list_instances() == []
    driver.destroy(spec.server_id)  # gone already: success
    # its VNC port is free again
    assert inst.console is not None
    assert inst.console.port not in driver.vnc_ports.in_use()


def test_destroy_removes_a_half_made_server(
    driver: VmwareDriver, direct: Direct, vcsim: Vcsim, folder: str
) -> None:
    """A folder left by an agent that died mid-spawn (no VM yet) is removed too."""
    sid = str(uuid.uuid4())
    content = direct.content
    dc = content.rootFolder.childEntity[0]
    content.fileManager.MakeDirectory(name=f"[LocalDS_0] {sid}", datacenter=dc)
    assert (datastore_dir(vcsim.data_dir) / sid).is_dir()
    driver.destroy(sid)
    assert not (datastore_dir(vcsim.data_dir) / sid).exists()


def test_a_bad_image_fails_the_spawn_cleanly(
    driver: VmwareDriver, direct: Direct, vcsim: Vcsim, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.vmdk"
    bad.write_bytes(b"KDMV" + bytes(508))  # a sparse header with nothing valid in it
    image = local_image(bad, "img-bad")
    spec = spec_for(image)
    with pytest.raises(SpawnFailed):
        driver.spawn(spec)
    assert direct.vm_by_tag(spec.server_id) is None
    assert not (datastore_dir(vcsim.data_dir) / spec.server_id).exists()
    with pytest.raises(SpawnFailed):
        driver.spawn(spec_for(local_image(bad, "img-bad2", adapter="virtio")))


def test_watch_reports_changes_made_outside(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    seen: list[InstanceChange] = []
    lock = threading.Lock()

    def emit(change: InstanceChange) -> None:
        with lock:
            seen.append(change)

    def changes_of(sid: str) -> list[InstanceChange]:
        with lock:
            return [c for c in seen if c.server_id == sid]

    unsubscribe = driver.watch(emit)
    try:
        spec = spec_for(local_image(images["streamOptimized"], "img-watch"))
        driver.spawn(spec)
        vm = direct.vm_by_tag(spec.server_id)
        assert vm is not None
        WaitForTask(vm.PowerOffVM_Task())  # someone in the vSphere client
        eventually(
            lambda: any(c.power_state == PowerState.SHUTDOWN for c in changes_of(spec.server_id))
        )
        WaitForTask(vm.PowerOnVM_Task())
        eventually(lambda: changes_of(spec.server_id)[-1].power_state == PowerState.RUNNING)
        assert changes_of(spec.server_id)[-1].member_host == vm.runtime.host.name
        WaitForTask(vm.PowerOffVM_Task())
        WaitForTask(vm.Destroy_Task())  # removed behind our back
        eventually(lambda: changes_of(spec.server_id)[-1].vanished)
    finally:
        unsubscribe()


def test_a_change_the_listing_sees_first_is_reported_all_the_same(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    """A VM powered off outside while the reconciler lists the VMs: the listing may read it
    before the watch's answer is handled. The change is reported either way (the listing
    recorded the new power state; the watch then saw nothing new, and the power-off went
    unreported until the reconciler powered the VM on again)."""
    seen: list[InstanceChange] = []
    power: dict[str, str] = {}  # what the watch's answers said, per VM
    armed, held, go = threading.Event(), threading.Event(), threading.Event()
    mine: list[str] = []
    on_batch = driver._on_batch

    def hold(batch: Batch) -> None:  # the watch's answer of the power-off waits for the listing
        for c in batch.changes:
            power[c.vm._moId] = str(c.props.get("runtime.powerState", power.get(c.vm._moId)))
        if armed.is_set() and any(c.vm._moId in mine for c in batch.changes):
            held.set()
            go.wait(30)
        on_batch(batch)

    driver._on_batch = hold  # type: ignore[method-assign]
    unsubscribe = driver.watch(seen.append)
    try:
        spec = spec_for(local_image(images["streamOptimized"], "img-listing"))
        driver.spawn(spec)
        vm = direct.vm_by_tag(spec.server_id)
        assert vm is not None
        mine.append(vm._moId)
        eventually(lambda: power.get(vm._moId) == "poweredOn")  # the spawn's answers are in
        armed.set()
        WaitForTask(vm.PowerOffVM_Task())  # someone in the vSphere client
        eventually(held.is_set)
        listed = {i.server_id: i.power_state for i in driver.list_instances()}
        assert listed[spec.server_id] == PowerState.SHUTDOWN
        go.set()
        eventually(
            lambda: any(
                c.server_id == spec.server_id and c.power_state == PowerState.SHUTDOWN
                for c in list(seen)
            )
        )
    finally:
        go.set()
        unsubscribe()


def test_other_cluster_is_not_ours(
    vcsim_endpoint: VcsimEndpoint, folder: str, direct: Direct, images: dict[str, Path]
) -> None:
    d = VmwareDriver(options_for(vcsim_endpoint, cluster_name="DC0/DC0_C1", folder=folder))
    d.start(wait=30)
    try:
        spec = spec_for(local_image(images["streamOptimized"], "img-c1"))
        inst = d.spawn(spec)
        vm = direct.vm_by_tag(spec.server_id)
        assert vm is not None and vm.runtime.host in list(direct.cluster("DC0_C1").host)
        assert inst.member_host.startswith("DC0_C1_")
        d.destroy(spec.server_id)
    finally:
        d.close()


def test_a_rendition_the_cluster_does_not_report_is_refused(tmp_path: Path) -> None:
    """The spawn command names a rendition the host reported (the scheduler's choice); one it
    did not (a qcow2) is refused before vCenter is asked for anything."""
    d = VmwareDriver(options_for(VcsimEndpoint("http://127.0.0.1:1/sdk", "u", "p")))
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb" + bytes(508))
    image = dataclasses.replace(local_image(disk, "img-qcow2"), rendition=RenditionWanted("qcow2"))
    try:
        with pytest.raises(SpawnFailed, match="boots vmdk renditions"):
            d.spawn(spec_for(image))
    finally:
        d.close()


def test_hosts_in_maintenance_do_not_count(
    vcsim_endpoint: VcsimEndpoint, folder: str, direct: Direct
) -> None:
    d = VmwareDriver(options_for(vcsim_endpoint, cluster_name="DC0_C1", folder=folder))
    d.start(wait=30)
    hosts = sorted(direct.cluster("DC0_C1").host, key=lambda h: h.name)
    WaitForTask(hosts[0].EnterMaintenanceMode_Task(timeout=0))
    try:
        info = d.host_info()
        others = hosts[1:]
        assert info.vcpus.total == sum(h.hardware.cpuInfo.numCpuThreads for h in others)
        assert info.memory_mb.total == sum(h.hardware.memorySize // MIB for h in others)
        assert info.cluster is not None
        flags = {h.name: h.in_maintenance for h in info.cluster.hosts}
        assert flags == {hosts[0].name: True, hosts[1].name: False, hosts[2].name: False}
    finally:
        WaitForTask(hosts[0].ExitMaintenanceMode_Task(timeout=0))
        d.close()


def test_spawn_over_a_half_made_server(
    driver: VmwareDriver, direct: Direct, vcsim: Vcsim, images: dict[str, Path]
) -> None:
    """An agent killed mid-spawn left a folder (no VM yet): the retried spawn starts clean."""
    spec = spec_for(local_image(images["streamOptimized"], "img-half"))
    leftover = datastore_dir(vcsim.data_dir) / spec.server_id
    leftover.mkdir()
    (leftover / f"{spec.server_id}-flat.vmdk").write_bytes(b"partial")
    assert driver.spawn(spec).power_state == PowerState.RUNNING
    vm = direct.vm_by_tag(spec.server_id)
    assert vm is not None and vm.runtime.powerState == "poweredOn"
    flat = (leftover / f"{spec.server_id}-flat.vmdk").read_bytes()
    assert flat[:512] == images["raw"].read_bytes()[:512]


def test_suspend_and_resume_and_no_pause(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    spec = spec_for(local_image(images["streamOptimized"], "img-suspend"))
    driver.spawn(spec)
    vm = direct.vm_by_tag(spec.server_id)
    assert vm is not None
    assert driver.suspend(spec.server_id).power_state == PowerState.SUSPENDED
    assert vm.runtime.powerState == "suspended"
    assert driver.suspend(spec.server_id).power_state == PowerState.SUSPENDED  # idempotent
    listed = {i.server_id: i.power_state for i in driver.list_instances()}
    assert listed[spec.server_id] == PowerState.SUSPENDED
    assert driver.resume(spec.server_id).power_state == PowerState.RUNNING
    assert vm.runtime.powerState == "poweredOn"
    assert driver.resume(spec.server_id).power_state == PowerState.RUNNING  # idempotent
    driver.power_off(spec.server_id)
    with pytest.raises(DriverError, match="only a running VM suspends"):
        driver.suspend(spec.server_id)
    # vSphere has no in-memory pause: the capability is not claimed, suspend is.
    caps = driver.host_info().capabilities
    assert "suspend" in caps and "pause" not in caps
