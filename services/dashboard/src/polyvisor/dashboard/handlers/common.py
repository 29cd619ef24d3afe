"""What the dashboard's pages share: enum names shortened, protobuf to dicts, bars."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from polyvisor.common.logging import get_logger

__all__ = ["as_dict", "human_bytes", "pct", "short"]

log = get_logger(__name__)


_PREFIXES = (
    "SERVER_STATE_", "SERVER_TASK_", "POWER_STATE_", "HYPERVISOR_TYPE_", "HOST_STATE_",
    "HOST_STATUS_", "IMAGE_STATUS_", "DISK_FORMAT_", "RENDITION_STATUS_", "VISIBILITY_",
    "VMWARE_DISK_TYPE_", "VMWARE_ADAPTER_TYPE_", "ESXI_CONNECTION_STATE_", "FAULT_CODE_",
    "CONSOLE_TYPE_", "ROLE_", "NETWORK_TYPE_", "CONTAINER_FORMAT_",
)  # fmt: skip


def short(value: object) -> str:
    """An enum's name without its prefix: SERVER_STATE_ACTIVE -> ACTIVE."""
    text = str(value or "")
    for p in _PREFIXES:
        if text.startswith(p):
            return text[len(p) :]
    return text


def as_dict(msg: Message) -> dict[str, Any]:
    return MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def pct(used: float | str, total: float | str) -> int:
    u, t = float(used or 0), float(total or 0)  # (int64 fields come as strings)
    return 0 if not t else max(0, min(100, round(100 * u / t)))


def human_bytes(n: float) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _http_status(code: grpc.StatusCode) -> int:
    return {
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.ALREADY_EXISTS: 409,
        grpc.StatusCode.FAILED_PRECONDITION: 409,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNAUTHENTICATED: 401,
    }.get(code, 502)
