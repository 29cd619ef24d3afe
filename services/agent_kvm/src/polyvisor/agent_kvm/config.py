"""KVM agent settings (prefix ``POLYVISOR_``), on top of the settings every agent shares.

| variable | meaning | default |
| --- | --- | --- |
| ``POLYVISOR_LIBVIRT_URI`` | libvirt connection | ``qemu:///system`` |
| ``POLYVISOR_VIRT_TYPE`` | ``kvm``, or ``qemu`` for TCG, or ``lxc`` for system containers (with ``POLYVISOR_LIBVIRT_URI=lxc:///``; see ``lxc_driver``) | ``kvm`` |
| ``POLYVISOR_INSTANCES_DIR`` | one directory per server: disk, config drive, serial log | ``/var/lib/polyvisor/instances`` |
| ``POLYVISOR_CACHE_DIR`` | cached image renditions (overlay bases) | ``/var/lib/polyvisor/cache`` |
| ``POLYVISOR_VNC_LISTEN`` | address VNC consoles listen on | ``127.0.0.1`` |
| ``POLYVISOR_VNC_PORT_MIN`` / ``POLYVISOR_VNC_PORT_MAX`` | VNC port range | 5900 / 6000 |
| ``POLYVISOR_DISK_MODE`` | ``overlay`` (qcow2 on the cached base), ``copy`` (raw copy) or ``rbd`` (a copy-on-write clone in Ceph RBD, see rbd_disks) | ``overlay`` |
| ``POLYVISOR_RBD_CONF`` / ``POLYVISOR_RBD_POOL`` / ``POLYVISOR_RBD_USER`` / ``POLYVISOR_RBD_KEYRING`` | disk mode rbd: the cluster's ceph.conf, the pool, the cephx user (without ``client.``), its keyring | ``/etc/ceph/ceph.conf`` / ``vms`` / ``admin`` / ``/etc/ceph/ceph.client.<user>.keyring`` |
| ``POLYVISOR_RBD_VOLUMES`` | attach the volume service's rbd volumes (the ``volume_rbd`` capability; the cephx key of the user a volume names from ``POLYVISOR_RBD_KEYRING`` or ``/etc/ceph/ceph.client.<user>.keyring``) | false |
| ``POLYVISOR_RESERVED_HOST_MEMORY_MB`` | memory kept for the host | 512 |
| ``POLYVISOR_RESERVED_HOST_DISK_GB`` | disk kept for the host | 0 |
| ``POLYVISOR_CPU_ALLOCATION_RATIO`` / ``..._RAM_...`` / ``..._DISK_...`` | overcommit | 16 / 1.5 / 1 |
| ``POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS`` | physical networks this host reaches: ``physnet1:eth1,physnet2:`` (an empty interface: bridges without uplink, this host only); empty: no network data plane | empty |
| ``POLYVISOR_NETWORK_ADDRESS`` | the network service (binding specs, binding state) | ``127.0.0.1:50054`` |
| ``POLYVISOR_NFT_TABLE`` | the nftables tables (bridge and inet) holding this agent's anti-spoofing and security group rules; agents sharing one machine (dev stacks side by side) each need their own | ``polyvisor`` |
| ``POLYVISOR_NETWORK_RESYNC_INTERVAL_S`` | how often the host's bound ports are compared with the network service | 60 |
| ``POLYVISOR_MIGRATION_PEERS`` | the KVM hosts servers move to and from, JSON by host id: ``{"kvm-2": {"uri": "qemu+tcp://10.0.0.2/system", "instances_dir": "/var/lib/polyvisor/instances", "address": "10.0.0.2"}}`` (``instances_dir`` defaults to this host's, ``address``, where its QEMU takes the migration stream, to its hostname) | none |
| ``POLYVISOR_MIGRATION_BANDWIDTH_MIB_S`` | cap of a live migration's stream (0: none) | 0 |
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from polyvisor.agentkit.settings import AgentSettings

__all__ = ["KvmSettings", "PeerSettings"]


class PeerSettings(BaseModel):
    """A KVM host servers move to (``POLYVISOR_MIGRATION_PEERS``)."""

    uri: str = Field(min_length=1)
    instances_dir: Path | None = None
    address: str = ""


class KvmSettings(AgentSettings):
    service_name: str = "agent_kvm"
    host_id: str = Field(default_factory=socket.gethostname, min_length=1)
    libvirt_uri: str = "qemu:///system"
    virt_type: Literal["kvm", "qemu", "lxc"] = "kvm"
    instances_dir: Path = Path("/var/lib/polyvisor/instances")
    cache_dir: Path = Path("/var/lib/polyvisor/cache")
    vnc_listen: str = "127.0.0.1"
    vnc_port_min: int = Field(default=5900, ge=1, le=65535)
    vnc_port_max: int = Field(default=6000, ge=1, le=65535)
    disk_mode: Literal["overlay", "copy", "rbd"] = "overlay"
    rbd_conf: str = "/etc/ceph/ceph.conf"
    rbd_pool: str = Field(default="vms", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    rbd_user: str = Field(default="admin", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    rbd_keyring: str = ""
    rbd_volumes: bool = False
    reserved_host_memory_mb: int = Field(default=512, ge=0)
    reserved_host_disk_gb: int = Field(default=0, ge=0)
    cpu_allocation_ratio: float = Field(default=16.0, gt=0)
    ram_allocation_ratio: float = Field(default=1.5, gt=0)
    disk_allocation_ratio: float = Field(default=1.0, gt=0)
    physical_interface_mappings: str = ""
    network_address: str = "127.0.0.1:50054"
    network_resync_interval_s: float = Field(default=60.0, gt=0)
    nft_table: str = Field(default="polyvisor", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    migration_peers: dict[str, PeerSettings] = Field(default_factory=dict)
    migration_bandwidth_mib_s: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _port_range(self) -> KvmSettings:
        if self.vnc_port_min > self.vnc_port_max:
            raise ValueError("vnc_port_min must not exceed vnc_port_max")
        _ = self.interface_mappings  # malformed mappings stop the agent at start
        return self

    @property
    def interface_mappings(self) -> dict[str, str]:
        """``physical network -> interface`` ("" for a bridge without uplink)."""
        out: dict[str, str] = {}
        for item in self.physical_interface_mappings.split(","):
            if not item.strip():
                continue
            physnet, sep, interface = item.strip().partition(":")
            if not sep or not physnet.strip():
                raise ValueError(f"physical_interface_mappings: {item!r} is not physnet:interface")
            out[physnet.strip()] = interface.strip()
        return out

    @property
    def vnc_port_range(self) -> tuple[int, int]:
        return (self.vnc_port_min, self.vnc_port_max)
