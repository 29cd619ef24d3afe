"""The network service's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_TOKEN_PUBLIC_KEY` | Ed25519 public key PEM verifying tokens | `.polyvisor/keys/token.pub` |
| `POLYVISOR_PHYSICAL_NETWORKS` | physical networks and their VLAN ranges for automatic ids, Neutron's `network_vlan_ranges` syntax: `physnet1:100:199,physnet2`; empty accepts any name and needs explicit VLAN ids | `` |
| `POLYVISOR_DEFAULT_MTU` | MTU of a network created without one | 1500 |
| `POLYVISOR_OUTBOX_POLL_S` | outbox poll period when nothing wakes it | 1 |
| `POLYVISOR_DB_POOL_SIZE` | PostgreSQL connections of this process | 20 |
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from polyvisor.common.config import ServiceSettings
from polyvisor.networksvc.validation import parse_vlan_ranges

__all__ = ["NetworkSettings"]


class NetworkSettings(ServiceSettings):
    service_name: str = "networksvc"
    grpc_port: int = Field(default=50054, ge=0, le=65535)
    metrics_port: int = Field(default=9154, ge=0, le=65535)

    token_public_key: Path = Path(".polyvisor/keys/token.pub")
    physical_networks: str = ""
    default_mtu: int = Field(default=1500, ge=68, le=9216)
    outbox_poll_s: float = Field(default=1.0, gt=0)
    db_pool_size: int = Field(default=20, ge=2, le=200)

    @field_validator("physical_networks")
    @classmethod
    def _ranges(cls, v: str) -> str:
        parse_vlan_ranges(v)
        return v
