"""The dev stack's process bookkeeping, on real processes: a real gRPC health server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from deploy.dev import health
from deploy.dev.layout import Layout
from deploy.dev.procs import ManagedProcess, proc_starttime, recorded_names

HEALTH_SERVER = textwrap.dedent(
    """
    import signal, sys, threading
    from concurrent import futures
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    server.start()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    done = threading.Event()
    if sys.argv[2] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    server.stop(0)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_started_service_is_serving_recorded_and_stopped(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "state")
    proc = ManagedProcess(layout, "echo")
    port = _free_port()
    pid = proc.start([sys.executable, "-c", HEALTH_SERVER, str(port), "graceful"], {},
                     info={"grpc_port": port})  # fmt: skip
    try:
        address = f"127.0.0.1:{port}"
        status = health.wait_serving(address, timeout=30, alive=lambda: not proc.exited())
        assert status == health.SERVING
        assert health.grpc_health(address) == "SERVING"
        # another `./dev` invocation sees it through the record alone
        again = ManagedProcess(layout, "echo")
        assert again.pid == pid
        assert again.record()["grpc_port"] == port  # type: ignore[index]
        assert recorded_names(layout) == ["echo"]
        assert again.stop() is True
        assert proc_starttime(pid) is None
        assert not proc.record_file.exists()
        assert health.grpc_health(address) == health.UNREACHABLE
        assert again.stop() is False  # idempotent
    finally:
        proc.stop()


def test_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "state")
    proc = ManagedProcess(layout, "stubborn")
    port = _free_port()
    pid = proc.start([sys.executable, "-c", HEALTH_SERVER, str(port), "ignore-term"], {})
    assert health.wait_serving(f"127.0.0.1:{port}", timeout=30, alive=proc.running) == "SERVING"
    assert proc.stop(timeout=1.0) is True
    assert proc_starttime(pid) is None


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    """A record whose pid now belongs to another process (other start time) is not running."""
    layout = Layout(tmp_path / "state")
    layout.create()
    proc = ManagedProcess(layout, "ghost")
    me = proc_starttime(os.getpid())
    assert me is not None
    proc.record_file.write_text(json.dumps({"pid": os.getpid(), "starttime": me + 1}))
    assert proc.pid is None
    assert proc.stop() is False  # and it was not signalled: we are still here
    assert not proc.record_file.exists()


def test_process_gone_before_it_was_recorded_is_not_running(tmp_path: Path) -> None:
    """On a loaded machine a process that fails at once can be gone (or a zombie) by the time
    its start time is read: the record then holds none, and that is not a live process."""
    layout = Layout(tmp_path / "state")
    layout.create()
    proc = ManagedProcess(layout, "gone")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(done.stdout)
    assert proc_starttime(dead) is None
    proc.record_file.write_text(json.dumps({"pid": dead, "starttime": None}))
    assert proc.pid is None and proc.exited()
    assert proc.stop() is False


def test_exited_process_is_seen_as_exited(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "state")
    proc = ManagedProcess(layout, "short")
    proc.start([sys.executable, "-c", "print('bye')"], {})
    deadline = time.monotonic() + 30
    while not proc.exited() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.exited()
    assert "bye" in proc.log_tail()


def test_wait_serving_reports_exit_and_a_process_without_grpc(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "state")
    address = f"127.0.0.1:{_free_port()}"
    crashing = ManagedProcess(layout, "crashing")
    crashing.start([sys.executable, "-c", "raise SystemExit(3)"], {})
    assert health.wait_serving(address, timeout=30, alive=lambda: not crashing.exited()) == "exited"
    quiet = ManagedProcess(layout, "quiet")
    quiet.start([sys.executable, "-c", "import time; time.sleep(60)"], {})
    try:
        status = health.wait_serving(
            address, timeout=30, alive=lambda: not quiet.exited(), listen_within=0.5
        )
        assert status == health.NOT_LISTENING
        assert quiet.running()
    finally:
        assert quiet.stop() is True
