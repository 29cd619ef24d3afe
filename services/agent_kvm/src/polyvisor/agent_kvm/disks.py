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
import threading
from pathlib import Path

__all__ = [
    "DiskError",
    "create_overlay",
    "create_raw_copy",
    "flatten_to_qcow2",
    "image_info",
    "qemu_img",
]

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


_sizes: dict[tuple[str, str, int, int], int] = {}
_sizes_lock = threading.Lock()


def virtual_size(path: Path, fmt: str) -> int:
    """The guest-visible size of an image; remembered per (path, format, size, mtime): the
    cache's bases never change once verified."""
    st = path.stat()
    if fmt == "raw":
        return st.st_size
    key = (str(path), fmt, st.st_size, st.st_mtime_ns)
    with _sizes_lock:
        known = _sizes.get(key)
    if known is None:
        known = int(image_info(path, fmt)["virtual-size"])  # type: ignore[call-overload]
        with _sizes_lock:
            _sizes[key] = known
    return known


def _round_up(n: int, unit: int = 512) -> int:
    return (n + unit - 1) // unit * unit


def create_overlay(base: Path, base_format: str, dest: Path, size_bytes: int) -> None:
    """A qcow2 file at ``dest`` backed by ``base``, at least ``size_bytes`` big.

    The size is given, so qemu-img need not open the base (``-u``): that halves its time,
    and the base is a verified file of the image cache that we have just measured."""
    try:
        size = max(_round_up(virtual_size(base, base_format)), size_bytes)
    except OSError as exc:
        raise DiskError(f"base image {base}: {exc}") from exc
    _run(
        [
            qemu_img(), "create", "-q", "-u", "-f", "qcow2",
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


def flatten_to_qcow2(src: Path, src_format: str, dest: Path) -> None:
    """One standalone qcow2 at ``dest`` with what the guest sees through ``src`` and its
    backing chain. ``-U``: a running guest's QEMU may hold the chain open (``src`` is then
    read-only to it: a snapshot overlay takes its writes)."""
    _run([qemu_img(), "convert", "-U", "-q", "-f", src_format, "-O", "qcow2", str(src), str(dest)])
    os.chmod(dest, 0o644)
