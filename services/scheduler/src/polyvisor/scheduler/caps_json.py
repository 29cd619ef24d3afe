"""A provider's capabilities as the JSON the scheduler's store keeps (column `capabilities`),
and back. Reading tolerates what older reports left out (defaults), so a stored row outlives a
change of `HostCapabilities`."""

from __future__ import annotations

from typing import Any

from polyvisor.scheduler.model import (
    Cluster,
    DiskFormat,
    HostCapabilities,
    HostFeatures,
    HvType,
    MemberHost,
    Rendition,
    VmdkType,
)

__all__ = ["caps_from_json", "caps_to_json"]


def _member_to_json(h: MemberHost) -> dict[str, Any]:
    return {
        "name": h.name,
        "moref": h.moref,
        "connected": h.connected,
        "in_maintenance": h.in_maintenance,
        "cpu_threads": h.cpu_threads,
        "memory_mb": h.memory_mb,
        "memory_allocated_mb": h.memory_allocated_mb,
        "vcpus_allocated": h.vcpus_allocated,
        "vm_count": h.vm_count,
        "connection_state": h.connection_state,
        "cpu_cores": h.cpu_cores,
        "cpu_mhz": h.cpu_mhz,
        "cpu_used_mhz": h.cpu_used_mhz,
        "memory_used_mb": h.memory_used_mb,
    }


def caps_to_json(c: HostCapabilities) -> dict[str, Any]:
    f = c.features
    out: dict[str, Any] = {
        "supported_instances": [[a, int(h), m] for a, h, m in c.supported_instances],
        "disk_formats": [[int(r.disk_format), int(r.vmdk_type)] for r in c.disk_formats],
        "features": {
            "console_types": list(f.console_types),
            "key_injection": f.key_injection,
            "user_data": f.user_data,
            "power_on": f.power_on,
            "power_off": f.power_off,
            "reboot_soft": f.reboot_soft,
            "reboot_hard": f.reboot_hard,
            "vnc_port_range": list(f.vnc_port_range),
            "security_groups": f.security_groups,
        },
        "capabilities": list(c.capabilities),
        "host_ip": c.host_ip,
        "physical_networks": list(c.physical_networks),
        "resource_class": c.resource_class,
    }
    if c.cluster is not None:
        out["cluster"] = {
            "name": c.cluster.name,
            "drs_enabled": c.cluster.drs_enabled,
            "hosts": [_member_to_json(h) for h in c.cluster.hosts],
        }
    return out


def _features_from_json(d: dict[str, Any]) -> HostFeatures:
    ports = d.get("vnc_port_range")
    if isinstance(ports, dict):  # written before features were typed
        lo, hi = int(ports.get("min", 0)), int(ports.get("max", 0))
    else:
        lo, hi = (*(int(x) for x in ports or ()), 0, 0)[:2]
    return HostFeatures(
        console_types=tuple(int(c) for c in d.get("console_types", ()) if isinstance(c, int)),
        key_injection=bool(d.get("key_injection", False)),
        user_data=bool(d.get("user_data", False)),
        power_on=bool(d.get("power_on", False)),
        power_off=bool(d.get("power_off", False)),
        reboot_soft=bool(d.get("reboot_soft", False)),
        reboot_hard=bool(d.get("reboot_hard", False)),
        security_groups=bool(d.get("security_groups", False)),
        vnc_port_range=(int(lo), int(hi)),
    )


def caps_from_json(hv: int, version: str, az: str, d: dict[str, Any]) -> HostCapabilities:
    """Capabilities as caps_to_json stored them. A row written before the cluster sub-report
    and the rendition list existed (its next report rewrites it) reads as well as it can:
    formats without sub-format, no features, the cluster from its flat fields."""
    if "disk_formats" in d:
        formats = tuple(
            Rendition(DiskFormat(int(f)), VmdkType(int(t))) for f, t in d["disk_formats"]
        )
    else:
        formats = tuple(Rendition(DiskFormat(int(f))) for f in d.get("native_disk_formats", []))
    cluster = None
    if isinstance(d.get("cluster"), dict):
        c = d["cluster"]
        cluster = Cluster(
            name=str(c.get("name", "")),
            drs_enabled=bool(c.get("drs_enabled", False)),
            hosts=tuple(MemberHost(**h) for h in c.get("hosts", [])),
        )
    elif d.get("esxi_hosts") or d.get("cluster_name"):
        cluster = Cluster(
            name=str(d.get("cluster_name", "")),
            drs_enabled=bool(d.get("drs_enabled", False)),
            hosts=tuple(MemberHost(**h) for h in d.get("esxi_hosts", [])),
        )
    return HostCapabilities(
        hypervisor_type=HvType(hv),
        hypervisor_version=version,
        supported_instances=tuple(
            (str(a), HvType(int(h)), str(m)) for a, h, m in d.get("supported_instances", [])
        ),
        disk_formats=formats,
        availability_zone=az,
        features=_features_from_json(dict(d.get("features") or {})),
        capabilities=tuple(str(x) for x in d.get("capabilities", [])),
        cluster=cluster,
        host_ip=str(d.get("host_ip", "")),
        physical_networks=tuple(str(x) for x in d.get("physical_networks", [])),
        resource_class=str(d.get("resource_class", "")),
    )
