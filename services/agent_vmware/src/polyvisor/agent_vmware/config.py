"""VMware agent settings (prefix ``POLYVISOR_``), on top of the settings every agent shares.

| variable | meaning | default |
| --- | --- | --- |
| ``POLYVISOR_VCENTER_URL`` | vCenter SDK URL (``https://vc/sdk``; vcsim: ``http://...``) | required |
| ``POLYVISOR_VCENTER_USER`` | vCenter user | required |
| ``POLYVISOR_VCENTER_PASSWORD`` | its password, or | |
| ``POLYVISOR_VCENTER_PASSWORD_FILE`` | a file holding it (a mounted secret) | |
| ``POLYVISOR_VCENTER_INSECURE`` | skip TLS certificate verification | false |
| ``POLYVISOR_CLUSTER_NAME`` | the cluster (``name`` or ``datacenter/name``) | required |
| ``POLYVISOR_DATASTORE_REGEX`` | datastores this agent uses and reports | ``.*`` |
| ``POLYVISOR_VM_FOLDER`` | VM folder for our VMs (created if missing) | ``polyvisor`` |
| ``POLYVISOR_DATASTORE_CACHE_FOLDER`` | datastore folder of image base disks | ``polyvisor_image_cache`` |
| ``POLYVISOR_VMWARE_IMAGE_CACHE_MAX_AGE_S`` | a cached base disk no VM names for this long is deleted (as Nova's image cache manager; 0: never) | 86400 |
| ``POLYVISOR_VMWARE_IMAGE_CACHE_SWEEP_INTERVAL_S`` | how often the lease holder sweeps the image cache | 2400 |
| ``POLYVISOR_HOST_ID`` | this agent's host id | ``<vCenter instanceUuid>:<cluster moref>`` |
| ``POLYVISOR_LEASE_TTL_S`` | HA lease TTL: a dead holder is replaced within it | 15 |
| ``POLYVISOR_VMWARE_WATCH_WAIT_S`` | longest PropertyCollector wait per call | 10 |
| ``POLYVISOR_LEASE_BUCKET`` | NATS KV bucket of the leases | ``agent_leases`` |
| ``POLYVISOR_VCENTER_PROBE_INTERVAL_S`` | session liveness probe (CurrentTime) period | 5 |
| ``POLYVISOR_VCENTER_PROBE_TIMEOUT_S`` | a probe unanswered this long fails (two in a row: vCenter down) | 10 |
| ``POLYVISOR_VCENTER_RECONNECT_MAX_S`` | longest wait between reconnect attempts | 30 |
| ``POLYVISOR_VNC_PORT_MIN`` / ``..._MAX`` | VNC ports handed to VMs | 5900 / 6105 |
| ``POLYVISOR_PHYSICAL_SWITCH_MAPPINGS`` | physical networks this cluster reaches: ``physnet1:vSwitch0`` (a standard vSwitch of that name on every ESXi host) or ``physnet2:dvs:DSwitch`` (a distributed switch), comma separated; empty: no network data plane | empty |
| ``POLYVISOR_VMDK_VOLUMES`` | attach the volume service's vmdk volumes (the ``volume_vmdk`` capability): on when the cluster's ESXi hosts mount the datastores the vmdk backend puts volumes on | false |
| ``POLYVISOR_NETWORK_ADDRESS`` | the network service (binding specs, binding state) | ``127.0.0.1:50054`` |
| ``POLYVISOR_CPU_ALLOCATION_RATIO`` / ``..._RAM_...`` / ``..._DISK_...`` | overcommit | 1 / 1 / 1 |
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from polyvisor.agent_vmware.net.switches import SwitchMapping, parse_switch_mappings
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agentkit.settings import AgentSettings

__all__ = ["VmwareAgentSettings"]


class VmwareAgentSettings(AgentSettings):
    service_name: str = "agent_vmware"
    # Empty: derived from vCenter once connected (unique across vCenters).
    host_id: str = ""
    vcenter_url: str = Field(min_length=1)
    vcenter_user: str = Field(min_length=1)
    vcenter_password: str = Field(default="", repr=False)
    vcenter_password_file: Path | None = None
    vcenter_insecure: bool = False
    vcenter_probe_interval_s: float = Field(default=5.0, gt=0)
    vcenter_probe_timeout_s: float = Field(default=10.0, gt=0)
    vcenter_reconnect_max_s: float = Field(default=30.0, gt=0)
    vcenter_call_timeout_s: float = Field(default=120.0, gt=0)
    cluster_name: str = Field(min_length=1)
    datastore_regex: str = ".*"
    vm_folder: str = "polyvisor"
    datastore_cache_folder: str = "polyvisor_image_cache"
    vmware_image_cache_max_age_s: float = Field(default=86400.0, ge=0)
    vmware_image_cache_sweep_interval_s: float = Field(default=2400.0, gt=0)
    vmware_watch_wait_s: int = Field(default=10, ge=1, le=50)
    lease_ttl_s: float = Field(default=15.0, ge=1.0)
    lease_bucket: str = "agent_leases"
    vnc_port_min: int = Field(default=5900, ge=1, le=65535)
    vnc_port_max: int = Field(default=6105, ge=1, le=65535)
    cpu_allocation_ratio: float = Field(default=1.0, gt=0)
    ram_allocation_ratio: float = Field(default=1.0, gt=0)
    disk_allocation_ratio: float = Field(default=1.0, gt=0)
    physical_switch_mappings: str = ""
    network_address: str = "127.0.0.1:50054"
    vmdk_volumes: bool = False

    @model_validator(mode="after")
    def _checks(self) -> VmwareAgentSettings:
        if self.vnc_port_min > self.vnc_port_max:
            raise ValueError("vnc_port_min must not exceed vnc_port_max")
        if not self.vcenter_password and self.vcenter_password_file is None:
            raise ValueError("set POLYVISOR_VCENTER_PASSWORD or POLYVISOR_VCENTER_PASSWORD_FILE")
        _ = self.switch_mappings  # malformed mappings stop the agent at start
        return self

    @property
    def switch_mappings(self) -> dict[str, SwitchMapping]:
        return parse_switch_mappings(self.physical_switch_mappings)

    def password(self) -> str:
        if self.vcenter_password_file is not None:
            return self.vcenter_password_file.read_text().rstrip("\r\n")
        return self.vcenter_password

    def options(self) -> VmwareOptions:
        return VmwareOptions(
            url=self.vcenter_url,
            username=self.vcenter_user,
            password=self.password(),
            cluster_name=self.cluster_name,
            datastore_regex=self.datastore_regex,
            folder=self.vm_folder,
            image_cache_folder=self.datastore_cache_folder,
            image_cache_max_age_s=self.vmware_image_cache_max_age_s,
            image_cache_sweep_interval_s=self.vmware_image_cache_sweep_interval_s,
            host_id=self.host_id,
            insecure=self.vcenter_insecure,
            probe_interval_s=self.vcenter_probe_interval_s,
            probe_timeout_s=self.vcenter_probe_timeout_s,
            reconnect_max_s=self.vcenter_reconnect_max_s,
            call_timeout_s=self.vcenter_call_timeout_s,
            watch_wait_s=self.vmware_watch_wait_s,
            vnc_port_min=self.vnc_port_min,
            vnc_port_max=self.vnc_port_max,
            cpu_allocation_ratio=self.cpu_allocation_ratio,
            ram_allocation_ratio=self.ram_allocation_ratio,
            disk_allocation_ratio=self.disk_allocation_ratio,
            switch_mappings=self.switch_mappings,
        )
