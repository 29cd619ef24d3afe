"""Day-2 changes of a server: its name, metadata and tags, and the actions that need an image
(snapshot to image, shelve, rebuild, unshelve)."""

from __future__ import annotations

from dataclasses import asdict, replace

from polyvisor.api import (
    image_checks,
    lifecycle,
    validation,
)
from polyvisor.api import models as m
from polyvisor.api.boot_volumes import refuse_for_volume_root
from polyvisor.api.convert import images as image_convert
from polyvisor.api.lifecycle import Action, Change
from polyvisor.api.models import State
from polyvisor.api.placement import PlacementRequest
from polyvisor.api.server_base import ServerBase
from polyvisor.api.store import servers as server_store
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from polyvisor.common.logging import get_logger

log = get_logger(__name__)


class ServerDay2(ServerBase):
    # ------------------------------------------------------------------ reset

    async def reset_state(
        self, p: Principal, server_id: str, state: State, request_id: str = ""
    ) -> m.Server:
        """Admin: the state an operator has found the server in (`lifecycle.reset_state`)."""
        p.require_admin()
        return await self._acted(
            p,
            server_id,
            "reset_state",
            request_id,
            lambda server, now, rid: lifecycle.reset_state(server, state, rid),
        )

    # ------------------------------------------------------------------ update

    async def update(
        self,
        p: Principal,
        server_id: str,
        name: str | None,
        metadata: dict[str, str] | None,
        patch: m.MetadataPatch | None = None,
    ) -> m.Server:
        """Rename, replace the metadata, or patch it: the patch applies to the metadata the
        locked row holds, so concurrent patches each apply."""
        change = Change(
            name=validation.name(name, "server.name") if name is not None else lifecycle.UNSET,
            metadata=(
                validation.metadata(metadata, "server.metadata")
                if metadata is not None
                else lifecycle.UNSET
            ),
        )
        if patch is not None:
            if metadata is not None:
                raise InvalidArgument(
                    "metadata_patch and metadata in update_mask: one or the other",
                    {"field": "metadata_patch"},
                )
            _check_patch(patch)
        elif not change:
            raise InvalidArgument("update_mask names nothing to change", {"field": "update_mask"})
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await self._locked(conn, p, server_id)
                if server.state == State.DELETED:
                    raise FailedPrecondition(f"server {server_id} is deleted")
                if patch is not None:
                    patched = _patched(server, patch)
                    if patched != server.metadata:
                        change = replace(change, metadata=patched)
                    if not change:  # the patch changes nothing: no new revision
                        return server
                return await server_store.save(conn, server, change)

    async def tag(self, p: Principal, server_id: str, tag: str, *, add: bool) -> m.Server:
        """Add a tag (one already there changes nothing) or remove one (one not there is
        NOT_FOUND, as Nova's)."""
        tag = validation.tag(tag)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await self._locked(conn, p, server_id)
                if server.state == State.DELETED:
                    raise FailedPrecondition(f"server {server_id} is deleted")
                if add:
                    if tag in server.tags:
                        return server
                    if len(server.tags) >= validation.MAX_TAGS:
                        raise FailedPrecondition(
                            f"server {server_id} has {validation.MAX_TAGS} tags already",
                            {"server_id": server_id},
                        )
                    tags = (*server.tags, tag)
                else:
                    if tag not in server.tags:
                        raise NotFound(
                            f"server {server_id} has no tag {tag!r}",
                            {"server_id": server_id, "tag": tag},
                        )
                    tags = tuple(t for t in server.tags if t != tag)
                return await server_store.save(conn, server, Change(tags=tags))

    # ------------------------------------------------------------------ day 2

    async def create_image(
        self,
        p: Principal,
        bearer: str,
        server_id: str,
        name: str,
        request_id: str = "",
        properties: dict[str, str] | None = None,
        *,
        action: Action = Action.CREATE_IMAGE,
    ) -> tuple[m.Server, str]:
        """Snapshot the server to a new image (CREATE_IMAGE, or SHELVE: then free its host).

        The image is made first (QUEUED, owned by the caller's project, naming the host that
        may upload to it), then the action starts with its id; the host uploads the disk.
        Returns the server and the image's id."""
        p.require_write()
        request_id = validation.request_id(request_id)
        props = validation.metadata(dict(properties or {}), "properties")
        server = await self.get(p, server_id)
        if request_id and server.last_request_id == request_id:
            return server, str(server.action_args.get("image_id") or "")
        # Refuse before making an image nobody would fill.
        lifecycle.ACTIONS[action].check(server)
        if action == Action.SHELVE:
            await self._refuse_for_volume_root(server, "shelved")
        suffix = "shelved" if action == Action.SHELVE else "snapshot"
        name = validation.name(name or f"{server.name}-{suffix}", "name")
        try:
            base: m.ImageInfo | None = await self.images.get_image(server.image_id, bearer)
        except NotFound:
            base = None  # deleted since: the snapshot stands on its own
        draft = image_convert.snapshot_draft(name, server, base, props)
        image_id = await self.images.create_image(
            draft, f"{action.value}:{server.id}:{request_id}" if request_id else "", bearer
        )
        try:
            updated = await self.act(p, server.id, action, request_id, {"image_id": image_id})
        except BaseException:
            # Raced with another action: the image would stay empty for ever.
            try:
                await self.images.delete_image(image_id, bearer)
            except Exception as e:
                log.warning(
                    "could not remove an unused snapshot image", image_id=image_id, error=str(e)
                )
            raise
        log.info(
            "server image requested", server_id=server.id, image_id=image_id, action=action.value
        )
        return updated, image_id

    async def rebuild(
        self,
        p: Principal,
        bearer: str,
        server_id: str,
        image_id: str,
        request_id: str = "",
        *,
        name: str | None = None,
        patch: m.MetadataPatch | None = None,
    ) -> m.Server:
        """Reinstall the server from `image_id` on its host (same id, addresses, ports);
        renamed and its metadata patched with it (in the rebuild's transaction) when asked."""
        image_id = validation.required(image_id, "image_id")
        new_name = validation.name(name, "name") if name is not None else lifecycle.UNSET
        if patch is not None:
            _check_patch(patch)
        server = await self.get(p, server_id)
        lifecycle.ACTIONS[Action.REBUILD].check(server)
        await self._refuse_for_volume_root(server, "rebuilt")
        image = await self.images.get_image(image_id, bearer)
        image_checks.check_image_usable(image)
        image_checks.check_flavor_fits_image(server.flavor, image)
        await self._check_host_runs(server, image)
        args = {"image_id": image.id, "image": asdict(image)}

        def renamed(locked: m.Server) -> Change:
            metadata = _patched(locked, patch) if patch is not None else lifecycle.UNSET
            return Change(name=new_name, metadata=metadata)

        return await self.act(p, server.id, Action.REBUILD, request_id, args, also=renamed)

    async def _refuse_for_volume_root(self, server: m.Server, action: str) -> None:
        with db_errors():
            spec, _ = await server_store.spawn_data(self.pool, server.id)
        refuse_for_volume_root(spec, server.id, action)

    async def _check_host_runs(self, server: m.Server, image: m.ImageInfo) -> None:
        """The scheduler's image filters on the server's host (a rebuild keeps it): refused
        with the scheduler's explanation when that host cannot run the image."""
        req = PlacementRequest(
            request_id=f"rebuild:{server.id}:{image.id}",
            server_id=server.id,
            project_id=server.project_id,
            user_id=server.user_id,
            flavor=server.flavor,
            image=image,
        )
        refused = await self.scheduler.check_host(req, server.host)
        if refused is not None:
            raise FailedPrecondition(
                f"server {server.id} stays on {server.host} to be rebuilt, and that host "
                f"cannot run image {image.id}: {refused.summary}",
                {"server_id": server.id, "image_id": image.id, "host": server.host},
            )

    async def unshelve(
        self, p: Principal, bearer: str, server_id: str, request_id: str = ""
    ) -> m.Server:
        """Schedule a shelved server again; it boots from the image it was shelved to."""
        server = await self.get(p, server_id)
        lifecycle.ACTIONS[Action.UNSHELVE].check(server)
        image_id = str(server.action_args.get("image_id") or "")
        if not image_id:
            raise FailedPrecondition(
                f"server {server_id} has no shelved image", {"server_id": server_id}
            )
        image = await self.images.get_image(image_id, bearer)
        image_checks.check_image_usable(image)
        return await self.act(
            p, server.id, Action.UNSHELVE, request_id, {"image_id": image_id}, spawn_image=image
        )


def _check_patch(patch: m.MetadataPatch) -> None:
    validation.metadata(patch.set, "metadata_patch.set")
    if both := sorted(set(patch.set) & set(patch.remove)):
        raise InvalidArgument(
            f"metadata_patch sets and removes {both[0][:40]!r}",
            {"field": "metadata_patch.remove"},
        )


def _patched(server: m.Server, patch: m.MetadataPatch) -> dict[str, str]:
    """The server's metadata with `patch` applied (RESOURCE_EXHAUSTED past the item limit)."""
    patched = patch.applied(dict(server.metadata))
    if len(patched) > validation.MAX_METADATA_ITEMS:
        raise ResourceExhausted(
            f"metadata quota: server {server.id} would hold {len(patched)} "
            f"items, the limit is {validation.MAX_METADATA_ITEMS}",
            {"server_id": server.id},
        )
    return patched
