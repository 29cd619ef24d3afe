"""Filters on what a host can run: its hypervisor type, the image's properties (architecture,
hypervisor version), the disk formats it boots, the features the request needs (key
injection, console types, capabilities, physical networks), and free resources."""

from __future__ import annotations

import numpy as np

from polyvisor.scheduler.filter_base import (
    FilterContext,
    HostFilter,
    fmt_mib,
    has_mask,
    hv_label,
)
from polyvisor.scheduler.index import FIT32_MAX, HostIndex
from polyvisor.scheduler.model import DiskFormat, HostCapabilities, HvType

__all__ = [
    "DiskFormatFilter",
    "HostFeaturesFilter",
    "HypervisorTypeFilter",
    "ImagePropertiesFilter",
    "ResourcesFilter",
]


def _hv_mask(index: HostIndex, hv: HvType) -> np.ndarray:
    m = index.mask(("hv", hv))
    if hv == HvType.QEMU:
        m |= index.mask(("hv", HvType.KVM))
    return m


class HypervisorTypeFilter(HostFilter):
    """The request's hypervisor_type hint (a kvm host also serves qemu)."""

    name = "HypervisorTypeFilter"
    label = "wrong hypervisor_type"

    def applies(self, ctx: FilterContext) -> bool:
        return ctx.spec.hypervisor_type != HvType.UNSPECIFIED

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return _hv_mask(index, ctx.spec.hypervisor_type)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        return (
            f"hypervisor_type {hv_label(index.hv_type[row])} does not match the requested "
            f"{ctx.spec.hypervisor_type.label}"
        )


class ImagePropertiesFilter(HostFilter):
    """Nova's ImagePropertiesFilter: some supported (architecture, hypervisor_type, vm_mode)
    triple of the host matches every property the image sets; a kvm host also runs images
    asking for qemu. Plus the image's hypervisor version requirement, if any."""

    name = "ImagePropertiesFilter"

    def _props(self, ctx: FilterContext) -> tuple[str | None, HvType | None, str | None]:
        img = ctx.spec.image
        return (
            img.architecture or None,
            img.hypervisor_type if img.hypervisor_type != HvType.UNSPECIFIED else None,
            img.vm_mode or None,
        )

    def applies(self, ctx: FilterContext) -> bool:
        return any(p is not None for p in self._props(ctx)) or ctx.version_predicate is not None

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        a, h, m = self._props(ctx)
        if a is None and h is None and m is None:
            ok = np.ones(index.n, bool)
        else:
            ok = index.mask(("img", a, h, m))
        if ctx.version_predicate is not None:
            ok &= ctx.version_predicate.mask(index.hv_version)
        return ok

    def breakdown(
        self, index: HostIndex, ctx: FilterContext, removed: np.ndarray
    ) -> list[tuple[str, int]]:
        a, h, m = self._props(ctx)
        rest = removed.copy()
        out: list[tuple[str, int]] = []
        for label, key in (
            ("wrong hypervisor_type", ("img", None, h, None) if h is not None else None),
            ("wrong architecture", ("img", a, None, None) if a is not None else None),
            ("wrong vm_mode", ("img", None, None, m) if m is not None else None),
        ):
            if key is None:
                continue
            bad = rest & ~index.mask(key)
            out.append((label, int(np.count_nonzero(bad))))
            rest &= ~bad
        if a is not None or h is not None or m is not None:
            bad = rest & ~index.mask(("img", a, h, m))
            out.append(("no matching supported instance", int(np.count_nonzero(bad))))
            rest &= ~bad
        out.append(("hypervisor version", int(np.count_nonzero(rest))))
        return out

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        a, h, m = self._props(ctx)
        caps = index.caps[row]
        triples = caps.supported_instances
        if (a or h or m) and not triples:
            return "reports no supported instances"
        if h is not None and not has_mask(index, ("img", None, h, None), row):
            return (
                f"hypervisor_type {hv_label(index.hv_type[row])} does not match image's {h.label}"
            )
        if a is not None and not has_mask(index, ("img", a, None, None), row):
            archs = sorted({t[0] for t in triples})
            return f"architecture {', '.join(archs)} does not match image's {a}"
        if m is not None and not has_mask(index, ("img", None, None, m), row):
            modes = sorted({t[2] for t in triples})
            return f"vm_mode {', '.join(modes)} does not match image's {m}"
        if (a or h or m) and not has_mask(index, ("img", a, h, m), row):
            supported = "; ".join(f"({t[0]}, {t[1].label}, {t[2]})" for t in triples)
            wanted = f"({a or '*'}, {h.label if h else '*'}, {m or '*'})"
            return f"no supported instance matches {wanted}; host supports {supported}"
        version = caps.hypervisor_version or "unknown"
        pred = ctx.version_predicate.text if ctx.version_predicate else ""
        return f"hypervisor version {version} does not satisfy image's {pred}"


