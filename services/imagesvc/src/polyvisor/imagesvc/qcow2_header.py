"""qcow2 headers, checked in pure Python (see `inspector` for the rules): version 2 or 3, no
backing file, no external data file, no encryption, no corrupt bit, no unknown incompatible
feature, and tables that stay inside the file."""

from __future__ import annotations

import struct

from polyvisor.imagesvc.inspect_base import (
    RULE_QCOW2_BACKING_FILE,
    RULE_QCOW2_CORRUPT,
    RULE_QCOW2_DATA_FILE,
    RULE_QCOW2_ENCRYPTED,
    RULE_QCOW2_HEADER,
    RULE_QCOW2_TABLES,
    RULE_QCOW2_UNKNOWN_FEATURES,
    Reader,
    Refusal,
)

__all__ = ["inspect_qcow2"]


_QCOW2_KNOWN_INCOMPATIBLE = 0b11111  # dirty, corrupt, external data, compression, extended L2
_QCOW2_EXT_END = 0x00000000
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_EXT_CRYPTO = 0x0537BE77


def inspect_qcow2(r: Reader) -> tuple[int, dict[str, object]]:
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
    r: Reader, hdr: bytes, cluster_bits: int, size: int, incompatible: int
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
    r: Reader, name: str, offset: int, count: int, cluster: int, mask: int
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
