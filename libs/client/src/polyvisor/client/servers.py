"""Servers: create (optionally waiting until ACTIVE), get, list, operate, delete, watch.

Actions are in `server_actions`, watching and waiting in `server_waiting`.

Waiting uses ComputeService.WatchServers (a stream of changes) and falls back to polling
GetServer when the stream is not available (UNIMPLEMENTED, UNAVAILABLE, a dropped stream).
A server that ends in ERROR while waited for raises `ServerFault` with its fault.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import TypedDict, Unpack

from polyvisor.client import enums
from polyvisor.client.errors import (
    AmbiguousName,
    NotFound,
)
from polyvisor.client.server_actions import ServerActions
from polyvisor.client.server_nics import ServerNics
from polyvisor.client.server_waiting import ServerChange
from polyvisor.compute.v1 import servers_pb2

__all__ = ["ServerChange", "ServerSpecArgs", "ServersApi", "is_uuid"]


class _ServerSpecRequired(TypedDict):
    image_id: str
    flavor_id: str


# Required keys by inheritance, not Required[]: with postponed annotations Python 3.11 does not
# see Required[] and would count them optional in __required_keys__.
class ServerSpecArgs(_ServerSpecRequired, total=False):
    """The keyword arguments `create` and `create_many` both take: the server(s) to make."""

    key_name: str
    user_data: bytes | None
    availability_zone: str
    hints: Mapping[str, str] | None
    metadata: Mapping[str, str] | None
    request_id: str | None
    networks: Sequence[Mapping[str, str]]
    require_security_groups: bool
    # Boot from this volume (then image_id is ""): its root disk, kept when it is deleted
    # unless boot_volume_delete_on_termination.
    boot_volume_id: str
    boot_volume_delete_on_termination: bool


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class ServersApi(ServerActions, ServerNics):
    """Every server call of the SDK (`client.servers`)."""

    # ------------------------------------------------------------------ standard methods

    async def create(
        self,
        name: str,
        *,
        wait: bool = False,
        wait_timeout: float = 600.0,
        **spec: Unpack[ServerSpecArgs],
    ) -> servers_pb2.Server:
        """Create one server (BUILDING); with `wait`, return it once ACTIVE. `networks`: its
        NICs in order, each {"network_id": ..., "fixed_ip": ...} or {"port_id": ...} (none:
        the project's only or "default" network). `require_security_groups`: only on a host
        that enforces its ports' security groups (none: the create fails, explained).
        `boot_volume_id` (with image_id ""): boot from that volume, the server's root disk
        (deleted with the server when `boot_volume_delete_on_termination`)."""
        servers = await self.create_many(name, min_count=1, max_count=1, **spec)
        server = servers[0]
        if wait:
            server = await self.wait_until_active(server.id, wait_timeout=wait_timeout)
        return server

    async def create_many(
        self,
        name: str,
        *,
        min_count: int = 1,
        max_count: int = 0,
        **spec: Unpack[ServerSpecArgs],
    ) -> list[servers_pb2.Server]:
        """Create between `min_count` and `max_count` servers from one spec (see `create`)."""
        unknown = spec.keys() - ServerSpecArgs.__required_keys__ - ServerSpecArgs.__optional_keys__
        if unknown:
            raise TypeError(f"create_many() got unexpected keyword arguments: {sorted(unknown)}")
        missing = ServerSpecArgs.__required_keys__ - spec.keys()
        if missing:
            raise TypeError(f"create_many() missing keyword arguments: {sorted(missing)}")
        pb = servers_pb2.ServerSpec(
            name=name,
            image_id=spec["image_id"],
            flavor_id=spec["flavor_id"],
            key_name=spec.get("key_name", ""),
            user_data=spec.get("user_data") or b"",
            availability_zone=spec.get("availability_zone", ""),
            scheduler_hints=dict(spec.get("hints") or {}),
            metadata=dict(spec.get("metadata") or {}),
            networks=[servers_pb2.ServerNetwork(**dict(n)) for n in spec.get("networks", ())],
            require_security_groups=spec.get("require_security_groups", False),
            boot_volume_id=spec.get("boot_volume_id", ""),
            boot_volume_delete_on_termination=spec.get("boot_volume_delete_on_termination", False),
        )
        req = servers_pb2.CreateServerRequest(
            request_id=spec.get("request_id") or str(uuid.uuid4()),
            server=pb,
            min_count=min_count,
            max_count=max_count,
        )
        resp = await self._s.call(self._s.compute.CreateServer, req)
        return list(resp.servers)

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
        set_metadata: Mapping[str, str] | None = None,
        unset_metadata: Collection[str] = (),
    ) -> servers_pb2.Server:
        """Rename; replace the whole metadata (`metadata`); or set and remove some keys of
        it (`set_metadata`, `unset_metadata`: a patch the api applies to the metadata as it
        stands, so other writers' keys are kept)."""
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
        if set_metadata or unset_metadata:
            req.metadata_patch.set.update(set_metadata or {})
            req.metadata_patch.remove.extend(unset_metadata)
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
