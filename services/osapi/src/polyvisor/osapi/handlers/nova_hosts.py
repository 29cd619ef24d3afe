"""Nova v2.1's view of the hosts: os-hypervisors (a KVM host, or a whole vCenter cluster,
each one hypervisor as Nova's drivers report them), os-hosts (deprecated by Nova in 2.43:
the compute hosts) and os-availability-zone."""

from __future__ import annotations

import zlib
from typing import Any

from aiohttp import web

from polyvisor.compute.v1 import hypervisors_pb2 as hp
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import MV, WALK_PAGE, every_page, stubs
from polyvisor.types.v1 import hypervisor_pb2 as hv

__all__ = ["routes"]


#: Nova's names for the hypervisor types (what its drivers report).
HYPERVISOR_TYPES = {hv.HYPERVISOR_TYPE_KVM: "QEMU", hv.HYPERVISOR_TYPE_QEMU: "QEMU",
                    hv.HYPERVISOR_TYPE_VMWARE: "VMware vCenter Server",
                    hv.HYPERVISOR_TYPE_XEN: "Xen", hv.HYPERVISOR_TYPE_LXC: "LXC",
                    hv.HYPERVISOR_TYPE_HYPERV: "Hyper-V"}  # fmt: skip


def _hyp_id(h: Any, mv: Any) -> Any:
    return h.id if mv >= (2, 53) else zlib.crc32(h.id.encode()) & 0x7FFFFFFF


