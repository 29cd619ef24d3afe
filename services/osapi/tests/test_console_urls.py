"""Nova's console URLs through the gateway: a novnc console (os-getVNCConsole, and
remote-consoles from microversion 2.6) is the console proxy's page, an http(s) address a
browser opens (as Nova's novncproxy's vnc_lite.html); the api's WebSocket URL is what the
other types give, and what gRPC clients keep using."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.types.v1 import hypervisor_pb2 as hv
from tests.support.osapi_gateway import gateway

SID = "s1"
QUERY = f"server_id={SID}&token=tok"
WS = f"wss://console.example/websockify?{QUERY}"
PAGE = f"https://console.example/vnc.html?{QUERY}"
H = {"X-Auth-Token": "t"}


class _Compute:
    def __init__(self) -> None:
        self.asked: list[sp.GetServerConsoleRequest] = []

    async def GetServerConsole(self, req: sp.GetServerConsoleRequest, **_: Any) -> Any:
        self.asked.append(req)
        return sp.GetServerConsoleResponse(
            type=req.type, host="console.example", port=443, token="tok", url=WS, page_url=PAGE
        )


@pytest.fixture
async def gw() -> AsyncIterator[tuple[TestClient, _Compute]]:  # type: ignore[type-arg]
    compute = _Compute()
    async with gateway(compute) as c:
        yield c, compute


async def test_a_novnc_console_is_the_proxys_page(gw: tuple[TestClient, _Compute]) -> None:  # type: ignore[type-arg]
    c, compute = gw
    r = await c.post(
        f"/compute/v2.1/servers/{SID}/remote-consoles",
        json={"remote_console": {"protocol": "vnc", "type": "novnc"}},
        headers={**H, "OpenStack-API-Version": "compute 2.6"},
    )
    assert r.status == 200, await r.text()
    assert await r.json() == {"remote_console": {"protocol": "vnc", "type": "novnc", "url": PAGE}}
    r = await c.post(
        f"/compute/v2.1/servers/{SID}/action",
        json={"os-getVNCConsole": {"type": "novnc"}},
        headers=H,
    )
    assert await r.json() == {"console": {"type": "novnc", "url": PAGE}}
    assert [a.type for a in compute.asked] == [hv.CONSOLE_TYPE_VNC] * 2


async def test_another_type_keeps_the_websocket(gw: tuple[TestClient, _Compute]) -> None:  # type: ignore[type-arg]
    c, _ = gw
    r = await c.post(
        f"/compute/v2.1/servers/{SID}/action",
        json={"os-getVNCConsole": {"type": "xvpvnc"}},
        headers=H,
    )
    assert await r.json() == {"console": {"type": "xvpvnc", "url": WS}}
