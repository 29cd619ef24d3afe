"""Nova's volume attachments through the gateway: attach (AttachVolume, the device asked for
ignored), list, show, detach (DetachVolume), the microversions' fields, and a server show's
os-extended-volumes:volumes_attached from the volume service (a list answers none). The api is
a stand-in whose AttachVolume/DetachVolume leave the in-memory volume service as the real
reservations do. A gateway given no volume service answers no Cinder and names no volumes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.convert import keystone as kc
from polyvisor.types.v1 import server_status_pb2 as ss
from tests.support.osapi_gateway import gateway
from tests.support.volume_standin import Volumes, rpc_error

Client = TestClient  # type: ignore[type-arg]
SID = "srv-1"
A = f"/compute/v2.1/servers/{SID}/os-volume_attachments"


class _Compute:
    def __init__(self, volumes: Volumes) -> None:
        self.volumes = volumes
        self.server = sp.Server(id=SID, name="web", state=ss.SERVER_STATE_ACTIVE, revision=1)
        self.calls: list[tuple[str, str, str]] = []

    def _check(self, sid: str) -> None:
        if sid != SID:
            raise rpc_error(grpc.StatusCode.NOT_FOUND, f"server {sid} not found")

    async def GetServer(self, req: sp.GetServerRequest, **_: Any) -> Any:
        self._check(req.server_id)
        return sp.GetServerResponse(server=self.server)

    async def ListServers(self, req: sp.ListServersRequest, **_: Any) -> Any:
        return sp.ListServersResponse(servers=[self.server])

    async def AttachVolume(self, req: sp.AttachVolumeRequest, **_: Any) -> Any:
        self._check(req.server_id)
        self.calls.append(("attach", req.server_id, req.volume_id))
        self.volumes.attach(req.volume_id, req.server_id)
        return sp.AttachVolumeResponse(server=self.server)

    async def DetachVolume(self, req: sp.DetachVolumeRequest, **_: Any) -> Any:
        self._check(req.server_id)
        self.calls.append(("detach", req.server_id, req.volume_id))
        self.volumes.detach(req.volume_id, req.server_id)
        return sp.DetachVolumeResponse(server=self.server)


@pytest.fixture
async def gw() -> AsyncIterator[tuple[Client, _Compute]]:
    volumes = Volumes()
    compute = _Compute(volumes)
    async with gateway(compute, volumes) as c:
        yield c, compute


async def _call(
    c: Client, method: str, url: str, body: Any = None, mv: str = "2.1"
) -> tuple[int, Any]:
    headers = {"X-Auth-Token": "t", "OpenStack-API-Version": f"compute {mv}"}
    resp = await c.request(method, url, json=body, headers=headers)
    text = await resp.text()
    return resp.status, (await resp.json() if text else None)


async def _volume(c: Client) -> str:
    status, body = await _call(c, "POST", "/volume/v3/p1/volumes", {"volume": {"size": 1}})
    assert status == 202
    return str(body["volume"]["id"])


async def test_attach_list_show_and_detach(gw: tuple[Client, _Compute]) -> None:
    c, compute = gw
    vid = await _volume(c)
    status, body = await _call(
        c, "POST", A, {"volumeAttachment": {"volumeId": vid, "device": "/dev/vdz"}}
    )
    assert status == 200
    assert body["volumeAttachment"] == {"id": vid, "serverId": SID, "volumeId": vid, "device": None}
    assert compute.calls == [("attach", SID, vid)]
    status, body = await _call(c, "GET", A)
    assert status == 200 and [a["volumeId"] for a in body["volumeAttachments"]] == [vid]
    status, body = await _call(c, "GET", f"{A}/{vid}")
    assert status == 200 and body["volumeAttachment"]["serverId"] == SID
    _, vol = await _call(c, "GET", f"/volume/v3/p1/volumes/{vid}")
    assert (
        vol["volume"]["status"] == "in-use" and vol["volume"]["attachments"][0]["server_id"] == SID
    )
    status, _ = await _call(c, "DELETE", f"{A}/{vid}")
    assert status == 202 and compute.calls[-1] == ("detach", SID, vid)
    assert (await _call(c, "GET", A))[1] == {"volumeAttachments": []}
    status, body = await _call(c, "GET", f"{A}/{vid}")
    assert status == 404 and "itemNotFound" in body


async def test_attachment_fields_follow_the_microversion(gw: tuple[Client, _Compute]) -> None:
    c, _ = gw
    vid = await _volume(c)
    status, body = await _call(c, "POST", A, {"volumeAttachment": {"volumeId": vid}}, mv="2.89")
    a = body["volumeAttachment"]
    assert status == 200 and "id" not in a
    assert (a["tag"], a["delete_on_termination"]) == (None, False)
    assert a["attachment_id"] and a["bdm_uuid"]
    _, shown = await _call(c, "GET", f"/volume/v3/p1/volumes/{vid}")
    assert shown["volume"]["attachments"][0]["attachment_id"] == a["attachment_id"]
    _, body = await _call(c, "GET", A, mv="2.79")
    assert body["volumeAttachments"][0]["delete_on_termination"] is False
    assert body["volumeAttachments"][0]["id"] == vid


async def test_attach_refusals(gw: tuple[Client, _Compute]) -> None:
    c, _ = gw
    vid = await _volume(c)
    for bad in ({}, {"volumeId": ""}, {"volumeId": vid, "tag": "t"},
                {"volumeId": vid, "delete_on_termination": True}):  # fmt: skip
        status, body = await _call(c, "POST", A, {"volumeAttachment": bad}, mv="2.79")
        assert status == 400 and "badRequest" in body, bad
    status, body = await _call(c, "POST", A, {"volumeAttachment": {"volumeId": "nope"}})
    assert status == 404 and "itemNotFound" in body
    assert (await _call(c, "POST", A, {"volumeAttachment": {"volumeId": vid}}))[0] == 200
    status, body = await _call(c, "POST", A, {"volumeAttachment": {"volumeId": vid}})
    assert status == 409 and "conflictingRequest" in body
    status, _ = await _call(c, "GET", "/compute/v2.1/servers/other/os-volume_attachments")
    assert status == 404


async def test_a_server_show_names_its_volumes_and_a_list_does_not_ask(
    gw: tuple[Client, _Compute],
) -> None:
    c, compute = gw
    key = "os-extended-volumes:volumes_attached"
    _, body = await _call(c, "GET", f"/compute/v2.1/servers/{SID}")
    assert body["server"][key] == []
    vid = await _volume(c)
    await _call(c, "POST", A, {"volumeAttachment": {"volumeId": vid}})
    _, body = await _call(c, "GET", f"/compute/v2.1/servers/{SID}")
    assert body["server"][key] == [{"id": vid}]
    _, body = await _call(c, "GET", f"/compute/v2.1/servers/{SID}", mv="2.3")
    assert body["server"][key] == [{"id": vid, "delete_on_termination": False}]
    asked = compute.volumes.calls.count("ListVolumes")
    _, body = await _call(c, "GET", "/compute/v2.1/servers/detail")
    assert body["servers"][0][key] == []
    assert compute.volumes.calls.count("ListVolumes") == asked


async def test_a_gateway_without_a_volume_service_answers_no_cinder_and_asks_for_no_volumes() -> (
    None
):
    volumes = Volumes()
    compute = _Compute(volumes)
    async with gateway(compute, volumes, OsapiSettings(volumesvc_address="")) as c:
        _, body = await _call(c, "GET", f"/compute/v2.1/servers/{SID}")
        assert body["server"]["os-extended-volumes:volumes_attached"] == []
        status, body = await _call(c, "GET", "/volume/v3/p1/volumes")
        assert status == 404 and "itemNotFound" in body
        _, root = await _call(c, "GET", "/")
        assert "volume" not in root["services"] and "compute" in root["services"]
    assert volumes.calls == []
    kinds = {e["type"] for e in kc.catalog("http://gw", "RegionOne", "p9", block_storage=False)}
    assert "volumev3" not in kinds and "compute" in kinds