class DiskFormatFilter(HostFilter):
    """The host boots one of the formats the image exists in or the image service can make."""

    name = "DiskFormatFilter"
    label = "no usable disk format"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.image.bootable_formats)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        ok = np.zeros(index.n, bool)
        for fmt in ctx.spec.image.bootable_formats:
            m = index.mask_view(("fmt", fmt))
            if m is not None:
                ok |= m
        return ok

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        native = [f.label for f in index.caps[row].native_disk_formats]
        img = ctx.spec.image
        made = sorted(f.label for f in img.bootable_formats)
        original = img.disk_format.label if img.disk_format != DiskFormat.UNSPECIFIED else None
        head = f"boots {', '.join(native)} natively" if native else "reports no native disk format"
        if original:
            return f"{head}; the image is {original} and can only be had as {', '.join(made)}"
        return f"{head}; the image can only be had as {', '.join(made)}"


def _console_name(value: int) -> str:
    return _CONSOLE_NAMES.get(value, f"type {value}")


#: The contract's ConsoleType numbers.
_CONSOLE_NAMES = {1: "VNC", 2: "SPICE", 3: "serial", 4: "WebMKS"}


class HostFeaturesFilter(HostFilter):
    """The host's driver can do what the servers need: inject SSH keys, pass user data, serve
    the console type asked for, implement the optional verbs (capabilities) asked for. Each is
    a trait the agent reports; one more need is one more (label, trait) pair here."""

    name = "HostFeaturesFilter"

    def _needs(self, ctx: FilterContext) -> list[tuple[str, tuple[object, ...]]]:
        """(label, index trait key) per need of the request, in explanation order."""
        r = ctx.spec.requires
        needs: list[tuple[str, tuple[object, ...]]] = []
        if r.key_injection:
            needs.append(("cannot inject SSH keys", ("feature", "key_injection")))
        if r.user_data:
            needs.append(("cannot pass user data", ("feature", "user_data")))
        if r.console_type:
            needs.append(
                (f"no {_console_name(r.console_type)} console", ("console", r.console_type))
            )
        for name in r.capabilities:
            needs.append((f"no {name} capability", ("capability", name)))
        for network, physnet in r.networks:
            needs.append((f"cannot reach network {network}", ("physnet", physnet)))
        if r.security_groups:
            needs.append(("cannot enforce security groups", ("feature", "security_groups")))
        return needs

    def applies(self, ctx: FilterContext) -> bool:
        return bool(ctx.spec.requires)

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        ok = np.ones(index.n, bool)
        for _, key in self._needs(ctx):
            m = index.mask_view(key)
            if m is None:
                return np.zeros(index.n, bool)
            ok &= m
        return ok

    def breakdown(
        self, index: HostIndex, ctx: FilterContext, removed: np.ndarray
    ) -> list[tuple[str, int]]:
        rest = removed.copy()
        out: list[tuple[str, int]] = []
        for label, key in self._needs(ctx):
            bad = rest & ~index.mask(key)
            out.append((label, int(np.count_nonzero(bad))))
            rest &= ~bad
        return out

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        missing = [label for label, key in self._needs(ctx) if not has_mask(index, key, row)]
        hv = hv_label(index.hv_type[row])
        return f"{hv} host {'; '.join(missing) or 'lacks a feature'}"


_RC_NAMES = ("vCPU", "RAM", "disk")


def _amount(col: int, value: int | np.integer) -> str:
    v = int(value)
    if col == 1:
        return fmt_mib(v)
    if col == 2:
        return f"{v} GiB"
    return f"{v} vCPU" if v == 1 else f"{v} vCPUs"


