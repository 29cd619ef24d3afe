"""The api's store against a real PostgreSQL: the outbox's leases and per-server order, the
atomic quota, and the change log's commit-ordered revisions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest

from polyvisor.api import models as m
from polyvisor.api.lifecycle import Change, Schedule, Send, Spawn
from polyvisor.api.spawnspec import SpawnSpec
from polyvisor.api.store import changes, outbox, quotas
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.db import close_pool, create_pool, migrate


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[Pool]:
    await migrate(fresh_db, "api", files("polyvisor.api") / "migrations")
    p = await create_pool(fresh_db, "api", max_size=12, reset_session=False)
    async with p.acquire() as conn:
        await conn.execute("INSERT INTO projects (id, name) VALUES ('p1', 'one'), ('p2', 'two')")
    try:
        yield p
    finally:
        await close_pool(p)


def new_server(i: int, project: str = "p1") -> server_store.NewServer:
    return server_store.NewServer(
        id=f"00000000-0000-7000-8000-{i:012d}",
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
        spawn=SpawnSpec(m.ImageInfo("img", "img", "ACTIVE", "p1", "RAW"), f"s{i}"),
        task_deadline=datetime.now(UTC) + timedelta(seconds=60),
    )


async def test_outbox_gives_one_entry_per_server_at_a_time_in_order(pool: Pool) -> None:
    for server_id in ("a", "b"):
        for n in range(3):
            await outbox.add(pool, server_id, Schedule(n))
    first = await outbox.claim(pool, 10, 30)
    assert sorted((e.server_id, e.work) for e in first) == [("a", Schedule(0)), ("b", Schedule(0))]
    assert await outbox.claim(pool, 10, 30) == []  # the heads are leased, the rest wait
    a0 = next(e for e in first if e.server_id == "a")
    assert await outbox.finish(pool, a0)
    (a1,) = await outbox.claim(pool, 10, 30)
    assert (a1.server_id, a1.work) == ("a", Schedule(1))


async def test_outbox_lease_runs_out_and_a_lost_lease_cannot_finish(pool: Pool) -> None:
    await outbox.add(pool, "s", Schedule(1))
    (mine,) = await outbox.claim(pool, 1, 0.2)
    await asyncio.sleep(0.3)
    (theirs,) = await outbox.claim(pool, 1, 30)  # another replica takes it over
    assert theirs.id == mine.id and theirs.attempts == 2
    assert not await outbox.finish(pool, mine)
    assert await outbox.finish(pool, theirs)
    assert await outbox.pending(pool) == 0


async def test_concurrent_claimers_never_share_an_entry(pool: Pool) -> None:
    for i in range(40):
        await outbox.add(pool, f"s{i}", Send(Spawn(f"h{i}", 1)))
    claimed = await asyncio.gather(*(outbox.claim(pool, 5, 30) for _ in range(10)))
    ids = [e.id for batch in claimed for e in batch]
    assert len(ids) == len(set(ids)) == 40


async def test_quota_consumption_is_atomic(pool: Pool) -> None:
    await quotas.ensure(pool, "p1", m.QuotaLimits(instances=5, vcpus=-1, ram_mb=-1))

    async def take() -> bool:
        async with pool.acquire() as conn, conn.transaction():
            return await quotas.consume(conn, "p1", 1, 1, 256)

    results = await asyncio.gather(*(take() for _ in range(20)))
    assert results.count(True) == 5
    q = await quotas.get(pool, "p1")
    assert q is not None and q.usage.instances == 5
    await quotas.release(pool, "p1", 1, 1, 256)
    assert await take() and not await take()


async def test_revisions_commit_in_order_and_the_log_replays_them(pool: Pool) -> None:
    async def create(i: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            created = await server_store.insert(conn, [new_server(i, "p1" if i % 2 else "p2")])
            assert created is not None
            await asyncio.sleep(0.01)  # hold the revision lock a little while

    await asyncio.gather(*(create(i) for i in range(20)))
    log = await changes.after(pool, None, 0, "", 100)
    revisions = [c.revision for c in log]
    assert revisions == sorted(revisions) and len(revisions) == 20
    assert all(c.change_type == "CREATED" for c in log)
    p1 = await changes.after(pool, "p1", 0, "", 100)
    assert {c.server.project_id for c in p1} == {"p1"} and len(p1) == 10
    # A save appends an UPDATED entry carrying the server as it now is.
    async with pool.acquire() as conn, conn.transaction():
        s = await server_store.lock(conn, p1[0].server.id)
        assert s is not None
        await server_store.save(conn, s, Change(state=m.State.ERROR, task=m.Task.NONE))
    (last,) = await changes.after(pool, "p1", p1[-1].revision, "", 10)
    assert last.change_type == "UPDATED" and last.server.state == m.State.ERROR
    assert last.revision > revisions[-1]


async def test_a_duplicate_request_id_inserts_nothing(pool: Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        assert await server_store.insert(conn, [new_server(1)]) is not None
    dup = replace(new_server(2), request_id="r1")
    async with pool.acquire() as conn, conn.transaction():
        assert await server_store.insert(conn, [dup]) is None
    found = await server_store.find_by_request(pool, "p1", "r1")
    assert [s.id for s in found] == [new_server(1).id]


async def test_a_duplicate_create_never_deadlocks_with_a_write_to_the_first_servers_row(
    pool: Pool,
) -> None:
    """An agent's event updates the first server's row (its observation), then saves it under
    the revision lock; a duplicate create of that server's request runs in between. The
    duplicate used to take the revision lock and wait on the updated row: a deadlock, which
    PostgreSQL broke by failing one side (a create answered ABORTED)."""
    async with pool.acquire() as conn, conn.transaction():
        assert await server_store.insert(conn, [new_server(1)]) is not None
    server_id = new_server(1).id
    row_taken, dup_done = asyncio.Event(), asyncio.Event()

    async def event_write() -> None:
        async with pool.acquire() as conn, conn.transaction():
            s = await server_store.lock(conn, server_id)
            assert s is not None
            # A plain UPDATE of the row, as observations.record does before the save.
            await conn.execute(
                "UPDATE servers SET last_observed_generation = 1, last_observed_at = now() "
                "WHERE id = $1",
                server_id,
            )
            row_taken.set()
            await asyncio.wait_for(dup_done.wait(), 10)  # the duplicate must not need us
            await server_store.save(conn, s, Change(task=m.Task.SPAWNING))

    async def duplicate() -> None:
        await row_taken.wait()
        async with pool.acquire() as conn, conn.transaction():
            assert (
                await server_store.insert(conn, [replace(new_server(2), request_id="r1")]) is None
            )
        dup_done.set()

    await asyncio.gather(event_write(), duplicate())
    (s,) = await server_store.find_by_request(pool, "p1", "r1")
    assert s.id == server_id and s.task == m.Task.SPAWNING
