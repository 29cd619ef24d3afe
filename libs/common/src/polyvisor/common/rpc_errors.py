"""How an RPC that fails tells its caller why (the server side of the project's error model,
see `interceptors`): a `PolyvisorError` becomes its status code and message, its details as
JSON in the trailing metadata (`ERROR_DETAILS_KEY`) and as a google.rpc.Status
(`STATUS_DETAILS_KEY`: an ErrorInfo always, a BadRequest for INVALID_ARGUMENT, a
PreconditionFailure for FAILED_PRECONDITION); anything else INTERNAL with an error id, its
traceback logged and never sent. Clients read the details back with `error_details` and
`status_details`."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from polyvisor.common.errors import FailedPrecondition, InvalidArgument, PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = [
    "ERROR_DETAILS_KEY",
    "ERROR_DOMAIN",
    "STATUS_DETAILS_KEY",
    "code_of",
    "error_details",
    "map_error",
    "rich_status",
    "status_details",
]

log = get_logger("polyvisor.common.interceptors")

ERROR_DETAILS_KEY = "polyvisor-error-details"
#: The trailing metadata key of the google.rpc.Status of a failed RPC (gRPC's own).
STATUS_DETAILS_KEY = "grpc-status-details-bin"
#: ErrorInfo.domain of every error the project raises.
ERROR_DOMAIN = "polyvisor.io"


def error_details(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, Any]:
    """The details dict a server sent with an error (client side: `err.trailing_metadata()`)."""
    for key, value in metadata or ():
        if key == ERROR_DETAILS_KEY:
            text = value.decode() if isinstance(value, bytes) else value
            try:
                parsed = json.loads(text)
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
    return {}


def _reason(exc: PolyvisorError) -> str:
    """ErrorInfo.reason: `details["reason"]`, else the class name in UPPER_SNAKE_CASE."""
    given = exc.details.get("reason")
    if isinstance(given, str) and given:
        return given
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).upper()


def rich_status(exc: PolyvisorError) -> status_pb2.Status:
    """The google.rpc.Status sent with `exc`: its code and message, and as details an
    ErrorInfo (reason, domain polyvisor.io, the error's details as metadata), plus
    - for InvalidArgument, a BadRequest whose violation names `details["field"]` (or
      `"property"`);
    - for FailedPrecondition, a PreconditionFailure whose violation is of type STATE when
      the details carry a state or status (else the reason), its subject `<kind>/<id>` from
      the first `<kind>_id` detail."""
    status = status_pb2.Status(code=exc.code.value[0], message=exc.message)
    metadata = {
        str(k): v if isinstance(v, str) else json.dumps(v, default=str)
        for k, v in exc.details.items()
    }
    reason = _reason(exc)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
    status.details.add().Pack(info)
    if isinstance(exc, InvalidArgument):
        field = exc.details.get("field") or exc.details.get("property") or ""
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=str(field), description=exc.message
        )
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    elif isinstance(exc, FailedPrecondition):
        kind = "STATE" if {"state", "status"} & set(exc.details) else reason
        subject = next(
            (f"{k[:-3]}/{v}" for k, v in exc.details.items() if k.endswith("_id") and v), ""
        )
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=kind, subject=subject, description=exc.message
                )
            ]
        )
        status.details.add().Pack(failure)
    return status


def status_details(metadata: Iterable[tuple[str, str | bytes]] | None) -> status_pb2.Status | None:
    """The google.rpc.Status a server sent with an error (client side:
    `err.trailing_metadata()`), or None."""
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


async def map_error(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """End the RPC for `exc` the way the project does: a PolyvisorError becomes its status
    (details in the trailing metadata), any other Exception INTERNAL with an error id. Returns
    (for the caller to re-raise) on aborts, cancellations and other BaseExceptions."""
    if isinstance(exc, grpc.aio.AbortError):
        return  # the handler chose its status itself
    if isinstance(exc, PolyvisorError):
        trailer: list[tuple[str, str | bytes]] = [
            (STATUS_DETAILS_KEY, rich_status(exc).SerializeToString())
        ]
        if exc.details:
            trailer.append((ERROR_DETAILS_KEY, json.dumps(exc.details, default=str)))
        # after what the call set already (a unary call's request id)
        context.set_trailing_metadata((*(context.trailing_metadata() or ()), *trailer))
        if exc.code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
            log.error("rpc failed", error=repr(exc))
        else:
            log.info("rpc error", code=exc.code.name, error=exc.message)
        await context.abort(exc.code, exc.message)
    if isinstance(exc, Exception):
        error_id = str(uuid.uuid4())
        log.exception("unexpected error in rpc", error_id=error_id)  # called while handling exc
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (error id {error_id})")


def code_of(exc: BaseException, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    """The status an RPC ends with when `exc` leaves its handler (for the metrics)."""
    if isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.UNKNOWN
    if isinstance(exc, PolyvisorError):
        return exc.code
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, Exception):
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.UNKNOWN
