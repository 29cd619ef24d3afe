"""The dashboard's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_HTTP_HOST` / `POLYVISOR_HTTP_PORT` | where the pages are served | `0.0.0.0` / 8080 |
| `POLYVISOR_API_ADDRESS` | the api (compute, identity) | `127.0.0.1:50051` |
| `POLYVISOR_IMAGESVC_ADDRESS` | the image service | `127.0.0.1:50052` |
| `POLYVISOR_NETWORKSVC_ADDRESS` | the network service | `127.0.0.1:50054` |
| `POLYVISOR_SESSION_KEY` | 32 bytes, urlsafe base64: encrypts the session cookie (every replica the same); empty: a random key per process (sessions end when it restarts) | empty |
| `POLYVISOR_SECURE_COOKIES` | mark the session cookie Secure (behind HTTPS) | false |

The gRPC port (50056) serves only health, for probes and `./dev up`.
"""

from __future__ import annotations

from pydantic import Field

from polyvisor.common.config import ServiceSettings

__all__ = ["DashboardSettings"]


class DashboardSettings(ServiceSettings):
    service_name: str = "dashboard"
    grpc_port: int = Field(default=50056, ge=0, le=65535)
    metrics_port: int = Field(default=9156, ge=0, le=65535)

    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    api_address: str = "127.0.0.1:50051"
    imagesvc_address: str = "127.0.0.1:50052"
    networksvc_address: str = "127.0.0.1:50054"
    session_key: str = ""
    secure_cookies: bool = False
