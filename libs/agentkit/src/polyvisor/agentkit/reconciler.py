"""The reconciler: now and then, the api's view of this host against the hypervisor's.

    reconciler = Reconciler(...)
    tasks.start("reconcile", reconciler.run())
    await reconciler.reconcile_once()    # one pass (tests)

One pass: observe the VMs first, then ask the api for the servers assigned to this host (so a
VM spawned between the two calls is assigned by then), and act on ``plan_reconcile``:

- power drift: the api's desired state wins once two passes in a row saw the same drift at
  the same generation (a power change made outside Polyvisor is reported by the watch and
  adopted by the api: a pass that read the api before it applied the report must not undo
  the change); the fix runs through the server's command queue (after whatever is queued
  for it) and is reported as POWER_STATE_CHANGED;
- vanished: a VANISHED event with a fault, once per server and generation;
- unwanted (tagged as ours, assigned to nobody): logged, counted, reported once; destroyed
  only with ``delete_unwanted`` and only when still unwanted on the next pass;
- evacuated (unwanted, and the api says the server was rebuilt elsewhere while this host was
  down: ``list_evacuated``): a stale copy, destroyed at once, whatever ``delete_unwanted``;
  ``run`` looks for those first, as soon as the agent starts (``drop_evacuated``).

It also unpins cached images of servers that are no longer on the host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

from polyvisor.agentkit.capabilities import GuestMetadata
from polyvisor.agentkit.command_handler import CommandHandler
from polyvisor.agentkit.commands import EventKind, Fault, FaultCode
from polyvisor.agentkit.dispatcher import ServerDispatcher
from polyvisor.agentkit.driver import Driver, DriverError, Instance, InstanceNotFound
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.image_cache import ImageCache
from polyvisor.agentkit.metrics import RECONCILE_ACTIONS, RECONCILE_RUNS, UNWANTED_INSTANCES
from polyvisor.agentkit.reconcile_plan import Action, ActionKind, Assigned, plan_reconcile
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["Reconciler"]

log = get_logger(__name__)

_POWER = frozenset({ActionKind.POWER_ON, ActionKind.POWER_OFF})

ListAssigned = Callable[[str], Awaitable[list[Assigned]]]
ListEvacuated = Callable[[str], Awaitable[set[str]]]


class Reconciler:
    def __init__(
        self,
        *,
        host: str,
        driver: Driver,
        calls: DriverCalls,
        list_assigned: ListAssigned,
        dispatcher: ServerDispatcher,
        handler: CommandHandler,
        cache: ImageCache,
        interval_s: float,
        delete_unwanted: bool = False,
        on_change: Callable[[], None] | None = None,
        list_evacuated: ListEvacuated | None = None,
    ) -> None:
        self.list_evacuated = list_evacuated
        self.host = host
        self.driver = driver
        self.calls = calls
        self.list_assigned = list_assigned
        self.dispatcher = dispatcher
        self.handler = handler
        self.cache = cache
        self.interval_s = interval_s
        self.delete_unwanted = delete_unwanted
        self.on_change = on_change or (lambda: None)
        self._unwanted: set[str] = set()
        # The power drifts the last pass saw (server, generation, fix): fixed when seen again.
        self._drift: set[tuple[str, int, ActionKind]] = set()
        self._vanished: set[tuple[str, int]] = set()
        # The metadata each server's guest was last given (what the api said then).
        self._metadata: dict[str, dict[str, str]] = {}
        self.passes = 0

    async def run(self, first_after_s: float = 5.0) -> None:
        await self.drop_evacuated()
        await asyncio.sleep(min(first_after_s, self.interval_s))
        while True:
            await self.reconcile_once()
            await asyncio.sleep(self.interval_s)

    async def reconcile_once(self) -> list[Action]:
        try:
            # Asked before and after the listing: a server moved here (or away) while we
            # looked is assigned in only one of the two, and is never taken for vanished.
            earlier = await self.list_assigned(self.host)
            observed = await self.calls.run("list_instances", self.driver.list_instances)
            assigned = await self.list_assigned(self.host)
        except (DriverError, PolyvisorError) as exc:
            RECONCILE_RUNS.labels("skipped").inc()
            log.warning("reconcile pass skipped", error=str(exc))
            return []
        for a in assigned:
            if a.generation > self.handler.seen_generation.get(a.server_id, 0):
                self.handler.seen_generation[a.server_id] = a.generation
        busy = self.dispatcher.busy_servers()
        before = {a.server_id: a.generation for a in earlier}
        evacuated = await self._evacuated()
        actions = [
            a
            for a in plan_reconcile(assigned, observed, busy, evacuated)
            if a.kind != ActionKind.VANISHED or before.get(a.server_id) == a.generation
        ]
        drift_now = {(a.server_id, a.generation, a.kind) for a in actions if a.kind in _POWER}
        actions = [
            a
            for a in actions
            if a.kind not in _POWER or (a.server_id, a.generation, a.kind) in self._drift
        ]
        self._drift = drift_now
        unwanted_now = {a.server_id for a in actions if a.kind == ActionKind.UNWANTED}
        for action in actions:
            try:
                await self._act(action)
            except PolyvisorError as exc:
                log.warning("reconcile action failed", action=action.kind.value, error=str(exc))
        self._unwanted = unwanted_now
        await self._sync_metadata(assigned, observed, busy)
        UNWANTED_INSTANCES.set(len(unwanted_now))
        present = {i.server_id for i in observed} | busy
        await self.cache.retain_users(present)
        self.passes += 1
        RECONCILE_RUNS.labels("ok").inc()
        if actions:
            log.info("reconcile pass", actions=[f"{a.kind.value}:{a.server_id}" for a in actions])
        return actions

    async def drop_evacuated(self) -> list[str]:
        """At once when the agent starts (before the first full pass): the stale copies of
        the servers evacuated from this host while it was down are destroyed, so that they
        never run beside their rebuilt selves for longer than it takes to look. The listing
        comes first: a server evacuated back here since is on this host at the api by the time
        it is asked, and no longer named."""
        if self.list_evacuated is None:
            return []
        try:
            observed = await self.calls.run("list_instances", self.driver.list_instances)
        except DriverError as exc:
            log.warning("stale copies not looked for", error=str(exc))
            return []
        stale = await self._evacuated()
        busy = self.dispatcher.busy_servers()
        gone = sorted(i.server_id for i in observed if i.server_id in stale - busy)
        for sid in gone:
            RECONCILE_ACTIONS.labels("evacuated").inc()
            log.warning(
                "destroying the stale copy of a server evacuated from this host", server_id=sid
            )
            self.dispatcher.submit(sid, partial(self._destroy_unwanted, sid))
        return gone

    async def _evacuated(self) -> set[str]:
        """The servers evacuated from this host (asked after the assignments: one evacuated
        back here since is assigned here, and no longer listed)."""
        if self.list_evacuated is None:
            return set()
        try:
            return await self.list_evacuated(self.host)
        except PolyvisorError as exc:
            log.warning("evacuated servers not known this pass", error=str(exc))
            return set()

    async def _sync_metadata(
        self, assigned: list[Assigned], observed: list[Instance], busy: set[str]
    ) -> None:
        """Servers here whose metadata changed at the api since their guest was given it
        (the metadata service reads it from the host) get the new one."""
        driver = self.driver
        if not isinstance(driver, GuestMetadata):
            return
        here = {i.server_id for i in observed}
        for a in assigned:
            sid, wanted = a.server_id, dict(a.metadata)
            if sid not in here or sid in busy or self._metadata.get(sid) == wanted:
                continue
            try:
                await self.calls.run("set_metadata", driver.set_metadata, sid, wanted)
            except InstanceNotFound:
                continue
            except (DriverError, PolyvisorError) as exc:
                log.warning("metadata not updated", server_id=sid, error=str(exc))
                continue
            self._metadata[sid] = wanted
        for gone in set(self._metadata) - here:
            del self._metadata[gone]

    async def _act(self, action: Action) -> None:
        sid = action.server_id
        if action.kind in (ActionKind.POWER_ON, ActionKind.POWER_OFF):
            RECONCILE_ACTIONS.labels(action.kind.value).inc()
            log.info(
                "fixing power drift",
                server_id=sid,
                observed=action.observed.value if action.observed else None,
                action=action.kind.value,
            )
            self.dispatcher.submit(sid, lambda: self._fix_power(action))
        elif action.kind == ActionKind.VANISHED:
            key = (sid, action.generation)
            if key in self._vanished:
                return
            RECONCILE_ACTIONS.labels("vanished").inc()
            log.warning("assigned server vanished from the hypervisor", server_id=sid)
            await self.handler.emit_unsolicited(
                sid,
                EventKind.VANISHED,
                key=f"vanished:{sid}:{action.generation}",
                generation=action.generation,
                instance_name=action.instance_name,
                fault=Fault(
                    FaultCode.VANISHED,
                    "the server disappeared from its hypervisor without being deleted",
                    host=self.host,
                ),
            )
            self._vanished.add(key)
        elif action.kind == ActionKind.UNWANTED:
            if sid not in self._unwanted:
                RECONCILE_ACTIONS.labels("unwanted").inc()
                log.warning(
                    "VM tagged as ours is assigned to no server here",
                    server_id=sid,
                    instance_name=action.instance_name,
                    will_delete=self.delete_unwanted,
                )
                await self.handler.emit_unsolicited(
                    sid,
                    EventKind.UNWANTED,
                    key=f"unwanted:{sid}",
                    power_state=action.observed,
                    instance_name=action.instance_name,
                )
            elif self.delete_unwanted:
                RECONCILE_ACTIONS.labels("deleted_unwanted").inc()
                log.warning("destroying unwanted VM", server_id=sid)
                self.dispatcher.submit(sid, lambda: self._destroy_unwanted(sid))
        elif action.kind == ActionKind.EVACUATED:
            RECONCILE_ACTIONS.labels("evacuated").inc()
            log.warning(
                "destroying the stale copy of a server evacuated from this host",
                server_id=sid,
                instance_name=action.instance_name,
            )
            self.dispatcher.submit(sid, lambda: self._destroy_unwanted(sid))

    async def _fix_power(self, action: Action) -> None:
        sid = action.server_id
        verb = self.driver.power_on if action.kind == ActionKind.POWER_ON else self.driver.power_off
        try:
            inst: Instance = await self.calls.run(action.kind.value, verb, sid)
        except DriverError as exc:
            log.warning("power drift not fixed", server_id=sid, error=str(exc))
            return
        self.handler.last_power[sid] = inst.power_state
        await self.handler.emit_unsolicited(
            sid,
            EventKind.POWER_STATE_CHANGED,
            generation=action.generation,
            power_state=inst.power_state,
            instance_name=inst.name,
        )
        self.on_change()

    async def _destroy_unwanted(self, sid: str) -> None:
        try:
            await self.calls.run("destroy", self.driver.destroy, sid)
        except DriverError as exc:
            log.warning("unwanted VM not destroyed", server_id=sid, error=str(exc))
            return
        await self.cache.release(sid)
        self.on_change()
