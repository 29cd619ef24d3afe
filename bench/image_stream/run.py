"""Image streaming and conversion through the image service, beside their baselines.

    .venv/bin/python bench/image_stream/run.py [--size-mib 1024] [--quick]

Starts PostgreSQL, NATS and the image service (`python -m polyvisor.imagesvc`, a real
process) on loopback, then measures, in the same run:

- upload MB/s of a raw image (client streaming, 1 MiB chunks, until the image is ACTIVE:
  hashing, inspection and the durable commit included);
- download MB/s of the same image (server streaming, bytes discarded);
- the baseline: `cat` of the same file to /dev/null;
- qcow2 -> vmdk streamOptimized through the service (Download of a rendition not yet made:
  time until its first message, i.e. qemu-img convert, re-inspection, hashing, commit)
  beside plain `qemu-img convert` of the same file.

The image is half random data and half zeros (4 MiB blocks), like a real disk image. The
last line printed is one JSON object with the figures.

Before measuring, a scratch file of twice the image size is written and removed: on a fresh
virtual machine the first write into never-touched guest memory costs the host a fault per
page (measured here at ~1.7 ms per MiB, more than hashing and gRPC together), and that would
be counted as upload time. Images are deleted after each round for the same reason.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from polyvisor.common.auth import TokenSigner, generate_keypair  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc  # noqa: E402
from polyvisor.image.v1 import images_pb2 as pb  # noqa: E402
from polyvisor.types.v1 import disk_pb2  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

MiB = 1024 * 1024
CHUNK = MiB
TARGET_MB_S = 300.0
TARGET_RATIO = 1.2


def make_image(path: Path, size: int) -> str:
    """Half random, half zeros in 4 MiB blocks; returns its sha256."""
    h = hashlib.sha256()
    block = 4 * MiB
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(block, size - written)
            half = n // 2
            data = os.urandom(half) + bytes(n - half)
            f.write(data)
            h.update(data)
            written += n
    return h.hexdigest()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_memory(work: Path, size: int) -> None:
    """Touch page-cache memory once (see the module docstring)."""
    scratch = work / "scratch"
    block = os.urandom(MiB)
    with open(scratch, "wb") as f:
        for _ in range(2 * size // MiB):
            f.write(block)
    scratch.unlink()


def mb_s(size: int, seconds: float) -> float:
    return round(size / MiB / seconds, 1) if seconds > 0 else 0.0


def timed_cat(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


async def file_chunks(path: Path, image_id: str, size: int) -> AsyncIterator[pb.UploadImageRequest]:
    yield pb.UploadImageRequest(header=pb.UploadImageHeader(image_id=image_id, size=size))
    loop = asyncio.get_running_loop()
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while True:
            data = await loop.run_in_executor(None, f.read, CHUNK)
            if not data:
                return
            yield pb.UploadImageRequest(chunk=data)
    finally:
        f.close()


def prepare(work: Path, size: int) -> tuple[Path, Path, str]:
    """The raw image, its qcow2 conversion, and the raw image's sha256."""
    raw = work / "image.raw"
    qcow2 = work / "image.qcow2"
    print(f"making a {size // MiB} MiB image", file=sys.stderr)
    raw_sha = make_image(raw, size)
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True
    )
    return raw, qcow2, raw_sha


