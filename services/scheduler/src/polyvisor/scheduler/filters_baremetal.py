"""Ironic's rule for bare-metal nodes: a node (a host reporting a resource class) is one
server's worth of resources. It takes one server, of a flavor asking for its class
(``resources:CUSTOM_BAREMETAL_SMALL=1``), and only while it holds none; a flavor asking for
a class goes to free nodes of that class only, and one asking for none never to a node."""

from __future__ import annotations

from collections import Counter

import numpy as np

from polyvisor.scheduler.filter_base import FilterContext, HostFilter
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.resource_classes import (
    requested_class,
    resource_class_label,
    resource_class_name,
)

__all__ = ["ResourceClassFilter"]


def _in_use(index: HostIndex) -> np.ndarray:
    used: np.ndarray = np.any(index.used > 0, axis=1)
    return used


class ResourceClassFilter(HostFilter):
    name = "ResourceClassFilter"

    def applies(self, ctx: FilterContext) -> bool:
        return ctx.baremetal_nodes or requested_class(ctx.spec.extra_specs) is not None

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        want = requested_class(ctx.spec.extra_specs)
        if want is None:
            return index.mask(("rc", ""))
        return index.mask(("rc", want)) & ~_in_use(index)

    def _label(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        want = requested_class(ctx.spec.extra_specs)
        node_class = index.caps[row].resource_class
        if want is None:
            return f"bare-metal nodes of class {node_class}, the flavor asks for no class"
        wanted = resource_class_label(want)
        if not node_class:
            return f"not bare-metal nodes, the flavor asks for class {wanted}"
        if resource_class_name(node_class) != want:
            return f"bare-metal nodes of class {node_class}, the flavor asks for {wanted}"
        return f"bare-metal nodes of class {node_class} already holding a server"

    def breakdown(
        self, index: HostIndex, ctx: FilterContext, removed: np.ndarray
    ) -> list[tuple[str, int]]:
        counts = Counter(self._label(index, ctx, int(r)) for r in np.flatnonzero(removed))
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        label = self._label(index, ctx, row)
        return (
            label.replace("bare-metal nodes", "a bare-metal node", 1)
            .replace("not bare-metal nodes", "not a bare-metal node", 1)
            .replace(" already holding", ", already holding", 1)
        )
