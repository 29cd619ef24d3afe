"""The bare-metal agent process: one agent runtime per enrolled machine, all in one process.

Each machine is its own host (host id: the node's name), with its own command subject, host
report and credentials: its agent key (``<node>.agent-key`` in the credentials directory)
names it, so the api and NATS let this runtime act for that machine only, as they would a
KVM agent for its host. The machines share the process, its executor threads, and the media
server BMCs fetch virtual-media ISO images from.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from polyvisor.agent_baremetal.config import BaremetalAgentSettings
from polyvisor.agent_baremetal.driver import NodeDriver
from polyvisor.agent_baremetal.enrollment import Node, load_nodes, read_credentials
from polyvisor.agent_baremetal.media import MediaServer
from polyvisor.agent_baremetal.redfish import Bmc
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.logging import get_logger

__all__ = ["lifespan", "node_runtime"]

log = get_logger(__name__)


def node_runtime(
    settings: BaremetalAgentSettings, node: Node, media: MediaServer | None
) -> tuple[NodeDriver, AgentRuntime]:
    """The driver and the (not yet started) runtime of one machine."""
    creds = read_credentials(
        settings.bmc_credentials_dir, node.name, agent_key=not settings.agent_token
    )
    state = settings.effective_state_dir / node.name
    node_settings = settings.model_copy(
        update={
            "host_id": node.name,
            "agent_api_key": creds.agent_key,
            "state_dir": state,
            "cache_dir": settings.cache_dir / node.name,
        }
    )
    bmc = Bmc(
        node.bmc_url,
        node.system_id,
        creds.username,
        creds.password,
        verify=node.verify_tls,
        timeout_s=settings.bmc_timeout_s,
    )
    driver = NodeDriver(
        node,
        bmc,
        state / "machine",
        media=media,
        power_timeout_s=settings.power_timeout_s,
        poll_interval_s=settings.power_poll_interval_s,
    )
    return driver, AgentRuntime(node_settings, driver)


async def lifespan(settings: BaremetalAgentSettings, stack: AsyncExitStack) -> GrpcServer | None:
    nodes = load_nodes(settings.nodes_file)
    if not nodes:
        log.warning("no machine is enrolled", nodes_file=str(settings.nodes_file))
    media = MediaServer(settings.media_host, settings.media_port, settings.media_url_host)
    stack.push_async_callback(asyncio.to_thread, media.close)
    for node in nodes:
        driver, runtime = node_runtime(settings, node, media)
        stack.push_async_callback(asyncio.to_thread, driver.close)
        stack.push_async_callback(runtime.close)
        await runtime.start()
        log.info(
            "machine enrolled", node=node.name, bmc=node.bmc_url, resource_class=node.resource_class
        )
    if not settings.serve_health:
        return None
    return GrpcServer(settings, [])
