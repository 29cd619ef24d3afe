"""The pure-Python inspector against real qemu-img output and hand-made malicious files."""

from __future__ import annotations

import pytest

from polyvisor.imagesvc import inspect_base as rules
from polyvisor.imagesvc import inspector as ins
from polyvisor.imagesvc.inspector import Refusal, inspect_bytes, inspect_file

GiB = 1 << 30
MAX = 1 * GiB


def refused(path, declared: str, max_virtual_size: int = MAX) -> Refusal:
    with pytest.raises(Refusal) as info:
        inspect_file(path, declared, max_virtual_size)
    return info.value


def test_good_images_are_described(forge) -> None:
    raw = inspect_file(forge.raw(2 << 20), "raw", MAX)
    assert (raw.disk_format, raw.virtual_size) == ("raw", 2 << 20)
    q = inspect_file(forge.qcow2(3 << 20), "qcow2", MAX)
    assert (q.disk_format, q.virtual_size) == ("qcow2", 3 << 20)
    so = inspect_file(forge.vmdk("streamOptimized", 4 << 20), "vmdk", MAX)
    assert (so.disk_format, so.vmdk_subformat, so.virtual_size) == (
        "vmdk",
        "streamOptimized",
        4 << 20,
    )
    ms = inspect_file(forge.vmdk("monolithicSparse"), "vmdk", MAX)
    assert ms.vmdk_subformat == "monolithicSparse"
    iso = inspect_file(forge.iso(), "iso", MAX)
    assert (iso.disk_format, iso.virtual_size) == ("iso", 64 * 1024)


def test_qcow2_backing_file_refused(forge) -> None:
    assert refused(forge.qcow2_backing_file(), "qcow2").rule == rules.RULE_QCOW2_BACKING_FILE
    assert refused(forge.qcow2_backing_passwd(), "qcow2").rule == rules.RULE_QCOW2_BACKING_FILE


def test_qcow2_data_file_refused(forge) -> None:
    r = refused(forge.qcow2_data_file(), "qcow2")
    assert r.rule == rules.RULE_QCOW2_DATA_FILE
    # The header extension alone (bit cleared) is refused too.
    assert refused(forge.qcow2_data_extension_only(), "qcow2").rule == rules.RULE_QCOW2_DATA_FILE


def test_qcow2_unknown_incompatible_bit_refused(forge) -> None:
    r = refused(forge.qcow2_unknown_feature(20), "qcow2")
    assert r.rule == rules.RULE_QCOW2_UNKNOWN_FEATURES
    assert "0x100000" in r.message


def test_vmdk_multi_file_subformats_refused(forge) -> None:
    flat = refused(forge.vmdk_descriptor("monolithicFlat"), "vmdk")
    assert flat.rule == rules.RULE_VMDK_CREATE_TYPE
    assert "monolithicFlat" in flat.message
    two = refused(forge.vmdk_descriptor("twoGbMaxExtentSparse"), "vmdk")
    assert two.rule == rules.RULE_VMDK_CREATE_TYPE


def test_vmdk_descriptor_naming_host_file_refused(forge) -> None:
    r = refused(forge.vmdk_descriptor_naming("/etc/passwd"), "vmdk")
    assert r.rule == rules.RULE_VMDK_EXTENT
    assert "/etc/passwd" in r.message
    # Even a bare name: a descriptor-only file has no data of its own.
    bare = refused(forge.vmdk_descriptor_naming("other.vmdk"), "vmdk")
    assert bare.rule == rules.RULE_VMDK_EXTENT


def test_vmdk_zero_capacity_with_embedded_descriptor_refused(forge) -> None:
    r = refused(forge.vmdk_zero_capacity_naming("/etc/passwd"), "vmdk")
    assert r.rule == rules.RULE_VMDK_HEADER
    assert "capacity" in r.message


def test_format_lie_refused(forge) -> None:
    r = refused(forge.raw_that_is_qcow2(), "raw")
    assert r.rule == ins.RULE_FORMAT_MISMATCH
    assert "qcow2" in r.message
    assert refused(forge.raw(), "qcow2").rule == ins.RULE_FORMAT_MISMATCH
    assert refused(forge.vmdk(), "qcow2").rule == ins.RULE_FORMAT_MISMATCH


@pytest.mark.parametrize(
    "builder",
    ["qcow2_truncated", "qcow2_l1_past_eof", "qcow2_refcount_past_eof", "qcow2_l2_past_eof"],
)
def test_qcow2_tables_past_eof_refused(forge, builder: str) -> None:
    r = refused(getattr(forge, builder)(), "qcow2")
    assert r.rule == rules.RULE_QCOW2_TABLES
    assert "past the end of the file" in r.message


def test_two_formats_refused(forge) -> None:
    r = refused(forge.qcow2_and_iso(), "qcow2")
    assert r.rule == ins.RULE_AMBIGUOUS
    assert "qcow2" in r.message and "iso" in r.message


def test_virtual_size_bomb_refused(forge) -> None:
    path = forge.qcow2_bomb("10T")
    assert path.stat().st_size < 1 << 20
    r = refused(path, "qcow2")
    assert r.rule == ins.RULE_VIRTUAL_SIZE
    assert str(10 << 40) in r.message


def test_foreign_formats_do_not_pass_as_raw() -> None:
    for head, name in [
        (b"vhdxfile", "vhdx"),
        (b"conectix", "vpc"),
        (b"QED\x00", "qed"),
        (b"QFI\xfb\x00\x00\x00\x01", "qcow"),
        (b"LUKS\xba\xbe\x00\x01", "luks"),
        (b"WithoutFreeSpace", "parallels"),
        (b"WithouFreSpacExt", "parallels"),
        (b"Bochs Virtual HD Image\x00", "bochs"),
        (ins.CLOOP_MAGIC, "cloop"),
        (b"<<< QEMU VM Virtual Disk Image >>>\n".ljust(0x40, b"\x00") + b"\x7f\x10\xda\xbe", "vdi"),
    ]:
        with pytest.raises(Refusal) as info:
            inspect_bytes(head + bytes(4096), "raw", MAX)
        assert info.value.rule == ins.RULE_FORMAT_MISMATCH
        assert f"the file is {name} " in info.value.message


