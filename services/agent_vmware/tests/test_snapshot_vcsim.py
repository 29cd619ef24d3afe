"""Snapshot and rebuild on vcsim: a VM snapshot, a CopyVirtualDisk of the disk it froze, the
copy's flat extent downloaded; the snapshot and the copy are gone afterwards, and the bytes
are the guest's disk. Rebuild keeps the VM and replaces its disk; a VM to stay off (a stopped
server evacuated or rebuilt) is made and rebuilt without being powered on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pyVmomi import vim
from vmware_fixtures import Direct, datastore_dir, eventually, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.image_store import BASE_TAG_KEY, image_key
from polyvisor.agentkit.disk_capabilities import Rebuild, Snapshot
from polyvisor.agentkit.driver import InstanceNotFound, InstanceSpec, LocalImage, PowerState
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint


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


def spec_for(image: LocalImage) -> InstanceSpec:
    sid = str(uuid.uuid4())
    return InstanceSpec(sid, "snap-1", "snap-1", 1, 256, 0, image=image)


def test_the_driver_reports_both_capabilities(driver: VmwareDriver) -> None:
    assert isinstance(driver, Snapshot) and isinstance(driver, Rebuild)


def test_snapshot_copies_the_disk_and_leaves_nothing_behind(
    driver: VmwareDriver, direct: Direct, vcsim: Vcsim, images: dict[str, Path], tmp_path: Path
) -> None:
    image = local_image(images["streamOptimized"], "img-snap")
    inst = driver.spawn(spec_for(image))
    vm = direct.vm_by_tag(inst.server_id)
    assert vm is not None

    snap = driver.snapshot(inst.server_id, tmp_path)

    assert snap.disk_format == "raw" and snap.power_state == PowerState.RUNNING
    data = snap.path.read_bytes()
    assert data[: len(images["raw"].read_bytes())] == images["raw"].read_bytes()
    assert "CopyVirtualDisk" in snap.method
    # The VM has no snapshot left, and its folder holds no exported copy.
    vm = direct.vm_by_tag(inst.server_id)
    assert vm is not None and vm.runtime.powerState == "poweredOn"
    tree = direct.content.propertyCollector.RetrieveContents(
        [
            vim.PropertyCollector.FilterSpec(
                objectSet=[vim.PropertyCollector.ObjectSpec(obj=vm)],
                propSet=[
                    vim.PropertyCollector.PropertySpec(
                        type=vim.VirtualMachine, all=False, pathSet=["snapshot"]
                    )
                ],
            )
        ]
    )
    snapshot = {p.name: p.val for p in tree[0].propSet}.get("snapshot")
    assert snapshot is None or not snapshot.rootSnapshotList
    files = sorted(p.name for p in (datastore_dir(vcsim.data_dir) / inst.server_id).iterdir())
    assert not [f for f in files if "image-" in f], files


def test_snapshot_of_a_stopped_vm_is_consistent_and_stays_stopped(
    driver: VmwareDriver, images: dict[str, Path], tmp_path: Path
) -> None:
    inst = driver.spawn(spec_for(local_image(images["streamOptimized"], "img-snap-off")))
    driver.power_off(inst.server_id)
    snap = driver.snapshot(inst.server_id, tmp_path)
    assert snap.quiesced and snap.power_state == PowerState.SHUTDOWN


def test_snapshot_of_an_unknown_server_is_not_found(driver: VmwareDriver, tmp_path: Path) -> None:
    with pytest.raises(InstanceNotFound):
        driver.snapshot(str(uuid.uuid4()), tmp_path)


def test_rebuild_keeps_the_vm_and_replaces_its_disk(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path], tmp_path: Path
) -> None:
    inst = driver.spawn(spec_for(local_image(images["streamOptimized"], "img-old")))
    before = direct.vm_by_tag(inst.server_id)
    assert before is not None
    # A different image: the raw disk with its first sector changed.
    other = tmp_path / "other.raw"
    data = bytearray(images["raw"].read_bytes())
    data[0:16] = b"rebuilt-image-!!"
    other.write_bytes(bytes(data))
    new = local_image(other, "img-new", disk_format="raw", disktype="sparse")
    rebuilt = driver.rebuild(inst.server_id, new, 0)
    assert rebuilt.power_state == PowerState.RUNNING
    after = direct.vm_by_tag(inst.server_id)
    assert after is not None and after._moId == before._moId
    # it names its new base now (the image cache sweep keeps that one, not the old)
    assert Direct.extra(after)[BASE_TAG_KEY] == image_key(new)
    snap = driver.snapshot(inst.server_id, tmp_path)
    assert snap.path.read_bytes()[:16] == b"rebuilt-image-!!"


def test_a_vm_to_stay_off_is_made_and_rebuilt_without_being_powered_on(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    """A stopped server evacuated to this cluster is created, never powered on (a redelivered
    spawn neither); rebuilt while stopped, it gets its new base and stays off."""
    image = local_image(images["streamOptimized"], "img-off")
    spec = replace(spec_for(image), powered_off=True)
    made = driver.spawn(spec)
    assert made.power_state == PowerState.SHUTDOWN
    vm = direct.vm_by_tag(made.server_id)
    assert vm is not None and vm.runtime.powerState == "poweredOff"
    assert driver.spawn(spec).power_state == PowerState.SHUTDOWN
    new = local_image(images["streamOptimized"], "img-off-new")
    rebuilt = driver.rebuild(made.server_id, new, 0, powered_off=True)
    assert rebuilt.power_state == PowerState.SHUTDOWN
    after = direct.vm_by_tag(made.server_id)
    assert after is not None and after.runtime.powerState == "poweredOff"
    assert Direct.extra(after)[BASE_TAG_KEY] == image_key(new)


def _snapshot_names(direct: Direct, vm: vim.VirtualMachine) -> list[str]:
    tree = direct.content.propertyCollector.RetrieveContents(
        [
            vim.PropertyCollector.FilterSpec(
                objectSet=[vim.PropertyCollector.ObjectSpec(obj=vm)],
                propSet=[
                    vim.PropertyCollector.PropertySpec(
                        type=vim.VirtualMachine, all=False, pathSet=["snapshot"]
                    )
                ],
            )
        ]
    )
    info = {p.name: p.val for p in tree[0].propSet}.get("snapshot")
    names, todo = [], list(info.rootSnapshotList if info is not None else ())
    while todo:
        node = todo.pop()
        names.append(node.name)
        todo.extend(node.childSnapshotList or ())
    return names


def test_a_snapshot_left_by_an_agent_killed_half_way_is_removed_by_the_retry(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path], tmp_path: Path
) -> None:
    inst = driver.spawn(spec_for(local_image(images["streamOptimized"], "img-left")))
    vm = direct.vm_by_tag(inst.server_id)
    assert vm is not None
    # What an agent killed between CreateSnapshot and RemoveSnapshot leaves.
    task = vm.CreateSnapshot_Task(name="polyvisor-image-dead", memory=False, quiesce=False)
    eventually(lambda: _snapshot_names(direct, vm) == ["polyvisor-image-dead"])
    del task
    snap = driver.snapshot(inst.server_id, tmp_path)
    assert snap.path.stat().st_size > 0
    assert _snapshot_names(direct, vm) == []
