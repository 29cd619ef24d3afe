"""Settings from the environment and JSON log lines with bound context."""

from __future__ import annotations

import json
import logging
import os

import pydantic
import pytest

from polyvisor.common import errors
from polyvisor.common.config import ServiceSettings
from polyvisor.common.logging import bound_context, configure_logging, get_logger


class SchedulerLikeSettings(ServiceSettings):
    service_name: str = "scheduler"
    grpc_port: int = 50053
    metrics_port: int = 9153
    max_attempts: int = 3


def test_defaults_follow_the_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("POLYVISOR_"):
            monkeypatch.delenv(key)
    s = SchedulerLikeSettings()
    assert (s.service_name, s.grpc_port, s.metrics_port, s.max_attempts) == (
        "scheduler", 50053, 9153, 3,
    )  # fmt: skip
    assert s.database_url == "postgresql://polyvisor@127.0.0.1:5432/polyvisor"
    assert s.nats_url == "nats://127.0.0.1:4222"
    assert (s.grpc_host, s.log_level, s.shutdown_grace_s) == ("0.0.0.0", "INFO", 4.0)
    assert s.server_id.endswith(f"-{os.getpid()}")


def test_environment_overrides_and_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYVISOR_GRPC_PORT", "6000")
    monkeypatch.setenv("POLYVISOR_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("POLYVISOR_LOG_LEVEL", "debug")
    monkeypatch.setenv("POLYVISOR_NATS_URL", "nats://a:4222, nats://b:4222")
    monkeypatch.setenv("POLYVISOR_SERVER_ID", "api-0")
    s = SchedulerLikeSettings()
    assert (s.grpc_port, s.max_attempts, s.log_level, s.server_id) == (6000, 7, "DEBUG", "api-0")
    assert s.nats_urls == ["nats://a:4222", "nats://b:4222"]
    with pytest.raises(pydantic.ValidationError):
        s.grpc_port = 1  # type: ignore[misc]
    monkeypatch.setenv("POLYVISOR_LOG_LEVEL", "LOUD")
    with pytest.raises(pydantic.ValidationError):
        SchedulerLikeSettings()


def test_log_lines_are_json_with_service_and_bound_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(ServiceSettings(service_name="api", server_id="api-7", log_level="INFO"))
    log = get_logger("polyvisor.test")
    with bound_context(request_id="req-9", rpc="/polyvisor.compute.v1.ComputeService/GetServer"):
        log.info("server fetched", server="s-1")
    log.debug("not shown at INFO")
    logging.getLogger("nats.aio.client").warning("from a library %s", "x")
    try:
        raise errors.NotFound("gone")
    except errors.NotFound:
        log.exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert [line["event"] for line in lines] == ["server fetched", "from a library x", "failed"]
    first = lines[0]
    assert first["service"] == "api" and first["server_id"] == "api-7"
    assert first["request_id"] == "req-9" and first["rpc"].endswith("/GetServer")
    assert first["level"] == "info" and first["server"] == "s-1" and "timestamp" in first
    assert "request_id" not in lines[1] and lines[1]["logger"] == "nats.aio.client"
    assert "NotFound: gone" in lines[2]["exception"]
