"""The catalogue: create, read, list, change and delete images, with the access rules.

Image ids chosen by a creator live in one namespace shared by every project, and an id is
never reused, not even after its image is deleted (a deleted id that could be taken again
would let a new image stand in for the old one where it is still referenced). Glance answers
409 Conflict for any taken id, which tells a caller that an image they cannot see exists.
Here a taken id answers ALREADY_EXISTS only when the caller can see that image (nothing
new is learnt); any other taken id, whether another project's private image or a deleted
one, answers the same INVALID_ARGUMENT "id unavailable", so the answer says neither who
owns the image, nor whether it is still there, nor what it is. (That the id is taken cannot
be hidden while ids are chosen by clients; ids are random UUIDs, so only a leaked one can be
tried.)
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from polyvisor.common.auth import Principal
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from polyvisor.common.grants import ImageGrants
from polyvisor.common.logging import get_logger
from polyvisor.imagesvc import access
from polyvisor.imagesvc import properties as props
from polyvisor.imagesvc.blobstore import BlobStore
from polyvisor.imagesvc.events import EventKind, image_event
from polyvisor.imagesvc.model import KNOWN_PROPERTIES, Image, ImageStatus, Visibility
from polyvisor.imagesvc.store import Store
from polyvisor.imagesvc.store.rows import (
    ImageFilters,
    ImageIdTaken,
    decode_page_token,
    encode_page_token,
)

__all__ = ["MUTABLE_FIELDS", "Catalogue", "ImageDraft"]

log = get_logger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

#: Fields an update may name (known properties included).
MUTABLE_FIELDS = frozenset(
    {
        "name",
        "visibility",
        "shared_with",
        "disk_format",
        "container_format",
        "min_ram",
        "min_disk",
        "protected",
        "properties",
        *KNOWN_PROPERTIES,
    }
)


@dataclass(frozen=True, slots=True)
class ImageDraft:
    """What a creator asks for (not yet validated)."""

    disk_format: str
    name: str = ""
    id: str = ""
    visibility: Visibility = Visibility.PRIVATE
    shared_with: tuple[str, ...] = ()
    container_format: str = "bare"
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    extra_properties: dict[str, str] = field(default_factory=dict)


class Catalogue:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        wake_outbox: Callable[[], None],
        on_deleted: Callable[[str], Awaitable[None]] | None = None,
        agent_grants: ImageGrants | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._wake = wake_outbox
        self._on_deleted = on_deleted
        self._grants = agent_grants

    async def create(self, p: Principal | None, draft: ImageDraft, request_id: str) -> Image:
        principal = access.require_create(p, draft.visibility)
        image_id = draft.id or str(uuid.uuid4())
        try:
            image_id = str(uuid.UUID(image_id))
        except ValueError as e:
            raise InvalidArgument(f"image id {draft.id!r} is not a UUID") from e
        if len(request_id) > 128:
            raise InvalidArgument("request_id is at most 128 characters")
        image = Image(
            id=image_id,
            name=props.validate_name(draft.name),
            owner=principal.project_id,
            visibility=draft.visibility,
            shared_with=props.validate_shared_with(draft.visibility, draft.shared_with),
            disk_format=props.validate_disk_format(draft.disk_format),
            container_format=props.validate_container_format(draft.container_format),
            min_ram=props.validate_min("min_ram", draft.min_ram),
            min_disk=props.validate_min("min_disk", draft.min_disk),
            protected=draft.protected,
            properties=props.validate_properties(draft.properties),
            extra_properties=props.validate_extra_properties(draft.extra_properties),
        )
        _check_disktype(image)
        try:
            created, new = await self._store.insert_image(
                image, request_id, [image_event(EventKind.CREATED, image)]
            )
        except ImageIdTaken:
            taken = await self._store.get_image(image_id, with_renditions=False)
            if taken is not None and access.can_see(principal, taken):
                raise
            raise InvalidArgument(
                f"image id {image_id} is unavailable; choose another id or leave it empty",
                {"image_id": image_id},
            ) from None
        if new:
            self._wake()
            log.info("image created", image_id=created.id, owner=created.owner)
        return created

    async def get(self, p: Principal | None, image_id: str) -> Image:
        if p is not None and p.is_agent:
            # An agent reads only the images it was told to fetch (docs/security.md).
            if self._grants is None:
                raise NotFound(f"image {image_id} not found", {"image_id": image_id})
            await self._grants.require(p, image_id)
        return access.require_see(p, await self._store.get_image(image_id), image_id)

    async def list(
        self,
        p: Principal | None,
        filters: ImageFilters,
        *,
        all_projects: bool,
        page_size: int,
        page_token: str,
    ) -> tuple[list[Image], str]:
        scope = access.list_scope(p, all_projects)
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = decode_page_token(page_token) if page_token else None
        if filters.status == ImageStatus.DELETED.value:
            return [], ""
        images = await self._store.list_images(
            all_projects=scope.all_projects,
            project_id=scope.project_id,
            filters=filters,
            limit=limit + 1,
            after=after,
        )
        next_token = ""
        if len(images) > limit:
            images = images[:limit]
            last = images[-1]
            assert last.created_at is not None
            next_token = encode_page_token(last.created_at, last.id)
        return images, next_token

    async def update(self, p: Principal | None, image_id: str, changes: Mapping[str, Any]) -> Image:
        if not changes:
            raise InvalidArgument("update_mask names no field to change")
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise InvalidArgument(
                f"cannot change {', '.join(sorted(unknown))} "
                f"(changeable: {', '.join(sorted(MUTABLE_FIELDS))})"
            )
        current = access.require_mutate(p, await self._store.get_image(image_id), image_id)
        assert p is not None
        columns: dict[str, Any] = {}
        visibility = current.visibility
        if "visibility" in changes:
            visibility = changes["visibility"]
            if not isinstance(visibility, Visibility):
                raise InvalidArgument("visibility must be private, public or shared")
            if (
                visibility is Visibility.PUBLIC
                and not p.is_admin
                and current.visibility != visibility
            ):
                raise PermissionDenied("only an admin may make an image public")
            columns["visibility"] = visibility
        if "shared_with" in changes:
            columns["shared_with"] = props.validate_shared_with(visibility, changes["shared_with"])
        elif visibility is not Visibility.SHARED and current.shared_with:
            columns["shared_with"] = ()
        if "name" in changes:
            columns["name"] = props.validate_name(changes["name"])
        for name in ("min_ram", "min_disk"):
            if name in changes:
                columns[name] = props.validate_min(name, int(changes[name]))
        if "protected" in changes:
            columns["protected"] = bool(changes["protected"])
        if "properties" in changes:
            columns["extra_properties"] = props.validate_extra_properties(changes["properties"])
        for name in KNOWN_PROPERTIES:
            if name in changes:
                columns[name] = props.validate_property(name, changes[name])
        expect: list[ImageStatus] | None = None
        if "disk_format" in changes or "container_format" in changes:
            if current.status is not ImageStatus.QUEUED:
                raise FailedPrecondition(
                    f"disk_format and container_format change only while the image is queued "
                    f"(it is {current.status.value})"
                )
            if "disk_format" in changes:
                columns["disk_format"] = props.validate_disk_format(changes["disk_format"])
            if "container_format" in changes:
                columns["container_format"] = props.validate_container_format(
                    changes["container_format"]
                )
            expect = [ImageStatus.QUEUED]
        if "vmware_disktype" in changes and current.status is not ImageStatus.QUEUED:
            if current.disk_format == "vmdk":
                raise FailedPrecondition(
                    "vmware_disktype of vmdk data is what the inspector found; it cannot change"
                )
        merged = replace(
            current,
            disk_format=columns.get("disk_format", current.disk_format),
            properties=replace(
                current.properties,
                **{k: columns[k] for k in KNOWN_PROPERTIES if k in columns},
            ),
        )
        _check_disktype(merged)
        updated = await self._store.update_image(
            image_id,
            columns,
            lambda img: [image_event(EventKind.UPDATED, img)],
            expect_status=expect,
        )
        if updated is None:
            raise FailedPrecondition(f"image {image_id} changed concurrently; try again")
        self._wake()
        return updated

    async def delete(self, p: Principal | None, image_id: str) -> None:
        current = access.require_delete(p, await self._store.get_image(image_id), image_id)
        if current.protected:
            raise FailedPrecondition(f"image {image_id} is protected; unprotect it first")
        deleted, _locations = await self._store.mark_deleted(
            image_id, lambda img: [image_event(EventKind.DELETED, img)]
        )
        if deleted is None:
            again = await self._store.get_image(image_id, with_renditions=False)
            if again is not None and again.protected:
                raise FailedPrecondition(f"image {image_id} is protected; unprotect it first")
            raise NotFound(f"image {image_id} not found", {"image_id": image_id})
        self._wake()
        if self._on_deleted is not None:  # conversions of it stop now (qemu-img killed)
            await self._on_deleted(image_id)
        # Open downloads keep their file descriptors; the names go now.
        await self._blobs.delete_image(image_id)
        log.info("image deleted", image_id=image_id)


def _check_disktype(image: Image) -> None:
    """A flat (preallocated) vmdk is two files: never accepted as an upload."""
    if image.disk_format == "vmdk" and image.properties.vmware_disktype == "preallocated":
        raise InvalidArgument(
            "vmware_disktype preallocated (a flat vmdk) cannot be uploaded: it is two files; "
            "upload sparse or streamOptimized (allowed values for vmdk data: sparse, "
            "streamOptimized)",
            {"property": "vmware_disktype"},
        )
