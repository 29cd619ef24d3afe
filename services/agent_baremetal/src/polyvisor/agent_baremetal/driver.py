"""The Driver of one enrolled machine: the machine is the host, and holds one server at most.

    spawn    -- refuses a machine that holds another server; powers it off; a raw image is
                written to its root device and it boots from disk, an ISO is published on the
                agent's media server, inserted as virtual media and it boots from CD; the
                deployment is recorded, then the machine powers on
    destroy  -- powers it off, ejects the media, erases the root device (Ironic's automated
                cleaning, metadata erase: the whole of a disk file, the first and last MiB
                of a block device), clears the boot override, forgets the deployment: the
                machine is free for the next server
    power    -- Redfish ComputerSystem.Reset (On, ForceOff, GracefulRestart, ForceRestart)
    watch    -- the power state of the deployed machine, read every poll interval

The deployment record (``<state>/deployment.json``) is what tags the machine as ours: a BMC
has no place to keep our server id. Inspection (CPU, memory, disk over Redfish) gives the
inventory: all of it is free or all of it is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polyvisor.agent_baremetal.enrollment import Node
from polyvisor.agent_baremetal.media import MediaServer
from polyvisor.agent_baremetal.redfish import Bmc, Hardware
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    Features,
    HostInfo,
    HypervisorUnavailable,
    Instance,
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    Inventory,
    PowerState,
    RenditionWanted,
    SpawnFailed,
    SupportedInstance,
    Unsubscribe,
)
from polyvisor.common.logging import get_logger

__all__ = ["BAREMETAL", "NodeDriver"]

log = get_logger(__name__)

BAREMETAL = "baremetal"
_ERASE_BYTES = 1 << 20
_FEATURES = Features(
    console_types=(),  # the BMC's own console is the operator's, not a server user's
    key_injection=False,
    user_data=False,
    power_on_off=True,
    reboot_soft=True,
    reboot_hard=True,
)


@dataclass(frozen=True, slots=True)
class Deployment:
    server_id: str
    name: str
    boot: str  # "disk" or "iso"
    media_url: str = ""


class NodeDriver:
    def __init__(
        self,
        node: Node,
        bmc: Bmc,
        state_dir: Path,
        *,
        media: MediaServer | None = None,
        power_timeout_s: float = 120.0,
        poll_interval_s: float = 10.0,
    ) -> None:
        self.node = node
        self.bmc = bmc
        self.state_dir = state_dir
        self.media = media
        self.power_timeout_s = power_timeout_s
        self.poll_interval_s = poll_interval_s
        self._hardware: Hardware | None = None
        self._lock = threading.RLock()
        state_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ state

    @property
    def _record(self) -> Path:
        return self.state_dir / "deployment.json"

    def deployment(self) -> Deployment | None:
        try:
            return Deployment(**json.loads(self._record.read_text()))
        except FileNotFoundError:
            return None

    def _save(self, dep: Deployment) -> None:
        tmp = self._record.with_suffix(".tmp")
        tmp.write_text(json.dumps(_asdict(dep)))
        tmp.replace(self._record)

    # ------------------------------------------------------------------ host

    def inspect(self) -> Hardware:
        hw = self.bmc.inspect()
        self._hardware = hw
        return hw

    def host_info(self) -> HostInfo:
        connected = True
        try:
            hw = self.inspect()
        except HypervisorUnavailable as e:
            log.warning("BMC not reachable", node=self.node.name, error=str(e))
            connected = False
            hw = self._hardware or Hardware(0, 0, 0, "x86_64", "")
        taken = self.deployment() is not None
        formats = [RenditionWanted("iso")]
        if self.node.root_device:
            formats.insert(0, RenditionWanted("raw"))
        return HostInfo(
            hypervisor_type=BAREMETAL,
            hypervisor_version=hw.redfish_version,
            hostname=self.node.name,
            connected=connected,
            vcpus=Inventory(total=hw.cpus, max_unit=hw.cpus),
            memory_mb=Inventory(total=hw.memory_mb, max_unit=hw.memory_mb),
            disk_gb=Inventory(total=hw.disk_gb, max_unit=hw.disk_gb),
            supported_instances=(SupportedInstance(hw.architecture, BAREMETAL, "hvm"),),
            disk_formats=tuple(formats),
            features=_FEATURES,
            vnc_port_range=(0, 0),
            used_vcpus=hw.cpus if taken else 0,
            used_memory_mb=hw.memory_mb if taken else 0,
            used_disk_gb=hw.disk_gb if taken else 0,
            capabilities=capabilities_of(self),
            resource_class=self.node.resource_class,
        )

    # ------------------------------------------------------------------ instances

    def _instance(self, dep: Deployment) -> Instance:
        return Instance(dep.server_id, self.bmc.power_state(), name=dep.name)

    def list_instances(self) -> list[Instance]:
        dep = self.deployment()
        return [] if dep is None else [self._instance(dep)]

    def _mine(self, server_id: str) -> Deployment:
        dep = self.deployment()
        if dep is None or dep.server_id != server_id:
            raise InstanceNotFound(f"server {server_id} is not on machine {self.node.name}")
        return dep

    def spawn(self, spec: InstanceSpec) -> Instance:
        with self._lock:
            dep = self.deployment()
            if dep is not None:
                if dep.server_id != spec.server_id:
                    raise SpawnFailed(
                        f"machine {self.node.name} already holds server {dep.server_id}",
                        retryable=False,
                    )
                self.bmc.power_on(self.power_timeout_s)
                return self._instance(dep)
            fmt = spec.image.rendition.disk_format
            if fmt == "raw" and not self.node.root_device:
                raise SpawnFailed(f"machine {self.node.name} has no root device to write to")
            if fmt not in ("raw", "iso"):
                raise SpawnFailed(f"machine {self.node.name} boots raw or iso images, not {fmt}")
            dep = Deployment(spec.server_id, spec.name, "disk" if fmt == "raw" else "iso")
            self._save(dep)  # from here on a crash leaves a record destroy cleans up after
            try:
                self.bmc.power_off(self.power_timeout_s)
                if fmt == "raw":
                    self._write_image(spec.image.path)
                    self.bmc.boot_from("hdd")
                else:
                    dep = self._insert_iso(dep, spec.image.path)
                    self._save(dep)
                    self.bmc.boot_from("cd")
                self.bmc.power_on(self.power_timeout_s)
                return self._instance(dep)
            except DriverError as e:
                with contextlib.suppress(DriverError, OSError):
                    self._clean(dep)
                raise SpawnFailed(f"machine {self.node.name}: {e}") from e
            except OSError as e:
                with contextlib.suppress(DriverError, OSError):
                    self._clean(dep)
                raise SpawnFailed(f"machine {self.node.name}: writing the image: {e}") from e

    def _write_image(self, image: Path) -> None:
        device = Path(self.node.root_device)
        size = _device_size(device)
        need = image.stat().st_size
        if need > size:
            raise SpawnFailed(
                f"the image ({need} bytes) is larger than the root device ({size} bytes)"
            )
        with image.open("rb") as src, device.open("r+b") as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
            dst.flush()
            os.fsync(dst.fileno())

    def _insert_iso(self, dep: Deployment, image: Path) -> Deployment:
        if self.media is None:
            raise SpawnFailed("this agent serves no virtual media (no media server)")
        iso = self.state_dir / "media.iso"
        shutil.copyfile(image, iso)
        url = self.media.publish(iso, f"{self.node.name}.iso")
        self.bmc.insert_iso(url)
        return Deployment(dep.server_id, dep.name, dep.boot, url)

    def _erase(self) -> None:
        if not self.node.root_device:
            return
        device = Path(self.node.root_device)
        if stat.S_ISREG(device.stat().st_mode):
            size = device.stat().st_size
            with device.open("r+b") as f:  # every byte: zero and sparse
                f.truncate(0)
                f.truncate(size)
            return
        size = _device_size(device)
        zeros = b"\0" * min(_ERASE_BYTES, size)
        with device.open("r+b") as f:
            f.write(zeros)
            f.seek(max(0, size - len(zeros)))
            f.write(zeros)
            f.flush()
            os.fsync(f.fileno())

    def _clean(self, dep: Deployment) -> None:
        self.bmc.power_off(self.power_timeout_s)
        if dep.boot == "iso" or dep.media_url:
            self.bmc.eject_iso()
        if dep.media_url and self.media is not None:
            self.media.withdraw(dep.media_url)
        (self.state_dir / "media.iso").unlink(missing_ok=True)
        self._erase()
        self.bmc.boot_from("none")
        self._record.unlink(missing_ok=True)

    def destroy(self, server_id: str) -> None:
        with self._lock:
            dep = self.deployment()
            if dep is None or dep.server_id != server_id:
                return
            try:
                self._clean(dep)
            except OSError as e:
                raise DriverError(f"machine {self.node.name}: cleaning: {e}") from e

    def power_on(self, server_id: str) -> Instance:
        with self._lock:
            dep = self._mine(server_id)
            self.bmc.power_on(self.power_timeout_s)
            return self._instance(dep)

    def power_off(self, server_id: str) -> Instance:
        with self._lock:
            dep = self._mine(server_id)
            self.bmc.power_off(self.power_timeout_s)
            return self._instance(dep)

    def reboot(self, server_id: str, *, hard: bool) -> Instance:
        with self._lock:
            dep = self._mine(server_id)
            self.bmc.reboot(hard=hard, timeout_s=self.power_timeout_s)
            return self._instance(dep)

    def console(self, server_id: str) -> Console:
        self._mine(server_id)
        raise DriverError("a bare-metal server has no console through Polyvisor")

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        stop = threading.Event()
        last: dict[str, PowerState] = {}

        def poll() -> None:
            while not stop.wait(self.poll_interval_s):
                try:
                    dep = self.deployment()
                    if dep is None:
                        last.clear()
                        continue
                    state = self.bmc.power_state()
                except (DriverError, OSError, ValueError):
                    continue
                if last.get(dep.server_id) not in (None, state):
                    emit(InstanceChange(dep.server_id, state))
                last.clear()
                last[dep.server_id] = state

        thread = threading.Thread(target=poll, name=f"watch-{self.node.name}", daemon=True)
        thread.start()

        def unsubscribe() -> None:
            stop.set()

        return unsubscribe

    def close(self) -> None:
        self.bmc.close()


def _asdict(dep: Deployment) -> dict[str, str]:
    return {f: getattr(dep, f) for f in dep.__dataclass_fields__}


def _device_size(device: Path) -> int:
    with device.open("rb") as f:
        return f.seek(0, os.SEEK_END)
