"""ListServers pages from the index: a page body is sent again only while the index is at the
revision it was made at; any change committed anywhere makes the next one anew."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from polyvisor.api.handlers.server_pages import PageReader
from polyvisor.api.readcache import ReadCache
from polyvisor.api.serverindex import ServerIndex
from polyvisor.common.auth import Principal
from polyvisor.compute.v1 import servers_pb2

NOW = datetime(2026, 1, 2, tzinfo=UTC)
FLAVOR = {"id": "f", "name": "f", "vcpus": 1, "ram_mb": 1, "disk_gb": 1}
USER = Principal(
    user_id="u",
    project_id="p1",
    roles=frozenset({"member"}),
    username="u",
    token_id="t",
    expires_at=1e12,
    kind="user",
    host="",
    issued_at=0,
    api_key_id="",
)


class Newest:
    """The database's newest revision, as the probe would read it."""

    def __init__(self) -> None:
        self.top = 0

    async def get(self, _key: None) -> int:
        return self.top


class FakeServers:
    def __init__(self, index: ServerIndex) -> None:
        self.index = index
        self.fetched: list[str] = []

    def index_keys(
        self, scope: str | None, size: int, token: str, index: ServerIndex
    ) -> tuple[list[tuple[str, int]], str]:
        return index.keys(scope, "", size), ""

    async def fetch_shown(self, ids: list[str]) -> list[dict[str, Any]]:
        self.fetched += ids
        return [
            {
                "id": i,
                "project_id": "p1",
                "user_id": "u",
                "name": f"n-{i}-{self.index._revision[i]}",
                "image_id": "",
                "state": "ACTIVE",
                "task": "NONE",
                "task_deadline": None,
                "power_state": "RUNNING",
                "host": "",
                "hypervisor_type": "",
                "esxi_host": "",
                "availability_zone": "",
                "key_name": "",
                "has_user_data": False,
                "create_time": NOW,
                "update_time": NOW,
                "launch_time": None,
                "delete_time": None,
                "generation": 1,
                "request_id": "",
                "revision": self.index._revision[i],
                "attempts": 0,
                "instance_name": "",
                "tags": [],
                "parts": json.dumps([FLAVOR, [], {}, None, None, None]),
            }
            for i in ids
        ]


def names(body: bytes) -> list[str]:
    return [s.name for s in servers_pb2.ListServersResponse.FromString(body).servers]


async def test_a_page_is_sent_again_only_while_nothing_changed() -> None:
    index = ServerIndex(None, capacity=10, wait_s=0.01)  # type: ignore[arg-type]
    newest = Newest()
    index._newest = newest  # type: ignore[assignment]
    index.applied = 0
    index.apply([(1, "p1", "a", True), (2, "p1", "b", True), (3, "p2", "x", True)])
    newest.top = 3
    cache = ReadCache(10)
    cache.reset(True)
    servers = FakeServers(index)
    pages = PageReader(servers, cache)  # type: ignore[arg-type]

    first = await pages.from_index(USER, "", False, 10, "", index)
    assert first is not None and names(first) == ["n-a-1", "n-b-2"]
    assert servers_pb2.ListServersResponse.FromString(first).revision == 3
    again = await pages.from_index(USER, "", False, 10, "", index)
    assert again is first and servers.fetched == ["a", "b"]

    # a change in another project is committed: not applied yet, the page is not sent
    newest.top = 4
    assert await pages.from_index(USER, "", False, 10, "", index) is None
    index.apply([(4, "p1", "b", True)])  # applied (another server of this project, in fact)
    third = await pages.from_index(USER, "", False, 10, "", index)
    assert third is not None and names(third) == ["n-a-1", "n-b-4"]
    assert servers_pb2.ListServersResponse.FromString(third).revision == 4
    assert third is not first and servers.fetched == ["a", "b", "b"]
