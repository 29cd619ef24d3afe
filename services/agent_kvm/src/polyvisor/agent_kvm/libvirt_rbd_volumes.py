"""RBD volumes on KVM guests: the ``volume_rbd`` capability, on an agent configured for Ceph
(``POLYVISOR_RBD_VOLUMES=true``, with ``POLYVISOR_RBD_CONF`` and the keyring of the user the
volume service's rbd backend names).

A volume is a libvirt network disk (``rbd_disks.volume_disk_xml``: ``protocol='rbd'``, the
monitors the connection names) that QEMU opens with its own librbd, on the domain's
virtio-scsi controller as file volumes are (plugged and unplugged without the guest's help).
Its cephx key is a libvirt ``ceph`` secret of the connection's ``secret_uuid``, defined (or
refreshed) from this host's keyring before each attach: the key never travels in a command
or the domain XML. Detach finds the disk by its image (``pool/image``) and keeps the image.
Such a host also boots servers from rbd volumes (``boot_volume``): the volume's network disk
is the domain's boot disk, and destroy leaves the image alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from polyvisor.agent_kvm.libvirt_volumes import RootDisk, VolumeVerbs, root_volume_disk
from polyvisor.agent_kvm.migrate import MigratingLibvirtDriver, MigratingPortsLibvirtDriver
from polyvisor.agent_kvm.rbd_disks import RbdDiskError, RbdRootDisks, volume_disk_xml
from polyvisor.agentkit.driver import DriverError, SpawnFailed
from polyvisor.agentkit.volume_capabilities import VolumeConnection

__all__ = ["RbdMigratingLibvirtDriver", "RbdMigratingPortsLibvirtDriver", "RbdVolumeVerbs"]


class RbdVolumeVerbs(VolumeVerbs):
    """Capability volume_rbd (beside volume_file)."""

    def _ensure_ceph_secret(self, volume: VolumeConnection) -> None:
        user = volume.attr("user")
        keyring = self.config.rbd_keyring if user == self.config.rbd_user else ""
        disks = RbdRootDisks(self.config.rbd_conf, self.config.rbd_pool, user, keyring)
        disks.ensure_secret(self._connection(), volume.attr("secret_uuid"))

    def attach_rbd_volume(self, server_id: str, volume: VolumeConnection) -> None:
        try:
            self._ensure_ceph_secret(volume)
            self._attach_volume(
                server_id,
                volume,
                lambda target: volume_disk_xml(volume.attrs, target, "scsi", volume.volume_id),
            )
        except (RbdDiskError, ValueError) as exc:
            raise DriverError(f"attach volume {volume.volume_id}: {exc}") from exc

    def detach_rbd_volume(self, server_id: str, volume: VolumeConnection) -> None:
        self._detach_volume(server_id, volume)

    def _root_volume(self, root: VolumeConnection, workdir: Path) -> RootDisk:
        """An rbd volume boots as the network disk in place of the root file disk (its
        placeholder path is never made); a file volume as ``root_volume_disk`` says."""
        if root.kind != "rbd":
            return root_volume_disk(root)
        try:
            self._ensure_ceph_secret(root)
            disk = volume_disk_xml(root.attrs, "vda", "virtio", root.volume_id)
        except (RbdDiskError, ValueError) as exc:
            raise SpawnFailed(f"boot volume {root.volume_id}: {exc}") from exc
        return RootDisk(workdir / "disk.rbd", "raw", ET.fromstring(disk))


class RbdMigratingLibvirtDriver(RbdVolumeVerbs, MigratingLibvirtDriver):
    """A KVM host that attaches the volume service's RBD volumes."""


class RbdMigratingPortsLibvirtDriver(RbdVolumeVerbs, MigratingPortsLibvirtDriver):
    """A KVM host with a network data plane that attaches RBD volumes."""
