"""The watch: PropertyCollector batches turned into instance changes, across sessions; and the
listing, which reports a change it sees before the watch does."""

from __future__ import annotations

import time
from collections.abc import Callable

from pyVmomi import vim

from polyvisor.agent_vmware.driver_core import (
    _VM_PATHS,
    _extra,
    _vnc_port,
    log,
)
from polyvisor.agent_vmware.driver_registry import Registry
from polyvisor.agent_vmware.ownership import Owner
from polyvisor.agent_vmware.props import container_view, retrieve
from polyvisor.agent_vmware.session import Conn
from polyvisor.agent_vmware.watcher import Batch, VmWatcher
from polyvisor.agentkit.driver import (
    HypervisorUnavailable,
    Instance,
    InstanceChange,
    PowerState,
    Unsubscribe,
)


class Watching(Registry):
    # ------------------------------------------------------------------ Driver: watch

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        with self._lock:
            self._emitters.append(emit)
            if self._watcher is None and not self._closed:
                self._watcher = VmWatcher(
                    self._session,
                    self._ready,
                    self._on_batch,
                    lambda: self._epoch,
                    self.options.watch_wait_s,
                    overdue_s=self.options.probe_timeout_s,
                )
                self._watcher.start()

        def unsubscribe() -> None:
            with self._lock:
                if emit in self._emitters:
                    self._emitters.remove(emit)
                watcher = self._watcher if not self._emitters else None
                if watcher is not None:
                    self._watcher = None
            if watcher is not None:
                watcher.close()

        return unsubscribe

    # ------------------------------------------------------------------ Driver: listing

    def list_instances(self) -> list[Instance]:
        # Not "no VMs" while disconnected: _ready raises HypervisorUnavailable. The watch has
        # already said UNKNOWN for each VM we know; the reconciler must not read absence.
        conn, place = self._ready()
        with self._lock:
            epoch = self._epoch  # what is registered after this is newer than our picture
        asked = time.monotonic()
        changed: list[InstanceChange] = []
        with self._guard(conn):
            rows = container_view(conn.content, place.folder, vim.VirtualMachine, _VM_PATHS)
            found: list[Instance] = []
            for vm, props in rows:
                sid = self._owners.ours(_extra(props), vm=vm._moId)
                if not sid:
                    continue  # another cluster's agent's VM in the shared folder, or no one's
                with self._lock:
                    newer = self._vms.get(sid)
                if newer is not None and newer.epoch > epoch and newer.vm._moId == vm._moId:
                    found.append(self._instance(newer))
                    continue
                host = self._host_name(conn, props.get("runtime.host"), sid)
                rec = self._register(conn, sid, vm, props, host, _vnc_port(props))
                found.append(self._instance(rec))
                if (
                    newer is not None
                    and newer.vm._moId == vm._moId
                    and ((newer.power, newer.host) != (rec.power, rec.host))
                ):
                    # Seen here first (a VM powered off outside): the watch's answer, handled
                    # after this, finds nothing new in the record, so it is reported from here.
                    changed.append(InstanceChange(sid, rec.power, rec.host, observed_at=asked))
        seen = {i.server_id for i in found}
        with self._lock:
            gone = [s for s, rec in self._vms.items() if s not in seen and rec.epoch <= epoch]
        for sid in gone:  # (a spawn that finished meanwhile is not "gone")
            self._unregister(sid)
        self._emit(changed)
        return found

    def _emit(self, changes: list[InstanceChange]) -> None:
        with self._lock:
            emitters = list(self._emitters)
        for change in changes:
            for emit in emitters:
                try:
                    emit(change)
                except Exception:
                    log.exception("emitting an instance change failed", server_id=change.server_id)

    def _on_session(self, connected: bool, generation: int) -> None:
        if connected:
            self.images.forget_all()  # a rebuilt vCenter may have lost the datastore files
            return
        with self._lock:
            for rec in self._vms.values():
                rec.stale = True
            changes = [
                InstanceChange(sid, PowerState.UNKNOWN, rec.host) for sid, rec in self._vms.items()
            ]
        self._emit(changes)

    def _on_batch(self, batch: Batch) -> None:
        try:
            conn = self._session.current()
        except HypervisorUnavailable:
            return
        if conn.generation != batch.generation:
            return
        # What the batch says is as old as the question: never newer than a verb's answer
        # that ended after it was asked (the runtime looks again instead).
        seen = batch.observed_at
        out: list[InstanceChange] = []
        with self._guard(conn):
            current = self._by_moref_current(conn)
            with self._lock:
                foreign = set(self._foreign)
            # Another agent's VM that moved to another ESXi host may have been handed over
            # to us (tagged with our host id before it moved, ``driver_move``): read again.
            moved = {c.vm._moId for c in batch.changes if "runtime.host" in c.props}
            unknown = [
                c.vm
                for c in batch.changes
                if c.kind != "leave"
                and c.vm._moId not in current
                and (c.vm._moId not in foreign or c.vm._moId in moved)
            ]
            tags: dict[str, str] = {}
            not_ours: set[str] = set()
            for vm, props in retrieve(conn.content, unknown, vim.VirtualMachine, _VM_PATHS):
                extra = _extra(props)
                sid: str | None = self._owners.ours(extra, vm=vm._moId)
                if sid:
                    tags[vm._moId] = sid
                elif self._owners.owner(extra) is not Owner.NOBODY:
                    # Tagged, and not ours: skip it from now on. A VM without our tags yet
                    # may be one of our spawns half made (its extraConfig still empty):
                    # looked at again on its next change.
                    not_ours.add(vm._moId)
            with self._lock:
                self._foreign |= not_ours
                self._foreign -= set(tags)
                self._foreign -= {c.vm._moId for c in batch.changes if c.kind == "leave"}
            present: set[str] = set()
            for change in batch.changes:
                moref = change.vm._moId
                with self._lock:
                    sid = self._by_moref.get(moref) if moref not in tags else tags[moref]
                    rec = self._vms.get(sid) if sid else None
                if not sid:
                    continue
                if change.kind == "leave":
                    if rec is not None and rec.vm._moId == moref:
                        self._unregister(sid)
                        out.append(
                            InstanceChange(
                                sid, PowerState.NOSTATE, rec.host, vanished=True, observed_at=seen
                            )
                        )
                    continue
                present.add(sid)
                props = change.props
                host = rec.host if rec is not None else ""
                if "runtime.host" in props:
                    host = self._host_name(conn, props["runtime.host"], sid)
                before = rec.power if rec is not None else None
                new = self._register(conn, sid, change.vm, props, host)
                if batch.initial or before != new.power or rec is None or rec.host != host:
                    out.append(InstanceChange(sid, new.power, host, observed_at=seen))
            if batch.initial:
                with self._lock:
                    gone = [
                        rec for sid, rec in self._vms.items()
                        if sid not in present and rec.epoch <= batch.epoch
                    ]  # fmt: skip
                for rec in gone:
                    self._unregister(rec.server_id)
                    sid = rec.server_id
                    out.append(InstanceChange(sid, PowerState.NOSTATE, rec.host, True, seen))
        self._emit(out)

    def _by_moref_current(self, conn: Conn) -> set[str]:
        with self._lock:
            return {
                moref
                for moref, sid in self._by_moref.items()
                if (rec := self._vms.get(sid)) is not None and rec.generation == conn.generation
            }
