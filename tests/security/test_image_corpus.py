"""A malicious image corpus, each uploaded through the real image service and each refused
with the rule it breaks named, the image killed, nothing stored.

The corpus is made here, by this test: with `qemu-img create` for every format qemu-img can
write (qed, vpc, vhdx, vdi, parallels, luks, qcow, qcow2, vmdk), by hand for the formats it
only reads (dmg, bochs, cloop) and for lies qemu-img would never write (truncated headers,
tables past the end, polyglots). Nothing is downloaded.

It covers: qcow2 backing file and data file; QED (with a backing file to a host path), VHD
(dynamic and fixed), VHDX, VDI, parallels, LUKS, DMG, bochs, cloop and qcow v1 declared raw;
vmdk descriptors whose extents name host paths; size bombs; format lies; ISO/qcow2
polyglots; truncated headers; zero-byte files; qcow2 tables past the end of the file and
metadata that `qemu-img check` finds corrupt.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.imagesvc.app import lifespan
from polyvisor.imagesvc.config import ImageSettings
from polyvisor.types.v1 import disk_pb2
from tests.support.services import free_port, wait_serving

MiB = 1 << 20
GiB = 1 << 30
HOST_FILE = "/etc/passwd"
DECLARED = {
    "raw": disk_pb2.DISK_FORMAT_RAW,
    "qcow2": disk_pb2.DISK_FORMAT_QCOW2,
    "vmdk": disk_pb2.DISK_FORMAT_VMDK,
    "iso": disk_pb2.DISK_FORMAT_ISO,
}


# --------------------------------------------------------------------------- the corpus


def qemu_img(*args: str) -> None:
    # A LUKS header's PBKDF is timed on this CPU first; on a busy machine that timing can come
    # out empty ("Unable to get accurate CPU usage") and the create fails: it is tried again.
    for _ in range(5):
        r = subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)
        if r.returncode == 0:
            return
        if "accurate CPU usage" not in r.stderr:
            break
    raise AssertionError(f"qemu-img {' '.join(args)} failed ({r.returncode}): {r.stderr}")


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def u64(path: Path, offset: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        return int(struct.unpack(">Q", f.read(8))[0])


class Corpus:
    """Each method writes one file into `root` and returns it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / f"{uuid.uuid4().hex[:8]}-{name}"

    def _created(self, fmt: str, *options: str, size: str = "1M") -> Path:
        p = self._path(f"x.{fmt}")
        qemu_img("create", "-f", fmt, *options, str(p), size)
        return p

    def _qcow2(self) -> Path:
        src = self._path("src.raw")
        src.write_bytes(os.urandom(2 * MiB))
        p = self._path("x.qcow2")
        qemu_img("convert", "-f", "raw", "-O", "qcow2", str(src), str(p))
        return p

    # qcow2 that reaches outside itself
    def qcow2_backing_host_file(self) -> Path:
        return self._created("qcow2", "-b", HOST_FILE, "-F", "raw")

    def qcow2_backing_qcow2(self) -> Path:
        base = self._qcow2()
        return self._created("qcow2", "-b", str(base), "-F", "qcow2", size="2M")

    def qcow2_data_file(self) -> Path:
        data = self._path("data.raw")
        return self._created("qcow2", "-o", f"data_file={data},data_file_raw=on")

    def qcow2_data_file_extension_only(self) -> Path:
        p = self.qcow2_data_file()
        patch(p, 72, struct.pack(">Q", u64(p, 72) & ~(1 << 2)))  # the incompatible bit cleared
        return p

    def qcow2_encrypted(self) -> Path:
        return self._created(
            "qcow2",
            "--object",
            "secret,id=s0,data=polyvisor",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
        )

    # formats qemu knows, declared raw
    def qed_backing_host_file(self) -> Path:
        return self._created("qed", "-b", HOST_FILE, "-F", "raw")

    def qed(self) -> Path:
        return self._created("qed")

    def qcow_v1_backing_host_file(self) -> Path:
        return self._created("qcow", "-b", HOST_FILE, "-F", "raw")

    def vhd_dynamic(self) -> Path:
        return self._created("vpc")

    def vhd_fixed(self) -> Path:
        """Raw bytes with a VHD footer in the last sector only (no header at offset 0)."""
        return self._created("vpc", "-o", "subformat=fixed")

    def vhdx(self) -> Path:
        return self._created("vhdx")

    def vdi(self) -> Path:
        return self._created("vdi")

    def parallels(self) -> Path:
        return self._created("parallels")

    def luks(self) -> Path:
        return self._created(
            "luks", "--object", "secret,id=s0,data=polyvisor", "-o", "key-secret=s0,iter-time=10"
        )

    def dmg(self) -> Path:
        """UDIF: data, then the 512-byte "koly" trailer (qemu-img cannot write dmg)."""
        p = self._path("x.dmg")
        trailer = bytearray(512)
        trailer[0:4] = b"koly"
        struct.pack_into(">II", trailer, 4, 4, 512)  # version 4, header size 512
        struct.pack_into(">Q", trailer, 0x1EC, 2048)  # sector count
        p.write_bytes(os.urandom(MiB) + bytes(trailer))
        return p

    def bochs(self) -> Path:
        p = self._path("x.bochs")
        header = bytearray(512)
        header[0:23] = b"Bochs Virtual HD Image\x00"
        header[32:40] = b"Redolog\x00"
        header[48:56] = b"Growing\x00"
        struct.pack_into("<II", header, 64, 0x00020000, 512)
        p.write_bytes(bytes(header) + bytes(MiB))
        return p

    def cloop(self) -> Path:
        p = self._path("x.cloop")
        magic = (
            b"#!/bin/sh\n#V2.0 Format\n"
            b"modprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"
        )
        header = bytearray(magic.ljust(128, b"\x00"))
        header += struct.pack(">II", 65536, 16)  # block size, number of blocks
        p.write_bytes(bytes(header) + bytes(MiB))
        return p

    # vmdk whose extents name host files
    def vmdk_descriptor_host_flat_extent(self) -> Path:
        p = self._path("descriptor.vmdk")
        p.write_text(
            "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
            'createType="monolithicFlat"\n\n# Extent description\n'
            f'RW 2048 FLAT "{HOST_FILE}" 0\n\nddb.adapterType = "ide"\n'
        )
        return p

    def vmdk_descriptor_host_sparse_extent(self) -> Path:
        p = self._path("descriptor.vmdk")
        p.write_text(
            "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
            'createType="monolithicSparse"\n\n# Extent description\n'
            f'RW 2048 SPARSE "{HOST_FILE}"\n'
        )
        return p

    def vmdk_embedded_descriptor_host_extent(self) -> Path:
        """A real monolithicSparse whose embedded descriptor gains a FLAT extent on a host
        file after its own."""
        return self._vmdk_rewrite_descriptor(
            lambda lines: [
                *lines[: _extent_line(lines) + 1],
                f'RW 2048 FLAT "{HOST_FILE}" 0',
                *lines[_extent_line(lines) + 1 :],
            ]
        )

    def vmdk_zero_capacity_host_extent(self) -> Path:
        """capacity 0 makes qemu take the data from the descriptor's extents."""
        p = self._vmdk_rewrite_descriptor(
            lambda lines: [
                f'RW 2048 FLAT "{HOST_FILE}" 0' if line.startswith("RW ") else line
                for line in lines
            ]
        )
        patch(p, 12, struct.pack("<Q", 0))
        return p

    def _vmdk_sparse(self) -> Path:
        p = self._path("x.vmdk")
        qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicSparse", str(p), "1M")
        return p

    def _vmdk_rewrite_descriptor(self, edit: Callable[[list[str]], list[str]]) -> Path:
        p = self._vmdk_sparse()
        with open(p, "r+b") as f:
            desc_offset, desc_size = struct.unpack_from("<QQ", f.read(512), 28)
            f.seek(desc_offset * 512)
            text = f.read(desc_size * 512).split(b"\0", 1)[0].decode()
            new = "\n".join(edit(text.split("\n"))).encode()
            assert len(new) <= desc_size * 512
            f.seek(desc_offset * 512)
            f.write(new.ljust(desc_size * 512, b"\0"))
        return p

    def vmdk_two_gb_extents(self) -> Path:
        d = self._path("split")
        d.mkdir()
        p = d / "disk.vmdk"
        qemu_img("create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", str(p), "1M")
        return p

    # size bombs: tiny files, huge disks
    def qcow2_bomb(self) -> Path:
        return self._created("qcow2", size="10T")

    def vmdk_bomb(self) -> Path:
        """A real monolithicSparse with its capacity (header and extent) raised to 10 TiB."""
        sectors = (10 << 40) // 512
        p = self._vmdk_rewrite_descriptor(
            lambda lines: [
                f"RW {sectors} SPARSE " + line.split(" SPARSE ", 1)[1]
                if line.startswith("RW ")
                else line
                for line in lines
            ]
        )
        patch(p, 12, struct.pack("<Q", sectors))
        return p

    # format lies and polyglots
    def qcow2_as_raw(self) -> Path:
        return self._qcow2()

    def raw_as_qcow2(self) -> Path:
        p = self._path("x.raw")
        p.write_bytes(os.urandom(MiB))
        return p

    def vmdk_as_qcow2(self) -> Path:
        return self._vmdk_sparse()

    def iso_as_raw(self) -> Path:
        p = self._path("x.iso")
        data = bytearray(64 * 1024)
        data[0x8000:0x8007] = b"\x01CD001\x01"
        p.write_bytes(bytes(data))
        return p

    def qcow2_iso_polyglot(self) -> Path:
        p = self._qcow2()
        patch(p, 0x8000, b"\x01CD001\x01")
        return p

    def iso_qcow2_polyglot(self) -> Path:
        """An ISO whose first bytes are a qcow2 header (declared iso)."""
        p = self.iso_as_raw()
        q = self._qcow2().read_bytes()[:512]
        patch(p, 0, q)
        return p

    # truncated headers
    def qcow2_header_truncated(self) -> Path:
        p = self._qcow2()
        with open(p, "r+b") as f:
            f.truncate(40)
        return p

    def vmdk_header_truncated(self) -> Path:
        p = self._vmdk_sparse()
        with open(p, "r+b") as f:
            f.truncate(60)
        return p

    def qed_header_truncated(self) -> Path:
        p = self.qed_backing_host_file()
        with open(p, "r+b") as f:
            f.truncate(8)
        return p

    # zero bytes
    def empty(self) -> Path:
        p = self._path("empty")
        p.write_bytes(b"")
        return p

    # qcow2 metadata that is not in the file, or not sound
    def qcow2_truncated_after_header(self) -> Path:
        p = self._qcow2()
        with open(p, "r+b") as f:
            f.truncate(64 * 1024)
        return p

    def qcow2_l1_past_eof(self) -> Path:
        p = self._qcow2()
        patch(p, 40, struct.pack(">Q", (p.stat().st_size // 65536 + 64) * 65536))
        return p

    def qcow2_refcount_table_past_eof(self) -> Path:
        p = self._qcow2()
        patch(p, 48, struct.pack(">Q", (p.stat().st_size // 65536 + 64) * 65536))
        return p

    def qcow2_l2_past_eof(self) -> Path:
        p = self._qcow2()
        target = (p.stat().st_size // 65536 + 64) * 65536
        patch(p, u64(p, 40), struct.pack(">Q", (1 << 63) | target))
        return p

    def qcow2_corrupt_refcounts(self) -> Path:
        p = self._qcow2()
        block = u64(p, u64(p, 48))
        patch(p, block, bytes(64))
        return p


def _extent_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith("RW "))


@dataclass(frozen=True)
class Case:
    builder: str
    declared: str
    rule: str
    #: a word the message must carry besides the rule (what was found)
    says: str = ""


CORPUS = [
    # qcow2 reaching outside itself
    Case("qcow2_backing_host_file", "qcow2", "qcow2-backing-file"),
    Case("qcow2_backing_qcow2", "qcow2", "qcow2-backing-file"),
    Case("qcow2_data_file", "qcow2", "qcow2-data-file"),
    Case("qcow2_data_file_extension_only", "qcow2", "qcow2-data-file"),
    Case("qcow2_encrypted", "qcow2", "qcow2-encrypted"),
    # other formats declared raw
    Case("qed_backing_host_file", "raw", "format-mismatch", "qed"),
    Case("qed", "raw", "format-mismatch", "qed"),
    Case("qcow_v1_backing_host_file", "raw", "format-mismatch", "qcow"),
    Case("qcow_v1_backing_host_file", "qcow2", "format-mismatch", "qcow"),
    Case("vhd_dynamic", "raw", "format-mismatch", "vpc"),
    Case("vhd_fixed", "raw", "format-mismatch", "vpc"),
    Case("vhdx", "raw", "format-mismatch", "vhdx"),
    Case("vdi", "raw", "format-mismatch", "vdi"),
    Case("parallels", "raw", "format-mismatch", "parallels"),
    Case("luks", "raw", "format-mismatch", "luks"),
    Case("dmg", "raw", "format-mismatch", "dmg"),
    Case("bochs", "raw", "format-mismatch", "bochs"),
    Case("cloop", "raw", "format-mismatch", "cloop"),
    # vmdk extents naming host files
    Case("vmdk_descriptor_host_flat_extent", "vmdk", "vmdk-create-type"),
    Case("vmdk_descriptor_host_flat_extent", "raw", "format-mismatch", "vmdk"),
    Case("vmdk_descriptor_host_sparse_extent", "vmdk", "vmdk-extent"),
    Case("vmdk_embedded_descriptor_host_extent", "vmdk", "vmdk-extent"),
    Case("vmdk_zero_capacity_host_extent", "vmdk", "vmdk-header", "capacity"),
    Case("vmdk_two_gb_extents", "vmdk", "vmdk-create-type"),
    # size bombs
    Case("qcow2_bomb", "qcow2", "virtual-size-limit"),
    Case("vmdk_bomb", "vmdk", "virtual-size-limit"),
    # format lies and polyglots
    Case("qcow2_as_raw", "raw", "format-mismatch", "qcow2"),
    Case("raw_as_qcow2", "qcow2", "format-mismatch", "raw"),
    Case("vmdk_as_qcow2", "qcow2", "format-mismatch", "vmdk"),
    Case("iso_as_raw", "raw", "format-mismatch", "iso"),
    Case("qcow2_iso_polyglot", "qcow2", "ambiguous-format"),
    Case("qcow2_iso_polyglot", "iso", "ambiguous-format"),
    Case("iso_qcow2_polyglot", "iso", "ambiguous-format"),
    # truncated headers
    Case("qcow2_header_truncated", "qcow2", "qcow2-header"),
    Case("vmdk_header_truncated", "vmdk", "vmdk-header"),
    Case("qed_header_truncated", "raw", "format-mismatch", "qed"),
    # zero bytes
    Case("empty", "raw", "empty-image"),
    Case("empty", "qcow2", "empty-image"),
    Case("empty", "vmdk", "empty-image"),
    Case("empty", "iso", "empty-image"),
    # qcow2 tables past the end, corrupt metadata
    Case("qcow2_truncated_after_header", "qcow2", "qcow2-tables-past-eof"),
    Case("qcow2_l1_past_eof", "qcow2", "qcow2-tables-past-eof", "L1 table"),
    Case("qcow2_refcount_table_past_eof", "qcow2", "qcow2-tables-past-eof", "refcount table"),
    Case("qcow2_l2_past_eof", "qcow2", "qcow2-tables-past-eof", "L2 table"),
    Case("qcow2_corrupt_refcounts", "qcow2", "qemu-img-check", "corruptions"),
]


# --------------------------------------------------------------------------- the service


@dataclass
class Running:
    root: Path
    store: Path
    channel: grpc.aio.Channel
    signer: TokenSigner

    def metadata(self, project: str) -> list[tuple[str, str]]:
        token, _ = self.signer.issue(
            user_id=f"user-{project}", project_id=project, roles=("member",), kind="user"
        )
        return [("authorization", f"Bearer {token}")]


@pytest.fixture(scope="module")
async def imagesvc(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """The image service with its real lifespan (PostgreSQL, NATS, qemu-img, a filesystem
    store) on an ephemeral port."""
    root = tmp_path_factory.mktemp("imagesvc-corpus")
    private, public = generate_keypair()
    (root / "token.pub").write_bytes(public)
    port = free_port()
    settings = ImageSettings(
        database_url=pg_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=port,
        metrics_host="127.0.0.1",
        metrics_port=0,
        server_id=f"imagesvc-corpus-{os.getpid()}",
        store_dir=root / "store",
        store_fsync=False,
        token_public_key=root / "token.pub",
        max_virtual_size=1 * GiB,
        shutdown_grace_s=1.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, lifespan, stop, handle_signals=False))
    address = f"127.0.0.1:{port}"
    try:
        await wait_serving(address, timeout=30)
        async with grpc.aio.insecure_channel(address) as channel:
            yield Running(root, root / "store", channel, TokenSigner(private))
    finally:
        stop.set()
        assert await task == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


async def upload(stub: svc_grpc.ImageServiceStub, image_id: str, data: bytes, md) -> None:
    async def requests() -> AsyncIterator[pb.UploadImageRequest]:
        yield pb.UploadImageRequest(header=pb.UploadImageHeader(image_id=image_id))
        for i in range(0, len(data), MiB):
            yield pb.UploadImageRequest(chunk=data[i : i + MiB])

    await stub.UploadImage(requests(), metadata=md)


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c.builder}-as-{c.declared}" for c in CORPUS])
async def test_malicious_image_refused_with_the_rule_named(
    imagesvc: Running, corpus: Corpus, case: Case
) -> None:
    data = getattr(corpus, case.builder)().read_bytes()
    stub = svc_grpc.ImageServiceStub(imagesvc.channel)
    md = imagesvc.metadata(f"proj-{uuid.uuid4().hex[:8]}")
    image = (
        await stub.CreateImage(
            pb.CreateImageRequest(image=pb.Image(disk_format=DECLARED[case.declared])),
            metadata=md,
        )
    ).image

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload(stub, image.id, data, md)
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert f"refused by rule {case.rule}:" in err.details()
    assert case.says in err.details()

    killed = (await stub.GetImage(pb.GetImageRequest(image_id=image.id), metadata=md)).image
    assert killed.status == pb.IMAGE_STATUS_KILLED
    assert f"refused by rule {case.rule}:" in killed.status_message
    assert not killed.renditions
    for message in (err.details(), killed.status_message):
        assert str(imagesvc.root) not in message and "/tmp/" not in message
    # Nothing of it stays in the store.
    assert not (imagesvc.store / "images" / image.id).exists()
    assert list((imagesvc.store / "tmp").glob("*")) == []
    # And it never becomes downloadable.
    with pytest.raises(grpc.aio.AioRpcError) as download:
        async for _ in stub.DownloadImage(pb.DownloadImageRequest(image_id=image.id), metadata=md):
            pass
    assert download.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_corpus_covers_every_foreign_format_qemu_probes() -> None:
    """Each format the inspector knows to be foreign has a file declared raw in the corpus."""
    from polyvisor.imagesvc.inspector import FOREIGN_FORMATS

    covered = {c.says for c in CORPUS if c.declared == "raw" and c.rule == "format-mismatch"}
    assert set(FOREIGN_FORMATS) - covered == set()
