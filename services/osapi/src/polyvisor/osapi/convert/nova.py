"""Nova v2.1's JSON for servers, by microversion (what each one adds, and no more: clients
validate the bodies against each version's schema), and for the compute catalogue."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from polyvisor.osapi.convert.common import iso
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.microversion import Version
from polyvisor.types.v1 import hypervisor_pb2 as hv
from polyvisor.types.v1 import network_pb2
from polyvisor.types.v1 import server_status_pb2 as ss

__all__ = [
    "ACCESS_IP_KEYS",
    "NO_VOLUMES",
    "VOLUMES_KEY",
    "access_ips",
    "fault",
    "flavor",
    "keypair",
    "server",
    "server_link",
    "server_rebuilt",
    "server_updated",
    "status_to_state",
    "user_metadata",
]

# Nova's accessIPv4/accessIPv6 (addresses a user records for reaching a server, never
# configured on it) are kept in the server's metadata under these keys; the metadata Nova
# users see leaves them out.
ACCESS_IP_KEYS = {"accessIPv4": "openstack:accessIPv4", "accessIPv6": "openstack:accessIPv6"}

#: A server's volumes are not in its message: server() answers none, and a show puts the
#: volume service's list in their place in the encoded body (VOLUMES_KEY + the list).
VOLUMES_KEY = b'"os-extended-volumes:volumes_attached":'
NO_VOLUMES = VOLUMES_KEY + b"[]"
_IP_KIND = {"accessIPv4": ipaddress.IPv4Address, "accessIPv6": ipaddress.IPv6Address}


def access_ips(body: Mapping[str, Any]) -> dict[str, str]:
    """The metadata entries for the access addresses a create or update body sets (canonical
    form; "" or null clears one). 400 for an address of the wrong family or no address."""
    out: dict[str, str] = {}
    for field, key in ACCESS_IP_KEYS.items():
        if field not in body:
            continue
        value = body[field]
        if value is None or value == "":
            out[key] = ""
            continue
        try:
            out[key] = str(_IP_KIND[field](str(value).strip()))
        except ValueError:
            raise ApiError(400, f"Invalid input for field/attribute {field}: "
                                f"{value!r} is not a valid {field[-4:]} address") from None  # fmt: skip
    return out


def user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """A server's metadata as Nova shows it: without the access addresses."""
    reserved = ACCESS_IP_KEYS.values()
    return {k: v for k, v in metadata.items() if k not in reserved}


STATUS = {
    ss.SERVER_STATE_BUILDING: "BUILD",
    ss.SERVER_STATE_ACTIVE: "ACTIVE",
    ss.SERVER_STATE_SHUTOFF: "SHUTOFF",
    ss.SERVER_STATE_REBOOTING: "REBOOT",
    ss.SERVER_STATE_ERROR: "ERROR",
    ss.SERVER_STATE_DELETED: "DELETED",
    ss.SERVER_STATE_SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
    ss.SERVER_STATE_PAUSED: "PAUSED",
    ss.SERVER_STATE_SUSPENDED: "SUSPENDED",
    ss.SERVER_STATE_VERIFY_RESIZE: "VERIFY_RESIZE",
}
VM_STATE = {
    ss.SERVER_STATE_BUILDING: "building",
    ss.SERVER_STATE_ACTIVE: "active",
    ss.SERVER_STATE_SHUTOFF: "stopped",
    ss.SERVER_STATE_REBOOTING: "active",
    ss.SERVER_STATE_ERROR: "error",
    ss.SERVER_STATE_DELETED: "deleted",
    ss.SERVER_STATE_SHELVED_OFFLOADED: "shelved_offloaded",
    ss.SERVER_STATE_PAUSED: "paused",
    ss.SERVER_STATE_SUSPENDED: "suspended",
    ss.SERVER_STATE_VERIFY_RESIZE: "resized",
}
TASK = {
    ss.SERVER_TASK_SCHEDULING: "scheduling",
    ss.SERVER_TASK_FETCHING_IMAGE: "spawning",
    ss.SERVER_TASK_SPAWNING: "spawning",
    ss.SERVER_TASK_POWERING_ON: "powering-on",
    ss.SERVER_TASK_POWERING_OFF: "powering-off",
    ss.SERVER_TASK_REBOOTING: "rebooting",
    ss.SERVER_TASK_REBOOTING_HARD: "rebooting_hard",
    ss.SERVER_TASK_DELETING: "deleting",
    ss.SERVER_TASK_IMAGE_SNAPSHOT: "image_snapshot",
    ss.SERVER_TASK_REBUILDING: "rebuilding",
    ss.SERVER_TASK_SHELVING: "shelving",
    ss.SERVER_TASK_UNSHELVING: "unshelving",
    ss.SERVER_TASK_PAUSING: "pausing",
    ss.SERVER_TASK_UNPAUSING: "unpausing",
    ss.SERVER_TASK_SUSPENDING: "suspending",
    ss.SERVER_TASK_RESUMING: "resuming",
    ss.SERVER_TASK_RESIZE_PREP: "resize_prep",
    ss.SERVER_TASK_RESIZE_MIGRATING: "resize_migrating",
    ss.SERVER_TASK_RESIZE_FINISH: "resize_finish",
    ss.SERVER_TASK_RESIZE_CONFIRMING: "resize_confirming",
    ss.SERVER_TASK_RESIZE_REVERTING: "resize_reverting",
}
_RESIZING = (
    ss.SERVER_TASK_RESIZE_PREP,
    ss.SERVER_TASK_RESIZE_MIGRATING,
    ss.SERVER_TASK_RESIZE_FINISH,
)
POWER = {
    hv.POWER_STATE_RUNNING: 1,
    hv.POWER_STATE_PAUSED: 3,
    hv.POWER_STATE_SHUTDOWN: 4,
    hv.POWER_STATE_CRASHED: 6,
    hv.POWER_STATE_SUSPENDED: 7,
}

