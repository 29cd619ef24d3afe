"""The gRPC server every service runs (grpc.aio).

    server = GrpcServer(
        settings,
        services=[(compute_pb2_grpc.add_ComputeServiceServicer_to_server, ComputeHandlers(...),
                   "polyvisor.compute.v1.ComputeService")],
        auth=JwtAuthenticator(verifier),                  # None: every call allowed
        auth_exempt=["/polyvisor.identity.v1.IdentityService/Authenticate"],
    )
    port = await server.start()     # listens on grpc_host:grpc_port (0 -> ephemeral)
    await server.set_serving()      # once the lifespan is up
    ...
    await server.stop(grace)        # health NOT_SERVING, in-flight RPCs get `grace` seconds

Health (`grpc.health.v1.Health`) reports every listed service, and the overall status under
"", NOT_SERVING until `set_serving()`, and NOT_SERVING again from the start of the drain:
that is liveness. Under "readiness" (`READINESS_SERVICE`) it is SERVING only when, besides,
every PostgreSQL pool and NATS connection of the process answers at the time of the call
(see `polyvisor.common.readiness`): a readiness probe names that service.
Server reflection lists the services, health and reflection itself. Every method (health and
reflection included) runs inside metrics, errors and request ids, authentication (see
`polyvisor.common.interceptors`): each handler is wrapped once, as it is registered, so a call
pays no grpc.aio interceptor pipeline.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from polyvisor.common.config import ServiceSettings
from polyvisor.common.interceptors import Authenticator, HandlerWrapper
from polyvisor.common.logging import get_logger
from polyvisor.common.readiness import READINESS_SERVICE, failures

__all__ = [
    "HEALTH_SERVICE",
    "READINESS_SERVICE",
    "REFLECTION_SERVICE",
    "GrpcServer",
    "ServiceSpec",
]

log = get_logger(__name__)

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION_SERVICE = reflection.SERVICE_NAME

#: (add_XServicer_to_server function, servicer instance, full service name)
ServiceSpec = tuple[Callable[[Any, grpc.aio.Server], None], Any, str]

_SERVING: int = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING

DEFAULT_OPTIONS: tuple[tuple[str, Any], ...] = (
    # Never share a port with another process (a second service on the same port must fail,
    # not silently receive half the traffic).
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    # Keepalive: ping a client whose connection has been silent for a minute and drop it
    # if no answer comes in 20 s (a client gone without a FIN, e.g. behind a NAT); accept
    # the clients' own pings every 30 s or more, also between calls (the SDK pings every
    # 60 s during a call), instead of answering them with GOAWAY too_many_pings.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.http2.max_pings_without_data", 0),
)


def _settings_options(settings: ServiceSettings) -> dict[str, Any]:
    """Channel arguments the settings ask for (none by default)."""
    opts: dict[str, Any] = {}
    if settings.grpc_max_connection_age_s > 0:
        opts["grpc.max_connection_age_ms"] = int(settings.grpc_max_connection_age_s * 1000)
        if settings.grpc_max_connection_age_grace_s > 0:  # unset: running RPCs never cut
            grace_ms = int(settings.grpc_max_connection_age_grace_s * 1000)
            opts["grpc.max_connection_age_grace_ms"] = grace_ms
    return opts


def _load_service_file(add: Callable[..., Any]) -> None:
    """Import the `_pb2` module beside an `add_XServicer_to_server`'s `_pb2_grpc` module.

    A service-only .proto (no messages) has its `_pb2` module imported by nobody, so its file
    descriptor never reaches the default pool and reflection answers "Symbol not found" for
    the service (grpcurl then cannot describe or call it)."""
    module = getattr(add, "__module__", "") or ""
    if module.endswith("_pb2_grpc"):
        try:
            importlib.import_module(module.removesuffix("_grpc"))
        except ImportError:
            pass


class _Health(HealthServicer):
    """grpc.health.v1 with "readiness" checked at each call: serving, and every dependency
    answers. The last answer is also stored, so Watch("readiness") follows the checks."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = asyncio.Lock()
        self._reported: dict[str, str] = {}

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Any) -> Any:
        if request.service != READINESS_SERVICE:
            return await super().Check(request, context)
        async with self._lock:  # probes arriving together share one round of checks
            status = await self._readiness()
            await self.set(READINESS_SERVICE, status)
        return health_pb2.HealthCheckResponse(status=status)

    async def _readiness(self) -> int:
        if self._server_status.get("") != _SERVING:  # starting or draining
            return _NOT_SERVING
        failed = await failures()
        if failed != self._reported:
            if failed:
                log.warning("not ready: dependencies do not answer", failed=failed)
            elif self._reported:
                log.info("ready again: every dependency answers")
            self._reported = failed
        return _NOT_SERVING if failed else _SERVING


