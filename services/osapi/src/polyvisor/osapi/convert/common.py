"""Helpers every converter uses: timestamps, enums, stable ids."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.client.enums import EnumValueError, display, parse
from polyvisor.osapi.errors import ApiError

__all__ = ["enum_in", "enum_out", "iso", "iso_us", "stable_uuid"]

_NS = uuid.UUID("5b0f4d1e-6c43-4c4b-9a55-2f0b1c7f0a21")


def _dt(ts: Timestamp) -> datetime | None:
    if not ts.seconds and not ts.nanos:
        return None
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)


def iso(ts: Timestamp) -> str | None:
    """Nova's and Glance's `2026-12-07T01:02:03Z`; None when unset."""
    seconds, nanos = ts.seconds, ts.nanos
    if not seconds and not nanos:
        return None
    if seconds >= 0 and nanos < 999_000_000:
        # The second the exact time falls in (the datetime below rounds to microseconds,
        # which only carries into the next second from .9999995): a third of the cost, and
        # a server's body has four of these.
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    dt = _dt(ts)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def iso_us(ts: Timestamp) -> str | None:
    """Keystone's and Nova's microsecond form: `2026-12-07T01:02:03.000000Z`."""
    dt = _dt(ts)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt else None


def enum_out(desc: EnumDescriptor, number: int) -> str | None:
    """`vmware`, `qcow2`, `streamOptimized`; None for the unspecified value."""
    return display(desc, number) if number else None


def enum_in(desc: EnumDescriptor, text: Any, field: str) -> int:
    if text is None or text == "":
        return 0
    try:
        return parse(desc, str(text))
    except EnumValueError:
        raise ApiError(400, f"Invalid value {text!r} for {field}") from None


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))
