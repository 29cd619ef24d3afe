"""The KVM agent process: the libvirt driver under the shared agent runtime."""

from __future__ import annotations

from polyvisor.agent_kvm.config import KvmSettings
from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, LibvirtDriver
from polyvisor.agentkit.driver import HypervisorUnavailable
from polyvisor.agentkit.service import agent_lifespan
from polyvisor.common.lifespan import Lifespan
from polyvisor.common.logging import get_logger

__all__ = ["driver_config", "lifespan", "make_driver"]

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
    )


def make_driver(settings: KvmSettings) -> LibvirtDriver:
    """The driver, connected when libvirtd answers (else it connects on first use)."""
    driver = LibvirtDriver(driver_config(settings))
    try:
        driver.open()
    except HypervisorUnavailable as exc:  # the runtime retries and reports it DISCONNECTED
        log.warning("libvirt not reachable at start", uri=settings.libvirt_uri, error=str(exc))
    return driver


lifespan: Lifespan[KvmSettings] = agent_lifespan(make_driver)
