"""Cinder v3 through the gateway over an in-memory volume service: version discovery and
microversion negotiation, volumes (create, show, list, detail, paging, update, os-extend,
delete),
types, snapshots, attachments as a volume shows them, errors in Cinder's shape, and the
catalog's block-storage entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from polyvisor.osapi.convert import keystone as kc
from tests.support.osapi_gateway import gateway
from tests.support.volume_standin import PROJECT, Volumes

H = {"X-Auth-Token": "t"}
V = f"/volume/v3/{PROJECT}"

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
async def gw() -> AsyncIterator[tuple[Client, Volumes]]:
    volumes = Volumes()
    async with gateway(None, volumes) as c:
        yield c, volumes


async def _call(
    c: Client, method: str, url: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    resp = await c.request(method, url, json=body, headers=H | headers)
    text = await resp.text()
    return resp.status, (await resp.json() if text else None)


async def _create(c: Client, **volume: Any) -> dict[str, Any]:
    status, body = await _call(c, "POST", f"{V}/volumes", {"volume": {"size": 1} | volume})
    assert status == 202, body
    return body["volume"]  # type: ignore[no-any-return]


async def test_version_discovery_states_the_microversions(gw: tuple[Client, Volumes]) -> None:
    c, _ = gw
    status, body = await _call(c, "GET", "/volume/")
    assert status == 300
    (v3,) = body["versions"]
    assert (v3["id"], v3["status"], v3["min_version"], v3["version"]) == (
        "v3.0",
        "CURRENT",
        "3.0",
        "3.0",
    )
    assert v3["links"][-1]["href"].endswith("/volume/v3/")
    status, body = await _call(c, "GET", "/volume/v3/")
    assert status == 200 and body["versions"][0]["id"] == "v3.0"
    resp = await c.get(f"{V}/types", headers=H | {"OpenStack-API-Version": "volume 3.0"})
    assert resp.status == 200 and resp.headers["OpenStack-API-Version"] == "volume 3.0"
    resp = await c.get(f"{V}/types", headers=H | {"OpenStack-API-Version": "volume 3.71"})
    assert resp.status == 406
    assert (await resp.json())["notAcceptable"]["code"] == 406


async def test_volume_create_show_list_and_delete(gw: tuple[Client, Volumes]) -> None:
    c, volumes = gw
    made = await _create(c, name="v", description="d", volume_type="shared")
    assert (made["name"], made["description"], made["size"], made["status"]) == (
        "v",
        "d",
        1,
        "available",
    )
    assert (made["volume_type"], made["multiattach"], made["bootable"]) == ("shared", True, "false")
    assert made["attachments"] == [] and made["links"][0]["href"].endswith(
        f"{V}/volumes/{made['id']}"
    )
    status, shown = await _call(c, "GET", f"{V}/volumes/{made['id']}")
    assert status == 200 and shown["volume"]["id"] == made["id"]
    other = await _create(c, name="w", size="2")
    assert other["size"] == 2 and other["volume_type"] == "file" and other["multiattach"] is False
    status, brief = await _call(c, "GET", f"{V}/volumes")
    assert status == 200
    assert {(v["id"], v["name"]) for v in brief["volumes"]} == {
        (made["id"], "v"),
        (other["id"], "w"),
    }
    assert set(brief["volumes"][0]) == {"id", "name", "links"}
    status, detail = await _call(c, "GET", f"{V}/volumes/detail?name=w")
    assert [v["id"] for v in detail["volumes"]] == [other["id"]] and detail["volumes"][0][
        "size"
    ] == 2
    status, body = await _call(c, "PUT", f"{V}/volumes/{made['id']}", {"volume": {"name": "v2"}})
    assert status == 200 and (body["volume"]["name"], body["volume"]["description"]) == ("v2", "d")
    status, body = await _call(c, "PUT", f"{V}/volumes/{made['id']}",
                               {"volume": {"description": "", "metadata": {"k": "v"}}})  # fmt: skip
    assert status == 400 and volumes.volumes[made["id"]].description == "d"
    status, body = await _call(
        c, "PUT", f"{V}/volumes/{made['id']}", {"volume": {"description": ""}}
    )
    assert status == 200 and body["volume"]["description"] is None
    status, _ = await _call(c, "DELETE", f"{V}/volumes/{made['id']}")
    assert status == 202 and made["id"] not in volumes.volumes
    status, body = await _call(c, "GET", f"{V}/volumes/{made['id']}")
    assert status == 404 and body["itemNotFound"]["message"] == f"volume {made['id']} not found"


async def test_volume_create_passes_image_and_snapshot_and_refuses_what_is_not_kept(
    gw: tuple[Client, Volumes],
) -> None:
    c, volumes = gw
    from_image = await _create(c, imageRef="img-1")
    assert volumes.volumes[from_image["id"]].source_image_id == "img-1"
    assert from_image["bootable"] == "true"
    assert from_image["volume_image_metadata"] == {"image_id": "img-1"}
    status, snap = await _call(
        c, "POST", f"{V}/snapshots", {"snapshot": {"volume_id": from_image["id"]}}
    )
    status, body = await _call(
        c, "POST", f"{V}/volumes", {"volume": {"snapshot_id": snap["snapshot"]["id"]}}
    )
    assert status == 202 and body["volume"]["snapshot_id"] == snap["snapshot"]["id"]
    for bad in ({"size": 0}, {"size": "x"}, {}, {"size": 1, "source_volid": "a"},
                {"size": 1, "metadata": {"k": "v"}}, {"size": 1, "availability_zone": "az9"}):  # fmt: skip
        status, body = await _call(c, "POST", f"{V}/volumes", {"volume": bad})
        assert status == 400 and "badRequest" in body, bad
    status, body = await _call(
        c, "POST", f"{V}/volumes", {"volume": {"size": 1, "volume_type": "nope"}}
    )
    assert status == 404 and "itemNotFound" in body
    status, body = await _call(c, "POST", f"{V}/volumes", {"volume": {"size": 1000}})
    assert status == 413 and "quota" in body["overLimit"]["message"].lower()


async def test_extend_grows_and_refuses_a_shrink(gw: tuple[Client, Volumes]) -> None:
    c, volumes = gw
    v = await _create(c, size=2)
    url = f"{V}/volumes/{v['id']}/action"
    assert await _call(c, "POST", url, {"os-extend": {"new_size": 3}}) == (202, None)
    assert volumes.volumes[v["id"]].size_gb == 3
    status, body = await _call(c, "POST", url, {"os-extend": {"new_size": 1}})
    assert status == 400 and body["badRequest"]["message"] == "volumes never shrink"
    status, body = await _call(c, "POST", url, {"os-reset_status": {"status": "error"}})
    assert status == 400 and "os-reset_status" in body["badRequest"]["message"]


async def test_an_attached_volume_shows_in_use_with_its_attachment(
    gw: tuple[Client, Volumes],
) -> None:
    c, volumes = gw
    v = await _create(c)
    volumes.attach(v["id"], "srv-1", host="kvm-1")
    _, body = await _call(c, "GET", f"{V}/volumes/{v['id']}")
    shown = body["volume"]
    assert shown["status"] == "in-use"
    (a,) = shown["attachments"]
    assert (a["server_id"], a["volume_id"], a["host_name"], a["id"]) == (
        "srv-1",
        v["id"],
        "kvm-1",
        v["id"],
    )
    assert a["attachment_id"] and a["attached_at"]
    status, body = await _call(c, "DELETE", f"{V}/volumes/{v['id']}")
    assert status == 409 and "conflictingRequest" in body


async def test_paging_links_the_next_page(gw: tuple[Client, Volumes]) -> None:
    c, _ = gw
    ids = sorted([(await _create(c))["id"] for _ in range(3)])
    _, body = await _call(c, "GET", f"{V}/volumes?limit=2")
    assert [v["id"] for v in body["volumes"]] == ids[:2]
    nxt = body["volumes_links"][0]["href"]
    assert f"marker={ids[1]}" in nxt
    _, body = await _call(c, "GET", nxt.split(str(c.make_url("")), 1)[-1])
    assert [v["id"] for v in body["volumes"]] == ids[2:] and "volumes_links" not in body


async def test_types_list_show_and_default(gw: tuple[Client, Volumes]) -> None:
    c, volumes = gw
    _, body = await _call(c, "GET", f"{V}/types")
    assert [t["name"] for t in body["volume_types"]] == ["file", "shared"]
    assert body["volume_types"][1]["extra_specs"]["multiattach"] == "<is> True"
    _, body = await _call(c, "GET", f"{V}/types/default")
    assert body["volume_type"]["name"] == "file" and body["volume_type"]["is_public"] is True
    _, body = await _call(c, "GET", f"{V}/types/{volumes.types[1].id}")
    assert body["volume_type"]["name"] == "shared"
    status, body = await _call(c, "GET", f"{V}/types/nope")
    assert status == 404 and "itemNotFound" in body


async def test_snapshots_create_list_show_and_delete(gw: tuple[Client, Volumes]) -> None:
    c, volumes = gw
    v = await _create(c, size=2)
    status, body = await _call(c, "POST", f"{V}/snapshots",
                               {"snapshot": {"volume_id": v["id"], "name": "s", "force": "True"}})  # fmt: skip
    assert status == 202
    snap = body["snapshot"]
    assert (snap["name"], snap["size"], snap["status"], snap["volume_id"]) == (
        "s",
        2,
        "available",
        v["id"],
    )
    _, body = await _call(c, "GET", f"{V}/snapshots")
    assert [s["id"] for s in body["snapshots"]] == [snap["id"]]
    assert "os-extended-snapshot-attributes:progress" not in body["snapshots"][0]
    _, body = await _call(c, "GET", f"{V}/snapshots/detail?volume_id={v['id']}")
    assert body["snapshots"][0]["os-extended-snapshot-attributes:project_id"] == PROJECT
    _, body = await _call(c, "GET", f"{V}/snapshots/{snap['id']}")
    assert body["snapshot"]["id"] == snap["id"]
    status, body = await _call(c, "DELETE", f"{V}/volumes/{v['id']}")
    assert status == 409  # a volume with snapshots stays
    assert (await _call(c, "DELETE", f"{V}/snapshots/{snap['id']}"))[0] == 202
    assert not volumes.snapshots
    status, body = await _call(c, "POST", f"{V}/snapshots", {"snapshot": {"name": "x"}})
    assert status == 400 and "badRequest" in body


async def test_limits_and_quota_sets(gw: tuple[Client, Volumes]) -> None:
    c, volumes = gw
    await _create(c, size=3)
    _, body = await _call(c, "GET", f"{V}/limits")
    absolute = body["limits"]["absolute"]
    assert (absolute["maxTotalVolumes"], absolute["totalVolumesUsed"]) == (20, 1)
    assert (absolute["maxTotalVolumeGigabytes"], absolute["totalGigabytesUsed"]) == (100, 3)
    assert absolute["maxTotalBackups"] == 0 and body["limits"]["rate"] == []
    _, body = await _call(c, "GET", f"{V}/os-quota-sets/{PROJECT}")
    assert (body["quota_set"]["id"], body["quota_set"]["volumes"]) == (PROJECT, 20)
    _, body = await _call(c, "GET", f"{V}/os-quota-sets/{PROJECT}?usage=True")
    assert body["quota_set"]["gigabytes"] == {
        "limit": 100,
        "in_use": 3,
        "reserved": 0,
        "allocated": 0,
    }
    status, body = await _call(
        c, "PUT", f"{V}/os-quota-sets/{PROJECT}", {"quota_set": {"volumes": "5"}}
    )
    assert (
        status == 200
        and body["quota_set"]["volumes"] == 5
        and body["quota_set"]["gigabytes"] == 100
    )
    assert (volumes.quota.volumes, volumes.quota.snapshots) == (5, 20)
    status, body = await _call(
        c, "PUT", f"{V}/os-quota-sets/{PROJECT}", {"quota_set": {"backups": 1}}
    )
    assert status == 400 and "backups" in body["badRequest"]["message"]
    status, body = await _call(c, "GET", f"{V}/os-quota-sets/other")
    assert status == 403 and "forbidden" in body
    _, body = await _call(c, "GET", f"{V}/os-availability-zone")
    assert body["availabilityZoneInfo"][0]["zoneName"] == "nova"


async def test_an_unknown_volume_path_answers_in_cinders_shape(gw: tuple[Client, Volumes]) -> None:
    c, _ = gw
    status, body = await _call(c, "GET", f"{V}/backups")
    assert status == 404 and body["itemNotFound"]["code"] == 404


def test_a_project_scoped_catalog_has_cinder_at_the_projects_endpoint() -> None:
    entries = {e["type"]: e for e in kc.catalog("http://gw", "RegionOne", "p9")}
    for kind in ("volumev3", "block-storage"):
        urls = {ep["url"] for ep in entries[kind]["endpoints"]}
        assert urls == {"http://gw/volume/v3/p9"}
    assert entries["volumev3"]["id"] != entries["block-storage"]["id"]
    unscoped = {e["type"] for e in kc.catalog("http://gw", "RegionOne")}
    assert "volumev3" not in unscoped and "compute" in unscoped
