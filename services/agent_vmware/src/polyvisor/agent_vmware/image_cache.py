"""Aging of the base disks cached on datastores, as Nova's VMware image cache manager does it.

Each base disk is a folder ``[ds] <cache folder>/<image key>/`` (``image_store``). A sweep
reads every such folder on the cluster's datastores and the image keys in use: named by a VM
of the datacenter (extraConfig ``polyvisor.base_disk``, set at spawn; any agent's VM, since
agents of several clusters may share datastores) or ensured by this process within the age.

- a base in use loses its timestamp marker, if it has one;
- an unused base without a marker gets one: a folder ``ts-<unix seconds>`` inside it (a
  timestamp on the datastore itself, so it outlives the agent and is shared by replicas);
- an unused base whose marker is older than the age is deleted, folder and all.

So a base is deleted only after it was seen unused, then stayed unused for the whole age. A VM
owns a *copy* of its base (CopyVirtualDisk), so deleting a base breaks nothing: the next spawn
of that image uploads it again. The age is ``POLYVISOR_VMWARE_IMAGE_CACHE_MAX_AGE_S`` (0: never
sweep); the lease holder sweeps every ``POLYVISOR_VMWARE_IMAGE_CACHE_SWEEP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from polyvisor.common.logging import get_logger

__all__ = ["MARKER_PREFIX", "CacheSweeper", "SweepPlan", "SweepReport", "marker", "plan_sweep"]

log = get_logger(__name__)

MARKER_PREFIX = "ts-"
_MARKER = re.compile(r"^ts-(\d{1,12})$")


def marker(now: float) -> str:
    return f"{MARKER_PREFIX}{int(now)}"


def marker_time(name: str) -> int | None:
    m = _MARKER.match(name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class SweepPlan:
    mark: tuple[str, ...] = ()  # keys to give a marker (now)
    unmark: tuple[tuple[str, str], ...] = ()  # (key, marker folder name) to remove
    delete: tuple[str, ...] = ()  # keys whose folder goes


def plan_sweep(
    entries: Mapping[str, Sequence[str]], in_use: Collection[str], now: float, max_age_s: float
) -> SweepPlan:
    """What to do with the base folders ``entries`` (key -> the names of the folders inside
    it) of one datastore. ``max_age_s`` > 0."""
    mark: list[str] = []
    unmark: list[tuple[str, str]] = []
    delete: list[str] = []
    for key in sorted(entries):
        stamps = [(t, n) for n in entries[key] if (t := marker_time(n)) is not None]
        if key in in_use:
            unmark.extend((key, n) for _, n in stamps)
        elif not stamps:
            mark.append(key)
        elif now - min(t for t, _ in stamps) > max_age_s:
            delete.append(key)
    return SweepPlan(tuple(mark), tuple(unmark), tuple(delete))


@dataclass(slots=True)
class SweepReport:
    """What one sweep did, as (datastore, key) pairs."""

    marked: list[tuple[str, str]] = field(default_factory=list)
    unmarked: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    in_use: list[tuple[str, str]] = field(default_factory=list)


class CacheSweeper:
    """The periodic sweep, owned by the lease holder's runtime: ``run()`` until cancelled.

    The sweep runs in a thread (pyVmomi blocks); a cancel sets its stop event, so it ends after
    the vCenter call under way, and waits for that: nothing keeps deleting once stopped."""

    def __init__(self, sweep: Callable[[threading.Event], object], interval_s: float) -> None:
        self._sweep = sweep
        self.interval_s = interval_s
        self.sweeps = 0

    def _once(self, stop: threading.Event) -> None:
        try:
            self._sweep(stop)
        except Exception as e:  # vCenter away, a datastore gone: the next sweep tries again
            log.warning("image cache sweep failed", error=str(e))
        self.sweeps += 1

    async def run(self) -> None:
        stop = threading.Event()
        while True:
            await asyncio.sleep(self.interval_s)
            step = asyncio.ensure_future(asyncio.to_thread(self._once, stop))
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                stop.set()
                await asyncio.gather(step, return_exceptions=True)
                raise
