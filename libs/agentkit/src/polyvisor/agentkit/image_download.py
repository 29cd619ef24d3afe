"""Downloads into the image cache (`image_cache`): where the bytes come from (`ImageSource`,
which announces a `DownloadMeta` first), and the file operations of a download that resumes at
an offset and checks the whole file's SHA-256 before it is published under its final name."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from polyvisor.agentkit.driver import RenditionWanted
from polyvisor.agentkit.errors import ImageUnavailable

__all__ = [
    "ChecksumMismatch",
    "DownloadMeta",
    "ImageSource",
    "close_synced",
    "hash_prefix",
    "open_at",
    "publish",
    "write_and_hash",
]


@dataclass(frozen=True, slots=True)
class DownloadMeta:
    """What the image service announces before the bytes."""

    size: int
    sha256: str
    offset: int  # where the bytes that follow start


class ImageSource(Protocol):
    """Where renditions come from (the image service's DownloadImage)."""

    def download(
        self, image_id: str, rendition: RenditionWanted, offset: int
    ) -> AsyncIterator[DownloadMeta | bytes]:
        """Yield one ``DownloadMeta`` first, then the bytes from ``DownloadMeta.offset``.

        Raises ``ImageUnavailable`` (``retryable`` when the service could not be reached)."""
        ...


class ChecksumMismatch(Exception):
    def __init__(self, message: str, *, resumed: bool) -> None:
        super().__init__(message)
        self.resumed = resumed


def hash_prefix(path: Path, length: int, hasher: hashlib._Hash) -> None:
    remaining = length
    with path.open("rb") as fh:
        while remaining > 0:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                raise ImageUnavailable(f"{path}: shorter than {length} bytes", retryable=True)
            hasher.update(chunk)
            remaining -= len(chunk)


def write_and_hash(fh, hasher: hashlib._Hash, data: bytes) -> None:  # type: ignore[no-untyped-def]
    fh.write(data)
    hasher.update(data)


def open_at(path: Path, offset: int):  # type: ignore[no-untyped-def]
    fh = path.open("r+b" if path.exists() else "wb")
    fh.truncate(offset)
    fh.seek(offset)
    return fh


def close_synced(fh) -> None:  # type: ignore[no-untyped-def]
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def publish(part: Path, final: Path, mode: int) -> None:
    part.chmod(mode)
    os.replace(part, final)
