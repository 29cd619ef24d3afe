"""Starting VMware agent processes (``python -m polyvisor.agent_vmware``) for tests."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.vcsim import VcsimEndpoint
from tests.support.services import ServiceProcess, free_port


def agent_env(
    *,
    endpoint: VcsimEndpoint,
    nats_url: str,
    root: Path,
    server_id: str,
    host_id: str,
    folder: str,
    services_address: str,
    token: str = "test-token",
    lease_bucket: str = "agent_leases",
    lease_ttl_s: float = 3.0,
    cluster: str = "DC0_C0",
) -> dict[str, str]:
    return {
        "POLYVISOR_NATS_URL": nats_url,
        "POLYVISOR_VCENTER_URL": endpoint.url,
        "POLYVISOR_VCENTER_USER": endpoint.username,
        "POLYVISOR_VCENTER_PASSWORD": endpoint.password,
        "POLYVISOR_CLUSTER_NAME": cluster,
        "POLYVISOR_VM_FOLDER": folder,
        "POLYVISOR_HOST_ID": host_id,
        "POLYVISOR_SERVER_ID": server_id,
        "POLYVISOR_LEASE_BUCKET": lease_bucket,
        "POLYVISOR_LEASE_TTL_S": str(lease_ttl_s),
        "POLYVISOR_IMAGESVC_ADDRESS": services_address,
        "POLYVISOR_API_ADDRESS": services_address,
        "POLYVISOR_AGENT_TOKEN": token,
        "POLYVISOR_CACHE_DIR": str(root / server_id / "cache"),
        "POLYVISOR_RECONCILE_INTERVAL_S": "0",
        "POLYVISOR_REPORT_INTERVAL_S": "2",
        "POLYVISOR_VCENTER_PROBE_INTERVAL_S": "2",
        "POLYVISOR_VMWARE_WATCH_WAIT_S": "2",
        "POLYVISOR_GRPC_HOST": "127.0.0.1",
        "POLYVISOR_GRPC_PORT": str(free_port()),
        "POLYVISOR_METRICS_HOST": "127.0.0.1",
        "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_LOG_LEVEL": "INFO",
    }


def agent_process(env: dict[str, str], log_path: Path) -> ServiceProcess:
    return ServiceProcess("agent_vmware", env, log_path=log_path)