def _version_int(text: str) -> int:
    parts = [int(p) for p in text.split(".")[:3] if p.isdigit()] + [0, 0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1000 + parts[2]


def _hypervisor(h: Any, mv: Any, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _hyp_id(h, mv),
        "hypervisor_hostname": h.cluster_name or h.hostname,
        "state": "up" if h.state == hv.HOST_STATE_UP else "down",
        "status": "disabled" if h.status == hv.HOST_STATUS_DISABLED else "enabled",
    }
    if not detail:
        return out
    out.update({
        "hypervisor_type": HYPERVISOR_TYPES.get(h.hypervisor_type, "QEMU"),
        "hypervisor_version": _version_int(h.hypervisor_version),
        "host_ip": h.host_ip or None,
        "service": {"host": h.hostname, "id": _hyp_id(h, mv), "disabled_reason": h.disabled_reason or None},
    })  # fmt: skip
    if mv < (2, 88):
        t, u = h.total, h.used
        out.update({
            "vcpus": t.vcpus, "vcpus_used": u.vcpus, "memory_mb": t.memory_mb,
            "memory_mb_used": u.memory_mb, "local_gb": t.disk_gb, "local_gb_used": u.disk_gb,
            "free_ram_mb": t.memory_mb - u.memory_mb, "free_disk_gb": t.disk_gb - u.disk_gb,
            "current_workload": 0, "running_vms": h.running_servers,
            "disk_available_least": t.disk_gb - u.disk_gb,
            "cpu_info": {} if mv >= (2, 28) else "{}",
        })  # fmt: skip
    else:
        out["uptime"] = None
    return out


async def _all_hypervisors(request: web.Request) -> list[Any]:
    s = stubs(request)
    out: list[Any] = []
    async for resp in every_page(lambda token: s.compute.ListHypervisors(
            hp.ListHypervisorsRequest(page_size=WALK_PAGE, page_token=token),
            metadata=s.md, timeout=s.timeout)):  # fmt: skip
        out += resp.hypervisors
    return out


async def _list_hypervisors(request: web.Request, detail: bool) -> web.Response:
    mv = request[MV]
    hyps = await _all_hypervisors(request)
    if pattern := request.query.get("hypervisor_hostname_pattern"):
        hyps = [h for h in hyps if pattern in (h.cluster_name or h.hostname)]
    return web.json_response({"hypervisors": [_hypervisor(h, mv, detail) for h in hyps]})


async def list_hypervisors(request: web.Request) -> web.Response:
    return await _list_hypervisors(request, detail=False)


async def list_hypervisors_detail(request: web.Request) -> web.Response:
    return await _list_hypervisors(request, detail=True)


async def show_hypervisor(request: web.Request) -> web.Response:
    mv, wanted = request[MV], request.match_info["id"]
    for h in await _all_hypervisors(request):
        if str(_hyp_id(h, mv)) == wanted or h.id == wanted:
            return web.json_response({"hypervisor": _hypervisor(h, mv, detail=True)})
    raise ApiError(404, f"Hypervisor with ID '{wanted}' could not be found.")


async def hypervisor_statistics(request: web.Request) -> web.Response:
    if request[MV] >= (2, 88):
        raise ApiError(404, "The hypervisor statistics API was removed in microversion 2.88")
    rows = [_hypervisor(h, (2, 1), detail=True) for h in await _all_hypervisors(request)]
    keys = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least")  # fmt: skip
    stats = {k: sum(r[k] for r in rows) for k in keys} | {"count": len(rows)}
    return web.json_response({"hypervisor_statistics": stats})


async def availability_zones(request: web.Request) -> web.Response:
    """Nova's zones: any user lists their names and whether each is available (a zone with an
    enabled host, from the api's ListAvailabilityZones); the detail form, with each zone's
    hosts, is an admin's (ListHypervisors)."""
    if not request.path.endswith("/detail"):
        s = stubs(request)
        resp = await s.compute.ListAvailabilityZones(hp.ListAvailabilityZonesRequest(),
                                                     metadata=s.md, timeout=s.timeout)  # fmt: skip
        zones: dict[str, bool] = {}
        for z in resp.availability_zones:  # "" is Nova's default zone, "nova"
            zones[z.name or "nova"] = zones.get(z.name or "nova", False) or z.available
        info = [{"zoneName": z, "zoneState": {"available": up}, "hosts": None}
                for z, up in sorted(zones.items())]  # fmt: skip
        return web.json_response({"availabilityZoneInfo": info})
    hosts_of: dict[str, dict[str, Any]] = {}
    for h in await _all_hypervisors(request):
        hosts = hosts_of.setdefault(h.availability_zone or "nova", {})
        hosts[h.hostname] = {"nova-compute": {"available": h.status != hv.HOST_STATUS_DISABLED,
                                              "active": h.state == hv.HOST_STATE_UP,
                                              "updated_at": None}}  # fmt: skip
    info = [{"zoneName": z, "hosts": hosts,
             "zoneState": {"available": any(x["nova-compute"]["available"] for x in hosts.values())}}
            for z, hosts in sorted(hosts_of.items())]  # fmt: skip
    return web.json_response({"availabilityZoneInfo": info})


def _too_new_for_hosts(request: web.Request) -> None:
    if request[MV] >= (2, 43):
        raise ApiError(404, "The os-hosts API was removed in microversion 2.43")


async def list_hosts(request: web.Request) -> web.Response:
    _too_new_for_hosts(request)
    zone = request.query.get("zone")
    hosts = [{"host_name": h.hostname, "service": "compute", "zone": h.availability_zone or "nova"}
             for h in await _all_hypervisors(request)]  # fmt: skip
    if zone:
        hosts = [h for h in hosts if h["zone"] == zone]
    return web.json_response({"hosts": hosts})


async def show_host(request: web.Request) -> web.Response:
    _too_new_for_hosts(request)
    name = request.match_info["host"]
    for h in await _all_hypervisors(request):
        if h.hostname == name:
            t, u = h.total, h.used
            rows = [("(total)", t.vcpus, t.memory_mb, t.disk_gb),
                    ("(used_now)", u.vcpus, u.memory_mb, u.disk_gb),
                    ("(used_max)", u.vcpus, u.memory_mb, u.disk_gb)]  # fmt: skip
            body = [{"resource": {"host": name, "project": proj, "cpu": cpu, "memory_mb": mem,
                                  "disk_gb": disk}} for proj, cpu, mem, disk in rows]  # fmt: skip
            return web.json_response({"host": body})
    raise ApiError(404, f"Compute host {name} could not be found.")


def routes(p: str) -> list[web.RouteDef]:
    return [
        web.get(f"{p}/os-hosts", list_hosts),
        web.get(f"{p}/os-hosts/{{host}}", show_host),
        web.get(f"{p}/os-hypervisors", list_hypervisors),
        web.get(f"{p}/os-hypervisors/detail", list_hypervisors_detail),
        web.get(f"{p}/os-hypervisors/statistics", hypervisor_statistics),
        web.get(f"{p}/os-hypervisors/{{id}}", show_hypervisor),
        web.get(f"{p}/os-availability-zone", availability_zones),
        web.get(f"{p}/os-availability-zone/detail", availability_zones),
    ]
