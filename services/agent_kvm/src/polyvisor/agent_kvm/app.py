"""The KVM agent process: the libvirt driver under the shared agent runtime, and, when the
host maps physical networks, the network data plane beside it."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from polyvisor.agent_kvm.config import KvmSettings
from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, LibvirtDriver
from polyvisor.agent_kvm.libvirt_host import MigrationPeer
from polyvisor.agent_kvm.libvirt_rbd_volumes import (
    RbdMigratingLibvirtDriver,
    RbdMigratingPortsLibvirtDriver,
)
from polyvisor.agent_kvm.libvirt_spawn import SpawnVerbs
from polyvisor.agent_kvm.lxc_driver import LxcDriver
from polyvisor.agent_kvm.migrate import MigratingLibvirtDriver, MigratingPortsLibvirtDriver
from polyvisor.agent_kvm.net.agent import DriverPorts, NetworkAgent
from polyvisor.agent_kvm.net.client import NetworkClient
from polyvisor.agent_kvm.net.plane import NetworkPlane
from polyvisor.agentkit.driver import Driver, HypervisorUnavailable
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.agentkit.service import agent_lifespan
from polyvisor.common.bus.client import Bus
from polyvisor.common.lifespan import Lifespan
from polyvisor.common.logging import get_logger

__all__ = ["driver_config", "lifespan", "make_driver", "start_network"]

log = get_logger(__name__)


def driver_config(settings: KvmSettings) -> LibvirtConfig:
    return LibvirtConfig(
        uri=settings.libvirt_uri,
        virt_type=settings.virt_type,
        instances_dir=settings.instances_dir,
        host_id=settings.host_id,
        vnc_listen=settings.vnc_listen,
        vnc_port_range=settings.vnc_port_range,
        disk_mode=settings.disk_mode,
        reserved_host_memory_mb=settings.reserved_host_memory_mb,
        reserved_host_disk_gb=settings.reserved_host_disk_gb,
        cpu_allocation_ratio=settings.cpu_allocation_ratio,
        ram_allocation_ratio=settings.ram_allocation_ratio,
        disk_allocation_ratio=settings.disk_allocation_ratio,
        physical_networks=tuple(settings.interface_mappings),
        rbd_conf=settings.rbd_conf,
        rbd_pool=settings.rbd_pool,
        rbd_user=settings.rbd_user,
        rbd_keyring=settings.rbd_keyring,
        migration_peers=tuple(
            MigrationPeer(host, p.uri, p.instances_dir or settings.instances_dir, p.address)
            for host, p in sorted(settings.migration_peers.items())
        ),
        migration_bandwidth_mib_s=settings.migration_bandwidth_mib_s,
    )


def make_driver(settings: KvmSettings) -> LibvirtDriver | LxcDriver:
    """The driver, connected when libvirtd answers (else it connects on first use); with the
    ``ports`` capability when the host maps physical networks, ``volume_rbd`` with
    ``rbd_volumes``. ``virt_type=lxc``: the
    container driver (``lxc_driver``) on the same libvirt code."""
    driver: LibvirtDriver | LxcDriver
    if settings.virt_type == "lxc":
        driver = LxcDriver(driver_config(settings))
    elif settings.interface_mappings:
        ports = (
            RbdMigratingPortsLibvirtDriver if settings.rbd_volumes else MigratingPortsLibvirtDriver
        )
        driver = ports(driver_config(settings))
    else:
        plain = RbdMigratingLibvirtDriver if settings.rbd_volumes else MigratingLibvirtDriver
        driver = plain(driver_config(settings))
    try:
        driver.open()
    except HypervisorUnavailable as exc:  # the runtime retries and reports it DISCONNECTED
        log.warning("libvirt not reachable at start", uri=settings.libvirt_uri, error=str(exc))
    return driver


async def start_network(
    settings: KvmSettings, driver: SpawnVerbs, runtime: AgentRuntime, stack: AsyncExitStack
) -> NetworkAgent:
    """The data plane: plane, network service client, event subscriptions; the driver plugs a
    server's ports through it. Closed (before the runtime) by ``stack``."""

    async def instance_meta(server_id: str):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(driver.instance_meta, server_id)

    plane = NetworkPlane(
        mappings=settings.interface_mappings,
        state_dir=settings.effective_state_dir / "network",
        instance_meta=instance_meta,
        table=settings.nft_table,
    )
    bus = await Bus.connect(settings.nats_urls, name=f"agent-{settings.server_id}-network")
    stack.push_async_callback(bus.close)
    agent = NetworkAgent(
        host=settings.host_id,
        plane=plane,
        client=NetworkClient(settings.network_address, runtime.credentials),
        bus=bus,
        resync_interval_s=settings.network_resync_interval_s,
    )
    stack.push_async_callback(agent.close)
    driver.attach_ports(DriverPorts(agent, asyncio.get_running_loop()))
    await agent.start()
    return agent


async def _network(
    settings: KvmSettings, driver: Driver, runtime: AgentRuntime, stack: AsyncExitStack
) -> None:
    if settings.interface_mappings and isinstance(driver, SpawnVerbs):
        await start_network(settings, driver, runtime, stack)


lifespan: Lifespan[KvmSettings] = agent_lifespan(make_driver, _network)
