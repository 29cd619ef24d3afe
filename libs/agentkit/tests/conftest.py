"""An agent runtime around a FakeDriver, on the session's real NATS, with test gRPC servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from polyvisor.agentkit.bus import command_subject
from polyvisor.agentkit.fake import FakeDriver
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.agentkit.settings import AgentSettings
from polyvisor.agentkit.testing import (
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus

BOOT_IMAGE = b"\x00" * 4096


@dataclass
class Agent:
    host: str
    settings: AgentSettings
    driver: FakeDriver
    runtime: AgentRuntime
    bus: Bus
    tap: EventTap
    images: ImageStore
    board: AssignmentBoard
    servers: AgentTestServers
    image_sha: str

    async def send(self, server_id: str, generation: int, verb: str, **kw: Any) -> str:
        if verb == "spawn":
            kw.setdefault("image_id", "img")
        msg = agent_command(self.host, server_id, generation, verb, **kw)
        await self.bus.publish(command_subject(self.host), msg, msg_id=msg.command_id)
        return msg.command_id

    async def restart(self, driver: FakeDriver | None = None, **overrides: Any) -> None:
        await self.runtime.close()
        if overrides:
            self.settings = self.settings.model_copy(update=overrides)
        self.driver = driver or self.driver
        self.runtime = AgentRuntime(self.settings, self.driver)
        await self.runtime.start()


def agent_settings(tmp: Path, host: str, nats_url: str, address: str, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "host_id": host,
        "server_id": f"agent-{host}",
        "nats_url": nats_url,
        "api_address": address,
        "imagesvc_address": address,
        "cache_dir": tmp / "cache",
        "state_dir": tmp / "state",
        "report_interval_s": 60.0,
        "reconcile_interval_s": 0.0,
        "ack_wait_s": 2.0,
        "command_concurrency": 4,
    }
    values.update(kw)
    return AgentSettings(**values)


@pytest.fixture
async def agent(tmp_path: Path, nats_url: str) -> AsyncIterator[Agent]:
    host = f"fake:{uuid.uuid4().hex[:8]}"
    images, board = ImageStore(), AssignmentBoard()
    sha = images.put("img", "qcow2", BOOT_IMAGE)
    servers = await AgentTestServers(images, board).start()
    settings = agent_settings(tmp_path, host, nats_url, servers.address)
    driver = FakeDriver(host)
    bus = await Bus.connect(nats_url, name=f"test-{host}")
    tap = await EventTap.start(bus, host)
    runtime = AgentRuntime(settings, driver)
    await runtime.start()
    a = Agent(host, settings, driver, runtime, bus, tap, images, board, servers, sha)
    try:
        yield a
    finally:
        await a.runtime.close()
        await tap.close()
        await bus.close()
        await servers.stop()
        driver.close()
