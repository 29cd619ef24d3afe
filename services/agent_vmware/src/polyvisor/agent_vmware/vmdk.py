"""VMDK on the agent's side: read a hosted sparse disk as a flat extent, write descriptors.

ESXi runs VMs from VMFS-native disks: a small text descriptor plus a flat extent
(``name.vmdk`` + ``name-flat.vmdk``). The image service hands us a *hosted* rendition
(streamOptimized by default: compressed grains, what OVF carries; or monolithicSparse), and
ESXi cannot attach either as it is. So the agent expands the rendition into the flat extent
while it streams it to the datastore, and writes the descriptor next to it. Only the grains
the image holds are read; holes come out as zeros.

    disk = SparseVmdk.open(path)              # raises VmdkError on anything malformed
    for chunk in disk.flat_chunks():           # disk.capacity bytes in all, in LBA order
        ...
    text = flat_descriptor("base-flat.vmdk", disk.capacity, adapter="lsiLogic")

``FlatSource`` does the same for a raw file (a "preallocated" rendition is the flat extent).
"""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = [
    "CHUNK",
    "FlatSource",
    "SparseVmdk",
    "VmdkError",
    "descriptor_adapter",
    "disk_source",
    "flat_descriptor",
    "round_up_capacity",
]

SECTOR = 512
CHUNK = 1 << 20  # what flat_chunks yields at most
_MAGIC = 0x564D444B  # "KDMV" little-endian
_HEADER = struct.Struct("<IIIQQQQIQQQ?4sH")  # up to compressAlgorithm
_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_FLAG_COMPRESSED = 1 << 16
_FLAG_MARKERS = 1 << 17
_COMPRESS_DEFLATE = 1
_MARKER = struct.Struct("<QI")  # lba (or sector count), size
_MAX_CAPACITY = 64 << 40  # 64 TiB: ESXi's own limit for a virtual disk
_MAX_GRAIN_SECTORS = 1 << 16


class VmdkError(ValueError):
    """The file is not a VMDK this agent can expand (malformed, or an unsupported variant)."""


class DiskSource(Protocol):
    capacity: int

    def flat_chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Header:
    version: int
    flags: int
    capacity_sectors: int
    grain_sectors: int
    gtes_per_gt: int
    gd_offset: int
    overhead: int
    compress: int


def _parse_header(raw: bytes) -> _Header:
    if len(raw) < _HEADER.size:
        raise VmdkError("truncated VMDK header")
    (magic, version, flags, capacity, grain, _doff, _dsize, gtes, _rgd, gd, overhead,
     _unclean, _eol, compress) = _HEADER.unpack_from(raw)  # fmt: skip
    if magic != _MAGIC:
        raise VmdkError("not a sparse VMDK (bad magic)")
    if version not in (1, 2, 3):
        raise VmdkError(f"unsupported VMDK version {version}")
    if grain < 8 or grain > _MAX_GRAIN_SECTORS or grain & (grain - 1):
        raise VmdkError(f"bad grain size {grain} sectors")
    if gtes != 512:
        raise VmdkError(f"bad grain table size {gtes}")
    if capacity == 0 or capacity * SECTOR > _MAX_CAPACITY:
        raise VmdkError(f"bad capacity {capacity} sectors")
    return _Header(version, flags, capacity, grain, gtes, gd, overhead, compress)


