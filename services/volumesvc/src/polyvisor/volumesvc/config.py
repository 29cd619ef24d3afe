"""The volume service's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_TOKEN_PUBLIC_KEY` | Ed25519 public key PEM verifying tokens | `.polyvisor/keys/token.pub` |
| `POLYVISOR_VOLUME_BACKENDS` | the backends, JSON: name -> {"kind": file, vmdk or rbd, its options..., "hypervisor_types": "kvm,qemu", "multiattach": "false"}; each gets a volume type of its name | one `file` backend in `.polyvisor/volumes` |
| `POLYVISOR_DEFAULT_VOLUME_TYPE` | the type of a volume created without one | `file` |
| `POLYVISOR_IMAGE_ADDRESS` | the image service (volumes made from an image); empty: none | `` |
| `POLYVISOR_VOLUME_QUOTA_VOLUMES` | volumes per project without its own quota (-1: none) | 20 |
| `POLYVISOR_VOLUME_QUOTA_GIGABYTES` | GiB of volumes and snapshots per project (-1: none) | 1000 |
| `POLYVISOR_VOLUME_QUOTA_SNAPSHOTS` | snapshots per project (-1: none) | 20 |
| `POLYVISOR_OUTBOX_POLL_S` | outbox poll period when nothing wakes it | 1 |
| `POLYVISOR_DB_POOL_SIZE` | PostgreSQL connections of this process | 10 |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from polyvisor.common.config import ServiceSettings

__all__ = ["DEFAULT_HYPERVISORS", "VolumeSettings", "backend_options"]

#: Who can attach a backend's volumes when its options do not say.
DEFAULT_HYPERVISORS = {"file": "kvm,qemu", "vmdk": "vmware", "rbd": "kvm,qemu"}


def backend_options(raw: str) -> dict[str, dict[str, str]]:
    """The configured backends: name -> options (strings)."""
    try:
        data: Any = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"POLYVISOR_VOLUME_BACKENDS is not JSON: {e}") from e
    if not isinstance(data, dict) or not data:
        raise ValueError("POLYVISOR_VOLUME_BACKENDS must be a non-empty JSON object")
    out: dict[str, dict[str, str]] = {}
    for name, opts in data.items():
        if not isinstance(opts, dict) or not opts.get("kind"):
            raise ValueError(f"volume backend {name!r} needs an object with a kind")
        out[str(name)] = {str(k): str(v) for k, v in opts.items()}
    return out


class VolumeSettings(ServiceSettings):
    service_name: str = "volumesvc"
    grpc_port: int = Field(default=50058, ge=0, le=65535)
    metrics_port: int = Field(default=9158, ge=0, le=65535)

    token_public_key: Path = Path(".polyvisor/keys/token.pub")
    volume_backends: str = json.dumps({"file": {"kind": "file", "directory": ".polyvisor/volumes"}})
    default_volume_type: str = "file"
    image_address: str = ""
    volume_quota_volumes: int = Field(default=20, ge=-1)
    volume_quota_gigabytes: int = Field(default=1000, ge=-1)
    volume_quota_snapshots: int = Field(default=20, ge=-1)
    outbox_poll_s: float = Field(default=1.0, gt=0)
    db_pool_size: int = Field(default=10, ge=2, le=200)

    @field_validator("volume_backends")
    @classmethod
    def _backends(cls, v: str) -> str:
        backend_options(v)
        return v
