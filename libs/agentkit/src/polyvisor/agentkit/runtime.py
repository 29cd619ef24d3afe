"""The runtime every agent shares, wired around one Driver.

    runtime = AgentRuntime(settings, driver)
    await runtime.start()      # NATS, streams, consumer, reporter, reconciler, watcher
    ...
    await runtime.close()      # stops it all in reverse, idempotent

What runs (each loop owned by one ``BackgroundTasks``):
- ``commands``: the durable consumer of ``agent.<host>.cmd`` feeding the per-server queues
  (``CommandLoop`` -> ``ServerDispatcher`` -> ``CommandHandler``);
- ``host-report``: the host reporter (start, change, period);
- ``reconcile``: the reconciler (unless its interval is 0);
- ``watch``: the driver's changes, hopped from the driver's thread onto the loop and
  published as POWER_STATE_CHANGED / VANISHED. Each change keeps the moment it was observed
  (the driver's ``observed_at``, else when it was emitted). A change of a server with a
  command in flight, or observed before one of the server's commands ended, is never
  published as it is: it may be the command's own doing (a VM created powered off, a
  reboot's blip) or older than the state the command answered; the server is observed
  again once its queue is done. Changes of servers we destroyed are not published, nor
  those of servers a command of ours handed over to another host (a live migration, a resize
  to another host): the VM powered off on its way out, then missing from our listing, is the
  destination's now (``CommandHandler.moved_away``).

Blocking driver calls all go through one bounded ``DriverCalls`` executor. The bus, the image
source and the api client can be injected (tests, benchmarks); by default they are built from
the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from polyvisor.agentkit.assignments import AssignmentsClient
from polyvisor.agentkit.bus import AgentBus
from polyvisor.agentkit.command_handler import CommandHandler
from polyvisor.agentkit.commands import EventKind, Fault, FaultCode, ServerEventOut
from polyvisor.agentkit.consumer import CommandLoop
from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.agentkit.dispatcher import ServerDispatcher
from polyvisor.agentkit.driver import (
    Driver,
    DriverError,
    HypervisorUnavailable,
    InstanceChange,
    PowerState,
    Unsubscribe,
)
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.generations import GenerationBook
from polyvisor.agentkit.image_cache import ImageCache
from polyvisor.agentkit.image_download import ImageSource
from polyvisor.agentkit.image_source import GrpcImageSink, GrpcImageSource
from polyvisor.agentkit.queries import QueryResponder
from polyvisor.agentkit.reconcile_plan import Assigned
from polyvisor.agentkit.reconciler import ListEvacuated, Reconciler
from polyvisor.agentkit.reporter import HostReporter
from polyvisor.agentkit.settings import AgentSettings
from polyvisor.common.bus.client import Bus
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger

__all__ = ["AgentRuntime"]

log = get_logger(__name__)

ListAssigned = Callable[[str], Awaitable[list[Assigned]]]


class AgentRuntime:
    def __init__(
        self,
        settings: AgentSettings,
        driver: Driver,
        *,
        bus: Bus | None = None,
        image_source: ImageSource | None = None,
        list_assigned: ListAssigned | None = None,
        list_evacuated: ListEvacuated | None = None,
        credentials: AgentCredentials | None = None,
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.host = settings.host_id
        self.agent_id = settings.server_id
        self._bus = bus
        self._owns_bus = bus is None
        self.credentials = credentials or AgentCredentials(
            static_token=settings.agent_token,
            api_key=settings.agent_api_key,
            identity_address=settings.api_address,
            host=settings.host_id,
        )
        self._image_source = image_source
        self._list_assigned = list_assigned
        self._list_evacuated = list_evacuated
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self.tasks = BackgroundTasks(f"agent:{self.host}")
        self.calls = DriverCalls(settings.driver_workers)
        self.dispatcher = ServerDispatcher(settings.command_concurrency)
        self.book = GenerationBook(settings.effective_state_dir / "generations.journal")
        self.cache: ImageCache | None = None
        self.handler: CommandHandler | None = None
        self.reporter: HostReporter | None = None
        self.reconciler: Reconciler | None = None
        self.queries: QueryResponder | None = None
        self.command_loop: CommandLoop | None = None
        self.agent_bus: AgentBus | None = None
        self._unwatch: Unsubscribe | None = None
        self._recheck: set[str] = set()  # servers to re-observe once their command is done
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        s = self.settings
        await asyncio.to_thread(self.book.load)
        if self._bus is None:
            self._bus = await Bus.connect(
                s.nats_urls, name=f"agent-{self.agent_id}", replicas=s.nats_replicas
            )
        self.agent_bus = AgentBus(self._bus, self.host)
        await self.agent_bus.ensure_streams()

        source = self._image_source
        if source is None:
            grpc_source = GrpcImageSource(s.imagesvc_address, self.credentials)
            self._closers.append(grpc_source.close)
            source = grpc_source
        self.cache = ImageCache(s.cache_dir, source, max_bytes=s.cache_max_bytes)
        await self.cache.open()

        list_assigned, list_evacuated = self._list_assigned, self._list_evacuated
        if list_assigned is None:
            client = AssignmentsClient(s.api_address, self.credentials)
            self._closers.append(client.close)
            list_assigned = client.list
            list_evacuated = list_evacuated or client.evacuated

        sink = GrpcImageSink(s.imagesvc_address, self.credentials)
        self._closers.append(sink.close)
        self.handler = CommandHandler(
            host=self.host,
            agent_id=self.agent_id,
            driver=self.driver,
            calls=self.calls,
            cache=self.cache,
            book=self.book,
            publish=self._publish,
            sink=sink,
            scratch_dir=s.cache_dir.parent / "snapshots",
        )
        self.reporter = HostReporter(
            self.driver,
            self.calls,
            self.agent_bus,
            host_id=self.host,
            agent_id=self.agent_id,
            interval_s=s.report_interval_s,
            host_ip=s.console_host,
            availability_zone=s.availability_zone,
        )
        self.reconciler = Reconciler(
            host=self.host,
            driver=self.driver,
            calls=self.calls,
            list_assigned=list_assigned,
            dispatcher=self.dispatcher,
            handler=self.handler,
            cache=self.cache,
            interval_s=s.reconcile_interval_s or 60.0,
            delete_unwanted=s.delete_unwanted,
            on_change=self.reporter.poke,
            list_evacuated=list_evacuated,
        )
        max_pending = s.command_concurrency * 4
        consumer = await self.agent_bus.command_consumer(
            ack_wait=s.ack_wait_s, max_deliver=s.max_deliver, max_ack_pending=max_pending
        )
        self._closers.append(consumer.close)
        self.command_loop = CommandLoop(
            consumer, self.dispatcher, self.handler, max_pending=max_pending, host=self.host
        )

        loop = asyncio.get_running_loop()
        changes: asyncio.Queue[tuple[InstanceChange, float]] = asyncio.Queue()

        def emit(change: InstanceChange) -> None:  # any thread
            # Stamped here, in the driver's thread: the queue may hold it for a while.
            seen = change.observed_at or time.monotonic()
            with contextlib.suppress(RuntimeError):  # the loop is closed: we are stopping
                loop.call_soon_threadsafe(changes.put_nowait, (change, seen))

        self.tasks.start("watch", self._watch_loop(changes, emit))
        self.tasks.start("host-report", self.reporter.run())
        if s.reconcile_interval_s > 0:
            self.tasks.start("reconcile", self.reconciler.run())
        self.tasks.start("commands", self.command_loop.run())
        self.queries = QueryResponder(self._bus, self.host, self.driver, self.calls)
        await self.queries.start()
        self._closers.append(self.queries.close)
        self.tasks.start("queries", self.queries.run())
        log.info(
            "agent runtime started",
            host=self.host,
            credentials=self.credentials.mode,
            concurrency=s.command_concurrency,
        )

    async def _publish(self, event: ServerEventOut) -> None:
        assert self.agent_bus is not None
        await self.agent_bus.publish_event(event)
        if self.reporter is not None and event.kind in (EventKind.SPAWNED, EventKind.DESTROYED):
            self.reporter.poke()

    # ------------------------------------------------------------------ watch

    async def _watch_loop(
        self,
        changes: asyncio.Queue[tuple[InstanceChange, float]],
        emit: Callable[[InstanceChange], None],
    ) -> None:
        while self._unwatch is None:
            try:
                self._unwatch = await self.calls.run("watch", self.driver.watch, emit)
            except DriverError as exc:  # the hypervisor is down: try again
                log.warning("cannot watch the hypervisor yet", error=str(exc))
                await asyncio.sleep(5.0)
        while True:
            change, seen = await changes.get()
            try:
                await self._on_change(change, seen)
            except PolyvisorError as exc:
                log.warning("hypervisor change not published", error=str(exc))

    async def _on_change(self, change: InstanceChange, seen: float) -> None:
        """``seen``: when the change was observed (``time.monotonic()``)."""
        sid = change.server_id
        if self.dispatcher.busy(sid) or self.dispatcher.ended_since(sid, seen):
            # A command is working on this server, or one ended after the change was seen.
            # The change may be the command's own doing (a VM still powered off while it is
            # being created, a reboot's power-off blip), older than what the command answered,
            # or come from outside at the same moment: neither the change nor the command's
            # answer alone says the state it ends in, so look again once the server's queue
            # is done (queued behind it, in order).
            if sid not in self._recheck:
                self._recheck.add(sid)
                self.dispatcher.submit(sid, lambda: self._recheck_power(sid))
            return
        await self._apply_change(change)

    async def _recheck_power(self, sid: str) -> None:
        self._recheck.discard(sid)
        try:
            instances = await self.calls.run("list_instances", self.driver.list_instances)
        except HypervisorUnavailable as exc:
            # Nothing can be observed: say so rather than keep a state we cannot vouch for.
            log.warning("cannot re-observe the server", server_id=sid, error=str(exc))
            assert self.handler is not None
            if not self.handler.recently_destroyed(sid):
                await self._apply_change(InstanceChange(sid, PowerState.UNKNOWN))
            return
        except DriverError as exc:
            log.warning("cannot re-observe the server", server_id=sid, error=str(exc))
            return
        inst = next((i for i in instances if i.server_id == sid), None)
        if inst is None:
            await self._apply_change(InstanceChange(sid, PowerState.NOSTATE, vanished=True))
        else:
            await self._apply_change(InstanceChange(sid, inst.power_state, inst.member_host))

    async def _apply_change(self, change: InstanceChange) -> None:
        handler = self.handler
        assert handler is not None
        sid = change.server_id
        if handler.moved_away(sid):
            # Handed over to another host by a command of ours: powered off on its way out,
            # gone from our listing once there. The api has it where it went.
            log.info("change of a server moved to another host not published", server_id=sid)
            return
        if change.vanished:
            if handler.recently_destroyed(sid):
                return
            handler.last_power.pop(sid, None)
            await handler.emit_unsolicited(
                sid,
                EventKind.VANISHED,
                power_state=PowerState.NOSTATE,
                fault=Fault(
                    FaultCode.VANISHED,
                    "the server was removed from its hypervisor outside Polyvisor",
                    host=self.host,
                ),
            )
        else:
            previous = handler.last_power.get(sid)
            if previous == change.power_state:
                return
            handler.last_power[sid] = change.power_state
            try:
                await handler.emit_unsolicited(
                    sid,
                    EventKind.POWER_STATE_CHANGED,
                    power_state=change.power_state,
                    esxi_host=change.member_host,
                )
            except BaseException:
                # Not published (NATS down): the state is not reported, so the next sight
                # of it must publish it, not be skipped as already said.
                if handler.last_power.get(sid) == change.power_state:
                    if previous is None:
                        handler.last_power.pop(sid, None)
                    else:
                        handler.last_power[sid] = previous
                raise
        if self.reporter is not None:
            self.reporter.poke()

    # ------------------------------------------------------------------ close

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109
        """Stop taking commands and give the running ones ``timeout`` seconds."""
        if self.command_loop is not None:
            self.command_loop.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.dispatcher.wait_idle(), timeout)
        await self.tasks.cancel("commands")  # gives back what is still held

    async def close(self, grace_s: float = 1.5) -> None:
        if self._closed:
            return
        self._closed = True
        if self._started:
            await self.drain(grace_s)
        if self._unwatch is not None:
            with contextlib.suppress(Exception):
                self._unwatch()
        await self.tasks.close()
        await self.dispatcher.close()
        if self.cache is not None:
            await self.cache.close()
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer()
        await self.credentials.close()
        if self._owns_bus and self._bus is not None:
            await self._bus.close()
        await self.calls.close()
        log.info("agent runtime stopped", host=self.host)
