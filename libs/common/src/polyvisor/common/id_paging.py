"""Page sizes and tokens of the List calls that page by resource id (a keyset on a UUID id),
for every service whose lists are ordered by id (networks, ports, security groups, volumes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol, TypeVar

from polyvisor.common.errors import InvalidArgument
from polyvisor.common.page_tokens import bad_page_token, decode_page_token, encode_page_token

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "after", "next_token", "page_size"]

DEFAULT_PAGE = 100
MAX_PAGE = 1000


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def after(token: str) -> str:
    """The id a page token resumes after ("" for the first page)."""
    (raw,) = decode_page_token(token) or ("",)
    if not raw:
        return ""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise bad_page_token() from None


def next_token(items: Sequence[T], size: int) -> str:
    if len(items) < size:
        return ""
    return encode_page_token(items[-1].id)
