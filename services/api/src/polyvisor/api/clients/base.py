"""What the api's gRPC clients share: channel options, the caller's token forwarded, and
the mapping of a peer's errors to the project's errors at the boundary."""

from __future__ import annotations

import grpc

from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.common.errors import (
    FailedPrecondition,
    PolyvisorError,
    Unavailable,
    error_for_status,
)
from polyvisor.common.interceptors import REQUEST_ID_KEY, current_request_id

CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    *RECONNECT_OPTIONS,
)


def map_rpc_error(exc: grpc.aio.AioRpcError, peer: str) -> PolyvisorError:
    code = exc.code()
    message = exc.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{peer} unavailable: {message}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return FailedPrecondition(f"{peer} does not implement this: {message}")
    err = error_for_status(code, f"{peer}: {message}")
    if type(err) is PolyvisorError:  # no dedicated class: an internal failure of the peer
        return Unavailable(f"{peer} failed ({code.name}): {message}")
    return err


def bearer_metadata(bearer: str) -> tuple[tuple[str, str], ...]:
    metadata: list[tuple[str, str]] = [("authorization", f"Bearer {bearer}")]
    rid = current_request_id()
    if rid:
        metadata.append((REQUEST_ID_KEY, rid))
    return tuple(metadata)
