"""All SQL of the image service (schema `imagesvc`).

State changes that other processes race on are conditional updates, so they hold across
replicas: an upload claims an image with `queued -> saving`, a conversion claims a rendition
with a conditional insert (or takes over a failed or abandoned one), and each finishes only
if it still holds its claim. Events go to the outbox in the same transaction as the change.
"""

from __future__ import annotations

import base64
import functools
import inspect
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import AlreadyExists, InvalidArgument
from polyvisor.imagesvc.events import ImageEvent
from polyvisor.imagesvc.model import (
    KNOWN_PROPERTIES,
    Image,
    ImageProperties,
    ImageStatus,
    Rendition,
    RenditionKey,
    RenditionStatus,
    Visibility,
)

__all__ = [
    "ImageFilters",
    "ImageIdTaken",
    "OutboxEntry",
    "Store",
    "decode_page_token",
    "encode_page_token",
]


class ImageIdTaken(AlreadyExists):
    """The id chosen on create is some image's, live or deleted (ids are never reused)."""


_IMAGE_COLUMNS = (
    "id, name, owner, visibility, shared_with, status, status_message, disk_format, "
    "container_format, size, virtual_size, os_hash_algo, os_hash_value, min_ram, min_disk, "
    "protected, " + ", ".join(KNOWN_PROPERTIES) + ", extra_properties, created_at, updated_at, "
    "deleted_at"
)
_RENDITION_COLUMNS = (
    "image_id, disk_format, vmware_disktype, status, original, size, virtual_size, sha256, "
    "status_message, location, created_at, updated_at"
)

#: Columns a caller may set through `update_image`.
UPDATABLE = frozenset(
    {
        "name",
        "visibility",
        "shared_with",
        "disk_format",
        "container_format",
        "min_ram",
        "min_disk",
        "protected",
        "extra_properties",
        *KNOWN_PROPERTIES,
    }
)


@dataclass(frozen=True, slots=True)
class ImageFilters:
    name: str = ""
    status: str = ""
    visibility: str = ""
    disk_format: str = ""
    owner: str = ""
    hypervisor_type: str = ""
    architecture: str = ""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    event: ImageEvent


def encode_page_token(created_at: datetime, image_id: str) -> str:
    raw = f"{created_at.isoformat()}|{image_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        ts, image_id = raw.split("|", 1)
        return datetime.fromisoformat(ts), str(uuid.UUID(image_id))
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument("page_token is not a token this service issued") from e


