"""Page sizes and page tokens for List methods.

A token (``polyvisor.common.page_tokens``) carries the sort key of the last item returned and
a fingerprint of the request's filters: a token used with other filters, or a token that is
not ours, is INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from polyvisor.common.errors import InvalidArgument
from polyvisor.common.page_tokens import decode_page_token, encode_page_token, fingerprint

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PageRequest:
    size: int
    after: str  # sort key of the last item of the previous page ("" = first page)
    fingerprint: str

    def next_token(self, items: list[Any], key: str) -> str:
        """The token of the next page, when `items` filled this one (callers fetch size+1)."""
        return (
            encode_page_token(key, fingerprint=self.fingerprint) if len(items) > self.size else ""
        )


def page_request(page_size: int, page_token: str, **filters: Any) -> PageRequest:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative", {"field": "page_size"})
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    try:
        fp = _fingerprint(
            tuple((k, tuple(v) if type(v) is list else v) for k, v in filters.items())
        )
    except TypeError:  # a filter value that cannot be a cache key
        fp = fingerprint(filters)
    (after,) = decode_page_token(page_token, fingerprint=fp) or ("",)
    return PageRequest(size=size, after=after, fingerprint=fp)


@lru_cache(maxsize=4096)
def _fingerprint(filters: tuple[tuple[str, Any], ...]) -> str:
    """`fingerprint` of the same filters (lists as tuples), computed once: every page of a walk
    asks for it (a JSON dump and a SHA-256 each time)."""
    return fingerprint({k: list(v) if type(v) is tuple else v for k, v in filters})
