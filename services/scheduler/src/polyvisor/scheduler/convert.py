"""Protobuf <-> domain. Protobuf types stop here (and in handlers/ and bus.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.common.convert import esxi_host
from polyvisor.common.logging import get_logger
from polyvisor.scheduler.model import (
    RESOURCE_CLASSES,
    Allocation,
    Cluster,
    DiskFormat,
    Explanation,
    GroupPolicy,
    HostCapabilities,
    HostFeatures,
    HostReport,
    HostRequirements,
    HvType,
    ImageRequirements,
    InstancePlacement,
    Inventory,
    MemberHost,
    Placement,
    Rendition,
    RequestSpec,
    Resources,
    Selection,
    VmdkType,
)
from polyvisor.scheduler.scheduling.core import ProviderView
from polyvisor.scheduler.traits import normalize_arch, normalize_vm_mode
from polyvisor.scheduling.v1 import (
    providers_pb2,
    request_spec_pb2,
    scheduler_pb2,
)
from polyvisor.types.v1 import disk_pb2, fault_pb2, hypervisor_pb2, resources_pb2

__all__ = [
    "allocation_to_proto",
    "explanation_to_proto",
    "placement_to_proto",
    "provider_to_proto",
    "report_from_proto",
    "selection_to_proto",
    "spec_from_proto",
]

log = get_logger(__name__)

_CONNECTED = hypervisor_pb2.ESXI_CONNECTION_STATE_CONNECTED
_UNSPECIFIED_ESXI = hypervisor_pb2.ESXI_CONNECTION_STATE_UNSPECIFIED


def _timestamp(epoch: float) -> Timestamp:
    ts = Timestamp()
    if epoch > 0:
        ts.FromDatetime(datetime.fromtimestamp(epoch, UTC))
    return ts


# --------------------------------------------------------------------------- host reports


def _renditions(items: Iterable[disk_pb2.Rendition], host_id: str) -> tuple[Rendition, ...]:
    """A host's renditions in its order; unknown formats are dropped (logged)."""
    out: list[Rendition] = []
    for r in items:
        try:
            if r.disk_format != 0:
                out.append(Rendition(DiskFormat(r.disk_format), VmdkType(r.vmware_disktype)))
        except ValueError:
            log.warning("disk format ignored", host=host_id, format=int(r.disk_format))
    return tuple(dict.fromkeys(out))


def rendition_to_proto(r: Rendition) -> disk_pb2.Rendition:
    return disk_pb2.Rendition(disk_format=int(r.disk_format), vmware_disktype=int(r.vmdk_type))


def features_from_proto(f: hypervisor_pb2.HypervisorFeatures) -> HostFeatures:
    return HostFeatures(
        console_types=tuple(dict.fromkeys(int(c) for c in f.console_types if c)),
        key_injection=f.key_injection,
        user_data=f.user_data,
        power_on=f.power_on,
        power_off=f.power_off,
        reboot_soft=f.reboot_soft,
        reboot_hard=f.reboot_hard,
        vnc_port_range=(f.vnc_port_range.min, f.vnc_port_range.max),
        security_groups=f.security_groups,
    )


def features_to_proto(f: HostFeatures) -> hypervisor_pb2.HypervisorFeatures:
    return hypervisor_pb2.HypervisorFeatures(
        console_types=list(f.console_types),
        key_injection=f.key_injection,
        user_data=f.user_data,
        power_on=f.power_on,
        power_off=f.power_off,
        reboot_soft=f.reboot_soft,
        reboot_hard=f.reboot_hard,
        vnc_port_range=hypervisor_pb2.PortRange(min=f.vnc_port_range[0], max=f.vnc_port_range[1]),
        security_groups=f.security_groups,
    )


def cluster_from_proto(c: hypervisor_pb2.ClusterReport) -> Cluster:
    return Cluster(
        name=c.name,
        drs_enabled=c.drs_enabled,
        hosts=tuple(
            MemberHost(
                name=h.name,
                moref=h.moref,
                connected=h.connection_state in (_CONNECTED, _UNSPECIFIED_ESXI),
                in_maintenance=h.in_maintenance,
                cpu_threads=h.cpu_threads,
                memory_mb=h.memory_mb,
                memory_allocated_mb=h.memory_allocated_mb,
                vcpus_allocated=h.vcpus_allocated,
                vm_count=h.vm_count,
                connection_state=int(h.connection_state),
                cpu_cores=h.cpu_cores,
                cpu_mhz=h.cpu_mhz,
                cpu_used_mhz=h.cpu_used_mhz,
                memory_used_mb=h.memory_used_mb,
            )
            for h in c.hosts
        ),
    )


