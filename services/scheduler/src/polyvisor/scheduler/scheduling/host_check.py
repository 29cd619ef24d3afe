"""One host against the image filters, claiming nothing: a rebuild stays on its host, so the
only question is whether that host can run the new image (hypervisor type, the image's
properties, a disk format it boots). The answer is an explanation in the same shape as a
placement's "no valid host", for that one host."""

from __future__ import annotations

import numpy as np

from polyvisor.scheduler.explain import summary_line
from polyvisor.scheduler.filters import (
    DiskFormatFilter,
    FilterContext,
    HypervisorTypeFilter,
    ImagePropertiesFilter,
)
from polyvisor.scheduler.model import Explanation, FilterReport, Rejection, RequestSpec
from polyvisor.scheduler.scheduling.core import SchedulerBase

__all__ = ["IMAGE_FILTERS", "HostCheck"]

IMAGE_FILTERS = (HypervisorTypeFilter, ImagePropertiesFilter, DiskFormatFilter)


class HostCheck(SchedulerBase):
    def check_host(self, spec: RequestSpec, host: str) -> Explanation | None:
        """None when `host` can run the image `spec` names; otherwise why not."""
        row = self.index.row(host)
        if row is None:
            return Explanation(0, (), f"host {host} is not known to the scheduler")
        ctx = FilterContext.build(self.index, spec)
        only = np.zeros(self.index.n, bool)
        only[row] = True
        reports: list[FilterReport] = []
        reasons: list[str] = []
        for f in self.filters:
            if not isinstance(f, IMAGE_FILTERS) or not f.applies(ctx):
                continue
            if f.passes(self.index, ctx)[row]:
                reports.append(FilterReport(f.name, 1, 0))
                continue
            reason = f.reason(self.index, ctx, row)
            reasons.append(reason)
            breakdown = tuple((lbl, c) for lbl, c in f.breakdown(self.index, ctx, only) if c)
            reports.append(FilterReport(f.name, 1, 1, (Rejection(host, reason),), breakdown))
        if not reasons:
            return None
        what = f"image {spec.image.image_id}" if spec.image.image_id else "the image"
        note = f"{host} cannot run {what}: {'; '.join(reasons)}"
        return Explanation(1, tuple(reports), summary_line(1, reports, note))
