"""The ports of the dev stack's processes: each service's default pair (gRPC, metrics) and
web port, or, with `POLYVISOR_DEV_PORTS=ephemeral`, fresh ones that no other process of the
plan and no running one has."""

from __future__ import annotations

import os
import socket

BIND_HOST = "127.0.0.1"
DEFAULT_PORTS = {
    "api": (50051, 9151),
    "imagesvc": (50052, 9152),
    "scheduler": (50053, 9153),
    "networksvc": (50054, 9154),
    "console": (50055, 9155),
    "dashboard": (50056, 9156),
    "osapi": (50057, 9157),
    "volumesvc": (50058, 9158),
}
DEFAULT_HTTP_PORTS = {"console": 6080, "dashboard": 8080, "osapi": 8774}


def free_port(taken: set[int]) -> int:
    """A port free now and not yet given to another process of this plan (the kernel can hand
    the same free port out twice in a row: two services of one stack once got one port)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((BIND_HOST, 0))
            port = int(s.getsockname()[1])
        if port not in taken:
            taken.add(port)
            return port


def ephemeral_ports() -> bool:
    return os.environ.get("POLYVISOR_DEV_PORTS", "") == "ephemeral"


def taken_ports(recorded: dict[str, dict[str, int]]) -> set[int]:
    """Ports the processes already running keep (a fresh port must not be one of them)."""
    return {p for rec in recorded.values() for p in rec.values() if isinstance(p, int)}


def service_ports(
    name: str, recorded: dict[str, dict[str, int]], taken: set[int]
) -> tuple[int, int]:
    """Keep a running process's ports; else the default pair, or fresh ephemeral ones."""
    if name in recorded:
        return recorded[name]["grpc_port"], recorded[name]["metrics_port"]
    if name in DEFAULT_PORTS and not ephemeral_ports():
        return DEFAULT_PORTS[name]
    return free_port(taken), free_port(taken)


def http_port(name: str, recorded: dict[str, dict[str, int]], taken: set[int]) -> int:
    """A web service's HTTP port: the one it has while it runs, else its default or a free
    one."""
    if "http_port" in recorded.get(name, {}):
        return recorded[name]["http_port"]
    if name in DEFAULT_HTTP_PORTS and not ephemeral_ports():
        return DEFAULT_HTTP_PORTS[name]
    return free_port(taken)