#: Nova's status filter -> Polyvisor's state.
_BY_STATUS = {v: k for k, v in STATUS.items()} | {"HARD_REBOOT": ss.SERVER_STATE_REBOOTING}


def status_to_state(status: str) -> int | None:
    return _BY_STATUS.get(status.upper())


def status(s: Any) -> str:
    if s.state == ss.SERVER_STATE_DELETING:
        return "ACTIVE" if s.power_state == hv.POWER_STATE_RUNNING else "SHUTOFF"
    if s.state == ss.SERVER_STATE_REBOOTING and s.task == ss.SERVER_TASK_REBOOTING_HARD:
        return "HARD_REBOOT"
    if s.task == ss.SERVER_TASK_REBUILDING:
        return "REBUILD"
    if s.task in _RESIZING:
        return "RESIZE"
    if s.task == ss.SERVER_TASK_RESIZE_REVERTING:
        return "REVERT_RESIZE"
    return STATUS.get(s.state, "UNKNOWN")


def _links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/compute/{kind}/{ident}"},
    ]


def server_link(s: Any, base: str) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "links": _links(base, "servers", s.id)}


def fault(f: Any) -> dict[str, Any]:
    out = {"code": 500, "created": iso(f.time) or "", "message": f.message or "Unknown fault"}
    if f.details:
        out["details"] = f.details
    return out


