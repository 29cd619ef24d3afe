"""The gateway's settings (environment, prefix POLYVISOR_).

| variable | meaning | default |
| --- | --- | --- |
| `POLYVISOR_HTTP_HOST` / `POLYVISOR_HTTP_PORT` | where the REST APIs are served (one port: `/identity`, `/compute`, `/image`, `/network`, `/volume`) | `0.0.0.0` / 8774 |
| `POLYVISOR_PUBLIC_URL` | the base URL clients reach the gateway at, used in the service catalog and links; empty: each request's own scheme and Host | empty |
| `POLYVISOR_REGION` | the region the catalog names | `RegionOne` |
| `POLYVISOR_API_ADDRESS` | the api (compute, identity) | `127.0.0.1:50051` |
| `POLYVISOR_IMAGESVC_ADDRESS` | the image service | `127.0.0.1:50052` |
| `POLYVISOR_NETWORKSVC_ADDRESS` | the network service | `127.0.0.1:50054` |
| `POLYVISOR_VOLUMESVC_ADDRESS` | the volume service; empty: none (no Cinder, in the catalog or under `/volume`; server shows name no volumes) | `127.0.0.1:50058` |
| `POLYVISOR_RPC_TIMEOUT_S` | deadline of each unary gRPC call | 60 |
| `POLYVISOR_KEPT_PAGES_BYTES` | bytes of Nova server list pages kept and answered again while the api says no server changed (kept_pages); 0: none | 33554432 (about 220 pages of 100 servers) |
| `POLYVISOR_TENANT_PHYSICAL_NETWORK` | a network created without provider attributes is a VLAN on this physical network, its id taken from the network service's range for it (Neutron's `tenant_network_types = vlan`); empty: it is flat, which only an admin creates | empty |

The gRPC port (50057) serves only health, for probes and `./dev up`; metrics on 9157.
"""

from __future__ import annotations

from pydantic import Field

from polyvisor.common.config import ServiceSettings

__all__ = ["OsapiSettings"]


class OsapiSettings(ServiceSettings):
    service_name: str = "osapi"
    grpc_port: int = Field(default=50057, ge=0, le=65535)
    metrics_port: int = Field(default=9157, ge=0, le=65535)

    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8774, ge=0, le=65535)
    public_url: str = ""
    region: str = "RegionOne"
    api_address: str = "127.0.0.1:50051"
    imagesvc_address: str = "127.0.0.1:50052"
    networksvc_address: str = "127.0.0.1:50054"
    volumesvc_address: str = "127.0.0.1:50058"
    rpc_timeout_s: float = Field(default=60.0, gt=0)
    kept_pages_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    tenant_physical_network: str = ""
