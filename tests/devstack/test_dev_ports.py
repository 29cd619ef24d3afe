"""Fresh ports of one `./dev up` plan are distinct, even when the kernel hands one free port
out twice in a row (two services of one stack once got the same port and `up` failed)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from deploy.dev import ports


class _Kernel:
    """socket.socket stand-in whose bind(port 0) gives ports from a list that repeats some."""

    def __init__(self, ports: Iterator[int]) -> None:
        self.ports = ports

    def __call__(self, *_: Any) -> _Kernel:
        return self

    def __enter__(self) -> _Kernel:
        self.port = next(self.ports)
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def bind(self, _addr: tuple[str, int]) -> None:
        return None

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_fresh_ports_skip_ones_already_given_and_ones_running_processes_keep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = _Kernel(
        itertools.chain([52151, 52151, 40000, 52151, 40000, 41000, 42000, 43000, 43000, 44000])
    )
    monkeypatch.setattr(ports.socket, "socket", kernel)
    monkeypatch.setenv("POLYVISOR_DEV_PORTS", "ephemeral")
    recorded = {"api": {"grpc_port": 41000, "metrics_port": 41001}}
    taken = ports.taken_ports(recorded)
    first = ports.service_ports("networksvc", recorded, taken)
    second = ports.service_ports("console", recorded, taken)
    http = ports.http_port("console", recorded, taken)
    assert first == (52151, 40000)
    assert second == (42000, 43000) and http == 44000
    given = [*first, *second, http]
    assert len(set(given)) == len(given) and 41000 not in given
    assert ports.service_ports("api", recorded, taken) == (
        41000,
        41001,
    )  # a running one keeps its own
