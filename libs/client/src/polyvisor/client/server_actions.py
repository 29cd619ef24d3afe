"""Server actions: power, reboot, images of servers (snapshot, shelve, unshelve, rebuild),
pause and suspend, an admin's reset of the state, consoles, tags and the action history. Each action can wait until it
settles (see `server_waiting`)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping

from polyvisor.client import enums
from polyvisor.client.errors import ImageFailed
from polyvisor.client.server_waiting import (
    ACTIVE,
    PAUSED,
    SHELVED_OFFLOADED,
    SHUTOFF,
    SUSPENDED,
    Progress,
    ServerWatching,
)
from polyvisor.compute.v1 import server_actions_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2

__all__ = ["ServerActions"]


class ServerActions(ServerWatching):
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
        """Reinstall the server from `image_id` on its host (same id, addresses, ports). It keeps
        its power state: ACTIVE, or SHUTOFF when it was stopped (never started on the way)."""
        resp = await self._s.call(
            self._s.compute.RebuildServer,
            servers_pb2.RebuildServerRequest(
                server_id=server_id, image_id=image_id, request_id=request_id or str(uuid.uuid4())
            ),
        )
        if wait:
            return await self.wait_for(
                server_id,
                {ACTIVE, SHUTOFF},
                wait_timeout=wait_timeout,
                settled=True,
                progress=progress,
                fail_elsewhere=True,
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

    async def reset_state(self, server_id: str, state: str) -> servers_pb2.Server:
        """Admin: the state an operator has found the server in, "active" or "error"
        (Nova's reset-state); whatever was in flight on it is forgotten."""
        resp = await self._s.call(
            self._s.compute.ResetServerState,
            servers_pb2.ResetServerStateRequest(
                server_id=server_id,
                state=enums.parse(enums.SERVER_STATE, state),
                request_id=str(uuid.uuid4()),
            ),
        )
        return resp.server

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
