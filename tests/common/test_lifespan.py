"""Service lifespan: drain on SIGTERM with an RPC in flight (a real process), resources closed
in reverse, start-up failures unwound, background tasks owned and stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import BinaryIO

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polyvisor.common.config import ServiceSettings
from polyvisor.common.embedded import free_port
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks, serve
from tests.common.echo_service import SERVICE, Echo, add_echo

REPO = Path(__file__).resolve().parents[2]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _wait_serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for _ in range(300):
            try:
                resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if resp.status == SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{address} never became SERVING")


def _open_log(path: Path) -> BinaryIO:
    return open(path, "wb")


async def test_sigterm_drains_in_flight_rpcs_and_refuses_new_ones(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    log_path = tmp_path / "echo.log"
    env = {
        **os.environ,
        "POLYVISOR_GRPC_PORT": str(port),
        "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_SHUTDOWN_GRACE_S": "4",
    }
    with _open_log(log_path) as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.common.echo_service", cwd=str(REPO), env=env, stderr=log
        )
    try:
        await _wait_serving(address)
        async with grpc.aio.insecure_channel(address) as ch:
            watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == SERVING
            # a streaming RPC: its first message proves the slow handler is running
            slow = ch.unary_stream(f"/{SERVICE}/ServerStream")(b"sleep:2")
            assert await slow.read() == b"first"
            proc.send_signal(signal.SIGTERM)

            # the drain starts: health turns NOT_SERVING ...
            assert (await watch.read()).status == NOT_SERVING
            watch.cancel()
            # ... and new RPCs are refused while the slow one is still in flight
            refused = None
            while refused is None:
                async with grpc.aio.insecure_channel(address) as fresh:
                    try:
                        await fresh.unary_unary(f"/{SERVICE}/Unary")(b"ok:new", timeout=1)
                    except grpc.aio.AioRpcError as e:
                        refused = e
                await asyncio.sleep(0.01)
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
            assert not slow.done()
            # the in-flight RPC completes normally
            assert await slow.read() == b"slept"
            assert await slow.read() == grpc.aio.EOF
            assert await slow.code() == grpc.StatusCode.OK
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert events.index("signal received, shutting down") < events.index("grpc server stopped")
    assert lines[-1]["event"] == "service stopped" and lines[-1]["exit_code"] == 0
    assert all(line["service"] == "echo" for line in lines)


async def test_serve_closes_resources_in_reverse_order() -> None:
    settings = ServiceSettings(
        service_name="t", grpc_host="127.0.0.1", metrics_host="127.0.0.1", shutdown_grace_s=1
    )
    closed: list[str] = []
    server = GrpcServer(settings, [(add_echo, Echo(), SERVICE)])
    port = await server.start()  # a lifespan may start its server itself, or leave it to serve()

    async def lifespan(s: ServiceSettings, stack: AsyncExitStack) -> GrpcServer:
        stack.callback(closed.append, "first")
        stack.push_async_callback(_append, closed, "second")
        return server

    stop = asyncio.Event()
    task = asyncio.ensure_future(serve(settings, lifespan, stop, handle_signals=False))
    await _wait_serving(server.address)
    assert server.port == port
    assert closed == []
    stop.set()
    assert await task == 0
    assert closed == ["second", "first"]
    async with grpc.aio.insecure_channel(server.address) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ch.unary_unary(f"/{SERVICE}/Unary")(b"ok:x", timeout=1)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def _append(target: list[str], item: str) -> None:
    target.append(item)


async def test_start_up_failure_unwinds_what_was_opened() -> None:
    settings = ServiceSettings(service_name="t", metrics_host="127.0.0.1")
    closed: list[str] = []

    async def lifespan(s: ServiceSettings, stack: AsyncExitStack) -> GrpcServer:
        stack.callback(closed.append, "pool")
        raise RuntimeError("database unreachable")

    assert await serve(settings, lifespan, asyncio.Event(), handle_signals=False) == 1
    assert closed == ["pool"]


async def test_stop_during_start_up_cancels_the_lifespan() -> None:
    settings = ServiceSettings(service_name="t", metrics_host="127.0.0.1")
    closed: list[str] = []
    entered = asyncio.Event()

    async def lifespan(s: ServiceSettings, stack: AsyncExitStack) -> GrpcServer:
        stack.callback(closed.append, "bus")
        entered.set()
        await asyncio.Event().wait()  # e.g. waiting forever for NATS
        raise AssertionError("unreachable")

    stop = asyncio.Event()
    task = asyncio.ensure_future(serve(settings, lifespan, stop, handle_signals=False))
    await entered.wait()
    stop.set()
    assert await task == 0
    assert closed == ["bus"]


async def test_background_tasks_are_owned_and_stopped() -> None:
    ticked = {"a": asyncio.Event(), "b": asyncio.Event(), "late": asyncio.Event()}
    stopped: list[str] = []

    async def loop(name: str) -> None:
        try:
            while True:
                ticked[name].set()
                await asyncio.sleep(0.01)
        finally:
            stopped.append(name)

    async def crash() -> None:
        raise ValueError("bad loop")

    tasks = BackgroundTasks("test")
    a = tasks.start("a", loop("a"))
    tasks.start("b", loop("b"))
    crashed = tasks.start("crash", crash())
    with pytest.raises(ValueError):
        tasks.start("a", loop("a"))
    await asyncio.gather(crashed, return_exceptions=True)
    await ticked["a"].wait()
    await ticked["b"].wait()
    assert sorted(tasks.names) == ["a", "b"]
    await tasks.cancel("b")
    assert stopped == ["b"] and "b" not in tasks
    await tasks.close()
    await tasks.close()
    assert sorted(stopped) == ["a", "b"]
    assert a.cancelled()
    with pytest.raises(RuntimeError):
        tasks.start("late", loop("late"))
