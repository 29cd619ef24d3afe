"""Volume create+attach per second through the volume service, per backend, beside the bare
backend call in the same run.

    .venv/bin/python bench/volume/run.py [--count 50] [--no-ceph] [--no-vmdk]

Starts PostgreSQL, NATS and the volume service (`python -m polyvisor.volumesvc`, a real
process) on loopback with a `file` backend, unless `--no-ceph` (or Ceph is not installed)
an `rbd` backend on a one-node Ceph (tests/fixtures/ceph.py), and unless `--no-vmdk` a `vmdk`
backend on vcsim (tests/fixtures/vcsim); then measures, sequentially, `count` of each:

- per backend: CreateVolume (1 GiB: the row, the quota check, the backend's create, the
  event) then the attach bookkeeping the api does (ReserveVolume, CompleteAttachment), as the
  api's service identity; the host's hot-plug itself is not in it (tests/agent_kvm/
  test_volumes.py does a real one for file, tests/ceph for rbd);
- the bare backend call of the same size: `qemu-img create -f qcow2` (file), `rbd create`
  (rbd);
- `vmdk` (vmdk_rows.py): CreateVolume (CreateVirtualDisk_Task on the datastore),
  ReserveVolume, the VMware agent's attach verb (its driver, in this process: the VM's
  devices read, a controller slot picked, ReconfigVM adding the disk and its record) on one
  of the agent's VMs, CompleteAttachment; beside bare pyvmomi CreateVirtualDisk_Task +
  ReconfigVM adding that disk at a slot the loop counts itself, on VMs made by hand. Both
  sides spread their disks over ceil(count/14) VMs and run in halves interleaved A B B A.

The last line printed is one JSON object with the figures, one row per backend.
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
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "services" / "agent_vmware" / "tests"))  # vmware_fixtures

import grpc  # noqa: E402
from vmdk_rows import VmdkSides, vmdk_rates  # noqa: E402  (bench/volume/vmdk_rows.py)

from polyvisor.common.auth import TokenSigner, generate_keypair  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.volume.v1 import volume_service_pb2 as pb  # noqa: E402
from polyvisor.volume.v1 import volume_service_pb2_grpc as svc_grpc  # noqa: E402
from polyvisor.volume.v1 import volumes_pb2 as vpb  # noqa: E402
from tests.fixtures.ceph import CephCluster, ceph_unavailable  # noqa: E402
from tests.fixtures.vcsim import Vcsim  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

Metadata = tuple[list[tuple[str, str]], list[tuple[str, str]]]


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


def bare_rbd(cluster: CephCluster, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        cluster.rbd("create", "--size", "1G", f"{cluster.pool}/bare-{i}")
    return count / (time.perf_counter() - start)


async def through_service(
    stub: svc_grpc.VolumeServiceStub, count: int, volume_type: str, metadata: Metadata
) -> float:
    """Create `count` 1 GiB volumes of `volume_type` and do the api's attach bookkeeping."""
    as_user, as_api = metadata
    start = time.perf_counter()
    for _ in range(count):
        vol = (
            await stub.CreateVolume(
                pb.CreateVolumeRequest(volume=vpb.Volume(size_gb=1, volume_type=volume_type)),
                metadata=as_user,
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
    return count / (time.perf_counter() - start)


def start_ceph(work: Path, wanted: bool) -> CephCluster | None:
    if not wanted or (reason := ceph_unavailable()) is not None:
        if wanted:
            print(f"rbd row skipped: {reason}")
        return None
    cluster = CephCluster(work / "ceph", die_with_parent=True)
    t = time.perf_counter()
    cluster.start()
    print(f"ceph: one mon, one mgr, one OSD up in {time.perf_counter() - t:.1f} s")
    return cluster


async def bench(count: int, work: Path, ceph: bool, vmdk: bool) -> dict[str, object]:
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
    cluster = start_ceph(work, ceph)
    backends: dict[str, dict[str, str]] = {
        "file": {"kind": "file", "directory": str(work / "volumes")}
    }
    if cluster is not None:
        backends["rbd"] = {
            "kind": "rbd", "conf": str(cluster.conf), "keyring": str(cluster.keyring),
            "pool": cluster.pool, "monitors": cluster.mon_v1, "secret_uuid": str(uuid.uuid4()),
        }  # fmt: skip
    vcsim = Vcsim(work / "vcsim", die_with_parent=True) if vmdk else None
    sides: VmdkSides | None = None
    if vcsim is not None:
        vc = vcsim.start()
        backends["vmdk"] = {
            "kind": "vmdk", "url": vc.url, "user": vc.username, "password": vc.password,
            "datastore_regex": "^LocalDS_0$", "hypervisor_types": "vmware",
        }  # fmt: skip
        sides = VmdkSides(vc, work, count)
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
            "POLYVISOR_VOLUME_BACKENDS": json.dumps(backends),
            "POLYVISOR_VOLUME_QUOTA_VOLUMES": "-1",
            "POLYVISOR_VOLUME_QUOTA_GIGABYTES": "-1",
            "POLYVISOR_LOG_LEVEL": "WARNING",
        },
        log_path=work / "volumesvc.log",
    )
    rows: dict[str, dict[str, float]] = {}
    try:
        await service.start(timeout=60)
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = svc_grpc.VolumeServiceStub(channel)
            for name in backends:
                if name == "vmdk":
                    continue  # its own loop: attached by the VMware agent's driver
                rows[name] = {
                    "create_attach_per_s": await through_service(
                        stub, count, name, (as_user, as_api)
                    )
                }
            if sides is not None:
                await asyncio.to_thread(sides.prepare)
                through, bare = await vmdk_rates(sides, stub, as_user, as_api, count)
                rows["vmdk"] = {"create_attach_per_s": through, "bare_per_s": bare}
        await service.stop()
        rows["file"]["bare_per_s"] = await asyncio.to_thread(bare_qemu_img, work, count)
        if cluster is not None:
            rows["rbd"]["bare_per_s"] = await asyncio.to_thread(bare_rbd, cluster, count)
    finally:
        if sides is not None:
            await asyncio.to_thread(sides.close)
        await service.stop()
        if vcsim is not None:
            vcsim.stop()
        nats.stop()
        pg.stop()
        if cluster is not None:
            cluster.stop(remove=True)
    for row in rows.values():
        row["ratio"] = row["create_attach_per_s"] / row["bare_per_s"]
        for k, v in row.items():
            row[k] = round(v, 2 if k == "ratio" else 1)
    return {"count": count, "backends": rows}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--no-ceph", action="store_true", help="skip the rbd row")
    parser.add_argument("--no-vmdk", action="store_true", help="skip the vmdk row (vcsim)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-volume-") as tmp:
        result = asyncio.run(
            bench(args.count, Path(tmp), ceph=not args.no_ceph, vmdk=not args.no_vmdk)
        )
    bare_call = {
        "file": "qemu-img create",
        "rbd": "rbd create",
        "vmdk": "CreateVirtualDisk_Task + ReconfigVM",
    }
    via = {"vmdk": "the volume service and the VMware agent's driver (vcsim)"}
    rows: Any = result["backends"]
    for name, row in rows.items():
        print(
            f"{name}: {row['create_attach_per_s']} create+attach/s through"
            f" {via.get(name, 'the volume service')};"
            f" bare {bare_call.get(name, name)}: {row['bare_per_s']}/s"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
