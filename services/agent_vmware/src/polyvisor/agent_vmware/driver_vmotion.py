"""vMotion between the clusters of one vCenter (the agentkit ``live_migrate`` capability): a
running VM relocated into the destination cluster's resource pool, an ESXi host and a
datastore of it, and handed over to the destination's agent (``driver_move._hand_over``: the
ownership tag first, then RelocateVM; a failed or cancelled relocation tags it back and the VM
runs on where it was). Within a cluster DRS places VMs on ESXi hosts; no verb is needed there.

Progress is the relocation task's (``info.progress``, percent) reported as 0..100 "bytes";
``abort_migration`` cancels the task (CancelTask), from another thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware.driver_core import log
from polyvisor.agent_vmware.driver_move import Moving
from polyvisor.agent_vmware.peers import find_peer
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agent_vmware.session import Conn
from polyvisor.agent_vmware.tasks import TaskTimeout
from polyvisor.agentkit.driver import DriverError, Instance
from polyvisor.agentkit.migrate_capabilities import (
    MigrationProgress,
    MigrationTarget,
    ProgressCallback,
)

__all__ = ["VMotion"]

_TASK_PATHS = ["info.state", "info.progress", "info.error", "info.cancelled"]


class VMotion(Moving):
    """The ``live_migrate`` capability of ``VmwareDriver`` (mixed into it)."""

    def live_migrate(
        self, server_id: str, dest: MigrationTarget, progress: ProgressCallback
    ) -> Instance:
        conn, place = self._ready()
        if dest.host == self.host_id:
            with self._guard(conn):
                return self._read_instance(conn, server_id, self._require(conn, place, server_id))
        table = self._motions
        abort = threading.Event()
        with self._lock:
            table[server_id] = (None, abort)
        try:
            with self._guard(conn):
                vm = self._find(conn, place, server_id)
                if vm is None:
                    return self._moved_already(conn, place, server_id, dest.host, reverted=True)
                peer = find_peer(conn.content, dest.host)
                power = (retrieve_one(conn.content, vm, ["runtime.powerState"]) or {}).get(
                    "runtime.powerState"
                )
                if power != "poweredOn":
                    raise DriverError(f"VM {server_id} is {power}: only a running VM moves live")
                progress(MigrationProgress(0, 100))

                def wait(task: vim.Task) -> None:
                    with self._lock:
                        table[server_id] = (task, abort)
                    if abort.is_set():
                        task.CancelTask()
                    self._follow(conn, task, abort, progress)

                self._hand_over(conn, place, server_id, vm, peer, "", wait=wait)
                progress(MigrationProgress(100, 100))
                log.info("VM moved live", server_id=server_id, dest_host=dest.host)
                return self._read_instance(conn, server_id, vm)
        finally:
            with self._lock:
                table.pop(server_id, None)

    def abort_migration(self, server_id: str) -> bool:
        with self._lock:
            running = self._motions.get(server_id)
        if running is None:
            return False
        task, abort = running
        abort.set()
        if task is not None:
            try:
                task.CancelTask()
            except Exception as e:  # done meanwhile, or not cancellable any more
                log.info("relocation not cancelled", server_id=server_id, error=str(e))
        return True

    def _follow(
        self, conn: Conn, task: vim.Task, abort: threading.Event, progress: ProgressCallback
    ) -> None:
        """Wait for the relocation, reporting its percent; a cancelled one raises."""
        deadline = time.monotonic() + self.options.task_timeout_s
        last = -1
        delay = 0.05
        while True:
            props: dict[str, Any] = retrieve_one(conn.content, task, _TASK_PATHS) or {}
            state = props.get("info.state")
            if state == vim.TaskInfo.State.success:
                return
            if state == vim.TaskInfo.State.error:
                error = props.get("info.error")
                if abort.is_set() or props.get("info.cancelled"):
                    raise DriverError("the live migration was aborted")
                if isinstance(error, BaseException):
                    raise error
                raise DriverError(f"relocation task {task._moId} failed without a fault")
            percent = int(props.get("info.progress") or 0)
            if percent != last:
                last = percent
                progress(MigrationProgress(percent, 100))
            if time.monotonic() >= deadline:
                raise TaskTimeout(f"relocation still {state} after {self.options.task_timeout_s}s")
            abort.wait(delay)
            delay = min(delay * 2, 0.5)
