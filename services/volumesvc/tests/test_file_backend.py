"""The file backend against real qemu-img: blank, from an image, from a snapshot, extend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from polyvisor.common.errors import InvalidArgument, Unavailable
from polyvisor.volumesvc.backends import build_backend
from polyvisor.volumesvc.backends.base import ImageSource, SnapshotRef, VolumeRef
from polyvisor.volumesvc.backends.file import qemu_img

GIB = 1024**3


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def _gone(*paths: str) -> bool:
    return not any(Path(p).exists() for p in paths)


def _info(path: str) -> dict:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], check=True, capture_output=True
    )
    return json.loads(out.stdout)


async def test_volume_lifecycle_keeps_bytes(tmp_path: Path) -> None:
    backend = build_backend({"kind": "file", "directory": str(tmp_path / "vols")})
    vol = VolumeRef("v1", 1)
    loc = await backend.create(vol)
    assert _info(loc)["virtual-size"] == GIB and _info(loc)["format"] == "qcow2"
    assert await backend.create(vol) == loc  # idempotent
    vol = VolumeRef("v1", 1, loc)

    # a marker written at 512 KiB survives a snapshot, a copy from it and an extend
    raw = tmp_path / "marker.raw"
    _run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", loc, str(raw))
    with raw.open("r+b") as f:
        f.seek(512 * 1024)
        f.write(b"POLYVISOR-MARKER")
    _run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), loc)

    snap = SnapshotRef("s1", "v1", 1)
    snap = SnapshotRef("s1", "v1", 1, await backend.create_snapshot(vol, snap))
    copy = VolumeRef("v2", 2)
    copy_loc = await backend.create(copy, snapshot=snap)
    await backend.extend(VolumeRef("v2", 2, copy_loc), 3)
    assert _info(copy_loc)["virtual-size"] == 3 * GIB
    out = tmp_path / "copy.raw"
    _run("qemu-img", "convert", "-O", "raw", copy_loc, str(out))
    with out.open("rb") as f:
        f.seek(512 * 1024)
        assert f.read(16) == b"POLYVISOR-MARKER"

    # an image larger than the volume is refused, and nothing is left behind
    big = ImageSource("img", raw, "raw", GIB)
    with pytest.raises(InvalidArgument):
        await backend.create(VolumeRef("v3", 0), image=big)
    assert sorted(p.name for p in (tmp_path / "vols").iterdir()) == [
        "snapshots",
        "v1.qcow2",
        "v2.qcow2",
    ]
    conn = backend.connection(vol)
    assert conn.kind == "file" and conn.attrs == {"path": loc, "format": "qcow2"}

    await backend.delete_snapshot(snap)
    await backend.delete(vol)
    await backend.delete(vol)
    assert _gone(loc, snap.location)


def _fake_qemu_img(bin_dir: Path, crashes: int) -> Path:
    """A qemu-img on PATH that dies of SIGSEGV ``crashes`` times, then runs the real one."""
    real = shutil.which("qemu-img")
    assert real is not None
    count = bin_dir / "count"
    count.write_text("0")
    script = bin_dir / "qemu-img"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {count}); echo $((n + 1)) > {count}\n"
        f'if [ "$n" -lt {crashes} ]; then kill -SEGV $$; fi\n'
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return count


async def test_a_qemu_img_that_dies_from_a_signal_is_unavailable_with_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash of the tool itself is said, not retried: the children of this service are
    started with vfork (polyvisor.common.procs), so a signal death is the tool's own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    count = _fake_qemu_img(bin_dir, 1)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    target = tmp_path / "v.qcow2"
    with pytest.raises(Unavailable, match=r"exit -11"):
        await qemu_img("create", "-q", "-f", "qcow2", str(target), "1048576")
    assert not target.exists()
    assert int(count.read_text()) == 1
