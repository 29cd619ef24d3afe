"""The scheduler's domain service: host reports in, placements out, claims in PostgreSQL.

    scheduler = Scheduler(HostIndex(60.0), Store(pool), SchedulerConfig())
    await scheduler.load()                       # providers and usage from the database
    await scheduler.apply_report(report)         # from the bus
    placement = await scheduler.select_destinations(spec)
    await scheduler.release_claim(consumer_id, build_failed=True)

Selecting runs the filters over the whole index at once (numpy), weighs the survivors, and
claims the best with a compare-and-swap on the provider's generation. A lost compare-and-swap
(another replica, or another request of this one, changed the provider) reloads that provider
from the database and tries it again if it still fits, else the next best; after the ranked
candidates are exhausted the filters run again on the refreshed index, a few times, before the
request is refused with an explanation.

Other replicas' claims reach this index three ways: a lost compare-and-swap (that provider,
at once), the periodic refresh (providers whose row changed since the last refresh, and all of
them every `full_refresh_s`), and the claim's own answer (the provider's new sums).
"""

from __future__ import annotations

from polyvisor.scheduler.scheduling.host_check import HostCheck
from polyvisor.scheduler.scheduling.ingest import Ingest
from polyvisor.scheduler.scheduling.placer import Placer
from polyvisor.scheduler.scheduling.providers import Providers


class Scheduler(Ingest, Placer, Providers, HostCheck):
    """The scheduler's domain service, assembled from its parts over one shared state."""
