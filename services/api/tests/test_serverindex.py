"""The ListServers index against a real PostgreSQL: its pages are the page query's, a change
committed anywhere is in the next page (read-your-writes across replicas), and it steps aside
(the caller queries) whenever it cannot be sure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest

from polyvisor.api import models as m
from polyvisor.api import serverindex
from polyvisor.api.lifecycle import Change
from polyvisor.api.serverindex import ServerIndex
from polyvisor.api.spawnspec import SpawnSpec
from polyvisor.api.store import changes
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.db import close_pool, create_pool, migrate

UNFILTERED = m.ServerFilters()


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[Pool]:
    await migrate(fresh_db, "api", files("polyvisor.api") / "migrations")
    p = await create_pool(fresh_db, "api", max_size=8, reset_session=False)
    async with p.acquire() as conn:
        await conn.execute("INSERT INTO projects (id, name) VALUES ('p1', 'one'), ('p2', 'two')")
    try:
        yield p
    finally:
        await close_pool(p)


def sid(i: int) -> str:
    return f"00000000-0000-7000-8000-{i:012d}"


async def create(pool: Pool, i: int, project: str = "p1") -> m.Server:
    new = server_store.NewServer(
        id=sid(i),
        project_id=project,
        user_id="u1",
        name=f"s{i}",
        image_id="img",
        flavor=m.Flavor("f", "f", 1, 256, 1),
        request_id=f"r{i}",
        request_index=0,
        key_name="",
        metadata={},
        availability_zone="",
        user_data=None,
        spawn=SpawnSpec(m.ImageInfo("img", "img", "ACTIVE", project, "RAW"), f"s{i}"),
        task_deadline=datetime.now(UTC) + timedelta(seconds=60),
    )
    async with pool.acquire() as conn, conn.transaction():
        made = await server_store.insert(conn, [new])
    assert made is not None
    return made[0]


async def change(pool: Pool, server: m.Server, **values: object) -> m.Server:
    async with pool.acquire() as conn, conn.transaction():
        return await server_store.save(conn, server, Change(**values))  # type: ignore[arg-type]


async def queried(pool: Pool, scope: str | None, after: str = "", limit: int = 100) -> list:
    return await server_store.list_keys(pool, scope, UNFILTERED, after, limit)


@pytest.fixture
async def index(pool: Pool) -> AsyncIterator[ServerIndex]:
    """An index following the log (no listener here: pages wake it when it is behind)."""
    idx = ServerIndex(pool, capacity=100, wait_s=5.0)
    built = idx._progress
    task = asyncio.create_task(idx.run())
    try:
        await asyncio.wait_for(built.wait(), 10)  # pages before that are the query's
        yield idx
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_pages_are_the_page_query_and_follow_every_change(
    pool: Pool, index: ServerIndex
) -> None:
    made = [await create(pool, i, "p1" if i % 3 else "p2") for i in (5, 1, 9, 3, 7, 2)]
    # built or followed: either way the next page sees them all
    for scope in ("p1", "p2", None):
        assert await index.page(scope, "", 100) == await queried(pool, scope)
    # a page after a key, and a short page
    assert await index.page(None, sid(3), 2) == await queried(pool, None, sid(3), 2)

    # an update moves the revision; a delete takes the server out; a new one comes in
    by_id = {s.id: s for s in made}
    await change(pool, by_id[sid(1)], name="renamed")
    await change(pool, by_id[sid(7)], state=m.State.DELETED)
    await create(pool, 4)
    for scope in ("p1", "p2", None):
        assert await index.page(scope, "", 100) == await queried(pool, scope)
    assert sid(7) not in [k for k, _ in await index.page(None, "", 100) or []]
    assert index.fallbacks == 0 and index.served == 8


async def test_a_commit_from_elsewhere_is_in_the_next_page_without_a_notification(
    pool: Pool, index: ServerIndex
) -> None:
    await create(pool, 1)
    assert await index.page("p1", "", 10) == await queried(pool, "p1")
    # another replica commits: no NOTIFY reaches this index, the page still has it
    await create(pool, 2)
    assert [k for k, _ in await index.page("p1", "", 10) or []] == [sid(1), sid(2)]
    assert index.fallbacks == 0


async def test_an_index_that_cannot_catch_up_in_time_lets_the_query_answer(pool: Pool) -> None:
    idx = ServerIndex(pool, capacity=100, wait_s=0.05)
    assert await idx.page("p1", "", 10) is None  # never built
    await create(pool, 1)
    built = idx._progress
    task = asyncio.create_task(idx.run())
    try:
        await asyncio.wait_for(built.wait(), 10)
        task.cancel()  # the follower stops: the index falls behind the next commit
        await asyncio.gather(task, return_exceptions=True)
        assert await idx.page("p1", "", 10) == await queried(pool, "p1")
        await create(pool, 2)
        assert await idx.page("p1", "", 10) is None
    finally:
        task.cancel()


async def test_more_servers_than_its_capacity_and_no_index(pool: Pool) -> None:
    for i in range(3):
        await create(pool, i)
    idx = ServerIndex(pool, capacity=2)
    assert not await idx._build()
    assert await idx.page("p1", "", 10) is None
    idx.capacity = 3
    assert await idx._build() and len(idx) == 3
    await create(pool, 3)  # past the capacity while following: dropped
    await idx._follow()
    assert idx.applied == -1 and await idx.page("p1", "", 10) is None


async def test_a_log_pruned_past_what_it_applied_rebuilds_it(pool: Pool) -> None:
    first = await create(pool, 1)
    idx = ServerIndex(pool, capacity=100)
    assert await idx._build()
    await change(pool, first, state=m.State.DELETED)
    await create(pool, 2)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE server_changes SET change_time = now() - interval '1 day'")
        assert await changes.prune(conn, 3600) == 3
    await idx._follow()  # the deletion it never applied is gone from the log
    assert idx.applied == -1
    assert await idx._build()
    assert [k for k, _ in await idx.page("p1", "", 10) or []] == [sid(2)]


async def test_the_newest_revision_comes_from_a_query_sent_after_the_caller_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[asyncio.Future[int]] = []

    async def newest(_pool: object) -> int:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        sent.append(fut)
        return await fut

    monkeypatch.setattr(serverindex.changes, "newest", newest)
    reader = serverindex.newest_revision(None, gather_s=0)  # type: ignore[arg-type]
    first = asyncio.create_task(reader.get(None))
    await turns()
    assert len(sent) == 1
    # asked while the first query is in flight: they share the next one, not the first
    later = [asyncio.create_task(reader.get(None)) for _ in range(3)]
    await turns()
    sent[0].set_result(10)
    assert await first == 10
    await turns()
    assert len(sent) == 2 and not any(t.done() for t in later)
    sent[1].set_result(11)
    assert await asyncio.gather(*later) == [11, 11, 11]


async def turns(n: int = 5) -> None:
    """Let the event loop run the tasks ready now, and what they start."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_log_entries_apply_once_in_revision_order() -> None:
    idx = ServerIndex(None, capacity=10)  # type: ignore[arg-type]
    idx.applied = 0
    idx.apply([(1, "p1", "b", True), (2, "p1", "a", True), (3, "p2", "c", True)])
    idx.apply([(2, "p1", "a", False), (4, "p1", "b", True)])  # a replayed entry is skipped
    assert idx._revision == {"a": 2, "b": 4, "c": 3}
    assert idx._project == {"a": "p1", "b": "p1", "c": "p2"}
    idx.apply([(5, "p1", "a", False), (6, "p2", "c", False)])
    assert idx._all == ["b"] and idx._projects == {"p1": ["b"]} and idx.applied == 6
    assert idx._project == {"b": "p1"}
