"""A VM moved between vcsim's two clusters by the agents of both (``resize_move``, and live:
``live_migrate``), read back
with plain pyvmomi: relocated into the destination cluster's resource pool and ESXi hosts on
the new size, owned (listed, watched) by the destination's agent and no longer by the
source's; a revert brings it back on the old size; a confirm leaves it where it is."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim
from vmware_fixtures import Direct, eventually, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_resize import OLD_SIZE_KEY
from polyvisor.agent_vmware.specs import HOST_TAG_KEY
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import DriverError, InstanceChange, InstanceSpec, PowerState
from polyvisor.agentkit.migrate_capabilities import MigrationProgress, MigrationTarget
from polyvisor.agentkit.resize_capabilities import Size
from tests.fixtures.vcsim import VcsimEndpoint

GIB_KB = 1 << 20


class Agent:
    """A driver for one cluster, with what its watch said."""

    def __init__(self, endpoint: VcsimEndpoint, cluster: str, folder: str) -> None:
        self.host_id = f"vmware-{cluster}-{folder}"
        self.driver = VmwareDriver(
            options_for(
                endpoint,
                cluster_name=cluster,
                host_id=self.host_id,
                folder=folder,
                image_cache_folder=f"cache-{folder}",
            )
        )
        self.driver.start(wait=30)
        self.seen: list[InstanceChange] = []
        self._lock = threading.Lock()
        self.unwatch = self.driver.watch(self._emit)

    def _emit(self, change: InstanceChange) -> None:
        with self._lock:
            self.seen.append(change)

    def watched(self, sid: str) -> list[InstanceChange]:
        with self._lock:
            return [c for c in self.seen if c.server_id == sid]

    def listed(self) -> set[str]:
        return {i.server_id for i in self.driver.list_instances()}


@pytest.fixture
def agents(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[tuple[Agent, Agent]]:
    a = Agent(vcsim_endpoint, "DC0_C0", folder)
    b = Agent(vcsim_endpoint, "DC0_C1", folder)
    try:
        yield a, b
    finally:
        for agent in (a, b):
            agent.unwatch()
            for inst in agent.driver.list_instances():
                agent.driver.destroy(inst.server_id)
            agent.driver.close()


def where(direct: Direct, sid: str) -> tuple[str, str, int, int, int, str, str]:
    """(cluster of its ESXi host, cluster of its pool, vCPUs, MB, disk KB, power, host tag)."""
    vm = direct.vm_by_tag(sid)
    assert vm is not None
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    pool_owner = vm.resourcePool.owner
    return (
        vm.runtime.host.parent.name,
        pool_owner.name,
        vm.config.hardware.numCPU,
        vm.config.hardware.memoryMB,
        int(disk.capacityInKB),
        str(vm.runtime.powerState),
        direct.extra(vm).get(HOST_TAG_KEY, ""),
    )


def test_a_vm_moves_to_the_other_cluster_and_back(
    agents: tuple[Agent, Agent], direct: Direct, images: dict[str, Path]
) -> None:
    src, dst = agents
    sid = str(uuid.uuid4())
    image = local_image(images["streamOptimized"], "img-move")
    src.driver.spawn(
        InstanceSpec(
            server_id=sid, name="mv", hostname="mv", vcpus=1, memory_mb=128, disk_gb=1, image=image
        )
    )
    assert where(direct, sid) == ("DC0_C0", "DC0_C0", 1, 128, GIB_KB, "poweredOn", src.host_id)
    assert sid in src.listed() and sid not in dst.listed()

    moved = src.driver.resize_to(sid, Size(2, 256, 2), dst.host_id)
    assert moved.power_state == PowerState.RUNNING
    assert moved.member_host.startswith("DC0_C1_")  # the ESXi host it runs on now
    assert where(direct, sid) == ("DC0_C1", "DC0_C1", 2, 256, 2 * GIB_KB, "poweredOn", dst.host_id)
    # the destination's watch takes it as its own, on its own ESXi host (before any listing)
    eventually(lambda: any(c.member_host.startswith("DC0_C1_") for c in dst.watched(sid)))
    assert sid not in src.listed() and sid in dst.listed()
    # a repeated command answers the move again, and moves nothing
    assert src.driver.resize_to(sid, Size(2, 256, 2), dst.host_id).member_host.startswith("DC0_C1_")
    assert where(direct, sid)[-1] == dst.host_id

    back = dst.driver.revert_resize_to(sid, Size(1, 128, 1), src.host_id)
    assert back.power_state == PowerState.RUNNING
    # the old vCPUs and memory (vSphere keeps the grown disk), on the source's cluster again
    assert where(direct, sid) == ("DC0_C0", "DC0_C0", 1, 128, 2 * GIB_KB, "poweredOn", src.host_id)
    assert sid in src.listed() and sid not in dst.listed()
    vm = direct.vm_by_tag(sid)
    assert vm is not None and direct.extra(vm).get(OLD_SIZE_KEY, "") == ""
    assert dst.driver.revert_resize_to(sid, Size(1, 128, 1), src.host_id).power_state == (
        PowerState.RUNNING
    )

    # moved again, stopped this time, and confirmed: the source forgets the old size only
    src.driver.power_off(sid)
    src.driver.resize_to(sid, Size(2, 256, 2), dst.host_id)
    assert where(direct, sid)[0::5] == ("DC0_C1", "poweredOff")
    assert src.driver.confirm_resize(sid).power_state == PowerState.SHUTDOWN
    vm = direct.vm_by_tag(sid)
    assert vm is not None and direct.extra(vm).get(OLD_SIZE_KEY, "") == ""
    assert sid in dst.listed() and sid not in src.listed()
    dst.driver.destroy(sid)
    assert sid not in dst.listed() and sid not in src.listed()
    assert direct.vm_by_tag(sid) is None


def test_a_running_vm_moves_live_to_the_other_cluster(
    agents: tuple[Agent, Agent], direct: Direct, images: dict[str, Path]
) -> None:
    """vMotion: RelocateVM of the running VM, handed over to the destination's agent."""
    src, dst = agents
    assert "live_migrate" in capabilities_of(src.driver)
    sid = str(uuid.uuid4())
    image = local_image(images["streamOptimized"], "img-vmotion")
    src.driver.spawn(
        InstanceSpec(
            server_id=sid, name="vm", hostname="vm", vcpus=1, memory_mb=128, disk_gb=1, image=image
        )
    )
    seen: list[MigrationProgress] = []
    moved = src.driver.live_migrate(sid, MigrationTarget(dst.host_id), seen.append)
    assert moved.power_state == PowerState.RUNNING and moved.member_host.startswith("DC0_C1_")
    assert where(direct, sid) == ("DC0_C1", "DC0_C1", 1, 128, GIB_KB, "poweredOn", dst.host_id)
    assert seen[0].percent == 0 and seen[-1].percent == 100
    assert sid not in src.listed() and sid in dst.listed()
    again = src.driver.live_migrate(sid, MigrationTarget(dst.host_id), seen.append)
    assert again.member_host.startswith("DC0_C1_")  # already there: answered as done
    assert not src.driver.abort_migration(sid)  # nothing under way

    # a stopped VM does not move live: refused, and it stays where it is, its owner's
    dst.driver.power_off(sid)
    with pytest.raises(DriverError, match="only a running VM"):
        dst.driver.live_migrate(sid, MigrationTarget(src.host_id), seen.append)
    assert where(direct, sid)[0::6] == ("DC0_C1", dst.host_id)
    assert sid in dst.listed()
