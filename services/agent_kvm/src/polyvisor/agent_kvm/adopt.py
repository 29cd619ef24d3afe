"""Adoption of the libvirt domains of this host that no Polyvisor server owns (the agentkit
``adopt`` capability).

    list_unmanaged: every domain without our <metadata> tag, with its size (vCPUs, memory,
                    its first disk's capacity)
    adopt:          our tag (server id and host id) set in its <metadata>, live and in its
                    persistent definition; nothing else changes (no rename, no power change)

The api adopts a domain under its UUID as the server id: our own domains are named
``polyvisor-<server id>``, an adopted one keeps its name and is found by its UUID, tagged
(``LibvirtHost._find``). Adopting again a domain already ours under that id answers as done.
Its disks stay where they are: deleting the server undefines the domain and removes only
what lives in the server's instance directory (nothing, for an adopted domain).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import libvirt

from polyvisor.agent_kvm.domain_xml import METADATA_NS, METADATA_PREFIX, DomainTag
from polyvisor.agent_kvm.libvirt_errors import is_no_domain, mapped_errors, to_driver_error
from polyvisor.agent_kvm.libvirt_host import LibvirtHost
from polyvisor.agent_kvm.lifecycle import power_of
from polyvisor.agentkit.adopt_capabilities import UnmanagedVm
from polyvisor.agentkit.driver import Instance, InstanceNotFound
from polyvisor.common.logging import get_logger

__all__ = ["AdoptVerbs"]

log = get_logger(__name__)


def _first_disk_gb(dom: libvirt.virDomain, xml: str) -> int:
    for disk in ET.fromstring(xml).findall("devices/disk"):
        target = disk.find("target")
        if disk.get("device", "disk") != "disk" or target is None or not target.get("dev"):
            continue
        try:
            capacity = int(dom.blockInfo(target.get("dev"), 0)[0])
        except libvirt.libvirtError:
            return 0
        return math.ceil(capacity / (1 << 30))
    return 0


class AdoptVerbs(LibvirtHost):
    def list_unmanaged(self) -> list[UnmanagedVm]:
        conn = self._connection()
        out = []
        with mapped_errors("list domains"):
            for dom in conn.listAllDomains(0):
                try:
                    vm = self._unmanaged(dom)
                except libvirt.libvirtError as exc:
                    if is_no_domain(exc):
                        continue  # undefined since the listing
                    raise
                if vm is not None:
                    out.append(vm)
        return sorted(out, key=lambda v: (v.name, v.ref))

    def _unmanaged(self, dom: libvirt.virDomain) -> UnmanagedVm | None:
        if self._tag_of(dom) != DomainTag():
            return None  # ours, or another agent's
        state, _max_kib, memory_kib, vcpus, _ = dom.info()
        return UnmanagedVm(
            ref=dom.UUIDString(),
            name=dom.name(),
            vcpus=int(vcpus),
            memory_mb=int(dom.maxMemory()) // 1024 or int(memory_kib) // 1024,
            disk_gb=_first_disk_gb(dom, dom.XMLDesc(0)),
            power_state=power_of(dom, state),
        )

    def adopt(self, server_id: str, ref: str) -> Instance:
        if server_id.lower() != ref.lower():
            raise InstanceNotFound(f"a domain is adopted under its UUID ({ref}), not {server_id}")
        with self._lock_for(server_id):
            conn = self._connection()
            try:
                dom = conn.lookupByUUIDString(ref)
            except libvirt.libvirtError as exc:
                if is_no_domain(exc):
                    raise InstanceNotFound(f"no domain with UUID {ref} on this host") from exc
                raise to_driver_error(exc, f"look up domain {ref}") from exc
            tag = self._tag_of(dom)
            if tag == DomainTag(server_id, self.config.host_id):
                return self._instance(server_id, dom, console=True)
            if tag != DomainTag():
                raise InstanceNotFound(f"domain {ref} is already server {tag.server_id}'s")
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            with mapped_errors(f"tag domain {ref}"):
                if dom.isActive():
                    flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
                # Our element without a namespace of its own: libvirt puts it in ours.
                inner = (
                    f"<instance><server-id>{escape(server_id)}</server-id>"
                    f"<host-id>{escape(self.config.host_id)}</host-id></instance>"
                )
                dom.setMetadata(
                    libvirt.VIR_DOMAIN_METADATA_ELEMENT, inner, METADATA_PREFIX, METADATA_NS, flags
                )
            log.info("domain adopted", server_id=server_id, name=dom.name())
            return self._instance(server_id, dom, console=True)
