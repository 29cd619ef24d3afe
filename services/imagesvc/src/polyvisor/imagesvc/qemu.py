"""qemu-img as an async subprocess: `info` (a second opinion on a file) and `convert`.

Every run is bounded by a timeout (the process is killed when it passes, or when the caller
is cancelled). `info` and `check`, which read files not yet trusted, also run under an
address-space and CPU-time limit when `prlimit` exists, so a crafted image cannot make
qemu-img eat the host. The format is always pinned with `-f`: qemu-img never guesses.
Error messages never carry a host path: qemu-img's own text has every absolute path in it
replaced (they name the store's files, which are nobody's business but the operator's).

Processes are started with Python's own `subprocess` (vfork + exec) on a small thread pool
owned by this object, not with the event loop's spawn: uvloop forks, and a fork of a
process running gRPC runs gRPC's fork handlers, which can crash the child before it execs
("qemu-img exited with -11").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from polyvisor.common.logging import get_logger

__all__ = [
    "QemuImg",
    "QemuImgError",
    "QemuImgOutputLimit",
    "QemuImgTimeout",
    "qemu_format",
    "scrub_paths",
]

log = get_logger(__name__)

_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/[^\s'\",:;]*")


def scrub_paths(text: str) -> str:
    """`text` with every absolute path replaced by "<file>"."""
    return _ABSOLUTE_PATH.sub("<file>", text)


class QemuImgError(Exception):
    """qemu-img failed, timed out or printed something unreadable."""


class QemuImgTimeout(QemuImgError):
    """qemu-img ran past its time limit and was killed."""


class QemuImgOutputLimit(QemuImgError):
    """qemu-img would have written past the output size limit (RLIMIT_FSIZE)."""


def qemu_format(disk_format: str) -> str:
    """qemu's driver name for a disk format (an ISO is read as raw bytes)."""
    return "raw" if disk_format == "iso" else disk_format


class QemuImg:
    def __init__(
        self,
        binary: str = "qemu-img",
        *,
        info_timeout_s: float = 30.0,
        convert_timeout_s: float = 3600.0,
        address_space_bytes: int = 1 << 30,
        info_cpu_s: int = 30,
        threads: int = 8,
    ) -> None:
        self.binary = binary
        self.info_timeout_s = info_timeout_s
        self.convert_timeout_s = convert_timeout_s
        self.address_space_bytes = address_space_bytes
        self.info_cpu_s = info_cpu_s
        self._prlimit = shutil.which("prlimit")
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def _limited(self, args: Sequence[str]) -> list[str]:
        """qemu-img under an address-space and CPU-time limit (for reading untrusted files)."""
        if not self._prlimit:
            return [self.binary, *args]
        limits = [f"--as={self.address_space_bytes}", f"--cpu={self.info_cpu_s}"]
        return [self._prlimit, *limits, "--", self.binary, *args]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="qemu-img")
        return self._pool

    async def _run(
        self,
        argv: list[str],
        limit_s: float,
        ok_codes: tuple[int, ...] = (0,),
        *,
        output_limited: bool = False,
    ) -> bytes:
        # Few malloc arenas: each reserves address space, which the limit above counts.
        env = {**os.environ, "LC_ALL": "C", "MALLOC_ARENA_MAX": "2"}
        loop = asyncio.get_running_loop()
        pool = self._executor()

        def spawn() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )

        proc = await loop.run_in_executor(pool, spawn)
        try:
            out: bytes
            err: bytes
            out, err = await loop.run_in_executor(pool, proc.communicate, None, limit_s)
        except subprocess.TimeoutExpired as e:
            raise QemuImgTimeout(f"qemu-img timed out after {limit_s:.0f}s") from e
        finally:
            if proc.poll() is None:  # timed out, or our caller was cancelled
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.shield(loop.run_in_executor(pool, proc.wait))
        if proc.returncode not in ok_codes:
            text = err.decode(errors="replace").strip().splitlines()
            last = scrub_paths(text[-1]) if text else "no message"
            if output_limited and "File too large" in last:
                raise QemuImgOutputLimit(f"qemu-img stopped at the output size limit: {last}")
            raise QemuImgError(f"qemu-img exited with {proc.returncode}: {last}")
        return out

    def close(self) -> None:
        """Stop the thread pool (idempotent); running processes are waited for."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def info(self, path: Path, disk_format: str) -> dict[str, Any]:
        argv = self._limited(["info", "--output=json", "-f", qemu_format(disk_format), str(path)])
        out = await self._run(argv, self.info_timeout_s)
        try:
            data = json.loads(out)
        except ValueError as e:
            raise QemuImgError("qemu-img info printed no JSON") from e
        if not isinstance(data, dict):
            raise QemuImgError("qemu-img info printed unexpected JSON")
        return data

    async def check(self, path: Path, disk_format: str) -> dict[str, Any]:
        """`qemu-img check` (read only): its JSON report, also when it found corruptions
        (exit 2) or leaked clusters (exit 3); QemuImgError when it could not check (exit 1)."""
        argv = self._limited(["check", "--output=json", "-f", qemu_format(disk_format), str(path)])
        out = await self._run(argv, self.info_timeout_s, ok_codes=(0, 2, 3))
        try:
            data = json.loads(out)
        except ValueError as e:
            raise QemuImgError("qemu-img check printed no JSON") from e
        if not isinstance(data, dict):
            raise QemuImgError("qemu-img check printed unexpected JSON")
        return data

    async def convert(
        self,
        source: Path,
        source_format: str,
        target: Path,
        target_format: str,
        options: Sequence[str] = (),
        *,
        timeout_s: float | None = None,
        max_output_bytes: int = 0,
    ) -> None:
        """Convert; killed after `timeout_s` (default: convert_timeout_s), and refused by the
        kernel (RLIMIT_FSIZE) a write past `max_output_bytes` of the target (0: no limit),
        which qemu-img reports as QemuImgOutputLimit."""
        args = ["convert", "-f", qemu_format(source_format), "-O", target_format]
        if options:
            args += ["-o", ",".join(options)]
        args += [str(source), str(target)]
        # Only vetted files are converted. No address-space limit: a large conversion runs
        # many I/O threads (the limit made qemu-img crash when thread arenas could not be
        # mapped); the timeout bounds its time and the file size limit what it writes.
        argv = [self.binary, *args]
        if max_output_bytes > 0:
            if self._prlimit:
                argv = [self._prlimit, f"--fsize={max_output_bytes}", "--", *argv]
            else:
                log.warning("prlimit not found: the conversion output is not size limited")
        limit_s = (
            self.convert_timeout_s if timeout_s is None else min(timeout_s, self.convert_timeout_s)
        )
        await self._run(argv, limit_s, output_limited=max_output_bytes > 0)
