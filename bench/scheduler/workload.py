"""The host sets and requests of the scheduler benchmark, deterministic from a seed.

Hosts: mixed KVM hosts and VMware clusters (2 to 8 ESXi hosts each), heterogeneous sizes, two
architectures (x86_64, aarch64), three availability zones, some RAM already in use (reserved,
so Polyvisor and Nova see the same free amounts), a few hosts with recent build failures.
Requests: flavors from tiny to 96 GiB; images unpinned (qcow2, convertible), pinned to kvm or
vmware, aarch64; half of them name a zone.

Hosts and requests are plain dicts (JSON for the Nova driver); the functions below turn them
into Polyvisor's domain objects and protobuf messages.
"""

from __future__ import annotations

import random
from typing import Any

from google.protobuf.duration_pb2 import Duration

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.scheduler.model import (
    Cluster,
    DiskFormat,
    HostCapabilities,
    HostReport,
    HvType,
    ImageRequirements,
    Inventory,
    MemberHost,
    Rendition,
    RequestSpec,
    Resources,
)
from polyvisor.scheduling.v1 import request_spec_pb2, scheduler_pb2
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2, resources_pb2

AZS = ("az1", "az2", "az3")
GIB = 1024


def make_hosts(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    hosts = []
    for i in range(n):
        az = AZS[i % 3]
        if rng.random() < 0.15:
            esxi = []
            for e in range(rng.randint(2, 8)):
                mem = rng.choice((256, 512, 768)) * GIB
                esxi.append(
                    {
                        "name": f"esx-{i}-{e}",
                        "memory_mb": mem,
                        "memory_allocated_mb": int(mem * rng.uniform(0.0, 0.7)),
                        "cpu_threads": rng.choice((48, 64, 96, 128)),
                    }
                )
            memory = sum(h["memory_mb"] for h in esxi)
            hosts.append(
                {
                    "id": f"vmware:vc{i % 4}:cluster-{i}",
                    "hypervisor_type": int(HvType.VMWARE),
                    "hypervisor_version": "8.0.2",
                    "supported_instances": [["x86_64", int(HvType.VMWARE), "hvm"],
                                            ["i686", int(HvType.VMWARE), "hvm"]],
                    "native_disk_formats": [int(DiskFormat.VMDK)],
                    "availability_zone": az,
                    "vcpus": sum(h["cpu_threads"] for h in esxi),
                    "cpu_ratio": 4.0,
                    "memory_mb": memory,
                    "memory_reserved_mb": sum(h["memory_allocated_mb"] for h in esxi),
                    "memory_used_mb": 0,
                    "disk_gb": rng.choice((10_000, 20_000, 50_000)),
                    "disk_used_gb": 0,
                    "vcpus_used": 0,
                    "instances": 0,
                    "failed_builds": 1 if rng.random() < 0.02 else 0,
                    "cluster_name": f"cluster-{i}",
                    "esxi_hosts": esxi,
                }
            )  # fmt: skip
            continue
        arch = "aarch64" if rng.random() < 0.1 else "x86_64"
        memory = rng.choice((64, 128, 256, 384, 512, 768, 1024)) * GIB
        hosts.append(
            {
                "id": f"kvm-{i:05d}",
                "hypervisor_type": int(HvType.KVM),
                "hypervisor_version": rng.choice(("7.2.0", "8.0.0", "8.2.2", "9.0.0")),
                "supported_instances": [[arch, int(HvType.KVM), "hvm"]],
                "native_disk_formats": [int(DiskFormat.QCOW2), int(DiskFormat.RAW)],
                "availability_zone": az,
                "vcpus": rng.choice((16, 32, 48, 64, 96, 128)),
                "cpu_ratio": rng.choice((1.0, 4.0, 16.0)),
                "memory_mb": memory,
                "memory_reserved_mb": 2 * GIB + int(memory * rng.uniform(0.0, 0.8)),
                "memory_used_mb": 0,
                "disk_gb": rng.choice((500, 1000, 2000, 4000, 8000)),
                "disk_used_gb": 0,
                "vcpus_used": 0,
                "instances": 0,
                "failed_builds": 1 if rng.random() < 0.02 else 0,
                "cluster_name": "",
                "esxi_hosts": [],
            }
        )
    return hosts


def make_contended_hosts(n: int) -> list[dict[str, Any]]:
    """Small identical-ish hosts the two-replica run fills up (capacity runs out)."""
    hosts = make_hosts(n, seed=7)
    for h in hosts:
        if h["hypervisor_type"] == int(HvType.VMWARE):
            for e in h["esxi_hosts"]:
                e["memory_mb"], e["memory_allocated_mb"] = 96 * GIB, 0
            h["esxi_hosts"] = h["esxi_hosts"][:3]
            h["memory_mb"] = 96 * GIB * len(h["esxi_hosts"])
            h["vcpus"] = sum(e["cpu_threads"] for e in h["esxi_hosts"])
        else:
            h["memory_mb"], h["vcpus"], h["cpu_ratio"] = 64 * GIB, 32, 2.0
            h["supported_instances"] = [["x86_64", int(HvType.KVM), "hvm"]]
        h["memory_reserved_mb"] = 0
        h["failed_builds"] = 0
    return hosts


FLAVORS = ((1, 1024, 10), (2, 4096, 40), (4, 8192, 80), (8, 32768, 160), (16, 98304, 200))


def make_requests(n: int, seed: int = 2, *, small: bool = False) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if small:
            vcpus, mem, disk = rng.choice(((1, 1024, 10), (2, 2048, 20), (2, 4096, 40)))
        else:
            vcpus, mem, disk = rng.choices(FLAVORS, weights=(30, 35, 20, 10, 5))[0]
        kind = rng.random()
        r = {
            "vcpus": vcpus,
            "memory_mb": mem,
            "disk_gb": disk,
            "availability_zone": "" if small or rng.random() < 0.5 else rng.choice(AZS),
            "architecture": "",
            "hypervisor_type": 0,
            "vm_mode": "",
            "disk_format": int(DiskFormat.QCOW2),
            "producible": [int(DiskFormat.RAW), int(DiskFormat.VMDK)],
        }
        if small or kind < 0.40:
            pass  # unpinned qcow2 the image service can convert
        elif kind < 0.65:
            r.update(hypervisor_type=int(HvType.KVM), architecture="x86_64", vm_mode="hvm",
                     producible=[int(DiskFormat.RAW)])  # fmt: skip
        elif kind < 0.85:
            r.update(hypervisor_type=int(HvType.VMWARE), disk_format=int(DiskFormat.VMDK),
                     producible=[])  # fmt: skip
        else:
            r.update(architecture="aarch64", producible=[int(DiskFormat.RAW)])
        out.append(r)
    return out


# ----------------------------------------------------------------------------- domain


def host_report(h: dict[str, Any], received_at: float) -> HostReport:
    caps = HostCapabilities(
        hypervisor_type=HvType(h["hypervisor_type"]),
        hypervisor_version=h["hypervisor_version"],
        supported_instances=tuple((a, HvType(t), m) for a, t, m in h["supported_instances"]),
        disk_formats=tuple(Rendition(DiskFormat(f)) for f in h["native_disk_formats"]),
        availability_zone=h["availability_zone"],
        cluster=Cluster(
            name=h["cluster_name"],
            drs_enabled=True,
            hosts=tuple(
                MemberHost(
                    name=e["name"],
                    cpu_threads=e["cpu_threads"],
                    memory_mb=e["memory_mb"],
                    memory_allocated_mb=e["memory_allocated_mb"],
                )
                for e in h["esxi_hosts"]
            ),
        )
        if h["esxi_hosts"]
        else None,
    )
    return HostReport(
        host_id=h["id"],
        hostname=h["id"],
        capabilities=caps,
        inventories={
            "VCPU": Inventory(total=h["vcpus"], allocation_ratio=h["cpu_ratio"]),
            "MEMORY_MB": Inventory(total=h["memory_mb"], reserved=h["memory_reserved_mb"]),
            "DISK_GB": Inventory(total=h["disk_gb"]),
        },
        received_at=received_at,
        agent_id="bench",
        sequence=1,
    )


def request_spec(r: dict[str, Any], consumer: str) -> RequestSpec:
    return RequestSpec(
        consumer_ids=(consumer,),
        resources=Resources(r["vcpus"], r["memory_mb"], r["disk_gb"]),
        request_id=f"req-{consumer}",
        project_id="bench",
        image=ImageRequirements(
            hypervisor_type=HvType(r["hypervisor_type"]),
            architecture=r["architecture"],
            vm_mode=r["vm_mode"],
            disk_format=DiskFormat(r["disk_format"]),
            producible_disk_formats=tuple(DiskFormat(f) for f in r["producible"]),
        ),
        availability_zone=r["availability_zone"],
    )


# ----------------------------------------------------------------------------- protobuf


def host_report_proto(h: dict[str, Any], sequence: int = 1) -> host_report_pb2.HostReport:
    return host_report_pb2.HostReport(
        host_id=h["id"],
        hostname=h["id"],
        hypervisor_type=h["hypervisor_type"],
        hypervisor_version=h["hypervisor_version"],
        state=host_report_pb2.CONNECTION_STATE_CONNECTED,
        inventories=[
            resources_pb2.Inventory(
                resource_class=1, total=h["vcpus"], allocation_ratio=h["cpu_ratio"]
            ),
            resources_pb2.Inventory(
                resource_class=2, total=h["memory_mb"], reserved=h["memory_reserved_mb"]
            ),
            resources_pb2.Inventory(resource_class=3, total=h["disk_gb"]),
        ],
        supported_instances=[
            hypervisor_pb2.SupportedInstance(architecture=a, hypervisor_type=t, vm_mode=m)
            for a, t, m in h["supported_instances"]
        ],
        disk_formats=[disk_pb2.Rendition(disk_format=f) for f in h["native_disk_formats"]],
        availability_zone=h["availability_zone"],
        cluster=hypervisor_pb2.ClusterReport(
            name=h["cluster_name"],
            drs_enabled=True,
            hosts=[
                hypervisor_pb2.EsxiHost(
                    name=e["name"],
                    connection_state=hypervisor_pb2.ESXI_CONNECTION_STATE_CONNECTED,
                    cpu_threads=e["cpu_threads"],
                    memory_mb=e["memory_mb"],
                    memory_allocated_mb=e["memory_allocated_mb"],
                )
                for e in h["esxi_hosts"]
            ],
        )
        if h["esxi_hosts"]
        else None,
        sequence=sequence,
        agent_id="bench",
        report_interval=Duration(seconds=30),
    )


def request_proto(r: dict[str, Any], consumer: str) -> scheduler_pb2.SelectDestinationsRequest:
    return scheduler_pb2.SelectDestinationsRequest(
        spec=request_spec_pb2.RequestSpec(
            request_id=f"req-{consumer}",
            consumer_ids=[consumer],
            num_instances=1,
            project_id="bench",
            resources=resources_pb2.Resources(
                vcpus=r["vcpus"], memory_mb=r["memory_mb"], disk_gb=r["disk_gb"]
            ),
            image=request_spec_pb2.ImageRequirements(
                hypervisor_type=r["hypervisor_type"],
                architecture=r["architecture"],
                vm_mode=r["vm_mode"],
                disk_format=r["disk_format"],
                producible_disk_formats=r["producible"],
            ),
            availability_zone=r["availability_zone"],
        )
    )
