"""What every part of the scheduler shares: its configuration, its metrics, and the state
(index, store, claim locks) the parts work on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from polyvisor.common.logging import get_logger
from polyvisor.scheduler import renditions
from polyvisor.scheduler.filters import (
    HostFilter,
    default_filters,
)
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import (
    ImageRequirements,
    ProviderRecord,
    Resources,
    Selection,
)
from polyvisor.scheduler.store import Store
from polyvisor.scheduler.weighers import WeigherConfig

log = get_logger(__name__)

SELECTIONS = Counter(
    "polyvisor_scheduler_selections_total",
    "SelectDestinations outcomes per instance",
    ["outcome"],
)
CLAIM_RESULTS = Counter(
    "polyvisor_scheduler_claims_total",
    "Claim attempts against the database, by outcome",
    ["outcome"],
)
HOSTS = Gauge(
    "polyvisor_scheduler_hosts",
    "Hosts in this replica's index, by state (refreshed with the refresh loop)",
    ["state"],
)
REPORTS_DROPPED = Counter(
    "polyvisor_scheduler_host_reports_dropped_total",
    "Host reports not applied, by reason",
    ["reason"],  # duplicate, stale (ordering), undecodable, no_host_id (the feed)
)
FILTER_SECONDS = Histogram(
    "polyvisor_scheduler_filter_weigh_seconds",
    "Filter and weigh time for one instance (all hosts)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    weighers: WeigherConfig = field(default_factory=WeigherConfig)
    #: Alternates returned per instance when the request does not say.
    default_alternates: int = 2
    #: Candidates ranked beyond the primary and its alternates, tried when claims conflict.
    extra_candidates: int = 6
    #: Filter-weigh-claim rounds before a request is refused.
    claim_rounds: int = 4
    #: Build failures within this window weigh a host down.
    failure_window_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ProviderView:
    """A provider for listing: the database's record plus liveness from the index."""

    record: ProviderRecord
    up: bool
    last_report_at: float


class SchedulerBase:
    """What every part of the scheduler shares: the index, the store, the claim locks."""

    def __init__(
        self,
        index: HostIndex,
        store: Store,
        config: SchedulerConfig | None = None,
        *,
        filters: Sequence[HostFilter] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.config = config or SchedulerConfig()
        self.filters = list(filters) if filters is not None else default_filters()
        self.rng = rng if rng is not None else np.random.default_rng()
        self._persisted: dict[str, tuple[object, ...]] = {}
        self._watermark = 0
        self._report_lock = asyncio.Lock()
        self._claim_locks: dict[int, asyncio.Lock] = {}

    def _selection(
        self, row: int, req: np.ndarray, weight: float, image: ImageRequirements | None = None
    ) -> Selection:
        """The answer for one host; with the image, the rendition that host boots."""
        idx = self.index
        caps = idx.caps[row]
        return Selection(
            host=idx.ids[row],
            hostname=idx.hostnames[row],
            hypervisor_type=caps.hypervisor_type,
            availability_zone=caps.availability_zone,
            allocation=Resources.of([int(x) for x in req]),
            provider_generation=int(idx.generation[row]),
            weight=weight,
            rendition=renditions.choose(caps.disk_formats, image) if image is not None else None,
        )
