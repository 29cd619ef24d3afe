"""What an image file really is, read from its headers in pure Python, before qemu sees it.

Image parsing is where the worst CVEs of this field live (qcow2 backing and data files,
vmdk extents that make qemu read host files). This module never runs qemu and never
follows a name found in a file: it reads bytes at fixed offsets and either describes the
file or refuses it with a `Refusal` naming the rule broken.

    result = inspect_file(path, declared="qcow2", max_virtual_size=1 << 40)
    result.disk_format, result.virtual_size, result.vmdk_subformat

Rules (each refusal's `rule` is one of the `RULE_*` constants):

- every known signature is probed; a file matching more than one format is refused, and
  the format found must equal the format declared (a raw file must match none);
- qcow2: version 2 or 3, sane header; no backing file, no external data file (incompatible
  bit 2 or header extension 0x44415441), no encryption, no corrupt bit, no unknown
  incompatible feature bits;
- vmdk: a hosted sparse file (KDMV) with a non-zero capacity and an embedded descriptor
  parsed strictly: createType monolithicSparse or streamOptimized, exactly one SPARSE
  extent whose name is a bare file name (the file itself: with a non-zero capacity qemu
  reads the extent from this very file and never opens the name), no parent, no unknown
  keys. A descriptor-only vmdk (text naming other files) and COWD files are refused;
- iso: the ISO 9660 signature "CD001" at 0x8001;
- the virtual size is bounded by `max_virtual_size`.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DISK_FORMATS",
    "FOREIGN_FORMATS",
    "RULE_AMBIGUOUS",
    "RULE_EMPTY",
    "RULE_FORMAT_MISMATCH",
    "RULE_QCOW2_BACKING_FILE",
    "RULE_QCOW2_CORRUPT",
    "RULE_QCOW2_DATA_FILE",
    "RULE_QCOW2_ENCRYPTED",
    "RULE_QCOW2_HEADER",
    "RULE_QCOW2_TABLES",
    "RULE_QCOW2_UNKNOWN_FEATURES",
    "RULE_UNSUPPORTED_FORMAT",
    "RULE_VIRTUAL_SIZE",
    "RULE_VMDK_CREATE_TYPE",
    "RULE_VMDK_DESCRIPTOR",
    "RULE_VMDK_EXTENT",
    "RULE_VMDK_HEADER",
    "Inspection",
    "Refusal",
    "detect_formats",
    "inspect_bytes",
    "inspect_file",
    "parse_vmdk_descriptor",
]

DISK_FORMATS = ("raw", "qcow2", "vmdk", "iso")

RULE_FORMAT_MISMATCH = "format-mismatch"
RULE_AMBIGUOUS = "ambiguous-format"
RULE_UNSUPPORTED_FORMAT = "unsupported-format"
RULE_VIRTUAL_SIZE = "virtual-size-limit"
RULE_QCOW2_HEADER = "qcow2-header"
RULE_QCOW2_BACKING_FILE = "qcow2-backing-file"
RULE_QCOW2_DATA_FILE = "qcow2-data-file"
RULE_QCOW2_ENCRYPTED = "qcow2-encrypted"
RULE_QCOW2_CORRUPT = "qcow2-corrupt"
RULE_QCOW2_UNKNOWN_FEATURES = "qcow2-unknown-incompatible-features"
RULE_QCOW2_TABLES = "qcow2-tables-past-eof"
RULE_EMPTY = "empty-image"
RULE_VMDK_HEADER = "vmdk-header"
RULE_VMDK_DESCRIPTOR = "vmdk-descriptor"
RULE_VMDK_CREATE_TYPE = "vmdk-create-type"
RULE_VMDK_EXTENT = "vmdk-extent"


class Refusal(Exception):
    """The file breaks `rule`; `message` says how, for the image's status message."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message

    @property
    def reason(self) -> str:
        return f"refused by rule {self.rule}: {self.message}"


@dataclass(frozen=True, slots=True)
class Inspection:
    disk_format: str
    virtual_size: int
    file_size: int
    #: For vmdk: "monolithicSparse" or "streamOptimized".
    vmdk_subformat: str = ""
    details: dict[str, object] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


