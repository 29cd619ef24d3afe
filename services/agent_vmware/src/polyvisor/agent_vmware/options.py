"""What the VMware driver needs to know: where vCenter is, which cluster, where things go.

A plain frozen dataclass, so the driver and its tests need no environment; the service's
``config.VmwareAgentSettings`` builds one from POLYVISOR_* variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from polyvisor.agent_vmware.net.switches import SwitchMapping

__all__ = ["VmwareOptions"]


@dataclass(frozen=True, slots=True)
class VmwareOptions:
    url: str  # https://vcenter.example.com/sdk (plain http for vcsim)
    username: str
    password: str
    cluster_name: str
    datastore_regex: str = ".*"
    folder: str = "polyvisor"  # under the datacenter's VM folder; "a/b" nests
    image_cache_folder: str = "polyvisor_image_cache"  # on each datastore
    # A cached base disk unused this long is deleted (image_cache.py); 0: kept forever.
    image_cache_max_age_s: float = 86400.0
    image_cache_sweep_interval_s: float = 2400.0
    host_id: str = ""  # default: "<vCenter instanceUuid>:<cluster moref>"
    insecure: bool = False  # skip TLS certificate verification
    # Liveness: CurrentTime every probe_interval_s, each read bounded by probe_timeout_s; two
    # unanswered in a row mark vCenter not answering (the cluster down, calls failing fast).
    probe_interval_s: float = 5.0
    probe_timeout_s: float = 10.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    call_timeout_s: float = 120.0  # one SOAP request; WaitForUpdatesEx waits less than this
    task_timeout_s: float = 900.0
    watch_wait_s: int = 10
    vnc_port_min: int = 5900
    vnc_port_max: int = 6105
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    default_guest_id: str = "otherGuest64"
    # physical network -> the switch carrying it on this cluster (net/switches.py)
    switch_mappings: Mapping[str, SwitchMapping] = field(default_factory=dict)

    @property
    def physical_networks(self) -> tuple[str, ...]:
        return tuple(sorted(self.switch_mappings))

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"vCenter URL must be http(s)://host[:port][/sdk], got {self.url!r}")
        if not self.cluster_name:
            raise ValueError("cluster_name is required")
        try:
            re.compile(self.datastore_regex)
        except re.error as e:
            raise ValueError(f"datastore_regex {self.datastore_regex!r}: {e}") from e
        if not self.folder.strip("/"):
            raise ValueError("folder must name a folder")
        if not 0 < self.probe_timeout_s < self.call_timeout_s or self.probe_interval_s <= 0:
            raise ValueError("probe_timeout_s must be positive and below call_timeout_s")
        if self.watch_wait_s * 2 >= self.call_timeout_s:
            raise ValueError("watch_wait_s must stay well below call_timeout_s")
        if self.image_cache_max_age_s < 0 or self.image_cache_sweep_interval_s <= 0:
            raise ValueError("image cache age must be >= 0 and its sweep interval positive")
        if not 0 < self.vnc_port_min <= self.vnc_port_max < 65536:
            raise ValueError("bad VNC port range")

    @property
    def protocol(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/sdk"

    @property
    def folder_path(self) -> tuple[str, ...]:
        return tuple(p for p in self.folder.split("/") if p)
