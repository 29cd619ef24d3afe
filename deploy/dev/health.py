"""gRPC health probes (grpc.health.v1) and plain TCP probes for the dev stack.

A service is *ready* when its health says SERVING for "" (the process is up: liveness) and
for "readiness" (and every PostgreSQL pool and NATS connection it holds answers: see
polyvisor.common.readiness). A server older than the readiness check answers NOT_FOUND for
it: being SERVING is then all that can be checked.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polyvisor.common.readiness import READINESS_SERVICE

SERVING = "SERVING"
UNREACHABLE = "unreachable"
NOT_LISTENING = "not listening"
UNKNOWN_SERVICE = "unknown service"
NOT_READY = "NOT_READY (a dependency does not answer)"


def grpc_health(address: str, timeout: float = 2.0, service: str = "") -> str:
    """The health status name at `address` (SERVING, NOT_SERVING, ...) or `unreachable`."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else None
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return "no health service"
            if code == grpc.StatusCode.NOT_FOUND:
                return UNKNOWN_SERVICE
            return UNREACHABLE
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


def readiness(address: str, timeout: float = 4.0) -> str:
    """SERVING when the service at `address` is up and reaches its dependencies; else the
    liveness status (NOT_SERVING, unreachable, ...) or NOT_READY."""
    status = grpc_health(address, timeout=timeout)
    if status != SERVING:
        return status
    ready = grpc_health(address, timeout=timeout, service=READINESS_SERVICE)
    return SERVING if ready in (SERVING, UNKNOWN_SERVICE) else NOT_READY


def wait_serving(
    address: str,
    *,
    timeout: float,
    alive: Callable[[], bool],
    listen_within: float | None = None,
) -> str:
    """Poll until ready (`readiness`: SERVING and every dependency answers); stop early when
    `alive()` turns False. Returns the last status.

    With `listen_within`, a process that has not opened the port after that many seconds
    (and is alive) yields NOT_LISTENING instead of waiting out `timeout`.
    """
    start = time.monotonic()
    deadline = start + timeout
    host, _, port = address.rpartition(":")
    status = UNREACHABLE
    seen_listening = False
    while time.monotonic() < deadline:
        status = readiness(address, timeout=3.0)
        if status == SERVING:
            return status
        if not alive():
            return "exited"
        seen_listening = seen_listening or tcp_open(host, int(port))
        if listen_within is not None and not seen_listening:
            if time.monotonic() - start > listen_within:
                return NOT_LISTENING
        time.sleep(0.2)
    return status


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_free_within(host: str, port: int, timeout: float) -> bool:
    """True once `port` is free, polled for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not port_free(host, port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
