"""What a host can do is its agent's word: the rendition its spawn command names and whether
a server that needs key injection may land there come from the host's report through the
scheduler, never from a guess by hypervisor type in the api. Real api, scheduler and image
service; fake agents reporting what the real ones report."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from polyvisor.compute.v1 import flavors_pb2, keypairs_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2, fault_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, wait_hosts

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJr3R8DoS1cqKlPH0bkkpvFnQ3gG+Wz9cHSvhbwJ5Qxr t"


@dataclass
class Env:
    admin: Client
    copy_agent: FakeAgentProcess
    vmware_agent: FakeAgentProcess
    qcow2: images_pb2.Image

    def spawns(self, agent: FakeAgentProcess, server_id: str) -> list[dict]:  # type: ignore[type-arg]
        return [c for c in agent.commands() if c["server_id"] == server_id and c["verb"] == "spawn"]


def _qcow2_boot_disk(root: Path) -> bytes:
    raw = root / "boot.raw"
    raw.write_bytes(bytes(510) + b"\x55\xaa" + bytes(1024 * 1024 - 512))
    out = root / "boot.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)], check=True
    )
    return out.read_bytes()


@pytest.fixture(scope="module")
async def env(stack: Stack, module_root: Path) -> Env:
    # A KVM host in copy disk mode (POLYVISOR_DISK_MODE=copy) boots raw renditions only; a
    # VMware cluster that cannot inject SSH keys.
    copy_agent = await stack.start_agent("kvm-copy", disk_mode="copy")
    vmware_agent = await stack.start_agent(
        "vmw-nokeys", hypervisor_type="vmware", key_injection="0"
    )
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="small", name="small", vcpus=1, ram_mb=512, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    await admin.compute.ImportKeypair(
        keypairs_pb2.ImportKeypairRequest(name="k", public_key=KEY), metadata=admin.md
    )
    qcow2 = await admin.upload_image(
        "qcow2-boot", disk_format=disk_pb2.DISK_FORMAT_QCOW2, data=_qcow2_boot_disk(module_root)
    )
    await wait_hosts(admin, "kvm-copy", "vmw-nokeys")
    return Env(admin, copy_agent, vmware_agent, qcow2)


async def test_copy_mode_host_gets_the_raw_rendition_not_the_qcow2_sha(env: Env) -> None:
    """The api once chose the rendition by hypervisor type: qcow2 for any KVM host, with the
    qcow2's sha256, which a host in copy mode (raw only) cannot boot."""
    c = env.admin
    qcow2_sha = {r.disk_format: r.sha256 for r in env.qcow2.renditions}[disk_pb2.DISK_FORMAT_QCOW2]
    assert qcow2_sha
    s = await c.create_server(
        "copy", env.qcow2.id, "small", scheduler_hints={"hypervisor_type": "kvm"}
    )
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert s.state == st.SERVER_STATE_ACTIVE, s.fault.message
    (spawn,) = env.spawns(env.copy_agent, s.id)
    assert spawn["disk_format"] == "DISK_FORMAT_RAW"
    assert spawn["sha256"] != qcow2_sha


async def test_vmware_host_gets_a_stream_optimized_vmdk(env: Env) -> None:
    c = env.admin
    s = await c.create_server(
        "vmw", env.qcow2.id, "small", scheduler_hints={"hypervisor_type": "vmware"}
    )
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert s.state == st.SERVER_STATE_ACTIVE, s.fault.message
    (spawn,) = env.spawns(env.vmware_agent, s.id)
    assert spawn["disk_format"] == "DISK_FORMAT_VMDK"
    assert spawn["vmware_disktype"] == "VMWARE_DISK_TYPE_STREAM_OPTIMIZED"


async def test_key_injection_is_the_hosts_word_and_the_scheduler_explains(env: Env) -> None:
    c = env.admin
    # Accepted at once: no host list is read while the caller waits.
    s = await c.create_server(
        "nokeys", env.qcow2.id, "small", key_name="k",
        scheduler_hints={"hypervisor_type": "vmware"},
    )  # fmt: skip
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert s.state == st.SERVER_STATE_ERROR
    assert s.fault.code == fault_pb2.FAULT_CODE_NO_VALID_HOST
    assert "cannot inject SSH keys" in s.fault.message, s.fault.message
    assert not env.spawns(env.vmware_agent, s.id)
    # The KVM host injects keys: the same request without the hint lands there.
    s = await c.create_server("keys", env.qcow2.id, "small", key_name="k")
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert s.state == st.SERVER_STATE_ACTIVE and s.host == "kvm-copy", s.fault.message
    (spawn,) = env.spawns(env.copy_agent, s.id)
    assert spawn["public_keys"] == [KEY]
