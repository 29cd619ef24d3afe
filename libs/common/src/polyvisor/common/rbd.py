"""Ceph RBD through the `rbd` CLI (Debian `ceph-common`): images, snapshots, clones.

    rbd = Rbd(RbdTarget(conf="/etc/ceph/ceph.conf", user="admin"))
    await rbd.import_file(path, "images/img-1")        # whole file into a new image
    await rbd.snapshot("images/img-1", "base", protect=True)
    await rbd.clone("images/img-1@base", "vms/disk-1")  # copy-on-write
    await rbd.used_bytes("vms/disk-1")                 # what the clone really holds
    await rbd.remove("vms/disk-1")

Why the CLI and not the `rados`/`rbd` Python bindings: the bindings are Cython modules
built against one interpreter (Debian's python3-rados/python3-rbd for the system Python;
PyPI has none), while every service runs in the project's own virtualenv; the CLI talks to
the same librbd, needs no compiled module matched to our Python, runs as an async
subprocess (the event loop never blocks on librados), and one that hangs is killed by its
time limit. The commands used are stable across Ceph releases since Nautilus.

Every command gets `--conf`, `--id` and, if given, `--keyring`; a failure raises `RbdError`
with the command's stderr, `RbdNotFound` when the image (or snapshot) does not exist,
`RbdBusy` when it has clones or watchers (in use).

`RbdReader` reads an image's bytes in order (`rbd export IMAGE -`), for streaming them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from polyvisor.common.procs import run_process

__all__ = [
    "Rbd",
    "RbdBusy",
    "RbdError",
    "RbdNotFound",
    "RbdReader",
    "RbdTarget",
    "enoent",
    "split_spec",
]

_TIMEOUT_S = 120.0
_LONG_TIMEOUT_S = 3600.0


class RbdError(RuntimeError):
    """An `rbd` command failed; the message holds its stderr."""


class RbdNotFound(RbdError):
    """The image or snapshot does not exist."""


class RbdBusy(RbdError):
    """The image has clones, snapshots or watchers: it cannot be removed now."""


@dataclass(frozen=True, slots=True)
class RbdTarget:
    """How to reach a cluster: its ceph.conf, the cephx user (without `client.`), a keyring."""

    conf: str
    user: str = "admin"
    keyring: str = ""

    def args(self) -> list[str]:
        out = ["--conf", self.conf, "--id", self.user]
        if self.keyring:
            out += ["--keyring", self.keyring]
        return out


def split_spec(spec: str) -> tuple[str, str, str]:
    """`pool/image[@snap]` -> (pool, image, snap or "")."""
    pool, _, rest = spec.partition("/")
    image, _, snap = rest.partition("@")
    if not pool or not image:
        raise ValueError(f"not an RBD image spec (pool/image[@snapshot]): {spec!r}")
    return pool, image, snap


def _classify(argv: list[str], code: int, stderr: str) -> RbdError:
    text = stderr.strip()
    message = f"rbd {' '.join(argv)} failed ({code}): {text}"
    low = text.lower()
    if "no such file or directory" in low:
        return RbdNotFound(message)
    if "(16)" in low or "busy" in low or "has snapshots" in low or "children" in low:
        return RbdBusy(message)
    if "still has watchers" in low or "(39)" in low:  # ENOTEMPTY: snapshots left
        return RbdBusy(message)
    return RbdError(message)


class Rbd:
    """Async `rbd` commands against one cluster (see the module docstring)."""

    def __init__(self, target: RbdTarget, *, binary: str = "rbd") -> None:
        self.target = target
        self.binary = binary

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.target.args(), *args]

    async def run(self, *args: str, timeout: float = _TIMEOUT_S) -> str:  # noqa: ASYNC109
        """Run `rbd ARGS`; its stdout (RbdError on failure, killed after `timeout`)."""
        done = await run_process(self.argv(*args), timeout=timeout)
        if done.returncode != 0:
            raise _classify(list(args), done.returncode, done.stderr.decode(errors="replace"))
        return done.stdout.decode(errors="replace")

    def run_sync(self, *args: str, timeout: float = _TIMEOUT_S) -> str:
        """`run`, blocking (for code already on a worker thread)."""
        r = subprocess.run(
            self.argv(*args), capture_output=True, text=True, check=False, timeout=timeout
        )
        if r.returncode != 0:
            raise _classify(list(args), r.returncode, r.stderr)
        return r.stdout

    # -------------------------------------------------------------- images

    async def create(self, spec: str, size_bytes: int) -> None:
        """A new, empty (thin) image of `size_bytes` (rounded up to whole MiB by rbd)."""
        await self.run("create", "--no-progress", "--size", f"{_ceil_mib(size_bytes)}M", spec)

    async def info(self, spec: str) -> dict[str, object]:
        out = await self.run("info", "--format", "json", spec)
        data = json.loads(out)
        if not isinstance(data, dict):
            raise RbdError(f"rbd info {spec}: unexpected answer {out[:200]!r}")
        return data

    async def size(self, spec: str) -> int:
        return int(str((await self.info(spec))["size"]))

    async def exists(self, spec: str) -> bool:
        try:
            await self.info(spec)
        except RbdNotFound:
            return False
        return True

    async def images(self, pool: str) -> list[str]:
        return [str(n) for n in json.loads(await self.run("ls", "--format", "json", pool))]

    async def resize(self, spec: str, size_bytes: int) -> None:
        await self.run("resize", "--no-progress", "--size", f"{_ceil_mib(size_bytes)}M", spec)

    async def import_file(self, path: Path | str, spec: str) -> None:
        """A new image holding the file's bytes (its size is the file's, to the byte)."""
        await self.run("import", "--no-progress", str(path), spec, timeout=_LONG_TIMEOUT_S)

    def import_file_sync(self, path: Path | str, spec: str) -> None:
        self.run_sync("import", "--no-progress", str(path), spec, timeout=_LONG_TIMEOUT_S)

    async def export_file(self, spec: str, path: Path | str) -> None:
        await self.run("export", "--no-progress", spec, str(path), timeout=_LONG_TIMEOUT_S)

    async def used_bytes(self, spec: str) -> int:
        """Bytes the image itself holds (`rbd du`; for a clone, only what differs from its
        parent), its snapshots left out."""
        pool, image, _ = split_spec(spec)
        out = json.loads(await self.run("du", "--format", "json", f"{pool}/{image}"))
        return sum(int(i["used_size"]) for i in out.get("images", []) if not i.get("snapshot"))

    # -------------------------------------------------------------- snapshots and clones

    async def snapshot(self, spec: str, snap: str, *, protect: bool = False) -> None:
        await self.run("snap", "create", "--no-progress", f"{spec}@{snap}")
        if protect:
            await self.run("snap", "protect", f"{spec}@{snap}")

    async def clone(self, parent_snap: str, child: str) -> None:
        """A copy-on-write child of a (protected) snapshot `pool/image@snap`."""
        await self.run("clone", parent_snap, child)

    async def flatten(self, spec: str) -> None:
        await self.run("flatten", "--no-progress", spec, timeout=_LONG_TIMEOUT_S)

    async def children(self, parent_snap: str) -> list[str]:
        out = json.loads(await self.run("children", "--format", "json", parent_snap))
        return [f"{c['pool']}/{c['image']}" for c in out]

    async def remove(self, spec: str, *, missing_ok: bool = True) -> None:
        """Remove an image and its snapshots (unprotecting them). `RbdBusy` when a snapshot
        still has clones or the image is open (a guest uses it)."""
        try:
            snaps = json.loads(await self.run("snap", "ls", "--format", "json", spec))
            for s in snaps:
                if s.get("protected") in ("true", True):
                    await self.run("snap", "unprotect", f"{spec}@{s['name']}")
            if snaps:
                await self.run("snap", "purge", "--no-progress", spec)
            await self.run("rm", "--no-progress", spec)
        except RbdNotFound:
            if not missing_ok:
                raise

    async def trash(self, spec: str) -> None:
        """Move an image to the pool's trash: gone from listings; Ceph removes it when its
        clones are gone (`rbd trash purge`)."""
        await self.run("trash", "mv", spec)


class RbdReader:
    """The bytes of an image, read in order through `rbd export IMAGE -`.

    `pread(n, offset)` answers sequential reads from the pipe; a read at another offset
    restarts the export and skips to it (downloads resume at an offset, then go on in
    order). Thread-safe; `close()` ends the export."""

    def __init__(self, rbd: Rbd, spec: str, size: int) -> None:
        self._rbd = rbd
        self.spec = spec
        self.size = size
        self._proc: subprocess.Popen[bytes] | None = None
        self._pos = 0
        self._lock = threading.Lock()

    def _start(self, offset: int) -> None:
        self._stop()
        self._proc = subprocess.Popen(
            self._rbd.argv("export", "--no-progress", self.spec, "-"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._pos = 0
        while self._pos < offset:
            skipped = self._read(min(offset - self._pos, 1 << 20))
            if not skipped:
                break

    def _read(self, length: int) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        chunks: list[bytes] = []
        want = length
        while want > 0:
            data = self._proc.stdout.read(want)
            if not data:
                break
            chunks.append(data)
            want -= len(data)
        out = b"".join(chunks)
        self._pos += len(out)
        return out

    def pread(self, length: int, offset: int) -> bytes:
        with self._lock:
            if self._proc is None or offset != self._pos:
                self._start(offset)
            return self._read(min(length, max(0, self.size - offset)))

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()


def _ceil_mib(size_bytes: int) -> int:
    if size_bytes <= 0:
        raise ValueError(f"an RBD image needs a positive size, not {size_bytes}")
    return (size_bytes + (1 << 20) - 1) >> 20


def enoent(e: RbdNotFound) -> FileNotFoundError:
    """A FileNotFoundError standing for a missing image (what file stores raise)."""
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(e))
