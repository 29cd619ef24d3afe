"""Checks of client input: every bad value is INVALID_ARGUMENT with the field named."""

from __future__ import annotations

from polyvisor.common.errors import InvalidArgument

MAX_NAME = 255
MAX_USER_DATA = 64 * 1024
MAX_METADATA_ITEMS = 128
MAX_METADATA_KEY = 255
MAX_METADATA_VALUE = 1024
MAX_REQUEST_ID = 128
MAX_COUNT = 100


def name(value: str, field: str = "name", required: bool = True) -> str:
    value = value.strip()
    if not value:
        if required:
            raise InvalidArgument(f"{field} is required", {"field": field})
        return value
    if len(value) > MAX_NAME:
        raise InvalidArgument(f"{field} is longer than {MAX_NAME} characters", {"field": field})
    if not value.isprintable():
        raise InvalidArgument(f"{field} must be printable text", {"field": field})
    return value


def required(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument(f"{field} is required", {"field": field})
    if len(value) > MAX_NAME or not value.isprintable():
        raise InvalidArgument(f"{field} is not a valid id", {"field": field})
    return value


def request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID or (value and not value.isprintable()):
        raise InvalidArgument(
            f"request_id must be printable and at most {MAX_REQUEST_ID} characters",
            {"field": "request_id"},
        )
    return value


def metadata(items: dict[str, str], field: str = "metadata") -> dict[str, str]:
    if len(items) > MAX_METADATA_ITEMS:
        raise InvalidArgument(f"{field} has more than {MAX_METADATA_ITEMS} items", {"field": field})
    for k, v in items.items():
        if not k or len(k) > MAX_METADATA_KEY or not k.isprintable():
            raise InvalidArgument(f"{field} key {k[:40]!r} is not valid", {"field": field})
        if len(v) > MAX_METADATA_VALUE:
            raise InvalidArgument(
                f"{field} value of {k[:40]!r} is longer than {MAX_METADATA_VALUE}",
                {"field": field},
            )
    return dict(items)


MAX_TAGS = 50
MAX_TAG = 60


def tag(value: str, field: str = "tag") -> str:
    """A server tag: 1 to 60 printable characters, no comma or slash (as Nova's)."""
    if not value or len(value) > MAX_TAG or not value.isprintable() or "," in value or "/" in value:
        raise InvalidArgument(
            f"{field} {value[:70]!r} is not a tag: 1 to {MAX_TAG} printable characters, "
            "no comma or slash",
            {"field": field},
        )
    return value


def user_data(data: bytes) -> bytes:
    if len(data) > MAX_USER_DATA:
        raise InvalidArgument(
            f"user_data is larger than {MAX_USER_DATA} bytes", {"field": "server.user_data"}
        )
    return data


def counts(min_count: int, max_count: int) -> tuple[int, int]:
    if min_count < 0 or max_count < 0:
        raise InvalidArgument(
            "min_count and max_count must not be negative", {"field": "min_count"}
        )
    lo = min_count or 1
    hi = max_count or lo
    if hi < lo:
        raise InvalidArgument("max_count must be at least min_count", {"field": "max_count"})
    if hi > MAX_COUNT:
        raise InvalidArgument(f"at most {MAX_COUNT} servers per request", {"field": "max_count"})
    return lo, hi


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument(f"{field} must not be negative", {"field": field})
    return value
