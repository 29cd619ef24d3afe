"""How an agent process runs: its driver, the runtime, health and metrics.

    def main() -> None:
        settings = KvmSettings()
        run_service(settings, agent_lifespan(make_driver))

The driver is made (and closed) in a worker thread: it may connect to its hypervisor. The
process serves gRPC health on ``grpc_port`` (0: an ephemeral port) unless ``serve_health``
is off, and always its Prometheus metrics (``run_service`` starts that endpoint).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TypeVar

from polyvisor.agentkit.driver import Driver
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.agentkit.settings import AgentSettings
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import Lifespan

__all__ = ["agent_lifespan"]

S = TypeVar("S", bound=AgentSettings)


#: What an agent runs beside its runtime (the KVM agent's network data plane), started before
#: the runtime takes commands; it registers its own closing on the stack (closed first).
Extras = Callable[[S, Driver, AgentRuntime, AsyncExitStack], Awaitable[None]]


def agent_lifespan(
    make_driver: Callable[[S], Driver], extras: Extras[S] | None = None
) -> Lifespan[S]:
    async def lifespan(settings: S, stack: AsyncExitStack) -> GrpcServer | None:
        driver = await asyncio.to_thread(make_driver, settings)
        stack.push_async_callback(asyncio.to_thread, driver.close)
        runtime = AgentRuntime(settings, driver)
        stack.push_async_callback(runtime.close)
        if extras is not None:
            await extras(settings, driver, runtime, stack)
        await runtime.start()
        if not settings.serve_health:
            return None
        return GrpcServer(settings, [])

    return lifespan
