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

__all__ = ["TaskTimeout", "wait_task", "wait_task_then_read"]

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
    return _wait(content, task, None, (), timeout, stop)[0]


def wait_task_then_read(
    content: vim.ServiceInstanceContent,
    task: vim.Task,
    obj: Any,
    paths: tuple[str, ...],
    *,
    timeout: float = 600.0,
) -> tuple[Any, dict[str, Any] | None]:
    """Wait for ``task`` and read ``paths`` of ``obj`` in the same round trips.

    The properties returned are those read together with the task's final state (None when
    ``obj`` is gone)."""
    return _wait(content, task, obj, paths, timeout, None)


def _wait(
    content: vim.ServiceInstanceContent,
    task: vim.Task,
    obj: Any,
    paths: tuple[str, ...],
    timeout: float,
    stop: threading.Event | None,
) -> tuple[Any, dict[str, Any] | None]:
    objects = [PC.ObjectSpec(obj=task, skip=False)]
    props_specs = [PC.PropertySpec(type=vim.Task, pathSet=list(_PATHS), all=False)]
    if obj is not None:
        objects.append(PC.ObjectSpec(obj=obj, skip=False))
        props_specs.append(PC.PropertySpec(type=type(obj), pathSet=list(paths), all=False))
    spec = PC.FilterSpec(objectSet=objects, propSet=props_specs, reportMissingObjectsInResults=True)
    pc = content.propertyCollector
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        found = pc.RetrieveContents([spec])
        props: dict[str, Any] = {}
        other: dict[str, Any] | None = None
        for oc in found or ():
            values = {p.name: p.val for p in oc.propSet or ()}
            if isinstance(oc.obj, vim.Task):
                props = values
            elif values:
                other = values
        state = props.get("info.state")
        if state == vim.TaskInfo.State.success:
            return props.get("info.result"), other
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
