"""vmdk volumes on vcsim: a disk the volume service's vmdk backend made on a datastore,
attached by the VMware agent's command handler to a running VM (a VirtualDisk whose backing is
the volume's file, on a SCSI controller of the volume's adapter type), kept on the datastore
when that VM is deleted (its disk removed from the VM before Destroy_Task, which deletes the
file of every disk the VM still has), attached to a second VM, detached again with its file
kept. Repeated commands answer as done; a volume whose file is missing is refused with a
fault naming the file (ATTACH_FAILED), the server untouched; a driver not configured for
volumes does not report the capability."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from pyVmomi import vim
from vmware_fixtures import Direct, datastore_dir, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_kinds import VolumesVmwareDriver
from polyvisor.agent_vmware.volume_disks import volume_key
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.command_handler import CommandHandler, Outcome
from polyvisor.agentkit.commands import Command, EventKind, FaultCode, ServerEventOut, Verb
from polyvisor.agentkit.driver import InstanceSpec, PowerState
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.generations import GenerationBook
from polyvisor.agentkit.image_cache import ImageCache
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.volumesvc.backends import build_backend
from polyvisor.volumesvc.backends.base import VolumeRef
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint

pytestmark = pytest.mark.slow

FOLDER = f"t-{uuid.uuid4().hex[:10]}"
VOLUMES = f"vol-{FOLDER}"


@pytest.fixture(scope="module")
def endpoint(vcsim: Vcsim) -> VcsimEndpoint:
    ep = vcsim.endpoint
    assert ep is not None
    return ep


@pytest.fixture(scope="module")
def driver(endpoint: VcsimEndpoint) -> Iterator[VolumesVmwareDriver]:
    d = VolumesVmwareDriver(options_for(endpoint, folder=FOLDER, image_cache_folder=f"c-{FOLDER}"))
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


@pytest.fixture(scope="module")
def direct(endpoint: VcsimEndpoint) -> Iterator[Direct]:
    d = Direct(endpoint)
    try:
        yield d
    finally:
        d.close()


class Agent:
    """The agent's command handler over the driver, its events collected."""

    def __init__(self, driver: VmwareDriver, root: Path) -> None:
        self.events: list[ServerEventOut] = []
        self.calls = DriverCalls(2)
        self.handler = CommandHandler(
            host="vmware-vol",
            agent_id="t",
            driver=driver,
            calls=self.calls,
            cache=ImageCache(root, cast(Any, None)),  # no image is fetched by these verbs
            book=GenerationBook(),
            publish=self._publish,
            retry_delays=(),
        )
        self._gen: dict[str, int] = {}

    async def _publish(self, ev: ServerEventOut) -> None:
        self.events.append(ev)

    async def send(
        self, sid: str, verb: Verb, volume: VolumeConnection | None = None
    ) -> ServerEventOut:
        gen = self._gen[sid] = self._gen.get(sid, 0) + 1
        cmd = Command(uuid.uuid4().hex, sid, gen, verb, volume=volume)
        before = len(self.events)
        outcome = await self.handler.handle(cmd)
        assert outcome in (Outcome.DONE, Outcome.FAILED)
        return self.events[before:][-1]


@pytest.fixture(scope="module")
async def agent(
    driver: VolumesVmwareDriver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Agent]:
    a = Agent(driver, tmp_path_factory.mktemp("cache"))
    yield a
    await a.calls.close()


def disks_of(direct: Direct, sid: str) -> dict[str, tuple[vim.vm.device.VirtualDevice, int]]:
    """The VM's disks by file: (their controller, their unit)."""
    vm = direct.vm_by_tag(sid)
    assert vm is not None
    devices = {d.key: d for d in vm.config.hardware.device}
    return {
        d.backing.fileName: (devices[d.controllerKey], d.unitNumber)
        for d in vm.config.hardware.device
        if isinstance(d, vim.vm.device.VirtualDisk)
    }


def spawn(driver: VmwareDriver, images: dict[str, Path], name: str) -> str:
    sid = str(uuid.uuid4())
    image = local_image(images["streamOptimized"], f"img-{FOLDER}")
    driver.spawn(
        InstanceSpec(server_id=sid, name=name, hostname=name, vcpus=1, memory_mb=128, disk_gb=1,
                     image=image)
    )  # fmt: skip
    return sid


