"""The outbox worker: what happens after a create or an action committed.

Entries (claimed with a lease by any replica; per server in order):
- `schedule`: ask the scheduler for a host (SelectDestinations, idempotent on
  "<server>:<generation>"), record the host and queue the spawn command; no host fits: ERROR
  with the scheduler's explanation;
- `reschedule`: after a failed spawn, move the claim to the next alternate (MoveClaim); when
  none is left, release the claim and ask the scheduler again without the hosts that failed;
- `command`: publish a command on `agent.<host>.cmd` (Nats-Msg-Id: server, generation, verb);
- `release_claim`: give the scheduler's claim back (idempotent).

Each entry is finished (deleted) in the transaction that records its effects; a failure gives
it back with a growing delay. A crash leaves the entry to be claimed again when its lease
runs out, so nothing is lost; the steps are idempotent, so nothing is done twice in effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from polyvisor.api import lifecycle, outcomes, placement, spawnspec
from polyvisor.api import models as m
from polyvisor.api.clients import SchedulerClient
from polyvisor.api.metrics import OUTBOX_DONE, SCHEDULING_SECONDS
from polyvisor.api.store import outbox
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.api.store.outbox import Entry
from polyvisor.common.db import db_errors
from polyvisor.common.errors import PolyvisorError, Unavailable
from polyvisor.common.logging import bound_context, get_logger

log = get_logger(__name__)

Publisher = Callable[[Entry, m.Server, dict[str, Any], bytes | None], Awaitable[None]]

MAX_ENTRY_ATTEMPTS = 60


class Orchestrator:
    def __init__(
        self,
        pool: Pool,
        scheduler: SchedulerClient,
        publish: Publisher,
        deadlines: lifecycle.Deadlines,
        *,
        poll_s: float = 1.0,
        batch: int = 16,
        lease_s: float = 30.0,
    ) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.publish = publish
        self.deadlines = deadlines
        self.poll_s = poll_s
        self.batch = batch
        self.lease_s = lease_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Claim and process entries until cancelled."""
        while True:
            self._wake.clear()
            try:
                with db_errors():
                    entries = await outbox.claim(self.pool, self.batch, self.lease_s)
            except Unavailable as e:
                log.warning("outbox claim failed", error=str(e))
                entries = []
            if entries:
                await asyncio.gather(*(self._process(e) for e in entries))
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """Process what is claimable now (tests and benchmarks)."""
        with db_errors():
            entries = await outbox.claim(self.pool, self.batch, self.lease_s)
        await asyncio.gather(*(self._process(e) for e in entries))
        return len(entries)

    async def _process(self, entry: Entry) -> None:
        handler = {
            "schedule": self._schedule,
            "reschedule": self._reschedule,
            "command": self._command,
            "release_claim": self._release_claim,
        }.get(entry.kind)
        with bound_context(server_id=entry.server_id, outbox_kind=entry.kind, outbox_id=entry.id):
            try:
                if handler is None:
                    log.error("unknown outbox entry kind, dropped")
                    await self._finish(entry)
                    return
                await handler(entry)
                OUTBOX_DONE.labels(entry.kind, "done").inc()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                await self._failed(entry, e)

    async def _failed(self, entry: Entry, exc: Exception) -> None:
        expected = isinstance(exc, PolyvisorError)
        if entry.attempts >= MAX_ENTRY_ATTEMPTS:
            OUTBOX_DONE.labels(entry.kind, "dropped").inc()
            log.error("outbox entry failed too often, dropped", error=repr(exc))
            with db_errors():
                await self._finish(entry)
            return
        OUTBOX_DONE.labels(entry.kind, "retry").inc()
        delay = min(30.0, 0.25 * 2 ** min(entry.attempts, 8))
        log.warning(
            "outbox entry failed, will retry",
            error=repr(exc),
            delay_s=delay,
            attempts=entry.attempts,
            exc_info=not expected,
        )
        try:
            with db_errors():
                await outbox.retry_later(self.pool, entry, delay, repr(exc))
        except Unavailable:
            pass  # the lease runs out and the entry comes back anyway

    async def _finish(self, entry: Entry, conn: Any = None) -> None:
        await outbox.finish(conn if conn is not None else self.pool, entry)

    # ------------------------------------------------------------------ schedule

    async def _schedule(self, entry: Entry) -> None:
        generation = int(entry.payload.get("generation", 0))
        with db_errors():
            server = await server_store.get(self.pool, entry.server_id, None)
        if not _awaits_scheduling(server, generation):
            await self._finish(entry)
            return
        assert server is not None
        with db_errors():
            spawn, _ = await server_store.spawn_data(self.pool, server.id)
            members = await self._members(server, spawn)
        image = spawnspec.image_of(spawn)
        request = placement.request_from_spawn(
            server,
            spawn,
            image,
            request_id=f"{server.id}:{generation}",
            members=members,
            max_alternates=max(self.deadlines.max_build_attempts - 1, 0),
        )
        with SCHEDULING_SECONDS.time():
            result = await self.scheduler.select(request)
        await self._record_placement(entry, generation, result, retry_of=None)

    async def _members(self, server: m.Server, spawn: dict[str, Any]) -> tuple[str, ...]:
        group = (spawn.get("hints") or {}).get("group")
        if not group:
            return ()
        found = await server_store.group_members(self.pool, group)
        return tuple(i for i in found if i != server.id)

    async def _record_placement(
        self,
        entry: Entry,
        generation: int,
        result: placement.Placement | placement.NoValidHost,
        retry_of: m.Fault | None,
    ) -> None:
        now = datetime.now(UTC)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await server_store.lock(conn, entry.server_id)
                if not _awaits_scheduling(server, generation):
                    # Deleted or timed out meanwhile: whatever was claimed goes back.
                    if isinstance(result, placement.Placement):
                        await outbox.add(conn, entry.server_id, "release_claim", {})
                    await self._finish(entry, conn)
                    return
                assert server is not None
                if isinstance(result, placement.NoValidHost):
                    await outcomes.apply(
                        conn, server, _no_valid_host(server, result, retry_of, now)
                    )
                    await self._finish(entry, conn)
                    log.info("no valid host", summary=result.summary)
                    return
                d = self.deadlines
                changes: dict[str, Any] = {
                    "host": result.host,
                    "hypervisor_type": result.hypervisor_type,
                    "alternates": result.alternates,
                    "task": m.SPAWNING,
                    "task_deadline": d.after(now, d.build_s),
                    "attempts": server.attempts + 1,
                    "command_attempts": 1,
                }
                if result.availability_zone and not server.availability_zone:
                    changes["availability_zone"] = result.availability_zone
                updated = await server_store.save(conn, server, changes)
                cmd = lifecycle.Command(
                    "spawn",
                    result.host,
                    generation,
                    d.after(now, d.build_s),
                    request_id=server.request_id,
                )
                await outbox.add(
                    conn, server.id, "command", spawnspec.command_payload(cmd, updated.attempts)
                )
                await self._finish(entry, conn)
        log.info("server placed", host=result.host, attempt=server.attempts + 1)
        self.wake()

    # ------------------------------------------------------------------ reschedule

    async def _reschedule(self, entry: Entry) -> None:
        generation = int(entry.payload.get("generation", 0))
        with db_errors():
            server = await server_store.get(self.pool, entry.server_id, None)
        if not _awaits_scheduling(server, generation):
            await self._finish(entry)
            return
        assert server is not None
        failed_host = server.tried_hosts[-1] if server.tried_hosts else ""
        tried = set(server.tried_hosts)
        remaining = [a for a in server.alternates if a.host not in tried]
        for i, alt in enumerate(remaining):
            try:
                moved = await self.scheduler.move_claim(
                    server.id, alt.host, failed_host, server.fault.message if server.fault else ""
                )
            except Unavailable:
                raise
            except PolyvisorError as e:
                log.info("alternate refused the claim", host=alt.host, error=e.message)
                tried.add(alt.host)
                continue
            result = placement.Placement(
                host=moved.host or alt.host,
                hostname=moved.hostname or alt.hostname,
                hypervisor_type=moved.hypervisor_type or alt.hypervisor_type,
                availability_zone=moved.availability_zone or alt.availability_zone,
                alternates=tuple(remaining[i + 1 :]),
            )
            await self._record_placement(entry, generation, result, retry_of=server.fault)
            return
        # No alternate left: start over without the hosts that failed.
        await self.scheduler.release_claim(
            server.id, "BUILD_FAILED", server.fault.message if server.fault else ""
        )
        with db_errors():
            spawn, _ = await server_store.spawn_data(self.pool, server.id)
            members = await self._members(server, spawn)
        request = placement.request_from_spawn(
            server,
            spawn,
            spawnspec.image_of(spawn),
            request_id=f"{server.id}:{generation}",
            members=members,
            max_alternates=max(self.deadlines.max_build_attempts - server.attempts - 1, 0),
        )
        result = await self.scheduler.select(request)
        await self._record_placement(entry, generation, result, retry_of=server.fault)

    # ------------------------------------------------------------------ commands

    async def _command(self, entry: Entry) -> None:
        with db_errors():
            server = await server_store.get(self.pool, entry.server_id, None)
            spawn: dict[str, Any] = {}
            user_data = None
            if server is not None and entry.payload.get("verb") == "spawn":
                spawn, user_data = await server_store.spawn_data(self.pool, server.id)
        if server is None:
            log.warning("command for an unknown server, dropped")
        else:
            await self.publish(entry, server, spawn, user_data)
            log.info(
                "command published",
                verb=entry.payload.get("verb"),
                host=entry.payload.get("host"),
                generation=entry.payload.get("generation"),
            )
        with db_errors():
            await self._finish(entry)

    async def _release_claim(self, entry: Entry) -> None:
        released = await self.scheduler.release_claim(
            entry.server_id,
            str(entry.payload.get("reason") or "DELETED"),
            str(entry.payload.get("detail") or ""),
        )
        log.info("claim released", released=released)
        with db_errors():
            await self._finish(entry)


def _awaits_scheduling(server: m.Server | None, generation: int) -> bool:
    return (
        server is not None
        and server.state == m.BUILDING
        and server.task == m.SCHEDULING
        and server.generation == generation
    )


def _no_valid_host(
    server: m.Server, result: placement.NoValidHost, retry_of: m.Fault | None, now: datetime
) -> lifecycle.Outcome:
    if retry_of is not None:
        message = (
            f"no other host fits after {server.attempts} failed attempt(s) "
            f"(last: {retry_of.message}): {result.summary}"
        )
    else:
        message = f"no valid host: {result.summary}"
    return lifecycle.Outcome(
        changes={
            "state": m.ERROR,
            "task": m.TASK_NONE,
            "task_deadline": None,
            "power_state": m.NOSTATE,
            "host": "",
            "fault": m.Fault(
                "NO_VALID_HOST",
                message,
                retry_of.host if retry_of else "",
                retry_of.details if retry_of else "",
                now,
                no_valid_host=result.explanation or None,
            ),
        }
    )
