"""Page sizes and opaque page tokens for List methods.

A token carries the sort key of the last item returned and a fingerprint of the request's
filters: a token used with other filters, or a token that is not ours, is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from polyvisor.common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PageRequest:
    size: int
    after: str  # sort key of the last item of the previous page ("" = first page)
    fingerprint: str

    def next_token(self, items: list[Any], key: str) -> str:
        """The token of the next page, when `items` filled this one (callers fetch size+1)."""
        return encode_token(key, self.fingerprint) if len(items) > self.size else ""


def page_request(page_size: int, page_token: str, **filters: Any) -> PageRequest:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative", {"field": "page_size"})
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fp = fingerprint(filters)
    after = decode_token(page_token, fp) if page_token else ""
    return PageRequest(size=size, after=after, fingerprint=fp)


def fingerprint(filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(after: str, fp: str) -> str:
    raw = json.dumps({"a": after, "f": fp}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fp: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, got = data["a"], data["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument("page_token is not valid", {"field": "page_token"}) from exc
    if not isinstance(after, str) or got != fp:
        raise InvalidArgument(
            "page_token does not belong to this request (filters changed?)",
            {"field": "page_token"},
        )
    return after
