"""A real bootable disk with no download: a 512-byte x86 boot sector that prints a line on
the first serial port (0x3F8) and halts, turned into qcow2 by qemu-img."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BANNER = b"polyvisor e2e boot ok\r\n"
_CODE_ORIGIN = 0x7C00


def boot_sector(banner: bytes = BANNER) -> bytes:
    """Real-mode code: ds=0; si=banner; dx=0x3F8; print bytes until NUL; hlt forever."""
    msg_offset = 22
    msg = _CODE_ORIGIN + msg_offset
    code = bytes([
        0xFA,                                   # 0  cli
        0x31, 0xC0,                             # 1  xor ax, ax
        0x8E, 0xD8,                             # 3  mov ds, ax
        0xBE, msg & 0xFF, msg >> 8,             # 5  mov si, msg
        0xBA, 0xF8, 0x03,                       # 8  mov dx, 0x3f8
        0xAC,                                   # 11 lodsb
        0x84, 0xC0,                             # 12 test al, al
        0x74, 0x03,                             # 14 jz 19
        0xEE,                                   # 16 out dx, al
        0xEB, 0xF8,                             # 17 jmp 11
        0xF4,                                   # 19 hlt
        0xEB, 0xFD,                             # 20 jmp 19
    ])  # fmt: skip
    assert len(code) == msg_offset
    body = code + banner + b"\0"
    return body + b"\0" * (510 - len(body)) + b"\x55\xaa"


def make_disk(directory: Path, name: str, disk_format: str = "qcow2", size_mb: int = 1) -> Path:
    """A disk of `size_mb` MiB whose first sector is the boot sector, in `disk_format`."""
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / f"{name}.raw"
    with open(raw, "wb") as f:
        f.write(boot_sector())
        f.truncate(size_mb * 1024 * 1024)
    if disk_format == "raw":
        return raw
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise RuntimeError("qemu-img is missing (Debian package qemu-utils)")
    out = directory / f"{name}.{disk_format}"
    subprocess.run(
        [qemu_img, "convert", "-f", "raw", "-O", disk_format, str(raw), str(out)], check=True
    )
    raw.unlink()
    return out
