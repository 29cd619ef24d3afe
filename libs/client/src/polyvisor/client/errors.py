"""The SDK's exceptions. Every gRPC failure is mapped here at the boundary, so callers of the
SDK catch these and never `grpc.RpcError`.

    try:
        server = await client.servers.create(...)
    except NotFound as e:
        print(e.code, e.message, e.details)

`details` is the JSON dict the services send in the trailing metadata key
`polyvisor-error-details`; `request_id` is the id the service logged the call under.
A server that ends in ERROR while the SDK waits for it raises `ServerFault`, which carries
the server and its fault (with the scheduler's per-filter explanation when no host fitted).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import grpc

from polyvisor.compute.v1 import servers_pb2
from polyvisor.types.v1 import server_status_pb2

ERROR_DETAILS_KEY = "polyvisor-error-details"
REQUEST_ID_KEY = "x-request-id"

# The error class for each status, filled by ApiError's subclasses as they are defined.
_BY_CODE: dict[grpc.StatusCode, type[ApiError]] = {}

__all__ = [
    "Aborted",
    "AlreadyExists",
    "AmbiguousName",
    "ApiError",
    "ConfigError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "ImageFailed",
    "Internal",
    "InvalidArgument",
    "InvalidValue",
    "NotFound",
    "PermissionDenied",
    "PolyvisorClientError",
    "ResourceExhausted",
    "ServerFault",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "WaitTimeout",
    "from_rpc_error",
]


class PolyvisorClientError(Exception):
    """Base of everything the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PolyvisorClientError):
    """No endpoint, no credentials, or an unreadable config file: fix the setup, not the call."""


class InvalidValue(PolyvisorClientError, ValueError):
    """A value the SDK refuses before calling anything (an unknown enum name, a non-integer)."""


class AmbiguousName(PolyvisorClientError):
    """A name that several resources share: use an id."""


class WaitTimeout(PolyvisorClientError):
    """A wait for a resource to reach a state ran out of time. `last` is the last state seen."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


class ImageFailed(PolyvisorClientError):
    """An image a server was snapshotted to did not become ACTIVE (`reason` says why)."""

    def __init__(self, image_id: str, status: str, reason: str) -> None:
        super().__init__(f"image {image_id} is {status}: {reason or 'no reason given'}")
        self.image_id = image_id
        self.status = status
        self.reason = reason


class ApiError(PolyvisorClientError):
    """A call the service answered with a non-OK status.

    A subclass named with `code=` in its class statement is the one `from_rpc_error` raises
    for that status; one that only sets `code` (ServerFault) is raised by the SDK itself."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init_subclass__(cls, code: grpc.StatusCode | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            if code in _BY_CODE:
                raise TypeError(f"two errors for status {code.name}")
            cls.code = code
            _BY_CODE[code] = cls

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        details: dict[str, Any] | None = None,
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id

    @property
    def status_name(self) -> str:
        return str(self.code.name)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code.name}, details={self.details!r})"


class NotFound(ApiError, code=grpc.StatusCode.NOT_FOUND): ...


class AlreadyExists(ApiError, code=grpc.StatusCode.ALREADY_EXISTS): ...


class InvalidArgument(ApiError, code=grpc.StatusCode.INVALID_ARGUMENT): ...


class FailedPrecondition(ApiError, code=grpc.StatusCode.FAILED_PRECONDITION): ...


class PermissionDenied(ApiError, code=grpc.StatusCode.PERMISSION_DENIED): ...


class Unauthenticated(ApiError, code=grpc.StatusCode.UNAUTHENTICATED): ...


class ResourceExhausted(ApiError, code=grpc.StatusCode.RESOURCE_EXHAUSTED): ...


class Unavailable(ApiError, code=grpc.StatusCode.UNAVAILABLE): ...


class DeadlineExceeded(ApiError, code=grpc.StatusCode.DEADLINE_EXCEEDED): ...


class Aborted(ApiError, code=grpc.StatusCode.ABORTED): ...


class Unimplemented(ApiError, code=grpc.StatusCode.UNIMPLEMENTED): ...


class Internal(ApiError, code=grpc.StatusCode.INTERNAL): ...


class ServerFault(ApiError):
    """A server ended in ERROR. `server` is the server; `fault` its Fault message."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, server: servers_pb2.Server) -> None:
        fault = server.fault
        text = fault.message or "server is in ERROR"
        if fault.no_valid_host.summary and fault.no_valid_host.summary not in text:
            text = f"{text} ({fault.no_valid_host.summary})"
        if server.state == server_status_pb2.SERVER_STATE_ERROR:
            super().__init__(f"server {server.name or server.id} is in ERROR: {text}")
        else:  # an action that failed and left the server where it was
            state = server_status_pb2.ServerState.Name(server.state).removeprefix("SERVER_STATE_")
            text = fault.message or "the action did not complete"
            super().__init__(f"server {server.name or server.id} is still {state}: {text}")
        self.server = server
        self.fault = fault


def _metadata_value(metadata: Iterable[Any] | None, key: str) -> str | None:
    for item in metadata or ():
        k, v = item[0], item[1]
        if k == key:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


def parse_details(metadata: Iterable[Any] | None) -> dict[str, Any]:
    """The details dict a service sent in its trailing metadata ({} when none or malformed)."""
    text = _metadata_value(metadata, ERROR_DETAILS_KEY)
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def from_rpc_error(err: grpc.RpcError) -> ApiError:
    """The SDK exception for a failed call (sync or aio)."""
    code = err.code() if isinstance(err, grpc.Call | grpc.aio.AioRpcError) else None
    code = code or grpc.StatusCode.UNKNOWN
    message = ""
    if isinstance(err, grpc.Call | grpc.aio.AioRpcError):
        message = err.details() or ""
    trailing: Any = None
    initial: Any = None
    try:
        trailing = err.trailing_metadata()
        initial = err.initial_metadata()
    except Exception:  # a locally generated error may carry neither
        pass
    details = parse_details(trailing)
    request_id = _metadata_value(initial, REQUEST_ID_KEY) or _metadata_value(
        trailing, REQUEST_ID_KEY
    )
    cls = _BY_CODE.get(code, ApiError)
    return cls(
        message or code.name.lower().replace("_", " "),
        code=code,
        details=details,
        request_id=request_id or "",
    )
