"""Finding our place in vCenter's inventory, and reading the cluster's facts.

``resolve`` runs once per session generation (morefs are not stable across a vCenter
rebuild): the cluster (``name`` or ``datacenter/name``), its datacenter, its root resource
pool, and our VM folder under the datacenter's VM folder, created when missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agent_vmware.props import container_view, retrieve, retrieve_one, traversal_to
from polyvisor.agent_vmware.report import ClusterFacts, DatastoreFacts, HostFacts
from polyvisor.agentkit.driver import DriverError

__all__ = ["Placement", "cluster_datastores", "read_cluster", "resolve"]

_HOST_PATHS = (
    "name",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "hardware.cpuInfo.numCpuCores",
    "hardware.cpuInfo.numCpuThreads",
    "hardware.cpuInfo.hz",
    "hardware.memorySize",
    "summary.quickStats.overallCpuUsage",
    "summary.quickStats.overallMemoryUsage",
    "summary.hardware.cpuMhz",
    "vm",
)
_HOST_VM_PATHS = ("runtime.powerState", "summary.config.numCpu", "summary.config.memorySizeMB")
_DATASTORE_PATHS = ("name", "summary.capacity", "summary.freeSpace", "summary.accessible")


class ConfigurationError(DriverError):
    """The configured cluster, datacenter or folder does not exist or is ambiguous."""


@dataclass(frozen=True, slots=True)
class Placement:
    generation: int
    instance_uuid: str
    api_version: str
    datacenter: vim.Datacenter
    datacenter_path: str  # dcPath of the /folder endpoint
    cluster: vim.ClusterComputeResource
    cluster_name: str
    resource_pool: vim.ResourcePool
    folder: vim.Folder

    @property
    def cluster_moref(self) -> str:
        return str(self.cluster._moId)


def _datacenter_of(content: vim.ServiceInstanceContent, obj: Any) -> tuple[vim.Datacenter, str]:
    root = content.rootFolder
    chain: list[str] = []
    datacenter: vim.Datacenter | None = None
    current = obj
    while current is not None and current != root:
        props = retrieve_one(content, current, ["parent", "name"]) or {}
        if isinstance(current, vim.Datacenter):
            datacenter = current
            chain = [str(props.get("name", ""))]
        elif datacenter is not None:
            chain.insert(0, str(props.get("name", "")))
        current = props.get("parent")
    if datacenter is None:
        raise ConfigurationError("the cluster is not inside a datacenter")
    return datacenter, "/".join(chain)


def _find_cluster(
    content: vim.ServiceInstanceContent, wanted: str
) -> tuple[vim.ClusterComputeResource, str]:
    dc_name, _, name = wanted.rpartition("/")
    found = [
        (obj, props)
        for obj, props in container_view(
            content, content.rootFolder, vim.ClusterComputeResource, ["name"]
        )
        if props.get("name") == name
    ]
    if dc_name:
        found = [
            (o, p) for o, p in found if _datacenter_of(content, o)[1].split("/")[-1] == dc_name
        ]
    if not found:
        raise ConfigurationError(f"no cluster named {wanted!r} in vCenter")
    if len(found) > 1:
        raise ConfigurationError(
            f"{len(found)} clusters are named {name!r}: name it as '<datacenter>/{name}'"
        )
    return found[0][0], name


def _ensure_folder(
    content: vim.ServiceInstanceContent, parent: vim.Folder, names: tuple[str, ...]
) -> vim.Folder:
    index = content.searchIndex
    current = parent
    for name in names:
        child = index.FindChild(current, name)
        if child is None:
            try:
                child = current.CreateFolder(name)
            except vim.fault.DuplicateName:
                child = index.FindChild(current, name)
        if not isinstance(child, vim.Folder):
            raise ConfigurationError(f"{name!r} exists in the VM folder but is not a folder")
        current = child
    return current


def resolve(
    content: vim.ServiceInstanceContent, options: VmwareOptions, generation: int
) -> Placement:
    about = content.about
    cluster, name = _find_cluster(content, options.cluster_name)
    datacenter, dc_path = _datacenter_of(content, cluster)
    props = retrieve_one(content, cluster, ["resourcePool"]) or {}
    pool = props.get("resourcePool")
    if pool is None:
        raise ConfigurationError(f"cluster {name!r} has no resource pool")
    dc_props = retrieve_one(content, datacenter, ["vmFolder"]) or {}
    folder = _ensure_folder(content, dc_props["vmFolder"], options.folder_path)
    return Placement(
        generation=generation,
        instance_uuid=str(about.instanceUuid or ""),
        api_version=str(about.apiVersion or ""),
        datacenter=datacenter,
        datacenter_path=dc_path,
        cluster=cluster,
        cluster_name=name,
        resource_pool=pool,
        folder=folder,
    )


def cluster_datastores(
    content: vim.ServiceInstanceContent, place: Placement, regex: str
) -> list[tuple[vim.Datastore, DatastoreFacts]]:
    pattern = re.compile(regex)
    out = []
    for obj, p in traversal_to(
        content,
        place.cluster,
        "datastore",
        vim.ClusterComputeResource,
        vim.Datastore,
        _DATASTORE_PATHS,
    ):
        name = str(p.get("name", ""))
        if not pattern.search(name):
            continue
        out.append(
            (
                obj,
                DatastoreFacts(
                    name=name,
                    capacity=int(p.get("summary.capacity") or 0),
                    free_space=int(p.get("summary.freeSpace") or 0),
                    accessible=bool(p.get("summary.accessible", True)),
                ),
            )
        )
    return sorted(out, key=lambda item: item[1].name)


def _host_facts(host: Any, p: dict[str, Any], vm_props: dict[str, dict[str, Any]]) -> HostFacts:
    vms = [vm_props[vm._moId] for vm in p.get("vm") or () if vm._moId in vm_props]
    running = [v for v in vms if v.get("runtime.powerState") == "poweredOn"]
    return HostFacts(
        moref=str(host._moId),
        name=str(p.get("name", "")),
        connection_state=str(p.get("runtime.connectionState", "disconnected")),
        in_maintenance=bool(p.get("runtime.inMaintenanceMode", False)),
        cpu_cores=int(p.get("hardware.cpuInfo.numCpuCores") or 0),
        cpu_threads=int(p.get("hardware.cpuInfo.numCpuThreads") or 0),
        cpu_hz=int(p.get("hardware.cpuInfo.hz") or 0),
        memory_bytes=int(p.get("hardware.memorySize") or 0),
        cpu_used_mhz=int(p.get("summary.quickStats.overallCpuUsage") or 0),
        memory_used_mb=int(p.get("summary.quickStats.overallMemoryUsage") or 0),
        core_mhz=int(p.get("summary.hardware.cpuMhz") or 0),
        vm_count=len(vms),
        vcpus_allocated=sum(int(v.get("summary.config.numCpu") or 0) for v in running),
        memory_allocated_mb=sum(int(v.get("summary.config.memorySizeMB") or 0) for v in running),
    )


def read_cluster(content: vim.ServiceInstanceContent, place: Placement, regex: str) -> ClusterFacts:
    found = retrieve(content, [place.cluster], vim.ClusterComputeResource, ["configurationEx"])
    config = found[0][1].get("configurationEx") if found else None
    drs = getattr(config, "drsConfig", None)
    rows = traversal_to(
        content, place.cluster, "host", vim.ClusterComputeResource, vim.HostSystem, _HOST_PATHS
    )
    vms = [vm for _, p in rows for vm in p.get("vm") or ()]
    vm_props = {
        vm._moId: props for vm, props in retrieve(content, vms, vim.VirtualMachine, _HOST_VM_PATHS)
    }
    hosts = tuple(_host_facts(obj, p, vm_props) for obj, p in rows)
    return ClusterFacts(
        name=place.cluster_name,
        moref=place.cluster_moref,
        api_version=place.api_version,
        drs_enabled=bool(getattr(drs, "enabled", False)),
        hosts=hosts,
        datastores=tuple(d for _, d in cluster_datastores(content, place, regex)),
    )
