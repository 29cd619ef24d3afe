"""NATS subject tokens: any string made safe for one token of a subject, and back."""

from __future__ import annotations

import re

from polyvisor.common.errors import (
    InvalidArgument,
)

_SAFE = re.compile(r"[A-Za-z0-9_-]")


def subject_token(value: str) -> str:
    """Encode an id as one subject token that is also a valid KV key.

    Letters, digits, '_' and '-' stay; every other byte becomes '=XX' (hex), so ids holding
    ':' or '.' (host ids, URLs) neither split the subject nor collide with each other."""
    if not value:
        raise InvalidArgument("an empty id cannot be a subject token")
    out = []
    for ch in value:
        if _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"={b:02X}" for b in ch.encode())
    return "".join(out)


def subject_token_decode(token: str) -> str:
    """The inverse of `subject_token`."""
    raw = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "=":
            raw.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(token[i].encode())
            i += 1
    return raw.decode()
