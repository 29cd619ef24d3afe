"""The vmdk backend against vcsim: a disk made on the datastore the regex picks, grown,
copied to a snapshot and a volume made from it, deleted; a regex nothing matches refused."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi.SoapAdapter import SoapStubAdapter

from polyvisor.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from polyvisor.volumesvc.backends import build_backend
from polyvisor.volumesvc.backends.base import SnapshotRef, VolumeRef
from polyvisor.volumesvc.backends.vmdk import VMDK_TYPE_SPEC as VMDK_TYPE
from tests.fixtures.vcsim import Vcsim


@pytest.fixture(scope="module")
def vcsim() -> Iterator[Vcsim]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-vcsim-"))
    sim = Vcsim(root, die_with_parent=True)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_vmdk_volume_on_the_datastore_the_regex_picks(vcsim: Vcsim) -> None:
    url, user, password = vcsim.start() if vcsim.endpoint is None else vcsim.endpoint
    opts = {"kind": "vmdk", "url": url, "user": user, "password": password}
    backend = build_backend({**opts, "datastore_regex": "^LocalDS_"})
    vol = VolumeRef("3f0a2b9c-0000-4000-8000-000000000001", 1)
    path = await backend.create(vol)
    assert path == f"[LocalDS_0] volumes/{vol.id}.vmdk"
    assert await backend.create(vol) == path  # idempotent
    vol = VolumeRef(vol.id, 1, path)
    # vcsim has no ExtendVirtualDisk: its refusal comes back as a project error, not INTERNAL
    with pytest.raises(Unavailable, match="ExtendVirtualDisk"):
        await backend.extend(vol, 2)
    snap = SnapshotRef("snap-1", vol.id, 1)
    snap = SnapshotRef("snap-1", vol.id, 1, await backend.create_snapshot(vol, snap))
    assert snap.location == "[LocalDS_0] volumes/snapshots/snap-1.vmdk"
    copy = VolumeRef("3f0a2b9c-0000-4000-8000-000000000002", 1)
    copy_path = await backend.create(copy, snapshot=snap)
    assert copy_path == f"[LocalDS_0] volumes/{copy.id}.vmdk"
    conn = backend.connection(VolumeRef(copy.id, 1, copy_path))
    assert conn.kind == "vmdk" and conn.attrs["datastore"] == "LocalDS_0"
    assert conn.attrs["adapter_type"] == "lsiLogic"
    assert conn.attrs["disk_type"] == "thin"  # the backend's default, the type saying nothing
    for ref in (VolumeRef(copy.id, 1, copy_path), vol):
        await backend.delete(ref)
        await backend.delete(ref)  # gone already: done
    await backend.delete_snapshot(snap)

    # the volumes folder removed behind the backend's back (it remembers having made it):
    # made again by the next create
    si = backend._connect()  # type: ignore[attr-defined]
    dc = backend._dc()  # type: ignore[attr-defined]
    si.content.fileManager.DeleteDatastoreFile_Task(name="[LocalDS_0] volumes", datacenter=dc)
    again = VolumeRef("3f0a2b9c-0000-4000-8000-000000000004", 1)
    assert await backend.create(again) == f"[LocalDS_0] volumes/{again.id}.vmdk"
    await backend.delete(VolumeRef(again.id, 1, f"[LocalDS_0] volumes/{again.id}.vmdk"))

    nowhere = build_backend({**opts, "datastore_regex": "^san-"})
    with pytest.raises(FailedPrecondition, match="datastore_regex"):
        await nowhere.create(VolumeRef("3f0a2b9c-0000-4000-8000-000000000003", 1))


async def test_volume_type_vmdk_type_decides_the_disk_type(
    vcsim: Vcsim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vmware:vmdk_type`` goes to CreateVirtualDisk as its diskType (read off the SOAP call:
    vcsim accepts every diskType and records none); a bad one is refused before any call."""
    url, user, password = vcsim.start() if vcsim.endpoint is None else vcsim.endpoint
    backend = build_backend({"kind": "vmdk", "url": url, "user": user, "password": password})
    sent: list[str] = []
    invoke = SoapStubAdapter.InvokeMethod

    def spy(self: Any, mo: Any, info: Any, args: Any, *rest: Any) -> Any:
        if info.wsdlName == "CreateVirtualDisk_Task":
            sent.append(args[2].diskType)
        return invoke(self, mo, info, args, *rest)

    monkeypatch.setattr(SoapStubAdapter, "InvokeMethod", spy)
    wanted = {"": "thin", "thin": "thin", "thick": "preallocated"}
    wanted["eagerZeroedThick"] = "eagerZeroedThick"
    for n, (spec, disk_type) in enumerate(wanted.items()):
        specs = {"vmware:vmdk_type": spec} if spec else {}
        vol = VolumeRef(f"3f0a2b9c-0000-4000-8000-00000000010{n}", 1, specs=specs)
        path = await backend.create(vol)
        assert sent[-1] == disk_type, spec
        await backend.delete(VolumeRef(vol.id, 1, path))
    calls = len(sent)
    for bad in ("thik", "sparse", "Thin"):
        bad_vol = VolumeRef("3f0a2b9c-0000-4000-8000-000000000110", 1, specs={VMDK_TYPE: bad})
        with pytest.raises(InvalidArgument) as info:
            await backend.create(bad_vol)
        assert "thin, thick, eagerZeroedThick" in info.value.message
        assert info.value.details["allowed"] == "thin,thick,eagerZeroedThick"
    assert len(sent) == calls  # nothing made for a bad spec
    thick = build_backend(
        {"kind": "vmdk", "url": url, "user": user, "password": password, "disk_type": "thick"}
    )
    vol = VolumeRef("3f0a2b9c-0000-4000-8000-000000000111", 1)
    await thick.delete(VolumeRef(vol.id, 1, await thick.create(vol)))
    assert sent[-1] == "preallocated"  # the backend's default when the type says nothing
    with pytest.raises(InvalidArgument, match="disk_type"):
        build_backend({"kind": "vmdk", "url": url, "user": user, "disk_type": "sparse"})
