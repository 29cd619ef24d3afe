"""The host tools the data plane drives (iproute2, nftables, dnsmasq), as async subprocesses.

Nothing here blocks the event loop: each command is an ``asyncio`` subprocess. A failure is a
``NetError`` carrying the command and what it printed, never a bare CalledProcessError.
"""

from __future__ import annotations

import asyncio
import shutil

from polyvisor.agentkit.driver import DriverError

__all__ = ["NetError", "run", "tool"]


class NetError(DriverError):
    """A host network change failed; the message names the command and its error."""


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        package = {"nft": "nftables", "dnsmasq": "dnsmasq-base", "ip": "iproute2"}.get(name, name)
        raise NetError(f"{name} is missing on this host: install the Debian package {package}")
    return path


async def run(*argv: str, stdin: bytes | None = None, check: bool = True) -> tuple[int, str]:
    """Run ``argv``; its exit code and output (stdout then stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            tool(argv[0]),
            *argv[1:],
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise NetError(f"cannot run {argv[0]}: {exc}") from exc
    out, err = await proc.communicate(stdin)
    text = (out + err).decode(errors="replace").strip()
    code = proc.returncode if proc.returncode is not None else -1
    if check and code != 0:
        raise NetError(f"{' '.join(argv)}: {text or f'exit {code}'}")
    return code, text
