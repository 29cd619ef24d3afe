"""The ground of the image inspector (`inspector`): the rules a file can break (each
`Refusal` names one), what an inspection finds, and bounded reads at offsets of the file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = [
    "DISK_FORMATS",
    "QCOW2_MAGIC",
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
    "VMDK3_MAGIC",
    "VMDK4_MAGIC",
    "Inspection",
    "Reader",
    "Refusal",
    "bytes_reader",
    "file_reader",
]

DISK_FORMATS = ("raw", "qcow2", "vmdk", "iso")
QCOW2_MAGIC = b"QFI\xfb"
VMDK4_MAGIC = b"KDMV"
VMDK3_MAGIC = b"COWD"

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


class Reader:
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


def file_reader(f: BinaryIO, size: int) -> Reader:
    fd = f.fileno()
    return Reader(lambda off, n: os.pread(fd, n, off), size)


def bytes_reader(data: bytes) -> Reader:
    return Reader(lambda off, n: data[off : off + n], len(data))
