"""Flat, readable views of resources for `-f table` and `-f value` (see output.py), and the
columns of each list.

One concern: how each resource reads in a table; one short function per resource.
"""

from __future__ import annotations

from typing import Any

from polyvisor.client import enums
from polyvisor.client.serialize import timestamp_text
from polyvisor.compute.v1 import (
    flavors_pb2,
    hypervisors_pb2,
    keypairs_pb2,
    quotas_pb2,
    server_actions_pb2,
    servers_pb2,
)
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import networks_pb2, security_groups_pb2
from polyvisor.types.v1 import hypervisor_pb2, resources_pb2

SERVER_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "state": "State",
    "task": "Task",
    "power_state": "Power",
    "hypervisor_type": "Hypervisor",
    "host": "Host",
    "flavor": "Flavor",
    "networks": "Networks",
}
IMAGE_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "status": "Status",
    "disk_format": "Disk format",
    "size": "Size",
    "visibility": "Visibility",
    "hypervisor_type": "Hypervisor",
    "architecture": "Arch",
}
RENDITION_COLUMNS = {
    "disk_format": "Format",
    "vmware_disktype": "Subformat",
    "status": "Status",
    "size": "Size",
    "virtual_size": "Virtual size",
    "original": "Original",
    "sha256": "SHA-256",
}
FLAVOR_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "vcpus": "vCPUs",
    "ram_mb": "RAM (MB)",
    "disk_gb": "Disk (GB)",
    "is_public": "Public",
    "extra_specs": "Extra specs",
}
ACTION_COLUMNS = {
    "request_id": "Request ID",
    "action": "Action",
    "result": "Result",
    "start_time": "Start",
    "finish_time": "Finish",
    "user_id": "User",
}
KEYPAIR_COLUMNS = {"name": "Name", "fingerprint": "Fingerprint", "type": "Type"}
HYPERVISOR_COLUMNS = {
    "id": "ID",
    "hostname": "Hostname",
    "hypervisor_type": "Type",
    "state": "State",
    "status": "Status",
    "availability_zone": "AZ",
    "vcpus": "vCPUs used/total",
    "memory_mb": "RAM MB used/total",
    "running_servers": "Servers",
    "cluster_name": "Cluster",
}
NETWORK_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "network_type": "Type",
    "physical_network": "Physical network",
    "segmentation_id": "VLAN",
    "mtu": "MTU",
    "shared": "Shared",
    "subnets": "Subnets",
}
SUBNET_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "network_id": "Network",
    "cidr": "CIDR",
    "gateway_ip": "Gateway",
    "enable_dhcp": "DHCP",
}
PORT_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "network_id": "Network",
    "mac_address": "MAC",
    "fixed_ips": "Fixed IPs",
    "device_id": "Device",
    "binding_host": "Host",
    "binding_state": "Binding",
}
SECURITY_GROUP_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "description": "Description",
    "rules": "Rules",
    "project_id": "Project",
}
SECURITY_GROUP_RULE_COLUMNS = {
    "id": "ID",
    "security_group_id": "Group",
    "direction": "Direction",
    "ethertype": "Ethertype",
    "protocol": "Protocol",
    "port_range": "Ports",
    "remote": "Remote",
}
ESXI_HEADERS = (
    "ESXi host",
    "Connection",
    "Maintenance",
    "Cores",
    "CPU MHz used/total",
    "RAM MB used/total",
    "vCPUs allocated",
    "RAM MB allocated",
    "VMs",
)


def _e(desc: Any, number: int) -> str:
    return enums.display(desc, number)


def _ts(msg: Any, field: str) -> str | None:
    return timestamp_text(getattr(msg, field)) if msg.HasField(field) else None


def flavor_summary(f: servers_pb2.ServerFlavor) -> str:
    r = f.resources
    name = f.name or f.id
    return f"{name} ({r.vcpus} vCPU, {r.memory_mb} MB, {r.disk_gb} GB)" if name else ""


def _networks(s: servers_pb2.Server) -> str:
    """Addresses by network, as a list column shows them: "demo=10.0.0.5, 10.0.0.6; lab=..."."""
    by: dict[str, list[str]] = {}
    for a in s.addresses:
        by.setdefault(a.network, []).append(a.address)
    return "; ".join(f"{n}={', '.join(ips)}" for n, ips in by.items())


