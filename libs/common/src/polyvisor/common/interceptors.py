"""gRPC server interceptors (grpc.aio): metrics, errors and request ids, authentication.

Each interceptor wraps the RpcMethodHandler of the called method, for all four RPC shapes
(unary-unary, unary-stream, stream-unary, stream-stream; streaming responses written either
as async generators or with `context.write`). `GrpcServer` installs them outermost first:

1. `MetricsInterceptor`: `polyvisor_grpc_requests_total{service,method,code}` and
   `polyvisor_grpc_request_seconds{service,method}`.
2. `ErrorInterceptor`: binds a request id (the `x-request-id` metadata or a new one) and the
   RPC name into the log context, sends the request id back in the initial metadata, and maps
   exceptions: a `PolyvisorError` becomes its status code with its message (its details as
   JSON in the trailing metadata key `polyvisor-error-details`); anything else becomes
   INTERNAL "internal error (error id <uuid>)", the traceback logged with that id and never
   sent to the client.
3. `AuthInterceptor`: calls the `Authenticator` for every method not exempt and makes the
   result available to handlers through `current_principal()`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from prometheus_client import Counter, Histogram
from structlog.contextvars import bind_contextvars, reset_contextvars

from polyvisor.common.errors import PolyvisorError, Unauthenticated
from polyvisor.common.logging import get_logger

if TYPE_CHECKING:
    from polyvisor.common.auth import Principal

__all__ = [
    "DEFAULT_AUTH_EXEMPT",
    "ERROR_DETAILS_KEY",
    "GRPC_REQUESTS",
    "GRPC_REQUEST_SECONDS",
    "REQUEST_ID_KEY",
    "AuthInterceptor",
    "Authenticator",
    "ErrorInterceptor",
    "MetricsInterceptor",
    "current_principal",
    "current_request_id",
    "error_details",
    "split_method",
    "wrap_rpc_handler",
]

log = get_logger(__name__)

REQUEST_ID_KEY = "x-request-id"
ERROR_DETAILS_KEY = "polyvisor-error-details"
DEFAULT_AUTH_EXEMPT = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

GRPC_REQUESTS = Counter(
    "polyvisor_grpc_requests_total",
    "gRPC requests handled, by final status code",
    ["service", "method", "code"],
)
GRPC_REQUEST_SECONDS = Histogram(
    "polyvisor_grpc_request_seconds",
    "gRPC request latency (until the last response message or the status)",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

_principal: ContextVar[Principal | None] = ContextVar("polyvisor_principal", default=None)
_request_id: ContextVar[str | None] = ContextVar("polyvisor_request_id", default=None)


def current_principal() -> Principal | None:
    """The authenticated caller of the RPC being handled (None: anonymous or auth disabled)."""
    return _principal.get()


def current_request_id() -> str | None:
    """The request id of the RPC being handled."""
    return _request_id.get()


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


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


class Authenticator(Protocol):
    """The auth hook. Return the caller, or raise `Unauthenticated` / `PermissionDenied`."""

    async def authenticate(
        self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> Principal | None: ...


# --------------------------------------------------------------------------- wrapping

Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


def wrap_rpc_handler(handler: grpc.RpcMethodHandler, around: Around) -> grpc.RpcMethodHandler:
    """A handler running the original behaviour inside `around(context)`, whatever its shape."""
    if handler.unary_unary is not None:
        return handler._replace(unary_unary=_wrap_unary_response(handler.unary_unary, around))  # type: ignore[attr-defined]
    if handler.stream_unary is not None:
        return handler._replace(stream_unary=_wrap_unary_response(handler.stream_unary, around))  # type: ignore[attr-defined]
    if handler.unary_stream is not None:
        return handler._replace(unary_stream=_wrap_stream_response(handler.unary_stream, around))  # type: ignore[attr-defined]
    if handler.stream_stream is not None:
        return handler._replace(stream_stream=_wrap_stream_response(handler.stream_stream, around))  # type: ignore[attr-defined]
    return handler


def _wrap_unary_response(behavior: Callable[..., Any], around: Around) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around(context):
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
            return result

    return call


def _wrap_stream_response(behavior: Callable[..., Any], around: Around) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with around(context):
                agen = behavior(request, context)
                try:
                    async for item in agen:
                        yield item
                finally:
                    await agen.aclose()

        return stream

    async def write_style(request: Any, context: grpc.aio.ServicerContext) -> Any:
        # Coroutine handlers that call `await context.write(...)`.
        async with around(context):
            result = behavior(request, context)
            if inspect.isawaitable(result):
                return await result
            if hasattr(result, "__aiter__"):  # a callable returning an async iterator
                async for item in result:
                    await context.write(item)
                return None
            return result

    return write_style


class _WrappingInterceptor(grpc.aio.ServerInterceptor):
    def around(
        self, method: str, context: grpc.aio.ServicerContext
    ) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED
            return handler
        method = handler_call_details.method
        return wrap_rpc_handler(handler, lambda context: self.around(method, context))


# --------------------------------------------------------------------------- metrics


class MetricsInterceptor(_WrappingInterceptor):
    @asynccontextmanager
    async def around(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        service, name = split_method(method)
        start = time.perf_counter()
        code: grpc.StatusCode | None = None
        try:
            yield
            code = context.code() or grpc.StatusCode.OK
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except PolyvisorError as e:  # only when installed inside the error interceptor
            code = e.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            code = grpc.StatusCode.UNKNOWN
            raise
        finally:
            GRPC_REQUESTS.labels(service, name, (code or grpc.StatusCode.UNKNOWN).name).inc()
            GRPC_REQUEST_SECONDS.labels(service, name).observe(time.perf_counter() - start)


# --------------------------------------------------------------------------- errors


def _request_id_from(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            text = text.strip()[:128]
            if text and text.isprintable():
                return text
    return uuid.uuid4().hex


class ErrorInterceptor(_WrappingInterceptor):
    @asynccontextmanager
    async def around(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        request_id = _request_id_from(context)
        token = _request_id.set(request_id)
        log_tokens = bind_contextvars(request_id=request_id, rpc=method)
        try:
            await context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
            yield
        except grpc.aio.AbortError:
            raise  # the handler chose its status itself
        except PolyvisorError as e:
            if e.details:
                context.set_trailing_metadata(
                    ((ERROR_DETAILS_KEY, json.dumps(e.details, default=str)),)
                )
            if e.code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                log.error("rpc failed", error=repr(e))
            else:
                log.info("rpc error", code=e.code.name, error=e.message)
            await context.abort(e.code, e.message)
        except Exception:
            error_id = str(uuid.uuid4())
            log.exception("unexpected error in rpc", error_id=error_id)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (error id {error_id})")
        finally:
            # A streaming RPC's generator may be finalised from another context: never let
            # the reset itself fail the RPC.
            with suppress(ValueError):
                reset_contextvars(**log_tokens)
            with suppress(ValueError):
                _request_id.reset(token)


# --------------------------------------------------------------------------- auth


class AuthInterceptor(_WrappingInterceptor):
    """Authenticates every non-exempt method. Exempt entries ending in '/' are prefixes."""

    def __init__(self, authenticator: Authenticator, exempt: Iterable[str] = ()) -> None:
        self._authenticator = authenticator
        self._exempt = (*DEFAULT_AUTH_EXEMPT, *exempt)

    def is_exempt(self, method: str) -> bool:
        return any(method == e or (e.endswith("/") and method.startswith(e)) for e in self._exempt)

    @asynccontextmanager
    async def around(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        principal = None
        if not self.is_exempt(method):
            try:
                principal = await self._authenticator.authenticate(
                    method, context.invocation_metadata()
                )
            except PolyvisorError:
                raise
            except Exception as e:  # a broken authenticator must not let anyone in
                log.exception("authenticator failed", error=repr(e))
                raise Unauthenticated("authentication failed") from e
        token = _principal.set(principal)
        try:
            yield
        finally:
            with suppress(ValueError):
                _principal.reset(token)
