"""Scheduler settings (environment, prefix POLYVISOR_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from polyvisor.common.config import ServiceSettings

__all__ = ["SchedulerSettings"]


class SchedulerSettings(ServiceSettings):
    service_name: str = "scheduler"
    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9153, ge=0, le=65535)

    #: Ed25519 public key verifying tokens (every RPC but health and reflection needs one).
    token_public_key: Path = Path(".polyvisor/keys/token.pub")

    #: A host whose last report is older than this (or 3 report intervals, if longer) is down.
    host_timeout_s: float = Field(default=60.0, gt=0)
    #: spread: prefer the host with the most free RAM; pack: the fullest that fits.
    ram_weigher: Literal["spread", "pack"] = "spread"
    ram_weight_multiplier: float = Field(default=1.0, ge=0)
    cpu_weight_multiplier: float = Field(default=1.0, ge=0)
    build_failure_weight_multiplier: float = Field(default=1_000_000.0, ge=0)
    #: Build failures older than this no longer count against a host.
    build_failure_window_s: float = Field(default=3600.0, gt=0)
    #: Alternates per instance when a request does not say.
    default_alternates: int = Field(default=2, ge=0, le=10)
    #: How often to pull other replicas' changes (providers whose row changed).
    refresh_interval_s: float = Field(default=2.0, gt=0)
    #: How often to re-read every provider's usage (catches anything the above missed).
    full_refresh_interval_s: float = Field(default=30.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1, le=200)
