"""The project's errors. Domain code raises these; the gRPC error interceptor maps each to
its status code, and bus consumers use `retryable` to decide between redelivery and giving up.

    raise NotFound(f"server {server_id} not found", {"server_id": server_id})

`details` is a JSON-serialisable dict sent to the client in the trailing metadata key
`polyvisor-error-details` (see `polyvisor.common.interceptors`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc

__all__ = [
    "Aborted",
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "PolyvisorError",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "error_for_status",
]


class PolyvisorError(Exception):
    """Base of every error the project raises on purpose."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    #: True when trying again later may succeed (bus consumers nak instead of term).
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details) if details else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.details!r})"


class NotFound(PolyvisorError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(PolyvisorError):
    code = grpc.StatusCode.ALREADY_EXISTS


class InvalidArgument(PolyvisorError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(PolyvisorError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(PolyvisorError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(PolyvisorError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(PolyvisorError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    retryable = True


class Unavailable(PolyvisorError):
    code = grpc.StatusCode.UNAVAILABLE
    retryable = True


class Aborted(PolyvisorError):
    """A concurrency conflict (generation mismatch, lost compare-and-swap): retry."""

    code = grpc.StatusCode.ABORTED
    retryable = True


_BY_CODE: dict[grpc.StatusCode, type[PolyvisorError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        AlreadyExists,
        InvalidArgument,
        FailedPrecondition,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        Aborted,
    )
}


def error_for_status(
    code: grpc.StatusCode, message: str, details: dict[str, Any] | None = None
) -> PolyvisorError:
    """The project error for a gRPC status a peer returned (for clients of our services).

    Codes without a dedicated class (DEADLINE_EXCEEDED maps to Unavailable) give the base
    class with that message."""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Unavailable(message, details)
    cls = _BY_CODE.get(code, PolyvisorError)
    return cls(message, details)
