"""Watching servers and waiting for one to reach a state.

Waiting uses ComputeService.WatchServers (a stream of changes) and falls back to polling
GetServer when the stream is not available (UNIMPLEMENTED, UNAVAILABLE, a dropped stream).
A server that ends in ERROR while waited for raises `ServerFault` with its fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from polyvisor.client import enums
from polyvisor.client.errors import (
    ApiError,
    NotFound,
    ServerFault,
    WaitTimeout,
)
from polyvisor.client.session import Session
from polyvisor.compute.v1 import servers_pb2
from polyvisor.types.v1 import server_status_pb2

__all__ = ["Progress", "ServerChange", "ServerWatching"]


ServerState = server_status_pb2.ServerState
ACTIVE = ServerState.SERVER_STATE_ACTIVE
SHUTOFF = ServerState.SERVER_STATE_SHUTOFF
ERROR = ServerState.SERVER_STATE_ERROR
DELETED = ServerState.SERVER_STATE_DELETED
SHELVED_OFFLOADED = ServerState.SERVER_STATE_SHELVED_OFFLOADED

#: Called with the server each time waiting sees it (a CLI's progress line).
Progress = Callable[[servers_pb2.Server], None]
PAUSED = ServerState.SERVER_STATE_PAUSED
SUSPENDED = ServerState.SERVER_STATE_SUSPENDED

#: Codes after which a watch cannot help and waiting continues by polling.
_WATCH_FALLBACK = {"UNIMPLEMENTED", "UNAVAILABLE", "OUT_OF_RANGE", "INTERNAL", "UNKNOWN",
                   "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One message of the watch stream. `server` is None for SYNCED."""

    revision: int
    type: str  # CREATED, UPDATED, DELETED, SYNCED (enums.display upper-cased)
    server: servers_pb2.Server | None


class _WatchUnusable(Exception):
    pass


class ServerWatching:
    """The change stream, and waiting on it (or by polling) for a server's state."""

    def __init__(self, session: Session, *, poll_interval: float = 1.0) -> None:
        self._s = session
        self.poll_interval = poll_interval

    async def get(self, server_id: str) -> servers_pb2.Server:
        resp = await self._s.call(
            self._s.compute.GetServer, servers_pb2.GetServerRequest(server_id=server_id)
        )
        return resp.server

    # ------------------------------------------------------------------ watching and waiting

    async def watch(
        self,
        *,
        server_id: str = "",
        from_revision: int = 0,
        project_id: str = "",
        all_projects: bool = False,
    ) -> AsyncIterator[ServerChange]:
        """The change stream: replay (CREATED ...), SYNCED, then live changes. Runs until the
        caller stops iterating or the service ends the stream."""
        req = servers_pb2.WatchServersRequest(
            server_id=server_id,
            from_revision=from_revision,
            project_id=project_id,
            all_projects=all_projects,
        )
        async for item in self._s.stream(self._s.compute.WatchServers, req):
            kind = servers_pb2.ServerChangeType.Name(item.type).removeprefix("SERVER_CHANGE_TYPE_")
            yield ServerChange(
                revision=item.revision,
                type=kind,
                server=item.server if item.HasField("server") else None,
            )

    async def wait_until_active(
        self, server_id: str, *, wait_timeout: float = 600.0
    ) -> servers_pb2.Server:
        return await self.wait_for(server_id, {ACTIVE}, wait_timeout=wait_timeout)

    async def wait_until_deleted(self, server_id: str, *, wait_timeout: float = 300.0) -> None:
        await self.wait_for(server_id, {DELETED}, wait_timeout=wait_timeout)

    async def wait_for(
        self,
        server_id: str,
        states: Collection[int],
        *,
        wait_timeout: float = 600.0,
        settled: bool = False,
        progress: Progress | None = None,
        fail_elsewhere: bool = False,
    ) -> servers_pb2.Server:
        """The server once its state is in `states` (and, with `settled`, no task is in flight).
        DELETED in `states` also accepts the server vanishing. ERROR (unless wanted) raises
        ServerFault; running out of time raises WaitTimeout with the last server seen.
        `progress` is called with the server each time waiting sees it. With `fail_elsewhere`
        (waiting for an action asked before the wait began), a server with nothing in flight
        in another state raises ServerFault: the action is over and failed."""
        tracker = _Tracker(server_id, frozenset(states), settled, progress, fail_elsewhere)
        try:
            async with asyncio.timeout(wait_timeout):
                try:
                    return await self._wait_by_watch(tracker)
                except _WatchUnusable:
                    pass
                return await self._wait_by_polling(tracker)
        except TimeoutError:
            last = tracker.last
            state = enums.display(enums.SERVER_STATE, last.state) if last is not None else "unknown"
            wanted = "/".join(enums.display(enums.SERVER_STATE, s) for s in sorted(states))
            raise WaitTimeout(
                f"server {server_id} not {wanted} after {wait_timeout:g}s (last state {state})",
                last=last,
            ) from None

    async def _wait_by_watch(self, tracker: _Tracker) -> servers_pb2.Server:
        try:
            async for change in self.watch(server_id=tracker.server_id):
                if change.type == "SYNCED":
                    if tracker.last is None:
                        # Not in the replay: it may be gone, or the filter is not honoured.
                        done = await self._check_once(tracker)
                        if done is not None:
                            return done
                    continue
                server = change.server
                if server is None or server.id != tracker.server_id:
                    continue
                if change.type == "DELETED" and DELETED in tracker.states:
                    return server
                result = tracker.see(server)
                if result is not None:
                    return result
        except ApiError as e:
            if e.code.name in _WATCH_FALLBACK:
                raise _WatchUnusable() from e
            raise
        raise _WatchUnusable()  # the stream ended: continue by polling

    async def _check_once(self, tracker: _Tracker) -> servers_pb2.Server | None:
        try:
            server = await self.get(tracker.server_id)
        except NotFound:
            if DELETED in tracker.states:
                return servers_pb2.Server(id=tracker.server_id, state=DELETED)
            raise
        return tracker.see(server)

    async def _wait_by_polling(self, tracker: _Tracker) -> servers_pb2.Server:
        delay = self.poll_interval
        while True:
            done = await self._check_once(tracker)
            if done is not None:
                return done
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, max(self.poll_interval, 5.0))


class _Tracker:
    def __init__(
        self,
        server_id: str,
        states: frozenset[int],
        settled: bool,
        progress: Progress | None = None,
        fail_elsewhere: bool = False,
    ) -> None:
        self.server_id = server_id
        self.states = states
        self.settled = settled
        self.progress = progress
        self.fail_elsewhere = fail_elsewhere
        self.last: servers_pb2.Server | None = None

    def see(self, server: servers_pb2.Server) -> servers_pb2.Server | None:
        """The server when waiting is over; raises ServerFault on an unwanted ERROR."""
        self.last = server
        if self.progress is not None:
            self.progress(server)
        in_flight = server.task not in (
            server_status_pb2.SERVER_TASK_UNSPECIFIED,
            server_status_pb2.SERVER_TASK_NONE,
        )
        if server.state in self.states and not (self.settled and in_flight):
            return server
        if server.state == ERROR and ERROR not in self.states:
            raise ServerFault(server)
        if self.fail_elsewhere and not in_flight:
            raise ServerFault(server)
        return None
