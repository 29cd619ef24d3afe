"""What the networking of a dev stack leaves on this machine and in its vcsim, read from the
host itself (iproute2, nftables, the process table, pyVmomi), for the end-to-end tests.

    left = host_leftovers(table, network_ids, port_ids)   # [] once nothing is left
    groups = vcsim_port_groups(endpoints["vcsim"])         # polyvisor-* port groups, per host
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from polyvisor.agent_kvm.net.names import bridge_name, dhcp_namespace, tap_name

__all__ = ["VcsimNic", "host_leftovers", "vcsim_port_groups", "vcsim_vm"]


def _out(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def host_leftovers(table: str, network_ids: set[str], port_ids: set[str]) -> list[str]:
    """Each bridge, tap, namespace, dnsmasq process and nftables table of these networks,
    ports and agent table that exists on this machine now."""
    left = []
    links = {
        line.split(":")[1].strip().split("@")[0] for line in _out("ip", "-o", "link").splitlines()
    }
    left += [f"bridge {bridge_name(n)}" for n in network_ids if bridge_name(n) in links]
    left += [f"tap {tap_name(p)}" for p in port_ids if tap_name(p) in links]
    namespaces = {line.split()[0] for line in _out("ip", "netns", "list").splitlines() if line}
    left += [f"netns {dhcp_namespace(n)}" for n in network_ids if dhcp_namespace(n) in namespaces]
    for proc in _out("ps", "-eo", "pid=,args=").splitlines():
        if "dnsmasq" in proc and any(n in proc for n in network_ids):
            left.append(f"dnsmasq {proc.strip()}")
    tables = _out("nft", "list", "tables").split()
    left += [f"nftables table {family} {table}" for family in ("bridge", "inet")
             if f"{family} {table}" in " ".join(tables)]  # fmt: skip
    return left


def nft_chains(table: str) -> list[str]:
    """The chains of the agent's tables (both families)."""
    chains = []
    for family in ("bridge", "inet"):
        listed = _out("nft", "-j", "list", "table", family, table)
        if not listed.strip():
            continue
        for item in json.loads(listed).get("nftables", []):
            if "chain" in item:
                chains.append(f"{family} {item['chain']['name']}")
    return chains


def _connect(vcsim: dict[str, Any]) -> Any:
    from pyVim.connect import SmartConnect

    return SmartConnect(
        host=vcsim["host"], port=int(vcsim["port"]), protocol="http",
        user=vcsim["username"], pwd=vcsim["password"], disableSslCertValidation=True,
    )  # fmt: skip


def vcsim_port_groups(vcsim: dict[str, Any]) -> dict[str, list[str]]:
    """Our port groups (``polyvisor-*``) on each ESXi host, by host name."""
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    si = _connect(vcsim)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
        try:
            return {
                h.name: [
                    pg.spec.name
                    for pg in h.configManager.networkSystem.networkInfo.portgroup or ()
                    if pg.spec.name.startswith("polyvisor-")
                ]
                for h in view.view
            }
        finally:
            view.Destroy()
    finally:
        Disconnect(si)


@dataclass(frozen=True)
class VcsimNic:
    mac_address: str
    address_type: str
    port_group: str


def vcsim_vm(vcsim: dict[str, Any], server_id: str) -> tuple[list[VcsimNic], dict[str, str]]:
    """The NICs and the extraConfig (guestinfo) of the VM whose name holds the server id."""
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    si = _connect(vcsim)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.VirtualMachine], True
        )
        try:
            vms = [
                vm
                for vm in view.view
                if server_id in vm.name
                or (vm.config is not None and vm.config.instanceUuid == server_id)
            ]
            assert len(vms) == 1, f"{len(vms)} VMs hold {server_id}"
            config = vms[0].config
            nics = [
                VcsimNic(d.macAddress, d.addressType, getattr(d.backing, "deviceName", ""))
                for d in config.hardware.device
                if isinstance(d, vim.vm.device.VirtualEthernetCard)
            ]
            return nics, {o.key: str(o.value) for o in config.extraConfig}
        finally:
            view.Destroy()
    finally:
        Disconnect(si)
