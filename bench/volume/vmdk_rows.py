"""The vmdk row of bench/volume/run.py: vmdk volumes created and attached through the volume
service and the VMware agent's driver, beside bare pyvmomi CreateVirtualDisk + ReconfigVM, on
the same vcsim (see run.py's docstring)."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from pathlib import Path
from typing import Any

from pyVim.task import WaitForTask
from pyVmomi import vim
from vmware_fixtures import Direct, local_image, make_images, options_for

from polyvisor.agent_vmware.driver_kinds import VolumesVmwareDriver
from polyvisor.agent_vmware.tasks import wait_task
from polyvisor.agentkit.driver import InstanceSpec
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.volume.v1 import volume_service_pb2 as pb
from polyvisor.volume.v1 import volumes_pb2 as vpb
from tests.fixtures.vcsim import VcsimEndpoint

PER_VM = 14  # one SCSI controller's free units beside the agent's root disk
_UNITS = [u for u in range(16) if u != 7]
DATASTORE = "LocalDS_0"
_BARE_DIR = "bench-bare-volumes"


class VmdkSides:
    def __init__(self, endpoint: VcsimEndpoint, work: Path, count: int) -> None:
        self.vms = max(1, math.ceil(count / PER_VM))
        self.work = work
        self.direct = Direct(endpoint)
        self.driver = VolumesVmwareDriver(
            options_for(endpoint, folder="bench-vol", image_cache_folder="bench-vol-cache")
        )
        self.agent_vms: list[str] = []
        self.bare_vms: list[tuple[Any, int]] = []  # (VM, its SCSI controller's key)
        self._bare_used: dict[int, int] = {}
        self._agent_i = self._bare_i = 0

    def prepare(self) -> None:
        """The agent's VMs (spawned by its driver) and as many VMs made by hand."""
        self.driver.start(wait=30)
        image = local_image(make_images(self.work / "images")["streamOptimized"], "bench-vol")
        for i in range(self.vms):
            sid = str(uuid.uuid4())
            self.driver.spawn(
                InstanceSpec(server_id=sid, name=f"bv{i}", hostname=f"bv{i}", vcpus=1,
                             memory_mb=128, disk_gb=1, image=image)
            )  # fmt: skip
            self.agent_vms.append(sid)
        content = self.direct.content
        dc = self.direct.objects(vim.Datacenter)[0]
        pool = self.direct.cluster("DC0_C0").resourcePool
        self._dc = dc
        content.fileManager.MakeDirectory(
            name=f"[{DATASTORE}] {_BARE_DIR}", datacenter=dc, createParentDirectories=True
        )
        for i in range(self.vms):
            scsi = vim.vm.device.VirtualDeviceSpec(
                operation="add",
                device=vim.vm.device.VirtualLsiLogicController(
                    key=-1, busNumber=0, sharedBus="noSharing"
                ),
            )
            spec = vim.vm.ConfigSpec(
                name=f"bench-bare-{i}-{uuid.uuid4().hex[:6]}",
                numCPUs=1,
                memoryMB=128,
                guestId="otherGuest64",
                files=vim.vm.FileInfo(vmPathName=f"[{DATASTORE}]"),
                deviceChange=[scsi],
            )
            task = dc.vmFolder.CreateVM_Task(config=spec, pool=pool)
            WaitForTask(task)
            vm = task.info.result
            key = next(
                d.key
                for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualSCSIController)
            )
            self.bare_vms.append((vm, key))

    async def through_service(self, stub: Any, as_user: Any, as_api: Any, n: int) -> float:
        """Seconds for n volumes: CreateVolume, ReserveVolume, the driver's attach,
        CompleteAttachment."""
        start = time.perf_counter()
        for _ in range(n):
            sid = self.agent_vms[self._agent_i % self.vms]
            self._agent_i += 1
            vol = (
                await stub.CreateVolume(
                    pb.CreateVolumeRequest(volume=vpb.Volume(size_gb=1, volume_type="vmdk")),
                    metadata=as_user,
                )
            ).volume
            r = await stub.ReserveVolume(
                pb.ReserveVolumeRequest(
                    volume_id=vol.id, server_id=sid, project_id="bench",
                    host="bench-vmware", hypervisor_type="vmware",
                ),
                metadata=as_api,
            )  # fmt: skip
            conn = VolumeConnection(
                vol.id, r.connection.kind or r.backend_kind, dict(r.connection.attrs)
            )
            await asyncio.to_thread(self.driver.attach_vmdk_volume, sid, conn)
            await stub.CompleteAttachment(
                pb.CompleteAttachmentRequest(volume_id=vol.id, server_id=sid), metadata=as_api
            )
        return time.perf_counter() - start

    def bare(self, n: int) -> float:
        """Seconds for n bare CreateVirtualDisk_Task + ReconfigVM (the slot counted here)."""
        content = self.direct.content
        vdm = content.virtualDiskManager
        start = time.perf_counter()
        for _ in range(n):
            i = self._bare_i % self.vms
            self._bare_i += 1
            vm, key = self.bare_vms[i]
            unit = _UNITS[self._bare_used.get(i, 0)]
            self._bare_used[i] = self._bare_used.get(i, 0) + 1
            path = f"[{DATASTORE}] {_BARE_DIR}/{uuid.uuid4()}.vmdk"
            # (pyVim's WaitForTask reads the whole TaskInfo, which vcsim gives the
            # VirtualDiskManager as entity and pyVmomi refuses: the agent's task wait)
            wait_task(
                content,
                vdm.CreateVirtualDisk_Task(
                    name=path,
                    datacenter=self._dc,
                    spec=vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
                        diskType="thin", adapterType="lsiLogic", capacityKb=1 << 20
                    ),
                ),
            )
            disk = vim.vm.device.VirtualDisk(
                key=-2,
                controllerKey=key,
                unitNumber=unit,
                capacityInKB=0,
                backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                    fileName=path, diskMode="independent_persistent"
                ),
            )
            change = vim.vm.device.VirtualDeviceSpec(operation="add", device=disk)
            wait_task(content, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[change])))
        return time.perf_counter() - start

    def close(self) -> None:
        for sid in self.agent_vms:
            self.driver.destroy(sid)
        self.driver.close()
        for vm, _ in self.bare_vms:
            WaitForTask(vm.Destroy_Task())
        self.direct.close()


async def vmdk_rates(
    sides: VmdkSides, stub: Any, as_user: Any, as_api: Any, count: int
) -> tuple[float, float]:
    """(through the service and agent, bare) per second, in halves interleaved A B B A."""
    first, second = count // 2, count - count // 2
    service_s = await sides.through_service(stub, as_user, as_api, first)
    bare_s = await asyncio.to_thread(sides.bare, first)
    bare_s += await asyncio.to_thread(sides.bare, second)
    service_s += await sides.through_service(stub, as_user, as_api, second)
    return count / service_s, count / bare_s
