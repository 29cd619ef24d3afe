"""Timestamps and durations."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.common.errors import InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def set_ts(field: Timestamp, value: datetime | None) -> None:
    """Set a Timestamp field from an aware datetime (integer arithmetic: this runs for every
    timestamp of every server listed)."""
    if value is None:
        return
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    field.seconds = delta.days * 86400 + delta.seconds
    field.nanos = delta.microseconds * 1000


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    set_ts(out, value)
    return out


def from_ts(field: Timestamp, present: bool) -> datetime | None:
    """The datetime of a Timestamp a client sent; INVALID_ARGUMENT past year 1..9999."""
    if not present:
        return None
    try:
        return field.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as e:
        raise InvalidArgument(
            "timestamp out of range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"
        ) from e
