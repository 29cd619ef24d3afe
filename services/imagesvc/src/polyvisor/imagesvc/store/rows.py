"""What every table family of the store shares: columns, row decoding, page tokens, and the
base of the query classes."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from polyvisor.common import page_tokens
from polyvisor.common.db import db_errors
from polyvisor.common.errors import AlreadyExists
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


class ImageIdTaken(AlreadyExists):
    """The id chosen on create is some image's, live or deleted (ids are never reused)."""


IMAGE_COLUMNS = (
    "id, name, owner, visibility, shared_with, status, status_message, disk_format, "
    "container_format, size, virtual_size, os_hash_algo, os_hash_value, min_ram, min_disk, "
    "protected, " + ", ".join(KNOWN_PROPERTIES) + ", extra_properties, created_at, updated_at, "
    "deleted_at"
)
RENDITION_COLUMNS = (
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
    return page_tokens.encode_page_token(created_at.isoformat(), image_id)


def decode_page_token(token: str) -> tuple[datetime, str]:
    ts, image_id = page_tokens.decode_page_token(token, keys=2)
    try:
        return datetime.fromisoformat(ts), str(uuid.UUID(image_id))
    except ValueError:
        raise page_tokens.bad_page_token() from None


def row_image(row: asyncpg.Record, renditions: Sequence[Rendition] = ()) -> Image:
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


def row_rendition(row: asyncpg.Record) -> Rendition:
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


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


_C = TypeVar("_C", bound=type)


def map_db_errors(cls: _C) -> _C:
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


class Queries:
    """The pool every query class runs on (`Store` is all of them over one pool)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
