"""Waiting for vSphere tasks.

The task's state, error and result are read as three property paths, never as the whole
``TaskInfo``: the whole object carries references (``entity``) some servers fill with types
that do not fit the schema, and it is larger than what we need. The wait polls with a short
backoff: real vCenter tasks take seconds, simulated ones are done at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agentkit.driver import DriverError

__all__ = ["TaskTimeout", "wait_task"]

_PATHS = ("info.state", "info.error", "info.result")
PC = vmodl.query.PropertyCollector


class TaskTimeout(DriverError):
    retryable = True


def wait_task(
    content: vim.ServiceInstanceContent,
    task: vim.Task,
    *,
    timeout: float = 600.0,
    stop: threading.Event | None = None,
) -> Any:
    """The task's result once it succeeds; its fault (a vmodl.MethodFault) raised if it fails."""
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=task, skip=False)],
        propSet=[PC.PropertySpec(type=vim.Task, pathSet=list(_PATHS), all=False)],
    )
    pc = content.propertyCollector
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        found = pc.RetrieveContents([spec])
        props = {p.name: p.val for p in (found[0].propSet if found else ())}
        state = props.get("info.state")
        if state == vim.TaskInfo.State.success:
            return props.get("info.result")
        if state == vim.TaskInfo.State.error:
            error = props.get("info.error")
            if isinstance(error, BaseException):
                raise error
            raise DriverError(f"task {task._moId} failed without a fault")
        if time.monotonic() >= deadline:
            raise TaskTimeout(f"task {task._moId} still {state} after {timeout:.0f}s")
        if stop is not None and stop.wait(delay):
            raise DriverError(f"stopped while waiting for task {task._moId}", retryable=True)
        if stop is None:
            time.sleep(delay)
        delay = min(delay * 2, 0.5)