def _image(row: asyncpg.Record, renditions: Sequence[Rendition] = ()) -> Image:
    return Image(
        id=str(row["id"]),
        name=row["name"],
        owner=row["owner"],
        visibility=Visibility(row["visibility"]),
        shared_with=tuple(row["shared_with"]),
        status=ImageStatus(row["status"]),
        status_message=row["status_message"],
        disk_format=row["disk_format"],
        container_format=row["container_format"],
        size=row["size"],
        virtual_size=row["virtual_size"],
        os_hash_algo=row["os_hash_algo"],
        os_hash_value=row["os_hash_value"],
        min_ram=row["min_ram"],
        min_disk=row["min_disk"],
        protected=row["protected"],
        properties=ImageProperties(**{k: row[k] for k in KNOWN_PROPERTIES}),
        extra_properties=dict(row["extra_properties"]),
        renditions=tuple(renditions),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _rendition(row: asyncpg.Record) -> Rendition:
    return Rendition(
        image_id=str(row["image_id"]),
        key=RenditionKey(row["disk_format"], row["vmware_disktype"]),
        status=RenditionStatus(row["status"]),
        original=row["original"],
        size=row["size"],
        virtual_size=row["virtual_size"],
        sha256=row["sha256"],
        status_message=row["status_message"],
        location=row["location"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


_C = TypeVar("_C", bound=type)


def _map_db_errors(cls: _C) -> _C:
    """Every public coroutine of the class raises the project's errors, not asyncpg's."""
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(fn):
            continue

        def wrap(f: Any) -> Any:
            @functools.wraps(f)
            async def mapped(*args: Any, **kwargs: Any) -> Any:
                with db_errors():
                    return await f(*args, **kwargs)

            return mapped

        setattr(cls, name, wrap(fn))
    return cls


@_map_db_errors
class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ------------------------------------------------------------------ outbox

    @staticmethod
    async def _emit(conn: asyncpg.Connection, events: Sequence[ImageEvent]) -> None:
        for e in events:
            await conn.execute(
                "INSERT INTO imagesvc.outbox (event_id, image_id, payload) VALUES ($1, $2, $3::jsonb)",
                uuid.UUID(e.event_id),
                uuid.UUID(e.image_id),
                e.to_json(),
            )

    async def outbox_batch(self, limit: int = 100) -> list[OutboxEntry]:
        rows = await self._pool.fetch(
            "SELECT seq, payload FROM imagesvc.outbox ORDER BY seq LIMIT $1", limit
        )
        return [OutboxEntry(r["seq"], ImageEvent.from_json(r["payload"])) for r in rows]

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        await self._pool.execute(
            "DELETE FROM imagesvc.outbox WHERE seq = ANY($1::bigint[])", list(seqs)
        )

    # ------------------------------------------------------------------ images

    async def insert_image(
        self, image: Image, request_id: str, events: Sequence[ImageEvent]
    ) -> tuple[Image, bool]:
        """Insert; (image, created). A repeated request id returns the first image."""
        async with self._pool.acquire() as conn, conn.transaction():
            if request_id:
                row = await conn.fetchrow(
                    f"SELECT {_IMAGE_COLUMNS} FROM imagesvc.images "
                    "WHERE owner = $1 AND request_id = $2",
                    image.owner,
                    request_id,
                )
                if row is not None:
                    return _image(row), False
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
                    RETURNING {_IMAGE_COLUMNS}
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
            await self._emit(conn, events)
            assert row is not None
            return _image(row), True

    async def get_image(self, image_id: str, *, with_renditions: bool = True) -> Image | None:
        key = _uuid(image_id)
        if key is None:
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_IMAGE_COLUMNS} FROM imagesvc.images WHERE id = $1", key
            )
            if row is None:
                return None
            rends: list[Rendition] = []
            if with_renditions:
                rends = [
                    _rendition(r)
                    for r in await conn.fetch(
                        f"SELECT {_RENDITION_COLUMNS} FROM imagesvc.renditions "
                        "WHERE image_id = $1 ORDER BY original DESC, disk_format, vmware_disktype",
                        key,
                    )
                ]
            return _image(row, rends)

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
            f"SELECT {_IMAGE_COLUMNS} FROM imagesvc.images WHERE {' AND '.join(where)} "
            f"ORDER BY created_at, id LIMIT {arg(limit)}"
        )
        rows = await self._pool.fetch(sql, *args)
        return [_image(r) for r in rows]

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
                f"RETURNING {_IMAGE_COLUMNS}",
                *args,
            )
            if row is None:
                return None
            image = _image(row)
            await self._emit(conn, events_for(image))
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
                RETURNING {_IMAGE_COLUMNS}
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
            image = _image(row)
            await self._emit(conn, events_for(image))
            return image, locations

    # ------------------------------------------------------------------ uploads

    async def claim_upload(self, image_id: str, owner: str) -> bool:
        """queued -> saving, held by `owner`. False if the image is not queued."""
        result = await self._pool.execute(
            """
            UPDATE imagesvc.images
               SET status = 'saving', upload_owner = $2, upload_heartbeat = now(),
                   status_message = '', updated_at = now()
             WHERE id = $1 AND status = 'queued'
            """,
            uuid.UUID(image_id),
            owner,
        )
        return result == "UPDATE 1"

    async def upload_heartbeat(self, image_id: str, owner: str) -> bool:
        result = await self._pool.execute(
            "UPDATE imagesvc.images SET upload_heartbeat = now() "
            "WHERE id = $1 AND status = 'saving' AND upload_owner = $2",
            uuid.UUID(image_id),
            owner,
        )
        return result == "UPDATE 1"

    async def release_upload(self, image_id: str, owner: str, message: str) -> bool:
        """saving -> queued (an interrupted upload may be tried again)."""
        result = await self._pool.execute(
            """
            UPDATE imagesvc.images
               SET status = 'queued', upload_owner = NULL, upload_heartbeat = NULL,
                   status_message = $3, updated_at = now()
             WHERE id = $1 AND status = 'saving' AND upload_owner = $2
            """,
            uuid.UUID(image_id),
            owner,
            message,
        )
        return result == "UPDATE 1"

    async def kill_upload(
        self, image_id: str, owner: str, message: str, events_for: Any
    ) -> Image | None:
        """saving -> killed with `message`."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.images
                   SET status = 'killed', status_message = $3, upload_owner = NULL,
                       upload_heartbeat = NULL, updated_at = now()
                 WHERE id = $1 AND status = 'saving' AND upload_owner = $2
                RETURNING {_IMAGE_COLUMNS}
                """,
                uuid.UUID(image_id),
                owner,
                message,
            )
            if row is None:
                return None
            image = _image(row)
            await self._emit(conn, events_for(image))
            return image

    async def activate(
        self,
        image_id: str,
        owner: str,
        *,
        size: int,
        virtual_size: int,
        sha256: str,
        vmware_disktype: str,
        key: RenditionKey,
        location: str,
        events_for: Any,
        extra_properties: Mapping[str, str] | None = None,
    ) -> Image | None:
        """saving -> active with the original rendition (and `extra_properties` added to the
        image's); None if the claim was lost."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.images
                   SET status = 'active', status_message = '', size = $3, virtual_size = $4,
                       os_hash_algo = 'sha256', os_hash_value = $5,
                       vmware_disktype = CASE WHEN $6 = '' THEN vmware_disktype ELSE $6 END,
                       extra_properties = extra_properties || $7::jsonb,
                       upload_owner = NULL, upload_heartbeat = NULL, updated_at = now()
                 WHERE id = $1 AND status = 'saving' AND upload_owner = $2
                RETURNING {_IMAGE_COLUMNS}
                """,
                uuid.UUID(image_id),
                owner,
                size,
                virtual_size,
                sha256,
                vmware_disktype,
                dict(extra_properties or {}),
            )
            if row is None:
                return None
            await conn.execute(
                """
                INSERT INTO imagesvc.renditions (image_id, disk_format, vmware_disktype, status,
                    original, size, virtual_size, sha256, location)
                VALUES ($1, $2, $3, 'active', true, $4, $5, $6, $7)
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                size,
                virtual_size,
                sha256,
                location,
            )
            image = _image(row)
            await self._emit(conn, events_for(image))
        return await self.get_image(image_id)

    async def requeue_stale_uploads(self, stale_after_s: float) -> list[str]:
        """saving images whose uploader stopped beating (it died) -> queued."""
        rows = await self._pool.fetch(
            """
            UPDATE imagesvc.images
               SET status = 'queued', upload_owner = NULL, upload_heartbeat = NULL,
                   status_message = 'upload abandoned (the uploading process stopped)',
                   updated_at = now()
             WHERE status = 'saving' AND upload_heartbeat < now() - make_interval(secs => $1)
            RETURNING id
            """,
            stale_after_s,
        )
        return [str(r["id"]) for r in rows]

    # ------------------------------------------------------------------ renditions

    async def get_rendition(self, image_id: str, key: RenditionKey) -> Rendition | None:
        row = await self._pool.fetchrow(
            f"SELECT {_RENDITION_COLUMNS} FROM imagesvc.renditions "
            "WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3",
            uuid.UUID(image_id),
            key.disk_format,
            key.vmware_disktype,
        )
        return _rendition(row) if row else None

    async def original_rendition(self, image_id: str) -> Rendition | None:
        row = await self._pool.fetchrow(
            f"SELECT {_RENDITION_COLUMNS} FROM imagesvc.renditions "
            "WHERE image_id = $1 AND original",
            uuid.UUID(image_id),
        )
        return _rendition(row) if row else None

    async def list_renditions(self, image_id: str) -> list[Rendition]:
        rows = await self._pool.fetch(
            f"SELECT {_RENDITION_COLUMNS} FROM imagesvc.renditions WHERE image_id = $1 "
            "ORDER BY original DESC, disk_format, vmware_disktype",
            uuid.UUID(image_id),
        )
        return [_rendition(r) for r in rows]

    async def claim_rendition(
        self, image_id: str, key: RenditionKey, owner: str, stale_after_s: float
    ) -> tuple[bool, Rendition | None]:
        """Claim the right to produce a rendition: (claimed, the row as it is now).

        A new rendition is claimed by a conditional insert (only while the image is active);
        a failed one, or one whose producer stopped beating, by a conditional update."""
        iid = uuid.UUID(image_id)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""
                INSERT INTO imagesvc.renditions (image_id, disk_format, vmware_disktype, status,
                    claimed_by, heartbeat_at)
                SELECT $1, $2, $3, 'pending', $4, now()
                 WHERE EXISTS (SELECT 1 FROM imagesvc.images WHERE id = $1 AND status = 'active')
                ON CONFLICT (image_id, disk_format, vmware_disktype) DO NOTHING
                RETURNING {_RENDITION_COLUMNS}
                """,
                iid,
                key.disk_format,
                key.vmware_disktype,
                owner,
            )
            if row is not None:
                return True, _rendition(row)
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.renditions
                   SET status = 'pending', claimed_by = $4, heartbeat_at = now(),
                       status_message = '', reserved_bytes = 0, updated_at = now()
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND NOT original
                   AND (status = 'failed'
                        OR (status IN ('pending', 'converting')
                            AND heartbeat_at < now() - make_interval(secs => $5)))
                   AND EXISTS (SELECT 1 FROM imagesvc.images WHERE id = $1 AND status = 'active')
                RETURNING {_RENDITION_COLUMNS}
                """,
                iid,
                key.disk_format,
                key.vmware_disktype,
                owner,
                stale_after_s,
            )
            if row is not None:
                return True, _rendition(row)
            row = await conn.fetchrow(
                f"SELECT {_RENDITION_COLUMNS} FROM imagesvc.renditions "
                "WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3",
                iid,
                key.disk_format,
                key.vmware_disktype,
            )
            return False, _rendition(row) if row else None

    async def rendition_progress(
        self, image_id: str, key: RenditionKey, owner: str, status: RenditionStatus | None = None
    ) -> bool:
        """Heartbeat (and optionally move pending -> converting); False if the claim is lost."""
        result = await self._pool.execute(
            """
            UPDATE imagesvc.renditions
               SET heartbeat_at = now(), status = COALESCE($5::text, status), updated_at = now()
             WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
               AND claimed_by = $4 AND status IN ('pending', 'converting')
            """,
            uuid.UUID(image_id),
            key.disk_format,
            key.vmware_disktype,
            owner,
            status.value if status else None,
        )
        return result == "UPDATE 1"

    async def finish_rendition(
        self,
        image_id: str,
        key: RenditionKey,
        owner: str,
        *,
        size: int,
        virtual_size: int,
        sha256: str,
        location: str,
        events_for: Any,
    ) -> Rendition | None:
        """converting -> active; None if the claim was lost or the image is no longer active."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.renditions
                   SET status = 'active', size = $5, virtual_size = $6, sha256 = $7,
                       location = $8, claimed_by = NULL, heartbeat_at = NULL, reserved_bytes = 0,
                       status_message = '', updated_at = now()
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND claimed_by = $4 AND status IN ('pending', 'converting')
                   AND EXISTS (SELECT 1 FROM imagesvc.images WHERE id = $1 AND status = 'active')
                RETURNING {_RENDITION_COLUMNS}
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                owner,
                size,
                virtual_size,
                sha256,
                location,
            )
            if row is None:
                return None
            rendition = _rendition(row)
            await self._emit(conn, events_for(rendition))
            return rendition

    async def fail_rendition(
        self, image_id: str, key: RenditionKey, owner: str, message: str, events_for: Any
    ) -> Rendition | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.renditions
                   SET status = 'failed', status_message = $5, claimed_by = NULL,
                       heartbeat_at = NULL, reserved_bytes = 0, updated_at = now()
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND claimed_by = $4 AND status IN ('pending', 'converting')
                RETURNING {_RENDITION_COLUMNS}
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                owner,
                message,
            )
            if row is None:
                return None
            rendition = _rendition(row)
            await self._emit(conn, events_for(rendition))
            return rendition

    # ------------------------------------------------------------------ quotas

    _STORED_BYTES = """
        SELECT COALESCE(sum(CASE WHEN r.status = 'active' THEN r.size
                                 ELSE r.reserved_bytes END), 0)::bigint
          FROM imagesvc.renditions r JOIN imagesvc.images i ON i.id = r.image_id
         WHERE i.owner = $1 AND i.status <> 'deleted'
    """

    async def project_stored_bytes(self, project: str) -> int:
        """What `project`'s renditions (originals included) hold, conversions in progress
        counted at what they reserved."""
        return int(await self._pool.fetchval(self._STORED_BYTES, project))

    async def reserve_rendition_bytes(
        self,
        image_id: str,
        key: RenditionKey,
        owner: str,
        *,
        project: str,
        quota: int,
        want: int,
        at_least: int,
    ) -> tuple[int, int]:
        """Reserve up to `want` bytes of `project`'s stored-bytes quota for the claimed
        rendition: (bytes reserved, bytes that were left). Nothing is reserved (0) when fewer
        than `at_least` are left or the claim is lost. Serialised per project (an advisory
        lock), so replicas converting for one project at once never reserve past the quota."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", f"imagesvc:{project}"
            )
            used = int(await conn.fetchval(self._STORED_BYTES, project))
            left = max(0, quota - used)
            if left < at_least:
                return 0, left
            reserve = min(want, left)
            done = await conn.execute(
                """
                UPDATE imagesvc.renditions SET reserved_bytes = $5
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND claimed_by = $4 AND status IN ('pending', 'converting')
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                owner,
                reserve,
            )
            return (reserve if done == "UPDATE 1" else 0), left

    async def conversion_seconds_used(self, project: str, window_s: float) -> float:
        value = await self._pool.fetchval(
            """
            SELECT COALESCE(sum(seconds), 0) FROM imagesvc.conversion_usage
             WHERE project = $1 AND finished_at > now() - make_interval(secs => $2)
            """,
            project,
            window_s,
        )
        return float(value)

    async def record_conversion(self, project: str, image_id: str, seconds: float) -> None:
        await self._pool.execute(
            "INSERT INTO imagesvc.conversion_usage (project, image_id, seconds) "
            "VALUES ($1, $2, $3)",
            project,
            uuid.UUID(image_id),
            seconds,
        )

    async def prune_conversion_usage(self, older_than_s: float) -> int:
        result = await self._pool.execute(
            "DELETE FROM imagesvc.conversion_usage "
            "WHERE finished_at < now() - make_interval(secs => $1)",
            older_than_s,
        )
        return int(result.split()[-1])

    async def all_locations(self) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT location FROM imagesvc.renditions WHERE location <> ''"
        )
        return {r["location"] for r in rows}
