"""The console proxy against a real QEMU under qemu:///system: it logs in to the server's VNC
with the session's password and gives the WebSocket client an RFB session that needs none;
a token it cannot redeem, or a password the VNC server refuses, opens nothing.

The api's side (tokens redeemed once, for their server and user, before expiry) is tested in
tests/api/test_console_tokens.py; here a `Redeemer` hands out sessions from a table, once
each, as the api does."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, LibvirtDriver
from polyvisor.agentkit.driver import ImageRef, InstanceSpec, LocalImage, RenditionWanted
from polyvisor.common.errors import PermissionDenied, Unauthenticated
from polyvisor.console.clients import Session
from polyvisor.console.proxy import ConsoleProxy, make_app
from polyvisor.console.rfb import RFB_VNC_AUTH, des_response
from tests.agent_kvm.kvm_support import SYSTEM_URI, virt_type
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd
from tests.fixtures.screen_boot import screen_boot_sector


class Redeemer:
    """Sessions by token, each handed out once (what RedeemConsoleToken does)."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    async def redeem(self, token: str, server_id: str, user_token: str = "") -> Session:
        s = self.sessions.pop(token, None)
        if s is None:
            raise Unauthenticated("this console token is unknown, used or expired")
        if s.server_id != server_id:
            raise PermissionDenied("this console token is for another server")
        return s


@pytest.fixture(scope="module")
def libvirtd() -> str:
    try:
        return ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"real VMs need root or a running libvirtd: {exc}")
        raise


@pytest.fixture(scope="module")
def world(libvirtd: str) -> Iterator[Path]:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="polyvisor-console-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def guest(world: Path) -> Iterator[tuple[LibvirtDriver, str, int]]:
    raw = world / "screen.raw"
    raw.write_bytes(screen_boot_sector().ljust(1 << 20, b"\0"))
    disk = world / "screen.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(disk)], check=True)
    disk.chmod(0o644)
    ref = ImageRef(image_id="screen", disk_format="qcow2")
    image = LocalImage(ref, RenditionWanted("qcow2"), disk, disk.stat().st_size, "0" * 64)
    d = LibvirtDriver(
        LibvirtConfig(
            uri=SYSTEM_URI,
            virt_type=virt_type(),
            instances_dir=world / "instances",
            host_id=f"kvm-console-{uuid.uuid4().hex[:8]}",
            vnc_port_range=(5900, 6000),
        )
    )
    d.open()
    sid = str(uuid.uuid4())
    try:
        inst = d.spawn(
            InstanceSpec(
                server_id=sid, name="con-1", hostname="con-1", vcpus=1, memory_mb=64,
                disk_gb=1, image=image,
            )
        )  # fmt: skip
        assert inst.console is not None
        yield d, sid, inst.console.port
    finally:
        for i in d.list_instances():
            d.destroy(i.server_id)
        d.close()


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[Redeemer, str]]:
    redeemer = Redeemer()
    app = make_app(ConsoleProxy(redeemer, login_wait_s=3.0))  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield redeemer, f"ws://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_des_response_is_vnc_authentication() -> None:
    # The VNC authentication answer for password "password" and an all-zero challenge, as
    # every VNC server computes it (bit-reversed key bytes, DES-ECB).
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    key = bytes(int(f"{b:08b}"[::-1], 2) for b in b"password")
    enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    challenge = bytes(range(16))
    assert des_response("password", challenge) == enc.update(challenge) + enc.finalize()
    assert des_response("pass", challenge) != des_response("password", challenge)