class SparseVmdk:
    """A monolithicSparse or streamOptimized VMDK on local disk, read through its grain directory."""

    def __init__(self, f: BinaryIO, header: _Header, size: int) -> None:
        self._f = f
        self._h = header
        self._size = size
        self.capacity = header.capacity_sectors * SECTOR
        self.compressed = bool(header.flags & _FLAG_COMPRESSED)
        if self.compressed and header.compress != _COMPRESS_DEFLATE:
            raise VmdkError(f"unsupported grain compression {header.compress}")
        self._grain_bytes = header.grain_sectors * SECTOR

    @classmethod
    def open(cls, path: Path | str) -> SparseVmdk:
        f = open(path, "rb")
        try:
            size = os.fstat(f.fileno()).st_size
            header = _parse_header(f.read(SECTOR))
            if header.gd_offset == _GD_AT_END:
                # streamOptimized: the header at the end (after its marker) is the real one.
                if size < 3 * SECTOR:
                    raise VmdkError("truncated streamOptimized VMDK (no footer)")
                f.seek(size - 2 * SECTOR)
                footer = _parse_header(f.read(SECTOR))
                if footer.gd_offset == _GD_AT_END:
                    raise VmdkError("streamOptimized footer has no grain directory")
                header = footer
            return cls(f, header, size)
        except BaseException:
            f.close()
            raise

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> SparseVmdk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading

    def _read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset + n > self._size:
            raise VmdkError(f"reference past the end of the file ({offset}+{n} > {self._size})")
        self._f.seek(offset)
        data = self._f.read(n)
        if len(data) != n:
            raise VmdkError("short read")
        return data

    def _grain_table_offsets(self) -> list[int]:
        h = self._h
        span = h.grain_sectors * h.gtes_per_gt
        n_tables = -(-h.capacity_sectors // span)
        raw = self._read_at(h.gd_offset * SECTOR, n_tables * 4)
        return list(struct.unpack(f"<{n_tables}I", raw))

    def grains(self) -> Iterator[tuple[int, int]]:
        """``(grain index, sector offset)`` of every allocated grain, in LBA order."""
        h = self._h
        n_grains = -(-h.capacity_sectors // h.grain_sectors)
        for t, gt_sector in enumerate(self._grain_table_offsets()):
            if gt_sector == 0:
                continue
            first = t * h.gtes_per_gt
            count = min(h.gtes_per_gt, n_grains - first)
            raw = self._read_at(gt_sector * SECTOR, count * 4)
            for i, sector in enumerate(struct.unpack(f"<{count}I", raw)):
                if sector > 1:  # 0: not allocated, 1: zeroed grain
                    yield first + i, sector

    def read_grain(self, index: int, sector: int) -> bytes:
        want = min(self._grain_bytes, self.capacity - index * self._grain_bytes)
        if not self.compressed:
            return self._read_at(sector * SECTOR, want)
        lba, size = _MARKER.unpack(self._read_at(sector * SECTOR, _MARKER.size))
        if lba != index * self._h.grain_sectors:
            raise VmdkError(f"grain marker at sector {sector} names LBA {lba}")
        if size == 0 or size > self._grain_bytes + 1024:
            raise VmdkError(f"bad compressed grain size {size}")
        packed = self._read_at(sector * SECTOR + _MARKER.size, size)
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(packed, self._grain_bytes)
        except zlib.error as e:
            raise VmdkError(f"corrupt grain at LBA {lba}: {e}") from e
        if inflater.unconsumed_tail or len(data) > self._grain_bytes:
            raise VmdkError(f"grain at LBA {lba} inflates past the grain size")
        if len(data) < want:
            data += bytes(want - len(data))
        return data[:want]

    def flat_chunks(self) -> Iterator[bytes]:
        """The whole virtual disk, ``capacity`` bytes, as chunks of at most CHUNK bytes."""
        pos = 0
        for index, sector in self.grains():
            start = index * self._grain_bytes
            yield from _zeros(start - pos)
            data = self.read_grain(index, sector)
            for i in range(0, len(data), CHUNK):
                yield data[i : i + CHUNK]
            pos = start + len(data)
        yield from _zeros(self.capacity - pos)


class FlatSource:
    """A raw file read as a flat extent, padded with zeros to ``capacity``."""

    def __init__(self, path: Path | str) -> None:
        self._f = open(path, "rb")
        self.size = os.fstat(self._f.fileno()).st_size
        self.capacity = round_up_capacity(self.size)

    def flat_chunks(self) -> Iterator[bytes]:
        self._f.seek(0)
        pos = 0
        while chunk := self._f.read(CHUNK):
            pos += len(chunk)
            yield chunk
        yield from _zeros(self.capacity - pos)

    def close(self) -> None:
        self._f.close()


def _zeros(n: int) -> Iterator[bytes]:
    if n < 0:
        raise VmdkError("grains out of order")
    block = bytes(min(n, CHUNK))
    while n > 0:
        yield block if n >= len(block) else block[:n]
        n -= len(block)


def round_up_capacity(size: int) -> int:
    """A flat extent's size: at least one MiB, in whole MiB (what ESXi expects of a disk)."""
    mib = 1 << 20
    return max(mib, -(-size // mib) * mib)


def disk_source(path: Path | str) -> DiskSource:
    """The right reader for a rendition file: sparse VMDK by its magic, else raw."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if len(magic) == 4 and struct.unpack("<I", magic)[0] == _MAGIC:
        disk = SparseVmdk.open(path)
        if disk.capacity % (1 << 20):
            # Pad the extent like a raw image: ESXi wants whole MiB.
            return _Padded(disk, round_up_capacity(disk.capacity))
        return disk
    if magic.startswith(b"# Di"):
        raise VmdkError("a VMDK descriptor without its extent cannot be used")
    return FlatSource(path)


class _Padded:
    def __init__(self, inner: SparseVmdk, capacity: int) -> None:
        self._inner = inner
        self.capacity = capacity

    def flat_chunks(self) -> Iterator[bytes]:
        yield from self._inner.flat_chunks()
        yield from _zeros(self.capacity - self._inner.capacity)

    def close(self) -> None:
        self._inner.close()


# --------------------------------------------------------------------------- descriptors

# ddb.adapterType is a disk-level hint; SAS and paravirtual disks carry "lsilogic".
_DDB_ADAPTER = {
    "lsiLogic": "lsilogic",
    "lsiLogicsas": "lsilogic",
    "paraVirtual": "lsilogic",
    "busLogic": "buslogic",
    "ide": "ide",
}


def descriptor_adapter(adapter: str) -> str:
    return _DDB_ADAPTER.get(adapter, "lsilogic")


def flat_descriptor(
    extent_name: str, capacity: int, adapter: str = "lsiLogic", *, thin: bool = False
) -> bytes:
    """The descriptor of a VMFS flat disk whose extent is ``extent_name`` (same folder);
    ``thin`` marks it thin provisioned (``ddb.thinProvisioned``, as ESXi writes it)."""
    if capacity <= 0 or capacity % SECTOR:
        raise ValueError("capacity must be a positive multiple of 512")
    if '"' in extent_name or "/" in extent_name or "\n" in extent_name:
        raise ValueError(f"bad extent name {extent_name!r}")
    sectors = capacity // SECTOR
    ddb = descriptor_adapter(adapter)
    heads, per_track = (16, 63) if ddb == "ide" else (255, 63)
    cylinders = min(65535, max(1, sectors // (heads * per_track)))
    lines = [
        "# Disk DescriptorFile",
        "version=1",
        'encoding="UTF-8"',
        f"CID={secrets.token_hex(4)}",
        "parentCID=ffffffff",
        'createType="vmfs"',
        "",
        "# Extent description",
        f'RW {sectors} VMFS "{extent_name}"',
        "",
        "# The Disk Data Base",
        "#DDB",
        "",
        f'ddb.adapterType = "{ddb}"',
        f'ddb.geometry.cylinders = "{cylinders}"',
        f'ddb.geometry.heads = "{heads}"',
        f'ddb.geometry.sectors = "{per_track}"',
        *(['ddb.thinProvisioned = "1"'] if thin else []),
        'ddb.virtualHWVersion = "13"',
        "",
    ]
    return "\n".join(lines).encode()
