"""Timestamps and durations."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def set_ts(field: Timestamp, value: datetime | None) -> None:
    if value is not None:
        field.FromDatetime(value.astimezone(UTC))


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def from_ts(field: Timestamp, present: bool) -> datetime | None:
    if not present:
        return None
    return field.ToDatetime(tzinfo=UTC)
