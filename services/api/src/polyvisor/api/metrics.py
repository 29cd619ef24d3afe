"""The api's own Prometheus metrics (the gRPC ones come from polyvisor.common)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_APPLIED = Counter(
    "polyvisor_api_events_total",
    "Agent server events consumed, by kind and whether they changed the server",
    ["kind", "outcome"],
)
OUTBOX_DONE = Counter(
    "polyvisor_api_outbox_entries_total",
    "Outbox entries processed, by kind and result (done, retry, dropped)",
    ["kind", "result"],
)
DEADLINES_PASSED = Counter(
    "polyvisor_api_deadlines_passed_total",
    "Transitional states that passed their deadline, by task",
    ["task"],
)
SCHEDULING_SECONDS = Histogram(
    "polyvisor_api_scheduling_seconds",
    "SelectDestinations latency as the api sees it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LIST_PAGES = Counter(
    "polyvisor_api_list_pages_total",
    "Unfiltered ListServers pages, by where their servers came from: the in-memory index "
    "(current as of the request) or a query (the index behind, off or not built yet)",
    ["source"],
)
