"""One command, applied: the driver verb, the image it needs, and the events that answer it.

    handler = CommandHandler(host=..., driver=..., calls=..., cache=..., book=..., publish=...)
    outcome = await handler.handle(command)

- Stale (an older generation than the server's newest applied one), duplicate (a command id
  already applied) and expired (past its deadline) commands are skipped.
- Transient failures (hypervisor unreachable, image service unreachable, bus down) are
  retried here, in the server's queue, so that the commands of one server keep their order;
  a retryable DriverError up to the command's deadline (``transient``), except SpawnFailed.
- A final failure is answered with SPAWN_FAILED or COMMAND_FAILED and its fault; the driver
  has already removed whatever a failed spawn made.
- Events are published before the command is acknowledged, with ids derived from the command
  id: a redelivered command re-publishes the same ids and JetStream drops the repeats.

One concern: applying one command, verb by verb, and answering it; each verb is a few
lines that call the driver and emit the answer, kept together so that ordering, retries and
faults are handled in one place.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from polyvisor.agentkit.capabilities import CAPABILITIES, Pause, Suspend
from polyvisor.agentkit.commands import (
    Command,
    EventKind,
    Fault,
    FaultCode,
    ServerEventOut,
    Task,
    Verb,
)
from polyvisor.agentkit.disk_handler import ImageSink, apply_rebuild, upload_snapshot
from polyvisor.agentkit.driver import (
    ConsoleSessions,
    Driver,
    DriverError,
    HypervisorUnavailable,
    Instance,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
    SpawnFailed,
)
from polyvisor.agentkit.errors import ImageUnavailable
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.generations import GenerationBook, Verdict
from polyvisor.agentkit.image_cache import ImageCache
from polyvisor.agentkit.metrics import COMMAND_SECONDS, COMMANDS
from polyvisor.agentkit.migrate_handler import MIGRATE_VERBS, abort_migration, live_migrate
from polyvisor.agentkit.port_handler import PORT_VERBS, apply_port
from polyvisor.agentkit.resize_handler import RESIZE_VERBS, apply_resize, moves_away
from polyvisor.agentkit.transient import Transient, backoff
from polyvisor.agentkit.volume_handler import VOLUME_VERBS, apply_volume, spawn_from_volume
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import bound_context, get_logger

__all__ = ["CommandHandler", "Outcome"]

log = get_logger(__name__)

Publish = Callable[[ServerEventOut], Awaitable[object]]

_TOMBSTONE_S = 600.0

# Verbs the api sends to the host a server has left by a move: not a sign that it is back.
_TO_THE_FORMER_HOST: frozenset[Verb] = frozenset({Verb.CONFIRM_RESIZE, Verb.ABORT_MIGRATION})

# The verbs of capability protocols: the protocol the driver must implement, the answer.
_OPTIONAL: dict[Verb, tuple[type, EventKind]] = {
    Verb.PAUSE: (Pause, EventKind.PAUSED),
    Verb.UNPAUSE: (Pause, EventKind.UNPAUSED),
    Verb.SUSPEND: (Suspend, EventKind.SUSPENDED),
    Verb.RESUME: (Suspend, EventKind.RESUMED),
}


class Outcome(enum.StrEnum):
    DONE = "ok"
    FAILED = "failed"
    STALE = "stale"
    DUPLICATE = "duplicate"
    EXPIRED = "expired"


class CommandHandler:
    def __init__(
        self,
        *,
        host: str,
        agent_id: str,
        driver: Driver,
        calls: DriverCalls,
        cache: ImageCache,
        book: GenerationBook,
        publish: Publish,
        retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
        sink: ImageSink | None = None,
        scratch_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.agent_id = agent_id
        self.driver = driver
        self.calls = calls
        self.cache = cache
        self.book = book
        self.publish = publish
        self.retry_delays = retry_delays
        self.sink = sink
        # Where snapshots are written before they are uploaded (then removed).
        self.scratch_dir = scratch_dir
        #: What we last told the api about each server's power (the watcher's dedup).
        self.last_power: dict[str, PowerState] = {}
        #: The newest generation the api reported for each server (reconciler).
        self.seen_generation: dict[str, int] = {}
        self._destroyed: dict[str, float] = {}
        # Servers a command of ours handed over to another host: that command's generation.
        self._moved_away: dict[str, int] = {}

    # ------------------------------------------------------------------ bookkeeping

    def recently_destroyed(self, server_id: str) -> bool:
        when = self._destroyed.get(server_id)
        if when is None:
            return False
        if time.monotonic() - when > _TOMBSTONE_S:
            del self._destroyed[server_id]
            return False
        return True

    def moved_away(self, server_id: str) -> bool:
        """A command of ours handed the server over to another host (a live migration, a
        resize or its revert to another host) and the api has not had it here again since: no
        newer command for it came here (but a confirm of the move, or a late abort), and the
        reconciler has not seen it assigned here at a newer generation. What this host sees of
        it then, or no longer sees, is not news about the server: the VM powered off on its
        way out, or gone from our listing once it arrived."""
        moved = self._moved_away.get(server_id)
        if moved is None:
            return False
        if self.seen_generation.get(server_id, 0) > moved:
            del self._moved_away[server_id]  # back here
            return False
        return True

    def _handed_over(self, cmd: Command) -> None:
        self._moved_away[cmd.server_id] = cmd.generation

    def _sent_here(self, cmd: Command) -> None:
        """A command for the server on this host, newer than the move that took it away: the
        api has it here again (a revert or a migration by the other host brought it back)."""
        if self._moved_away.get(cmd.server_id, cmd.generation) < cmd.generation:
            del self._moved_away[cmd.server_id]

    def generation_of(self, server_id: str) -> int:
        """The newest generation known for a server: applied here or reported by the api."""
        return max(self.book.applied(server_id), self.seen_generation.get(server_id, 0))

    # ------------------------------------------------------------------ entry point

    async def handle(self, cmd: Command) -> Outcome:
        start = time.perf_counter()
        with bound_context(server_id=cmd.server_id, command_id=cmd.command_id, verb=cmd.verb.value):
            outcome = await self._handle(cmd)
        COMMANDS.labels(cmd.verb.value, outcome.value).inc()
        COMMAND_SECONDS.labels(cmd.verb.value).observe(time.perf_counter() - start)
        return outcome

    async def _handle(self, cmd: Command) -> Outcome:
        verdict = self.book.check(cmd)
        if verdict == Verdict.DUPLICATE:
            log.info("command already applied, skipped")
            return Outcome.DUPLICATE
        if verdict == Verdict.STALE:
            log.info(
                "stale command skipped",
                generation=cmd.generation,
                applied=self.book.applied(cmd.server_id),
            )
            self.book.record(cmd, applied=False)
            return Outcome.STALE
        if cmd.expired():
            log.warning("command past its deadline, dropped")
            self.book.record(cmd, applied=False)
            return Outcome.EXPIRED
        if cmd.verb not in _TO_THE_FORMER_HOST:
            self._sent_here(cmd)
        attempt = 0
        while True:
            try:
                await self._apply(cmd)
            except Transient as exc:
                delay = backoff(self.retry_delays, cmd.deadline, exc, attempt)
                if delay is None:
                    cause = exc.__cause__ or exc
                    log.error("command failed after retries", error=str(cause))
                    await self._fail(cmd, cause)
                    self.book.record(cmd, applied=False)
                    return Outcome.FAILED
                attempt += 1
                log.warning("transient failure, retrying", error=str(exc.__cause__), delay_s=delay)
                await asyncio.sleep(delay)
                continue
            except (DriverError, ImageUnavailable) as exc:
                log.warning("command failed", error=str(exc))
                await self._fail(cmd, exc)
                self.book.record(cmd, applied=False)
                return Outcome.FAILED
            except Exception as exc:  # a bug: retrying will not help, answering will
                log.exception("command failed unexpectedly")
                await self._fail(cmd, exc)
                self.book.record(cmd, applied=False)
                return Outcome.FAILED
            self.book.record(cmd, applied=True)
            return Outcome.DONE

    async def _apply(self, cmd: Command) -> None:
        try:
            if cmd.verb == Verb.SPAWN:
                await self._spawn(cmd)
            elif cmd.verb == Verb.DESTROY:
                await self._destroy(cmd)
            elif cmd.verb == Verb.POWER_ON:
                inst = await self.calls.run("power_on", self.driver.power_on, cmd.server_id)
                await self._answer(cmd, EventKind.POWERED_ON, inst)
            elif cmd.verb == Verb.POWER_OFF:
                inst = await self.calls.run("power_off", self.driver.power_off, cmd.server_id)
                await self._answer(cmd, EventKind.POWERED_OFF, inst)
            elif cmd.verb == Verb.REBOOT:
                inst = await self.calls.run(
                    "reboot", lambda: self.driver.reboot(cmd.server_id, hard=cmd.hard)
                )
                await self._answer(cmd, EventKind.REBOOTED, inst)
            elif cmd.verb in _OPTIONAL:
                await self._optional(cmd)
            elif cmd.verb in PORT_VERBS:
                await self._emit(cmd, await apply_port(self.driver, self.calls, self.host, cmd))
            elif cmd.verb in VOLUME_VERBS:
                await self._emit(cmd, await apply_volume(self.driver, self.calls, self.host, cmd))
            elif cmd.verb == Verb.REFRESH_CONSOLE:
                console = await self.calls.run("console", self.driver.console, cmd.server_id)
                await self._emit(cmd, EventKind.CONSOLE_UPDATED, console=console)
            elif cmd.verb == Verb.SNAPSHOT:
                await self._snapshot(cmd)
            elif cmd.verb == Verb.REBUILD:
                inst = await apply_rebuild(self.driver, self.calls, self.cache, cmd)
                assert cmd.rebuild is not None
                inst = await self._kept_off(cmd, inst, cmd.rebuild.powered_off)
                await self._answer(cmd, EventKind.REBUILT, inst)
            elif cmd.verb == Verb.OPEN_CONSOLE:
                await self._open_console(cmd)
            elif cmd.verb in RESIZE_VERBS:
                inst, answer = await apply_resize(self.driver, self.calls, self.host, cmd)
                if moves_away(cmd, self.host):
                    self._handed_over(cmd)
                await self._answer(cmd, answer, inst)
            elif cmd.verb == Verb.LIVE_MIGRATE:
                await self._live_migrate(cmd)
            elif cmd.verb == Verb.ABORT_MIGRATION:
                aborted = await abort_migration(self.driver, self.calls, self.host, cmd)
                log.info("migration abort asked", under_way=aborted)
        except HypervisorUnavailable as exc:
            raise Transient(str(exc)) from exc
        except SpawnFailed:
            raise  # cleaned up on the host: an alternate host is the better next try
        except DriverError as exc:  # e.g. the network service UNAVAILABLE while it restarts
            if exc.retryable:
                raise Transient(str(exc), until_deadline=True) from exc
            raise
        except ImageUnavailable as exc:
            if exc.retryable:
                raise Transient(str(exc)) from exc
            raise
        except PolyvisorError as exc:  # the bus or the image service's credentials
            if exc.retryable:
                raise Transient(str(exc)) from exc
            raise ImageUnavailable(str(exc)) from exc

    # ------------------------------------------------------------------ verbs

    async def _live_migrate(self, cmd: Command) -> None:
        async def progress(pct: int) -> None:
            await self._emit(cmd, EventKind.PROGRESS, task=Task.MIGRATING, progress=pct)

        await self._emit(cmd, EventKind.PROGRESS, task=Task.MIGRATING, progress=0)
        inst = await live_migrate(self.driver, self.calls, self.host, cmd, progress)
        self._handed_over(cmd)
        assert cmd.migrate is not None
        await self._emit(
            cmd,
            EventKind.MIGRATED,
            power_state=inst.power_state,
            instance_name=inst.name,
            dest_host=cmd.migrate.dest_host,
        )

    async def _spawn(self, cmd: Command) -> None:
        req = cmd.spawn
        assert req is not None
        if req.root_volume is not None:
            await self._emit(cmd, EventKind.PROGRESS, task=Task.SPAWNING)
            inst = await spawn_from_volume(self.driver, self.calls, self.host, cmd)
            inst = await self._kept_off(cmd, inst, req.powered_off)
            self._destroyed.pop(cmd.server_id, None)
            await self._answer(cmd, EventKind.SPAWNED, inst)
            return
        assert req.image is not None and req.rendition is not None
        await self._emit(cmd, EventKind.PROGRESS, task=Task.FETCHING_IMAGE)
        try:
            local = await self.cache.fetch(
                req.image, req.rendition, user=cmd.server_id, expected_sha256=req.expected_sha256
            )
            await self._emit(cmd, EventKind.PROGRESS, task=Task.SPAWNING)
            spec = InstanceSpec(**req.guest(cmd.server_id), image=local)
            inst = await self.calls.run("spawn", self.driver.spawn, spec)
        except BaseException as exc:
            if not isinstance(exc, HypervisorUnavailable | asyncio.CancelledError):
                # Nothing of this server is left on the host: its image may be evicted.
                await self.cache.release(cmd.server_id)
            raise
        inst = await self._kept_off(cmd, inst, req.powered_off)
        self._destroyed.pop(cmd.server_id, None)
        await self._answer(cmd, EventKind.SPAWNED, inst)

    async def _kept_off(self, cmd: Command, inst: Instance, powered_off: bool) -> Instance:
        """A server to be left off that its driver started anyway (one that cannot make or
        rebuild a VM without starting it) is powered off before the answer, which says so."""
        if not powered_off or inst.power_state != PowerState.RUNNING:
            return inst
        log.warning("the driver started a server to be left off: powering it off")
        return await self.calls.run("power_off", self.driver.power_off, cmd.server_id)

    async def _open_console(self, cmd: Command) -> None:
        driver = self.driver
        if not isinstance(driver, ConsoleSessions):
            raise DriverError("this hypervisor's driver has no console sessions")
        await self.calls.run(
            "set_console_password",
            lambda: driver.set_console_password(
                cmd.server_id, cmd.console_password, cmd.console_valid_for_s
            ),
        )
        console = await self.calls.run("console", driver.console, cmd.server_id)
        await self._emit(cmd, EventKind.CONSOLE_UPDATED, console=console)

    async def _optional(self, cmd: Command) -> None:
        """A verb of a capability protocol: only a driver that implements it is called."""
        proto, answer = _OPTIONAL[cmd.verb]
        if not isinstance(self.driver, proto):
            name = next(n for n, p in CAPABILITIES.items() if p is proto)
            raise DriverError(
                f"host {self.host} cannot {cmd.verb.value} servers: its hypervisor driver has "
                f"no {name} capability"
            )
        verb = getattr(self.driver, cmd.verb.value)
        inst = await self.calls.run(cmd.verb.value, verb, cmd.server_id)
        await self._answer(cmd, answer, inst)

    async def _destroy(self, cmd: Command) -> None:
        self._destroyed[cmd.server_id] = time.monotonic()
        await self.calls.run("destroy", self.driver.destroy, cmd.server_id)
        await self.cache.release(cmd.server_id)
        self.last_power.pop(cmd.server_id, None)
        await self._emit(cmd, EventKind.DESTROYED, power_state=PowerState.NOSTATE)

    async def _snapshot(self, cmd: Command) -> None:
        req = cmd.snapshot
        assert req is not None
        power = await upload_snapshot(self.driver, self.calls, self.sink, self.scratch_dir, cmd)
        if req.then_destroy:
            await self._remove(cmd)
            power = PowerState.NOSTATE
        await self._emit(cmd, EventKind.SNAPSHOTTED, power_state=power)

    async def _remove(self, cmd: Command) -> None:
        """The VM and its files go (shelve); its image may leave the cache."""
        self._destroyed[cmd.server_id] = time.monotonic()
        await self.calls.run("destroy", self.driver.destroy, cmd.server_id)
        await self.cache.release(cmd.server_id)
        self.last_power.pop(cmd.server_id, None)

    # ------------------------------------------------------------------ events

    async def _answer(self, cmd: Command, kind: EventKind, inst: Instance) -> None:
        self.last_power[cmd.server_id] = inst.power_state
        await self._emit(
            cmd,
            kind,
            power_state=inst.power_state,
            console=inst.console,
            instance_name=inst.name,
            esxi_host=inst.member_host,
        )

    async def _fail(self, cmd: Command, exc: BaseException) -> None:
        if cmd.verb == Verb.OPEN_CONSOLE:
            # Nobody waits for it: the proxy's login fails, the server itself is untouched
            # (a COMMAND_FAILED would read as the failure of its power command in flight).
            return
        fault = self.fault_for(cmd.verb, exc)
        if cmd.verb == Verb.SNAPSHOT and cmd.snapshot is not None and self.sink is not None:
            # No half image: the image is killed with the reason before the api hears of it.
            try:
                await self.sink.fail(cmd.snapshot.image_id, fault.message)
            except Exception as e:  # the answer matters more; the api's fault says why
                log.warning("could not mark the snapshot image failed", error=str(e))
        kind = EventKind.SPAWN_FAILED if cmd.verb == Verb.SPAWN else EventKind.COMMAND_FAILED
        power: PowerState | None = None
        if isinstance(exc, InstanceNotFound):
            power = PowerState.NOSTATE
        elif isinstance(exc, HypervisorUnavailable):
            power = PowerState.UNKNOWN
        await self._emit(cmd, kind, fault=fault, power_state=power)

    def fault_for(self, verb: Verb, exc: BaseException) -> Fault:
        if isinstance(exc, ImageUnavailable):
            code = FaultCode.IMAGE_UNAVAILABLE
        elif isinstance(exc, HypervisorUnavailable):
            code = FaultCode.HOST_UNREACHABLE
        elif isinstance(exc, InstanceNotFound) and verb != Verb.SPAWN:
            code = FaultCode.VANISHED
        elif verb == Verb.SPAWN or isinstance(exc, SpawnFailed):
            code = FaultCode.SPAWN_FAILED
        elif verb == Verb.DESTROY:
            code = FaultCode.DESTROY_FAILED
        elif verb in (Verb.POWER_ON, Verb.POWER_OFF, Verb.REBOOT, *_OPTIONAL):
            code = FaultCode.POWER_FAILED
        elif verb == Verb.SNAPSHOT:
            code = FaultCode.SNAPSHOT_FAILED
        elif verb == Verb.REBUILD:
            code = FaultCode.REBUILD_FAILED
        elif verb in RESIZE_VERBS:
            code = FaultCode.RESIZE_FAILED
        elif verb in MIGRATE_VERBS:
            code = FaultCode.MIGRATION_FAILED
        elif verb == Verb.ATTACH_VOLUME:
            code = FaultCode.ATTACH_FAILED
        elif verb == Verb.DETACH_VOLUME:
            code = FaultCode.DETACH_FAILED
        else:
            code = FaultCode.INTERNAL
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Fault(code=code, message=message[:500], host=self.host, details=str(exc)[:4000])

    async def _emit(self, cmd: Command, kind: EventKind, **fields: object) -> None:
        task = fields.get("task")
        suffix = f"{kind.value}:{task.value}" if isinstance(task, Task) else kind.value
        if fields.get("progress"):
            suffix = f"{suffix}:{fields['progress']}"
        base = cmd.command_id or uuid.uuid4().hex
        event = ServerEventOut(
            event_id=f"{base}:{suffix}",
            server_id=cmd.server_id,
            generation=cmd.generation,
            kind=kind,
            host=self.host,
            command_id=cmd.command_id,
            request_id=cmd.request_id,
            agent_id=self.agent_id,
            **fields,  # type: ignore[arg-type]
        )
        await self.publish(event)

    async def emit_unsolicited(
        self,
        server_id: str,
        kind: EventKind,
        *,
        key: str = "",
        **fields: object,
    ) -> None:
        """An event nobody asked for (watcher, reconciler), at the newest generation seen.

        ``key`` makes the event id stable (so repeats within the duplicate window are
        dropped by JetStream); without it every call is a new event."""
        event = ServerEventOut(
            event_id=f"{key}" if key else uuid.uuid4().hex,
            server_id=server_id,
            generation=int(fields.pop("generation", 0) or self.generation_of(server_id)),  # type: ignore[call-overload]
            kind=kind,
            host=self.host,
            agent_id=self.agent_id,
            **fields,  # type: ignore[arg-type]
        )
        await self.publish(event)
