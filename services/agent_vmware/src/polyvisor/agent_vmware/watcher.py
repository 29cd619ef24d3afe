"""Changes to our VMs, pushed by vCenter's PropertyCollector (WaitForUpdatesEx), in one thread.

One filter over a ContainerView of our folder watches ``runtime.powerState``, ``runtime.host``
and ``runtime.connectionState`` (plus ``name``) of every VM in it. The first answer after the
filter is made is the whole current state: that is the full resync after every (re)connect.
Later answers carry only what changed. Each answer becomes a ``Batch`` for the driver, dated
by when it was asked for (an answer may say how things were at any moment of the long poll,
and is handled after that: the runtime must know it can be older than a spawn's end).

The thread owns a PropertyCollector of its own (so its long polls never disturb the
session's collector), waits at most ``watch_wait_s`` per call so it notices a stop, and
reports a dead connection to the session, which reconnects; then the watch starts again.
The long polls go over a connection of their own whose reads give up ``overdue_s`` after
the wait should have ended: a wait vCenter never answers (vcsim's collector can stall under
load while everything else answers) starts the watch anew, with a full resync, instead of
leaving every later change of our VMs unreported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware.faults import fault_text, is_connection_error
from polyvisor.agent_vmware.inventory import Placement
from polyvisor.agent_vmware.session import Conn, Session
from polyvisor.agentkit.driver import DriverError
from polyvisor.common.logging import get_logger

__all__ = ["WATCHED_PATHS", "Batch", "ObjectChange", "VmWatcher", "changes_in"]

log = get_logger(__name__)
PC = vmodl.query.PropertyCollector
WATCHED_PATHS = ("name", "runtime.powerState", "runtime.host", "runtime.connectionState")


@dataclass(frozen=True, slots=True)
class ObjectChange:
    vm: vim.VirtualMachine
    kind: str  # enter, modify, leave
    props: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Batch:
    generation: int
    initial: bool  # the complete picture (after a (re)connect): absent VMs are gone
    changes: tuple[ObjectChange, ...]
    epoch: int  # the driver's registration epoch sampled before the picture was asked for
    observed_at: float = 0.0  # time.monotonic() when the answer (the first, if several) was asked


class VmWatcher:
    def __init__(
        self,
        session: Session,
        ready: Callable[[], tuple[Conn, Placement]],
        on_batch: Callable[[Batch], None],
        epoch: Callable[[], int],
        wait_s: int = 10,
        overdue_s: float = 10.0,
    ) -> None:
        self._session = session
        self._ready = ready
        self._on_batch = on_batch
        self._epoch = epoch
        self._wait_s = wait_s
        self._overdue_s = overdue_s
        self.restarts = 0  # watches started anew after an overdue answer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pc: Any = None  # the collector of the running watch (to cancel its wait)
        self.batches = 0

    def start(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._loop, name="vcenter-watch", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 3.0) -> None:
        """Stop watching: cancel the pending wait, give the thread ``timeout``. Idempotent."""
        self._stop.set()
        pc, self._pc = self._pc, None
        if pc is not None:
            try:
                pc.CancelWaitForUpdates()
            except Exception as e:  # vCenter gone: the wait ends on its own
                log.debug("cancelling the watch failed", error=repr(e))
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._session.wait_connected(1.0) is None:
                continue
            try:
                conn, place = self._ready()
            except DriverError as e:
                log.info("watch waiting for vcenter", error=str(e))
                self._stop.wait(1.0)
                continue
            try:
                self._watch(conn, place)
            except _Overdue as e:
                self.restarts += 1
                log.warning("watch answer overdue, watching anew", error=str(e))
            except Exception as e:
                if self._stop.is_set():
                    return
                if is_connection_error(e):
                    self._session.broken(conn.generation, e)
                else:
                    log.warning("watch failed, starting again", error=fault_text(e))
                    self._stop.wait(1.0)

    def _watch(self, conn: Conn, place: Placement) -> None:
        content = conn.content
        main = conn.si._stub
        pc = content.propertyCollector.CreatePropertyCollector()
        self._pc = pc
        # The long polls, over a connection whose reads are bounded.
        waiter = PC(pc._moId, self._session.side_stub(conn, self._wait_s + self._overdue_s))
        view = content.viewManager.CreateContainerView(place.folder, [vim.VirtualMachine], True)
        dead = False
        try:
            spec = PC.FilterSpec(
                objectSet=[
                    PC.ObjectSpec(
                        obj=view,
                        skip=True,
                        selectSet=[
                            PC.TraversalSpec(
                                name="v", type=vim.view.ContainerView, path="view", skip=False
                            )
                        ],
                    )
                ],
                propSet=[
                    PC.PropertySpec(type=vim.VirtualMachine, pathSet=list(WATCHED_PATHS), all=False)
                ],
            )
            pc.CreateFilter(spec, partialUpdates=True)
            options = PC.WaitOptions(maxWaitSeconds=self._wait_s)
            version = ""
            epoch = self._epoch()
            since = time.monotonic()  # when the initial picture was first asked for
            initial: dict[str, ObjectChange] | None = {}
            while not self._stop.is_set() and self._session.generation == conn.generation:
                asked = time.monotonic()
                try:
                    update = waiter.WaitForUpdatesEx(version, options)
                except TimeoutError as e:  # no answer long after the wait should have ended
                    if self._stop.is_set() or self._session.generation != conn.generation:
                        raise
                    raise _Overdue(
                        f"no answer {self._overdue_s:g}s past a {self._wait_s}s wait"
                    ) from e
                if update is None:
                    if initial is not None:
                        whole = tuple(initial.values())
                        self._deliver(Batch(conn.generation, True, whole, epoch, since))
                        initial = None
                    continue
                version = update.version
                # Bound to the session's stub, not the waiter's: the driver keeps them.
                changes = [
                    ObjectChange(vim.VirtualMachine(c.vm._moId, main), c.kind, c.props)
                    for c in changes_in(update)
                ]
                if initial is not None:
                    for c in changes:
                        if c.kind == "leave":
                            initial.pop(c.vm._moId, None)
                        else:
                            merged = initial.get(c.vm._moId)
                            props = {**merged.props, **c.props} if merged else dict(c.props)
                            initial[c.vm._moId] = ObjectChange(c.vm, "enter", props)
                    if not update.truncated:
                        whole = tuple(initial.values())
                        self._deliver(Batch(conn.generation, True, whole, epoch, since))
                        initial = None
                elif changes:
                    self._deliver(Batch(conn.generation, False, tuple(changes), epoch, asked))
        except Exception as e:
            dead = is_connection_error(e)
            raise
        finally:
            self._pc = None
            _drop_stub(waiter._stub)
            if not dead and self._session.generation == conn.generation:
                for cleanup in (pc.DestroyPropertyCollector, view.DestroyView):
                    try:
                        cleanup()
                    except Exception as e:
                        log.debug("watch cleanup failed", error=repr(e))

    def _deliver(self, batch: Batch) -> None:
        self.batches += 1
        try:
            self._on_batch(batch)
        except Exception:
            log.exception("handling a watch batch failed")


class _Overdue(Exception):
    """A long poll vCenter did not answer long after its wait should have ended."""


def _drop_stub(stub: Any) -> None:
    try:
        stub.DropConnections()
    except Exception as e:
        log.debug("dropping the watch connection failed", error=repr(e))


def changes_in(update: Any) -> list[ObjectChange]:
    """One change per VM: what the answer says each VM is now.

    vCenter's own collector sends the current value of what changed since the last answer;
    vcsim sends every intermediate value (a reset's power-off, then its power-on, in one
    answer). Only the end of an answer is news: folded per VM, in order, a reset that ends
    running is no change at all, instead of a stale power-off reported after the reboot was
    answered. A VM that left is gone, whatever came before in the same answer."""
    folded: dict[str, ObjectChange] = {}
    for fs in update.filterSet or ():
        for os_ in fs.objectSet or ():
            if not isinstance(os_.obj, vim.VirtualMachine):
                continue
            kind = str(os_.kind)
            props: dict[str, Any] = {}
            for ch in os_.changeSet or ():
                props[ch.name] = None if ch.op == "remove" else ch.val
            moref = os_.obj._moId
            earlier = folded.get(moref)
            if earlier is not None and kind != "leave" and earlier.kind != "leave":
                # enter then modify is still an enter, with everything it said
                kind = "enter" if "enter" in (earlier.kind, kind) else kind
                props = {**earlier.props, **props}
            folded[moref] = ObjectChange(os_.obj, kind, props)
    return list(folded.values())
