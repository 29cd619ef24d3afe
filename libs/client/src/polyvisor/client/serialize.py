"""Protobuf messages as plain dicts: what `-f json|yaml` prints and what scripts read.

Every field is present (scalars with their default, unset messages as None), so the shape
of the output does not depend on the values. Enums use the printed names of
`polyvisor.client.enums` (`ACTIVE`, `qcow2`, `vmware`); timestamps are RFC 3339 strings in
UTC; bytes are base64.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.client import enums

__all__ = ["timestamp_text", "to_dict"]


def timestamp_text(ts: Timestamp) -> str | None:
    """RFC 3339 (UTC, seconds) or None for the zero timestamp."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    dt = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enums.display(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message(value)
    return value


def _message(msg: Message) -> Any:
    if isinstance(msg, Timestamp):
        return timestamp_text(msg)
    if msg.DESCRIPTOR.full_name == "google.protobuf.FieldMask":
        return list(msg.paths)
    return to_dict(msg)


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and bool(
        field.message_type.GetOptions().map_entry
    )


def to_dict(msg: Message) -> dict[str, Any]:
    """The message as a dict keyed by proto field names, every field present."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _scalar(value_field, v) for k, v in sorted(value.items())}
        elif field.is_repeated:
            out[field.name] = [_scalar(field, v) for v in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            out[field.name] = _message(value) if msg.HasField(field.name) else None
        elif (
            field.containing_oneof is not None
            and msg.WhichOneof(field.containing_oneof.name) != field.name
        ):
            out[field.name] = None
        else:
            out[field.name] = _scalar(field, value)
    return out