def cluster_to_proto(c: Cluster) -> hypervisor_pb2.ClusterReport:
    return hypervisor_pb2.ClusterReport(
        name=c.name,
        drs_enabled=c.drs_enabled,
        hosts=[
            esxi_host(
                h,
                h.connection_state
                or (
                    hypervisor_pb2.ESXI_CONNECTION_STATE_CONNECTED
                    if h.connected
                    else hypervisor_pb2.ESXI_CONNECTION_STATE_DISCONNECTED
                ),
                moref=h.moref,
            )
            for h in c.hosts
        ],
    )


def _hv_or_unspecified(value: int) -> HvType:
    try:
        return HvType(value)
    except ValueError:
        return HvType.UNSPECIFIED


def inventory_from_proto(inv: resources_pb2.Inventory) -> Inventory:
    return Inventory(
        total=max(0, inv.total),
        reserved=max(0, inv.reserved),
        allocation_ratio=inv.allocation_ratio if inv.allocation_ratio > 0 else 1.0,
        min_unit=max(1, inv.min_unit),
        max_unit=inv.max_unit if inv.max_unit > 0 else None,
        step_size=max(1, inv.step_size),
    )


def report_from_proto(pb: host_report_pb2.HostReport, received_at: float) -> HostReport:
    """A report as the index wants it. Triples with an unknown architecture or vm_mode are
    dropped (logged): the host still serves the others."""
    triples: list[tuple[str, HvType, str]] = []
    for si in pb.supported_instances:
        try:
            triples.append(
                (normalize_arch(si.architecture), HvType(si.hypervisor_type),
                 normalize_vm_mode(si.vm_mode))
            )  # fmt: skip
        except ValueError as e:
            log.warning("supported instance ignored", host=pb.host_id, error=str(e))
    caps = HostCapabilities(
        hypervisor_type=_hv_or_unspecified(pb.hypervisor_type),
        hypervisor_version=pb.hypervisor_version,
        supported_instances=tuple(dict.fromkeys(triples)),
        disk_formats=_renditions(pb.disk_formats, pb.host_id),
        availability_zone=pb.availability_zone,
        features=features_from_proto(pb.features),
        capabilities=tuple(dict.fromkeys(c for c in pb.capabilities if c)),
        cluster=cluster_from_proto(pb.cluster) if pb.HasField("cluster") else None,
        host_ip=pb.host_ip,
        physical_networks=tuple(dict.fromkeys(n for n in pb.physical_networks if n)),
        resource_class=pb.resource_class,
    )
    inventories: dict[str, Inventory] = {}
    for inv in pb.inventories:
        if 1 <= inv.resource_class <= len(RESOURCE_CLASSES):
            inventories[RESOURCE_CLASSES[inv.resource_class - 1]] = inventory_from_proto(inv)
    interval = 0.0
    if pb.HasField("report_interval"):
        interval = pb.report_interval.ToTimedelta().total_seconds()
    return HostReport(
        host_id=pb.host_id,
        hostname=pb.hostname or pb.host_id,
        capabilities=caps,
        inventories=inventories,
        connected=pb.state != host_report_pb2.CONNECTION_STATE_DISCONNECTED,
        agent_id=pb.agent_id,
        incarnation=pb.incarnation,
        sequence=pb.sequence,
        report_interval_s=max(0.0, interval),
        received_at=received_at,
    )


# --------------------------------------------------------------------------- requests


def spec_from_proto(pb: request_spec_pb2.RequestSpec) -> RequestSpec:
    """A validated spec (see handlers/validate.py) as the domain wants it."""
    img = pb.image
    hints = pb.hints
    group = hints.server_group
    return RequestSpec(
        consumer_ids=tuple(pb.consumer_ids),
        resources=Resources(pb.resources.vcpus, pb.resources.memory_mb, pb.resources.disk_gb),
        request_id=pb.request_id,
        project_id=pb.project_id,
        user_id=pb.user_id,
        image=ImageRequirements(
            image_id=img.image_id,
            hypervisor_type=HvType(img.hypervisor_type),
            architecture=normalize_arch(img.architecture),
            vm_mode=normalize_vm_mode(img.vm_mode),
            disk_format=DiskFormat(img.disk_format),
            available_disk_formats=tuple(DiskFormat(f) for f in img.available_disk_formats),
            producible_disk_formats=tuple(DiskFormat(f) for f in img.producible_disk_formats),
            hypervisor_version_requires=img.hypervisor_version_requires.strip(),
            vmdk_type=VmdkType(img.vmware_disktype),
        ),
        availability_zone=pb.availability_zone,
        force_host=hints.force_host,
        same_host=tuple(hints.same_host),
        different_host=tuple(hints.different_host),
        group_id=group.id,
        group_policy=GroupPolicy(group.policy),
        group_members=tuple(group.members),
        hypervisor_type=HvType(hints.hypervisor_type),
        ignore_hosts=tuple(hints.ignore_hosts),
        extra_specs=dict(pb.extra_specs),
        requires=HostRequirements(
            key_injection=pb.requires.key_injection,
            user_data=pb.requires.user_data,
            console_type=int(pb.requires.console_type),
            security_groups=pb.requires.security_groups,
            capabilities=tuple(dict.fromkeys(c for c in pb.requires.capabilities if c)),
            networks=tuple(
                dict.fromkeys(
                    (n.name or n.physical_network, n.physical_network) for n in pb.requires.networks
                )
            ),
        ),
    )


