"""`Client`: the synchronous SDK, the same API as `AsyncClient` without `await`.

    with Client() as cloud:
        for server in cloud.servers.list():
            print(server.name)

It runs the async client on a private event loop in the calling thread, so it must not be
used from inside a running event loop (use `AsyncClient` there), and one Client belongs to
one thread. Streams (`servers.watch`) become plain iterators.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

from polyvisor.client.aio import AsyncClient

__all__ = ["Client"]


class _SyncApi:
    """Wraps one resource API of the async client: coroutines run to completion, async
    generators become iterators."""

    def __init__(self, api: object, run: Callable[[Any], Any]) -> None:
        self._api = api
        self._run = run

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._api, name)
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._run(attr(*args, **kwargs))

            return call
        if inspect.isasyncgenfunction(attr):

            @functools.wraps(attr)
            def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
                return _iterate(attr(*args, **kwargs), self._run)

            return iterate
        return attr

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._api) if not n.startswith("_")]


def _iterate(agen: AsyncIterator[Any], run: Callable[[Any], Any]) -> Iterator[Any]:
    try:
        while True:
            try:
                yield run(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            run(aclose())


class Client:
    """Synchronous client; accepts the same arguments as `AsyncClient`."""

    def __init__(self, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self._closed = False
        self.aio = AsyncClient(**kwargs)
        run = self._run
        self.servers: Any = _SyncApi(self.aio.servers, run)
        self.images: Any = _SyncApi(self.aio.images, run)
        self.flavors: Any = _SyncApi(self.aio.flavors, run)
        self.keypairs: Any = _SyncApi(self.aio.keypairs, run)
        self.hypervisors: Any = _SyncApi(self.aio.hypervisors, run)
        self.quotas: Any = _SyncApi(self.aio.quotas, run)
        self.identity: Any = _SyncApi(self.aio.identity, run)
        self.server_groups: Any = _SyncApi(self.aio.server_groups, run)
        self.networks: Any = _SyncApi(self.aio.networks, run)
        self.volumes: Any = _SyncApi(self.aio.volumes, run)
        self.subnets: Any = _SyncApi(self.aio.subnets, run)
        self.ports: Any = _SyncApi(self.aio.ports, run)
        self.security_groups: Any = _SyncApi(self.aio.security_groups, run)
        self.security_group_rules: Any = _SyncApi(self.aio.security_group_rules, run)

    def _run(self, coro: Any) -> Any:
        if self._closed:
            coro.close()
            raise RuntimeError("the client is closed")
        return self._runner.run(coro)

    def authenticate(self, *, force: bool = False) -> Any:
        return self._run(self.aio.authenticate(force=force))

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._runner.run(self.aio.close())
        finally:
            self._closed = True
            self._runner.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
