"""Start a Polyvisor service as a real process, the way a user starts it, for tests.

    proc = ServiceProcess("scheduler", env={...})
    await proc.start()          # waits until grpc.health.v1 answers SERVING
    ...
    await proc.stop()           # SIGTERM, then SIGKILL after a timeout

Ports are ephemeral: ``free_port()`` picks them; the caller passes them in ``env``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]


#: Channel options of a readiness probe: reconnect every 0.1 s while nothing listens.
PROBE_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 100),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_serving(
    address: str,
    timeout: float = 30.0,  # noqa: ASYNC109 - the readiness budget, not an RPC timeout
    service: str = "",
) -> None:
    """Wait until the health service at ``address`` answers SERVING."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    # gRPC backs off between connection attempts (1 s, 1.6 s, 2.6 s, ...): with its defaults a
    # service that listens after 2.5 s is seen after 5 s. Probe at our own pace instead.
    async with grpc.aio.insecure_channel(address, options=PROBE_OPTIONS) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while loop.time() < deadline:
            try:
                resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError as exc:
                last = exc
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{address} not SERVING within {timeout}s (last error: {last})")


class ServiceProcess:
    """One service (``python -m polyvisor.<module>``) as a child process."""

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        *,
        log_path: Path | None = None,
        grpc_port: int | None = None,
    ) -> None:
        self.module = module
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.grpc_port = grpc_port if grpc_port is not None else _port_from_env(env)
        self.proc: asyncio.subprocess.Process | None = None
        self._log = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    async def start(self, timeout: float = 30.0) -> ServiceProcess:  # noqa: ASYNC109
        """Spawn the process and wait until it is SERVING (`spawn` then `ready`)."""
        await self.spawn()
        return await self.ready(timeout)

    async def spawn(self) -> ServiceProcess:
        """Start the process without waiting for it: several processes then start side by side
        (their imports are most of their start-up), each awaited with `ready`."""
        out = asyncio.subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: ASYNC230 - a local log file; closed in stop()
            out = self._log  # type: ignore[assignment]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"polyvisor.{self.module}",
            env=self.env,
            cwd=str(REPO),
            stdout=out,
            stderr=out if self._log is not None else asyncio.subprocess.DEVNULL,
        )
        return self

    async def ready(self, timeout: float = 30.0) -> ServiceProcess:  # noqa: ASYNC109
        """Wait until the spawned process answers SERVING; stop it if it does not in time."""
        if self.grpc_port:
            try:
                await wait_serving(self.address, timeout)
            except BaseException:
                await self.stop()
                raise
        return self

    async def stop(self, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM and wait; SIGKILL past ``timeout``. Returns the exit code. Idempotent."""
        proc, self.proc = self.proc, None
        code: int | None = None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                code = await proc.wait()
        elif proc is not None:
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    async def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self.stop()


def _port_from_env(env: Mapping[str, str]) -> int:
    value = env.get("POLYVISOR_GRPC_PORT")
    return int(value) if value else 0
