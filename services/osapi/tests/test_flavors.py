"""Nova's flavor routes through the gateway: a private flavor made with the string "False"
Tempest sends, the default list (public flavors and the private ones the caller may use),
extra spec writes and access changes as the UpdateFlavor calls they become. The compute
service is an in-memory stand-in that applies UpdateFlavor as the api does (NOT_FOUND for a
key never set or a project without access, ALREADY_EXISTS for one that has it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient

from polyvisor.compute.v1 import flavors_pb2 as fp
from tests.support.osapi_gateway import gateway

H = {"X-Auth-Token": "t"}
F = "/compute/v2.1/flavors"


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class _Compute:
    def __init__(self) -> None:
        self.flavors: dict[str, fp.Flavor] = {
            "pub": fp.Flavor(id="pub", name="pub", vcpus=1, ram_mb=64, is_public=True),
            "mine": fp.Flavor(id="mine", name="mine", vcpus=1, ram_mb=64, project_ids=["p1"]),
        }
        self.updates: list[fp.UpdateFlavorRequest] = []

    def _get(self, fid: str) -> fp.Flavor:
        if fid not in self.flavors:
            raise _rpc_error(grpc.StatusCode.NOT_FOUND, f"flavor {fid} not found")
        return self.flavors[fid]

    async def GetFlavor(self, req: fp.GetFlavorRequest, **_: Any) -> Any:
        return fp.GetFlavorResponse(flavor=self._get(req.flavor_id))

    async def ListFlavors(self, req: fp.ListFlavorsRequest, **_: Any) -> Any:
        # the caller's project (p1) sees the public flavors and those shared with it
        seen = [f for f in self.flavors.values() if f.is_public or "p1" in f.project_ids]
        return fp.ListFlavorsResponse(flavors=seen)

    async def CreateFlavor(self, req: fp.CreateFlavorRequest, **_: Any) -> Any:
        f = fp.Flavor()
        f.CopyFrom(req.flavor)
        f.id = f.id or f.name
        self.flavors[f.id] = f
        return fp.CreateFlavorResponse(flavor=f)

    async def UpdateFlavor(self, req: fp.UpdateFlavorRequest, **_: Any) -> Any:
        f = self._get(req.flavor_id)
        self.updates.append(req)
        if missing := set(req.unset_extra_specs) - set(f.extra_specs):
            raise _rpc_error(grpc.StatusCode.NOT_FOUND, f"no extra spec {missing.pop()}")
        if set(req.add_project_ids) & set(f.project_ids):
            raise _rpc_error(grpc.StatusCode.ALREADY_EXISTS, "has access already")
        if set(req.remove_project_ids) - set(f.project_ids):
            raise _rpc_error(grpc.StatusCode.NOT_FOUND, "has no access")
        for k in req.unset_extra_specs:
            del f.extra_specs[k]
        f.extra_specs.update(dict(req.set_extra_specs))
        kept = [p for p in f.project_ids if p not in req.remove_project_ids]
        del f.project_ids[:]
        f.project_ids.extend([*kept, *req.add_project_ids])
        if req.HasField("description"):
            f.description = req.description
        return fp.UpdateFlavorResponse(flavor=f)


@pytest.fixture
async def gw() -> AsyncIterator[tuple[TestClient, _Compute]]:  # type: ignore[type-arg]
    compute = _Compute()
    async with gateway(compute) as c:
        yield c, compute


async def _call(
    c: TestClient,  # type: ignore[type-arg]
    method: str,
    url: str,
    body: Any = None,
    mv: str = "",
) -> tuple[int, Any]:
    headers = {**H, "OpenStack-API-Version": f"compute {mv}"} if mv else H
    resp = await c.request(method, url, json=body, headers=headers)
    text = await resp.text()
    return resp.status, (await resp.json() if text else None)


async def test_a_private_flavor_from_a_string_and_the_default_list(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    body = {"flavor": {"name": "x", "vcpus": 1, "ram": 64, "disk": 1,
                       "os-flavor-access:is_public": "False"}}  # fmt: skip
    status, made = await _call(c, "POST", F, body)
    assert status == 200 and made["flavor"]["os-flavor-access:is_public"] is False
    assert compute.flavors["x"].is_public is False
    body["flavor"] |= {"name": "y", "os-flavor-access:is_public": "perhaps"}
    assert (await _call(c, "POST", F, body))[0] == 400
    # by default, the public flavors and the private ones the caller's project may use
    listed = {f["id"] for f in (await _call(c, "GET", f"{F}/detail"))[1]["flavors"]}
    assert listed == {"pub", "mine"}
    listed = {f["id"] for f in (await _call(c, "GET", f"{F}?is_public=false"))[1]["flavors"]}
    assert listed == {"mine"}


async def test_extra_spec_writes(gw: tuple[TestClient, _Compute]) -> None:  # type: ignore[type-arg]
    c, compute = gw
    specs = f"{F}/pub/os-extra_specs"
    status, body = await _call(c, "POST", specs, {"extra_specs": {"a": "1", "b": 2}})
    assert (status, body) == (200, {"extra_specs": {"a": "1", "b": "2"}})
    assert await _call(c, "PUT", f"{specs}/a", {"a": "9"}) == (200, {"a": "9"})
    assert await _call(c, "GET", f"{specs}/a") == (200, {"a": "9"})
    assert (await _call(c, "PUT", f"{specs}/a", {"b": "9"}))[0] == 400  # body and URI mismatch
    assert (await _call(c, "PUT", f"{specs}/a", {"a": "1", "b": "1"}))[0] == 400
    assert (await _call(c, "PUT", f"{specs}/a", {"a": "x" * 256}))[0] == 400
    assert (await _call(c, "DELETE", f"{specs}/b"))[0] == 200
    assert (await _call(c, "DELETE", f"{specs}/b"))[0] == 404
    assert (await _call(c, "GET", f"{specs}/b"))[0] == 404
    assert await _call(c, "GET", specs) == (200, {"extra_specs": {"a": "9"}})
    assert dict(compute.flavors["pub"].extra_specs) == {"a": "9"}


async def test_access_changes_and_the_description(
    gw: tuple[TestClient, _Compute],  # type: ignore[type-arg]
) -> None:
    c, compute = gw
    access = f"{F}/mine/os-flavor-access"
    assert await _call(c, "GET", access) == (
        200, {"flavor_access": [{"flavor_id": "mine", "tenant_id": "p1"}]}
    )  # fmt: skip
    assert (await _call(c, "GET", f"{F}/pub/os-flavor-access"))[0] == 404  # public: no list
    act = f"{F}/mine/action"
    status, body = await _call(c, "POST", act, {"addTenantAccess": {"tenant": "p2"}})
    assert status == 200 and {"flavor_id": "mine", "tenant_id": "p2"} in body["flavor_access"]
    assert (await _call(c, "POST", act, {"addTenantAccess": {"tenant": "p2"}}))[0] == 409
    status, body = await _call(c, "POST", act, {"removeTenantAccess": {"tenant": "p1"}})
    assert (status, body) == (200, {"flavor_access": [{"flavor_id": "mine", "tenant_id": "p2"}]})
    assert (await _call(c, "POST", act, {"removeTenantAccess": {"tenant": "p1"}}))[0] == 404
    assert (await _call(c, "POST", act, {"removeTenantAccess": {}}))[0] == 400
    assert (await _call(c, "POST", act, {"shrink": {}}))[0] == 400
    # the description: from microversion 2.55, nothing else of a flavor changes
    assert (await _call(c, "PUT", f"{F}/mine", {"flavor": {"description": "d"}}))[0] == 404
    status, body = await _call(c, "PUT", f"{F}/mine", {"flavor": {"description": "d"}}, "2.55")
    assert status == 200 and body["flavor"]["description"] == "d"
    assert (await _call(c, "PUT", f"{F}/mine", {"flavor": {"ram": 1}}, "2.55"))[0] == 400
    assert compute.flavors["mine"].description == "d" and compute.flavors["mine"].ram_mb == 64
