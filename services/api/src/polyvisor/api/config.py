"""The api's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_SCHEDULER_ADDRESS` | the scheduler's gRPC address | `127.0.0.1:50053` |
| `POLYVISOR_IMAGESVC_ADDRESS` | the image service's gRPC address | `127.0.0.1:50052` |
| `POLYVISOR_NETWORK_ADDRESS` | the network service's gRPC address; empty: servers get no NIC and a create naming networks is refused | empty |
| `POLYVISOR_VOLUME_ADDRESS` | the volume service's gRPC address; empty: servers get no volumes (attach and boot from volume are refused) | empty |
| `POLYVISOR_TOKEN_PRIVATE_KEY` | Ed25519 PEM that signs tokens (created if missing) | `.polyvisor/keys/token.key` |
| `POLYVISOR_TOKEN_PUBLIC_KEY` | its public half, read by every verifier | `.polyvisor/keys/token.pub` |
| `POLYVISOR_TOKEN_TTL_S` | token lifetime | 3600 |
| `POLYVISOR_BOOTSTRAP_ADMIN_USER` / `_PASSWORD` / `_PROJECT` | first admin, created once | unset |
| `POLYVISOR_AGENT_KEY_SECRET` | the secret per-agent keys are derived from (`python -m polyvisor.api.agentkey HOST` prints a host's key); agents authenticate only with it set | unset |
| `POLYVISOR_LOGIN_FAILURES_PER_USER` / `_PER_SOURCE` | failed logins per minute before RESOURCE_EXHAUSTED | 5 / 30 |
| `POLYVISOR_QUOTA_INSTANCES` / `_VCPUS` / `_RAM_MB` | default project quota (-1 unlimited) | 10 / 20 / 51200 |
| `POLYVISOR_SCHEDULING_TIMEOUT_S`, `_BUILD_TIMEOUT_S`, `_POWER_TIMEOUT_S`, `_REBOOT_TIMEOUT_S`, `_DELETE_TIMEOUT_S`, `_SNAPSHOT_TIMEOUT_S` | deadlines of transitional states | 120, 900, 180, 300, 180, 1800 |
| `POLYVISOR_RESIZE_TIMEOUT_S` | deadline of each step of a resize on its host(s) (a move copies the disk) | 1800 |
| `POLYVISOR_RESIZE_CONFIRM_WINDOW_S` | a resize left in VERIFY_RESIZE this long is confirmed on its own (its old flavor and host given back); 0: never | 86400 |
| `POLYVISOR_MAX_COMMAND_ATTEMPTS` | tries of a power/reboot/destroy command | 3 |
| `POLYVISOR_MAX_BUILD_ATTEMPTS` | hosts tried for one build | 3 |
| `POLYVISOR_REAPER_INTERVAL_S` | how often overdue tasks are looked for | 2 |
| `POLYVISOR_OUTBOX_POLL_S` | outbox poll period when nothing wakes it | 1 |
| `POLYVISOR_CONSOLE_TOKEN_TTL_S` | console token lifetime | 600 |
| `POLYVISOR_CONSOLE_PROXY_URL` | the console proxy's public base URL (`ws://host:port` or `wss://`); console URLs point there: its WebSocket, and its noVNC page over http(s) | empty |
| `POLYVISOR_CONSOLE_SESSION_S` | how long a console session's VNC password is valid | 60 |
| `POLYVISOR_SERVER_CACHE_SIZE` | GetServer answers cached per replica (0: none) | 100000 |
| `POLYVISOR_SERVER_INDEX_SIZE` | live servers the ListServers index of a replica holds at most (about 500 bytes each; more, or 0: every page is a query) | 250000 |
| `POLYVISOR_CHANGE_RETENTION_S` | how long the server change log is kept (Watch resumes within it) | 604800 |
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from polyvisor.api.lifecycle import Deadlines
from polyvisor.api.models import QuotaLimits
from polyvisor.common.config import ServiceSettings


class ApiSettings(ServiceSettings):
    service_name: str = "api"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9151, ge=0, le=65535)

    scheduler_address: str = "127.0.0.1:50053"
    imagesvc_address: str = "127.0.0.1:50052"
    network_address: str = ""
    volume_address: str = ""
    downstream_timeout_s: float = Field(default=10.0, gt=0)

    token_private_key: Path = Path(".polyvisor/keys/token.key")
    token_public_key: Path = Path(".polyvisor/keys/token.pub")
    token_ttl_s: float = Field(default=3600.0, gt=0)

    bootstrap_admin_user: str = ""
    bootstrap_admin_password: str = ""
    bootstrap_admin_project: str = ""
    agent_key_secret: str = ""
    login_failures_per_user: int = Field(default=5, ge=1)
    login_failures_per_source: int = Field(default=30, ge=1)
    login_failure_window_s: float = Field(default=60.0, gt=0)

    quota_instances: int = Field(default=10, ge=-1)
    quota_vcpus: int = Field(default=20, ge=-1)
    quota_ram_mb: int = Field(default=51200, ge=-1)

    scheduling_timeout_s: float = Field(default=120.0, gt=0)
    build_timeout_s: float = Field(default=900.0, gt=0)
    power_timeout_s: float = Field(default=180.0, gt=0)
    reboot_timeout_s: float = Field(default=300.0, gt=0)
    delete_timeout_s: float = Field(default=180.0, gt=0)
    # A snapshot (image create, shelve) copies and uploads a whole disk.
    snapshot_timeout_s: float = Field(default=1800.0, gt=0)
    resize_timeout_s: float = Field(default=1800.0, gt=0)
    # VERIFY_RESIZE this long: the resize is confirmed on its own (0: never).
    resize_confirm_window_s: float = Field(default=86400.0, ge=0)
    max_command_attempts: int = Field(default=3, ge=1)
    max_build_attempts: int = Field(default=3, ge=1)

    reaper_interval_s: float = Field(default=2.0, gt=0)
    outbox_poll_s: float = Field(default=1.0, gt=0)
    outbox_workers: int = Field(default=4, ge=1, le=64)
    outbox_lease_s: float = Field(default=30.0, gt=0)
    event_concurrency: int = Field(default=8, ge=1, le=256)
    events_durable: str = "api-server-events"

    console_token_ttl_s: float = Field(default=600.0, gt=0)
    # The console proxy's public base URL (ws:// or wss://): console URLs point there.
    console_proxy_url: str = ""
    # How long a console session's VNC password opens the VNC server.
    console_session_s: float = Field(default=60.0, gt=0)
    change_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # How long a deleted server's action history is kept (ListServerActions).
    action_retention_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    db_pool_size: int = Field(default=20, ge=2, le=200)
    # GetServer answers kept per replica (invalidated by change notifications); 0 disables.
    server_cache_size: int = Field(default=100_000, ge=0)
    # Live servers the in-memory list index holds at most (more: pages are queried); 0: none.
    server_index_size: int = Field(default=250_000, ge=0)

    @property
    def deadlines(self) -> Deadlines:
        return Deadlines(
            scheduling_s=self.scheduling_timeout_s,
            build_s=self.build_timeout_s,
            power_s=self.power_timeout_s,
            reboot_s=self.reboot_timeout_s,
            delete_s=self.delete_timeout_s,
            snapshot_s=self.snapshot_timeout_s,
            resize_s=self.resize_timeout_s,
            resize_confirm_s=self.resize_confirm_window_s,
            max_command_attempts=self.max_command_attempts,
            max_build_attempts=self.max_build_attempts,
        )

    @property
    def default_quota(self) -> QuotaLimits:
        return QuotaLimits(self.quota_instances, self.quota_vcpus, self.quota_ram_mb)