async def bench(args: argparse.Namespace, work: Path) -> dict[str, object]:
    size = args.size_mib * MiB
    pg = EmbeddedPostgres(work / "pg", durable=False, die_with_parent=True)
    nats = EmbeddedNats(work / "nats", die_with_parent=True)
    database_url = pg.start()
    nats_url = nats.start()
    private, public = generate_keypair()
    (work / "token.pub").write_bytes(public)
    token, _ = TokenSigner(private).issue(user_id="bench", project_id="bench", roles=["member"])
    metadata = [("authorization", f"Bearer {token}")]
    port = free_port()
    service = ServiceProcess(
        "imagesvc",
        {
            "POLYVISOR_DATABASE_URL": database_url,
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(port),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_STORE_DIR": str(work / "store"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(work / "token.pub"),
            "POLYVISOR_LOG_LEVEL": "INFO",
        },
        log_path=work / "imagesvc.log",
    )
    raw, qcow2, raw_sha = await asyncio.to_thread(prepare, work, size)
    await asyncio.to_thread(warm_memory, work, size)
    sizes = {raw: size, qcow2: (await asyncio.to_thread(qcow2.stat)).st_size}
    await service.start(timeout=60)
    options = [
        ("grpc.max_receive_message_length", 16 * MiB),
        ("grpc.max_send_message_length", 16 * MiB),
    ]
    try:
        async with grpc.aio.insecure_channel(service.address, options=options) as channel:
            stub = svc_grpc.ImageServiceStub(channel)

            async def create(fmt: int) -> str:
                resp = await stub.CreateImage(
                    pb.CreateImageRequest(image=pb.Image(name="bench", disk_format=fmt)),
                    metadata=metadata,
                )
                return resp.image.id

            # Warm the page cache the same way for everyone.
            timed_cat(raw)
            cat_s: list[float] = []
            upload_s: list[float] = []
            download_s: list[float] = []
            service_convert_s: list[float] = []
            plain_convert_s: list[float] = []
            upload_cpu_s: list[float] = []
            download_cpu_s: list[float] = []

            assert service.proc is not None
            pid = service.proc.pid

            async def upload(path: Path, fmt: int) -> tuple[str, float]:
                image_id = await create(fmt)
                cpu = cpu_seconds(pid)
                start = time.perf_counter()
                up = await stub.UploadImage(
                    file_chunks(path, image_id, sizes[path]), metadata=metadata
                )
                seconds = time.perf_counter() - start
                if path == raw:
                    upload_cpu_s.append(cpu_seconds(pid) - cpu)
                assert up.image.status == pb.IMAGE_STATUS_ACTIVE, up.image.status_message
                return up.image.id, seconds

            async def download(image_id: str) -> float:
                h = hashlib.sha256() if args.verify else None
                received = 0
                cpu = cpu_seconds(pid)
                start = time.perf_counter()
                async for message in stub.DownloadImage(
                    pb.DownloadImageRequest(image_id=image_id), metadata=metadata
                ):
                    if message.WhichOneof("payload") == "chunk":
                        received += len(message.chunk)
                        if h is not None:
                            h.update(message.chunk)
                seconds = time.perf_counter() - start
                download_cpu_s.append(cpu_seconds(pid) - cpu)
                assert received == size
                if h is not None:
                    assert h.hexdigest() == raw_sha
                return seconds

            async def convert_through_service(image_id: str) -> float:
                start = time.perf_counter()
                call = stub.DownloadImage(
                    pb.DownloadImageRequest(
                        image_id=image_id,
                        disk_format=disk_pb2.DISK_FORMAT_VMDK,
                        vmware_disktype=disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED,
                    ),
                    metadata=metadata,
                )
                first = await call.read()
                seconds = time.perf_counter() - start
                call.cancel()
                assert first.metadata.rendition.status == pb.RENDITION_STATUS_ACTIVE
                return seconds

            def convert_plain() -> float:
                out = work / "plain.vmdk"
                out.unlink(missing_ok=True)
                start = time.perf_counter()
                subprocess.run(
                    ["qemu-img", "convert", "-f", "qcow2", "-O", "vmdk", "-o",
                     "subformat=streamOptimized,adapter_type=lsilogic", str(qcow2), str(out)],
                    check=True,
                )  # fmt: skip
                return time.perf_counter() - start

            # Interleaved repetitions; the best of each counts (the machine may be shared).
            for i in range(args.repeat):
                print(f"round {i + 1}/{args.repeat}", file=sys.stderr)
                cat_s.append(min(timed_cat(raw) for _ in range(3)))
                raw_id, seconds = await upload(raw, disk_pb2.DISK_FORMAT_RAW)
                upload_s.append(seconds)
                download_s.append(await download(raw_id))
                q_id, _ = await upload(qcow2, disk_pb2.DISK_FORMAT_QCOW2)
                # Alternate which conversion goes first.
                if i % 2:
                    plain_convert_s.append(await asyncio.to_thread(convert_plain))
                service_convert_s.append(await convert_through_service(q_id))
                if not i % 2:
                    plain_convert_s.append(await asyncio.to_thread(convert_plain))
                for image_id in (raw_id, q_id):
                    await stub.DeleteImage(
                        pb.DeleteImageRequest(image_id=image_id), metadata=metadata
                    )
    finally:
        await service.stop()
        nats.stop()
        pg.stop()

    upload_mb_s = mb_s(size, min(upload_s))
    download_mb_s = mb_s(size, min(download_s))
    ratio = round(min(service_convert_s) / min(plain_convert_s), 3)
    return {
        "bench": "image_stream",
        "size_mib": args.size_mib,
        "repeat": args.repeat,
        "upload_mb_s": upload_mb_s,
        "download_mb_s": download_mb_s,
        "baseline_cat_mb_s": mb_s(size, min(cat_s)),
        "convert_service_s": round(min(service_convert_s), 3),
        "convert_qemu_img_s": round(min(plain_convert_s), 3),
        "convert_ratio": ratio,
        "samples": {
            "upload_mb_s": [mb_s(size, s) for s in upload_s],
            "download_mb_s": [mb_s(size, s) for s in download_s],
            "convert_service_s": [round(s, 3) for s in service_convert_s],
            "convert_qemu_img_s": [round(s, 3) for s in plain_convert_s],
            # CPU the service process spent per upload/download: independent of other load.
            "service_cpu_s_upload": [round(s, 2) for s in upload_cpu_s],
            "service_cpu_s_download": [round(s, 2) for s in download_cpu_s],
        },
        "targets": {"stream_mb_s": TARGET_MB_S, "convert_ratio": TARGET_RATIO},
        "meets_targets": {
            "upload": upload_mb_s >= TARGET_MB_S,
            "download": download_mb_s >= TARGET_MB_S,
            "convert": ratio <= TARGET_RATIO,
        },
        "cores": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (best counts)")
    parser.add_argument("--quick", action="store_true", help="a 32 MiB smoke run, one round")
    parser.add_argument("--verify", action="store_true", help="hash the download too")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    if args.quick:
        args.size_mib = 32
        args.repeat = 1
    if not shutil.which("qemu-img"):
        sys.exit("qemu-img is required (Debian package qemu-utils)")
    work = Path(tempfile.mkdtemp(prefix="polyvisor-bench-image-"))
    try:
        result = asyncio.run(bench(args, work))
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
