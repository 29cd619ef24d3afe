"""Every nats error mapped to `polyvisor.common.errors` (the only place that knows them)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import nats
import nats.errors
import nats.js.errors

from polyvisor.common.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PolyvisorError,
    Unavailable,
)
from polyvisor.common.logging import get_logger

log = get_logger(__name__)


# JetStream API error codes
STREAM_IN_USE = 10058  # "stream name already in use with a different configuration"
STREAM_BAD_UPDATE = 10052  # "stream configuration update can not change ..."
KV_WRONG_LAST_SEQUENCE = 10071


def map_nats_error(exc: BaseException) -> PolyvisorError:
    """The project error for a nats exception."""
    if isinstance(exc, PolyvisorError):
        return exc
    if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError):
        return Aborted("key changed concurrently (wrong revision)")
    if isinstance(exc, nats.js.errors.NotFoundError):
        return NotFound(f"nats: {exc}")
    if isinstance(exc, nats.js.errors.APIError):
        if exc.err_code in (STREAM_IN_USE, STREAM_BAD_UPDATE):
            return FailedPrecondition(f"nats: {exc.description}")
        if exc.err_code == KV_WRONG_LAST_SEQUENCE:
            return Aborted("key changed concurrently (wrong revision)")
        if exc.code == 503:
            return Unavailable(f"nats: {exc.description or 'jetstream unavailable'}")
        if exc.code in (400, 409):
            return FailedPrecondition(f"nats: {exc.description}")
        return Unavailable(f"nats: {exc.description or exc}")
    if isinstance(exc, nats.errors.BadSubjectError | nats.js.errors.InvalidKeyError):
        return InvalidArgument(f"nats: {exc}")
    if isinstance(exc, nats.errors.MaxPayloadError):
        return InvalidArgument(f"nats: message too large: {exc}")
    if isinstance(exc, nats.errors.NoRespondersError | nats.js.errors.NoStreamResponseError):
        # Nobody subscribes to the subject (`no_responders`: a request reached no process).
        return Unavailable(f"nats: no responders: {exc}", {"no_responders": True})
    # The client's exception (its class, the server's address) is for the log only.
    if isinstance(exc, nats.errors.Error | asyncio.TimeoutError | OSError):
        log.info("message bus unavailable", error=repr(exc))
        return Unavailable("message bus unavailable")
    log.info("unexpected message bus error", error=repr(exc))
    return Unavailable("message bus unavailable (unexpected error)")


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    try:
        yield
    except PolyvisorError:
        raise
    except (TimeoutError, nats.errors.Error, OSError) as e:
        raise map_nats_error(e) from e
