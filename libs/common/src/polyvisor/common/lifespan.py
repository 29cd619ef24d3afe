"""How a service process runs: start, serve, drain on SIGTERM/SIGINT, stop in under 5 s.

A service writes one *lifespan* coroutine. It opens its resources on the given
`AsyncExitStack` (each one's close pushed right after it is opened) and returns the
`GrpcServer` to serve, or None for a process without a gRPC API:

    async def lifespan(settings: ApiSettings, stack: AsyncExitStack) -> GrpcServer:
        pool = await create_pool(settings.database_url, "api")
        stack.push_async_callback(pool.close)
        bus = await Bus.connect(settings.nats_urls, name=settings.server_id)
        stack.push_async_callback(bus.close)
        tasks = BackgroundTasks("api")
        stack.push_async_callback(tasks.close)
        tasks.start("events", consumer.consume(handle_event, concurrency=4))
        return GrpcServer(settings, [(add_ComputeServiceServicer_to_server, handlers, NAME)])

    def main() -> None:
        run_service(ApiSettings(), lifespan)

`run_service`:
1. installs uvloop, configures logging, starts the metrics endpoint;
2. runs the lifespan (a SIGTERM during start-up cancels it and unwinds the stack);
3. starts the returned server if the lifespan did not, and marks it SERVING;
4. waits for SIGTERM or SIGINT;
5. drains: health NOT_SERVING, new RPCs refused, in-flight RPCs get `shutdown_grace_s`;
6. closes the stack in reverse order within what is left of the 5 s budget.

The process exits 0 after a signal-driven shutdown and 1 when the start-up failed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from polyvisor.common.config import ServiceSettings
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.logging import configure_logging, get_logger
from polyvisor.common.metrics import MetricsServer

__all__ = ["SHUTDOWN_BUDGET_S", "BackgroundTasks", "Lifespan", "run_service", "serve"]

log = get_logger(__name__)

SHUTDOWN_BUDGET_S = 5.0
S = TypeVar("S", bound=ServiceSettings)
Lifespan = Callable[[S, AsyncExitStack], Awaitable[GrpcServer | None]]


class BackgroundTasks:
    """Owns named background loops; `close()` cancels and awaits them all (idempotent).

    A loop that crashes is logged with its name; a loop that returns is simply done.
    """

    def __init__(self, owner: str = "background") -> None:
        self.owner = owner
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._closed = False

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.owner}: closed, cannot start {name!r}")
        if name in self._tasks and not self._tasks[name].done():
            coro.close()
            raise ValueError(f"{self.owner}: a task named {name!r} is already running")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}:{name}")
        self._tasks[name] = task
        task.add_done_callback(lambda t: self._on_done(name, t))
        return task

    def _on_done(self, name: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "background task crashed",
                owner=self.owner,
                task=name,
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    @property
    def names(self) -> list[str]:
        return [n for n, t in self._tasks.items() if not t.done()]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    async def cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> BackgroundTasks:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("second signal during shutdown, ignored", signal=sig.name)
            return
        log.info("signal received, shutting down", signal=sig.name)
        stop.set()

    sigs = (signal.SIGTERM, signal.SIGINT)
    for sig in sigs:
        loop.add_signal_handler(sig, on_signal, sig)

    def remove() -> None:
        for sig in sigs:
            loop.remove_signal_handler(sig)

    return remove


async def serve(
    settings: S,
    lifespan: Lifespan[S],
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
) -> int:
    """Run a lifespan until `stop` is set (or SIGTERM/SIGINT); the exit code.

    `run_service` is this plus uvloop and logging set-up; tests may call it directly (with
    their own `stop` event and `handle_signals=False`)."""
    stop = stop or asyncio.Event()
    remove_handlers = _install_signal_handlers(stop) if handle_signals else (lambda: None)
    try:
        return await _serve(settings, lifespan, stop)
    finally:
        remove_handlers()


async def _serve(settings: S, lifespan: Lifespan[S], stop: asyncio.Event) -> int:
    metrics = MetricsServer(settings.metrics_host, settings.metrics_port)
    stack = AsyncExitStack()
    server: GrpcServer | None = None
    code = 0
    try:
        metrics.start()
        stack.push_async_callback(metrics.aclose)
        startup = asyncio.ensure_future(lifespan(settings, stack))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({startup, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():
            log.info("stopped during start-up")
            startup.cancel()
            await asyncio.gather(startup, return_exceptions=True)
        else:
            server = startup.result()
            if server is not None:
                stack.push_async_callback(server.stop, 0)  # in case the drain below is skipped
                await server.start()
                await server.set_serving()
            log.info(
                "service up",
                grpc_port=server.port if server else None,
                metrics_port=metrics.port,
            )
            await stopper
        stopper.cancel()
    except Exception:
        log.exception("service failed")
        code = 1
    drain_started = time.monotonic()
    if server is not None:
        grace = min(settings.shutdown_grace_s, SHUTDOWN_BUDGET_S - 0.5)
        try:
            await server.stop(grace)
        except Exception:
            log.exception("error while draining the grpc server")
    remaining = max(0.25, SHUTDOWN_BUDGET_S - 0.25 - (time.monotonic() - drain_started))
    try:
        await asyncio.wait_for(stack.aclose(), remaining)
    except TimeoutError:
        log.error("shutdown budget exceeded; resources left open", budget_s=remaining)
        code = code or 1
    except Exception:
        log.exception("error while closing resources")
        code = code or 1
    log.info("service stopped", exit_code=code)
    return code


def run_service(settings: S, lifespan: Lifespan[S]) -> None:
    """The body of a service's `__main__`: never returns (exits with the service's code)."""
    import uvloop

    configure_logging(settings)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        code = runner.run(serve(settings, lifespan))
    sys.exit(code)
