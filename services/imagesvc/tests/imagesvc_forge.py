"""Builds good and malicious disk images with qemu-img and raw bytes, for the tests.

Not a test module: imported by conftest.py (the `forge` fixture) and by test modules.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

MiB = 1024 * 1024


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


class Forge:
    """Each method writes one image under `root` and returns its path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def _path(self, stem: str, ext: str) -> Path:
        self._n += 1
        return self.root / f"{stem}-{self._n}.{ext}"

    # -- good images
    def raw(self, size: int = 2 * MiB, *, random: bool = True) -> Path:
        p = self._path("disk", "raw")
        data = os.urandom(size) if random else bytes(size)
        # A recognisable, non-zero boot sector so conversions carry real data.
        data = b"\xeb\x3c\x90POLYVISR" + data[11:510] + b"\x55\xaa" + data[512:]
        p.write_bytes(data[:size])
        return p

    def qcow2(self, size: int = 2 * MiB) -> Path:
        src = self.raw(size)
        p = self._path("disk", "qcow2")
        qemu_img("convert", "-f", "raw", "-O", "qcow2", str(src), str(p))
        return p

    def vmdk(self, subformat: str = "streamOptimized", size: int = 2 * MiB) -> Path:
        src = self.raw(size)
        p = self._path("disk", "vmdk")
        qemu_img(
            "convert", "-f", "raw", "-O", "vmdk", "-o", f"subformat={subformat}", str(src), str(p)
        )
        return p

    def iso(self, size: int = 64 * 1024) -> Path:
        p = self._path("disk", "iso")
        data = bytearray(size)
        data[0x8000:0x8006] = b"\x01CD001"
        data[0x8006] = 1
        p.write_bytes(bytes(data))
        return p

    # -- malicious images
    def qcow2_backing_file(self) -> Path:
        base = self.qcow2()
        p = self._path("backed", "qcow2")
        qemu_img("create", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(p))
        return p

    def qcow2_backing_passwd(self) -> Path:
        p = self._path("backed-passwd", "qcow2")
        qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(p), "1M")
        return p

    def qcow2_data_file(self) -> Path:
        p = self._path("datafile", "qcow2")
        data = self._path("datafile-data", "raw")
        qemu_img("create", "-f", "qcow2", "-o", f"data_file={data},data_file_raw=on", str(p), "1M")
        return p

    def qcow2_data_extension_only(self) -> Path:
        """The data file header extension present, incompatible bit 2 cleared."""
        p = self.qcow2_data_file()
        with open(p, "r+b") as f:
            f.seek(72)
            (bits,) = struct.unpack(">Q", f.read(8))
            f.seek(72)
            f.write(struct.pack(">Q", bits & ~(1 << 2)))
        return p

    def qcow2_unknown_feature(self, bit: int = 20) -> Path:
        p = self.qcow2()
        with open(p, "r+b") as f:
            f.seek(72)
            (bits,) = struct.unpack(">Q", f.read(8))
            f.seek(72)
            f.write(struct.pack(">Q", bits | (1 << bit)))
        return p

    def qcow2_bomb(self, virtual_size: str = "10T") -> Path:
        p = self._path("bomb", "qcow2")
        qemu_img("create", "-f", "qcow2", str(p), virtual_size)
        return p

    def vmdk_descriptor(self, subformat: str) -> Path:
        """The descriptor of a multi-file vmdk (monolithicFlat, twoGbMaxExtentSparse)."""
        d = self.root / f"multi-{subformat}-{self._n}"
        d.mkdir()
        self._n += 1
        p = d / "disk.vmdk"
        qemu_img("create", "-f", "vmdk", "-o", f"subformat={subformat}", str(p), "1M")
        return p

    def vmdk_descriptor_naming(self, target: str = "/etc/passwd") -> Path:
        p = self._path("descriptor", "vmdk")
        p.write_text(
            "# Disk DescriptorFile\n"
            "version=1\n"
            "CID=12345678\n"
            "parentCID=ffffffff\n"
            'createType="monolithicSparse"\n'
            "\n"
            "# Extent description\n"
            f'RW 2048 SPARSE "{target}"\n'
            "\n"
            'ddb.adapterType = "ide"\n'
        )
        return p

    def vmdk_zero_capacity_naming(self, target: str = "/etc/passwd") -> Path:
        """A KDMV sparse header with capacity 0 whose embedded descriptor names a host file
        (qemu would then open the named file as the disk)."""
        p = self.vmdk("monolithicSparse")
        with open(p, "r+b") as f:
            head = f.read(512)
            desc_offset, desc_size = struct.unpack_from("<QQ", head, 28)
            f.seek(12)
            f.write(struct.pack("<Q", 0))
            f.seek(desc_offset * 512)
            text = f.read(desc_size * 512).split(b"\0", 1)[0].decode()
            lines = [
                f'RW 2048 FLAT "{target}" 0' if line.startswith("RW ") else line
                for line in text.split("\n")
            ]
            new = "\n".join(lines).encode()
            f.seek(desc_offset * 512)
            f.write(new.ljust(desc_size * 512, b"\0"))
        return p

    def raw_that_is_qcow2(self) -> Path:
        """A format lie: qcow2 bytes to be declared raw."""
        return self.qcow2()

    def qcow2_and_iso(self) -> Path:
        """Parses as qcow2 and as ISO 9660 at once."""
        p = self.qcow2(size=1 * MiB)
        patch(p, 0x8000, b"\x01CD001\x01")
        return p

    # -- qcow2 whose metadata is not in the file
    def qcow2_truncated(self) -> Path:
        """A real qcow2 cut after its header cluster: its tables lie past the end."""
        p = self.qcow2()
        with open(p, "r+b") as f:
            f.truncate(64 * 1024)
        return p

    def qcow2_l1_past_eof(self) -> Path:
        """The header's L1 table offset moved past the end of the file."""
        p = self.qcow2()
        size = p.stat().st_size
        patch(p, 40, struct.pack(">Q", (size // 65536 + 16) * 65536))
        return p

    def qcow2_refcount_past_eof(self) -> Path:
        p = self.qcow2()
        size = p.stat().st_size
        patch(p, 48, struct.pack(">Q", (size // 65536 + 16) * 65536))
        return p

    def qcow2_l2_past_eof(self) -> Path:
        """The header is sound, but its first L1 entry points at an L2 table past the end."""
        p = self.qcow2()
        size = p.stat().st_size
        with open(p, "rb") as f:
            f.seek(40)
            (l1_offset,) = struct.unpack(">Q", f.read(8))
        patch(p, l1_offset, struct.pack(">Q", (1 << 63) | ((size // 65536 + 16) * 65536)))
        return p

    def qcow2_corrupt_refcounts(self) -> Path:
        """Tables inside the file, but the first refcount block zeroed: every cluster in use
        has refcount 0 (what `qemu-img check` reports as corruptions)."""
        p = self.qcow2()
        with open(p, "r+b") as f:
            f.seek(48)
            (rt,) = struct.unpack(">Q", f.read(8))
            f.seek(rt)
            (block,) = struct.unpack(">Q", f.read(8))
            f.seek(block)
            f.write(bytes(64))
        return p

    def qcow2_refcount_order(self, order: int) -> Path:
        """A qcow2 v3 with another refcount width in its header (qemu-img refuses > 6)."""
        p = self.qcow2()
        patch(p, 96, struct.pack(">I", order))
        return p
