"""Volume create+attach per second through the volume service, per backend, beside the bare
backend call in the same run.

    .venv/bin/python bench/volume/run.py [--count 50]

Starts PostgreSQL, NATS and the volume service (`python -m polyvisor.volumesvc`, a real
process, backend `file`) on loopback, then measures, sequentially, `count` of each:

- `file`: CreateVolume (1 GiB qcow2: the row, the quota check, qemu-img create, the event)
  then the attach bookkeeping the api does (ReserveVolume, CompleteAttachment), as the api's
  service identity; the host's hot-plug itself is not in it (tests/agent_kvm/test_volumes.py
  does a real one);
- the baseline: bare `qemu-img create -f qcow2` of the same size.

The last line printed is one JSON object with the figures. The vmdk and rbd backends add
their rows here when they land (CreateVirtualDisk, rbd create).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from polyvisor.common.auth import TokenSigner, generate_keypair  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.volume.v1 import volume_service_pb2 as pb  # noqa: E402
from polyvisor.volume.v1 import volume_service_pb2_grpc as svc_grpc  # noqa: E402
from polyvisor.volume.v1 import volumes_pb2 as vpb  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402


def bare_qemu_img(work: Path, count: int) -> float:
    d = work / "bare"
    d.mkdir()
    start = time.perf_counter()
    for i in range(count):
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(d / f"{i}.qcow2"), str(1 << 30)],
            check=True,
        )
    return count / (time.perf_counter() - start)


async def bench(count: int, work: Path) -> dict[str, object]:
    pg = EmbeddedPostgres(work / "pg", durable=False, die_with_parent=True)
    nats = EmbeddedNats(work / "nats", die_with_parent=True)
    database_url, nats_url = pg.start(), nats.start()
    private, public = generate_keypair()
    (work / "token.pub").write_bytes(public)
    signer = TokenSigner(private)
    user, _ = signer.issue(user_id="bench", project_id="bench", roles=["member"])
    api, _ = signer.issue(user_id="polyvisor-api", project_id="", roles=[], kind="service")
    as_user = [("authorization", f"Bearer {user}")]
    as_api = [("authorization", f"Bearer {api}")]
    service = ServiceProcess(
        "volumesvc",
        {
            "POLYVISOR_DATABASE_URL": database_url,
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(free_port()),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(work / "token.pub"),
            "POLYVISOR_VOLUME_BACKENDS": json.dumps(
                {"file": {"kind": "file", "directory": str(work / "volumes")}}
            ),
            "POLYVISOR_VOLUME_QUOTA_VOLUMES": "-1",
            "POLYVISOR_VOLUME_QUOTA_GIGABYTES": "-1",
            "POLYVISOR_LOG_LEVEL": "WARNING",
        },
        log_path=work / "volumesvc.log",
    )
    await service.start(timeout=60)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = svc_grpc.VolumeServiceStub(channel)
            start = time.perf_counter()
            for _ in range(count):
                vol = (
                    await stub.CreateVolume(
                        pb.CreateVolumeRequest(volume=vpb.Volume(size_gb=1)), metadata=as_user
                    )
                ).volume
                server = str(uuid.uuid4())
                await stub.ReserveVolume(
                    pb.ReserveVolumeRequest(
                        volume_id=vol.id, server_id=server, project_id="bench",
                        host="bench-host", hypervisor_type="kvm",
                    ),
                    metadata=as_api,
                )  # fmt: skip
                await stub.CompleteAttachment(
                    pb.CompleteAttachmentRequest(volume_id=vol.id, server_id=server),
                    metadata=as_api,
                )
            service_rate = count / (time.perf_counter() - start)
    finally:
        await service.stop()
        nats.stop()
        pg.stop()
    bare = await asyncio.to_thread(bare_qemu_img, work, count)
    return {
        "count": count,
        "file_create_attach_per_s": round(service_rate, 1),
        "bare_qemu_img_create_per_s": round(bare, 1),
        "ratio": round(service_rate / bare, 2) if bare else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-volume-") as tmp:
        result = asyncio.run(bench(args.count, Path(tmp)))
    print(
        f"file backend: {result['file_create_attach_per_s']} create+attach/s through the"
        f" volume service; bare qemu-img create: {result['bare_qemu_img_create_per_s']}/s"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
