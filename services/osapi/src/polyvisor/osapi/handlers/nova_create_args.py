"""The arguments of Nova's create-server request, read into the compute contract's terms:
image and flavor references, networks, the boot source (imageRef, block_device_mapping_v2)
scheduler hints and metadata (whose schema the metadata API shares). One concern: checking
what a create names, with Nova's 400s."""

from __future__ import annotations

import re
from typing import Any

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import boolean

__all__ = [
    "METADATA_ITEMS",
    "boot_source",
    "hints",
    "metadata",
    "networks",
    "ref",
    "user_metadata",
]

#: Nova's metadata schema (parameter_types.metadata): a key is 1 to 255 of these characters
#: (the pattern as Nova's: "-" stands for itself), a value a string of at most 255.
_KEY = re.compile(r"[a-zA-Z0-9-_:. ]{1,255}")
MAX_VALUE = 255
#: The most items a server's metadata holds (the api's limit; the gateway's quota sets show
#: it as metadata_items). Nova refuses more as over quota: 403.
METADATA_ITEMS = 128


def metadata(value: Any, field: str) -> dict[str, str]:
    """A metadata object as Nova's schema takes it (a create's, or the metadata API's
    `metadata` or `meta`); 400 otherwise."""
    if not isinstance(value, dict):
        raise ApiError(400, f"Invalid input for field/attribute {field}: an object is required")
    for k, v in value.items():
        if not _KEY.fullmatch(k):
            raise ApiError(400, f"Invalid input for field/attribute {field}: the key "
                                f"{k[:40]!r} is not 1 to 255 letters, digits, spaces or "
                                "-_:.")  # fmt: skip
        if not isinstance(v, str):
            raise ApiError(400, f"Invalid input for field/attribute {field}: the value of "
                                f"{k[:40]!r} is not a string")  # fmt: skip
        if len(v) > MAX_VALUE:
            raise ApiError(400, f"Invalid input for field/attribute {k[:40]}: the value is "
                                f"longer than {MAX_VALUE} characters")  # fmt: skip
    return value


def user_metadata(value: Any, field: str) -> dict[str, str]:
    """`metadata` a user writes: none of the keys the gateway keeps the access addresses in
    (set through accessIPv4/accessIPv6); 400 otherwise."""
    items = metadata(value, field)
    if reserved := sorted(set(items) & set(nc.ACCESS_IP_KEYS.values())):
        raise ApiError(400, f"metadata key {reserved[0]} is reserved (set accessIPv4/accessIPv6)")
    return items


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
