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

The format checks are in `qcow2_header` and `vmdk_header`; the rules (every `RULE_*`),
`Refusal` and the reader in `inspect_base`.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from polyvisor.imagesvc.inspect_base import (
    DISK_FORMATS,
    QCOW2_MAGIC,
    RULE_AMBIGUOUS,
    RULE_EMPTY,
    RULE_FORMAT_MISMATCH,
    RULE_UNSUPPORTED_FORMAT,
    RULE_VIRTUAL_SIZE,
    VMDK3_MAGIC,
    VMDK4_MAGIC,
    Inspection,
    Reader,
    Refusal,
    bytes_reader,
    file_reader,
)
from polyvisor.imagesvc.qcow2_header import inspect_qcow2
from polyvisor.imagesvc.vmdk_header import inspect_vmdk, parse_vmdk_descriptor

__all__ = [
    "DISK_FORMATS",
    "FOREIGN_FORMATS",
    "RULE_AMBIGUOUS",
    "RULE_EMPTY",
    "RULE_FORMAT_MISMATCH",
    "RULE_UNSUPPORTED_FORMAT",
    "RULE_VIRTUAL_SIZE",
    "Inspection",
    "Refusal",
    "detect_formats",
    "inspect_bytes",
    "inspect_file",
    "parse_vmdk_descriptor",
]


# --------------------------------------------------------------------------- detection

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


def _dmg_trailer(r: Reader) -> bool:
    """qemu's dmg_find_koly_offset: "koly" in the last 511 bytes of the second-last sector or
    the first 4 bytes of the last one (the length counted in whole sectors)."""
    if r.size < 512:
        return False
    length = (r.size + 511) // 512 * 512
    start = length - 511 - 512 if length > 511 + 512 else 0
    window = r.read(start, min(length, 515))
    return b"koly" in window


def _signatures(r: Reader) -> list[str]:
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
    return _signatures(bytes_reader(data))


# --------------------------------------------------------------------------- entry points


def _inspect(r: Reader, declared: str, max_virtual_size: int) -> Inspection:
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
        virtual_size, details = inspect_qcow2(r)
    elif detected == "vmdk":
        virtual_size, subformat, details = inspect_vmdk(r)
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
        return _inspect(file_reader(f, size), declared, max_virtual_size)


def inspect_bytes(data: bytes, declared: str, max_virtual_size: int) -> Inspection:
    return _inspect(bytes_reader(data), declared, max_virtual_size)