async def test_vmdk_volume_outlives_its_vm_and_moves_to_another(
    vcsim: Vcsim,
    endpoint: VcsimEndpoint,
    driver: VolumesVmwareDriver,
    agent: Agent,
    direct: Direct,
    images: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "volume_vmdk" in driver.host_info().capabilities
    backend = build_backend(
        {"kind": "vmdk", "url": endpoint.url, "user": endpoint.username,
         "password": endpoint.password, "datastore_regex": "^LocalDS_0$", "folder": VOLUMES}
    )  # fmt: skip
    vid = str(uuid.uuid4())
    eager = {"vmware:vmdk_type": "eagerZeroedThick"}  # its volume type's provisioning
    path = await backend.create(VolumeRef(vid, 1, specs=eager))
    c = backend.connection(VolumeRef(vid, 1, path, specs=eager))
    assert c.attrs["disk_type"] == "eagerZeroedThick"
    vol = VolumeConnection(vid, c.kind, dict(c.attrs))
    volume_file = datastore_dir(vcsim.data_dir) / VOLUMES / f"{vid}.vmdk"
    assert volume_file.exists()
    a, b = spawn(driver, images, "va"), spawn(driver, images, "vb")

    # attached to the running VM: the volume's own file, on an LSI Logic SCSI controller
    ev = await agent.send(a, Verb.ATTACH_VOLUME, vol)
    assert ev.kind == EventKind.VOLUME_ATTACHED, ev.fault
    disks = disks_of(direct, a)
    assert path == f"[LocalDS_0] {VOLUMES}/{vid}.vmdk" and path in disks
    controller, unit = disks[path]
    assert isinstance(controller, vim.vm.device.VirtualLsiLogicController) and unit != 7
    assert len(disks) == 2  # and the root disk, untouched
    vm_a = direct.vm_by_tag(a)
    assert vm_a is not None and direct.extra(vm_a)[volume_key(vid)] == path
    disk = next(
        d for d in vm_a.config.hardware.device if getattr(d.backing, "fileName", "") == path
    )
    assert disk.backing.datastore.name == "LocalDS_0"
    assert (disk.backing.thinProvisioned, disk.backing.eagerlyScrub) == (False, True)
    # a repeated attach (a redelivery) answers as done: still one disk of that file
    assert (await agent.send(a, Verb.ATTACH_VOLUME, vol)).kind == EventKind.VOLUME_ATTACHED
    assert len(disks_of(direct, a)) == 2

    # the VM's deletion: the volume's disk is off the VM before Destroy_Task; the file stays
    at_destroy: list[set[str]] = []
    destroy = vim.VirtualMachine.Destroy_Task

    def spy(vm: vim.VirtualMachine) -> Any:
        at_destroy.append(
            {getattr(d.backing, "fileName", "") for d in vm.config.hardware.device
             if isinstance(d, vim.vm.device.VirtualDisk)}
        )  # fmt: skip
        return destroy.__get__(vm, type(vm))()

    monkeypatch.setattr(vim.VirtualMachine, "Destroy_Task", spy)
    assert (await agent.send(a, Verb.DESTROY)).kind == EventKind.DESTROYED
    monkeypatch.undo()
    assert len(at_destroy) == 1 and path not in at_destroy[0] and at_destroy[0]
    assert direct.vm_by_tag(a) is None
    assert volume_file.exists() and (volume_file.parent / f"{vid}-flat.vmdk").exists()

    # attached to the second VM
    ev = await agent.send(b, Verb.ATTACH_VOLUME, vol)
    assert ev.kind == EventKind.VOLUME_ATTACHED, ev.fault
    controller, unit = disks_of(direct, b)[path]
    assert isinstance(controller, vim.vm.device.VirtualSCSIController) and unit != 7

    # detached: the device gone, the record gone, the file kept; a repeated detach is done
    assert (await agent.send(b, Verb.DETACH_VOLUME, vol)).kind == EventKind.VOLUME_DETACHED
    assert path not in disks_of(direct, b) and len(disks_of(direct, b)) == 1
    vm_b = direct.vm_by_tag(b)
    assert vm_b is not None and not direct.extra(vm_b).get(volume_key(vid))
    assert (await agent.send(b, Verb.DETACH_VOLUME, vol)).kind == EventKind.VOLUME_DETACHED
    assert volume_file.exists()

    # a volume whose file is not on the datastore: refused, saying which file, server intact
    gone = VolumeConnection(
        str(uuid.uuid4()), "vmdk", {**vol.attrs, "path": f"[LocalDS_0] {VOLUMES}/missing.vmdk"}
    )
    ev = await agent.send(b, Verb.ATTACH_VOLUME, gone)
    assert ev.kind == EventKind.COMMAND_FAILED and ev.fault is not None
    assert ev.fault.code == FaultCode.ATTACH_FAILED
    assert "missing.vmdk is not on the datastore" in ev.fault.message
    assert ev.power_state != PowerState.NOSTATE  # not taken for a vanished server
    assert len(disks_of(direct, b)) == 1

    assert (await agent.send(b, Verb.DESTROY)).kind == EventKind.DESTROYED
    assert volume_file.exists()
    await backend.delete(VolumeRef(vid, 1, path))
    assert not volume_file.exists()
    backend.close()


def test_a_driver_not_configured_for_volumes_does_not_report_them(
    endpoint: VcsimEndpoint,
) -> None:
    plain = VmwareDriver(options_for(endpoint, folder=FOLDER))
    try:
        assert "volume_vmdk" not in capabilities_of(plain)
    finally:
        plain.close()
