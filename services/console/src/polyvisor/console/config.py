"""The console proxy's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_HTTP_HOST` / `POLYVISOR_HTTP_PORT` | where the WebSocket proxy listens | `0.0.0.0` / 6080 |
| `POLYVISOR_API_ADDRESS` | the api (redeems console tokens) | `127.0.0.1:50051` |
| `POLYVISOR_CONSOLE_API_KEY` | the proxy's service key (`python -m polyvisor.api.agentkey service:polyvisor-console`) | empty |
| `POLYVISOR_VNC_LOGIN_WAIT_S` | how long the proxy keeps trying the session's password while the agent sets it | 15 |
| `POLYVISOR_ALLOWED_ORIGINS` | comma-separated browser origins allowed to open a console, besides the proxy's own (its page) (empty: any) | empty |

The gRPC port (50055) serves only health, for probes and `./dev up`.
"""

from __future__ import annotations

from pydantic import Field

from polyvisor.common.config import ServiceSettings

__all__ = ["ConsoleSettings"]


class ConsoleSettings(ServiceSettings):
    service_name: str = "console"
    grpc_port: int = Field(default=50055, ge=0, le=65535)
    metrics_port: int = Field(default=9155, ge=0, le=65535)

    http_host: str = "0.0.0.0"
    http_port: int = Field(default=6080, ge=0, le=65535)
    api_address: str = "127.0.0.1:50051"
    console_api_key: str = ""
    vnc_login_wait_s: float = Field(default=15.0, gt=0)
    vnc_connect_timeout_s: float = Field(default=5.0, gt=0)
    allowed_origins: str = ""

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(
            o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()
        )
