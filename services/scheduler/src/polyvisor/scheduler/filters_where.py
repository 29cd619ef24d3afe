"""Filters on where the request says a server may go: a live, enabled host; the forced host,
the ignored hosts and the availability zone; the hosts of the same_host / different_host
hints; the server group's affinity or anti-affinity."""

from __future__ import annotations

import numpy as np

from polyvisor.scheduler.filter_base import FilterContext, HostFilter, in_rows
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import GroupPolicy

__all__ = [
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "DifferentHostFilter",
    "ForceHostFilter",
    "IgnoreHostsFilter",
    "SameHostFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
]


class ComputeFilter(HostFilter):
    """Alive (reports arrive in time, the agent reaches its hypervisor) and enabled."""

    name = "ComputeFilter"

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        passing: np.ndarray = index.alive(ctx.now) & index.enabled
        return passing

    def breakdown(
        self, index: HostIndex, ctx: FilterContext, removed: np.ndarray
    ) -> list[tuple[str, int]]:
        disabled = removed & ~index.enabled
        down = removed & ~disabled
        return [
            ("disabled", int(np.count_nonzero(disabled))),
            ("down", int(np.count_nonzero(down))),
        ]

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        if not index.enabled[row]:
            return f"disabled: {index.disabled_reason[row] or 'no reason given'}"
        if index.last_report[row] <= 0:
            return "down: no report received yet"
        if not index.connected[row]:
            return "down: its agent cannot reach the hypervisor"
        age = ctx.now - float(index.last_report[row])
        return f"down: last report {age:.0f} s ago (timeout {float(index.timeout[row]):.0f} s)"


class ForceHostFilter(HostFilter):
    name = "ForceHostFilter"
    label = "not the forced host"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.force_host)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return in_rows(index.n, [] if ctx.force_row is None else [ctx.force_row])

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        return f"not the forced host {ctx.spec.force_host}"


class IgnoreHostsFilter(HostFilter):
    name = "IgnoreHostsFilter"
    label = "already tried for this request"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.ignore_hosts)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return ~in_rows(index.n, ctx.ignore_rows)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        return "already failed this request (ignore_hosts)"


class AvailabilityZoneFilter(HostFilter):
    name = "AvailabilityZoneFilter"
    label = "other availability zone"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.availability_zone)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return index.mask(("az", ctx.spec.availability_zone))

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        az = index.caps[row].availability_zone or "(none)"
        return f"in availability zone {az}, request asks for {ctx.spec.availability_zone}"


class SameHostFilter(HostFilter):
    name = "SameHostFilter"
    label = "not the host of a same_host server"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.same_host)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return in_rows(index.n, ctx.same_rows)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        if not len(ctx.same_rows):
            return f"none of the same_host servers ({', '.join(ctx.spec.same_host)}) has a host"
        return f"hosts none of the same_host servers ({', '.join(ctx.spec.same_host)})"


class DifferentHostFilter(HostFilter):
    name = "DifferentHostFilter"
    label = "hosts a different_host server"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.different_host)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return ~in_rows(index.n, ctx.different_rows)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        servers = [s for s in ctx.servers_on_row.get(row, []) if s in ctx.spec.different_host]
        return f"hosts server {', '.join(servers)} (different_host)"


class ServerGroupAffinityFilter(HostFilter):
    """Affinity: once a member has a host (already, or earlier in this request), only it."""

    name = "ServerGroupAffinityFilter"
    label = "not the server group's host"

    def applies(self, ctx: FilterContext) -> bool:
        return ctx.spec.group_policy == GroupPolicy.AFFINITY

    def _rows(self, ctx: FilterContext) -> np.ndarray:
        return np.union1d(ctx.group_rows, np.array(ctx.placed_rows, np.int64))

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        rows = self._rows(ctx)
        if not len(rows):
            return np.ones(index.n, bool)
        return in_rows(index.n, rows)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        hosts = ", ".join(index.ids[int(r)] for r in self._rows(ctx))
        return f"server group {ctx.spec.group_id} (affinity): its members run on {hosts}"


class ServerGroupAntiAffinityFilter(HostFilter):
    name = "ServerGroupAntiAffinityFilter"
    label = "hosts a member of the server group"

    def applies(self, ctx: FilterContext) -> bool:
        return ctx.spec.group_policy == GroupPolicy.ANTI_AFFINITY

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        rows = np.union1d(ctx.group_rows, np.array(ctx.placed_rows, np.int64))
        return ~in_rows(index.n, rows)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        members = [s for s in ctx.servers_on_row.get(row, []) if s in ctx.spec.group_members]
        who = f"member {', '.join(members)}" if members else "a member placed by this request"
        return f"runs {who} of server group {ctx.spec.group_id} (anti-affinity)"