class _Reader:
    """Bounded reads at offsets of a file-like object (short reads past the end)."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        self._read_at = read_at
        self.size = size
        self._cache: dict[tuple[int, int], bytes] = {}

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        key = (offset, length)
        if key not in self._cache:
            self._cache[key] = self._read_at(offset, min(length, self.size - offset))
        return self._cache[key]


def _file_reader(f: BinaryIO, size: int) -> _Reader:
    fd = f.fileno()
    return _Reader(lambda off, n: os.pread(fd, n, off), size)


def _bytes_reader(data: bytes) -> _Reader:
    return _Reader(lambda off, n: data[off : off + n], len(data))


# --------------------------------------------------------------------------- detection

QCOW2_MAGIC = b"QFI\xfb"
VMDK4_MAGIC = b"KDMV"
VMDK3_MAGIC = b"COWD"
ISO_OFFSET = 0x8001
ISO_MAGIC = b"CD001"
_DESCRIPTOR_VERSION = re.compile(rb"^version\s*=\s*\d+\s*$")


def _looks_like_descriptor(head: bytes) -> bool:
    """A text vmdk descriptor: comments and blank lines, then a `version=N` line."""
    for raw_line in head.split(b"\n"):
        line = raw_line.strip(b" \t\r")
        if not line or line.startswith(b"#"):
            continue
        return bool(_DESCRIPTOR_VERSION.match(line))
    return False


#: qemu's block drivers that read image files (qemu 7.2 `block/`), each with the signature its
#: probe or open looks for. Only raw, qcow2, vmdk and iso are accepted; every other one is
#: probed so that none of them passes as raw (a format lie) and is refused, named.
#: raw, file, host_device, nbd, ssh, ... read no signature; vvfat is a directory.
FOREIGN_FORMATS = (
    "qcow",  # "QFI\xfb" version 1 (block/qcow.c)
    "qed",  # "QED\0" (block/qed.h QED_MAGIC, little-endian)
    "vpc",  # "conectix" cookie: dynamic VHD header copy at 0, footer in the last sector
    "vhdx",  # "vhdxfile" file type identifier at 0
    "vdi",  # 0xbeda107f (little-endian) at 0x40
    "luks",  # "LUKS\xba\xbe" at 0
    "parallels",  # "WithoutFreeSpace" / "WithouFreSpacExt" at 0
    "bochs",  # "Bochs Virtual HD Image" at 0
    "cloop",  # the "#!/bin/sh\n#V2.0 Format\n..." script header at 0
    "dmg",  # "koly" UDIF trailer within qemu's search window at the end
)
CLOOP_MAGIC = (
    b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"
)


def _dmg_trailer(r: _Reader) -> bool:
    """qemu's dmg_find_koly_offset: "koly" in the last 511 bytes of the second-last sector or
    the first 4 bytes of the last one (the length counted in whole sectors)."""
    if r.size < 512:
        return False
    length = (r.size + 511) // 512 * 512
    start = length - 511 - 512 if length > 511 + 512 else 0
    window = r.read(start, min(length, 515))
    return b"koly" in window


def _signatures(r: _Reader) -> list[str]:
    head = r.read(0, 4096)
    found: list[str] = []
    if head[:4] == QCOW2_MAGIC:
        # qcow (v1) and qcow2 share the magic; the version tells them apart.
        version = struct.unpack_from(">I", head, 4)[0] if len(head) >= 8 else 0
        found.append("qcow" if version == 1 else "qcow2")
    if head[:4] in (VMDK4_MAGIC, VMDK3_MAGIC) or _looks_like_descriptor(head):
        found.append("vmdk")
    if r.read(ISO_OFFSET, 5) == ISO_MAGIC:
        found.append("iso")
    if head[:4] == b"QED\x00":
        found.append("qed")
    if head[:8] == b"conectix" or (
        r.size >= 512 and r.read((r.size + 511) // 512 * 512 - 512, 8) == b"conectix"
    ):
        found.append("vpc")
    if head[:8] == b"vhdxfile":
        found.append("vhdx")
    if r.read(0x40, 4) == struct.pack("<I", 0xBEDA107F):
        found.append("vdi")
    if head[:6] == b"LUKS\xba\xbe":
        found.append("luks")
    if head[:16] in (b"WithoutFreeSpace", b"WithouFreSpacExt"):
        found.append("parallels")
    if head[:22] == b"Bochs Virtual HD Image":
        found.append("bochs")
    if head.startswith(CLOOP_MAGIC[:23]):
        found.append("cloop")
    if _dmg_trailer(r):
        found.append("dmg")
    return found


def detect_formats(data: bytes) -> list[str]:
    """Every format whose signature `data` carries (empty: raw)."""
    return _signatures(_bytes_reader(data))


# --------------------------------------------------------------------------- qcow2

_QCOW2_KNOWN_INCOMPATIBLE = 0b11111  # dirty, corrupt, external data, compression, extended L2
_QCOW2_EXT_END = 0x00000000
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_EXT_CRYPTO = 0x0537BE77


def _inspect_qcow2(r: _Reader) -> tuple[int, dict[str, object]]:
    hdr = r.read(0, 112)
    if len(hdr) < 72:
        raise Refusal(RULE_QCOW2_HEADER, "qcow2 header truncated")
    (
        _magic,
        version,
        backing_offset,
        backing_size,
        cluster_bits,
        size,
        crypt_method,
    ) = struct.unpack_from(">IIQIIQI", hdr, 0)
    if version not in (2, 3):
        raise Refusal(RULE_QCOW2_HEADER, f"qcow2 version {version} (only 2 and 3)")
    if not 9 <= cluster_bits <= 21:
        raise Refusal(RULE_QCOW2_HEADER, f"qcow2 cluster_bits {cluster_bits} out of range 9..21")
    cluster_size = 1 << cluster_bits
    if backing_offset != 0 or backing_size != 0:
        raise Refusal(RULE_QCOW2_BACKING_FILE, "qcow2 image names a backing file")
    if crypt_method != 0:
        raise Refusal(RULE_QCOW2_ENCRYPTED, f"qcow2 image is encrypted (method {crypt_method})")
    header_length = 72
    incompatible = 0
    if version == 3:
        if len(hdr) < 104:
            raise Refusal(RULE_QCOW2_HEADER, "qcow2 v3 header truncated")
        incompatible, _compatible, _autoclear, _refcount_order, header_length = struct.unpack_from(
            ">QQQII", hdr, 72
        )
        if header_length < 104 or header_length > cluster_size or header_length % 8:
            raise Refusal(RULE_QCOW2_HEADER, f"qcow2 header_length {header_length} invalid")
        unknown = incompatible & ~_QCOW2_KNOWN_INCOMPATIBLE
        if unknown:
            raise Refusal(
                RULE_QCOW2_UNKNOWN_FEATURES,
                f"qcow2 unknown incompatible feature bits 0x{unknown:x}",
            )
        if incompatible & (1 << 2):
            raise Refusal(RULE_QCOW2_DATA_FILE, "qcow2 image uses an external data file")
        if incompatible & (1 << 1):
            raise Refusal(RULE_QCOW2_CORRUPT, "qcow2 image is marked corrupt")
    # Header extensions: (type, length, data padded to 8), up to the end of cluster 0.
    offset = header_length
    while True:
        if offset + 8 > cluster_size:
            raise Refusal(RULE_QCOW2_HEADER, "qcow2 header extensions run past the first cluster")
        ext = r.read(offset, 8)
        if len(ext) < 8:
            raise Refusal(RULE_QCOW2_HEADER, "qcow2 header extensions truncated")
        ext_type, ext_len = struct.unpack(">II", ext)
        if ext_type == _QCOW2_EXT_END:
            break
        if ext_type == _QCOW2_EXT_DATA_FILE:
            raise Refusal(RULE_QCOW2_DATA_FILE, "qcow2 header names an external data file")
        if ext_type == _QCOW2_EXT_CRYPTO:
            raise Refusal(RULE_QCOW2_ENCRYPTED, "qcow2 image carries an encryption header")
        offset += 8 + ((ext_len + 7) & ~7)
    _check_qcow2_tables(r, hdr, cluster_bits, size, incompatible)
    return size, {
        "qcow2_version": version,
        "cluster_size": cluster_size,
        "incompatible_features": incompatible,
    }


_QCOW2_L1_OFFSET_MASK = 0x00FFFFFFFFFFFE00  # an L1 entry's L2 table offset bits
_QCOW2_REFT_OFFSET_MASK = 0xFFFFFFFFFFFFFE00  # a refcount table entry's block offset bits
_QCOW2_MAX_TABLE_BYTES = 32 * 1024 * 1024  # qemu's QCOW_MAX_L1_SIZE / QCOW_MAX_REFTABLE_SIZE
_QCOW2_MAX_SNAPSHOTS = 65536  # qemu's QCOW_MAX_SNAPSHOTS


def _check_qcow2_tables(
    r: _Reader, hdr: bytes, cluster_bits: int, size: int, incompatible: int
) -> None:
    """Every table the header points at (L1, refcount table, snapshot table) and every L2 table
    and refcount block those point at lies inside the file, cluster aligned. qemu reads past the
    end as zeros and trusts the tables; a file whose metadata is not in it is refused."""
    cluster = 1 << cluster_bits
    l1_size, l1_offset, rt_offset, rt_clusters, nb_snapshots, snapshots_offset = struct.unpack_from(
        ">IQQIIQ", hdr, 36
    )

    def table(name: str, offset: int, length: int) -> None:
        if offset % cluster:
            raise Refusal(RULE_QCOW2_HEADER, f"qcow2 {name} at {offset} is not cluster aligned")
        if length > _QCOW2_MAX_TABLE_BYTES:
            raise Refusal(RULE_QCOW2_HEADER, f"qcow2 {name} of {length} bytes is too big")
        if offset + length > r.size or (length and offset == 0):
            raise Refusal(
                RULE_QCOW2_TABLES,
                f"qcow2 {name} ({length} bytes at {offset}) lies past the end of the file "
                f"({r.size} bytes)",
            )

    # Each L2 table maps cluster/8 clusters (cluster/16 with extended L2 entries).
    l2_entries = cluster // (16 if incompatible & (1 << 4) else 8)
    needed = -(-size // (cluster * l2_entries))
    if l1_size < needed:
        raise Refusal(
            RULE_QCOW2_HEADER,
            f"qcow2 L1 table of {l1_size} entries is too small for {size} bytes ({needed})",
        )
    table("L1 table", l1_offset, l1_size * 8)
    if rt_clusters == 0:
        raise Refusal(RULE_QCOW2_HEADER, "qcow2 refcount table is empty")
    table("refcount table", rt_offset, rt_clusters * cluster)
    if nb_snapshots > _QCOW2_MAX_SNAPSHOTS:
        raise Refusal(RULE_QCOW2_HEADER, f"qcow2 image claims {nb_snapshots} snapshots")
    if nb_snapshots:
        # Each snapshot header is at least 40 bytes.
        table("snapshot table", snapshots_offset, nb_snapshots * 40)
    for name, offset, count, mask in (
        ("L2 table", l1_offset, l1_size, _QCOW2_L1_OFFSET_MASK),
        ("refcount block", rt_offset, rt_clusters * cluster // 8, _QCOW2_REFT_OFFSET_MASK),
    ):
        _check_pointed_clusters(r, name, offset, count, cluster, mask)


def _check_pointed_clusters(
    r: _Reader, name: str, offset: int, count: int, cluster: int, mask: int
) -> None:
    """The clusters that `count` 8-byte entries at `offset` point at lie inside the file."""
    step = 1 << 16  # entries per read (512 KiB)
    for first in range(0, count, step):
        n = min(step, count - first)
        data = r.read(offset + first * 8, n * 8)
        for (entry,) in struct.iter_unpack(">Q", data[: len(data) // 8 * 8]):
            target = entry & mask
            if not target:
                continue
            if target % cluster or target + cluster > r.size:
                raise Refusal(
                    RULE_QCOW2_TABLES,
                    f"qcow2 {name} at {target} lies past the end of the file ({r.size} bytes) "
                    "or is not cluster aligned",
                )


# --------------------------------------------------------------------------- vmdk

_VMDK_ALLOWED_CREATE_TYPES = ("monolithicSparse", "streamOptimized")
_VMDK_MAX_DESCRIPTOR_SECTORS = 2048  # 1 MiB
_VMDK_KEYS = {"version", "encoding", "CID", "parentCID", "createType", "isNativeSnapshot"}
_EXTENT = re.compile(
    r"^(?P<access>RW|RDONLY|NOACCESS)\s+(?P<sectors>\d+)\s+(?P<type>[A-Za-z]+)"
    r'(?:\s+"(?P<name>[^"]*)"(?:\s+(?P<offset>\d+))?)?$'
)
_KEY_VALUE = re.compile(r'^(?P<key>[A-Za-z][A-Za-z0-9_.]*)\s*=\s*(?P<value>"[^"]*"|[^"\s]*)$')


@dataclass(frozen=True, slots=True)
class VmdkDescriptor:
    create_type: str
    extents: tuple[tuple[str, int, str, str], ...]  # (access, sectors, type, name)
    keys: dict[str, str]


def _bare_file_name(name: str) -> bool:
    return (
        bool(name)
        and name not in (".", "..")
        and not any(c in name for c in "/\\:\x00")
        and name.isprintable()
    )


def parse_vmdk_descriptor(text_bytes: bytes) -> VmdkDescriptor:
    """Parse a vmdk descriptor strictly; refuse anything unexpected or naming other files."""
    try:
        text = text_bytes.decode("ascii")
    except UnicodeDecodeError as e:
        raise Refusal(RULE_VMDK_DESCRIPTOR, "vmdk descriptor is not ASCII text") from e
    keys: dict[str, str] = {}
    extents: list[tuple[str, int, str, str]] = []
    offsets: list[int] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        m = _EXTENT.match(line)
        if m:
            name = m.group("name")
            if name is None:
                raise Refusal(RULE_VMDK_EXTENT, f"vmdk extent on line {number} names no file")
            extents.append((m.group("access"), int(m.group("sectors")), m.group("type"), name))
            if m.group("offset") is not None:
                offsets.append(number)
            continue
        kv = _KEY_VALUE.match(line)
        if not kv:
            raise Refusal(RULE_VMDK_DESCRIPTOR, f"vmdk descriptor line {number} not understood")
        key, value = kv.group("key"), kv.group("value").strip('"')
        if key in keys:
            raise Refusal(RULE_VMDK_DESCRIPTOR, f"vmdk descriptor repeats key {key!r}")
        if key == "parentFileNameHint":
            raise Refusal(RULE_VMDK_DESCRIPTOR, "vmdk descriptor names a parent disk")
        if key not in _VMDK_KEYS and not key.startswith("ddb."):
            raise Refusal(RULE_VMDK_DESCRIPTOR, f"vmdk descriptor has unknown key {key!r}")
        keys[key] = value
    create_type = keys.get("createType", "")
    if not create_type:
        raise Refusal(RULE_VMDK_DESCRIPTOR, "vmdk descriptor has no createType")
    if keys.get("parentCID", "ffffffff").lower() != "ffffffff":
        raise Refusal(RULE_VMDK_DESCRIPTOR, "vmdk descriptor has a parent (a delta disk)")
    if create_type not in _VMDK_ALLOWED_CREATE_TYPES:
        raise Refusal(
            RULE_VMDK_CREATE_TYPE,
            f"vmdk createType {create_type!r} not allowed "
            f"(allowed: {', '.join(_VMDK_ALLOWED_CREATE_TYPES)})",
        )
    for _access, _sectors, _kind, name in extents:
        if not _bare_file_name(name):
            raise Refusal(RULE_VMDK_EXTENT, f"vmdk extent names another file ({name!r})")
    if offsets:
        raise Refusal(
            RULE_VMDK_EXTENT, f"vmdk extent on line {offsets[0]} has an offset (a flat extent)"
        )
    if len(extents) != 1:
        raise Refusal(
            RULE_VMDK_EXTENT, f"vmdk {create_type} must have exactly one extent, not {len(extents)}"
        )
    access, _sectors, kind, _name = extents[0]
    if kind != "SPARSE":
        raise Refusal(RULE_VMDK_EXTENT, f"vmdk extent type {kind} (only SPARSE)")
    if access == "NOACCESS":
        raise Refusal(RULE_VMDK_EXTENT, "vmdk extent is NOACCESS")
    return VmdkDescriptor(create_type=create_type, extents=tuple(extents), keys=keys)


def _inspect_vmdk(r: _Reader) -> tuple[int, str, dict[str, object]]:
    head = r.read(0, 512)
    if head[:4] == VMDK3_MAGIC:
        raise Refusal(RULE_VMDK_HEADER, "vmdk COWD (ESX sparse) files are not accepted")
    if head[:4] != VMDK4_MAGIC:
        # A text descriptor: it has no data of its own, every extent is another file.
        parse_vmdk_descriptor(r.read(0, _VMDK_MAX_DESCRIPTOR_SECTORS * 512))
        raise Refusal(
            RULE_VMDK_EXTENT,
            "vmdk descriptor file without data: its extent names another file",
        )
    if len(head) < 77:
        raise Refusal(RULE_VMDK_HEADER, "vmdk header truncated")
    (version, flags, capacity, grain_size, desc_offset, desc_size) = struct.unpack_from(
        "<IIQQQQ", head, 4
    )
    if version not in (1, 2, 3):
        raise Refusal(RULE_VMDK_HEADER, f"vmdk version {version} (only 1, 2, 3)")
    if capacity == 0:
        # qemu then opens the embedded descriptor's extents: never allowed.
        raise Refusal(RULE_VMDK_HEADER, "vmdk capacity is 0 (the descriptor would name the data)")
    if grain_size == 0 or grain_size & (grain_size - 1) or grain_size > 2048:
        raise Refusal(RULE_VMDK_HEADER, f"vmdk grain size {grain_size} invalid")
    if desc_offset == 0 or desc_size == 0:
        raise Refusal(RULE_VMDK_DESCRIPTOR, "vmdk has no embedded descriptor")
    if desc_size > _VMDK_MAX_DESCRIPTOR_SECTORS:
        raise Refusal(RULE_VMDK_DESCRIPTOR, f"vmdk descriptor of {desc_size} sectors is too big")
    if (desc_offset + desc_size) * 512 > r.size:
        raise Refusal(RULE_VMDK_DESCRIPTOR, "vmdk descriptor lies past the end of the file")
    raw = r.read(desc_offset * 512, desc_size * 512)
    descriptor = parse_vmdk_descriptor(raw.split(b"\x00", 1)[0])
    _access, sectors, _kind, _name = descriptor.extents[0]
    if sectors != capacity:
        raise Refusal(
            RULE_VMDK_EXTENT,
            f"vmdk extent of {sectors} sectors differs from the header's capacity {capacity}",
        )
    compressed = bool(flags & (1 << 16))
    if (descriptor.create_type == "streamOptimized") != compressed:
        raise Refusal(
            RULE_VMDK_HEADER,
            f"vmdk createType {descriptor.create_type} disagrees with the header's flags",
        )
    return capacity * 512, descriptor.create_type, {"vmdk_version": version, "flags": flags}


# --------------------------------------------------------------------------- entry points


def _inspect(r: _Reader, declared: str, max_virtual_size: int) -> Inspection:
    if declared not in DISK_FORMATS:
        raise Refusal(RULE_UNSUPPORTED_FORMAT, f"disk format {declared!r} is not supported")
    if r.size == 0:
        raise Refusal(RULE_EMPTY, "the image is empty (0 bytes)")
    found = _signatures(r)
    if len(found) > 1:
        raise Refusal(RULE_AMBIGUOUS, f"file matches more than one format ({', '.join(found)})")
    detected = found[0] if found else "raw"
    if detected != declared:
        foreign = " (a format this service does not accept)" if detected in FOREIGN_FORMATS else ""
        raise Refusal(
            RULE_FORMAT_MISMATCH,
            f"declared disk_format {declared}, but the file is {detected}{foreign}",
        )
    subformat = ""
    details: dict[str, object] = {}
    if detected == "qcow2":
        virtual_size, details = _inspect_qcow2(r)
    elif detected == "vmdk":
        virtual_size, subformat, details = _inspect_vmdk(r)
    else:  # raw and iso: the bytes are the disk
        virtual_size = r.size
    if virtual_size > max_virtual_size:
        raise Refusal(
            RULE_VIRTUAL_SIZE,
            f"virtual size {virtual_size} bytes exceeds the maximum {max_virtual_size}",
        )
    return Inspection(detected, virtual_size, r.size, subformat, details)


def inspect_file(path: Path | str, declared: str, max_virtual_size: int) -> Inspection:
    """Inspect the file at `path` (blocking: run it in a thread from async code)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return _inspect(_file_reader(f, size), declared, max_virtual_size)


def inspect_bytes(data: bytes, declared: str, max_virtual_size: int) -> Inspection:
    return _inspect(_bytes_reader(data), declared, max_virtual_size)
