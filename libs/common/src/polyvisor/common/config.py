"""Service settings from the environment (prefix `POLYVISOR_`), frozen once read.

Each service subclasses `ServiceSettings`, overriding defaults and adding its own fields:

    class SchedulerSettings(ServiceSettings):
        service_name: str = "scheduler"
        grpc_port: int = 50053
        metrics_port: int = 9153
        max_attempts: int = 3          # POLYVISOR_MAX_ATTEMPTS
"""

from __future__ import annotations

import os
import socket
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "default_server_id"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def default_server_id() -> str:
    """`<hostname>-<pid>`: unique per process, readable in logs and metrics."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLYVISOR_", frozen=True, extra="ignore")

    service_name: str = "polyvisor"
    server_id: str = Field(default_factory=default_server_id)
    log_level: str = "INFO"
    grpc_host: str = "0.0.0.0"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    nats_url: str = "nats://127.0.0.1:4222"
    #: NATS credentials, put into every URL of `nats_url` that carries none.
    nats_user: str = ""
    nats_password: str = ""
    database_url: str = "postgresql://polyvisor@127.0.0.1:5432/polyvisor"
    shutdown_grace_s: float = Field(default=4.0, ge=0.0, le=60.0)
    #: The longest token lifetime (the api issues tokens for this long; every verifier keeps
    #: revocations this long).
    token_ttl_s: float = Field(default=3600.0, gt=0)
    #: Replicas of every JetStream stream and KV bucket this service creates (3 on a
    #: three-node NATS cluster; 1 on a single server, which refuses more).
    nats_replicas: int = Field(default=1, ge=1, le=5)
    #: Close a client connection after this long (GOAWAY; 0: never), so clients reconnect
    #: and reach replicas added since: spreads load behind a plain Kubernetes Service.
    grpc_max_connection_age_s: float = Field(default=0.0, ge=0.0)
    #: After GOAWAY, how long RPCs already running (a Watch stream) may go on.
    grpc_max_connection_age_grace_s: float = Field(default=0.0, ge=0.0)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in _LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LEVELS)}")
        return level

    @property
    def nats_urls(self) -> list[str]:
        """`nats_url` split on commas (a cluster is given as several URLs), each with the
        credentials of `nats_user` / `nats_password` unless it carries its own."""
        urls = [u.strip() for u in self.nats_url.split(",") if u.strip()]
        user, password = self.nats_credentials
        if not user:
            return urls
        out = []
        for url in urls:
            parts = urlsplit(url if "://" in url else f"nats://{url}")
            if parts.username is None:
                cred = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
                parts = parts._replace(netloc=f"{cred}@{parts.netloc}")
            out.append(urlunsplit(parts))
        return out

    @property
    def nats_credentials(self) -> tuple[str, str]:
        """(user, password) for NATS; subclasses may derive them (agents: from their key)."""
        return self.nats_user, self.nats_password
