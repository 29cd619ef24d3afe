"""What every host filter builds on: the request as the filters see it (`FilterContext`), the
`HostFilter` interface (see `filters`), and the small helpers their reasons share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import HvType, RequestSpec
from polyvisor.scheduler.traits import VersionPredicate

__all__ = ["FilterContext", "HostFilter", "fmt_mib", "has_mask", "hv_label", "in_rows"]


def fmt_mib(mib: int | np.integer) -> str:
    """4096 -> "4 GiB", 1536 -> "1.5 GiB", 700 -> "700 MiB"."""
    m = int(mib)
    if abs(m) < 1024:
        return f"{m} MiB"
    gib = m / 1024
    return f"{gib:.0f} GiB" if m % 1024 == 0 else f"{gib:.1f} GiB"


def hv_label(t: int) -> str:
    try:
        return HvType(t).label
    except ValueError:
        return f"type {t}"


@dataclass(slots=True)
class FilterContext:
    """One request as the filters see it, with the server ids of the hints resolved to rows."""

    spec: RequestSpec
    #: Per-instance resources, VCPU, MEMORY_MB, DISK_GB.
    req: np.ndarray
    now: float
    version_predicate: VersionPredicate | None = None
    #: Rows hosting the servers named in same_host / different_host / the server group.
    same_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    different_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    group_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: row -> the servers (of the hints or the group) it hosts, for the reasons.
    servers_on_row: dict[int, list[str]] = field(default_factory=dict)
    force_row: int | None = None
    ignore_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Rows this request already claimed (multi-instance requests with a server group).
    placed_rows: list[int] = field(default_factory=list)
    #: Some host runs vm_mode exe (containers): the ContainerHostFilter has work to do.
    exe_hosts: bool = False
    #: Whether some host is a bare-metal node (reports a resource class).
    baremetal_nodes: bool = False

    @classmethod
    def build(
        cls,
        index: HostIndex,
        spec: RequestSpec,
        *,
        now: float | None = None,
        hosts_of: dict[str, str] | None = None,
    ) -> FilterContext:
        """`hosts_of` maps the hint and group server ids to their provider ids."""
        hosts_of = hosts_of or {}
        req = np.array(spec.resources.as_tuple(), np.int64)
        pred = None
        if spec.image.hypervisor_version_requires:
            pred = VersionPredicate.parse(spec.image.hypervisor_version_requires)
        ctx = cls(spec=spec, req=req, now=index.clock() if now is None else now)
        ctx.version_predicate = pred
        ctx.exe_hosts = index.mask_view(("img", None, None, "exe")) is not None
        shared = index.mask_view(("rc", ""))
        ctx.baremetal_nodes = index.n > 0 and (shared is None or not bool(shared.all()))

        def rows_of(servers: Sequence[str]) -> np.ndarray:
            if not servers:
                return np.zeros(0, np.int64)
            rows: list[int] = []
            for sid in servers:
                host = hosts_of.get(sid)
                row = index.row(host) if host else None
                if row is not None:
                    rows.append(row)
                    ctx.servers_on_row.setdefault(row, []).append(sid)
            return np.unique(np.array(rows, np.int64))

        ctx.same_rows = rows_of(spec.same_host)
        ctx.different_rows = rows_of(spec.different_host)
        ctx.group_rows = rows_of(spec.group_members)
        if spec.force_host:
            ctx.force_row = index.row(spec.force_host)
        if spec.ignore_hosts:
            ignore = [index.row(h) for h in spec.ignore_hosts]
            ctx.ignore_rows = np.array([r for r in ignore if r is not None], np.int64)
        return ctx


class HostFilter:
    name = "HostFilter"
    #: Short label for the summary when the filter has no finer breakdown.
    label = "rejected"

    def applies(self, ctx: FilterContext) -> bool:
        return True

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        raise NotImplementedError

    def breakdown(
        self, index: HostIndex, ctx: FilterContext, removed: np.ndarray
    ) -> list[tuple[str, int]]:
        return [(self.label, int(np.count_nonzero(removed)))]

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        return self.label


def in_rows(n: int, rows: np.ndarray | Sequence[int]) -> np.ndarray:
    m = np.zeros(n, bool)
    if len(rows):
        m[np.asarray(rows, np.int64)] = True
    return m


def has_mask(index: HostIndex, key: tuple[object, ...], row: int) -> bool:
    m = index.mask_view(key)
    return bool(m is not None and m[row])
