"""Host filters, each a vectorised test over the whole HostIndex.

A filter answers three questions:

- `passes(index, ctx)`: a boolean array, True for the hosts it keeps (numpy, no Python loop
  over hosts);
- `breakdown(index, ctx, removed)`: how many of the removed hosts fall under each short label
  ("wrong hypervisor_type": 7), also vectorised, for the one-line summary;
- `reason(index, ctx, row)`: the sentence for one removed host, used for a few examples only.

Order matters for the explanation (each filter is charged with the hosts it removes from what
the previous ones kept): `default_filters()` gives the order the scheduler applies.

The filters are in `filters_where` (where the request lets a server go) and `filters_fit`
(what a host can run), over `filter_base`.
"""

from __future__ import annotations

from polyvisor.scheduler.filter_base import FilterContext, HostFilter, fmt_mib
from polyvisor.scheduler.filters_baremetal import ResourceClassFilter
from polyvisor.scheduler.filters_fit import (
    DiskFormatFilter,
    HostFeaturesFilter,
    HypervisorTypeFilter,
    ImagePropertiesFilter,
    ResourcesFilter,
)
from polyvisor.scheduler.filters_mode import ContainerHostFilter
from polyvisor.scheduler.filters_where import (
    AvailabilityZoneFilter,
    ComputeFilter,
    DifferentHostFilter,
    ForceHostFilter,
    IgnoreHostsFilter,
    SameHostFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)

__all__ = [
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "ContainerHostFilter",
    "DifferentHostFilter",
    "DiskFormatFilter",
    "FilterContext",
    "ForceHostFilter",
    "HostFeaturesFilter",
    "HostFilter",
    "HypervisorTypeFilter",
    "IgnoreHostsFilter",
    "ImagePropertiesFilter",
    "ResourceClassFilter",
    "ResourcesFilter",
    "SameHostFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
    "default_filters",
    "fmt_mib",
]


def default_filters() -> list[HostFilter]:
    """The filters in the order they apply."""
    return [
        ComputeFilter(),
        ForceHostFilter(),
        IgnoreHostsFilter(),
        AvailabilityZoneFilter(),
        HypervisorTypeFilter(),
        ImagePropertiesFilter(),
        ContainerHostFilter(),
        DiskFormatFilter(),
        HostFeaturesFilter(),
        ResourceClassFilter(),
        ResourcesFilter(),
        SameHostFilter(),
        DifferentHostFilter(),
        ServerGroupAffinityFilter(),
        ServerGroupAntiAffinityFilter(),
    ]
