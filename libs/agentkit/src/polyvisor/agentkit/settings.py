"""Settings every agent shares (prefix ``POLYVISOR_``); each agent subclasses them.

| variable | meaning | default |
| --- | --- | --- |
| ``POLYVISOR_HOST_ID`` | this agent's host id (subject ``agent.<host>.cmd``) | the hostname |
| ``POLYVISOR_API_ADDRESS`` | the api (AgentCallbackService, IdentityService) | ``127.0.0.1:50051`` |
| ``POLYVISOR_IMAGESVC_ADDRESS`` | the image service (DownloadImage) | ``127.0.0.1:50052`` |
| ``POLYVISOR_AGENT_API_KEY`` | this agent's own key (names its host), exchanged for an agent token | none |
| ``POLYVISOR_AGENT_API_KEY_FILE`` | a file holding it instead (e.g. provisioned on a KVM node) | none |
| ``POLYVISOR_AGENT_TOKEN`` | a ready-made token (used as is, no refresh) | none |
| ``POLYVISOR_STATE_DIR`` | the agent's own small state (generation journal) | ``<cache_dir>/../state`` |
| ``POLYVISOR_CACHE_DIR`` | the image cache | ``/var/lib/polyvisor/cache`` |
| ``POLYVISOR_CACHE_MAX_BYTES`` | image cache cap (entries in use are never evicted) | 20 GiB |
| ``POLYVISOR_COMMAND_CONCURRENCY`` | commands running at once (across servers) | 8 |
| ``POLYVISOR_DRIVER_WORKERS`` | threads for blocking driver calls | 8 |
| ``POLYVISOR_REPORT_INTERVAL_S`` | host report period | 30 |
| ``POLYVISOR_RECONCILE_INTERVAL_S`` | reconciler period (0 disables it) | 60 |
| ``POLYVISOR_DELETE_UNWANTED`` | destroy VMs tagged as ours that nobody wants | false |
| ``POLYVISOR_ACK_WAIT_S`` | JetStream ack wait: a dead agent's command comes back after it | 30 |
| ``POLYVISOR_MAX_DELIVER`` | deliveries of one command before it is failed for good | 10 |
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, model_validator

from polyvisor.common.config import ServiceSettings
from polyvisor.common.derived_keys import agent_key_host, is_agent_key
from polyvisor.common.natsauth import agent_nats_user

__all__ = ["AgentSettings"]


class AgentSettings(ServiceSettings):
    service_name: str = "agent"
    host_id: str = Field(default_factory=socket.gethostname, min_length=1)
    api_address: str = "127.0.0.1:50051"
    imagesvc_address: str = "127.0.0.1:50052"
    agent_api_key: str = ""
    agent_api_key_file: Path | None = None
    agent_token: str = ""
    state_dir: Path | None = None
    cache_dir: Path = Path("/var/lib/polyvisor/cache")
    cache_max_bytes: int = Field(default=20 * 2**30, ge=0)
    command_concurrency: int = Field(default=8, ge=1, le=256)
    driver_workers: int = Field(default=8, ge=1, le=256)
    report_interval_s: float = Field(default=30.0, gt=0)
    reconcile_interval_s: float = Field(default=60.0, ge=0)
    delete_unwanted: bool = False
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=10, ge=1)
    #: Whether the agent serves gRPC health at all (on grpc_port, 0 = ephemeral).
    serve_health: bool = True
    #: Where consoles listen, as the host report tells clients ("" = not reported).
    console_host: str = ""
    availability_zone: str = ""

    @model_validator(mode="after")
    def _key_from_file(self) -> AgentSettings:
        if self.agent_api_key_file is not None and not self.agent_api_key:
            key = self.agent_api_key_file.read_text().strip()
            object.__setattr__(self, "agent_api_key", key)  # frozen: set once, here
        return self

    @property
    def nats_credentials(self) -> tuple[str, str]:
        """Unless set, NATS user ``agent-<host>`` with the agent's own key as its password
        (docs/security.md): one secret per agent for both gRPC and NATS."""
        if self.nats_user or not is_agent_key(self.agent_api_key):
            return self.nats_user, self.nats_password
        return agent_nats_user(agent_key_host(self.agent_api_key)), self.agent_api_key

    @property
    def effective_state_dir(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.cache_dir.parent / "state"
