"""RFB (the VNC protocol), the little of it the proxy speaks itself.

Toward the hypervisor the proxy is the client and logs in with VNC authentication (the
session's password, DES over the server's challenge); toward the browser it is the server
and offers no authentication (the browser has already shown a single-use token, and never
learns the password). After both handshakes it relays bytes unchanged: the browser's
ClientInit goes straight to the hypervisor.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

__all__ = [
    "RFB_NONE",
    "RFB_VNC_AUTH",
    "RfbError",
    "VncRefused",
    "des_response",
    "serve_no_auth",
    "vnc_login",
]

RFB_NONE = 1
RFB_VNC_AUTH = 2
VERSION_38 = b"RFB 003.008\n"


class RfbError(Exception):
    """The peer does not speak RFB as expected."""


class VncRefused(RfbError):
    """The VNC server refused the password."""


def des_key(password: str) -> bytes:
    """VNC authentication's DES key: the password's first 8 bytes, each bit-reversed."""
    raw = password.encode()[:8].ljust(8, b"\0")
    return bytes(int(f"{b:08b}"[::-1], 2) for b in raw)


def des_response(password: str, challenge: bytes) -> bytes:
    """The answer to a 16-byte VNC authentication challenge (single DES, ECB: the key
    repeated three times makes TripleDES single DES)."""
    if len(challenge) != 16:
        raise RfbError("a VNC challenge is 16 bytes")
    enc = Cipher(TripleDES(des_key(password) * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


async def _reason(reader: asyncio.StreamReader) -> str:
    (n,) = struct.unpack(">I", await reader.readexactly(4))
    return (await reader.readexactly(min(n, 4096))).decode(errors="replace")


async def vnc_login(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, password: str
) -> None:
    """Log in to a VNC server as RFB 3.8 with VNC authentication; VncRefused when the
    password is refused. A server that offers no VNC authentication is refused too: the
    proxy never relays to a console that accepts anyone."""
    try:
        version = await reader.readexactly(12)
        if not version.startswith(b"RFB 003."):
            raise RfbError(f"not a VNC server (greeting {version!r})")
        writer.write(VERSION_38)
        await writer.drain()
        (count,) = await reader.readexactly(1)
        if count == 0:
            raise RfbError(f"the VNC server refused the connection: {await _reason(reader)}")
        types = await reader.readexactly(count)
        if RFB_VNC_AUTH not in types:
            raise RfbError(f"the VNC server offers no VNC authentication (types {list(types)})")
        writer.write(bytes([RFB_VNC_AUTH]))
        await writer.drain()
        challenge = await reader.readexactly(16)
        writer.write(des_response(password, challenge))
        await writer.drain()
        (result,) = struct.unpack(">I", await reader.readexactly(4))
    except asyncio.IncompleteReadError as e:
        raise RfbError("the VNC server closed the connection during the handshake") from e
    if result != 0:
        raise VncRefused("the VNC server refused the session's password")


async def serve_no_auth(
    read: Callable[[int], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]]
) -> None:
    """The server side of the handshake toward the browser: RFB 3.8 (or 3.7, 3.3), security
    type None. `read(n)` returns exactly n bytes from the client."""
    await write(VERSION_38)
    version = await read(12)
    if not version.startswith(b"RFB 003."):
        raise RfbError(f"not an RFB client (greeting {version!r})")
    minor = int(version[8:11]) if version[8:11].isdigit() else 0
    if minor < 7:  # 3.3: the server picks the type
        await write(struct.pack(">I", RFB_NONE))
        return
    await write(bytes([1, RFB_NONE]))
    (choice,) = await read(1)
    if choice != RFB_NONE:
        raise RfbError(f"the client chose security type {choice}, not None")
    if minor >= 8:
        await write(struct.pack(">I", 0))
