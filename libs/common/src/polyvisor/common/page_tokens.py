"""The opaque page tokens of every List call, one codec for every service.

    fp = fingerprint({"state": "ACTIVE"})           # what the request filtered on
    token = encode_page_token(created_at, last_id, fingerprint=fp)
    created_at, last_id = decode_page_token(token, keys=2, fingerprint=fp)

A token is unpadded url-safe base64 of ``{"k": [keys], "f": fingerprint}``: the sort key(s)
of the last item returned (a keyset cursor) and, when the caller binds it, a fingerprint of
the request's filters. A token this codec did not make, with another number of keys, or made
for other filters is INVALID_ARGUMENT naming ``page_token``; so is a key the caller cannot
parse (``bad_page_token``). ``""`` is the first page: it decodes to ``()``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from polyvisor.common.errors import InvalidArgument

__all__ = ["bad_page_token", "decode_page_token", "encode_page_token", "fingerprint"]


def fingerprint(filters: Mapping[str, Any]) -> str:
    """A short digest of a request's filters, to bind a token to them."""
    text = json.dumps(dict(filters), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bad_page_token(why: str = "is not a token this service issued") -> InvalidArgument:
    return InvalidArgument(f"page_token: {why}", {"field": "page_token"})


def encode_page_token(*keys: str, fingerprint: str = "") -> str:
    if not keys:
        raise ValueError("a page token needs at least one key")
    raw = json.dumps({"k": list(keys), "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, *, keys: int = 1, fingerprint: str = "") -> tuple[str, ...]:
    """The keys ``token`` carries (``()`` for ``""``); INVALID_ARGUMENT when it is not ours."""
    if not token:
        return ()
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        got, fp = data["k"], data["f"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise bad_page_token() from None
    if (
        not isinstance(got, list)
        or len(got) != keys
        or not all(isinstance(k, str) for k in got)
        or not isinstance(fp, str)
    ):
        raise bad_page_token()
    if fp != fingerprint:
        raise bad_page_token("does not belong to this request (filters changed?)")
    return tuple(got)
