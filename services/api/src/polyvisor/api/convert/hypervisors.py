"""Scheduler providers -> the admin's view of hypervisors."""

from __future__ import annotations

from polyvisor.compute.v1 import hypervisors_pb2
from polyvisor.scheduling.v1 import providers_pb2
from polyvisor.types.v1 import resources_pb2

_CLASS_FIELD = {
    resources_pb2.RESOURCE_CLASS_VCPU: "vcpus",
    resources_pb2.RESOURCE_CLASS_MEMORY_MB: "memory_mb",
    resources_pb2.RESOURCE_CLASS_DISK_GB: "disk_gb",
}


def hypervisor_from_provider(
    p: providers_pb2.Provider, running_servers: int
) -> hypervisors_pb2.Hypervisor:
    out = hypervisors_pb2.Hypervisor(
        id=p.id,
        hostname=p.hostname,
        hypervisor_type=p.hypervisor_type,
        hypervisor_version=p.hypervisor_version,
        state=p.state,
        status=p.status,
        disabled_reason=p.disabled_reason,
        availability_zone=p.availability_zone,
        running_servers=running_servers,
        host_ip=p.host_ip,
    )
    if p.HasField("cluster"):
        # The cluster sub-report: a vCenter cluster and its ESXi hosts.
        out.cluster_name = p.cluster.name
        out.drs_enabled = p.cluster.drs_enabled
        out.esxi_hosts.extend(p.cluster.hosts)
    out.inventories.extend(p.inventories)
    out.supported_instances.extend(p.supported_instances)
    out.native_disk_formats.extend(dict.fromkeys(r.disk_format for r in p.disk_formats))
    out.capabilities.extend(sorted(p.capabilities))
    if p.HasField("features"):
        out.features.CopyFrom(p.features)
    if p.HasField("last_report_time"):
        out.last_report_time.CopyFrom(p.last_report_time)
    for inv in p.inventories:
        name = _CLASS_FIELD.get(inv.resource_class)
        if name is None:
            continue
        setattr(out.total, name, int(inv.total))
        setattr(out.used, name, int(inv.used))
        setattr(out.reserved, name, int(inv.reserved))
    return out