def addresses(s: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for a in s.addresses:
        kind = "floating" if a.type == network_pb2.ADDRESS_TYPE_FLOATING else "fixed"
        out.setdefault(a.network or "private", []).append(
            {
                "version": a.version or 4,
                "addr": a.address,
                "OS-EXT-IPS:type": kind,
                "OS-EXT-IPS-MAC:mac_addr": a.mac_address,
            }
        )
    return out


@functools.lru_cache(maxsize=4096)
def host_id(project_id: str, host: str) -> str:
    """Nova's hostId: the host as this project sees it (a hash: other projects' servers on
    the same host give another); the same for every server of a project on a host."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


#: The statuses Nova shows a server's progress in.
_PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def server(s: Any, base: str, mv: Version) -> dict[str, Any]:
    """The detailed server of `mv`."""
    f = s.flavor
    flav: dict[str, Any]
    if mv >= (2, 47):
        flav = {"vcpus": f.resources.vcpus, "ram": f.resources.memory_mb,
                "disk": f.resources.disk_gb, "ephemeral": 0, "swap": 0,
                "original_name": f.name, "extra_specs": dict(f.extra_specs)}  # fmt: skip
    else:
        flav = {"id": f.id, "links": [_links(base, "flavors", f.id)[1]]}
    image: Any = (
        {"id": s.image_id, "links": [_links(base, "images", s.image_id)[1]]} if s.image_id else ""
    )
    out: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "status": status(s),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": user_metadata(s.metadata),
        "hostId": host_id(s.project_id, s.host),
        "image": image,
        "flavor": flav,
        "created": iso(s.create_time),
        "updated": iso(s.update_time) or iso(s.create_time),
        "addresses": addresses(s),
        "accessIPv4": s.metadata.get(ACCESS_IP_KEYS["accessIPv4"], ""),
        "accessIPv6": s.metadata.get(ACCESS_IP_KEYS["accessIPv6"], ""),
        "links": _links(base, "servers", s.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 100 if s.state == ss.SERVER_STATE_ACTIVE else 0,
        "OS-EXT-AZ:availability_zone": s.availability_zone or "nova",
        "config_drive": "",
        "key_name": s.key_name or None,
        "OS-SRV-USG:launched_at": iso(s.launch_time),
        "OS-SRV-USG:terminated_at": iso(s.delete_time),
        "security_groups": [{"name": "default"}],
        "OS-EXT-SRV-ATTR:host": s.host or None,
        "OS-EXT-SRV-ATTR:instance_name": s.instance_name,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host or None,
        "OS-EXT-STS:task_state": "deleting"
        if s.state == ss.SERVER_STATE_DELETING
        else TASK.get(s.task),
        "OS-EXT-STS:vm_state": VM_STATE.get(
            s.state, "active" if s.power_state == hv.POWER_STATE_RUNNING else "stopped"
        ),
        "OS-EXT-STS:power_state": POWER.get(s.power_state, 0),
        "os-extended-volumes:volumes_attached": [],  # a show fills it (NO_VOLUMES)
    }
    if out["status"] not in _PROGRESS_STATUSES:
        del out["progress"]  # as Nova: progress only while a server is up or changing
    if s.HasField("fault") and (s.fault.message or s.state == ss.SERVER_STATE_ERROR):
        out["fault"] = fault(s.fault)
    if mv >= (2, 3):
        out.update({
            "OS-EXT-SRV-ATTR:reservation_id": f"r-{s.request_id[:8] or s.id[:8]}",
            "OS-EXT-SRV-ATTR:launch_index": 0,
            "OS-EXT-SRV-ATTR:hostname": s.name,
            "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:root_device_name": None,
            "OS-EXT-SRV-ATTR:user_data": None,
        })  # fmt: skip
    if mv >= (2, 9):
        out["locked"] = False
    if mv >= (2, 16):
        out["host_status"] = "UP" if s.host else ""
    if mv >= (2, 19):
        out["description"] = None
    if mv >= (2, 26):
        out["tags"] = list(s.tags)
    if mv >= (2, 63):
        out["trusted_image_certificates"] = None
    if mv >= (2, 73):
        out["locked_reason"] = None
    if mv >= (2, 96):
        out["pinned_availability_zone"] = None
    return out


#: What Nova leaves out of the server it answers an update or a rebuild with, before 2.75.
_NOT_IN_UPDATES = ("OS-EXT-AZ:", "OS-EXT-SRV-ATTR:", "OS-EXT-STS:", "OS-SRV-USG:",
                   "os-extended-volumes:", "config_drive", "key_name", "security_groups",
                   "host_status")  # fmt: skip


def server_updated(s: Any, base: str, mv: Version) -> dict[str, Any]:
    """The server of an update's or a rebuild's answer (the whole server from 2.75)."""
    out = server(s, base, mv)
    if mv < (2, 75):
        out = {k: v for k, v in out.items() if not k.startswith(_NOT_IN_UPDATES)}
        # and the addresses without the extended attributes (type, MAC): version and addr
        out["addresses"] = {net: [{"version": a["version"], "addr": a["addr"]} for a in addrs]
                            for net, addrs in out["addresses"].items()}  # fmt: skip
    return out


def server_rebuilt(s: Any, base: str, mv: Version) -> dict[str, Any]:
    """The server of a rebuild's answer: an update's, and key_name from 2.54, user_data from
    2.57 (in place of OS-EXT-SRV-ATTR:user_data from 2.75). The api keeps only whether a
    server has user data, not the data: null, as Nova answers for a server without."""
    out = server_updated(s, base, mv)
    if mv >= (2, 54):
        out["key_name"] = s.key_name or None
    if mv >= (2, 57):
        out.pop("OS-EXT-SRV-ATTR:user_data", None)
        out["user_data"] = None
    return out


def flavor(f: Any, base: str, mv: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram": f.ram_mb,
        "disk": f.disk_gb,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": f.is_public,
        "swap": "",
        "rxtx_factor": 1.0,
        "links": _links(base, "flavors", f.id),
    }
    if mv >= (2, 55):
        out["description"] = f.description or None
    if mv >= (2, 61):
        out["extra_specs"] = dict(f.extra_specs)
    if mv >= (2, 75):
        out["swap"] = 0
    return out


def keypair(k: Any, mv: Version, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint}
    if mv >= (2, 2):
        out["type"] = "x509" if k.type == 2 else "ssh"  # KEYPAIR_TYPE_X509
    if detail:
        out.update({"user_id": k.user_id, "created_at": iso(k.create_time), "deleted": False,
                    "deleted_at": None, "updated_at": None, "id": 0})  # fmt: skip
    return out
