"""Errors of the five APIs, in one place: how a gRPC status maps to an HTTP status (the
only such table in the gateway), and the JSON shape each API gives its errors.

    raise ApiError(404, "No server named web-1")          # in a handler
    status, body = render(Api.NOVA, error)                 # in the middleware

Nova and Cinder: `{"itemNotFound": {"code": 404, "message": ...}}` (Cinder's faults have
Nova's names; its quota refusals are 413 `overLimit`); Keystone: `{"error": {"code",
"message", "title"}}`; Glance: `{"code", "title", "message"}` (what glance's JSON fault
carries); Neutron: `{"NeutronError": {"type", "message", "detail"}}`.
"""

from __future__ import annotations

import enum
from http import HTTPStatus
from typing import Any

import grpc

__all__ = ["Api", "ApiError", "from_rpc", "http_status", "render"]


class Api(enum.Enum):
    KEYSTONE = "identity"
    NOVA = "compute"
    GLANCE = "image"
    NEUTRON = "network"
    CINDER = "volume"


#: gRPC status -> HTTP status. Quota is 403 in Nova (and here everywhere): the request is
#: understood and refused for this project.
_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}

#: Nova's fault names by HTTP status (nova/api/openstack/wsgi.py; cinder/api/openstack/wsgi.py
#: has the same).
_NOVA_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    501: "notImplemented",
    503: "serviceUnavailable",
}

#: Neutron's exception types by HTTP status, when the handler gave none.
_NEUTRON_TYPES = {
    400: "BadRequest",
    401: "NotAuthorized",
    403: "PolicyNotAuthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error answered in the caller's API's shape. `kind`: Neutron's exception type
    (NetworkNotFound, ...) when it matters."""

    def __init__(self, status: int, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def http_status(code: grpc.StatusCode) -> int:
    return _HTTP.get(code, 500)


def from_rpc(
    code: grpc.StatusCode, details: str, kind: str = "", api: Api | None = None
) -> ApiError:
    """The ApiError for a failed gRPC call. A server-side fault keeps its message out of
    the answer (it is logged): users never see internals for their own mistakes, and
    never an internal trace either. Cinder answers a quota refusal 413 (its
    VolumeLimitExceeded), the others 403."""
    status = http_status(code)
    if api is Api.CINDER and code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        status = 413
    if status >= 500 and status not in (501, 503, 504):
        return ApiError(status, "The server has either erred or is incapable of performing "
                        "the requested operation.", kind)  # fmt: skip
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "quota" not in details.lower():
        details = f"Quota exceeded: {details}"
    return ApiError(status, details or HTTPStatus(status).phrase, kind)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def render(api: Api, err: ApiError) -> dict[str, Any]:
    """The JSON body of `err` in `api`'s own shape."""
    if api is Api.NOVA or api is Api.CINDER:
        name = _NOVA_NAMES.get(err.status, "computeFault")
        return {name: {"code": err.status, "message": err.message}}
    if api is Api.KEYSTONE:
        return {"error": {"code": err.status, "message": err.message, "title": _title(err.status)}}
    if api is Api.NEUTRON:
        kind = err.kind or _NEUTRON_TYPES.get(err.status, "NeutronError")
        return {"NeutronError": {"type": kind, "message": err.message, "detail": ""}}
    return {"code": err.status, "title": _title(err.status), "message": err.message}
