"""The ``vmdk`` backend: each volume a virtual disk on a vSphere datastore, made and grown by
the volume service itself (VirtualDiskManager: CreateVirtualDisk, ExtendVirtualDisk,
CopyVirtualDisk, DeleteVirtualDisk); the VMware agent attaches it by ReconfigVM to the VM's
controller of ``adapter_type`` and detaches it without deleting it.

Options: ``url`` (``https://vcenter/sdk``; ``http://`` for vcsim), ``user``, ``password``
(or ``password_file``), ``datacenter`` (default: the first), ``datastore_regex`` (the
datastores volumes may go on, as Nova's ``datastore_regex``; the one with the most free
space is taken; default: any), ``adapter_type`` (lsiLogic), ``disk_type`` (thin, thick,
eagerZeroedThick: the default provisioning), ``folder`` (volumes).

A volume type's extra spec ``vmware:vmdk_type`` (thin, thick or eagerZeroedThick, as Cinder's
VMDK driver names them) decides how its volumes are provisioned, over ``disk_type``: the
CreateVirtualDisk ``diskType`` (thick is vSphere's ``preallocated``, lazily zeroed); any other
value is refused, naming the allowed ones. A volume made from a snapshot is a copy of it (as
provisioned as its snapshot: vCenter takes no destination spec on CopyVirtualDisk).

Volumes are ``[datastore] <folder>/<id>.vmdk``, snapshots ``[datastore] <folder>/snapshots/
<id>.vmdk`` (full copies, crash-consistent). Every pyVmomi call runs in a thread.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from polyvisor.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from polyvisor.volumesvc.backends import register
from polyvisor.volumesvc.backends.base import (
    BackendCapacity,
    Connection,
    ImageSource,
    SnapshotRef,
    VolumeRef,
)

__all__ = ["VmdkBackend"]

GIB = 1024**3
T = TypeVar("T")
_ADAPTERS = ("lsiLogic", "busLogic", "ide", "paraVirtual", "lsiLogicsas")
#: a volume type's extra spec naming how its volumes are provisioned (Cinder's name for it)
VMDK_TYPE_SPEC = "vmware:vmdk_type"
#: what the spec (and the ``disk_type`` option) may say -> CreateVirtualDisk's diskType
_DISK_TYPES = {"thin": "thin", "thick": "preallocated", "eagerZeroedThick": "eagerZeroedThick"}
_ALIASES = {"preallocated": "thick"}  # vSphere's own name, kept for the ``disk_type`` option


def disk_type(specs: Mapping[str, str], default: str = "thin") -> str:
    """The CreateVirtualDisk diskType of a volume whose type has extra specs ``specs``."""
    asked = specs.get(VMDK_TYPE_SPEC, "") or default
    name = _ALIASES.get(asked, asked)
    if name not in _DISK_TYPES:
        raise InvalidArgument(
            f"{VMDK_TYPE_SPEC} {asked!r} is not one of {', '.join(_DISK_TYPES)}",
            {"spec": VMDK_TYPE_SPEC, "value": asked, "allowed": ",".join(_DISK_TYPES)},
        )
    return _DISK_TYPES[name]


def _wait(si: Any, task: Any, timeout_s: float = 600.0) -> None:
    """Until the vSphere task ends (its fault raised when it failed). Reads only the task's
    state and error through the property collector: a whole TaskInfo names the
    VirtualDiskManager as its entity on some vCenters (vcsim), which pyVmomi refuses."""
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=task, skip=False)],
        propSet=[pc.PropertySpec(type=vim.Task, pathSet=["info.state", "info.error"])],
    )
    deadline = time.monotonic() + timeout_s
    pause = 0.005  # most disk tasks end within milliseconds: look again soon, then less often
    while True:
        props: dict[str, Any] = {}
        for oc in si.content.propertyCollector.RetrieveContents([spec]) or ():
            props.update({p.name: p.val for p in oc.propSet or ()})
        state = props.get("info.state")
        if state == vim.TaskInfo.State.success:
            return
        if state == vim.TaskInfo.State.error:
            error = props.get("info.error")
            if isinstance(error, BaseException):
                raise error
            raise Unavailable("a vCenter task failed without a fault")
        if time.monotonic() > deadline:
            raise Unavailable("a vCenter task did not end in time")
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _ds_name(path: str) -> str:
    m = re.match(r"^\[([^\]]+)\]", path)
    return m.group(1) if m else ""


class VmdkBackend:
    kind = "vmdk"

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        *,
        datacenter: str = "",
        datastore_regex: str = "",
        adapter_type: str = "lsiLogic",
        disk_type: str = "thin",
        folder: str = "volumes",
    ) -> None:
        if adapter_type not in _ADAPTERS:
            raise InvalidArgument(f"vmdk adapter_type must be one of {_ADAPTERS}")
        if _ALIASES.get(disk_type, disk_type) not in _DISK_TYPES:
            raise InvalidArgument(f"vmdk disk_type must be one of {', '.join(_DISK_TYPES)}")
        try:
            self._regex = re.compile(datastore_regex or ".*")
        except re.error as e:
            raise InvalidArgument(f"vmdk datastore_regex: {e}") from e
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"vmdk url must be http(s)://host[:port]/sdk, not {url!r}")
        self._url = parts
        self._user, self._password = user, password
        self._datacenter = datacenter
        self.adapter_type, self.disk_type, self.folder = adapter_type, disk_type, folder
        self._si: Any = None
        self._lock = threading.Lock()
        # Read once per session: the datacenter, and the folders made on its datastores.
        self._dc_ref: Any = None
        self._made: set[str] = set()

    # -- vCenter

    def _connect(self) -> Any:
        with self._lock:
            if self._si is None:
                u = self._url
                try:
                    self._si = SmartConnect(
                        protocol=u.scheme,
                        host=u.hostname,
                        port=u.port or (443 if u.scheme == "https" else 80),
                        path=u.path or "/sdk",
                        user=self._user,
                        pwd=self._password,
                        disableSslCertValidation=True,
                    )
                except (OSError, vim.fault.InvalidLogin, vmodl.MethodFault) as e:
                    raise Unavailable(f"vCenter {u.hostname}: {e}") from e
            return self._si

    def close(self) -> None:
        with self._lock:
            if self._si is not None:
                Disconnect(self._si)
                self._si = None
            self._dc_ref, self._made = None, set()

    async def _run(self, fn: Callable[[], T]) -> T:
        def call() -> T:
            try:
                return fn()
            except vim.fault.FileNotFound as e:
                raise FailedPrecondition(f"vmdk: {getattr(e, 'msg', e)}") from e
            except vmodl.MethodFault as e:
                raise Unavailable(f"vCenter refused: {getattr(e, 'msg', e)}") from e

        return await asyncio.to_thread(call)

    def _dc(self) -> Any:
        si = self._connect()
        if self._dc_ref is not None:
            return self._dc_ref
        for dc in si.RetrieveContent().rootFolder.childEntity:
            if isinstance(dc, vim.Datacenter) and self._datacenter in ("", dc.name):
                self._dc_ref = dc
                return dc
        raise FailedPrecondition(f"vCenter has no datacenter {self._datacenter!r}")

    def _pick_datastore(self, dc: Any, need_gb: int) -> str:
        # One read of each datastore's summary (name, accessible, free space).
        summaries = [ds.summary for ds in dc.datastore]
        fits = [s for s in summaries if self._regex.search(s.name) and s.accessible]
        if not fits:
            raise FailedPrecondition(
                f"no accessible datastore matches datastore_regex {self._regex.pattern!r}"
            )
        best = max(fits, key=lambda s: s.freeSpace)
        if best.freeSpace < need_gb * GIB:
            raise FailedPrecondition(
                f"datastore {best.name} has {best.freeSpace // GIB} GiB free,"
                f" the volume needs {need_gb}"
            )
        return str(best.name)

    def _mkdir(self, dc: Any, path: str) -> None:
        if path in self._made:
            return
        try:
            self._connect().content.fileManager.MakeDirectory(
                name=path, datacenter=dc, createParentDirectories=True
            )
        except vim.fault.FileAlreadyExists:
            pass
        self._made.add(path)

    def _path(self, datastore: str, name: str) -> str:
        return f"[{datastore}] {self.folder}/{name}.vmdk"

    # -- the protocol

    async def create(
        self,
        volume: VolumeRef,
        *,
        image: ImageSource | None = None,
        snapshot: SnapshotRef | None = None,
    ) -> str:
        if image is not None:
            raise FailedPrecondition("vmdk volumes from an image are not supported yet")
        kind = disk_type(volume.specs, self.disk_type)  # a bad spec refused before any call

        def make() -> str:
            dc = self._dc()
            vdm = self._connect().content.virtualDiskManager
            if snapshot is not None:
                ds = _ds_name(snapshot.location)
                path = self._path(ds, volume.id)
                self._mkdir(dc, f"[{ds}] {self.folder}")
                _wait(self._connect(),
                    vdm.CopyVirtualDisk_Task(
                        sourceName=snapshot.location, sourceDatacenter=dc,
                        destName=path, destDatacenter=dc, force=False,
                    )
                )  # fmt: skip
                if volume.size_gb > snapshot.size_gb:
                    _wait(self._connect(),
                        vdm.ExtendVirtualDisk_Task(
                            name=path, datacenter=dc, newCapacityKb=volume.size_gb * 1024 * 1024,
                            eagerZero=False,
                        )
                    )  # fmt: skip
                return path
            ds = self._pick_datastore(dc, volume.size_gb)
            path = self._path(ds, volume.id)
            self._mkdir(dc, f"[{ds}] {self.folder}")
            spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
                diskType=kind,
                adapterType=self.adapter_type,
                capacityKb=volume.size_gb * 1024 * 1024,
            )
            for attempt in (1, 2):
                try:
                    _wait(
                        self._connect(),
                        vdm.CreateVirtualDisk_Task(name=path, datacenter=dc, spec=spec),
                    )
                except vim.fault.FileAlreadyExists:
                    pass  # made by a create that did not get its answer back: idempotent
                except vim.fault.FileNotFound:
                    if attempt == 2:
                        raise
                    # the folder we made was removed since: make it again
                    self._made.discard(f"[{ds}] {self.folder}")
                    self._mkdir(dc, f"[{ds}] {self.folder}")
                    continue
                return path
            return path

        return await self._run(make)

    async def delete(self, volume: VolumeRef) -> None:
        await self._delete(volume.location)

    async def _delete(self, path: str) -> None:
        if not path:
            return

        def gone() -> None:
            dc = self._dc()
            try:
                _wait(
                    self._connect(),
                    self._connect().content.virtualDiskManager.DeleteVirtualDisk_Task(
                        name=path, datacenter=dc
                    ),
                )
            except vim.fault.FileNotFound:
                pass

        await self._run(gone)

    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        def grow() -> None:
            _wait(self._connect(),
                self._connect().content.virtualDiskManager.ExtendVirtualDisk_Task(
                    name=volume.location, datacenter=self._dc(),
                    newCapacityKb=new_size_gb * 1024 * 1024, eagerZero=False,
                )
            )  # fmt: skip

        await self._run(grow)

    async def create_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        def copy() -> str:
            dc = self._dc()
            ds = _ds_name(volume.location)
            dest = f"[{ds}] {self.folder}/snapshots/{snapshot.id}.vmdk"
            self._mkdir(dc, f"[{ds}] {self.folder}/snapshots")
            _wait(self._connect(),
                self._connect().content.virtualDiskManager.CopyVirtualDisk_Task(
                    sourceName=volume.location, sourceDatacenter=dc,
                    destName=dest, destDatacenter=dc, force=False,
                )
            )  # fmt: skip
            return dest

        return await self._run(copy)

    async def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        await self._delete(snapshot.location)

    def connection(self, volume: VolumeRef) -> Connection:
        attrs = {
            "datastore": _ds_name(volume.location),
            "path": volume.location,
            "adapter_type": self.adapter_type,
        }
        try:  # how it was made, for the agent to say on the disk's backing
            attrs["disk_type"] = disk_type(volume.specs, self.disk_type)
        except InvalidArgument:
            pass  # (no volume of such a type was ever made)
        return Connection("vmdk", attrs)

    async def capacity(self) -> BackendCapacity:
        def read() -> BackendCapacity:
            stores = [ds for ds in self._dc().datastore if self._regex.search(ds.name)]
            return BackendCapacity(
                total_gb=sum(ds.summary.capacity for ds in stores) // GIB,
                free_gb=sum(ds.summary.freeSpace for ds in stores) // GIB,
            )

        return await self._run(read)


@register("vmdk")
def _factory(options: Mapping[str, str]) -> VmdkBackend:
    password = options.get("password", "")
    if not password and options.get("password_file"):
        try:
            password = Path(options["password_file"]).read_text().strip()
        except OSError as e:
            raise InvalidArgument(f"vmdk password_file: {e.strerror}") from e
    if not options.get("url") or not options.get("user"):
        raise InvalidArgument("the vmdk backend needs url, user and password")
    return VmdkBackend(
        options["url"],
        options["user"],
        password,
        datacenter=options.get("datacenter", ""),
        datastore_regex=options.get("datastore_regex", ""),
        adapter_type=options.get("adapter_type", "lsiLogic"),
        disk_type=options.get("disk_type", "thin"),
        folder=options.get("folder", "volumes"),
    )
