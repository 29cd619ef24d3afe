"""The agent's local cache of image renditions.

    cache = ImageCache(Path("/var/lib/polyvisor/cache"), source, max_bytes=20 * 2**30)
    await cache.open()
    local = await cache.fetch(image_ref, RenditionWanted("qcow2"), user="server-1")
    ...                                   # the driver boots from local.path
    await cache.release("server-1")       # the server is gone: its base may be evicted

- A download resumes where a previous one stopped (the ``.part`` file and the offset the
  image service is asked for), and the whole file's SHA-256 must match what the image service
  announced; a mismatch deletes the bytes and fails (after one fresh retry when it resumed).
- One download per rendition at a time: concurrent fetches of the same one share it.
- Least-recently-used entries are evicted when the cache grows past ``max_bytes``, but never
  an entry some server still uses (a qcow2 overlay's base, a spawn in progress).
- The index (sizes, checksums, users, last use) is a JSON file beside the data, so a restarted
  agent keeps its pins; files without a verified index entry are deleted at open.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from polyvisor.agentkit.driver import ImageRef, LocalImage, RenditionWanted
from polyvisor.agentkit.errors import ImageUnavailable
from polyvisor.agentkit.image_download import (
    ChecksumMismatch,
    DownloadMeta,
    ImageSource,
    close_synced,
    hash_prefix,
    open_at,
    publish,
    write_and_hash,
)
from polyvisor.agentkit.metrics import IMAGE_CACHE_BYTES, IMAGE_DOWNLOAD_BYTES, IMAGE_DOWNLOADS
from polyvisor.common.logging import get_logger

__all__ = ["CacheEntry", "ImageCache", "cache_key"]

log = get_logger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(slots=True)
class CacheEntry:
    key: str
    image_id: str
    disk_format: str
    vmware_disktype: str
    size: int
    sha256: str
    last_used: float
    users: list[str] = field(default_factory=list)


def cache_key(image_id: str, rendition: RenditionWanted) -> str:
    parts = [image_id, rendition.disk_format]
    if rendition.vmware_disktype:
        parts.append(rendition.vmware_disktype)
    return _SAFE.sub("_", ".".join(parts))


class ImageCache:
    def __init__(
        self,
        root: Path,
        source: ImageSource,
        *,
        max_bytes: int = 20 * 2**30,
        file_mode: int = 0o644,
    ) -> None:
        self.root = Path(root)
        self.data_dir = self.root / "images"
        self.index_path = self.root / "index.json"
        self.source = source
        self.max_bytes = max_bytes
        self.file_mode = file_mode
        self._entries: dict[str, CacheEntry] = {}
        self._downloads: dict[str, asyncio.Task[CacheEntry]] = {}
        self._lock = asyncio.Lock()  # guards _entries, the index file and eviction
        self._opened = False
        self._closed = False

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> None:
        if self._opened:
            return
        async with self._lock:
            if self._opened:
                return
            await asyncio.to_thread(self._load)
            self._opened = True
        self._update_gauge()

    async def close(self) -> None:
        """Cancel downloads in flight (their ``.part`` files stay for a resume). Idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._downloads.values())
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._downloads.clear()

    def _load(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # QEMU (another user) must reach the bases of the overlays.
        for d in (self.root, self.data_dir):
            d.chmod(0o755)
        entries: dict[str, CacheEntry] = {}
        try:
            raw = json.loads(self.index_path.read_text())
            for item in raw.get("entries", []):
                entry = CacheEntry(**item)
                path = self.path_of(entry.key)
                if path.exists() and path.stat().st_size == entry.size:
                    entries[entry.key] = entry
        except FileNotFoundError:
            pass
        except (ValueError, TypeError) as exc:
            log.warning("image cache index unreadable, starting empty", error=str(exc))
        for path in self.data_dir.iterdir():
            if path.suffix == ".img" and path.stem not in entries:
                log.info("removing unverified cache file", path=str(path))
                path.unlink(missing_ok=True)
        self._entries = entries
        self._write_index()

    def _write_index(self) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        data = {"entries": [asdict(e) for e in self._entries.values()]}
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.index_path)

    # ------------------------------------------------------------------ queries

    def path_of(self, key: str) -> Path:
        return self.data_dir / f"{key}.img"

    def part_of(self, key: str) -> Path:
        return self.data_dir / f"{key}.part"

    @property
    def entries(self) -> dict[str, CacheEntry]:
        return dict(self._entries)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    def users_of(self, key: str) -> list[str]:
        entry = self._entries.get(key)
        return list(entry.users) if entry else []

    # ------------------------------------------------------------------ fetch / release

    async def fetch(
        self,
        image: ImageRef,
        rendition: RenditionWanted,
        *,
        user: str = "",
        expected_sha256: str = "",
    ) -> LocalImage:
        """The rendition on local disk, verified; ``user`` pins it until ``release(user)``."""
        if self._closed:
            raise ImageUnavailable("image cache closed", retryable=True)
        await self.open()
        key = cache_key(image.image_id, rendition)
        entry: CacheEntry | None = None
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not self.path_of(key).exists():
                del self._entries[key]
                entry = None
            if entry is not None:
                IMAGE_DOWNLOADS.labels("hit").inc()
                self._touch(entry, user)
                await asyncio.to_thread(self._write_index)
        if entry is None:
            task = self._downloads.get(key)
            if task is None:
                task = asyncio.get_running_loop().create_task(
                    self._download(key, image.image_id, rendition, expected_sha256),
                    name=f"image-download:{key}",
                )
                self._downloads[key] = task
                task.add_done_callback(functools.partial(self._download_done, key))
            entry = await asyncio.shield(task)
            async with self._lock:
                # Evicted between the download and now is impossible: a fresh entry is
                # never evicted by the eviction that follows its own insertion, and we pin it
                # here before any other eviction can run.
                entry = self._entries.get(key, entry)
                if key not in self._entries:
                    self._entries[key] = entry
                self._touch(entry, user)
                await asyncio.to_thread(self._write_index)
        if expected_sha256 and entry.sha256 != expected_sha256.lower():
            raise ImageUnavailable(
                f"image {image.image_id}: cached rendition has sha256 {entry.sha256}, "
                f"the command expects {expected_sha256}"
            )
        return LocalImage(
            ref=image,
            rendition=rendition,
            path=self.path_of(key),
            size=entry.size,
            sha256=entry.sha256,
        )

    def _download_done(self, key: str, _task: asyncio.Task[CacheEntry]) -> None:
        self._downloads.pop(key, None)

    async def release(self, user: str) -> None:
        """``user`` (a server id) no longer needs any cached rendition."""
        async with self._lock:
            changed = False
            for entry in self._entries.values():
                if user in entry.users:
                    entry.users.remove(user)
                    changed = True
            if changed:
                await asyncio.to_thread(self._write_index)
                await self._evict_locked(keep=None)

    async def retain_users(self, users: set[str]) -> None:
        """Drop every pin whose user is not in ``users`` (the reconciler's view of the host)."""
        async with self._lock:
            changed = False
            for entry in self._entries.values():
                kept = [u for u in entry.users if u in users]
                if kept != entry.users:
                    entry.users = kept
                    changed = True
            if changed:
                await asyncio.to_thread(self._write_index)
                await self._evict_locked(keep=None)

    def _touch(self, entry: CacheEntry, user: str) -> None:
        entry.last_used = time.time()
        if user and user not in entry.users:
            entry.users.append(user)

    # ------------------------------------------------------------------ download

    async def _download(
        self, key: str, image_id: str, rendition: RenditionWanted, expected_sha256: str
    ) -> CacheEntry:
        try:
            meta = await self._download_once(key, image_id, rendition, resume=True)
        except ChecksumMismatch as exc:
            if not exc.resumed:
                raise ImageUnavailable(str(exc)) from None
            log.warning("checksum mismatch after a resumed download, retrying from zero", key=key)
            try:
                meta = await self._download_once(key, image_id, rendition, resume=False)
            except ChecksumMismatch as again:
                raise ImageUnavailable(str(again)) from None
        if expected_sha256 and meta.sha256.lower() != expected_sha256.lower():
            await asyncio.to_thread(self.path_of(key).unlink, True)
            raise ImageUnavailable(
                f"image {image_id}: rendition sha256 {meta.sha256} differs from the "
                f"expected {expected_sha256}"
            )
        entry = CacheEntry(
            key=key,
            image_id=image_id,
            disk_format=rendition.disk_format,
            vmware_disktype=rendition.vmware_disktype,
            size=meta.size,
            sha256=meta.sha256.lower(),
            last_used=time.time(),
        )
        async with self._lock:
            self._entries[key] = entry
            await asyncio.to_thread(self._write_index)
            await self._evict_locked(keep=key)
        return entry

    async def _download_once(
        self, key: str, image_id: str, rendition: RenditionWanted, *, resume: bool
    ) -> DownloadMeta:
        part = self.part_of(key)
        have = part.stat().st_size if resume and part.exists() else 0
        hasher = hashlib.sha256()
        if have:
            await asyncio.to_thread(hash_prefix, part, have, hasher)
        stream = self.source.download(image_id, rendition, have)
        meta: DownloadMeta | None = None
        written = have
        fh = None
        try:
            async for item in stream:
                if meta is None:
                    if not isinstance(item, DownloadMeta):
                        raise ImageUnavailable(f"image {image_id}: download sent no metadata")
                    meta = item
                    if meta.offset != have:
                        # The service restarted us somewhere else (it may not resume).
                        hasher = hashlib.sha256()
                        if meta.offset:
                            await asyncio.to_thread(hash_prefix, part, meta.offset, hasher)
                        written = meta.offset
                    fh = await asyncio.to_thread(open_at, part, written)
                    continue
                if not isinstance(item, bytes | bytearray | memoryview):
                    raise ImageUnavailable(f"image {image_id}: unexpected download message")
                assert fh is not None
                await asyncio.to_thread(write_and_hash, fh, hasher, item)
                written += len(item)
                IMAGE_DOWNLOAD_BYTES.inc(len(item))
                if written > meta.size:
                    raise ImageUnavailable(
                        f"image {image_id}: download longer than the announced {meta.size} bytes"
                    )
        except ImageUnavailable:
            IMAGE_DOWNLOADS.labels("failed").inc()
            raise
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
            if fh is not None:
                await asyncio.to_thread(close_synced, fh)
        if meta is None:
            IMAGE_DOWNLOADS.labels("failed").inc()
            raise ImageUnavailable(f"image {image_id}: empty download", retryable=True)
        if written != meta.size:
            IMAGE_DOWNLOADS.labels("failed").inc()
            raise ImageUnavailable(
                f"image {image_id}: got {written} of {meta.size} bytes", retryable=True
            )
        digest = hasher.hexdigest()
        if digest != meta.sha256.lower():
            IMAGE_DOWNLOADS.labels("checksum_mismatch").inc()
            await asyncio.to_thread(part.unlink, True)
            raise ChecksumMismatch(
                f"image {image_id}: sha256 {digest} does not match the announced {meta.sha256}",
                resumed=have > 0,
            )
        final = self.path_of(key)
        await asyncio.to_thread(publish, part, final, self.file_mode)
        IMAGE_DOWNLOADS.labels("resumed" if have else "ok").inc()
        log.info("image cached", key=key, size=meta.size, resumed_from=have or None)
        return meta

    # ------------------------------------------------------------------ eviction

    async def _evict_locked(self, keep: str | None) -> None:
        total = self.total_bytes
        if total > self.max_bytes:
            candidates = sorted(
                (e for e in self._entries.values() if not e.users and e.key != keep),
                key=lambda e: e.last_used,
            )
            for entry in candidates:
                if total <= self.max_bytes:
                    break
                del self._entries[entry.key]
                await asyncio.to_thread(self.path_of(entry.key).unlink, True)
                total -= entry.size
                log.info("image evicted", key=entry.key, size=entry.size)
            await asyncio.to_thread(self._write_index)
            if total > self.max_bytes:
                log.warning(
                    "image cache over its cap: the rest is in use",
                    total_bytes=total,
                    max_bytes=self.max_bytes,
                )
        self._update_gauge()

    def _update_gauge(self) -> None:
        IMAGE_CACHE_BYTES.set(self.total_bytes)