def server_view(s: servers_pb2.Server) -> dict[str, Any]:
    fault = ""
    if s.HasField("fault") and (s.fault.code or s.fault.message):
        fault = f"{_e(enums.FAULT_CODE, s.fault.code)}: {s.fault.message}".strip(": ")
    console = ""
    if s.HasField("console") and s.console.port:
        console = f"{_e(enums.CONSOLE_TYPE, s.console.type)} {s.console.host}:{s.console.port}"
    return {
        "id": s.id,
        "name": s.name,
        "state": _e(enums.SERVER_STATE, s.state),
        "task": _e(enums.SERVER_TASK, s.task),
        "power_state": _e(enums.POWER_STATE, s.power_state),
        "fault": fault,
        "hypervisor_type": _e(enums.HYPERVISOR_TYPE, s.hypervisor_type),
        "host": s.host,
        "esxi_host": s.esxi_host,
        "availability_zone": s.availability_zone,
        "flavor": flavor_summary(s.flavor) if s.HasField("flavor") else "",
        "image_id": s.image_id,
        "key_name": s.key_name,
        "addresses": [
            f"{a.network}={a.address} (IPv{a.version or 4}{', ' + a.mac_address if a.mac_address else ''})"
            for a in s.addresses
        ],
        "networks": _networks(s),
        "console": console,
        "metadata": dict(sorted(s.metadata.items())),
        "tags": list(s.tags),
        "has_user_data": s.has_user_data,
        "instance_name": s.instance_name,
        "attempts": s.attempts,
        "project_id": s.project_id,
        "user_id": s.user_id,
        "create_time": _ts(s, "create_time"),
        "launch_time": _ts(s, "launch_time"),
        "update_time": _ts(s, "update_time"),
    }


def _rendition_label(r: images_pb2.Rendition) -> str:
    fmt = _e(enums.DISK_FORMAT, r.disk_format)
    if r.vmware_disktype:
        fmt += f"/{_e(enums.VMWARE_DISK_TYPE, r.vmware_disktype)}"
    extra = _e(enums.RENDITION_STATUS, r.status) + (", original" if r.original else "")
    return f"{fmt} ({extra})"


_OPTIONAL_IMAGE_FIELDS = ("status_message", "hypervisor_type", "architecture", "vm_mode",
                          "vmware_disktype", "vmware_adaptertype", "os_type", "hw_disk_bus",
                          "vmware_ostype")  # fmt: skip


def image_view(i: images_pb2.Image) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": i.id,
        "name": i.name,
        "status": _e(enums.IMAGE_STATUS, i.status),
        "status_message": i.status_message,
        "disk_format": _e(enums.DISK_FORMAT, i.disk_format),
        "container_format": _e(enums.CONTAINER_FORMAT, i.container_format),
        "size": i.size,
        "virtual_size": i.virtual_size,
        "visibility": _e(enums.VISIBILITY, i.visibility),
        "owner": i.owner,
        "min_ram": i.min_ram,
        "min_disk": i.min_disk,
        "protected": i.protected,
        "hypervisor_type": _e(enums.HYPERVISOR_TYPE, i.hypervisor_type),
        "architecture": i.architecture,
        "vm_mode": i.vm_mode,
        "vmware_disktype": _e(enums.VMWARE_DISK_TYPE, i.vmware_disktype),
        "vmware_adaptertype": _e(enums.VMWARE_ADAPTER_TYPE, i.vmware_adaptertype),
        "os_type": i.os_type,
        "hw_disk_bus": _e(enums.DISK_BUS, i.hw_disk_bus),
        "vmware_ostype": i.vmware_ostype,
        "properties": dict(sorted(i.properties.items())),
        "renditions": [_rendition_label(r) for r in i.renditions],
        "checksum": f"{i.os_hash_algo}:{i.os_hash_value}" if i.os_hash_value else "",
        "create_time": _ts(i, "create_time"),
        "update_time": _ts(i, "update_time"),
    }
    return {k: v for k, v in view.items() if v or k not in _OPTIONAL_IMAGE_FIELDS}


def image_row(i: images_pb2.Image) -> dict[str, Any]:
    return {**image_view(i), "hypervisor_type": _e(enums.HYPERVISOR_TYPE, i.hypervisor_type),
            "architecture": i.architecture}  # fmt: skip


def rendition_view(r: images_pb2.Rendition) -> dict[str, Any]:
    return {
        "disk_format": _e(enums.DISK_FORMAT, r.disk_format),
        "vmware_disktype": _e(enums.VMWARE_DISK_TYPE, r.vmware_disktype),
        "status": _e(enums.RENDITION_STATUS, r.status),
        "size": r.size,
        "virtual_size": r.virtual_size,
        "original": r.original,
        "sha256": r.sha256,
        "status_message": r.status_message,
    }


