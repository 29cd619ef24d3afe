"""Readiness: does this process reach what it depends on right now?

gRPC health (see `polyvisor.common.grpcserver`) answers two questions on the same port:

- service "" (and each gRPC service's name): the process is up and not draining. That is
  liveness: restarting the process would not help when only a dependency is down.
- service `READINESS_SERVICE` ("readiness"): that, and every dependency the process holds
  answers now: each PostgreSQL pool runs `SELECT 1`, each NATS connection completes a PING.
  A Kubernetes readinessProbe names it (`grpc: {port: 50051, service: readiness}`);
  `./dev up` waits for it before it says the stack is up.

`polyvisor.common.db.create_pool` and `polyvisor.common.bus.client.Bus.connect` register what they
open here, and closing it removes it: a service declares nothing itself.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["READINESS_SERVICE", "dependencies", "failures", "register"]

READINESS_SERVICE = "readiness"
CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class _Dependency:
    name: str  # "postgres", "nats": what a failure is reported as
    check: Callable[[], Awaitable[None]]  # raises when the dependency does not answer
    closed: Callable[[], bool]  # True once its owner closed it: no longer a dependency
    loop: asyncio.AbstractEventLoop  # checks run on the loop that opened it only


_ids = itertools.count()
_deps: dict[int, _Dependency] = {}


def register(
    name: str, check: Callable[[], Awaitable[None]], closed: Callable[[], bool]
) -> Callable[[], None]:
    """Count `check` among this process's dependencies (from a running event loop).
    Returns the function that removes it (idempotent)."""
    key = next(_ids)
    _deps[key] = _Dependency(name, check, closed, asyncio.get_running_loop())

    def unregister() -> None:
        _deps.pop(key, None)

    return unregister


def dependencies() -> list[str]:
    """Names of the open dependencies of this event loop (one entry per pool/connection)."""
    loop = asyncio.get_running_loop()
    return [d.name for d in _live() if d.loop is loop]


def _live() -> list[_Dependency]:
    for key, dep in list(_deps.items()):
        if dep.closed() or dep.loop.is_closed():
            _deps.pop(key, None)
    return list(_deps.values())


async def failures(timeout: float = CHECK_TIMEOUT_S) -> dict[str, str]:  # noqa: ASYNC109
    """{dependency name: why it does not answer}; empty when every dependency answers."""
    loop = asyncio.get_running_loop()
    deps = [d for d in _live() if d.loop is loop]

    async def one(dep: _Dependency) -> str | None:
        try:
            await asyncio.wait_for(dep.check(), timeout)
        except TimeoutError:
            return f"no answer in {timeout:g}s"
        except Exception as e:
            return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return None

    results = await asyncio.gather(*(one(d) for d in deps))
    out: dict[str, str] = {}
    for dep, error in zip(deps, results, strict=True):
        if error is not None:
            out.setdefault(dep.name, error)
    return out
