"""Running a host command from async code without forking the event loop's process.

uvloop starts a subprocess with libuv's fork() + exec(). fork() runs gRPC's pthread_atfork
handlers, and in a process that serves or calls gRPC those can start an event-engine thread
in the child that crashes it before exec: the caller sees the command "die" of SIGSEGV (exit
-11, nothing on stderr) and the command never ran. Python's own `subprocess` starts a child
with vfork() + exec() on Linux, which runs no atfork handler. So every host command a service
or agent runs goes through `run_process`: Popen on a worker thread, the wait on a worker
thread, the event loop never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Completed", "run_process"]


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: its exit status (negative: killed by that signal) and output."""

    returncode: int
    stdout: bytes
    stderr: bytes


async def run_process(
    argv: Sequence[str],
    *,
    stdin: bytes | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the child is killed on expiry, not just abandoned
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run `argv` to its end; its exit status and output.

    FileNotFoundError/PermissionError when it cannot start; TimeoutError after `timeout`
    seconds (the child is killed and reaped first). Cancelling the caller kills the child too.
    """

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )

    spawning = asyncio.ensure_future(asyncio.to_thread(spawn))
    try:
        proc = await asyncio.shield(spawning)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            _kill_and_reap(await spawning)
        raise
    waiting = asyncio.ensure_future(asyncio.to_thread(proc.communicate, stdin, timeout))
    try:
        out, err = await asyncio.shield(waiting)
    except subprocess.TimeoutExpired:
        await asyncio.to_thread(_kill_and_reap, proc)
        raise TimeoutError(f"{argv[0]} did not finish in {timeout} s") from None
    except BaseException:
        # Cancelled: the child is killed, and the thread still reading it ends with it.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(BaseException):
            await waiting
        raise
    return Completed(proc.returncode, out, err)


def _kill_and_reap(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.communicate()
