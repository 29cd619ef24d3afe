"""The VMware agent process: the driver, the cluster's lease, and the runtime while we hold it.

    driver  -- connects to vCenter at once and stays connected (a warm standby)
    lease   -- NATS KV, one key per host id; renewed every TTL/3 by the holder
    runtime -- the agentkit runtime (commands, host reports, reconciler, watch), started when
               this replica takes the lease and stopped (consumer paused first) when it
               loses it or shuts down
    sweeper -- the datastore image cache sweep (image_cache.py), the lease holder's too

Replicas of one cluster share the host id (``<vCenter instanceUuid>:<cluster moref>``, or
POLYVISOR_HOST_ID), so they share the command subject and the lease key; only the holder
consumes commands.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from polyvisor.agent_vmware.config import VmwareAgentSettings
from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_kinds import driver_class
from polyvisor.agent_vmware.image_cache import CacheSweeper
from polyvisor.agent_vmware.leadership import Leadership
from polyvisor.agent_vmware.lease import Lease
from polyvisor.agent_vmware.net.client import NetworkClient
from polyvisor.agent_vmware.net.service_source import NetworkServiceBindings
from polyvisor.agent_vmware.ports_driver import PortsVmwareDriver
from polyvisor.agentkit.driver import DriverError
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger

__all__ = ["RuntimeHolder", "lifespan"]

log = get_logger(__name__)


class RuntimeHolder:
    """One AgentRuntime at a time over the same driver: started on taking the lease."""

    def __init__(self, settings: VmwareAgentSettings, driver: VmwareDriver, bus: Bus) -> None:
        self.settings = settings
        self.driver = driver
        self.bus = bus
        self.runtime: AgentRuntime | None = None
        self._network: NetworkClient | None = None
        self._lock = asyncio.Lock()
        # The lease holder's own loops (the image cache sweep), stopped with the runtime.
        self._tasks: BackgroundTasks | None = None

    async def start(self) -> None:
        async with self._lock:
            if self.runtime is not None:
                return
            try:
                # Another replica acted until now: its VNC ports and base disks are news to us.
                await asyncio.to_thread(self.driver.refresh)
            except DriverError as e:  # vCenter is away: the next session reads it all anyway
                log.warning("could not refresh the vCenter picture", error=str(e))
            runtime = AgentRuntime(self.settings, self.driver, bus=self.bus)
            self.runtime = runtime
            if isinstance(self.driver, PortsVmwareDriver):
                # Ports are plumbed with the runtime's agent credentials, by the lease holder.
                self._network = NetworkClient(self.settings.network_address, runtime.credentials)
                self.driver.attach_ports(
                    NetworkServiceBindings(
                        self._network, self.settings.host_id, asyncio.get_running_loop()
                    )
                )
                try:  # what a stopped or crashed holder left
                    await asyncio.to_thread(self.driver.tidy_port_groups)
                except DriverError as e:
                    log.warning("could not remove unused port groups", error=str(e))
            try:
                await runtime.start()
            except BaseException:
                self.runtime = None
                await runtime.close(grace_s=0.0)
                raise
            self._tasks = BackgroundTasks("agent_vmware.holder")
            if self.driver.options.image_cache_max_age_s > 0:
                sweeper = CacheSweeper(
                    lambda stop: self.driver.sweep_image_cache(stop=stop),
                    self.driver.options.image_cache_sweep_interval_s,
                )
                self._tasks.start("image_cache", sweeper.run())

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, None
        if tasks is not None:
            await tasks.close()  # a sweep under way ends after its vCenter call
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            # close() pauses the consumer before anything else: no new command is taken.
            await runtime.close(grace_s=min(2.0, self.settings.shutdown_grace_s))
        network, self._network = self._network, None
        if network is not None:
            await network.close()


async def _host_id(settings: VmwareAgentSettings, driver: VmwareDriver) -> str:
    if settings.host_id:
        return settings.host_id
    while True:
        conn = await asyncio.to_thread(driver.session.wait_connected, 2.0)
        if conn is not None:
            try:
                return await asyncio.to_thread(lambda: driver.host_id)
            except Exception as e:  # vCenter went away again, or the cluster is missing
                log.warning("cannot derive the host id yet", error=str(e))
        await asyncio.sleep(1.0)


async def lifespan(settings: VmwareAgentSettings, stack: AsyncExitStack) -> GrpcServer | None:
    # With physical networks mapped: the vSphere network data plane and the ports capability;
    # with vmdk volumes on: the volume_vmdk capability.
    kind = driver_class(ports=bool(settings.switch_mappings), vmdk_volumes=settings.vmdk_volumes)
    driver = kind(settings.options())
    stack.push_async_callback(asyncio.to_thread, driver.close)
    driver.start()
    host_id = await _host_id(settings, driver)
    agent_settings = settings.model_copy(update={"host_id": host_id})
    log.info("vmware agent", host_id=host_id, cluster=settings.cluster_name)

    bus = await Bus.connect(
        settings.nats_urls,
        name=f"agent-vmware-{settings.server_id}",
        replicas=settings.nats_replicas,
    )
    stack.push_async_callback(bus.close)
    kv = await bus.key_value(settings.lease_bucket, ttl=settings.lease_ttl_s)
    lease = Lease(kv, subject_token(host_id), settings.server_id)
    holder = RuntimeHolder(agent_settings, driver, bus)
    leadership = Leadership(lease, ttl_s=settings.lease_ttl_s, start=holder.start, stop=holder.stop)
    tasks = BackgroundTasks("agent_vmware")
    stack.push_async_callback(tasks.close)
    tasks.start("lease", leadership.run())
    stack.push_async_callback(leadership.close)
    if not settings.serve_health:
        return None
    return GrpcServer(settings, [])