@pytest.mark.parametrize("size", [4096, 4096 + 100, 4096 + 511])
def test_trailers_at_the_end_do_not_pass_as_raw(size: int) -> None:
    """A fixed VHD has only its footer, a DMG its koly trailer, in the last sector (qemu
    counts the length in whole sectors, so an odd size still finds them)."""
    length = (size + 511) // 512 * 512
    for magic, name in [(b"conectix", "vpc"), (b"koly", "dmg")]:
        data = bytearray(size)
        data[length - 512 : length - 512 + len(magic)] = magic
        with pytest.raises(Refusal) as info:
            inspect_bytes(bytes(data[:size]), "raw", MAX)
        assert f"the file is {name} " in info.value.message
    # qemu's dmg search window: the last 511 bytes of the second-last sector too.
    data = bytearray(4096)
    data[4096 - 1023 : 4096 - 1019] = b"koly"
    with pytest.raises(Refusal):
        inspect_bytes(bytes(data), "raw", MAX)
    data = bytearray(4096)
    data[4096 - 1024 : 4096 - 1020] = b"koly"  # outside the window: raw bytes
    assert inspect_bytes(bytes(data), "raw", MAX).disk_format == "raw"


def test_truncated_and_garbage_headers_refused() -> None:
    with pytest.raises(Refusal) as info:
        inspect_bytes(b"QFI\xfb\x00\x00\x00\x03", "qcow2", MAX)
    assert info.value.rule == rules.RULE_QCOW2_HEADER
    with pytest.raises(Refusal) as info:
        inspect_bytes(b"KDMV" + bytes(20), "vmdk", MAX)
    assert info.value.rule == rules.RULE_VMDK_HEADER


@pytest.mark.parametrize("declared", ins.DISK_FORMATS)
def test_empty_image_refused(declared: str) -> None:
    with pytest.raises(Refusal) as info:
        inspect_bytes(b"", declared, MAX)
    assert info.value.rule == ins.RULE_EMPTY


@pytest.mark.parametrize(
    ("descriptor", "rule"),
    [
        (
            'version=1\ncreateType="streamOptimized"\nRW 8 SPARSE "a.vmdk"\nRW 8 SPARSE "a.vmdk"\n',
            rules.RULE_VMDK_EXTENT,
        ),
        (
            'version=1\ncreateType="streamOptimized"\nRW 8 SPARSE "../a.vmdk"\n',
            rules.RULE_VMDK_EXTENT,
        ),
        ('version=1\ncreateType="streamOptimized"\nRW 8 FLAT "a.vmdk" 0\n', rules.RULE_VMDK_EXTENT),
        ('version=1\ncreateType="streamOptimized"\nRW 8 VMFS "a.vmdk"\n', rules.RULE_VMDK_EXTENT),
        ('version=1\ncreateType="vmfs"\nRW 8 VMFS "a.vmdk"\n', rules.RULE_VMDK_CREATE_TYPE),
        (
            'version=1\ncreateType="streamOptimized"\nparentFileNameHint="/x.vmdk"\n'
            'RW 8 SPARSE "a.vmdk"\n',
            rules.RULE_VMDK_DESCRIPTOR,
        ),
        (
            'version=1\ncreateType="streamOptimized"\nchangeTrackPath="/x"\nRW 8 SPARSE "a.vmdk"\n',
            rules.RULE_VMDK_DESCRIPTOR,
        ),
        (
            'version=1\ncreateType="streamOptimized"\nwhat is this\nRW 8 SPARSE "a.vmdk"\n',
            rules.RULE_VMDK_DESCRIPTOR,
        ),
        ('version=1\nRW 8 SPARSE "a.vmdk"\n', rules.RULE_VMDK_DESCRIPTOR),
    ],
)
def test_vmdk_descriptor_parsed_strictly(descriptor: str, rule: str) -> None:
    with pytest.raises(Refusal) as info:
        ins.parse_vmdk_descriptor(descriptor.encode())
    assert info.value.rule == rule


def test_vmdk_descriptor_accepts_what_qemu_img_writes() -> None:
    d = ins.parse_vmdk_descriptor(
        b"# Disk DescriptorFile\nversion=1\nCID=983c0f34\nparentCID=ffffffff\n"
        b'createType="streamOptimized"\n\n# Extent description\nRW 20480 SPARSE "so.vmdk"\n\n'
        b'#DDB\nddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n'
    )
    assert d.create_type == "streamOptimized"
    assert d.extents == (("RW", 20480, "SPARSE", "so.vmdk"),)


def test_mutated_headers_give_a_verdict_never_a_crash(forge) -> None:
    """Random byte flips in real headers: the inspector describes or refuses, nothing else."""
    import random

    rng = random.Random(1234)
    seeds = [
        forge.qcow2(1 << 20).read_bytes()[:70000],
        forge.vmdk("streamOptimized", 1 << 20).read_bytes()[:70000],
        forge.vmdk("monolithicSparse", 1 << 20).read_bytes()[:70000],
        forge.vmdk_descriptor_naming("x.vmdk").read_bytes(),
    ]
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(0, min(len(data), 1536))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(0, len(data))]
        for declared in ("qcow2", "vmdk", "raw"):
            try:
                inspect_bytes(bytes(data), declared, MAX)
            except Refusal:
                pass