# --------------------------------------------------------------------------- results


def resources_to_proto(r: Resources) -> resources_pb2.Resources:
    return resources_pb2.Resources(vcpus=r.vcpus, memory_mb=r.memory_mb, disk_gb=r.disk_gb)


def selection_to_proto(s: Selection) -> scheduler_pb2.Selection:
    return scheduler_pb2.Selection(
        host=s.host,
        hostname=s.hostname,
        hypervisor_type=int(s.hypervisor_type),
        availability_zone=s.availability_zone,
        allocation=resources_to_proto(s.allocation),
        provider_generation=s.provider_generation,
        weight=s.weight,
        rendition=rendition_to_proto(s.rendition) if s.rendition is not None else None,
    )


def explanation_to_proto(e: Explanation) -> fault_pb2.NoValidHost:
    return fault_pb2.NoValidHost(
        total_hosts=e.total_hosts,
        summary=e.summary,
        filters=[
            fault_pb2.FilterExplanation(
                filter=f.name,
                hosts_before=f.hosts_before,
                hosts_removed=f.hosts_removed,
                examples=[
                    fault_pb2.HostRejection(host=x.host, reason=x.reason) for x in f.examples
                ],
            )
            for f in e.filters
        ],
    )


def _instance_to_proto(p: InstancePlacement) -> scheduler_pb2.InstanceSelection:
    return scheduler_pb2.InstanceSelection(
        consumer_id=p.consumer_id,
        primary=selection_to_proto(p.primary),
        alternates=[selection_to_proto(a) for a in p.alternates],
    )


def placement_to_proto(p: Placement) -> scheduler_pb2.SelectDestinationsResponse:
    if p.no_valid_host is not None:
        return scheduler_pb2.SelectDestinationsResponse(
            no_valid_host=explanation_to_proto(p.no_valid_host)
        )
    return scheduler_pb2.SelectDestinationsResponse(
        selections=[_instance_to_proto(i) for i in p.instances]
    )


def allocation_to_proto(a: Allocation) -> providers_pb2.Allocation:
    return providers_pb2.Allocation(
        consumer_id=a.consumer_id,
        provider_id=a.provider_id,
        resources=resources_to_proto(a.resources),
        project_id=a.project_id,
        user_id=a.user_id,
        create_time=_timestamp(a.created_at),
    )


def provider_to_proto(view: ProviderView) -> providers_pb2.Provider:
    rec = view.record
    caps = rec.capabilities
    used = rec.used.as_tuple()
    inventories = []
    for i, rc in enumerate(RESOURCE_CLASSES):
        inv = rec.inventories.get(rc)
        if inv is None:
            continue
        inventories.append(
            resources_pb2.Inventory(
                resource_class=i + 1,
                total=inv.total,
                reserved=inv.reserved,
                allocation_ratio=inv.allocation_ratio,
                min_unit=inv.min_unit,
                # The contract's 0 means "no limit"; a cluster with no usable ESXi host
                # (max_unit 0 here) is shown with max_unit 0 and state/ESXi detail saying why.
                max_unit=inv.max_unit or 0,
                step_size=inv.step_size,
                used=used[i],
            )
        )
    return providers_pb2.Provider(
        id=rec.id,
        hostname=rec.hostname,
        hypervisor_type=int(caps.hypervisor_type),
        hypervisor_version=caps.hypervisor_version,
        state=hypervisor_pb2.HOST_STATE_UP if view.up else hypervisor_pb2.HOST_STATE_DOWN,
        status=hypervisor_pb2.HOST_STATUS_ENABLED
        if rec.enabled
        else hypervisor_pb2.HOST_STATUS_DISABLED,
        disabled_reason=rec.disabled_reason,
        availability_zone=caps.availability_zone,
        inventories=inventories,
        generation=rec.generation,
        allocation_count=rec.allocation_count,
        supported_instances=[
            hypervisor_pb2.SupportedInstance(architecture=a, hypervisor_type=int(h), vm_mode=m)
            for a, h, m in caps.supported_instances
        ],
        disk_formats=[rendition_to_proto(r) for r in caps.disk_formats],
        features=features_to_proto(caps.features),
        host_ip=caps.host_ip,
        last_report_time=_timestamp(view.last_report_at),
        cluster=cluster_to_proto(caps.cluster) if caps.cluster is not None else None,
        capabilities=list(caps.capabilities),
    )
