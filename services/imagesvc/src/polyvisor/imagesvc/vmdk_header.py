"""vmdk headers and their embedded descriptor, parsed strictly in pure Python (see `inspector`
for the rules): a hosted sparse file whose one SPARSE extent is the file itself."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from polyvisor.imagesvc.inspect_base import (
    RULE_VMDK_CREATE_TYPE,
    RULE_VMDK_DESCRIPTOR,
    RULE_VMDK_EXTENT,
    RULE_VMDK_HEADER,
    VMDK3_MAGIC,
    VMDK4_MAGIC,
    Reader,
    Refusal,
)

__all__ = ["VmdkDescriptor", "inspect_vmdk", "parse_vmdk_descriptor"]


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


def inspect_vmdk(r: Reader) -> tuple[int, str, dict[str, object]]:
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
