"""An in-memory ordered index of the live servers: ListServers pages without a page query.

It holds each live (not DELETED) server's id, project and revision, in id order per project
and over all projects, and the revision of the change log it has applied: every change
committed with a revision up to `applied` is in, none above (revisions commit in the order
they are drawn, see store.servers). It is built in one snapshot (the live servers and the log's
position) and follows the log (`server_changes`, only the columns it needs) whenever a NOTIFY
on `api_server_changes` says any replica committed, or a page finds it behind. Far behind
(a bulk of changes) or past the log's pruning horizon, it is rebuilt from the servers table.

Consistency: a page from the index holds every change committed before the request arrived,
whichever replica committed it, as a page read from PostgreSQL does (so a client that created a
server through one replica finds it listed by another). Before answering, a page asks
PostgreSQL for the newest committed revision (`newest`: the top of the log's primary key, one
index probe) in a query that began after the request arrived; one query in flight answers
every request that arrived before it was sent, so under load one probe serves many pages.
When the index has applied that revision the page comes from memory; when not, the request
wakes the follower and waits for it up to `wait_s`, then falls back to the page query. This
is how Kubernetes serves consistent lists from its watch cache (the current revision read from
etcd first, the cache waited for).

Scope: pages without filters, of one project or (admins) of all; a filtered page, or one
that shows deleted servers, is the query's. Ordering: by id, compared as Python compares
strings, which is PostgreSQL's order for the api's ids (UUIDs: one length, hyphens at the same
places, lowercase hex) in any collation. Size: with more live servers than `capacity` the
index is dropped (every page is queried) and a build is tried again later.

Every write to `servers` that changes what a server shows goes through store.servers' insert
and save, which append to the log: a row written behind the api's back is not seen by the
index until it is rebuilt (as WatchServers never sees it).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence

from polyvisor.api.metrics import LIST_PAGES
from polyvisor.api.store import changes
from polyvisor.api.store.db import Pool
from polyvisor.common.fresh_calls import FreshCalls
from polyvisor.common.logging import get_logger

log = get_logger(__name__)

BATCH = 2000
#: Further behind than this (in revisions), the follower rebuilds instead of replaying.
REBUILD_LAG = 50_000
#: After a build found more servers than the capacity, or failed: the wait before the next.
RETRY_S = 60.0

#: When pages wait for the next probe of the newest revision, how long it waits for more to
#: join it before it is sent (a page costs a few hundred microseconds: a probe per page would
#: be one more query per page).
GATHER_S = 0.001

_OFF = -1  # `applied` of an index not built
_FROM_INDEX = LIST_PAGES.labels("index")
_QUERIED = LIST_PAGES.labels("query")


class ServerIndex:
    def __init__(self, pool: Pool, capacity: int, wait_s: float = 0.05) -> None:
        self.pool = pool
        self.capacity = capacity
        self.wait_s = wait_s
        self.applied = _OFF
        self._revision: dict[str, int] = {}  # server id -> revision
        self._project: dict[str, str] = {}  # server id -> project
        self._projects: dict[str, list[str]] = {}  # project -> its server ids, sorted
        self._all: list[str] = []  # every server id, sorted
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()  # set (and replaced) whenever `applied` moves
        self._newest = newest_revision(pool)
        self.served = 0
        self.fallbacks = 0

    def __len__(self) -> int:
        return len(self._revision)

    def notify(self, _payload: str = "") -> None:
        """A change was committed (the NOTIFY callback): follow the log."""
        self._wake.set()

    # ------------------------------------------------------------------ reading

    async def page(self, scope: str | None, after: str, limit: int) -> list[tuple[str, int]] | None:
        """(id, revision) of up to `limit` live servers of `scope` (a project; None: all)
        after the id `after`, as of now; None when the index cannot answer now (the caller
        queries the database)."""
        if await self.current() is None:
            return None
        return self.keys(scope, after, limit)

    async def current(self) -> int | None:
        """The revision the index is at, once it holds every change committed before this
        call; None when it cannot be sure (the caller queries the database). What `keys` then
        answers, with no await in between, is as of that revision. Counted as a page (from
        the index, or queried)."""
        applied = await self.revision()
        if applied is None:
            self.fallbacks += 1
            _QUERIED.inc()
        else:
            self.served += 1
            _FROM_INDEX.inc()
        return applied

    async def revision(self) -> int | None:
        """`current` without counting a page (GetServersRevision: a check, not a page)."""
        if self.applied == _OFF:
            return None
        top = await self._newest.get(None)
        if top is None or (self.applied < top and not await self._caught_up(top)):
            return None
        return self.applied

    def keys(self, scope: str | None, after: str, limit: int) -> list[tuple[str, int]]:
        """(id, revision) of up to `limit` live servers of `scope` (a project; None: all)
        after the id `after`, as the index holds them now (call right after `current`)."""
        ids = self._all if scope is None else self._projects.get(scope, ())
        start = bisect_right(ids, after) if after else 0
        chosen = ids[start : start + limit]
        return list(zip(chosen, map(self._revision.__getitem__, chosen), strict=True))

    async def _caught_up(self, top: int) -> bool:
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while self.applied < top:
            remaining = deadline - loop.time()
            if self.applied == _OFF or remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return False
        return True

    # ------------------------------------------------------------------ following

    async def run(self) -> None:
        """Build, then follow the log until cancelled."""
        if self.capacity <= 0:
            return
        self._wake.set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._step()
        finally:  # the probes in flight end with the index (their callers query)
            await self._newest.close()

    async def _step(self) -> None:
        try:
            if self.applied == _OFF:
                if not await self._build():
                    await asyncio.sleep(RETRY_S)
                    self._wake.set()
            else:
                await self._follow()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the database is away: pages are queried
            log.warning("server index lost, rebuilding", error=repr(e))
            self._drop()
            await asyncio.sleep(1.0)
            self._wake.set()

    async def _build(self) -> bool:
        if await changes.count_live(self.pool) > self.capacity:
            log.info("server index off: more live servers than its capacity", cap=self.capacity)
            self._drop()
            return False
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            live, top = await changes.live_servers(conn)
        if len(live) > self.capacity:
            self._drop()
            return False
        revisions: dict[str, int] = {}
        owners: dict[str, str] = {}
        projects: dict[str, list[str]] = {}
        names: dict[str, str] = {}  # one string object per project
        for n, (sid, project, revision) in enumerate(live):
            if n % 20_000 == 19_999:
                await asyncio.sleep(0)  # a big cloud: let the calls in flight go on
            project = names.setdefault(project, project)
            revisions[sid] = revision
            owners[sid] = project
            projects.setdefault(project, []).append(sid)
        for ids in projects.values():
            ids.sort()
        self._revision, self._project = revisions, owners
        self._projects, self._all = projects, sorted(revisions)
        self._advance(top)
        log.info("server index built", servers=len(revisions), revision=top)
        return True

    async def _follow(self) -> None:
        while True:
            if await changes.horizon(self.pool, None) > self.applied:
                self._drop()  # changes it has not applied were pruned from the log
                self._wake.set()
                return
            batch = await changes.live_after(self.pool, self.applied, BATCH)
            if len(batch) == BATCH and await changes.newest(self.pool) - self.applied > REBUILD_LAG:
                self._drop()
                self._wake.set()
                return
            if batch:
                self.apply(batch)
            if len(batch) < BATCH:
                return

    def apply(self, batch: Sequence[tuple[int, str, str, bool]]) -> None:
        """Apply log entries (revision, project, server id, live), oldest first."""
        revisions, owners = self._revision, self._project
        projects, everything = self._projects, self._all
        for revision, project, sid, live in batch:
            known = revisions.get(sid)
            if known is not None and known >= revision:
                continue
            if live:
                if known is None:
                    insort(everything, sid)
                    insort(projects.setdefault(project, []), sid)
                    owners[sid] = project
                revisions[sid] = revision
            elif known is not None:
                del revisions[sid]
                owner = owners.pop(sid)
                _remove(everything, sid)
                ids = projects[owner]
                _remove(ids, sid)
                if not ids:
                    del projects[owner]
        if len(revisions) > self.capacity:
            log.info("server index off: more live servers than its capacity", cap=self.capacity)
            self._drop()
            return
        self._advance(batch[-1][0])

    def _advance(self, revision: int) -> None:
        self.applied = revision
        self._progress.set()
        self._progress = asyncio.Event()

    def _drop(self) -> None:
        self.applied = _OFF
        self._revision, self._project, self._projects, self._all = {}, {}, {}, []
        self._progress.set()  # waiters see it is off and query
        self._progress = asyncio.Event()


def _remove(ids: list[str], sid: str) -> None:
    i = bisect_left(ids, sid)
    if i < len(ids) and ids[i] == sid:
        del ids[i]


def newest_revision(pool: Pool, gather_s: float = GATHER_S) -> FreshCalls[None, int | None]:
    """The newest committed revision (`get(None)`; None: the database did not answer, the
    callers query instead), read by one query at a time, each caller answered by a query sent
    after it asked."""
    return FreshCalls(
        lambda _: changes.newest(pool), failed=None, gather_s=gather_s, what="newest revision"
    )
