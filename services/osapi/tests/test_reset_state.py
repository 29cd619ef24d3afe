"""Nova's os-resetState through the gateway: 'active' or 'error' sent to the api's
ResetServerState (which decides who may: admins), anything else refused with Nova's 400."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.types.v1 import server_status_pb2 as st
from tests.support.osapi_gateway import gateway

H = {"X-Auth-Token": "t"}


class _Compute:
    def __init__(self) -> None:
        self.asked: list[sp.ResetServerStateRequest] = []

    async def ResetServerState(self, req: sp.ResetServerStateRequest, **_: Any) -> Any:
        self.asked.append(req)
        return sp.ResetServerStateResponse(server=sp.Server(id=req.server_id, state=req.state))


@pytest.fixture
async def gw() -> AsyncIterator[tuple[TestClient, _Compute]]:  # type: ignore[type-arg]
    compute = _Compute()
    async with gateway(compute) as c:
        yield c, compute


async def test_reset_to_active_or_error(gw: tuple[TestClient, _Compute]) -> None:  # type: ignore[type-arg]
    c, compute = gw
    for state in ("error", "active"):
        r = await c.post(
            "/compute/v2.1/servers/s1/action", json={"os-resetState": {"state": state}}, headers=H
        )
        assert r.status == 202, await r.text()
    assert [(a.server_id, a.state) for a in compute.asked] == [
        ("s1", st.SERVER_STATE_ERROR),
        ("s1", st.SERVER_STATE_ACTIVE),
    ]
    assert all(a.request_id for a in compute.asked)


@pytest.mark.parametrize("body", [{"state": "shutoff"}, {}, {"state": None}, "error"])
async def test_another_state_is_refused(gw: tuple[TestClient, _Compute], body: Any) -> None:  # type: ignore[type-arg]
    c, compute = gw
    r = await c.post("/compute/v2.1/servers/s1/action", json={"os-resetState": body}, headers=H)
    assert r.status == 400
    assert "badRequest" in await r.json()
    assert compute.asked == []
