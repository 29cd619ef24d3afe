"""What cloud-init's VMware datasource reads from the VM's ``guestinfo.*`` extraConfig keys.

The datasource (cloud-init >= 21.3, "VMware") looks for ``guestinfo.metadata`` (JSON) and
``guestinfo.userdata`` (anything cloud-init accepts), each with an ``.encoding`` key
(``gzip+base64`` here: extraConfig values are strings, and small ones are kinder to vpxd).
SSH keys travel in the metadata as ``public-keys-data``, so key injection works with no
config drive and no VMware Tools customization. The guest's network configuration travels in
the metadata's ``network`` key (netplan v2, static addresses: vSphere has no DHCP of ours;
see ``net/guestnet.py``), which the datasource hands to cloud-init's network stage.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping, Sequence

__all__ = [
    "ENCODING",
    "MAX_VALUE_BYTES",
    "decode",
    "encode",
    "guestinfo_options",
    "metadata_document",
    "with_network",
]

ENCODING = "gzip+base64"
# vSphere refuses extraConfig values much larger than this (the .vmx line limit).
MAX_VALUE_BYTES = 64 * 1024


def metadata_document(
    *,
    instance_id: str,
    hostname: str,
    ssh_public_keys: Sequence[str],
    extra: Mapping[str, str],
    network: Mapping[str, object] | None = None,
) -> dict[str, object]:
    doc: dict[str, object] = {
        "instance-id": instance_id,
        "local-hostname": hostname,
    }
    keys = [k.strip() for k in ssh_public_keys if k.strip()]
    if keys:
        doc["public-keys-data"] = "\n".join(keys) + "\n"
    if extra:
        doc["meta"] = dict(extra)
    if network:
        doc["network"] = dict(network)
    return doc


def encode(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, mtime=0)).decode("ascii")


def decode(value: str, encoding: str) -> bytes:
    """The inverse of what we write (what the datasource does on the guest side)."""
    raw = value.encode("ascii")
    if encoding in ("base64", "b64"):
        return base64.b64decode(raw)
    if encoding in ("gzip+base64", "gz+b64"):
        return gzip.decompress(base64.b64decode(raw))
    return raw


def guestinfo_options(
    *,
    instance_id: str,
    hostname: str,
    ssh_public_keys: Sequence[str] = (),
    user_data: bytes = b"",
    metadata: Mapping[str, str] | None = None,
    network: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """The extraConfig keys and values; raises ValueError when a value is too large."""
    doc = metadata_document(
        instance_id=instance_id,
        hostname=hostname,
        ssh_public_keys=ssh_public_keys,
        extra=metadata or {},
        network=network,
    )
    out = {
        "guestinfo.metadata": encode(json.dumps(doc, sort_keys=True).encode()),
        "guestinfo.metadata.encoding": ENCODING,
    }
    if user_data:
        out["guestinfo.userdata"] = encode(user_data)
        out["guestinfo.userdata.encoding"] = ENCODING
    for key, value in out.items():
        if len(value) > MAX_VALUE_BYTES:
            raise ValueError(f"{key} is {len(value)} bytes encoded (at most {MAX_VALUE_BYTES})")
    return out


def with_network(extra: Mapping[str, str], network: Mapping[str, object] | None) -> dict[str, str]:
    """The metadata keys of a VM whose extraConfig is `extra`, its network configuration
    replaced by `network` (a NIC added or taken off); nothing when it has no metadata of
    ours."""
    raw = extra.get("guestinfo.metadata")
    if not raw:
        return {}
    doc = json.loads(decode(raw, extra.get("guestinfo.metadata.encoding", "")))
    doc.pop("network", None)
    if network:
        doc["network"] = dict(network)
    value = encode(json.dumps(doc, sort_keys=True).encode())
    if len(value) > MAX_VALUE_BYTES:
        raise ValueError(
            f"guestinfo.metadata is {len(value)} bytes encoded (at most {MAX_VALUE_BYTES})"
        )
    return {"guestinfo.metadata": value, "guestinfo.metadata.encoding": ENCODING}
