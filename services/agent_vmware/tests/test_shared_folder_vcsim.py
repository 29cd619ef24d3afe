"""Two agents, one per cluster of vcsim, sharing one VM folder: each owns only its own VMs."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim
from vmware_fixtures import Direct, datastore_dir, eventually, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agentkit.driver import (
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
    SpawnFailed,
)
from polyvisor.agentkit.reconcile_plan import ActionKind, plan_reconcile
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint


@pytest.fixture
def pair(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[tuple[VmwareDriver, VmwareDriver]]:
    drivers = [
        VmwareDriver(
            options_for(
                vcsim_endpoint, cluster_name=name, folder=folder, image_cache_folder=f"c-{folder}"
            )
        )
        for name in ("DC0_C0", "DC0_C1")
    ]
    for d in drivers:
        d.start(wait=30)
    try:
        yield drivers[0], drivers[1]
    finally:
        for d in drivers:
            for inst in d.list_instances():
                d.destroy(inst.server_id)
            d.close()


def spawn(driver: VmwareDriver, images: dict[str, Path], name: str) -> str:
    spec = InstanceSpec(
        server_id=str(uuid.uuid4()),
        name=name,
        hostname=name,
        vcpus=1,
        memory_mb=128,
        disk_gb=0,
        image=local_image(images["streamOptimized"], "img-shared-folder"),
    )
    assert driver.spawn(spec).power_state == PowerState.RUNNING
    return spec.server_id


def cluster_hosts(direct: Direct, name: str) -> set[str]:
    return {h.name for h in direct.cluster(name).host}


def test_each_agent_lists_only_its_own_vms(
    pair: tuple[VmwareDriver, VmwareDriver], direct: Direct, images: dict[str, Path]
) -> None:
    a, b = pair
    assert a.host_id != b.host_id
    sid_a, sid_b = spawn(a, images, "on-a"), spawn(b, images, "on-b")

    for sid, driver in ((sid_a, a), (sid_b, b)):
        vm = direct.vm_by_tag(sid)
        assert vm is not None
        assert Direct.extra(vm)["polyvisor.host_id"] == driver.host_id
    assert [i.server_id for i in a.list_instances()] == [sid_a]
    assert [i.server_id for i in b.list_instances()] == [sid_b]
    assert {i.member_host for i in a.list_instances()} <= cluster_hosts(direct, "DC0_C0")

    # The reconciler of B, told it has no servers, finds nothing unwanted: A's VM is not B's.
    assert {x.server_id for x in plan_reconcile([], b.list_instances())} == {sid_b}
    unwanted_a = plan_reconcile([], a.list_instances())
    assert [(x.kind, x.server_id) for x in unwanted_a] == [(ActionKind.UNWANTED, sid_a)]

    # B's verbs do not reach A's VM; its destroy leaves the VM and its files alone.
    with pytest.raises(InstanceNotFound):
        b.power_off(sid_a)
    b.destroy(sid_a)
    vm_a = direct.vm_by_tag(sid_a)
    assert vm_a is not None and vm_a.runtime.powerState == "poweredOn"
    # B's VNC ports are B's: A's VM holds none of them in a server's name.
    assert sid_a not in b.vnc_ports.in_use().values()
    assert sid_a in a.vnc_ports.in_use().values()


def test_the_watch_never_reports_the_other_clusters_vms(
    pair: tuple[VmwareDriver, VmwareDriver], direct: Direct, images: dict[str, Path]
) -> None:
    a, b = pair
    seen: dict[str, list[InstanceChange]] = {"a": [], "b": []}
    lock = threading.Lock()

    def collector(key: str):  # type: ignore[no-untyped-def]
        def emit(change: InstanceChange) -> None:
            with lock:
                seen[key].append(change)

        return emit

    def of(key: str, sid: str) -> list[InstanceChange]:
        with lock:
            return [c for c in seen[key] if c.server_id == sid]

    stops = [a.watch(collector("a")), b.watch(collector("b"))]
    try:
        sid_a, sid_b = spawn(a, images, "on-a"), spawn(b, images, "on-b")
        vm_a, vm_b = direct.vm_by_tag(sid_a), direct.vm_by_tag(sid_b)
        assert vm_a is not None and vm_b is not None
        # Changes to B's VM first, then A's: once a watcher has seen its own VM's last change,
        # it has been through the other's changes too (one collector answers in order).
        for vm in (vm_b, vm_a):
            WaitForTask(vm.PowerOffVM_Task())
        eventually(lambda: any(c.power_state == PowerState.SHUTDOWN for c in of("a", sid_a)))
        eventually(lambda: any(c.power_state == PowerState.SHUTDOWN for c in of("b", sid_b)))
        for vm in (vm_b, vm_a):
            WaitForTask(vm.Destroy_Task())
        eventually(lambda: any(c.vanished for c in of("a", sid_a)))
        eventually(lambda: any(c.vanished for c in of("b", sid_b)))
        assert not of("a", sid_b) and not of("b", sid_a)
        with lock:
            assert {c.server_id for c in seen["a"]} == {sid_a}
            assert {c.server_id for c in seen["b"]} == {sid_b}
    finally:
        for stop in stops:
            stop()


def legacy_vm(direct: Direct, folder: str, sid: str) -> vim.VirtualMachine:
    """A VM as an agent older than the host tag made it: a server id, no host id."""
    dc = direct.content.rootFolder.childEntity[0]
    vm_folder = direct.content.searchIndex.FindByInventoryPath(f"{dc.name}/vm/{folder}")
    pool = direct.cluster("DC0_C0").resourcePool
    spec = vim.vm.ConfigSpec(
        name=sid,
        numCPUs=1,
        memoryMB=64,
        guestId="otherGuest64",
        files=vim.vm.FileInfo(vmPathName=f"[LocalDS_0] {sid}/{sid}.vmx"),
        extraConfig=[vim.option.OptionValue(key="polyvisor.server_id", value=sid)],
    )
    task = vm_folder.CreateVM_Task(config=spec, pool=pool)
    WaitForTask(task)
    vm = task.info.result
    WaitForTask(vm.PowerOnVM_Task())
    return vm


def test_a_vm_without_host_id_is_nobodys(
    pair: tuple[VmwareDriver, VmwareDriver],
    direct: Direct,
    vcsim: Vcsim,
    folder: str,
    images: dict[str, Path],
) -> None:
    a, b = pair
    sid = str(uuid.uuid4())
    assert a.list_instances() == []  # (the agents make the folder)
    vm = legacy_vm(direct, folder, sid)
    try:
        assert a.list_instances() == [] and b.list_instances() == []
        with pytest.raises(InstanceNotFound):
            a.power_off(sid)
        a.destroy(sid)  # not ours: the VM and its files stay
        assert direct.vm_by_tag(sid) is not None
        assert (datastore_dir(vcsim.data_dir) / sid).is_dir()
        spec = InstanceSpec(
            server_id=sid,
            name="clash",
            hostname="clash",
            vcpus=1,
            memory_mb=128,
            disk_gb=0,
            image=local_image(images["streamOptimized"], "img-shared-folder"),
        )
        with pytest.raises(SpawnFailed, match="not ours"):
            a.spawn(spec)
        assert (datastore_dir(vcsim.data_dir) / sid).is_dir()
    finally:
        WaitForTask(vm.PowerOffVM_Task())
        WaitForTask(vm.Destroy_Task())


def test_a_vm_moved_to_another_cluster_stays_its_owners(
    pair: tuple[VmwareDriver, VmwareDriver], direct: Direct, images: dict[str, Path]
) -> None:
    a, b = pair
    sid = spawn(a, images, "moved")
    vm = direct.vm_by_tag(sid)
    assert vm is not None
    target = sorted(direct.cluster("DC0_C1").host, key=lambda h: h.name)[0]
    WaitForTask(
        vm.RelocateVM_Task(
            vim.vm.RelocateSpec(host=target, pool=direct.cluster("DC0_C1").resourcePool)
        )
    )
    assert vm.runtime.host.name == target.name
    # Still A's (reported where it runs, so not "vanished"); never B's, so never B's to destroy.
    assert [(i.server_id, i.member_host) for i in a.list_instances()] == [(sid, target.name)]
    assert a.power_off(sid).member_host == target.name
    assert b.list_instances() == []
    assert not plan_reconcile([], b.list_instances())
