"""What runs around every gRPC method (grpc.aio): metrics, errors and request ids, authentication.

`GrpcServer` installs it with `HandlerWrapper`: each method's RpcMethodHandler is wrapped once,
when the service is registered, in one coroutine (or async generator) per call that does, in
this order (all four RPC shapes; streaming responses written either as async generators or with
`context.write`):

1. metrics: `polyvisor_grpc_requests_total{service,method,code}` and
   `polyvisor_grpc_request_seconds{service,method}` (`rpc_metrics`, resolved once per method);
2. errors and request ids: the request id (the `x-request-id` metadata or a new one) and the
   RPC name go into the log context (`polyvisor.common.logging.rpc_context`), the request id
   is sent back (a unary response: in the trailing metadata, with the status, so no batch of
   its own; a stream: at once, in the initial metadata), and exceptions are mapped: a
   `PolyvisorError` becomes its status code with its message, its details as JSON in the
   trailing metadata key `polyvisor-error-details` and as a `google.rpc.Status` in
   `grpc-status-details-bin` (the standard rich error model grpcurl and every gRPC language's
   status library decode: an `ErrorInfo` always, a `BadRequest` for INVALID_ARGUMENT, a
   `PreconditionFailure` for FAILED_PRECONDITION; see `rpc_errors`); anything else becomes
   INTERNAL "internal error (error id <uuid>)", the traceback logged, never sent;
3. authentication: the `Authenticator` is called for every method not exempt and its result
   is available to handlers through `current_principal()`.

A wrapped handler may also return its response already serialized (`bytes`, e.g. from a cache
of encoded messages): it is sent as it is.

Nothing of this is decided per call that can be decided per method, and no grpc.aio interceptor
runs (grpc.aio runs its interceptor pipeline on every call).
"""

from __future__ import annotations

import inspect
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from polyvisor.common.errors import (
    InvalidArgument,
    PolyvisorError,
    Unauthenticated,
)
from polyvisor.common.logging import get_logger, reset_rpc_context, rpc_context, set_rpc_context
from polyvisor.common.rpc_errors import (
    ERROR_DETAILS_KEY,
    ERROR_DOMAIN,
    STATUS_DETAILS_KEY,
    code_of,
    error_details,
    map_error,
    rich_status,
    status_details,
)
from polyvisor.common.rpc_metrics import (
    GRPC_REQUEST_SECONDS,
    GRPC_REQUESTS,
    MethodMetrics,
    split_method,
)

if TYPE_CHECKING:
    from polyvisor.common.auth import Principal

__all__ = [
    "DEFAULT_AUTH_EXEMPT",
    "ERROR_DETAILS_KEY",
    "ERROR_DOMAIN",
    "GRPC_REQUESTS",
    "GRPC_REQUEST_SECONDS",
    "REQUEST_ID_KEY",
    "STATUS_DETAILS_KEY",
    "Authenticator",
    "HandlerWrapper",
    "current_principal",
    "current_request_id",
    "error_details",
    "rich_status",
    "split_method",
    "status_details",
]

log = get_logger(__name__)

REQUEST_ID_KEY = "x-request-id"
DEFAULT_AUTH_EXEMPT = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_principal: ContextVar[Principal | None] = ContextVar("polyvisor_principal", default=None)


def current_principal() -> Principal | None:
    """The authenticated caller of the RPC being handled (None: anonymous or auth disabled)."""
    return _principal.get()


def current_request_id() -> str | None:
    """The request id of the RPC being handled."""
    ctx = rpc_context()
    return None if ctx is None else ctx[0]


class Authenticator(Protocol):
    """The auth hook. Return the caller, or raise `Unauthenticated` / `PermissionDenied`."""

    async def authenticate(
        self, method: str, metadata: Mapping[str, str] | Sequence[tuple[str, str | bytes]] | None
    ) -> Principal | None: ...


# --------------------------------------------------------------------------- request ids

