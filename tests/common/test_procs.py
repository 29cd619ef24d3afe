"""polyvisor.common.procs: host commands run to their end, time out and are cancelled
without leaving a child behind."""

from __future__ import annotations

import asyncio
import os

import pytest

from polyvisor.common.procs import run_process


async def test_output_status_and_input() -> None:
    done = await run_process(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"hello")
    assert (done.returncode, done.stdout, done.stderr) == (3, b"hello", b"oops\n")


async def test_a_missing_command_is_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        await run_process(["/nonexistent/polyvisor-tool"])


async def test_timeout_kills_the_child(tmp_path) -> None:
    pidfile = tmp_path / "pid"
    with pytest.raises(TimeoutError):
        await run_process(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], timeout=0.5)
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: no such process, not even a zombie


async def test_cancelling_the_caller_kills_the_child(tmp_path) -> None:
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    task = asyncio.create_task(run_process(["sh", "-c", f"echo $$ > {fifo}; exec sleep 30"]))
    pid = int(await asyncio.wait_for(asyncio.to_thread(fifo.read_text), 30))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
