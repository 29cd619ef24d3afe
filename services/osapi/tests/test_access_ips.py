"""Nova's accessIPv4/accessIPv6: set on create and on update, shown on the server, kept in
the server's metadata (through the gateway's gRPC calls) and left out of the metadata Nova
users see; and Nova's block_device_mapping_v2 boot volume, passed as the spec's
boot_volume_id. The compute service here is an in-memory stand-in that keeps what it is
sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from polyvisor.compute.v1 import servers_pb2 as sp
from tests.support.osapi_gateway import gateway, update

V4, V6 = "openstack:accessIPv4", "openstack:accessIPv6"


class _Compute:
    """Keeps servers as the api would: CreateServer stores the spec's metadata, UpdateServer
    replaces the fields its mask names and applies its metadata patch."""

    def __init__(self) -> None:
        self.servers: dict[str, sp.Server] = {}

    async def CreateServer(self, req: sp.CreateServerRequest, **_: Any) -> Any:
        srv = sp.Server(id=f"s{len(self.servers) + 1}", name=req.server.name,
                        metadata=dict(req.server.metadata))  # fmt: skip
        self.servers[srv.id] = srv
        return sp.CreateServerResponse(servers=[srv])

    async def GetServer(self, req: sp.GetServerRequest, **_: Any) -> Any:
        return sp.GetServerResponse(server=self.servers[req.server_id])

    async def UpdateServer(self, req: sp.UpdateServerRequest, **_: Any) -> Any:
        return sp.UpdateServerResponse(server=update(self.servers[req.server.id], req))


@pytest.fixture
async def gw() -> AsyncIterator[tuple[TestClient, _Compute]]:  # type: ignore[type-arg]
    compute = _Compute()
    async with gateway(compute) as c:
        yield c, compute


H = {"X-Auth-Token": "t"}
P = "/compute/v2.1/servers"


async def _create(c: TestClient, **extra: Any) -> Any:  # type: ignore[type-arg]
    body = {"server": {"name": "a", "imageRef": "i", "flavorRef": "f",
                       "metadata": {"hello": "world"}, **extra}}  # fmt: skip
    return await c.post(P, json=body, headers=H)


async def test_create_stores_them_and_show_answers_them_canonical(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    resp = await _create(c, accessIPv4="1.1.1.1",
                         accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2")  # fmt: skip
    assert resp.status == 202
    sid = (await resp.json())["server"]["id"]
    assert dict(compute.servers[sid].metadata) == {
        "hello": "world",
        V4: "1.1.1.1",
        V6: "::babe:dc0c:1602",
    }
    shown = (await (await c.get(f"{P}/{sid}", headers=H)).json())["server"]
    assert (shown["accessIPv4"], shown["accessIPv6"]) == ("1.1.1.1", "::babe:dc0c:1602")
    assert shown["metadata"] == {"hello": "world"}
    meta = await (await c.get(f"{P}/{sid}/metadata", headers=H)).json()
    assert meta == {"metadata": {"hello": "world"}}


async def test_update_sets_and_clears_them_keeping_the_rest_of_the_metadata(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    sid = (await (await _create(c)).json())["server"]["id"]
    assert (await (await c.get(f"{P}/{sid}", headers=H)).json())["server"]["accessIPv4"] == ""
    resp = await c.put(f"{P}/{sid}", json={"server": {"accessIPv4": "2.2.2.2"}}, headers=H)
    assert resp.status == 200
    assert (await resp.json())["server"]["accessIPv4"] == "2.2.2.2"
    assert dict(compute.servers[sid].metadata) == {"hello": "world", V4: "2.2.2.2"}
    resp = await c.put(f"{P}/{sid}", json={"server": {"name": "b", "accessIPv4": ""}}, headers=H)
    out = (await resp.json())["server"]
    assert (out["name"], out["accessIPv4"]) == ("b", "")
    assert dict(compute.servers[sid].metadata) == {"hello": "world"}


async def test_bad_addresses_and_reserved_keys_are_refused(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    assert (await _create(c, accessIPv4="::1")).status == 400
    assert (await _create(c, accessIPv6="not-an-ip")).status == 400
    body = {"server": {"name": "a", "imageRef": "i", "flavorRef": "f", "metadata": {V4: "x"}}}
    assert (await c.post(P, json=body, headers=H)).status == 400
    assert compute.servers == {}
    sid = (await (await _create(c)).json())["server"]["id"]
    resp = await c.put(f"{P}/{sid}", json={"server": {"accessIPv4": "300.1.1.1"}}, headers=H)
    assert resp.status == 400
    assert dict(compute.servers[sid].metadata) == {"hello": "world"}


async def test_a_boot_volume_from_block_device_mapping_v2(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    """Nova's boot from an existing volume: the mapping at boot_index 0 becomes the spec's
    boot_volume_id, with no image; mappings the api cannot do are refused (400)."""
    c, compute = gw
    sent: list[sp.ServerSpec] = []
    create = compute.CreateServer

    async def keep(req: sp.CreateServerRequest, **kw: Any) -> Any:
        sent.append(req.server)
        return await create(req, **kw)

    compute.CreateServer = keep  # type: ignore[method-assign]
    vol = {"uuid": "v1", "source_type": "volume", "destination_type": "volume", "boot_index": 0}
    resp = await _create(c, imageRef="", block_device_mapping_v2=[vol])
    assert resp.status == 202
    assert (sent[-1].image_id, sent[-1].boot_volume_id) == ("", "v1")
    assert not sent[-1].boot_volume_delete_on_termination
    for doomed in ({**vol, "delete_on_termination": True}, {**vol, "delete_on_termination": "yes"}):
        resp = await _create(c, imageRef="", block_device_mapping_v2=[doomed])
        assert resp.status == 202, await resp.text()
        assert sent[-1].boot_volume_id == "v1" and sent[-1].boot_volume_delete_on_termination
    for bad in ({**vol, "source_type": "image"}, {**vol, "delete_on_termination": "maybe"}):
        resp = await _create(c, imageRef="", block_device_mapping_v2=[bad])
        assert resp.status == 400, await resp.text()
    assert len(sent) == 3
    # What the openstack CLI sends for --image: the image mapped to a local disk beside
    # imageRef; it is the image boot (and a mapping naming another image is refused).
    img = {"uuid": "i1", "source_type": "image", "destination_type": "local", "boot_index": 0,
           "delete_on_termination": True}  # fmt: skip
    resp = await _create(c, imageRef="i1", block_device_mapping_v2=[img])
    assert resp.status == 202, await resp.text()
    assert (sent[-1].image_id, sent[-1].boot_volume_id) == ("i1", "")
    resp = await _create(c, imageRef="", block_device_mapping_v2=[img])
    assert resp.status == 202, await resp.text()
    assert (sent[-1].image_id, sent[-1].boot_volume_id) == ("i1", "")
    resp = await _create(c, imageRef="i2", block_device_mapping_v2=[img])
    assert resp.status == 400
    assert len(sent) == 5
