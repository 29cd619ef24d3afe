"""The servers' Nova bodies as the list and show handlers answer them: the JSON made once per
server revision and microversion, the page put together around it, the timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.convert.common import iso
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers import nova_list_filters, nova_servers
from polyvisor.osapi.handlers.common import CHECKS, KEPT, MV, SETTINGS, Who
from polyvisor.osapi.kept_pages import KeptPages, revision_checks
from polyvisor.osapi.microversion import Version
from polyvisor.types.v1 import hypervisor_pb2 as hv
from polyvisor.types.v1 import server_status_pb2 as ss

BASE = "http://gw.example:8774"
V21, V226 = Version(2, 1), Version(2, 26)


def server(n: int, revision: int = 1, name: str = "") -> sp.Server:
    s = sp.Server(id=f"01a1fe00-0000-7000-8000-{n:012d}", name=name or f"web-{n}", project_id="p",
                  user_id="u", image_id="img", state=ss.SERVER_STATE_ACTIVE, host="kvm-1",
                  revision=revision, tags=["blue"])  # fmt: skip
    s.flavor.id = "m1.small"
    s.create_time.FromSeconds(1_800_000_000)
    s.metadata["tier"] = "web"
    return s


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(1_800_000_000, 0), (1_800_000_000, 998_999_999), (1_800_000_000, 999_000_000),
     (1_800_000_000, 999_999_499), (1_800_000_000, 999_999_500), (1_800_000_000, 999_999_999),
     (0, 1), (-1, 500)],
)  # fmt: skip
def test_iso_is_the_datetime_second_even_where_it_rounds_into_the_next(
    seconds: int, nanos: int
) -> None:
    exact = datetime.fromtimestamp(seconds + nanos / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso(Timestamp(seconds=seconds, nanos=nanos)) == exact
    assert iso(Timestamp()) is None


def test_a_body_is_made_per_revision_and_microversion() -> None:
    first = nova_servers.encoded_servers([server(1)], BASE, V21)[0]
    assert json.loads(first) == nc.server(server(1), BASE, V21)
    tagged = nova_servers.encoded_servers([server(1)], BASE, V226)[0]
    assert json.loads(tagged)["tags"] == ["blue"] and "tags" not in json.loads(first)
    renamed = nova_servers.encoded_servers([server(1, revision=2, name="db-1")], BASE, V21)[0]
    assert json.loads(renamed)["name"] == "db-1"
    unversioned = server(1, revision=0, name="old-api")  # nothing tells a change: made anew
    assert (
        json.loads(nova_servers.encoded_servers([unversioned], BASE, V21)[0])["name"] == "old-api"
    )


def test_the_base_urls_kept_are_bounded() -> None:
    for n in range(nova_servers._VARIANTS_MAX + 5):
        nova_servers.encoded_servers([server(2)], f"http://host-{n}", V21)
    assert len(nova_servers._VARIANTS) <= nova_servers._VARIANTS_MAX


class _Compute:
    def __init__(self, servers: list[sp.Server], page: int, revision: int = 0) -> None:
        self.servers, self.page, self.revision = servers, page, revision
        self.lists = 0
        self.asked: list[sp.ListServersRequest] = []

    async def ListServers(self, req: Any, **_: Any) -> sp.ListServersResponse:
        self.lists += 1
        self.asked.append(sp.ListServersRequest(state=req.state, host=req.host,
                                                project_id=req.project_id,
                                                all_projects=req.all_projects))  # fmt: skip
        servers = [x for x in self.servers  # as the api: the deleted ones when asked
                   if req.show_deleted or x.state != ss.SERVER_STATE_DELETED]  # fmt: skip
        start = int(req.page_token or 0)
        stop = start + min(req.page_size, self.page)
        more = str(stop) if stop < len(servers) else ""
        return sp.ListServersResponse(servers=servers[start:stop], next_page_token=more,
                                      revision=self.revision)  # fmt: skip


class _Stubs:
    md = (("authorization", "Bearer t"),)
    timeout = 1.0

    def __init__(self, compute: _Compute) -> None:
        self.compute = compute


class _Settings:
    public_url = BASE


def _app(revision: Any = None) -> web.Application:
    """The app keys the list handler reads; `revision(token)` answers the revision checks."""

    async def no_check(token: str) -> int:
        raise AssertionError("no page was kept: nothing to check")

    app = web.Application()
    app[SETTINGS] = _Settings()  # type: ignore[assignment]
    app[KEPT] = KeptPages(1 << 20)
    app[CHECKS] = revision_checks(revision or no_check)
    return app


def _get(app: web.Application, url: str, token: str = "t") -> web.Request:
    request = make_mocked_request("GET", url, app=app, headers={"X-Auth-Token": token})
    request[MV] = V21
    return request


@pytest.mark.parametrize("count", [0, 1, 5])
@pytest.mark.parametrize("detail", [True, False])
@pytest.mark.parametrize("query", ["limit=3", "limit=3&name=web"])  # taken whole, filtered
async def test_a_page_is_nova_json_with_its_next_link(
    monkeypatch: pytest.MonkeyPatch, count: int, detail: bool, query: str
) -> None:
    servers = [server(100 + n) for n in range(count)]
    monkeypatch.setattr(nova_servers, "stubs", lambda _: _Stubs(_Compute(servers, page=2)))
    path = "/compute/v2.1/servers" + ("/detail" if detail else "")
    resp = await nova_servers._list(_get(_app(), f"{path}?{query}"), detail=detail)
    assert resp.body is not None and resp.content_type == "application/json"
    body = json.loads(resp.body)  # type: ignore[arg-type]
    shown = servers[:3]
    if detail:
        assert body["servers"] == [nc.server(s, BASE, V21) for s in shown]
    else:
        assert body["servers"] == [nc.server_link(s, BASE) for s in shown]
    if count > 3:
        [link] = body["servers_links"]
        assert link["rel"] == "next" and link["href"] == (
            f"{BASE}{path}?{query}&marker={shown[-1].id}"
        )
    else:
        assert "servers_links" not in body


async def test_a_page_is_kept_for_its_token_and_answered_again_while_the_api_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers = [server(400 + n) for n in range(4)]
    compute = _Compute(servers, page=10, revision=9)
    monkeypatch.setattr(nova_servers, "stubs", lambda _: _Stubs(compute))
    now = {"t": 9, "u": 9}
    checked: list[str] = []

    async def revision(token: str) -> int:
        checked.append(token)
        return now[token]

    app = _app(revision)
    url = "/compute/v2.1/servers/detail?limit=3"

    async def names(token: str = "t") -> list[str]:
        resp = await nova_servers._list(_get(app, url, token), detail=True)
        return [x["name"] for x in json.loads(resp.body)["servers"]]  # type: ignore[arg-type]

    assert await names() == ["web-400", "web-401", "web-402"] and compute.lists == 1
    assert await names() == ["web-400", "web-401", "web-402"]
    assert compute.lists == 1 and checked == ["t"]  # the kept page, once the api said 9
    assert await names("u") == ["web-400", "web-401", "web-402"]
    assert compute.lists == 2 and checked == ["t"]  # another token: its own page, not kept's
    servers[1].name, servers[1].revision = "renamed", 2
    now["t"], compute.revision = 10, 10  # the api committed a change
    assert await names() == ["web-400", "renamed", "web-402"] and compute.lists == 3
    assert await names() == ["web-400", "renamed", "web-402"] and compute.lists == 3
    compute.revision = 0  # a queried page (the api's list not current): not kept
    now["t"] = 11
    assert await names() == ["web-400", "renamed", "web-402"] and compute.lists == 4
    assert await names() == ["web-400", "renamed", "web-402"] and compute.lists == 5
    assert checked == ["t", "t", "t", "t"]


def test_an_update_answers_addresses_without_the_extended_attributes_before_2_75() -> None:
    s = server(3)
    s.addresses.add(network="demo", address="10.0.0.5", version=4, mac_address="52:54:00:00:00:05")
    short = nc.server_updated(s, BASE, V21)["addresses"]
    assert short == {"demo": [{"version": 4, "addr": "10.0.0.5"}]}
    full = nc.server_updated(s, BASE, Version(2, 75))["addresses"]["demo"][0]
    assert full["OS-EXT-IPS-MAC:mac_addr"] == "52:54:00:00:00:05"


@pytest.mark.parametrize(
    ("body", "counts"),
    [({}, (1, 1)), ({"min_count": 2}, (2, 2)), ({"min_count": "2", "max_count": 3}, (2, 3)),
     ({"max_count": 4}, (1, 4)), ({"min_count": 0}, None), ({"max_count": 0}, None),
     ({"min_count": 2.5}, None), ({"max_count": "abc"}, None), ({"min_count": True}, None),
     ({"min_count": None}, None), ({"min_count": 3, "max_count": 2}, None)],
)  # fmt: skip
def test_min_and_max_count_are_integers_of_at_least_one(
    body: dict[str, Any], counts: tuple[int, int] | None
) -> None:
    def read() -> tuple[int, int]:
        lo = nova_servers._count(body, "min_count", 1)
        hi = nova_servers._count(body, "max_count", lo)
        if hi < lo:
            raise ApiError(400, "min_count must be <= max_count")
        return lo, hi

    if counts is None:
        with pytest.raises(ApiError) as exc:
            read()
        assert exc.value.status == 400
    else:
        assert read() == counts


async def test_changes_since_keeps_what_changed_since_and_refuses_what_is_no_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = server(200), server(201)
    new.update_time.FromSeconds(1_900_000_000)
    monkeypatch.setattr(nova_servers, "stubs", lambda _: _Stubs(_Compute([old, new], page=5)))
    app = _app()

    async def ids(since: str) -> list[str]:
        request = _get(app, f"/compute/v2.1/servers?changes-since={since}")
        resp = await nova_servers._list(request, detail=False)
        return [x["id"] for x in json.loads(resp.body)["servers"]]  # type: ignore[arg-type]

    assert await ids("2020-01-01T00:00:00Z") == [old.id, new.id]
    assert await ids("2030-01-01T00:00:00") == [new.id]  # no zone: UTC
    assert await ids("2051-01-01T12:34:00Z") == []
    with pytest.raises(ApiError) as exc:
        await ids("2011/01/01")
    assert exc.value.status == 400


async def test_changes_since_brings_the_servers_deleted_since_then_as_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live, gone_before, gone_since = server(210), server(211), server(212)
    for srv, when in ((gone_before, 1_850_000_000), (gone_since, 1_950_000_000)):
        srv.state = ss.SERVER_STATE_DELETED
        srv.update_time.FromSeconds(1_800_000_100)
        srv.delete_time.FromSeconds(when)
    fleet = [live, gone_before, gone_since]
    monkeypatch.setattr(nova_servers, "stubs", lambda _: _Stubs(_Compute(fleet, page=2)))
    monkeypatch.setattr(nova_list_filters, "whoami", _admin)  # deleted= is an admin's option
    app = _app()

    async def listed(query: str, detail: bool = True) -> dict[str, str]:
        path = "/compute/v2.1/servers" + ("/detail" if detail else "")
        resp = await nova_servers._list(_get(app, f"{path}?{query}"), detail=detail)
        servers = json.loads(resp.body)["servers"]  # type: ignore[arg-type]
        return {x["id"]: x.get("status", "") for x in servers}

    assert await listed("changes-since=2030-01-01T00:00:00Z") == {gone_since.id: "DELETED"}
    assert await listed("changes-since=2028-01-01T00:00:00Z") == {
        gone_before.id: "DELETED", gone_since.id: "DELETED"}  # fmt: skip
    assert await listed("changes-since=2020-01-01T00:00:00Z", detail=False) == {
        live.id: "", gone_before.id: "", gone_since.id: ""}  # fmt: skip
    assert await listed("changes-since=2020-01-01T00:00:00Z&deleted=false") == {live.id: "ACTIVE"}
    assert await listed("limit=5") == {live.id: "ACTIVE"}  # without it: no deleted server


async def _admin(_: Any) -> Who:
    return Who("u", "admin", "p", "project", ("admin",), 0.0)


@pytest.mark.parametrize("admin", [False, True])
async def test_deleted_and_host_are_an_admins_options_a_users_are_dropped(
    monkeypatch: pytest.MonkeyPatch, admin: bool
) -> None:
    """As Nova's remove_invalid_options: a user's deleted=true lists no deleted server (an
    admin's lists the deleted ones only), a user's host filter is dropped; a user's
    changes-since still brings their deleted servers. tenant_id narrows all_tenants only, as
    Nova's (alone it is ignored, for an admin too)."""
    live, gone = server(220), server(221)
    gone.state = ss.SERVER_STATE_DELETED
    gone.delete_time.FromSeconds(1_950_000_000)
    compute = _Compute([live, gone], page=5)
    monkeypatch.setattr(nova_servers, "stubs", lambda _: _Stubs(compute))

    async def who(_: Any) -> Who:
        return Who("u", "user", "p", "project", ("admin",) if admin else ("member",), 0.0)

    monkeypatch.setattr(nova_list_filters, "whoami", who)
    app = _app()

    async def listed(query: str) -> dict[str, str]:
        resp = await nova_servers._list(_get(app, f"/compute/v2.1/servers/detail?{query}"),
                                        detail=True)  # fmt: skip
        return {x["id"]: x["status"] for x in json.loads(resp.body)["servers"]}  # type: ignore[arg-type]

    deleted, both = {gone.id: "DELETED"}, {live.id: "ACTIVE", gone.id: "DELETED"}
    assert await listed("deleted=true") == (deleted if admin else {live.id: "ACTIVE"})
    since = "changes-since=2020-01-01T00:00:00Z"
    assert await listed(f"{since}&deleted=true") == (deleted if admin else both)
    assert await listed(f"{since}&deleted=false") == ({live.id: "ACTIVE"} if admin else both)
    await listed("host=kvm-1&tenant_id=other")  # a tenant without all_tenants: ignored
    asked = compute.asked[-1]
    assert (asked.host, asked.project_id, asked.all_projects) == (
        ("kvm-1", "", False) if admin else ("", "", False)
    )
    for query in ("all_tenants=&tenant_id=other", "all_tenants=1&project_id=other"):
        await listed(query)  # the api refuses all_projects to a user (403)
        assert (compute.asked[-1].project_id, compute.asked[-1].all_projects) == ("other", True)


async def test_show_names_the_servers_group_from_2_71(monkeypatch: pytest.MonkeyPatch) -> None:
    from polyvisor.compute.v1 import server_groups_pb2 as gp
    from polyvisor.osapi.handlers import nova_server_groups_of as sgo
    from polyvisor.osapi.handlers.common import Who

    grouped, alone = server(300), server(301)
    asked: list[bool] = []

    class Groups:
        async def ListServerGroups(self, req: Any, **_: Any) -> gp.ListServerGroupsResponse:
            asked.append(req.all_projects)
            g = gp.ServerGroup(id="6a3ee1a8-0000-4000-8000-000000000001", members=[grouped.id])
            return gp.ListServerGroupsResponse(server_groups=[g])

    async def who(_: Any) -> Who:
        return Who("u", "user", "p", "project", ("member",), 0.0)

    monkeypatch.setattr(sgo, "stubs", lambda _: _Stubs(Groups()))  # type: ignore[arg-type]
    monkeypatch.setattr(sgo, "whoami", who)
    app = web.Application()
    app[SETTINGS] = _Settings()  # type: ignore[assignment]

    def none(*_: Any) -> None:
        return None  # no volume service

    async def show(srv: sp.Server, mv: Version) -> dict[str, Any]:
        async def get(_: Any, __: str) -> sp.Server:
            return srv

        monkeypatch.setattr(nova_servers, "get_server_msg", get)
        monkeypatch.setattr(nova_servers, "volumes_attached_soon", none)
        request = make_mocked_request("GET", f"/compute/v2.1/servers/{srv.id}", app=app)
        request[MV] = mv
        request.match_info.update({"id": srv.id})  # type: ignore[attr-defined]
        resp = await nova_servers.show_server(request)
        return json.loads(resp.body)["server"]  # type: ignore[arg-type,no-any-return]

    assert "server_groups" not in await show(grouped, Version(2, 70))
    assert (await show(grouped, Version(2, 71)))["server_groups"] == [
        "6a3ee1a8-0000-4000-8000-000000000001"
    ]
    body = await show(alone, Version(2, 71))
    assert body["server_groups"] == [] and body["name"] == alone.name
    assert asked == [False, False]  # the caller's own project's groups


def test_a_rebuild_answers_key_name_from_2_54_and_user_data_from_2_57() -> None:
    s = server(4)
    s.key_name = "ops"
    assert "key_name" not in nc.server_rebuilt(s, BASE, Version(2, 53))
    assert nc.server_rebuilt(s, BASE, Version(2, 54))["key_name"] == "ops"
    assert "user_data" not in nc.server_rebuilt(s, BASE, Version(2, 54))
    assert nc.server_rebuilt(s, BASE, Version(2, 57))["user_data"] is None
    full = nc.server_rebuilt(s, BASE, Version(2, 75))
    assert "OS-EXT-SRV-ATTR:user_data" not in full and "user_data" in full
    assert "OS-EXT-SRV-ATTR:user_data" in nc.server_updated(s, BASE, Version(2, 75))


def test_a_stopped_server_shows_rebuild_then_shutoff_as_novas_does() -> None:
    """A rebuild keeps a stopped server stopped: REBUILD (vm_state stopped) in flight, then
    SHUTOFF, powered off, on its new image; never ACTIVE on the way."""
    s = server(5)
    s.state, s.power_state = ss.SERVER_STATE_SHUTOFF, hv.POWER_STATE_SHUTDOWN
    s.task = ss.SERVER_TASK_REBUILDING
    busy = nc.server(s, BASE, V21)
    assert (busy["status"], busy["OS-EXT-STS:vm_state"], busy["OS-EXT-STS:task_state"]) == (
        "REBUILD",
        "stopped",
        "rebuilding",
    )
    s.task, s.image_id, s.revision = ss.SERVER_TASK_NONE, "img-2", 2
    done = nc.server(s, BASE, V21)
    assert (done["status"], done["OS-EXT-STS:vm_state"], done["OS-EXT-STS:task_state"]) == (
        "SHUTOFF",
        "stopped",
        None,
    )
    assert done["OS-EXT-STS:power_state"] == 4 and done["image"]["id"] == "img-2"
