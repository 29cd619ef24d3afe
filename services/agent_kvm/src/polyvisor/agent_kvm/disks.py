"""Root disks of instances: a qcow2 overlay on a cached base, or a raw copy. Blocking.

    create_overlay(base, "qcow2", dest, size_bytes)    # qemu-img create -f qcow2 -b -F
    create_raw_copy(base, dest, size_bytes)             # sparse copy, grown to the flavor

Both grow the guest disk to the flavor's size when the image is smaller, never shrink it.
They run in the runtime's executor (the driver is synchronous). Errors are ``DiskError``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["DiskError", "create_overlay", "create_raw_copy", "image_info", "qemu_img"]

_TIMEOUT_S = 120.0


class DiskError(Exception):
    """qemu-img failed, or the disk file could not be written."""


def qemu_img() -> str:
    path = shutil.which("qemu-img")
    if path is None:
        raise DiskError("qemu-img is missing: install the Debian package qemu-utils")
    return path


def _run(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiskError(f"{argv[0]} {argv[1]}: {exc}") from exc
    if r.returncode != 0:
        raise DiskError(f"{' '.join(argv[:2])} failed: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def image_info(path: Path, fmt: str) -> dict[str, object]:
    """``qemu-img info`` of a file we trust (the cache verified its checksum)."""
    out = _run([qemu_img(), "info", "--output=json", "-f", fmt, str(path)])
    data: dict[str, object] = json.loads(out)
    return data


def virtual_size(path: Path, fmt: str) -> int:
    if fmt == "raw":
        return path.stat().st_size
    return int(image_info(path, fmt)["virtual-size"])  # type: ignore[call-overload]


def _round_up(n: int, unit: int = 512) -> int:
    return (n + unit - 1) // unit * unit


def create_overlay(base: Path, base_format: str, dest: Path, size_bytes: int) -> None:
    """A qcow2 file at ``dest`` backed by ``base``, at least ``size_bytes`` big."""
    size = max(_round_up(virtual_size(base, base_format)), size_bytes)
    _run(
        [
            qemu_img(), "create", "-q", "-f", "qcow2",
            "-b", str(base), "-F", base_format,
            str(dest), str(size),
        ]
    )  # fmt: skip
    os.chmod(dest, 0o644)


def create_raw_copy(base: Path, dest: Path, size_bytes: int) -> None:
    """A sparse copy of the raw ``base`` at ``dest``, grown to ``size_bytes``."""
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        _run(["cp", "--sparse=always", "--", str(base), str(tmp)])
        if tmp.stat().st_size < size_bytes:
            os.truncate(tmp, size_bytes)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        raise DiskError(f"raw copy to {dest}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
