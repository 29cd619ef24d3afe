"""The outbox worker: carries out, after the commit, the work the state machine decided.
It decides nothing about a server: what the scheduler's answer does is
`lifecycle.on_placement`'s to say.

Entries (claimed with a lease by any replica; per server in order):
- `schedule`: ask the scheduler for a host (SelectDestinations, idempotent on
  "<server>:<generation>"), record the host and queue the spawn command; no host fits: ERROR
  with the scheduler's explanation;
- `reschedule`: after a failed spawn, move the claim to the next alternate (MoveClaim); when
  none is left, release the claim and ask the scheduler again without the hosts that failed;
- `command`: publish a command on `agent.<host>.cmd` (Nats-Msg-Id: server, generation, verb);
- `release_claim`: give the scheduler's claim back (idempotent); the move's (`<server>/move`)
  when the entry says so;
- `schedule_move`: ask the scheduler for a resize's destination (`moves.move_requests`,
  claimed as `<server>/move`), and record it (`lifecycle.resize.on_move_placement`);
- `replace_claim`: a resize confirmed: the server's claim is replaced by the move's;
- `release_ports`: free the server's ports (`ports.ServerPorts.release`);
- `bind_ports`: bind the server's ports to a host again (a move across types given up);
- `delete_transfer_image`: delete the image a move across types carried the disk in;
- `fail_image`: kill the image a failed or timed-out snapshot was filling (no QUEUED or half
  image is left; the image service refuses it once it is ACTIVE or KILLED).

A spawn command leaves with the server's ports made and bound to its host (their binding
specs in the command, their addresses on the server).

Each entry is finished (deleted) in the transaction that records its effects; a failure gives
it back with a growing delay. A crash leaves the entry to be claimed again when its lease
runs out, so nothing is lost; the steps are idempotent, so nothing is done twice in effect.

One concern: carrying out the outbox's entries, one method per entry kind, under one claim,
lease and retry loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from polyvisor.api import lifecycle, move_claims, moves, outcomes, placement
from polyvisor.api import models as m
from polyvisor.api.clients import ImageClient, SchedulerClient
from polyvisor.api.clients.volume import VolumeClient
from polyvisor.api.lifecycle import (
    FailImage,
    ReleaseClaim,
    ReleasePort,
    ReleasePorts,
    ReplaceClaim,
    Reschedule,
    Schedule,
    ScheduleMove,
    Send,
)
from polyvisor.api.metrics import OUTBOX_DONE, SCHEDULING_SECONDS
from polyvisor.api.ports import ServerPorts
from polyvisor.api.spawnspec import SpawnSpec, Target
from polyvisor.api.store import outbox
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Conn, Pool
from polyvisor.api.store.outbox import Entry, Undecodable
from polyvisor.common.db import db_errors
from polyvisor.common.errors import PolyvisorError, Unavailable
from polyvisor.common.logging import bound_context, get_logger

log = get_logger(__name__)

Publisher = Callable[[lifecycle.AgentCommand, Target], Awaitable[None]]

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
        ports: ServerPorts | None = None,
        images: ImageClient | None = None,
        volumes: VolumeClient | None = None,
    ) -> None:
        self.pool = pool
        self.volumes = volumes
        self.ports = ports
        self.images = images
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

    async def _process(self, entry: Entry | Undecodable) -> None:
        with bound_context(server_id=entry.server_id, outbox_kind=entry.kind, outbox_id=entry.id):
            if isinstance(entry, Undecodable):
                log.error("outbox entry not understood, dropped", error=entry.error)
                with db_errors():
                    await self._finish(entry)
                return
            try:
                work = entry.work
                if isinstance(work, Schedule):
                    await self._schedule(entry, work.generation)
                elif isinstance(work, Reschedule):
                    await self._reschedule(entry, work.generation)
                elif isinstance(work, Send):
                    await self._send(entry, work.command)
                elif isinstance(work, ReleasePorts):
                    await self._release_ports(entry)
                elif isinstance(work, FailImage):
                    await self._fail_image(entry, work)
                elif isinstance(work, ScheduleMove):
                    await self._schedule_move(entry, work.generation)
                elif isinstance(work, ReplaceClaim):
                    await self._replace_claim(entry)
                elif isinstance(work, ReleasePort):
                    await self._release_port(entry, work)
                elif isinstance(work, lifecycle.SettleVolume):
                    await self._settle_volume(entry, work)
                elif isinstance(work, lifecycle.ReleaseVolumes):
                    await self._release_volumes(entry)
                elif isinstance(work, lifecycle.BindPorts):
                    await self._bind_ports_to(entry, work.host)
                elif isinstance(work, lifecycle.DeleteTransferImage):
                    await self._delete_transfer_image(entry, work.image_id)
                else:
                    await self._release_claim(entry, work)
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

    async def _finish(self, entry: Entry | Undecodable, conn: Conn | None = None) -> None:
        await outbox.finish(conn if conn is not None else self.pool, entry)

    # ------------------------------------------------------------------ schedule

    async def _schedule(self, entry: Entry, generation: int) -> None:
        with db_errors():
            server, spec, _ = await server_store.get_with_spawn(self.pool, entry.server_id)
        if server is None or spec is None or not lifecycle.awaits_scheduling(server, generation):
            await self._finish(entry)
            return
        request = lifecycle.placement_request(
            server, spec, await self._members(server, spec), generation, self.deadlines
        )
        with SCHEDULING_SECONDS.time():
            result = await self.scheduler.select(request)
        await self._record_placement(entry, generation, result, retry_of=None)

    async def _spec(self, server: m.Server | None, generation: int) -> SpawnSpec | None:
        """The build's spec, if the server still waits for a host."""
        if server is None or not lifecycle.awaits_scheduling(server, generation):
            return None
        spec, _ = await server_store.spawn_data(self.pool, server.id)
        return spec

    async def _members(self, server: m.Server, spec: SpawnSpec) -> tuple[str, ...]:
        if not spec.hints.group:
            return ()
        with db_errors():
            found = await server_store.group_members(self.pool, spec.hints.group)
        return tuple(i for i in found if i != server.id)

    async def _record_placement(
        self,
        entry: Entry,
        generation: int,
        result: placement.Placement | placement.NoValidHost,
        retry_of: m.Fault | None,
    ) -> None:
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await server_store.lock(conn, entry.server_id)
                out = lifecycle.on_placement(
                    server, generation, result, retry_of, datetime.now(UTC), self.deadlines
                )
                if server is None:
                    await outcomes.enqueue(conn, entry.server_id, out.work)
                else:
                    await outcomes.apply(conn, server, out)
                await self._finish(entry, conn)
        if out.ignored:
            log.info("placement not used", reason=out.ignored)
        elif isinstance(result, placement.NoValidHost):
            log.info("no valid host", summary=result.summary)
        else:
            log.info("server placed", host=result.host, generation=generation)
        self.wake()

    # ------------------------------------------------------------------ reschedule

    async def _reschedule(self, entry: Entry, generation: int) -> None:
        with db_errors():
            server = await server_store.get(self.pool, entry.server_id, None)
            spec = await self._spec(server, generation)
        if server is None or spec is None:
            await self._finish(entry)
            return
        failed_host = server.tried_hosts[-1] if server.tried_hosts else ""
        why = server.fault.message if server.fault else ""
        remaining = lifecycle.alternates_left(server)
        for i, alt in enumerate(remaining):
            try:
                moved = await self.scheduler.move_claim(server.id, alt.host, failed_host, why)
            except Unavailable:
                raise
            except PolyvisorError as e:
                log.info("alternate refused the claim", host=alt.host, error=e.message)
                continue
            result = placement.Placement(
                host=moved.host or alt.host,
                hostname=moved.hostname or alt.hostname,
                hypervisor_type=moved.hypervisor_type or alt.hypervisor_type,
                availability_zone=moved.availability_zone or alt.availability_zone,
                alternates=remaining[i + 1 :],
                # The rendition this alternate boots, named with it by the scheduler.
                disk_format=alt.disk_format,
                vmware_disktype=alt.vmware_disktype,
            )
            await self._record_placement(entry, generation, result, retry_of=server.fault)
            return
        # No alternate left: start over without the hosts that failed.
        await self.scheduler.release_claim(
            server.id, lifecycle.ReleaseReason.BUILD_FAILED.value, why
        )
        request = lifecycle.placement_request(
            server, spec, await self._members(server, spec), generation, self.deadlines
        )
        await self._record_placement(
            entry, generation, await self.scheduler.select(request), retry_of=server.fault
        )

    # ------------------------------------------------------------------ commands

    async def _send(self, entry: Entry, cmd: lifecycle.AgentCommand) -> None:
        with db_errors():
            if isinstance(cmd, lifecycle.Spawn):
                server, spec, user_data = await server_store.get_with_spawn(
                    self.pool, entry.server_id
                )
            else:
                server = await server_store.get(self.pool, entry.server_id, None)
                spec, user_data = None, None
        if server is None:
            log.warning("command for an unknown server, dropped")
        else:
            bound: tuple[object, ...] = ()
            if isinstance(cmd, lifecycle.Spawn) and spec is not None and spec.nics:
                server, bound = await self._bind_ports(server, spec, cmd)
            await self.publish(cmd, Target(server, spec, user_data, bound))
            log.info("command published", verb=cmd.verb, host=cmd.host, generation=cmd.generation)
        with db_errors():
            await self._finish(entry)

    async def _bind_ports(
        self, server: m.Server, spec: SpawnSpec, cmd: lifecycle.Spawn
    ) -> tuple[m.Server, tuple[object, ...]]:
        """Make and bind the server's ports to the spawn's host; their addresses go on the
        server (unless it moved on meanwhile)."""
        if self.ports is None:
            raise Unavailable("the server has networks but the api has no network service")
        bound = await self.ports.bind(server, spec, cmd.host)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                locked = await server_store.lock(conn, server.id)
                if locked is not None and locked.generation == cmd.generation:
                    server = await server_store.save(
                        conn, locked, lifecycle.Change(addresses=bound.addresses)
                    )
        return server, bound.specs

    async def _release_ports(self, entry: Entry) -> None:
        with db_errors():
            spec, _ = await server_store.spawn_data(self.pool, entry.server_id)
        if spec is not None and spec.nics:
            if self.ports is None:
                raise Unavailable("the server has networks but the api has no network service")
            await self.ports.release(entry.server_id, spec.user_ports())
        with db_errors():
            await self._finish(entry)

    async def _release_port(self, entry: Entry, work: ReleasePort) -> None:
        if self.ports is None:
            raise Unavailable("a port to free but the api has no network service")
        await self.ports.release_one(work.port_id, delete=work.delete)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await server_store.remove_nic(conn, entry.server_id, work.nic_index)
                await self._finish(entry, conn)

    async def _settle_volume(self, entry: Entry, work: lifecycle.SettleVolume) -> None:
        if self.volumes is None:
            raise Unavailable("a volume to settle but the api has no volume service")
        if work.attached:
            await self.volumes.complete(work.volume_id, entry.server_id)
        else:
            await self.volumes.remove(work.volume_id, entry.server_id)
        log.info("volume settled", volume_id=work.volume_id, attached=work.attached)
        with db_errors():
            await self._finish(entry)

    async def _release_volumes(self, entry: Entry) -> None:
        """The server is gone from its host: its attachments go; the volumes marked
        delete_on_termination are deleted, the others stay (available)."""
        if self.volumes is not None:
            for v in await self.volumes.of_server(entry.server_id):
                await self.volumes.begin_detach(v.volume_id, entry.server_id, server_deleted=True)
                await self.volumes.remove(v.volume_id, entry.server_id)
                if v.delete_on_termination:
                    await self.volumes.delete(v.volume_id)
                log.info("volume released", volume_id=v.volume_id, deleted=v.delete_on_termination)
        with db_errors():
            await self._finish(entry)

    async def _release_claim(self, entry: Entry, work: ReleaseClaim) -> None:
        consumer = lifecycle.move_consumer(entry.server_id) if work.move else entry.server_id
        released = await self.scheduler.release_claim(consumer, work.reason.value, work.detail)
        log.info("claim released", released=released, consumer=consumer)
        with db_errors():
            await self._finish(entry)

    # ------------------------------------------------------------------ moves

    async def _schedule_move(self, entry: Entry, generation: int) -> None:
        with db_errors():
            server = await server_store.get(self.pool, entry.server_id, None)
            spec = None
            if lifecycle.resize.awaits_move(server, generation):
                spec, _ = await server_store.spawn_data(self.pool, entry.server_id)
        if server is None or spec is None:
            await self._finish(entry)
            return
        members = await self._members(server, spec)
        result: placement.Placement | placement.NoValidHost | None = None
        with SCHEDULING_SECONDS.time():
            for request in moves.move_requests(server, spec, members, generation):
                result = await self.scheduler.select(request)
                if isinstance(result, placement.Placement):
                    break
        assert result is not None
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                locked = await server_store.lock(conn, entry.server_id)
                out = lifecycle.resize.on_move_placement(
                    locked, generation, result, datetime.now(UTC), self.deadlines
                )
                if locked is None:
                    await outcomes.enqueue(conn, entry.server_id, out.work)
                else:
                    await outcomes.apply(conn, locked, out)
                await self._finish(entry, conn)
        if isinstance(result, placement.NoValidHost):
            log.info("no host for the resize", summary=result.summary)
        else:
            log.info("resize placed", host=result.host, ignored=out.ignored or None)
        self.wake()

    async def _replace_claim(self, entry: Entry) -> None:
        replaced, host = await move_claims.replace_claim(
            self.scheduler, entry.server_id, lifecycle.move_consumer(entry.server_id)
        )
        log.info("claim replaced by the move's", replaced=replaced, host=host)
        with db_errors():
            await self._finish(entry)

    async def _fail_image(self, entry: Entry, work: FailImage) -> None:
        if self.images is None:
            raise Unavailable("the api has no image service to kill a failed snapshot in")
        became = await self.images.fail_snapshot(work.image_id, work.reason)
        log.info("failed snapshot's image settled", image_id=work.image_id, result=became)
        with db_errors():
            await self._finish(entry)

    async def _bind_ports_to(self, entry: Entry, host: str) -> None:
        with db_errors():
            server, spec, _ = await server_store.get_with_spawn(self.pool, entry.server_id)
        if server is not None and spec is not None and spec.nics:
            if self.ports is None:
                raise Unavailable("the server has networks but the api has no network service")
            await self.ports.bind(server, spec, host)
            log.info("server ports bound again", host=host)
        with db_errors():
            await self._finish(entry)

    async def _delete_transfer_image(self, entry: Entry, image_id: str) -> None:
        if self.images is None:
            raise Unavailable("the api has no image service to delete a transfer image in")
        await self.images.delete_transfer_image(image_id)
        log.info("transfer image deleted", image_id=image_id)
        with db_errors():
            await self._finish(entry)
