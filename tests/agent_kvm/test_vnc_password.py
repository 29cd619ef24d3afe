"""No VNC server of a KVM server accepts anyone: a real QEMU under qemu:///system, spoken to
over RFB. A spawned domain's VNC server offers VNC authentication only, with a random
password nobody was told; a console session's password (set live, with an expiry) opens it,
and nothing else does."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from polyvisor.agent_kvm.domain_xml import domain_name
from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, LibvirtDriver
from polyvisor.agentkit.driver import ImageRef, InstanceSpec, LocalImage, RenditionWanted
from tests.agent_kvm.kvm_support import SYSTEM_URI, virsh, virt_type

RFB_NONE, RFB_VNC_AUTH = 1, 2


def _des_key(password: str) -> bytes:
    """VNC authentication's DES key: the password's first 8 bytes, each bit-reversed."""
    raw = password.encode()[:8].ljust(8, b"\0")
    return bytes(int(f"{b:08b}"[::-1], 2) for b in raw)


def rfb_security_types(port: int) -> list[int]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rwb")
        version = f.read(12)
        assert version.startswith(b"RFB 003."), version
        f.write(b"RFB 003.008\n")
        f.flush()
        (count,) = f.read(1)
        return list(f.read(count))


def rfb_login(port: int, password: str) -> bool:
    """True when the VNC server accepts `password` (RFB 3.8, VNC authentication)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rwb")
        f.read(12)
        f.write(b"RFB 003.008\n")
        f.flush()
        (count,) = f.read(1)
        assert RFB_VNC_AUTH in f.read(count)
        f.write(bytes([RFB_VNC_AUTH]))
        f.flush()
        challenge = f.read(16)
        key = _des_key(password)
        encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
        f.write(encryptor.update(challenge) + encryptor.finalize())
        f.flush()
        (result,) = struct.unpack(">I", f.read(4))
        return result == 0


@pytest.fixture
def driver(libvirtd: str, world_dir: Path) -> Iterator[LibvirtDriver]:
    d = LibvirtDriver(
        LibvirtConfig(
            uri=SYSTEM_URI,
            virt_type=virt_type(),
            instances_dir=world_dir / "vnc-instances",
            host_id=f"kvm-vnc-{uuid.uuid4().hex[:8]}",
            vnc_port_range=(5900, 6000),
        )
    )
    d.open()
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


@pytest.fixture
def blank_image(world_dir: Path) -> LocalImage:
    path = world_dir / f"blank-{uuid.uuid4().hex[:6]}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    path.chmod(0o644)
    ref = ImageRef(image_id="blank", disk_format="qcow2")
    return LocalImage(ref, RenditionWanted("qcow2"), path, path.stat().st_size, "0" * 64)


async def test_vnc_accepts_only_the_console_session_password(
    driver: LibvirtDriver, blank_image: LocalImage
) -> None:
    sid = str(uuid.uuid4())
    spec = InstanceSpec(
        server_id=sid,
        name="vnc-1",
        hostname="vnc-1",
        vcpus=1,
        memory_mb=64,
        disk_gb=1,
        image=blank_image,
    )
    instance = await asyncio.to_thread(driver.spawn, spec)
    assert instance.console is not None
    port = instance.console.port

    # The definition carries a password (shown only with --security-info), never "no auth".
    secure = virsh("dumpxml", "--security-info", domain_name(sid))
    assert "passwd='" in secure
    assert "passwd=" not in virsh("dumpxml", domain_name(sid))
    assert await asyncio.to_thread(rfb_security_types, port) == [RFB_VNC_AUTH]
    assert RFB_NONE not in await asyncio.to_thread(rfb_security_types, port)
    assert not await asyncio.to_thread(rfb_login, port, "")
    assert not await asyncio.to_thread(rfb_login, port, "password")

    # A console session: its password opens the console, for as long as it is valid.
    await asyncio.to_thread(driver.set_console_password, sid, "s3ss1on!", 120)
    assert await asyncio.to_thread(rfb_login, port, "s3ss1on!")
    assert not await asyncio.to_thread(rfb_login, port, "s3ss1on?")
    # An expired session's password opens nothing.
    await asyncio.to_thread(driver.set_console_password, sid, "0ld-one!", -1)
    assert not await asyncio.to_thread(rfb_login, port, "0ld-one!")

    await asyncio.to_thread(driver.destroy, sid)
