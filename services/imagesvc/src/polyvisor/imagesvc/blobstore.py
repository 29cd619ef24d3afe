"""Where image bytes live: a store interface and its filesystem backend.

Writes are atomic: bytes go to a temporary file inside the store (same filesystem), and
`commit` renames it into place once it is complete and accepted; `discard` (always called
on failure or cancellation) unlinks it. Readers open a location and keep the file
descriptor: deleting an image unlinks its files, and POSIX keeps the bytes readable through
descriptors already open, so a download in flight is never corrupted.

Layout under the root:

    tmp/<uuid>.part                   uploads and conversions in progress
    images/<image id>/<name>          committed renditions (location = relative path)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from polyvisor.common.logging import get_logger

__all__ = ["BlobStore", "FilesystemStore", "OpenBlob", "StreamWriter", "TempBlob", "hash_file"]

log = get_logger(__name__)

_HASH_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OpenBlob:
    """An opened rendition: read it with `pread` (position-independent, thread-safe)."""

    file: BinaryIO
    size: int

    def pread(self, length: int, offset: int) -> bytes:
        return os.pread(self.file.fileno(), length, offset)

    def close(self) -> None:
        self.file.close()


class TempBlob:
    """A file being written: hashed and counted as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = open(path, "xb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.done = False

    def write(self, data: bytes) -> None:
        """Blocking: call it in a thread (hashlib releases the GIL on large buffers)."""
        assert self._file is not None
        self._hash.update(data)
        self._file.write(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self, fsync: bool) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.flush()
            if fsync:
                os.fsync(f.fileno())
            f.close()

    def discard(self) -> None:
        """Close and unlink; idempotent, never raises."""
        with contextlib.suppress(OSError):
            self.close(fsync=False)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.done = True


class StreamWriter:
    """Writes a stream of chunks into a TempBlob on its own thread.

    The event loop only queues chunks (waiting when `depth` chunks are pending), so it never
    blocks on the disk, and hashing and writing run beside the network I/O. `finish()` waits
    until everything is written and raises the first write error (ENOSPC...); `abort()`
    drops what is still queued. One of the two must be awaited (the thread ends then)."""

    def __init__(self, temp: TempBlob, depth: int = 8) -> None:
        self.temp = temp
        self.queued = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._aborted = False
        self._thread = threading.Thread(target=self._run, name="blob-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._aborted or self._error is not None:
                continue
            try:
                self.temp.write(chunk)
            except BaseException as e:
                self._error = e

    async def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self.queued += len(chunk)
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, chunk)

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    async def finish(self) -> None:
        if self._thread.is_alive():
            await asyncio.to_thread(self._stop)
        if self._error is not None:
            raise self._error

    async def abort(self) -> None:
        self._aborted = True
        if self._thread.is_alive():
            await asyncio.to_thread(self._stop)


def hash_file(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file (blocking)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


class BlobStore(Protocol):
    async def new_temp(self) -> TempBlob: ...
    async def commit(self, temp: TempBlob, image_id: str, name: str) -> str: ...
    async def open(self, location: str) -> OpenBlob: ...
    def local_path(self, location: str) -> Path: ...
    async def delete_image(self, image_id: str) -> None: ...
    async def delete(self, location: str) -> None: ...


class FilesystemStore:
    """The filesystem backend (a local disk or a shared mount used by every replica)."""

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        self.root = Path(root).absolute()
        self.fsync = fsync
        self.tmp_dir = self.root / "tmp"
        self.images_dir = self.root / "images"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.images_dir.mkdir(parents=True, exist_ok=True)

    # -- writing

    async def new_temp(self) -> TempBlob:
        return TempBlob(self.tmp_dir / f"{uuid.uuid4().hex}.part")

    def temp_path(self) -> Path:
        """A fresh temp path for a tool that writes its own file (qemu-img convert)."""
        return self.tmp_dir / f"{uuid.uuid4().hex}.part"

    async def commit(self, temp: TempBlob, image_id: str, name: str) -> str:
        """Move a finished temp file into place; its location."""
        return await asyncio.to_thread(self._commit, temp, image_id, name)

    def _commit(self, temp: TempBlob, image_id: str, name: str) -> str:
        temp.close(self.fsync)
        location = self.commit_path(temp.path, image_id, name)
        temp.done = True
        return location

    def commit_path(self, path: Path, image_id: str, name: str) -> str:
        """Blocking: rename a complete file into the image's directory."""
        if self.fsync:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        directory = self.images_dir / image_id
        directory.mkdir(exist_ok=True)
        unique = f"{name}-{uuid.uuid4().hex[:8]}"
        os.rename(path, directory / unique)
        if self.fsync:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return f"images/{image_id}/{unique}"

    # -- reading

    def local_path(self, location: str) -> Path:
        path = (self.root / location).resolve()
        if not path.is_relative_to(self.images_dir):
            raise ValueError(f"location {location!r} is outside the store")
        return path

    async def stage(self, location: str) -> tuple[Path, bool]:
        """A local file with the rendition's bytes, for qemu-img: (path, whether the caller
        removes it after use). Here the committed file itself; the RBD store exports one."""
        return self.local_path(location), False

    async def clone_source(self, location: str) -> str | None:
        """What a KVM host clones copy-on-write instead of downloading (an RBD
        `pool/image@snapshot`), or None: this store has nothing to clone."""
        return None

    async def open(self, location: str) -> OpenBlob:
        """Open for reading (FileNotFoundError if it is gone)."""

        def _open() -> OpenBlob:
            f = open(self.local_path(location), "rb")
            return OpenBlob(f, os.fstat(f.fileno()).st_size)

        return await asyncio.to_thread(_open)

    # -- deleting

    async def delete(self, location: str) -> None:
        def _unlink() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.local_path(location).unlink()

        await asyncio.to_thread(_unlink)

    async def delete_image(self, image_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.images_dir / image_id, True)

    def sweep_temp(self, older_than_s: float) -> int:
        """Remove temp files left by a crashed process (older than any live write)."""
        cutoff = time.time() - older_than_s
        removed = 0
        for p in self.tmp_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
        if removed:
            log.info("stale temp files removed", count=removed)
        return removed
