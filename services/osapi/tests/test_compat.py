"""What OpenStack's clients and Tempest read besides the resources: Nova's version documents
(v2.0 beside v2.1), request ids on every answer, Glance's `in:` filter values, a token's
issue time, the logout route."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from polyvisor.osapi.clients import Apis
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.handlers import make_app
from polyvisor.osapi.handlers.glance import _split_in
from polyvisor.osapi.handlers.keystone import _issued_at


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    # Nothing listens at these addresses: only answers made without a gRPC call are asked for.
    apis = Apis("127.0.0.1:9", "127.0.0.1:9", "127.0.0.1:9", timeout_s=1.0)
    c = TestClient(TestServer(make_app(apis, OsapiSettings())))
    await c.start_server()
    try:
        yield c
    finally:
        await c.close()
        await apis.close()


async def test_compute_versions_list_v2_0_first_and_each_link_is_followable(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    resp = await client.get("/compute/")
    assert resp.status == 200
    versions = (await resp.json())["versions"]
    assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
    for v in versions:
        (self_link,) = [link["href"] for link in v["links"] if link["rel"] == "self"]
        path = "/" + self_link.split("/", 3)[3]
        doc = await (await client.get(path)).json()
        assert doc["version"]["id"] == v["id"]
        assert [x["href"] for x in doc["version"]["links"] if x["rel"] == "self"] == [self_link]


async def test_legacy_v2_ignores_microversions(client: TestClient) -> None:  # type: ignore[type-arg]
    asked = {"OpenStack-API-Version": "compute 2.60"}
    new = await client.get("/compute/v2.1/", headers=asked)
    assert new.headers["OpenStack-API-Version"] == "compute 2.60"
    old = await client.get("/compute/v2/", headers=asked)
    assert old.status == 200 and "OpenStack-API-Version" not in old.headers
    # the same resources are routed under both
    assert (await client.get("/compute/v2/servers")).status == 401


async def test_every_answer_has_a_request_id(client: TestClient) -> None:  # type: ignore[type-arg]
    ok = await client.get("/compute/v2.1/")
    refused = await client.get("/compute/v2.1/servers")
    assert refused.status == 401
    ids = {ok.headers["x-openstack-request-id"], refused.headers["x-openstack-request-id"]}
    assert len(ids) == 2 and all(i.startswith("req-") for i in ids)
    assert refused.headers["x-compute-request-id"] == refused.headers["x-openstack-request-id"]
    glance = await client.get("/image/v2/images")
    assert glance.headers["x-openstack-request-id"].startswith("req-")
    given = await client.get("/compute/v2.1/", headers={"X-OpenStack-Request-ID": "req-mine"})
    assert given.headers["x-openstack-request-id"] == "req-mine"


async def test_logout_route_exists(client: TestClient) -> None:  # type: ignore[type-arg]
    # 401 (no token), not 405: DELETE /v3/auth/tokens is served
    assert (await client.delete("/identity/v3/auth/tokens")).status == 401


def test_in_filter_values() -> None:
    assert _split_in("in:a,b") == ["a", "b"]
    assert _split_in('in:"x,y",z') == ["x,y", "z"]
    assert _split_in("in:") == []


def test_issued_at_is_the_tokens_own() -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"iat": 1796615706.123}).encode()).rstrip(b"=")
    token = f"eyJhbGciOiJFZERTQSJ9.{claims.decode()}.c2ln"
    assert _issued_at(token) == "2026-12-07T03:55:06.123000Z"
    assert _issued_at(token) == _issued_at(token)


def test_update_answers_the_short_server_before_2_75_and_progress_only_while_up() -> None:
    from polyvisor.compute.v1 import servers_pb2 as sp
    from polyvisor.osapi.convert import nova as nc
    from polyvisor.osapi.microversion import Version
    from polyvisor.types.v1 import server_status_pb2 as ss

    up = sp.Server(id="s1", name="n", host="h", state=ss.SERVER_STATE_ACTIVE)
    off = sp.Server(id="s1", name="n", host="h", state=ss.SERVER_STATE_SHUTOFF)
    full = nc.server(up, "http://x", Version(2, 1))
    short = nc.server_updated(up, "http://x", Version(2, 1))
    assert "OS-EXT-SRV-ATTR:host" in full and "key_name" in full
    assert not [k for k in short if k.startswith("OS-EXT-") or k in ("key_name", "config_drive")]
    assert short["id"] == "s1" and short["accessIPv4"] == ""
    assert "OS-EXT-SRV-ATTR:host" in nc.server_updated(up, "http://x", Version(2, 75))
    assert full["progress"] == 100
    assert "progress" not in nc.server(off, "http://x", Version(2, 1))
