"""Why no host fits: per filter, in the order they applied, how many hosts it removed, a few
examples with the reason, and one summary line.

Computed from the filters' masks (counts and the per-label breakdown are vectorised); only the
handful of example hosts get a sentence each. Examples show near misses first (hosts only
that filter refused), then distinct reasons, so
"7 hosts: hypervisor_type kvm ..." and "cluster C1: 64 GiB free in total ..." both appear when
both happened.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polyvisor.scheduler.filters import FilterContext, HostFilter
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import Explanation, FilterReport, Rejection

__all__ = ["MAX_EXAMPLES", "explain", "run_filters", "summary_line"]

#: Example hosts per filter.
MAX_EXAMPLES = 3
#: Removed hosts looked at to find distinct reasons.
_SAMPLE = 64


def run_filters(
    index: HostIndex, ctx: FilterContext, filters: Sequence[HostFilter]
) -> tuple[np.ndarray, list[tuple[HostFilter, np.ndarray]]]:
    """AND of the applicable filters' masks, and each (filter, mask) in order."""
    ok = np.ones(index.n, bool)
    masks: list[tuple[HostFilter, np.ndarray]] = []
    for f in filters:
        if not f.applies(ctx):
            continue
        m = f.passes(index, ctx)
        masks.append((f, m))
        ok &= m
    return ok, masks


def _examples(
    index: HostIndex,
    ctx: FilterContext,
    f: HostFilter,
    removed: np.ndarray,
    near_miss: np.ndarray,
) -> tuple[Rejection, ...]:
    # Near misses first: hosts that every other filter accepts, where this filter alone
    # stood in the way. They are the ones an operator can act on (enable the host in the
    # zone asked for, not some disabled host in another zone).
    rows = np.concatenate(
        (np.flatnonzero(removed & near_miss), np.flatnonzero(removed & ~near_miss))
    )[:_SAMPLE]
    by_reason: dict[str, list[str]] = {}
    for row in rows:
        text = f.reason(index, ctx, int(row))
        by_reason.setdefault(text, []).append(index.ids[int(row)])
    # Distinct reasons first (one host each), then more hosts of the first reasons.
    picked: list[Rejection] = []
    for text, hosts in by_reason.items():
        if len(picked) == MAX_EXAMPLES:
            break
        picked.append(Rejection(hosts[0], text))
    depth = 1
    while len(picked) < MAX_EXAMPLES:
        added = False
        for text, hosts in by_reason.items():
            if len(picked) == MAX_EXAMPLES:
                break
            if depth < len(hosts):
                picked.append(Rejection(hosts[depth], text))
                added = True
        if not added:
            break
        depth += 1
    return tuple(picked)


def explain(
    index: HostIndex,
    ctx: FilterContext,
    masks: Sequence[tuple[HostFilter, np.ndarray]],
    *,
    note: str = "",
) -> Explanation:
    remaining = np.ones(index.n, bool)
    reports: list[FilterReport] = []
    # others_ok[k]: the hosts every filter but the k-th accepts (prefix AND suffix products).
    prefix = [np.ones(index.n, bool)]
    for _, m in masks:
        prefix.append(prefix[-1] & m)
    suffix = [np.ones(index.n, bool)]
    for _, m in reversed(masks):
        suffix.append(suffix[-1] & m)
    suffix.reverse()
    for k, (f, m) in enumerate(masks):
        before = int(np.count_nonzero(remaining))
        removed = remaining & ~m
        count = int(np.count_nonzero(removed))
        examples: tuple[Rejection, ...] = ()
        breakdown: tuple[tuple[str, int], ...] = ()
        if count:
            examples = _examples(index, ctx, f, removed, prefix[k] & suffix[k + 1])
            breakdown = tuple((lbl, c) for lbl, c in f.breakdown(index, ctx, removed) if c)
        reports.append(FilterReport(f.name, before, count, examples, breakdown))
        remaining &= m
    return Explanation(index.n, tuple(reports), summary_line(index.n, reports, note))


def summary_line(total: int, reports: Sequence[FilterReport], note: str = "") -> str:
    """ "12 hosts: 7 wrong hypervisor_type, 5 not enough RAM"."""
    if total == 0:
        return "no hosts known to the scheduler (no agent has reported yet)"
    parts = [f"{c} {label}" for r in reports for label, c in r.breakdown]
    noun = "host" if total == 1 else "hosts"
    line = f"{total} {noun}: {', '.join(parts)}" if parts else f"{total} {noun}"
    return f"{line}; {note}" if note else line
