"""Images as base disks on the cluster's datastores: uploaded once per image per datastore.

    [datastore] <cache folder>/<image id>-<sha256[:16]>/<same>.vmdk       (descriptor)
    [datastore] <cache folder>/<image id>-<sha256[:16]>/<same>-flat.vmdk  (flat extent)

The rendition from the agent's local cache (streamOptimized VMDK, monolithicSparse or raw) is
expanded into the flat extent while it streams through vCenter's /folder endpoint; the
descriptor goes up last, so a descriptor on the datastore means a complete base disk. Every
server's disk is then a CopyVirtualDisk of the base into the server's own folder.

Concurrent spawns of one image on one datastore share one upload (single flight); a base found
on the datastore (uploaded by an earlier run or another replica) is reused after reading its
descriptor back.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from polyvisor.agent_vmware.datastore_http import DatastoreHttp
from polyvisor.agent_vmware.metrics import BASE_DISK_UPLOADS
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agent_vmware.specs import datastore_path
from polyvisor.agent_vmware.vmdk import VmdkError, disk_source, flat_descriptor
from polyvisor.agentkit.driver import LocalImage, SpawnFailed
from polyvisor.common.logging import get_logger

__all__ = ["BASE_TAG_KEY", "BaseDisk", "DatastoreImages", "image_key"]

#: extraConfig key naming the base disk (its image_key) a VM's disk was copied from
BASE_TAG_KEY = "polyvisor.base_disk"

log = get_logger(__name__)
_EXTENT = re.compile(r'^RW (\d+) VMFS "([^"/]+)"\s*$', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class BaseDisk:
    datastore: str
    path: str  # of the descriptor, on the datastore
    capacity: int  # bytes

    @property
    def datastore_path(self) -> str:
        return datastore_path(self.datastore, self.path)


def image_key(image: LocalImage) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", image.ref.image_id)[:80]
    return f"{safe}-{image.sha256[:16]}" if image.sha256 else safe


class DatastoreImages:
    def __init__(self, options: VmwareOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self._known: dict[tuple[str, str], BaseDisk] = {}
        # (datastore, key) -> when this process last handed it to a spawn (Unix seconds)
        self._used: dict[tuple[str, str], float] = {}
        self.uploads = 0  # how many base disks this process uploaded (for tests and metrics)

    def used_within(self, now: float, seconds: float) -> set[tuple[str, str]]:
        """The (datastore, key) of the bases this process handed out in the ``seconds`` before
        ``now``: in use for the image cache sweep, even before the VM naming one exists."""
        since = now - seconds
        with self._lock:
            return {k for k, t in self._used.items() if t >= since}

    def retire(self, datastore: str, key: str, delete: Callable[[], None]) -> None:
        """``delete()`` the base ``key`` of ``datastore``, under its single flight: a spawn
        ensuring it meanwhile waits, then finds it gone and uploads it again."""
        with self._flight((datastore, key)):
            self.forget(datastore, key)
            with self._lock:
                self._used.pop((datastore, key), None)
            delete()

    def forget(self, datastore: str, key: str | None = None) -> None:
        """Drop what we believe is on ``datastore`` (all of it when ``key`` is None)."""
        with self._lock:
            for k in [k for k in self._known if k[0] == datastore and key in (None, k[1])]:
                del self._known[k]

    def forget_all(self) -> None:
        with self._lock:
            self._known.clear()

    def _flight(self, k: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._flights.setdefault(k, threading.Lock())

    def ensure(
        self,
        http: DatastoreHttp,
        datacenter: str,
        datastore: str,
        image: LocalImage,
        adapter: str,
        *,
        thin: bool = False,
    ) -> BaseDisk:
        key = image_key(image)
        k = (datastore, key)
        with self._lock:
            self._used[k] = time.time()
            known = self._known.get(k)
        if known is not None:
            return known
        with self._flight(k):
            with self._lock:
                known = self._known.get(k)
            if known is not None:
                return known
            folder = f"{self.options.image_cache_folder}/{key}"
            descriptor_path = f"{folder}/{key}.vmdk"
            base = self._existing(http, datacenter, datastore, descriptor_path, key)
            if base is None:
                base = self._upload(http, datacenter, datastore, folder, key, image, adapter, thin)
            with self._lock:
                self._known[k] = base
            return base

    def _existing(
        self, http: DatastoreHttp, datacenter: str, datastore: str, path: str, key: str
    ) -> BaseDisk | None:
        text = http.get(datacenter, datastore, path, max_bytes=64 * 1024)
        if text is None:
            return None
        m = _EXTENT.search(text.decode("utf-8", "replace"))
        if m is None or m.group(2) != f"{key}-flat.vmdk":
            log.warning("unexpected descriptor in the image cache, uploading again", path=path)
            return None
        return BaseDisk(datastore, path, int(m.group(1)) * 512)

    def _upload(
        self,
        http: DatastoreHttp,
        datacenter: str,
        datastore: str,
        folder: str,
        key: str,
        image: LocalImage,
        adapter: str,
        thin: bool,
    ) -> BaseDisk:
        try:
            source = disk_source(image.path)
        except (VmdkError, OSError) as e:
            raise SpawnFailed(f"image {image.ref.image_id} cannot be used on VMware: {e}") from e
        try:
            log.info(
                "uploading base disk",
                image_id=image.ref.image_id,
                datastore=datastore,
                capacity=source.capacity,
            )
            extent = f"{key}-flat.vmdk"
            try:
                http.put(
                    datacenter,
                    datastore,
                    f"{folder}/{extent}",
                    source.flat_chunks(),
                    source.capacity,
                    timeout=self.options.call_timeout_s,
                )
            except VmdkError as e:
                raise SpawnFailed(f"image {image.ref.image_id} is corrupt: {e}") from e
            descriptor = flat_descriptor(extent, source.capacity, adapter, thin=thin)
            path = f"{folder}/{key}.vmdk"
            http.put(datacenter, datastore, path, [descriptor], len(descriptor))
            with self._lock:
                self.uploads += 1
            BASE_DISK_UPLOADS.inc()
            return BaseDisk(datastore, path, source.capacity)
        finally:
            source.close()