# Request ids made here: a random per-process prefix and a counter (32 hex digits, like a
# uuid4's hex, without a getrandom call per RPC).
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def _request_id_in(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            text = text.strip()[:128]
            if text and text.isprintable():
                return text
            break
    return _new_request_id()


# --------------------------------------------------------------------------- auth


def _is_exempt(method: str, exempt: tuple[str, ...]) -> bool:
    return any(method == e or (e.endswith("/") and method.startswith(e)) for e in exempt)


async def _authenticate(
    authenticator: Authenticator, method: str, metadata: Any
) -> Principal | None:
    try:
        return await authenticator.authenticate(method, metadata)
    except PolyvisorError:
        raise
    except Exception as e:  # a broken authenticator must not let anyone in
        log.exception("authenticator failed", error=repr(e))
        raise Unauthenticated("authentication failed") from e


# --------------------------------------------------------------------------- one wrapper


class _Method:
    """What the wrapper of one method needs, computed when the method is registered."""

    __slots__ = ("authenticator", "metrics", "name")

    def __init__(self, name: str, authenticator: Authenticator | None) -> None:
        self.name = name
        self.metrics = MethodMetrics(name)
        self.authenticator = authenticator

    def enter(self, context: grpc.aio.ServicerContext) -> tuple[Any, str, Any]:
        """The request id (the caller's or a new one) into the log context. Returns the log
        context's token, the request id and the call's metadata."""
        metadata = context.invocation_metadata()
        request_id = _request_id_in(metadata)
        return set_rpc_context(request_id, self.name), request_id, metadata

    def leave(
        self, code: grpc.StatusCode, start: float, principal_token: Any, rpc_token: Any
    ) -> None:
        """Count the call and its time; restore the caller's and the log's context."""
        self.metrics.done(code, start)
        _end(principal_token, rpc_token)

    async def begin(self, ctx: grpc.aio.ServicerContext, rid: str, md: Any, stream: bool) -> Any:
        """Send the request id `rid` back; authenticate. Returns the principal's context token."""
        if stream:
            await ctx.send_initial_metadata(((REQUEST_ID_KEY, rid),))
        else:
            ctx.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
        if self.authenticator is None:
            return None
        return _principal.set(await _authenticate(self.authenticator, self.name, md))


def _end(principal_token: Any, rpc_token: Any) -> None:
    # A streaming RPC's generator may be finalised from another context: never let the reset
    # itself fail the RPC.
    if principal_token is not None:
        with suppress(ValueError):
            _principal.reset(principal_token)
    with suppress(ValueError):
        reset_rpc_context(rpc_token)


class HandlerWrapper:
    """Wraps method handlers, once each, in metrics + errors and request ids + auth (see the
    module docstring). `authenticator=None`: every call is allowed, `current_principal()` is
    None. Exempt entries ending in '/' are prefixes; health and reflection are always exempt."""

    def __init__(
        self, authenticator: Authenticator | None = None, exempt: Iterable[str] = ()
    ) -> None:
        self._authenticator = authenticator
        self._exempt = (*DEFAULT_AUTH_EXEMPT, *exempt)

    def is_exempt(self, method: str) -> bool:
        return _is_exempt(method, self._exempt)

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` (the handler of the full method name `method`) inside the wrapper."""
        auth = None if self.is_exempt(method) else self._authenticator
        m = _Method(method, auth)
        if handler.response_serializer is not None:
            handler = handler._replace(
                response_serializer=_serializer_passing_bytes(handler.response_serializer)
            )
        if handler.request_deserializer is not None:
            handler = handler._replace(
                request_deserializer=_deserializer_refusing_garbage(
                    handler.request_deserializer, handler.request_streaming
                )
            )
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_unary_response(handler.unary_unary, m))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=_unary_response(handler.stream_unary, m))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_stream_response(handler.unary_stream, m))
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=_stream_response(handler.stream_stream, m))
        return handler

    def wrap_generic(self, handler: grpc.GenericRpcHandler) -> grpc.GenericRpcHandler:
        """A generic handler answering `handler`'s methods wrapped (each wrapped once)."""
        return _WrappedGenericHandler(handler, self)


def _serializer_passing_bytes(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def serializer(message: Any) -> bytes:
        if type(message) is bytes:
            return message
        return serialize(message)

    return serializer


class _Undecodable:
    """Stands for a unary request whose bytes did not decode (grpc would answer UNKNOWN with
    the decoder's exception class in the message): the wrapper answers INVALID_ARGUMENT."""

    __slots__ = ()


_UNDECODABLE = _Undecodable()
_UNDECODABLE_MESSAGE = "the request is not a valid protobuf message of this method"


def _deserializer_refusing_garbage(
    deserialize: Callable[[bytes], Any], streaming: bool
) -> Callable[[bytes], Any]:
    def deserializer(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as e:
            if streaming:  # raised inside the handler's iteration, mapped by the wrapper
                raise InvalidArgument(_UNDECODABLE_MESSAGE) from e
            return _UNDECODABLE

    return deserializer


class _WrappedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, wrapper: HandlerWrapper) -> None:
        self._inner = inner
        self._wrapper = wrapper
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrapper.wrap(method, handler)
        if len(self._wrapped) > 4096:  # a catch-all handler: stay bounded
            self._wrapped.clear()
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def _unary_response(behavior: Callable[..., Any], m: _Method) -> Callable[..., Any]:
    is_coroutine = inspect.iscoroutinefunction(behavior)
    perf_counter = time.perf_counter
    ok = grpc.StatusCode.OK

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        start = perf_counter()
        rpc_token, request_id, metadata = m.enter(context)
        principal_token = None
        code = ok
        try:
            principal_token = await m.begin(context, request_id, metadata, False)
            _refuse_undecodable(request)
            if is_coroutine:
                result = await behavior(request, context)
            else:
                result = behavior(request, context)
                if inspect.isawaitable(result):
                    result = await result
            code = context.code() or ok
            return result
        except BaseException as exc:
            code = code_of(exc, context)
            await map_error(context, exc)
            raise
        finally:
            m.leave(code, start, principal_token, rpc_token)

    return call


def _stream_response(behavior: Callable[..., Any], m: _Method) -> Callable[..., Any]:
    perf_counter = time.perf_counter
    ok = grpc.StatusCode.OK

    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            start = perf_counter()
            rpc_token, request_id, metadata = m.enter(context)
            principal_token = None
            code = ok
            try:
                principal_token = await m.begin(context, request_id, metadata, True)
                _refuse_undecodable(request)
                agen = behavior(request, context)
                try:
                    async for item in agen:
                        yield item
                finally:
                    await agen.aclose()
                code = context.code() or ok
            except BaseException as exc:
                code = code_of(exc, context)
                await map_error(context, exc)
                raise
            finally:
                m.leave(code, start, principal_token, rpc_token)

        return stream

    async def write_style(request: Any, context: grpc.aio.ServicerContext) -> Any:
        # Coroutine handlers that call `await context.write(...)`.
        start = perf_counter()
        rpc_token, request_id, metadata = m.enter(context)
        principal_token = None
        code = ok
        try:
            principal_token = await m.begin(context, request_id, metadata, True)
            _refuse_undecodable(request)
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
            elif hasattr(result, "__aiter__"):  # a callable returning an async iterator
                async for item in result:
                    await context.write(item)
                result = None
            code = context.code() or ok
            return result
        except BaseException as exc:
            code = code_of(exc, context)
            await map_error(context, exc)
            raise
        finally:
            m.leave(code, start, principal_token, rpc_token)

    return write_style


def _refuse_undecodable(request: Any) -> None:
    if request is _UNDECODABLE:
        raise InvalidArgument(_UNDECODABLE_MESSAGE)
