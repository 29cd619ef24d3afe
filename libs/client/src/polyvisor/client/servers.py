"""Servers: create (optionally waiting until ACTIVE), get, list, operate, delete, watch.

Waiting uses ComputeService.WatchServers (a stream of changes) and falls back to polling
GetServer when the stream is not available (UNIMPLEMENTED, UNAVAILABLE, a dropped stream).
A server that ends in ERROR while waited for raises `ServerFault` with its fault.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from polyvisor.client import enums
from polyvisor.client.errors import (
    AmbiguousName,
    ApiError,
    ImageFailed,
    NotFound,
    ServerFault,
    WaitTimeout,
)
from polyvisor.client.session import Session
from polyvisor.compute.v1 import server_actions_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import server_status_pb2

__all__ = ["ServerChange", "ServersApi", "is_uuid"]

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


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One message of the watch stream. `server` is None for SYNCED."""

    revision: int
    type: str  # CREATED, UPDATED, DELETED, SYNCED (enums.display upper-cased)
    server: servers_pb2.Server | None


class _WatchUnusable(Exception):
    pass


class ServersApi:
    def __init__(self, session: Session, *, poll_interval: float = 1.0) -> None:
        self._s = session
        self.poll_interval = poll_interval

    # ------------------------------------------------------------------ standard methods

    async def create(
        self,
        name: str,
        *,
        image_id: str,
        flavor_id: str,
        key_name: str = "",
        user_data: bytes | None = None,
        availability_zone: str = "",
        hints: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        wait: bool = False,
        wait_timeout: float = 600.0,
        networks: Sequence[Mapping[str, str]] = (),
    ) -> servers_pb2.Server:
        """Create one server (BUILDING); with `wait`, return it once ACTIVE. `networks`: its
        NICs in order, each {"network_id": ..., "fixed_ip": ...} or {"port_id": ...} (none:
        the project's only or "default" network)."""
        servers = await self.create_many(
            name, image_id=image_id, flavor_id=flavor_id, key_name=key_name,
            user_data=user_data, availability_zone=availability_zone, hints=hints,
            metadata=metadata, request_id=request_id, min_count=1, max_count=1,
            networks=networks,
        )  # fmt: skip
        server = servers[0]
        if wait:
            server = await self.wait_until_active(server.id, wait_timeout=wait_timeout)
        return server

    async def create_many(
        self,
        name: str,
        *,
        image_id: str,
        flavor_id: str,
        key_name: str = "",
        user_data: bytes | None = None,
        availability_zone: str = "",
        hints: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        min_count: int = 1,
        max_count: int = 0,
        networks: Sequence[Mapping[str, str]] = (),
    ) -> list[servers_pb2.Server]:
        spec = servers_pb2.ServerSpec(
            name=name,
            image_id=image_id,
            flavor_id=flavor_id,
            key_name=key_name,
            user_data=user_data or b"",
            availability_zone=availability_zone,
            scheduler_hints=dict(hints or {}),
            metadata=dict(metadata or {}),
            networks=[servers_pb2.ServerNetwork(**dict(n)) for n in networks],
        )
        req = servers_pb2.CreateServerRequest(
            request_id=request_id or str(uuid.uuid4()),
            server=spec,
            min_count=min_count,
            max_count=max_count,
        )
        resp = await self._s.call(self._s.compute.CreateServer, req)
        return list(resp.servers)

    async def get(self, server_id: str) -> servers_pb2.Server:
        resp = await self._s.call(
            self._s.compute.GetServer, servers_pb2.GetServerRequest(server_id=server_id)
        )
        return resp.server

    async def list(
        self,
        *,
        state: str | int | None = None,
        host: str = "",
        hypervisor_type: str | int | None = None,
        name: str = "",
        project_id: str = "",
        all_projects: bool = False,
        show_deleted: bool = False,
        page_size: int = 0,
        limit: int | None = None,
        tags: Collection[str] = (),
    ) -> list[servers_pb2.Server]:
        """Every matching server (follows next_page_token), at most `limit`."""
        req = servers_pb2.ListServersRequest(
            page_size=page_size,
            state=enums.coerce(enums.SERVER_STATE, state),
            host=host,
            hypervisor_type=enums.coerce(enums.HYPERVISOR_TYPE, hypervisor_type),
            name=name,
            project_id=project_id,
            all_projects=all_projects,
            show_deleted=show_deleted,
            tags=list(tags),
        )
        out: list[servers_pb2.Server] = []
        while True:
            resp = await self._s.call(self._s.compute.ListServers, req)
            out.extend(resp.servers)
            if not resp.next_page_token or (limit is not None and len(out) >= limit):
                break
            req.page_token = resp.next_page_token
        return out[:limit] if limit is not None else out

    async def find(self, name_or_id: str) -> servers_pb2.Server:
        """The server with this id, else the one server with exactly this name."""
        if is_uuid(name_or_id):
            try:
                return await self.get(name_or_id)
            except NotFound:
                pass
        matches = [s for s in await self.list(name=name_or_id) if s.name == name_or_id]
        if not matches:
            raise NotFound(f"no server with name or id {name_or_id!r}")
        if len(matches) > 1:
            ids = ", ".join(s.id for s in matches)
            raise AmbiguousName(
                f"{len(matches)} servers are named {name_or_id!r} ({ids}): use an id"
            )
        return matches[0]

    async def update(
        self,
        server_id: str,
        *,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> servers_pb2.Server:
        server = servers_pb2.Server(id=server_id)
        paths = []
        if name is not None:
            server.name = name
            paths.append("name")
        if metadata is not None:
            server.metadata.update(metadata)
            paths.append("metadata")
        req = servers_pb2.UpdateServerRequest(server=server)
        req.update_mask.paths.extend(paths)
        resp = await self._s.call(self._s.compute.UpdateServer, req)
        return resp.server

    async def delete(
        self, server_id: str, *, wait: bool = False, wait_timeout: float = 300.0
    ) -> servers_pb2.Server | None:
        """Ask for deletion (the server goes DELETING). With `wait`, return once it is gone."""
        resp = await self._s.call(
            self._s.compute.DeleteServer,
            servers_pb2.DeleteServerRequest(server_id=server_id, request_id=str(uuid.uuid4())),
        )
        if wait:
            await self.wait_until_deleted(server_id, wait_timeout=wait_timeout)
            return None
        return resp.server

    # ------------------------------------------------------------------ actions

    async def start(
        self, server_id: str, *, wait: bool = False, wait_timeout: float = 300.0
    ) -> servers_pb2.Server:
        resp = await self._s.call(
            self._s.compute.StartServer,
            servers_pb2.StartServerRequest(server_id=server_id, request_id=str(uuid.uuid4())),
        )
        if wait:
            return await self.wait_for(server_id, {ACTIVE}, wait_timeout=wait_timeout, settled=True)
        return resp.server

    async def stop(
        self, server_id: str, *, wait: bool = False, wait_timeout: float = 300.0
    ) -> servers_pb2.Server:
        resp = await self._s.call(
            self._s.compute.StopServer,
            servers_pb2.StopServerRequest(server_id=server_id, request_id=str(uuid.uuid4())),
        )
        if wait:
            return await self.wait_for(
                server_id, {SHUTOFF}, wait_timeout=wait_timeout, settled=True
            )
        return resp.server

    async def reboot(
        self, server_id: str, *, hard: bool = False, wait: bool = False, wait_timeout: float = 300.0
    ) -> servers_pb2.Server:
        kind = servers_pb2.REBOOT_TYPE_HARD if hard else servers_pb2.REBOOT_TYPE_SOFT
        resp = await self._s.call(
            self._s.compute.RebootServer,
            servers_pb2.RebootServerRequest(
                server_id=server_id, type=kind, request_id=str(uuid.uuid4())
            ),
        )
        if wait:
            # A reboot passes through REBOOTING; wait for it to settle back to ACTIVE.
            return await self.wait_for(server_id, {ACTIVE}, wait_timeout=wait_timeout, settled=True)
        return resp.server

    # ------------------------------------------------------------------ images of servers

    async def create_image(
        self,
        server_id: str,
        name: str = "",
        *,
        properties: Mapping[str, str] | None = None,
        request_id: str = "",
        wait: bool = False,
        wait_timeout: float = 1800.0,
        progress: Progress | None = None,
    ) -> tuple[servers_pb2.Server, str]:
        """Snapshot the server's disk to a new image; returns the server and the image's id.
        With `wait`, return once the image is ACTIVE (ImageFailed if the snapshot failed)."""
        resp = await self._s.call(
            self._s.compute.CreateServerImage,
            servers_pb2.CreateServerImageRequest(
                server_id=server_id,
                name=name,
                properties=dict(properties or {}),
                request_id=request_id or str(uuid.uuid4()),
            ),
        )
        server = resp.server
        if wait:
            server = await self.wait_for(
                server_id, {ACTIVE, SHUTOFF}, wait_timeout=wait_timeout, settled=True,
                progress=progress,
            )  # fmt: skip
            await self._image_made(resp.image_id, server)
        return server, str(resp.image_id)

    async def _image_made(self, image_id: str, server: servers_pb2.Server) -> None:
        """The snapshot's image once its host is done: ACTIVE, or ImageFailed with why."""
        image = (
            await self._s.call(
                self._s.images.GetImage, images_pb2.GetImageRequest(image_id=image_id)
            )
        ).image
        if image.status != images_pb2.IMAGE_STATUS_ACTIVE:
            why = image.status_message or (server.fault.message if server.HasField("fault") else "")
            raise ImageFailed(image_id, enums.display(enums.IMAGE_STATUS, image.status), why)

    async def shelve(
        self,
        server_id: str,
        *,
        request_id: str = "",
        wait: bool = False,
        wait_timeout: float = 1800.0,
        progress: Progress | None = None,
    ) -> tuple[servers_pb2.Server, str]:
        """Snapshot the server to an image and free its host (SHELVED_OFFLOADED)."""
        resp = await self._s.call(
            self._s.compute.ShelveServer,
            servers_pb2.ShelveServerRequest(
                server_id=server_id, request_id=request_id or str(uuid.uuid4())
            ),
        )
        server = resp.server
        if wait:
            server = await self.wait_for(
                server_id, {SHELVED_OFFLOADED}, wait_timeout=wait_timeout, settled=True,
                progress=progress,
            )  # fmt: skip
        return server, str(resp.image_id)

    async def unshelve(
        self,
        server_id: str,
        *,
        request_id: str = "",
        wait: bool = False,
        wait_timeout: float = 600.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Boot a shelved server again, on any host that fits."""
        resp = await self._s.call(
            self._s.compute.UnshelveServer,
            servers_pb2.UnshelveServerRequest(
                server_id=server_id, request_id=request_id or str(uuid.uuid4())
            ),
        )
        if wait:
            return await self.wait_for(
                server_id, {ACTIVE}, wait_timeout=wait_timeout, settled=True, progress=progress
            )
        return resp.server

    async def rebuild(
        self,
        server_id: str,
        image_id: str,
        *,
        request_id: str = "",
        wait: bool = False,
        wait_timeout: float = 900.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Reinstall the server from `image_id` on its host (same id, addresses, ports)."""
        resp = await self._s.call(
            self._s.compute.RebuildServer,
            servers_pb2.RebuildServerRequest(
                server_id=server_id, image_id=image_id, request_id=request_id or str(uuid.uuid4())
            ),
        )
        if wait:
            return await self.wait_for(
                server_id, {ACTIVE}, wait_timeout=wait_timeout, settled=True, progress=progress
            )
        return resp.server

    async def pause(
        self,
        server_id: str,
        *,
        wait: bool = False,
        wait_timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Freeze the server in memory (ACTIVE -> PAUSED)."""
        return await self._act("PauseServer", server_id, PAUSED, wait, wait_timeout, progress)

    async def unpause(
        self,
        server_id: str,
        *,
        wait: bool = False,
        wait_timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        return await self._act("UnpauseServer", server_id, ACTIVE, wait, wait_timeout, progress)

    async def suspend(
        self,
        server_id: str,
        *,
        wait: bool = False,
        wait_timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Save the server's memory to disk and stop it (ACTIVE -> SUSPENDED)."""
        return await self._act("SuspendServer", server_id, SUSPENDED, wait, wait_timeout, progress)

    async def resume(
        self,
        server_id: str,
        *,
        wait: bool = False,
        wait_timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        return await self._act("ResumeServer", server_id, ACTIVE, wait, wait_timeout, progress)

    async def _act(
        self,
        method: str,
        server_id: str,
        target: int,
        wait: bool,
        wait_timeout: float,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Call an action RPC (`method`, whose request and response are named after it);
        with `wait`, return once the action has settled in `target`. An action that settles
        anywhere else (the host refused it) raises ServerFault with the server's fault."""
        request = getattr(servers_pb2, f"{method}Request")(
            server_id=server_id, request_id=str(uuid.uuid4())
        )
        resp = await self._s.call(getattr(self._s.compute, method), request)
        if not wait:
            return resp.server
        return await self.wait_for(
            server_id,
            {target},
            wait_timeout=wait_timeout,
            settled=True,
            progress=progress,
            fail_elsewhere=True,
        )

    async def console_output(self, server_id: str, *, lines: int = 0) -> str:
        """The last `lines` lines of the server's serial console (0: all its host keeps)."""
        resp = await self._s.call(
            self._s.compute.GetServerConsoleOutput,
            servers_pb2.GetServerConsoleOutputRequest(server_id=server_id, lines=lines),
        )
        return str(resp.output)

    async def console(
        self, server_id: str, console_type: str | int | None = None
    ) -> servers_pb2.GetServerConsoleResponse:
        req = servers_pb2.GetServerConsoleRequest(
            server_id=server_id, type=enums.coerce(enums.CONSOLE_TYPE, console_type)
        )
        resp: servers_pb2.GetServerConsoleResponse = await self._s.call(
            self._s.compute.GetServerConsole, req
        )
        return resp

    # ------------------------------------------------------------------ tags

    async def add_tag(self, server_id: str, tag: str) -> servers_pb2.Server:
        resp = await self._s.call(
            self._s.compute.AddServerTag,
            servers_pb2.AddServerTagRequest(server_id=server_id, tag=tag),
        )
        return resp.server

    async def remove_tag(self, server_id: str, tag: str) -> servers_pb2.Server:
        resp = await self._s.call(
            self._s.compute.RemoveServerTag,
            servers_pb2.RemoveServerTagRequest(server_id=server_id, tag=tag),
        )
        return resp.server

    # ------------------------------------------------------------------ action history

    async def list_actions(
        self, server_id: str, *, page_size: int = 0, limit: int | None = None
    ) -> builtins.list[server_actions_pb2.ServerAction]:
        """The requests made to the server, newest first (follows next_page_token)."""
        req = server_actions_pb2.ListServerActionsRequest(server_id=server_id, page_size=page_size)
        out: builtins.list[server_actions_pb2.ServerAction] = []
        while True:
            resp = await self._s.call(self._s.compute.ListServerActions, req)
            out.extend(resp.actions)
            if not resp.next_page_token or (limit is not None and len(out) >= limit):
                break
            req.page_token = resp.next_page_token
        return out if limit is None else out[:limit]

    async def get_action(self, server_id: str, request_id: str) -> server_actions_pb2.ServerAction:
        resp = await self._s.call(
            self._s.compute.GetServerAction,
            server_actions_pb2.GetServerActionRequest(server_id=server_id, request_id=request_id),
        )
        return resp.action

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
