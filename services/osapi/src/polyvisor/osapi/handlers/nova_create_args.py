"""The arguments of Nova's create-server request, read into the compute contract's terms:
image and flavor references, networks, the boot source (imageRef, block_device_mapping_v2)
and scheduler hints. One concern: checking what a create names, with Nova's 400s."""

from __future__ import annotations

from typing import Any

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import boolean

__all__ = ["boot_source", "hints", "networks", "ref"]


def ref(value: Any, what: str) -> str:
    """An id, or the last path segment of a link to one (imageRef and flavorRef may be URLs)."""
    text = str(value or "").strip().rstrip("/")
    if not text:
        raise ApiError(400, f"{what} is required")
    return text.rsplit("/", 1)[-1]


def networks(value: Any) -> list[sp.ServerNetwork]:
    if value is None or value in ("auto", "none"):
        return []
    if not isinstance(value, list):
        raise ApiError(400, "networks must be a list, 'auto' or 'none'")
    out = []
    for n in value:
        if not isinstance(n, dict):
            raise ApiError(400, "each network must be an object")
        if not (n.get("uuid") or n.get("port")):
            raise ApiError(400, "each network needs a uuid or a port")
        out.append(sp.ServerNetwork(network_id=str(n.get("uuid") or ""), port_id=str(n.get("port") or ""),
                                    fixed_ip=str(n.get("fixed_ip") or "")))  # fmt: skip
    return out


def boot_source(srv: dict[str, Any]) -> tuple[str, str, bool]:
    """(image, boot volume, delete the boot volume with the server) from Nova's imageRef and
    block_device_mapping_v2.

    A mapping at boot_index 0 of source "image" to destination "local" is the image boot
    itself (the openstack CLI sends it beside imageRef for `--image`); of source and
    destination "volume", an existing volume the server boots from, kept when the server is
    deleted unless its delete_on_termination is true. Other mappings (a volume made from an
    image, blank or swap disks) are refused."""
    bdms = srv.get("block_device_mapping_v2") or []
    if not isinstance(bdms, list) or not all(isinstance(b, dict) for b in bdms):
        raise ApiError(400, "block_device_mapping_v2 must be a list of objects")
    image = ref(srv["imageRef"], "imageRef") if srv.get("imageRef") else ""
    boot = ""
    delete_boot = False
    for b in bdms:
        kind = (b.get("source_type"), b.get("destination_type"))
        if str(b.get("boot_index", "")) != "0" or kind not in (
            ("image", "local"),
            ("volume", "volume"),
        ):
            raise ApiError(400, "block_device_mapping_v2: only the image (source_type image, "
                           "destination_type local) or an existing volume (source_type and "
                           "destination_type volume) at boot_index 0 is supported")  # fmt: skip
        uuid = ref(b.get("uuid"), "block_device_mapping_v2 uuid")
        if kind == ("image", "local"):
            if image and uuid != image:
                raise ApiError(400, "block_device_mapping_v2: the image mapped at boot_index 0 "
                               "is not imageRef")  # fmt: skip
            image = uuid
            continue
        delete_boot = boolean(
            b.get("delete_on_termination", False), "block_device_mapping_v2 delete_on_termination"
        )
        boot = uuid
    if not image and not boot:
        image = ref(srv.get("imageRef"), "imageRef")  # the usual "imageRef is required"
    return image, boot, delete_boot


def hints(body: dict[str, Any]) -> dict[str, str]:
    raw = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(raw, dict):
        raise ApiError(400, "os:scheduler_hints must be an object")
    return {
        str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in raw.items()
    }
