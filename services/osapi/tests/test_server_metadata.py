"""Nova's server metadata writes through the gateway: replace (PUT), merge (POST), one item's
show, set and delete, each checked on the map the compute service is left with; Nova's schema
for keys and values (on create too); and writes at once, none lost. The compute service is an
in-memory stand-in that applies UpdateServer as the api does (tests.support.osapi_gateway),
answers NOT_FOUND for an unknown server and INVALID_ARGUMENT for the keys the api's validation
refuses; each call yields to the loop, as a network call does, so writes at once interleave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.handlers.nova_server_metadata import METADATA_ITEMS
from tests.support.osapi_gateway import gateway, update

V4 = "openstack:accessIPv4"
SID = "s1"


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class _Compute:
    def __init__(self) -> None:
        self.servers = {SID: sp.Server(id=SID, metadata={"a": "1", "b": "2", V4: "10.0.0.9"})}
        self.updates = 0

    def _get(self, sid: str) -> sp.Server:
        if sid not in self.servers:
            raise _rpc_error(grpc.StatusCode.NOT_FOUND, f"server {sid} not found")
        return self.servers[sid]

    async def GetServer(self, req: sp.GetServerRequest, **_: Any) -> Any:
        await asyncio.sleep(0)
        return sp.GetServerResponse(server=self._get(req.server_id))

    async def UpdateServer(self, req: sp.UpdateServerRequest, **_: Any) -> Any:
        await asyncio.sleep(0)
        srv = self._get(req.server.id)
        keys = [*req.server.metadata, *req.metadata_patch.set]
        for k in keys:  # as the api's validation.metadata refuses keys
            if not k or len(k) > 255:
                raise _rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "metadata key is not valid")
        self.updates += 1
        return sp.UpdateServerResponse(server=update(srv, req))

    async def RebuildServer(self, req: sp.RebuildServerRequest, **_: Any) -> Any:
        srv = self._get(req.server_id)
        change = sp.UpdateServerRequest(metadata_patch=req.metadata_patch)
        if req.HasField("name"):
            change.server.name, change.update_mask.paths[:] = req.name, ["name"]
        srv = update(srv, change) if req.HasField("metadata_patch") or req.HasField("name") else srv
        srv.image_id = req.image_id
        return sp.RebuildServerResponse(server=srv)

    async def CreateServer(self, req: sp.CreateServerRequest, **_: Any) -> Any:
        srv = sp.Server(id=f"s{len(self.servers) + 1}", metadata=dict(req.server.metadata))
        self.servers[srv.id] = srv
        return sp.CreateServerResponse(servers=[srv])

    @property
    def meta(self) -> dict[str, str]:
        return dict(self.servers[SID].metadata)


@pytest.fixture
async def gw() -> AsyncIterator[tuple[TestClient, _Compute]]:  # type: ignore[type-arg]
    compute = _Compute()
    async with gateway(compute) as c:
        yield c, compute


H = {"X-Auth-Token": "t"}
M = f"/compute/v2.1/servers/{SID}/metadata"


async def _call(c: TestClient, method: str, url: str, body: Any = None) -> tuple[int, Any]:  # type: ignore[type-arg]
    resp = await c.request(method, url, json=body, headers=H)
    return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_replace_sets_the_whole_user_map_and_keeps_the_access_address(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    assert await _call(c, "GET", M) == (200, {"metadata": {"a": "1", "b": "2"}})
    status, body = await _call(c, "PUT", M, {"metadata": {"x": "9", "a": "0"}})
    assert (status, body) == (200, {"metadata": {"x": "9", "a": "0"}})
    assert compute.meta == {"x": "9", "a": "0", V4: "10.0.0.9"}
    assert await _call(c, "PUT", M, {"metadata": {}}) == (200, {"metadata": {}})
    assert compute.meta == {V4: "10.0.0.9"}


async def test_merge_updates_and_adds_keys_and_answers_the_whole_map(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    status, body = await _call(c, "POST", M, {"metadata": {"a": "alt", "c": "3"}})
    assert (status, body) == (200, {"metadata": {"a": "alt", "b": "2", "c": "3"}})
    assert compute.meta == {"a": "alt", "b": "2", "c": "3", V4: "10.0.0.9"}
    updates = compute.updates
    assert await _call(c, "POST", M, {"metadata": {}}) == (200, {"metadata": body["metadata"]})
    assert compute.updates == updates  # nothing changed: nothing written


async def test_one_item_is_shown_set_and_deleted(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    assert await _call(c, "GET", f"{M}/b") == (200, {"meta": {"b": "2"}})
    assert await _call(c, "PUT", f"{M}/nova", {"meta": {"nova": "alt"}}) == (
        200,
        {"meta": {"nova": "alt"}},
    )
    assert compute.meta == {"a": "1", "b": "2", "nova": "alt", V4: "10.0.0.9"}
    assert (await _call(c, "DELETE", f"{M}/a"))[0] == 204
    assert compute.meta == {"b": "2", "nova": "alt", V4: "10.0.0.9"}
    for method in ("GET", "DELETE"):
        status, body = await _call(c, method, f"{M}/a")
        assert status == 404 and body["itemNotFound"]["code"] == 404
        assert (await _call(c, method, f"{M}/{V4}"))[0] == 404  # kept out of the user's view
    assert compute.meta == {"b": "2", "nova": "alt", V4: "10.0.0.9"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/k", {"meta": {"other": "v"}}),  # the body's key is not the URL's
        ("PUT", "/k", {"meta": {"k": "v", "j": "w"}}),  # more than one item
        ("PUT", "/k", {"meta": {}}),
        ("PUT", "/k", {"metadata": {"k": "v"}}),
        ("PUT", "", {"meta1": "data1"}),  # no metadata object
        ("PUT", "", {"metadata": ["a"]}),
        ("POST", "", {"metadata": {"a": 1}}),  # values are strings
        ("PUT", "", {"metadata": {V4: "10.0.0.1"}}),  # reserved for accessIPv4
        ("POST", "", {"metadata": {V4: ""}}),
        ("PUT", "", {"metadata": {"": "blank"}}),  # refused by the api: INVALID_ARGUMENT
        ("POST", "", {"metadata": {"k" * 256: "long"}}),
        ("PUT", f"/{'k' * 256}", {"meta": {"k" * 256: "long"}}),
        # Nova's schema: a value of at most 255 characters, a key of [a-zA-Z0-9-_:. ]
        ("POST", "", {"metadata": {"k": "v" * 256}}),
        ("PUT", "", {"metadata": {"k": "v" * 1024}}),
        ("PUT", "/k", {"meta": {"k": "v" * 256}}),
        ("POST", "", {"metadata": {"a;b": "v"}}),
        ("PUT", "/a@b", {"meta": {"a@b": "v"}}),
        ("POST", "", {"metadata": {"kéy": "v"}}),
    ],
)
async def test_bad_bodies_are_400_and_change_nothing(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
    method: str,
    path: str,
    body: Any,
) -> None:
    c, compute = gw
    before = compute.meta
    status, answer = await _call(c, method, f"{M}{path}", body)
    assert status == 400 and answer["badRequest"]["code"] == 400, answer
    assert compute.meta == before


async def test_an_empty_body_is_400(gw: tuple[TestClient, _Compute]) -> None:  # type: ignore[type-arg]
    c, compute = gw
    resp = await c.put(M, data=b"", headers=H)
    assert resp.status == 400
    assert compute.updates == 0


async def test_more_items_than_the_quota_are_403(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    """As Nova's over-quota answer: the user's items and the access address it keeps count."""
    c, compute = gw
    fits = {f"key{n}": "v" for n in range(METADATA_ITEMS - 1)}
    assert (await _call(c, "PUT", M, {"metadata": fits}))[0] == 200
    status, body = await _call(c, "POST", M, {"metadata": {"one": "more"}})
    assert status == 403 and body["forbidden"]["code"] == 403
    too_many = {f"key{n}": "v" for n in range(METADATA_ITEMS + 1)}
    assert (await _call(c, "PUT", M, {"metadata": too_many}))[0] == 403
    assert compute.meta == {**fits, V4: "10.0.0.9"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"metadata": {"a": "1"}}),
        ("POST", "", {"metadata": {"a": "1"}}),
        ("GET", "/a", None),
        ("PUT", "/a", {"meta": {"a": "1"}}),
        ("DELETE", "/a", None),
    ],
)
async def test_an_unknown_server_is_404_on_both_prefixes(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
    method: str,
    path: str,
    body: Any,
) -> None:
    c, _ = gw
    for prefix in ("/compute/v2.1", "/compute/v2"):
        status, answer = await _call(c, method, f"{prefix}/servers/nope/metadata{path}", body)
        assert status == 404 and answer["itemNotFound"]["code"] == 404, (prefix, answer)


async def test_the_longest_key_and_value_novas_schema_takes_are_stored(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    key, value = "k-_:. " + "k" * 249, "v" * 255
    assert await _call(c, "POST", M, {"metadata": {key: value, "e": ""}}) == (
        200,
        {"metadata": {"a": "1", "b": "2", key: value, "e": ""}},
    )
    assert compute.meta[key] == value


@pytest.mark.parametrize(
    ("metadata", "status"),
    [
        ({"k": "v" * 256}, 400),
        ({"k": 1}, 400),  # a string, not turned into one
        ({"": "v"}, 400),
        ({"a/b": "v"}, 400),
        (["k"], 400),
        ({f"k{n}": "v" for n in range(METADATA_ITEMS + 1)}, 403),  # over quota, as Nova's
    ],
)
async def test_a_create_takes_metadata_by_novas_schema(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
    metadata: Any,
    status: int,
) -> None:
    c, compute = gw
    server = {"name": "a", "imageRef": "i", "flavorRef": "f"}
    resp = await c.post("/compute/v2.1/servers", json={"server": {**server, "metadata": metadata}},
                        headers=H)  # fmt: skip
    assert resp.status == status, await resp.text()
    assert list(compute.servers) == [SID]
    ok = {"k": "v" * 255, "k-_:. 9": ""}
    resp = await c.post("/compute/v2.1/servers", json={"server": {**server, "metadata": ok}},
                        headers=H)  # fmt: skip
    assert resp.status == 202
    assert dict(compute.servers["s2"].metadata) == ok


async def test_writes_at_once_all_apply(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    """20 items set, one merge and one delete, all at once: none is lost (each write is a
    patch the api applies to the metadata as it stands, not a map read before)."""
    c, compute = gw
    writes = [_call(c, "PUT", f"{M}/k{n}", {"meta": {f"k{n}": str(n)}}) for n in range(20)]
    writes += [_call(c, "POST", M, {"metadata": {"m": "merged"}}), _call(c, "DELETE", f"{M}/a")]
    answers = await asyncio.gather(*writes)
    assert [status for status, _ in answers] == [200] * 21 + [204]
    assert compute.meta == {
        **{f"k{n}": str(n) for n in range(20)},
        "b": "2",
        "m": "merged",
        V4: "10.0.0.9",
    }


async def test_a_rebuild_renames_and_replaces_the_metadata_with_the_disk(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    """Nova's rebuild body: name and metadata go with the rebuild, in its one call; the
    access address the gateway keeps in the metadata stays (unless the body sets it)."""
    c, compute = gw
    act = f"/compute/v2.1/servers/{SID}/action"
    body = {"rebuild": {"imageRef": "i2", "name": "again", "metadata": {"x": "1"}}}
    status, out = await _call(c, "POST", act, body)
    assert status == 202 and out["server"]["name"] == "again"
    assert compute.meta == {"x": "1", V4: "10.0.0.9"}
    body = {"rebuild": {"imageRef": "i3", "accessIPv4": "10.0.0.7"}}  # metadata kept
    assert (await _call(c, "POST", act, body))[0] == 202
    assert compute.meta == {"x": "1", V4: "10.0.0.7"}
    for bad in ({"name": ""}, {"metadata": {"k": "x" * 256}}, {"metadata": {V4: "1.2.3.4"}}):
        assert (await _call(c, "POST", act, {"rebuild": {"imageRef": "i4", **bad}}))[0] == 400
    assert compute.servers[SID].image_id == "i3"