class _MethodTable(grpc.GenericRpcHandler):
    """Every method the services register, wrapped, answered by one dict lookup.

    Not registered with grpc.aio as methods: its server keeps one pending request per
    registered method and, for every call it accepts, waits on all of them at once
    (asyncio.wait over the set, O(methods) of Python per call: some 30 us a call with the
    api's eighty methods, about a tenth of a small call's CPU). Behind this one generic handler
    it waits on one."""

    def __init__(self) -> None:
        self.methods: dict[str, grpc.RpcMethodHandler] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self.methods.get(handler_call_details.method)


class _WrappingRegistrar(grpc.aio.Server):
    """Stands for the grpc.aio server while services register: their handlers go in wrapped.
    (A grpc.aio.Server itself: reflection checks for one to pick its asyncio servicer.)"""

    def __init__(self, server: grpc.aio.Server, wrapper: HandlerWrapper) -> None:
        self._server = server
        self._wrapper = wrapper
        # First of the generic handlers: the generated code adds one of its own per service
        # too, for the same methods, asked only for a method not in the table.
        self._table = _MethodTable()
        server.add_generic_rpc_handlers((self._table,))

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers([self._wrapper.wrap_generic(h) for h in handlers])

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        for name, handler in method_handlers.items():
            method = f"/{service_name}/{name}"
            self._table.methods[method] = self._wrapper.wrap(method, handler)

    def add_insecure_port(self, address: str) -> int:
        return int(self._server.add_insecure_port(address))

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return int(self._server.add_secure_port(address, server_credentials))

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float | None) -> None:
        await self._server.stop(grace)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        return bool(await self._server.wait_for_termination(timeout))


class GrpcServer:
    def __init__(
        self,
        settings: ServiceSettings,
        services: Sequence[ServiceSpec] = (),
        *,
        auth: Authenticator | None = None,
        auth_exempt: Iterable[str] = (),
        options: Sequence[tuple[str, Any]] = (),
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self.services = list(services)
        self.host = settings.grpc_host if host is None else host
        self.requested_port = settings.grpc_port if port is None else port
        self._wrapper = HandlerWrapper(auth, tuple(auth_exempt))
        self._options = {**dict(DEFAULT_OPTIONS), **_settings_options(settings), **dict(options)}
        self._server: grpc.aio.Server | None = None
        self.health = _Health()
        self.port: int | None = None
        self._serving = False
        self._stopped = False

    @property
    def service_names(self) -> list[str]:
        return [name for _, _, name in self.services]

    @property
    def address(self) -> str:
        """host:port to dial (the wildcard host becomes loopback)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "[::]", "::") else self.host
        return f"{host}:{self.port}"

    @property
    def started(self) -> bool:
        return self._server is not None

    async def start(self) -> int:
        """Bind and start serving RPCs (health says NOT_SERVING). Returns the bound port."""
        if self._server is not None:
            assert self.port is not None
            return self.port
        server = grpc.aio.server(options=list(self._options.items()))
        target: Any = _WrappingRegistrar(server, self._wrapper)
        for add, servicer, _ in self.services:
            add(servicer, target)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, target)
        for name in ["", READINESS_SERVICE, *self.service_names]:
            await self.health.set(name, _NOT_SERVING)
        for add, _, _ in self.services:
            _load_service_file(add)
        reflection.enable_server_reflection(
            [*self.service_names, HEALTH_SERVICE, REFLECTION_SERVICE], target
        )
        try:
            port = int(server.add_insecure_port(f"{self.host}:{self.requested_port}"))
        except RuntimeError as e:  # grpc raises when the port cannot be bound
            raise OSError(f"cannot listen on {self.host}:{self.requested_port}: {e}") from e
        if port == 0:
            raise OSError(f"cannot listen on {self.host}:{self.requested_port}")
        await server.start()
        self._server, self.port = server, port
        log.info("grpc server listening", host=self.host, port=port, services=self.service_names)
        return port

    async def set_serving(self) -> None:
        if self._stopped:
            return
        for name in ["", *self.service_names]:
            await self.health.set(name, _SERVING)
        self._serving = True
        log.info("serving", services=self.service_names)

    async def set_not_serving(self) -> None:
        """Start of the drain: every service NOT_SERVING, for good."""
        await self.health.enter_graceful_shutdown()
        self._serving = False

    async def stop(self, grace: float | None = None) -> None:
        """Drain: NOT_SERVING, refuse new RPCs, give in-flight ones `grace` s. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await self.set_not_serving()
        server, self._server = self._server, None
        if server is None:
            return
        grace = self.settings.shutdown_grace_s if grace is None else grace
        log.info("grpc server draining", grace_s=grace)
        await server.stop(grace)
        log.info("grpc server stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
