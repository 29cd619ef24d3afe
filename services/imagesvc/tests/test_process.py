"""`python -m polyvisor.imagesvc` as a user starts it: SERVING, then a clean SIGTERM drain."""

from __future__ import annotations

from pathlib import Path

from polyvisor.common.auth import generate_keypair
from tests.support.services import ServiceProcess, free_port


async def test_service_process_starts_serves_and_drains(
    fresh_db: str, nats_url: str, tmp_path: Path
) -> None:
    _, public = generate_keypair()
    (tmp_path / "token.pub").write_bytes(public)
    port = free_port()
    proc = ServiceProcess(
        "imagesvc",
        {
            "POLYVISOR_DATABASE_URL": fresh_db,
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(port),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_STORE_DIR": str(tmp_path / "store"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(tmp_path / "token.pub"),
        },
        log_path=tmp_path / "imagesvc.log",
    )
    await proc.start(timeout=60)
    assert (tmp_path / "store" / "tmp").is_dir()
    assert await proc.stop(timeout=10) == 0
