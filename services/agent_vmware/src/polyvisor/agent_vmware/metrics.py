"""Prometheus metrics of the VMware agent (beside the runtime's own)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "BASE_DISK_UPLOADS",
    "LEASE_HELD",
    "LEASE_TERMS",
    "VCENTER_CONNECTED",
    "VCENTER_SESSIONS",
]

VCENTER_CONNECTED = Gauge(
    "polyvisor_vmware_vcenter_connected", "1 while the agent holds a live vCenter session"
)
VCENTER_SESSIONS = Counter(
    "polyvisor_vmware_vcenter_sessions_total", "vCenter logins (the first one and every reconnect)"
)
BASE_DISK_UPLOADS = Counter(
    "polyvisor_vmware_base_disk_uploads_total",
    "Image base disks uploaded to a datastore (once per image per datastore)",
)
LEASE_HELD = Gauge(
    "polyvisor_vmware_lease_held", "1 while this replica holds its cluster's lease and acts"
)
LEASE_TERMS = Counter(
    "polyvisor_vmware_lease_terms_total", "Times this replica took its cluster's lease"
)