class RfbClient:
    """RFB as a browser speaks it over the proxy's WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.buf = bytearray()

    async def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            msg = await asyncio.wait_for(self.ws.receive(), 30)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            self.buf.extend(msg.data)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def handshake(self) -> None:
        assert (await self.read(12)).startswith(b"RFB 003.")
        await self.ws.send_bytes(b"RFB 003.008\n")
        (count,) = await self.read(1)
        types = await self.read(count)
        assert list(types) == [1]  # None: the browser never needs the password
        await self.ws.send_bytes(b"\x01")
        assert struct.unpack(">I", await self.read(4)) == (0,)
        await self.ws.send_bytes(b"\x01")  # ClientInit, shared
        self.width, self.height = struct.unpack(">HH", await self.read(4))
        fmt = await self.read(16)
        (self.bpp, _depth, self.big, _tc, rmax, gmax, bmax, rsh, gsh, bsh) = struct.unpack(
            ">BBBBHHHBBB", fmt[:13]
        )
        self.channels = ((rmax, rsh), (gmax, gsh), (bmax, bsh))
        (n,) = struct.unpack(">I", await self.read(4))
        self.name = await self.read(n)

    async def screen_red_pixels(self) -> int:
        """Ask for the whole screen (raw encoding) and count its strongly red pixels."""
        await self.ws.send_bytes(struct.pack(">BBHHHH", 3, 0, 0, 0, self.width, self.height))
        while True:
            kind = (await self.read(1))[0]
            if kind == 0:
                break
            assert kind == 2, kind  # Bell; nothing else comes unasked
        await self.read(1)
        (rects,) = struct.unpack(">H", await self.read(2))
        size = self.bpp // 8
        red = 0
        for _ in range(rects):
            _x, _y, w, h, enc = struct.unpack(">HHHHi", await self.read(12))
            if enc != 0:  # pseudo-encodings carry no pixels here
                continue
            data = await self.read(w * h * size)
            order = "big" if self.big else "little"
            for i in range(0, len(data), size):
                v = int.from_bytes(data[i : i + size], order)
                r, g, b = ((v >> sh) & mx for mx, sh in self.channels)
                (rmax, _), (gmax, _), (bmax, _) = self.channels
                if r > rmax * 0.5 and g < gmax * 0.3 and b < bmax * 0.3:
                    red += 1
        return red


async def test_the_proxy_logs_in_with_the_session_password(
    guest: tuple[LibvirtDriver, str, int], proxy: tuple[Redeemer, str]
) -> None:
    driver, sid, port = guest
    redeemer, base = proxy
    password = "Pr0xy0k1"
    redeemer.sessions["t1"] = Session(sid, "u1", "127.0.0.1", port, password)
    # The agent sets it a moment after the api answered: the proxy waits for it.
    loop = asyncio.get_running_loop()
    loop.call_later(0.5, driver.set_console_password, sid, password, 60)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"{base}/websockify?server_id={sid}&token=t1", protocols=("binary",)
        ) as ws:
            rfb = RfbClient(ws)
            await rfb.handshake()
            assert rfb.width > 0 and rfb.height > 0
            # The guest's line, white on red, shows on the framebuffer read through the proxy
            # (once SeaBIOS has handed over to the boot sector).
            deadline = loop.time() + 90
            red = await rfb.screen_red_pixels()
            while red < 1000 and loop.time() < deadline:
                await asyncio.sleep(0.5)
                red = await rfb.screen_red_pixels()
            assert red >= 1000, red
        # Once only.
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await http.ws_connect(f"{base}/websockify?server_id={sid}&token=t1")
        assert exc.value.status == 401
        # Another server's token.
        redeemer.sessions["t2"] = Session("other", "u1", "127.0.0.1", port, password)
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await http.ws_connect(f"{base}/websockify?server_id={sid}&token=t2")
        assert exc.value.status == 403


async def test_a_refused_password_opens_nothing(
    guest: tuple[LibvirtDriver, str, int], proxy: tuple[Redeemer, str]
) -> None:
    driver, sid, port = guest
    redeemer, base = proxy
    await asyncio.to_thread(driver.set_console_password, sid, "Right123", 60)
    redeemer.sessions["t3"] = Session(sid, "u1", "127.0.0.1", port, "Wrong123")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await http.ws_connect(f"{base}/websockify?server_id={sid}&token=t3")
        assert exc.value.status == 502


def test_the_vnc_server_refuses_a_client_without_the_password(
    guest: tuple[LibvirtDriver, str, int],
) -> None:
    """What bypassing the proxy gets: VNC authentication only, and no way in without the
    session's password."""
    driver, sid, port = guest
    driver.set_console_password(sid, "Right456", 60)
    for password in ("", "Right45", "guess"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rwb")
            f.read(12)
            f.write(b"RFB 003.008\n")
            f.flush()
            (count,) = f.read(1)
            assert list(f.read(count)) == [RFB_VNC_AUTH]
            f.write(bytes([RFB_VNC_AUTH]))
            f.flush()
            f.write(des_response(password, f.read(16)))
            f.flush()
            assert struct.unpack(">I", f.read(4)) != (0,)
