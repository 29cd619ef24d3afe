"""The ``file`` backend: each volume a qcow2 (or raw) file in one directory of the KVM host,
attached by the KVM agent as a file disk. The embedded default, for one machine (the volume
service and the KVM agent see the same directory).

Options: ``directory`` (made if missing), ``format`` (qcow2, the default, or raw).

Files are written under a temporary name and renamed once complete, so a crash never leaves a
half-made volume under a volume's name. Snapshots are full copies (``qemu-img convert -U``: a
volume attached to a running guest is read without its lock, crash-consistent) in
``<directory>/snapshots``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from polyvisor.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from polyvisor.common.logging import get_logger
from polyvisor.common.procs import run_process
from polyvisor.volumesvc.backends import register
from polyvisor.volumesvc.backends.base import (
    BackendCapacity,
    Connection,
    ImageSource,
    SnapshotRef,
    VolumeRef,
)

__all__ = ["FileBackend", "qemu_img"]

log = get_logger(__name__)

GIB = 1024**3
_FORMATS = ("qcow2", "raw")


async def qemu_img(*args: str) -> str:
    """Run qemu-img; its stdout, or Unavailable with its stderr and exit status."""
    try:
        done = await run_process(["qemu-img", *args])
    except FileNotFoundError as e:
        raise Unavailable("qemu-img is not installed on the volume host") from e
    if done.returncode != 0:
        raise Unavailable(
            f"qemu-img {args[0]} failed (exit {done.returncode}): "
            f"{done.stderr.decode(errors='replace').strip()[-500:]}"
        )
    return done.stdout.decode()


async def virtual_size(path: Path, fmt: str) -> int:
    info = json.loads(await qemu_img("info", "-U", "--output=json", "-f", fmt, str(path)))
    return int(info["virtual-size"])


class FileBackend:
    kind = "file"

    def __init__(self, directory: Path, fmt: str = "qcow2") -> None:
        if fmt not in _FORMATS:
            raise InvalidArgument(f"file backend format must be one of {_FORMATS}, not {fmt!r}")
        self.directory = directory
        self.format = fmt
        self._snapshots = directory / "snapshots"

    def _path(self, volume_id: str) -> Path:
        return self.directory / f"{volume_id}.{self.format}"

    def _prepare(self) -> None:
        try:
            self._snapshots.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise Unavailable(f"volume directory {self.directory}: {e.strerror}") from e

    async def create(
        self,
        volume: VolumeRef,
        *,
        image: ImageSource | None = None,
        snapshot: SnapshotRef | None = None,
    ) -> str:
        if image is not None and snapshot is not None:
            raise InvalidArgument("a volume is made from an image or a snapshot, not both")
        self._prepare()
        path = self._path(volume.id)
        if path.exists():
            return str(path)
        tmp = path.with_name(f".{path.name}.partial")
        size = volume.size_gb * GIB
        try:
            if image is None and snapshot is None:
                await qemu_img("create", "-q", "-f", self.format, str(tmp), str(size))
            else:
                if image is not None:
                    src, src_fmt = image.path, image.disk_format
                else:
                    assert snapshot is not None
                    src, src_fmt = Path(snapshot.location), "qcow2"
                await qemu_img(
                    "convert", "-q", "-f", src_fmt, "-O", self.format, str(src), str(tmp)
                )
                have = await virtual_size(tmp, self.format)
                if have > size:
                    raise InvalidArgument(
                        f"the source needs {-(-have // GIB)} GiB, the volume has {volume.size_gb}"
                    )
                if have < size:
                    await qemu_img("resize", "-q", "-f", self.format, str(tmp), str(size))
            tmp.rename(path)
        finally:
            tmp.unlink(missing_ok=True)
        return str(path)

    async def delete(self, volume: VolumeRef) -> None:
        await asyncio.to_thread(Path(volume.location or self._path(volume.id)).unlink, True)

    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        path = Path(volume.location or self._path(volume.id))
        if not await asyncio.to_thread(path.exists):
            raise FailedPrecondition(f"volume {volume.id} has no file at {path}")
        if await virtual_size(path, self.format) >= new_size_gb * GIB:
            return
        await qemu_img("resize", "-q", "-f", self.format, str(path), str(new_size_gb * GIB))

    async def create_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        self._prepare()
        dest = self._snapshots / f"{snapshot.id}.qcow2"
        if dest.exists():
            return str(dest)
        tmp = dest.with_name(f".{dest.name}.partial")
        src = Path(volume.location or self._path(volume.id))
        try:
            await qemu_img(
                "convert", "-q", "-U", "-f", self.format, "-O", "qcow2", str(src), str(tmp)
            )
            tmp.rename(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return str(dest)

    async def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        if snapshot.location:
            await asyncio.to_thread(Path(snapshot.location).unlink, True)

    def connection(self, volume: VolumeRef) -> Connection:
        return Connection(
            "file",
            {"path": volume.location or str(self._path(volume.id)), "format": self.format},
        )

    async def capacity(self) -> BackendCapacity:
        self._prepare()
        usage = shutil.disk_usage(self.directory)
        return BackendCapacity(total_gb=usage.total // GIB, free_gb=usage.free // GIB)


@register("file")
def _factory(options: Mapping[str, str]) -> FileBackend:
    directory = options.get("directory", "")
    if not directory:
        raise InvalidArgument("the file backend needs a directory")
    return FileBackend(Path(directory).resolve(), options.get("format", "qcow2"))
