"""Bare-metal agent settings (prefix ``POLYVISOR_``), on top of the settings every agent shares.

| variable | meaning | default |
| --- | --- | --- |
| ``POLYVISOR_NODES_FILE`` | the enrolled machines (JSON, no credentials; ``enroll`` writes it) | required |
| ``POLYVISOR_BMC_CREDENTIALS_DIR`` | one file per secret: ``<node>.username``, ``<node>.password``, ``<node>.agent-key`` (a mounted Secret) | required |
| ``POLYVISOR_BMC_TIMEOUT_S`` | one Redfish request | 30 |
| ``POLYVISOR_POWER_TIMEOUT_S`` | a power action reaching its state | 120 |
| ``POLYVISOR_POWER_POLL_INTERVAL_S`` | how often the power state of deployed machines is read (watch) | 10 |
| ``POLYVISOR_MEDIA_HOST`` / ``POLYVISOR_MEDIA_PORT`` | where the agent serves ISO images to the BMCs' virtual media (0: ephemeral) | ``127.0.0.1`` / 0 |
| ``POLYVISOR_MEDIA_URL_HOST`` | the host name BMCs reach it at | the media host |

Each enrolled machine is one host (``POLYVISOR_HOST_ID`` is not used): its host id is its
node name, its key ``<node>.agent-key`` names it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from polyvisor.agentkit.settings import AgentSettings

__all__ = ["BaremetalAgentSettings"]


class BaremetalAgentSettings(AgentSettings):
    service_name: str = "agent_baremetal"
    nodes_file: Path
    bmc_credentials_dir: Path
    bmc_timeout_s: float = Field(default=30.0, gt=0)
    power_timeout_s: float = Field(default=120.0, gt=0)
    power_poll_interval_s: float = Field(default=10.0, gt=0)
    media_host: str = "127.0.0.1"
    media_port: int = Field(default=0, ge=0, le=65535)
    media_url_host: str = ""
