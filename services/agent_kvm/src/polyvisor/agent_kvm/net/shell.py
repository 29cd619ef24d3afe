"""The host tools the data plane drives (iproute2, nftables, dnsmasq), as async subprocesses.

Nothing here blocks the event loop: each command runs through polyvisor.common.procs (vfork on a
worker thread, never a fork of this gRPC process). A failure is a
``NetError`` carrying the command and what it printed, never a bare CalledProcessError.
"""

from __future__ import annotations

import shutil

from polyvisor.agentkit.driver import DriverError
from polyvisor.common.procs import run_process

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
        done = await run_process([tool(argv[0]), *argv[1:]], stdin=stdin)
    except OSError as exc:
        raise NetError(f"cannot run {argv[0]}: {exc}") from exc
    out, err = done.stdout, done.stderr
    text = (out + err).decode(errors="replace").strip()
    code = done.returncode
    if check and code != 0:
        raise NetError(f"{' '.join(argv)}: {text or f'exit {code}'}")
    return code, text
