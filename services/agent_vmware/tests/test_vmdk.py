"""The rendition reader: a hosted VMDK expands to exactly the disk qemu-img sees."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from vmware_fixtures import qemu_img

from polyvisor.agent_vmware.vmdk import (
    FlatSource,
    SparseVmdk,
    VmdkError,
    disk_source,
    flat_descriptor,
    round_up_capacity,
)


def _expanded(path: Path) -> tuple[int, bytes]:
    src = disk_source(path)
    try:
        return src.capacity, b"".join(src.flat_chunks())
    finally:
        src.close()


@pytest.mark.parametrize("fmt", ["streamOptimized", "sparse", "raw"])
def test_expands_to_the_raw_disk(images: dict[str, Path], fmt: str) -> None:
    raw = images["raw"].read_bytes()
    capacity, flat = _expanded(images[fmt])
    assert capacity == round_up_capacity(len(raw))
    assert len(flat) == capacity
    assert flat[: len(raw)] == raw
    assert flat[len(raw) :] == bytes(capacity - len(raw))


def _with_footer(stream: Path, dest: Path) -> Path:
    """The layout VMware's own stream writers use: header says "GD at end", footer says where."""
    data = bytearray(stream.read_bytes())
    header = bytes(data[:512])
    data[56:64] = struct.pack("<Q", 0xFFFFFFFFFFFFFFFF)
    marker = lambda kind: struct.pack("<QII", 1, 0, kind) + bytes(496)  # noqa: E731
    data += marker(3) + header + struct.pack("<QII", 0, 0, 0) + bytes(496)
    dest.write_bytes(bytes(data))
    return dest


def test_stream_optimized_is_read_through_its_grain_directory(
    images: dict[str, Path], tmp_path: Path
) -> None:
    with SparseVmdk.open(images["streamOptimized"]) as disk:
        assert disk.compressed
        grains = list(disk.grains())
    # the test disk has a boot sector and scattered data: some grains, many holes
    assert 1 < len(grains) < disk.capacity // (64 * 1024)
    raw = images["raw"].read_bytes()
    _, flat = _expanded(_with_footer(images["streamOptimized"], tmp_path / "footer.vmdk"))
    assert flat[: len(raw)] == raw


def test_qemu_reads_what_we_would_upload(images: dict[str, Path], tmp_path: Path) -> None:
    """The flat extent plus our descriptor is a disk qemu-img opens with the same content."""
    capacity, flat = _expanded(images["streamOptimized"])
    (tmp_path / "base-flat.vmdk").write_bytes(flat)
    (tmp_path / "base.vmdk").write_bytes(flat_descriptor("base-flat.vmdk", capacity, "lsiLogic"))
    out = tmp_path / "back.raw"
    subprocess.run(
        [qemu_img(), "convert", "-f", "vmdk", "-O", "raw", str(tmp_path / "base.vmdk"), str(out)],
        check=True,
    )
    assert out.read_bytes() == flat


def test_descriptor_names_extent_size_and_adapter() -> None:
    text = flat_descriptor("x-flat.vmdk", 8 << 20, "ide").decode()
    assert 'createType="vmfs"' in text
    assert f'RW {(8 << 20) // 512} VMFS "x-flat.vmdk"' in text
    assert 'ddb.adapterType = "ide"' in text
    assert (
        'ddb.adapterType = "lsilogic"'
        in flat_descriptor("x-flat.vmdk", 1 << 20, "paraVirtual").decode()
    )
    with pytest.raises(ValueError):
        flat_descriptor('evil".vmdk', 1 << 20)
    with pytest.raises(ValueError):
        flat_descriptor("x-flat.vmdk", 1000)


def test_raw_is_padded_to_whole_mib(tmp_path: Path) -> None:
    p = tmp_path / "odd.raw"
    p.write_bytes(b"\x01" * 1000)
    src = FlatSource(p)
    data = b"".join(src.flat_chunks())
    src.close()
    assert len(data) == 1 << 20 and data[:1000] == b"\x01" * 1000 and not any(data[1000:])


def _corrupt(path: Path, dest: Path, offset: int, patch: bytes) -> Path:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(patch)] = patch
    dest.write_bytes(bytes(data))
    return dest


def test_malformed_files_are_refused(images: dict[str, Path], tmp_path: Path) -> None:
    stream = images["streamOptimized"]
    size = stream.stat().st_size
    # a grain directory pointing past the end of the file
    bad_gd = _corrupt(stream, tmp_path / "gd.vmdk", 56, struct.pack("<Q", 1 << 40))
    with pytest.raises(VmdkError):
        _expanded(bad_gd)
    # an absurd capacity in the header
    bad_cap = _corrupt(stream, tmp_path / "cap.vmdk", 12, struct.pack("<Q", 1 << 60))
    with pytest.raises(VmdkError):
        _expanded(bad_cap)
    # a descriptor alone (its extent elsewhere: a classic way to read host files)
    desc = tmp_path / "desc.vmdk"
    desc.write_bytes(flat_descriptor("other-flat.vmdk", 1 << 20))
    with pytest.raises(VmdkError):
        disk_source(desc)
    # truncated in the middle of the grains
    cut = tmp_path / "cut.vmdk"
    cut.write_bytes(stream.read_bytes()[: size // 2])
    with pytest.raises(VmdkError):
        _expanded(cut)