class ResourcesFilter(HostFilter):
    """Free capacity (summed allocations against (total - reserved) * ratio), max_unit (for a
    VMware cluster: the largest single ESXi host), min_unit and step_size, per resource class."""

    name = "ResourcesFilter"

    def applies(self, ctx: FilterContext) -> bool:
        return bool(np.any(ctx.req > 0))

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        r = ctx.req
        ok = np.ones(index.n, bool)
        for col in range(3):
            need = int(r[col])
            if need > 0:  # classes the request does not ask for are not checked
                # fit = min(free, max_unit), kept by the index: one comparison per class,
                # over its int32 copy unless the amount needs more
                ok &= (index.fit_col32(col) if need <= FIT32_MAX else index.fit_col(col)) >= need
        if index.any_odd_units:
            for col in range(3):
                if r[col] > 0:
                    ok &= index.min_unit[:, col] <= r[col]
                    ok &= (r[col] % index.step[:, col]) == 0
        return ok

    def _categories(self, index: HostIndex, ctx: FilterContext) -> list[tuple[str, np.ndarray]]:
        r = ctx.req
        free = index.free
        cats: list[tuple[str, np.ndarray]] = []
        for col in (1, 0, 2):  # RAM first: it is what runs out first in most clouds
            if r[col] <= 0:
                continue
            name = _RC_NAMES[col]
            cats.append((f"not enough {name}", free[:, col] < r[col]))
            over = index.max_unit[:, col] < r[col]
            if col in (0, 1):
                cats.append((f"{name} above a single ESXi host", over & index.has_members))
                cats.append((f"{name} above max_unit", over & ~index.has_members))
            else:
                cats.append((f"{name} above max_unit", over))
            limits = index.min_unit[:, col] > r[col]
            limits |= (r[col] % index.step[:, col]) != 0
            cats.append((f"{name} outside min_unit/step_size", limits))
        return cats

    def breakdown(
        self, index: HostIndex, ctx: FilterContext, removed: np.ndarray
    ) -> list[tuple[str, int]]:
        rest = removed.copy()
        out: list[tuple[str, int]] = []
        for label, bad in self._categories(index, ctx):
            hit = rest & bad
            out.append((label, int(np.count_nonzero(hit))))
            rest &= ~hit
        return out

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        r = ctx.req
        free = index.free[row]
        caps = index.caps[row]
        for col in (1, 0, 2):
            if r[col] <= 0:
                continue
            need = _need(col, r[col])
            if free[col] < r[col]:
                return f"needs {need}, {_amount(col, max(0, free[col]))} free"
            mu = index.max_unit[row, col]
            if mu < r[col]:
                if index.has_members[row] and col in (0, 1):
                    return _esxi_reason(caps, col, int(r[col]), int(free[col]))
                return f"needs {need}, more than one server may take here (max_unit {_amount(col, mu)})"
            if index.min_unit[row, col] > r[col]:
                return (
                    f"needs {need}, below the smallest amount this host hands out "
                    f"({_amount(col, index.min_unit[row, col])})"
                )
            if r[col] % index.step[row, col]:
                return f"needs {need}, not a multiple of {_amount(col, index.step[row, col])}"
        return "not enough resources"


def _need(col: int, value: int | np.integer) -> str:
    return _amount(col, value) if col == 0 else f"{_amount(col, value)} {_RC_NAMES[col]}"


def _esxi_reason(caps: HostCapabilities, col: int, need: int, free: int) -> str:
    cluster = (caps.cluster.name if caps.cluster else "") or "(unnamed)"
    usable = [h for h in caps.members if h.usable]
    if not usable:
        return (
            f"cluster {cluster}: no usable ESXi host "
            f"(all {len(caps.members)} disconnected or in maintenance)"
        )
    if col == 1:
        best = max(usable, key=lambda h: h.free_memory_mb)
        return (
            f"cluster {cluster}: {fmt_mib(free)} free in total but no single ESXi host has "
            f"{fmt_mib(need)} (largest free: {fmt_mib(best.free_memory_mb)} on {best.name})"
        )
    best = max(usable, key=lambda h: h.cpu_threads)
    return (
        f"cluster {cluster}: {free} vCPUs free in total but no single ESXi host has "
        f"{need} threads (largest: {best.cpu_threads} on {best.name})"
    )
