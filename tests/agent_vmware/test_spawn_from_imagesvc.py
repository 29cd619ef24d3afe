"""A qcow2 image in the real image service becomes a VM on a vCenter cluster (vcsim).

The image service and the VMware agent run as processes, the way a user starts them; the
agent asks imagesvc for the streamOptimized VMDK rendition (qemu-img converts the qcow2 on
demand), expands it onto the datastore and creates the VM. Commands and events go over NATS.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from pyVmomi import vim
from vmware_agents import agent_env, agent_process
from vmware_fixtures import Direct, datastore_dir

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.agent_vmware.guestinfo import decode
from polyvisor.agentkit.testing import (
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2
from tests.fixtures.vcsim import Vcsim
from tests.support.auth import grant_image
from tests.support.services import ServiceProcess, free_port

pytestmark = pytest.mark.slow

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk7 operator@example"


async def upload_qcow2(address: str, token: str, data: bytes) -> images_pb2.Image:
    meta = [("authorization", f"Bearer {token}")]
    async with grpc.aio.insecure_channel(address) as channel:
        stub = image_service_pb2_grpc.ImageServiceStub(channel)
        created = await stub.CreateImage(
            images_pb2.CreateImageRequest(
                image=images_pb2.Image(
                    name="cirros-like",
                    disk_format=disk_pb2.DISK_FORMAT_QCOW2,
                    container_format=disk_pb2.CONTAINER_FORMAT_BARE,
                    vmware_adaptertype=disk_pb2.VMWARE_ADAPTER_TYPE_PARA_VIRTUAL,
                    os_type="linux",
                    architecture="x86_64",
                )
            ),
            metadata=meta,
        )
        image_id = created.image.id

        async def body() -> AsyncIterator[images_pb2.UploadImageRequest]:
            yield images_pb2.UploadImageRequest(
                header=images_pb2.UploadImageHeader(image_id=image_id, size=len(data))
            )
            for i in range(0, len(data), 1 << 20):
                yield images_pb2.UploadImageRequest(chunk=data[i : i + (1 << 20)])

        done = await stub.UploadImage(body(), metadata=meta)
        assert done.image.status == images_pb2.IMAGE_STATUS_ACTIVE, done.image.status_message
        return done.image


async def test_qcow2_image_boots_on_the_cluster(
    fresh_db: str, nats_url: str, vcsim: Vcsim, images: dict[str, Path], tmp_path: Path
) -> None:
    endpoint = vcsim.endpoint
    assert endpoint is not None
    private, public = generate_keypair()
    (tmp_path / "token.pub").write_bytes(public)
    signer = TokenSigner(private)
    user_token, _ = signer.issue(user_id="u1", project_id="p1", roles=["member"])

    imagesvc_port = free_port()
    imagesvc = ServiceProcess(
        "imagesvc",
        {
            "POLYVISOR_DATABASE_URL": fresh_db,
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(imagesvc_port),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_STORE_DIR": str(tmp_path / "store"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(tmp_path / "token.pub"),
        },
        log_path=tmp_path / "imagesvc.log",
    )
    direct = Direct(endpoint)
    cluster = direct.cluster("DC0_C1")
    host = f"{direct.content.about.instanceUuid}:{cluster._moId}"  # the default host id
    agent_token, _ = signer.issue(
        user_id=f"agent:{host}", project_id="", roles=[], kind="agent", host=host
    )
    bus = await Bus.connect([nats_url], name="imagesvc-spawn-test")
    events = await EventTap.start(bus, host)
    reports = await bus.subscribe(f"hosts.report.{subject_token(host)}")
    agent: ServiceProcess | None = None
    try:
        await imagesvc.start(timeout=60)
        image = await upload_qcow2(imagesvc.address, user_token, images["qcow2"].read_bytes())

        async with AgentTestServers(ImageStore(), AssignmentBoard()) as callback:
            env = agent_env(
                endpoint=endpoint, nats_url=nats_url, root=tmp_path, server_id="vmw-1",
                host_id="", folder="polyvisor", services_address=callback.address,
                token=agent_token, cluster="DC0_C1",
            )  # fmt: skip
            env.pop("POLYVISOR_HOST_ID")  # derived from vCenter
            env["POLYVISOR_IMAGESVC_ADDRESS"] = imagesvc.address
            agent = agent_process(env, tmp_path / "agent.log")
            await agent.start(timeout=60)

            # The cluster is reported as one VMware host, with its ESXi hosts.
            async with asyncio.timeout(30):
                report = host_report_pb2.HostReport()
                report.ParseFromString((await reports.next(timeout=30)).data)
            assert report.host_id == host
            assert report.hypervisor_type == hypervisor_pb2.HYPERVISOR_TYPE_VMWARE
            assert report.cluster.name == "DC0_C1" and len(report.cluster.hosts) == 3
            assert report.disk_formats[0] == disk_pb2.Rendition(
                disk_format=disk_pb2.DISK_FORMAT_VMDK,
                vmware_disktype=disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED,
            )
            assert report.state == host_report_pb2.CONNECTION_STATE_CONNECTED

            sid = str(uuid.uuid4())
            # The rendition the scheduler picks for a qcow2 image on this cluster.
            cmd = agent_command(host, sid, 1, "spawn", image_id=image.id, disk_format="vmdk",
                                vmware_disktype="streamOptimized", vcpus=1, memory_mb=128, disk_gb=1, name="web-1",
                                public_keys=(KEY,), user_data=b"#cloud-config\n")  # fmt: skip
            cmd.spawn.image.vmware_adaptertype = disk_pb2.VMWARE_ADAPTER_TYPE_PARA_VIRTUAL
            subject = f"agent.{subject_token(host)}.cmd"
            await grant_image(bus, host, image.id)  # as the api does before a spawn
            await bus.publish(subject, cmd)
            spawned = await events.first("SPAWNED", sid, timeout=120)

            vm = direct.vm_by_tag(sid)
            assert vm is not None
            assert vm.runtime.powerState == "poweredOn"
            assert vm.runtime.host in list(cluster.host)
            assert spawned.esxi_host == vm.runtime.host.name
            disks = [
                d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)
            ]
            ctrl = next(d for d in vm.config.hardware.device if d.key == disks[0].controllerKey)
            assert isinstance(ctrl, vim.vm.device.ParaVirtualSCSIController)
            extra = Direct.extra(vm)
            meta = json.loads(
                decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"])
            )
            assert KEY in meta["public-keys-data"]
            assert decode(extra["guestinfo.userdata"], extra["guestinfo.userdata.encoding"]) == (
                b"#cloud-config\n"
            )
            # qcow2 -> streamOptimized (imagesvc) -> flat extent (agent): the same disk.
            flat = (datastore_dir(vcsim.data_dir) / sid / f"{sid}-flat.vmdk").read_bytes()
            raw = images["raw"].read_bytes()
            assert flat[: len(raw)] == raw and not any(flat[len(raw) :])

            await bus.publish(subject, agent_command(host, sid, 2, "power_off"))
            await events.first("POWERED_OFF", sid)
            assert vm.runtime.powerState == "poweredOff"
            await bus.publish(subject, agent_command(host, sid, 3, "destroy"))
            await events.first("DESTROYED", sid)
            assert direct.vm_by_tag(sid) is None
            assert not (datastore_dir(vcsim.data_dir) / sid).exists()
            assert await agent.stop() == 0
    finally:
        await reports.unsubscribe()
        await events.close()
        if agent is not None:
            await agent.stop()
        await imagesvc.stop()
        await bus.close()
        direct.close()