def flavor_view(f: flavors_pb2.Flavor) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram_mb": f.ram_mb,
        "disk_gb": f.disk_gb,
        "is_public": f.is_public,
        "extra_specs": dict(sorted(f.extra_specs.items())),
        "project_ids": list(f.project_ids),
        "description": f.description,
        "create_time": _ts(f, "create_time"),
    }


def keypair_view(k: keypairs_pb2.Keypair) -> dict[str, Any]:
    return {
        "name": k.name,
        "fingerprint": k.fingerprint,
        "type": _e(enums.KEYPAIR_TYPE, k.type),
        "public_key": k.public_key,
        "user_id": k.user_id,
        "create_time": _ts(k, "create_time"),
    }


def _used_total(used: resources_pb2.Resources, total: resources_pb2.Resources, field: str) -> str:
    return f"{getattr(used, field)}/{getattr(total, field)}"


def _instances(items: Any) -> list[str]:
    out = []
    for si in items:
        parts = [si.architecture, _e(enums.HYPERVISOR_TYPE, si.hypervisor_type), si.vm_mode]
        out.append("/".join(p for p in parts if p))
    return out


def hypervisor_view(h: hypervisors_pb2.Hypervisor) -> dict[str, Any]:
    feats = h.features
    vnc = ""
    if feats.HasField("vnc_port_range") and feats.vnc_port_range.max:
        vnc = f"{feats.vnc_port_range.min}-{feats.vnc_port_range.max}"
    view: dict[str, Any] = {
        "id": h.id,
        "hostname": h.hostname,
        "hypervisor_type": _e(enums.HYPERVISOR_TYPE, h.hypervisor_type),
        "hypervisor_version": h.hypervisor_version,
        "state": _e(enums.HOST_STATE, h.state),
        "status": _e(enums.HOST_STATUS, h.status),
        "disabled_reason": h.disabled_reason,
        "availability_zone": h.availability_zone,
        "host_ip": h.host_ip,
        "vcpus": _used_total(h.used, h.total, "vcpus"),
        "memory_mb": _used_total(h.used, h.total, "memory_mb"),
        "disk_gb": _used_total(h.used, h.total, "disk_gb"),
        "running_servers": h.running_servers,
        "cluster_name": h.cluster_name,
        "drs_enabled": h.drs_enabled if h.cluster_name else None,
        "esxi_hosts": len(h.esxi_hosts) if h.esxi_hosts else None,
        "supported_instances": _instances(h.supported_instances),
        "native_disk_formats": [_e(enums.DISK_FORMAT, f) for f in h.native_disk_formats],
        "console_types": [_e(enums.CONSOLE_TYPE, c) for c in feats.console_types],
        "capabilities": list(h.capabilities),
        "vnc_port_range": vnc,
        "last_report_time": _ts(h, "last_report_time"),
    }
    return view


def esxi_rows(h: hypervisors_pb2.Hypervisor) -> list[list[Any]]:
    rows = []
    for e in h.esxi_hosts:
        rows.append([
            e.name,
            enums.display(hypervisor_pb2.EsxiConnectionState.DESCRIPTOR, e.connection_state),
            e.in_maintenance,
            f"{e.cpu_cores} ({e.cpu_threads} threads)",
            f"{e.cpu_used_mhz}/{e.cpu_mhz}",
            f"{e.memory_used_mb}/{e.memory_mb}",
            e.vcpus_allocated,
            e.memory_allocated_mb,
            e.vm_count,
        ])  # fmt: skip
    return rows


def _limit(v: int) -> str:
    return "unlimited" if v < 0 else str(v)


def quota_view(q: quotas_pb2.Quota) -> dict[str, Any]:
    return {
        "project_id": q.project_id,
        "instances": f"{q.usage.instances} used of {_limit(q.limits.instances)}",
        "vcpus": f"{q.usage.vcpus} used of {_limit(q.limits.vcpus)}",
        "ram_mb": f"{q.usage.ram_mb} used of {_limit(q.limits.ram_mb)}",
    }


def console_view(
    server: servers_pb2.Server, c: servers_pb2.GetServerConsoleResponse
) -> dict[str, Any]:
    kind = _e(enums.CONSOLE_TYPE, c.type)
    return {
        "server_id": server.id,
        "type": kind,
        "host": c.host,
        "port": c.port,
        # The console proxy's URL when the api names one (the token inside), else VNC's.
        "url": c.url or (f"{kind}://{c.host}:{c.port}" if c.port else ""),
        # The same console as the proxy's noVNC page, for a browser (the same token).
        "page_url": c.page_url,
        "token": c.token,
        "expire_time": _ts(c, "expire_time"),
    }


