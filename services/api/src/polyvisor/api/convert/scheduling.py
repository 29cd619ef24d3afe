"""Placement requests and answers <-> polyvisor.scheduling.v1."""

from __future__ import annotations

from google.protobuf import json_format

from polyvisor.api import models as m
from polyvisor.api.convert.enums import (
    CONSOLE_TYPE,
    DISK_FORMAT,
    HYPERVISOR_TYPE,
    SERVER_GROUP_POLICY,
    VMWARE_DISK_TYPE,
)
from polyvisor.api.placement import NoValidHost, Placement, PlacementRequest
from polyvisor.scheduling.v1 import request_spec_pb2, scheduler_pb2
from polyvisor.types.v1 import fault_pb2, resources_pb2

# Formats the image service can produce from an original (qemu-img converts between these).
_CONVERTIBLE = ("RAW", "QCOW2", "VMDK")


def select_request(req: PlacementRequest) -> scheduler_pb2.SelectDestinationsRequest:
    img = req.image
    # No image at all (an adopted VM's claim): no disk format to ask for.
    available = sorted(({r[0] for r in img.renditions} | {img.disk_format}) - {""})
    producible = list(_CONVERTIBLE) if img.disk_format in _CONVERTIBLE else [img.disk_format]
    producible = [f for f in producible if f]
    hints = request_spec_pb2.SchedulerHints(
        force_host=req.force_host,
        same_host=list(req.same_host),
        different_host=list(req.different_host),
        hypervisor_type=HYPERVISOR_TYPE.value(req.hypervisor_type),
        ignore_hosts=list(req.ignore_hosts),
    )
    if req.group is not None:
        hints.server_group.CopyFrom(
            request_spec_pb2.ServerGroup(
                id=req.group.id,
                policy=SERVER_GROUP_POLICY.value(req.group.policy),
                members=list(req.group.members),
            )
        )
    spec = request_spec_pb2.RequestSpec(
        request_id=req.request_id,
        consumer_ids=[req.server_id],
        num_instances=1,
        project_id=req.project_id,
        user_id=req.user_id,
        resources=resources_pb2.Resources(
            vcpus=req.flavor.vcpus, memory_mb=req.flavor.ram_mb, disk_gb=req.flavor.disk_gb
        ),
        image=request_spec_pb2.ImageRequirements(
            image_id=img.id,
            hypervisor_type=HYPERVISOR_TYPE.value(img.hypervisor_type),
            architecture=img.architecture,
            vm_mode=img.vm_mode,
            disk_format=DISK_FORMAT.value(img.disk_format),
            available_disk_formats=[DISK_FORMAT.value(f) for f in available],
            producible_disk_formats=[DISK_FORMAT.value(f) for f in producible],
            min_ram=img.min_ram,
            min_disk=img.min_disk,
            hypervisor_version_requires=img.hypervisor_version_requires,
            vmware_disktype=VMWARE_DISK_TYPE.value(img.vmware_disktype),
        ),
        availability_zone=req.availability_zone,
        hints=hints,
        extra_specs=req.flavor.extra_specs,
        requires=request_spec_pb2.HostRequirements(
            key_injection=req.key_injection,
            user_data=req.user_data,
            console_type=CONSOLE_TYPE.value(req.console_type),
            security_groups=req.security_groups,
            capabilities=list(req.capabilities),
            networks=[
                request_spec_pb2.RequiredNetwork(name=name, physical_network=physnet)
                for name, physnet in req.networks
            ],
        ),
    )
    return scheduler_pb2.SelectDestinationsRequest(spec=spec, max_alternates=req.max_alternates)


def replace_claim_request(consumer_id: str, with_id: str) -> scheduler_pb2.ReplaceClaimRequest:
    return scheduler_pb2.ReplaceClaimRequest(consumer_id=consumer_id, with_consumer_id=with_id)


def alternate(sel: scheduler_pb2.Selection) -> m.Alternate:
    return m.Alternate(
        host=sel.host,
        hostname=sel.hostname,
        hypervisor_type=HYPERVISOR_TYPE.to_name.get(sel.hypervisor_type, ""),
        availability_zone=sel.availability_zone,
        disk_format=DISK_FORMAT.to_name.get(sel.rendition.disk_format, ""),
        vmware_disktype=VMWARE_DISK_TYPE.to_name.get(sel.rendition.vmware_disktype, ""),
    )


def no_valid_host(nvh: fault_pb2.NoValidHost) -> NoValidHost:
    explanation = json_format.MessageToDict(nvh, preserving_proto_field_name=False)
    return NoValidHost(summary=nvh.summary or "no host fits", explanation=explanation)


def select_response(
    resp: scheduler_pb2.SelectDestinationsResponse, server_id: str
) -> Placement | NoValidHost:
    if resp.HasField("no_valid_host") or not resp.selections:
        return no_valid_host(resp.no_valid_host)
    chosen = next((s for s in resp.selections if s.consumer_id == server_id), resp.selections[0])
    primary = alternate(chosen.primary)
    return Placement(
        host=primary.host,
        hostname=primary.hostname,
        hypervisor_type=primary.hypervisor_type,
        availability_zone=primary.availability_zone,
        alternates=tuple(alternate(a) for a in chosen.alternates),
        disk_format=primary.disk_format,
        vmware_disktype=primary.vmware_disktype,
    )
