"""Prometheus metrics of the agent runtime (served by the service's /metrics endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "COMMANDS",
    "COMMAND_SECONDS",
    "DRIVER_CALLS",
    "DRIVER_CALL_SECONDS",
    "EVENTS_PUBLISHED",
    "HOST_REPORTS",
    "HOST_REPORTS_DROPPED",
    "IMAGE_CACHE_BYTES",
    "IMAGE_DOWNLOADS",
    "IMAGE_DOWNLOAD_BYTES",
    "RECONCILE_ACTIONS",
    "RECONCILE_RUNS",
    "UNWANTED_INSTANCES",
]

_LATENCY = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

COMMANDS = Counter(
    "polyvisor_agent_commands_total",
    "Commands taken from the agent's subject, by verb and outcome",
    ["verb", "outcome"],  # outcome: ok, failed, stale, duplicate, expired, retry, invalid
)
COMMAND_SECONDS = Histogram(
    "polyvisor_agent_command_seconds",
    "Time from taking a command to acknowledging it",
    ["verb"],
    buckets=_LATENCY,
)
DRIVER_CALLS = Counter(
    "polyvisor_agent_driver_calls_total", "Driver verbs called", ["verb", "outcome"]
)
DRIVER_CALL_SECONDS = Histogram(
    "polyvisor_agent_driver_call_seconds", "Driver verb latency", ["verb"], buckets=_LATENCY
)
EVENTS_PUBLISHED = Counter(
    "polyvisor_agent_events_published_total", "Server events published", ["kind"]
)
HOST_REPORTS = Counter("polyvisor_agent_host_reports_total", "Host reports published", ["reason"])
HOST_REPORTS_DROPPED = Counter(
    "polyvisor_agent_host_reports_dropped_total",
    "Host reports that did not reach the stream",
    ["reason"],  # duplicate (the stream's de-duplication), unpublished (bus error)
)
RECONCILE_RUNS = Counter("polyvisor_agent_reconcile_runs_total", "Reconciler passes", ["outcome"])
RECONCILE_ACTIONS = Counter(
    "polyvisor_agent_reconcile_actions_total",
    "What the reconciler did",
    ["action"],  # power_on, power_off, vanished, unwanted, deleted_unwanted, evacuated
)
UNWANTED_INSTANCES = Gauge(
    "polyvisor_agent_unwanted_instances",
    "VMs tagged as ours that no assigned server accounts for (last reconcile)",
)
IMAGE_DOWNLOADS = Counter(
    "polyvisor_agent_image_downloads_total",
    "Image rendition downloads",
    ["outcome"],  # ok, hit, resumed, checksum_mismatch, failed
)
IMAGE_DOWNLOAD_BYTES = Counter(
    "polyvisor_agent_image_download_bytes_total", "Bytes downloaded into the image cache"
)
IMAGE_CACHE_BYTES = Gauge("polyvisor_agent_image_cache_bytes", "Bytes held by the image cache")
