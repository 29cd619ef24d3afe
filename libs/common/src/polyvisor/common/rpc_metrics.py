"""The metrics of every gRPC method (see `interceptors`): requests by final status code and
their latency, with the label children of each method resolved once."""

from __future__ import annotations

import time
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

__all__ = ["GRPC_REQUESTS", "GRPC_REQUEST_SECONDS", "MethodMetrics", "split_method"]

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


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


class MethodMetrics:
    """The label children of one method, resolved once (`.labels()` costs a lock and a dict
    lookup of the label tuple on every call)."""

    __slots__ = ("_counts", "_name", "_service", "seconds")

    def __init__(self, method: str) -> None:
        self._service, self._name = split_method(method)
        self.seconds = GRPC_REQUEST_SECONDS.labels(self._service, self._name)
        self._counts: dict[grpc.StatusCode, Any] = {}

    def done(self, code: grpc.StatusCode, start: float) -> None:
        child = self._counts.get(code)
        if child is None:
            child = self._counts[code] = GRPC_REQUESTS.labels(self._service, self._name, code.name)
        child.inc()
        self.seconds.observe(time.perf_counter() - start)
