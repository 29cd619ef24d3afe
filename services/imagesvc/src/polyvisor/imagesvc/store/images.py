"""Images: create (idempotent per request id), read, list, update, delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from polyvisor.common.errors import AlreadyExists, InvalidArgument
from polyvisor.imagesvc.events import ImageEvent
from polyvisor.imagesvc.model import (
    KNOWN_PROPERTIES,
    Image,
    ImageStatus,
    Rendition,
    Visibility,
)
from polyvisor.imagesvc.store.outbox import emit
from polyvisor.imagesvc.store.rows import (
    IMAGE_COLUMNS,
    RENDITION_COLUMNS,
    UPDATABLE,
    ImageFilters,
    ImageIdTaken,
    Queries,
    map_db_errors,
    parse_uuid,
    row_image,
    row_rendition,
)


@map_db_errors
class ImageQueries(Queries):
    async def insert_image(
        self, image: Image, request_id: str, events: Sequence[ImageEvent]
    ) -> tuple[Image, bool]:
        """Insert; (image, created). A repeated request id returns the first image."""
        async with self._pool.acquire() as conn, conn.transaction():
            if request_id:
                row = await conn.fetchrow(
                    f"SELECT {IMAGE_COLUMNS} FROM imagesvc.images "
                    "WHERE owner = $1 AND request_id = $2",
                    image.owner,
                    request_id,
                )
                if row is not None:
                    return row_image(row), False
            props = image.properties.as_dict()
            try:
                row = await conn.fetchrow(
                    f"""
                    INSERT INTO imagesvc.images (
                        id, name, owner, visibility, shared_with, status, disk_format,
                        container_format, min_ram, min_disk, protected,
                        {", ".join(KNOWN_PROPERTIES)}, extra_properties, request_id)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                        {", ".join(f"${12 + i}" for i in range(len(KNOWN_PROPERTIES)))},
                        ${12 + len(KNOWN_PROPERTIES)}::jsonb, ${13 + len(KNOWN_PROPERTIES)})
                    RETURNING {IMAGE_COLUMNS}
                    """,
                    uuid.UUID(image.id),
                    image.name,
                    image.owner,
                    image.visibility.value,
                    list(image.shared_with),
                    image.status.value,
                    image.disk_format,
                    image.container_format,
                    image.min_ram,
                    image.min_disk,
                    image.protected,
                    *(props[k] for k in KNOWN_PROPERTIES),
                    dict(image.extra_properties),
                    request_id or None,
                )
            except asyncpg.UniqueViolationError as e:
                if e.constraint_name == "images_request_id":
                    raise AlreadyExists(
                        "an image was created concurrently with this request_id"
                    ) from e
                raise ImageIdTaken(
                    f"image {image.id} already exists", {"image_id": image.id}
                ) from e
            await emit(conn, events)
            assert row is not None
            return row_image(row), True

    async def get_image(self, image_id: str, *, with_renditions: bool = True) -> Image | None:
        key = parse_uuid(image_id)
        if key is None:
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {IMAGE_COLUMNS} FROM imagesvc.images WHERE id = $1", key
            )
            if row is None:
                return None
            rends: list[Rendition] = []
            if with_renditions:
                rends = [
                    row_rendition(r)
                    for r in await conn.fetch(
                        f"SELECT {RENDITION_COLUMNS} FROM imagesvc.renditions "
                        "WHERE image_id = $1 ORDER BY original DESC, disk_format, vmware_disktype",
                        key,
                    )
                ]
            return row_image(row, rends)

    async def list_images(
        self,
        *,
        all_projects: bool,
        project_id: str,
        filters: ImageFilters,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Image]:
        where = ["status <> 'deleted'"]
        args: list[Any] = []

        def arg(v: Any) -> str:
            args.append(v)
            return f"${len(args)}"

        if not all_projects:
            p = arg(project_id)
            where.append(
                f"(owner = {p} OR visibility = 'public' "
                f"OR (visibility = 'shared' AND {p} = ANY(shared_with)))"
            )
        for column in (
            "name",
            "status",
            "visibility",
            "disk_format",
            "owner",
            "hypervisor_type",
            "architecture",
        ):
            value = getattr(filters, column)
            if value:
                where.append(f"{column} = {arg(value)}")
        if after is not None:
            where.append(f"(created_at, id) > ({arg(after[0])}, {arg(uuid.UUID(after[1]))})")
        sql = (
            f"SELECT {IMAGE_COLUMNS} FROM imagesvc.images WHERE {' AND '.join(where)} "
            f"ORDER BY created_at, id LIMIT {arg(limit)}"
        )
        rows = await self._pool.fetch(sql, *args)
        return [row_image(r) for r in rows]

    async def update_image(
        self,
        image_id: str,
        changes: Mapping[str, Any],
        events_for: Any,
        *,
        expect_status: Sequence[ImageStatus] | None = None,
    ) -> Image | None:
        """Apply `changes` (columns in UPDATABLE); None if the image is gone or its status
        is not in `expect_status`. `events_for(image)` gives the events to record."""
        bad = set(changes) - UPDATABLE
        if bad:
            raise InvalidArgument(f"cannot update {', '.join(sorted(bad))}")
        sets: list[str] = []
        args: list[Any] = [uuid.UUID(image_id)]
        for column, value in changes.items():
            if column == "extra_properties":
                args.append(dict(value))
                sets.append(f"{column} = ${len(args)}::jsonb")
            elif column == "visibility":
                args.append(value.value if isinstance(value, Visibility) else value)
                sets.append(f"{column} = ${len(args)}")
            elif column == "shared_with":
                args.append(list(value))
                sets.append(f"{column} = ${len(args)}")
            else:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        sets.append("updated_at = now()")
        cond = "status <> 'deleted'"
        if expect_status:
            args.append([s.value for s in expect_status])
            cond = f"status = ANY(${len(args)}::text[])"
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE imagesvc.images SET {', '.join(sets)} WHERE id = $1 AND {cond} "
                f"RETURNING {IMAGE_COLUMNS}",
                *args,
            )
            if row is None:
                return None
            image = row_image(row)
            await emit(conn, events_for(image))
        return await self.get_image(image.id)

    async def mark_deleted(self, image_id: str, events_for: Any) -> tuple[Image | None, list[str]]:
        """Mark the image deleted unless protected; (image, locations of its bytes).

        None when it was already deleted or is protected (the caller re-reads to say which)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.images
                   SET status = 'deleted', deleted_at = now(), updated_at = now(),
                       upload_owner = NULL
                 WHERE id = $1 AND status <> 'deleted' AND NOT protected
                RETURNING {IMAGE_COLUMNS}
                """,
                uuid.UUID(image_id),
            )
            if row is None:
                return None, []
            locations = [
                r["location"]
                for r in await conn.fetch(
                    "DELETE FROM imagesvc.renditions WHERE image_id = $1 RETURNING location",
                    uuid.UUID(image_id),
                )
                if r["location"]
            ]
            image = row_image(row)
            await emit(conn, events_for(image))
            return image, locations
