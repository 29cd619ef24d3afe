"""The image service's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_STORE_DIR` | root of the filesystem store (images and temp files); with the RBD store, its scratch directory (uploads and conversions in progress) | `.polyvisor/imagesvc/store` |
| `POLYVISOR_STORE_BACKEND` | `filesystem`, or `rbd`: renditions as Ceph RBD images (several replicas share them; KVM hosts on the cluster clone them) | `filesystem` |
| `POLYVISOR_STORE_RBD_POOL` | the RBD store's pool | `images` |
| `POLYVISOR_STORE_RBD_CONF` / `POLYVISOR_STORE_RBD_USER` / `POLYVISOR_STORE_RBD_KEYRING` | its cluster's ceph.conf, cephx user (without `client.`), keyring (empty: ceph.conf's) | `/etc/ceph/ceph.conf` / `admin` / empty |
| `POLYVISOR_STORE_FSYNC` | fsync committed files before they become visible | true |
| `POLYVISOR_TOKEN_PUBLIC_KEY` | Ed25519 public key PEM verifying tokens | `.polyvisor/keys/token.pub` |
| `POLYVISOR_MAX_VIRTUAL_SIZE` | largest virtual disk size accepted, bytes | 2 TiB |
| `POLYVISOR_MAX_UPLOAD_BYTES` | largest upload, bytes | 1 TiB |
| `POLYVISOR_QEMU_IMG` | the qemu-img binary | `qemu-img` |
| `POLYVISOR_MAX_CONVERSIONS` | conversions running at once in this process | 2 |
| `POLYVISOR_CONVERT_TIMEOUT_S` / `POLYVISOR_INFO_TIMEOUT_S` | qemu-img time limits | 3600 / 30 |
| `POLYVISOR_PROJECT_MAX_STORED_BYTES` | a project's quota of stored bytes: its uploads and every rendition of its images (a raw rendition counts its whole virtual size) | 1 TiB |
| `POLYVISOR_PROJECT_CONVERSION_SECONDS` | a project's quota of conversion time (wall clock) per `POLYVISOR_CONVERSION_WINDOW_S` | 1800 |
| `POLYVISOR_CONVERSION_WINDOW_S` | the sliding window of that quota, seconds | 3600 |
| `POLYVISOR_PROJECT_MAX_CONVERSIONS` | conversions one project runs at once in this process (the rest wait) | 1 |
| `POLYVISOR_CLAIM_STALE_S` | an upload or conversion whose process stopped beating this long is abandoned | 60 |
| `POLYVISOR_HEARTBEAT_S` | how often uploads and conversions beat | 5 |
| `POLYVISOR_OUTBOX_POLL_S` | outbox poll period when nothing wakes it | 1 |
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from polyvisor.common.config import ServiceSettings

__all__ = ["ImageSettings"]

GiB = 1 << 30


class ImageSettings(ServiceSettings):
    service_name: str = "imagesvc"
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9152, ge=0, le=65535)

    store_dir: Path = Path(".polyvisor/imagesvc/store")
    store_fsync: bool = True
    store_backend: Literal["filesystem", "rbd"] = "filesystem"
    store_rbd_pool: str = Field(default="images", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    store_rbd_conf: str = "/etc/ceph/ceph.conf"
    store_rbd_user: str = Field(default="admin", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    store_rbd_keyring: str = ""
    token_public_key: Path = Path(".polyvisor/keys/token.pub")

    max_virtual_size: int = Field(default=2048 * GiB, gt=0)
    max_upload_bytes: int = Field(default=1024 * GiB, gt=0)

    qemu_img: str = "qemu-img"
    max_conversions: int = Field(default=2, ge=1, le=64)
    convert_timeout_s: float = Field(default=3600.0, gt=0)
    info_timeout_s: float = Field(default=30.0, gt=0)
    qemu_address_space_bytes: int = Field(default=1 * GiB, gt=0)

    project_max_stored_bytes: int = Field(default=1024 * GiB, gt=0)
    project_conversion_seconds: float = Field(default=1800.0, gt=0)
    conversion_window_s: float = Field(default=3600.0, gt=0)
    project_max_conversions: int = Field(default=1, ge=1, le=64)

    claim_stale_s: float = Field(default=60.0, gt=0)
    heartbeat_s: float = Field(default=5.0, gt=0)
    reaper_interval_s: float = Field(default=10.0, gt=0)
    temp_max_age_s: float = Field(default=24 * 3600.0, gt=0)
    outbox_poll_s: float = Field(default=1.0, gt=0)
    db_pool_size: int = Field(default=10, ge=2, le=200)
