"""The config drive: an ISO9660 image cloud-init reads with its NoCloud datasource.

    write_config_drive(path, ConfigDrive(instance_id=..., hostname=..., user_data=b"...",
                                         public_keys=("ssh-ed25519 AAAA...",)))

The volume is labelled ``cidata`` and holds ``meta-data`` (instance-id, local-hostname,
public-keys), ``user-data``, ``vendor-data`` and ``network_data.json`` (OpenStack's network
document for the instance's ports, the same the metadata service serves), with Rock Ridge and Joliet names so the
guest sees them under those exact names. Made with pycdlib: no genisoimage subprocess.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycdlib

__all__ = ["ConfigDrive", "meta_data", "read_config_drive", "write_config_drive"]

VOLUME_LABEL = "cidata"


@dataclass(frozen=True, slots=True)
class ConfigDrive:
    instance_id: str
    hostname: str
    user_data: bytes = b""
    public_keys: tuple[str, ...] = ()
    network_data: Mapping[str, Any] = field(default_factory=dict)


def _yaml_str(value: str) -> str:
    # A JSON string is a valid YAML flow scalar: quotes, escapes and unicode are safe.
    return json.dumps(value)


def meta_data(drive: ConfigDrive) -> bytes:
    lines = [
        f"instance-id: {_yaml_str(drive.instance_id)}",
        f"local-hostname: {_yaml_str(drive.hostname)}",
    ]
    keys = [k.strip() for k in drive.public_keys if k.strip()]
    if keys:
        lines.append("public-keys:")
        lines.extend(f"  - {_yaml_str(k)}" for k in keys)
    return ("\n".join(lines) + "\n").encode()


_FILES = (
    ("meta-data", "/METADATA.;1"),
    ("user-data", "/USERDATA.;1"),
    ("vendor-data", "/VENDORDA.;1"),
    ("network_data.json", "/NETWORKD.JSO;1"),
)


def write_config_drive(path: Path, drive: ConfigDrive) -> None:
    """Write the ISO at ``path`` (atomically: a temporary file renamed into place)."""
    contents = {
        "meta-data": meta_data(drive),
        "user-data": drive.user_data,
        "vendor-data": b"",
        "network_data.json": json.dumps(
            dict(drive.network_data) or {"links": [], "networks": [], "services": []},
            sort_keys=True,
        ).encode(),
    }
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=VOLUME_LABEL)
    try:
        for name, iso_path in _FILES:
            data = contents[name]
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                iso_path,
                rr_name=name,
                joliet_path=f"/{name}",
            )
        tmp = path.with_name(path.name + ".tmp")
        iso.write(str(tmp))
    finally:
        iso.close()
    os.replace(tmp, path)


def read_config_drive(path: Path) -> dict[str, bytes]:
    """The files of a config drive by their Rock Ridge names (for tests and debugging)."""
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        out: dict[str, bytes] = {}
        for name, _ in _FILES:
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, rr_path=f"/{name}")
            out[name] = buf.getvalue()
        out["volume_label"] = iso.pvd.volume_identifier.rstrip(b" ")
        return out
    finally:
        iso.close()