def network_view(n: networks_pb2.Network) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.name,
        "network_type": _e(enums.NETWORK_TYPE, n.network_type),
        "physical_network": n.physical_network,
        "segmentation_id": n.segmentation_id or "",
        "mtu": n.mtu,
        "shared": n.shared,
        "admin_state_up": n.admin_state_up,
        "subnets": list(n.subnet_ids),
        "project_id": n.project_id,
        "create_time": _ts(n, "create_time"),
    }


def subnet_view(s: networks_pb2.Subnet) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "network_id": s.network_id,
        "ip_version": s.ip_version,
        "cidr": s.cidr,
        "gateway_ip": s.gateway_ip or "none",
        "allocation_pools": [f"{p.start}-{p.end}" for p in s.allocation_pools],
        "dns_nameservers": list(s.dns_nameservers),
        "host_routes": [f"{r.destination} via {r.nexthop}" for r in s.host_routes],
        "enable_dhcp": s.enable_dhcp,
        "project_id": s.project_id,
        "create_time": _ts(s, "create_time"),
    }


def port_view(p: networks_pb2.Port) -> dict[str, Any]:
    b = p.binding
    return {
        "id": p.id,
        "name": p.name,
        "network_id": p.network_id,
        "mac_address": p.mac_address,
        "fixed_ips": [f.ip_address for f in p.fixed_ips],
        "subnets": [f.subnet_id for f in p.fixed_ips],
        "device_owner": p.device_owner,
        "device_id": p.device_id,
        "binding_host": b.host,
        "binding_vif_type": _e(enums.VIF_TYPE, b.vif_type),
        "binding_state": _e(enums.BINDING_STATE, b.state),
        "binding_message": b.message,
        "port_security_enabled": p.port_security_enabled,
        "port_security_enforced": b.port_security_enforced,
        "security_groups": list(p.security_group_ids),
        "allowed_address_pairs": [
            f"{a.ip_address} {a.mac_address}".strip() for a in p.allowed_address_pairs
        ],
        "admin_state_up": p.admin_state_up,
        "revision": p.revision,
        "project_id": p.project_id,
        "create_time": _ts(p, "create_time"),
    }


def _port_range(r: security_groups_pb2.SecurityGroupRule) -> str:
    if not r.HasField("port_range_min"):
        return "any"
    lo = r.port_range_min
    hi = r.port_range_max if r.HasField("port_range_max") else None
    if r.protocol in ("icmp", "icmpv6"):
        return f"type {lo}" + (f" code {hi}" if hi is not None else "")
    return str(lo) if hi in (None, lo) else f"{lo}-{hi}"


def rule_view(r: security_groups_pb2.SecurityGroupRule) -> dict[str, Any]:
    remote = r.remote_ip_prefix or (f"group {r.remote_group_id}" if r.remote_group_id else "any")
    return {
        "id": r.id,
        "security_group_id": r.security_group_id,
        "direction": _e(enums.DIRECTION, r.direction),
        "ethertype": "IPv6" if r.ethertype == security_groups_pb2.ETHERTYPE_IPV6 else "IPv4",
        "protocol": r.protocol or "any",
        "port_range": _port_range(r),
        "remote": remote,
        "description": r.description,
        "project_id": r.project_id,
    }


def rule_summary(r: security_groups_pb2.SecurityGroupRule) -> str:
    v = rule_view(r)
    ports = "" if v["port_range"] == "any" else f" {v['port_range']}"
    return f"{v['direction']} {v['ethertype']} {v['protocol']}{ports} {v['remote']}"


def group_view(g: security_groups_pb2.SecurityGroup) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "is_default": g.is_default,
        "rules": [rule_summary(r) for r in g.rules],
        "revision": g.revision,
        "project_id": g.project_id,
        "create_time": _ts(g, "create_time"),
    }


def action_view(a: server_actions_pb2.ServerAction) -> dict[str, Any]:
    return {
        "request_id": a.request_id,
        "action": a.action,
        "result": enums.display(server_actions_pb2.ServerActionResult.DESCRIPTOR, a.result),
        "start_time": _ts(a, "start_time"),
        "finish_time": _ts(a, "finish_time"),
        "user_id": a.user_id,
        "project_id": a.project_id,
        "fault": a.fault.message if a.HasField("fault") else None,
    }
