"""Ports: addresses (IPAM in the store), MAC, security groups, port security, address pairs,
and bindings to hosts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from polyvisor.common.auth import Principal
from polyvisor.common.errors import InvalidArgument, NotFound, PermissionDenied
from polyvisor.common.id_paging import after, next_token, page_size
from polyvisor.networksvc import access
from polyvisor.networksvc.events import PortEventKind
from polyvisor.networksvc.model import (
    AddressPair,
    BindingState,
    FixedIp,
    Port,
    PortBindingSpec,
    VifType,
)
from polyvisor.networksvc.networks import Networks
from polyvisor.networksvc.store import PortDraft, Store
from polyvisor.networksvc.validation import (
    check_fixed_ip,
    check_name,
    in_cidr,
    normalise_mac,
    parse_address_pairs,
    parse_ip,
)

__all__ = ["UPDATABLE", "PortInput", "Ports"]

#: Fields UpdatePort may change.
UPDATABLE = frozenset(
    {
        "name",
        "device_owner",
        "device_id",
        "security_group_ids",
        "port_security_enabled",
        "allowed_address_pairs",
        "admin_state_up",
    }
)
MAX_FIXED_IPS = 16


@dataclass(frozen=True, slots=True)
class PortInput:
    name: str = ""
    project_id: str = ""
    network_id: str = ""
    mac_address: str = ""
    fixed_ips: tuple[FixedIp, ...] = ()
    device_owner: str = ""
    device_id: str = ""
    security_group_ids: tuple[str, ...] = ()
    port_security_enabled: bool = True
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    admin_state_up: bool = True


class Ports:
    def __init__(self, store: Store, networks: Networks, wake: Callable[[], None]) -> None:
        self._store = store
        self._networks = networks
        self._wake = wake

    async def _check_groups(
        self, caller: Principal, project_id: str, group_ids: Sequence[str]
    ) -> tuple[str, ...]:
        ids = tuple(dict.fromkeys(group_ids))
        found = await self._store.groups_by_ids(ids)
        for gid in ids:
            g = found.get(gid)
            if g is None or not (
                caller.is_admin or caller.is_service or g.project_id == caller.project_id
            ):
                raise NotFound(f"security group {gid} not found", {"security_group_id": gid})
            if g.project_id != project_id:
                raise InvalidArgument(
                    f"security group {gid} belongs to another project than the port"
                )
        return tuple(found[g].id for g in ids)

    async def create(self, p: Principal | None, i: PortInput, request_id: str) -> Port:
        caller = access.require_write(p)
        project = i.project_id or caller.project_id
        if project != caller.project_id and not (caller.is_admin or caller.is_service):
            raise PermissionDenied("only an admin creates a port for another project")
        net = await self._networks.get(caller, i.network_id)
        if not (caller.is_admin or net.shared or net.project_id == project):
            # The api (a service identity sees every network) asking for a port of project
            # X on project Y's private network: for X that network does not exist.
            raise NotFound(f"network {net.id} not found", {"network_id": net.id})
        check_name(i.name)
        check_name(i.device_owner, "device_owner")
        check_name(i.device_id, "device_id")
        mac = normalise_mac(i.mac_address) if i.mac_address else ""
        pairs = parse_address_pairs(i.allowed_address_pairs)
        if request_id:
            found = await self._store.port_by_request(project, request_id)
            if found is not None:
                return found
        subnets = {s.id: s for s in await self._store.network_subnets(net.id)}
        fixed: list[FixedIp] = []
        if len(i.fixed_ips) > MAX_FIXED_IPS:
            raise InvalidArgument(f"at most {MAX_FIXED_IPS} fixed_ips")
        for f in i.fixed_ips:
            if f.subnet_id:
                subnet = subnets.get(f.subnet_id)
                if subnet is None:
                    raise InvalidArgument(
                        f"subnet {f.subnet_id} is not a subnet of network {net.id}",
                        {"subnet_id": f.subnet_id},
                    )
            elif f.ip_address:
                owners = [s for s in subnets.values() if in_cidr(f.ip_address.strip(), s.cidr)]
                if not owners:
                    parse_ip(f.ip_address, "fixed IP")  # a malformed address says so first
                    raise InvalidArgument(
                        f"fixed IP {f.ip_address} is outside every subnet of network {net.id}",
                        {"network_id": net.id},
                    )
                subnet = owners[0]
            else:
                raise InvalidArgument("a fixed IP needs a subnet_id, an ip_address, or both")
            ip = (
                check_fixed_ip(f.ip_address, subnet.cidr, subnet.gateway_ip, subnet.id)
                if f.ip_address
                else ""
            )
            item = FixedIp(subnet.id, ip)
            if ip and item in fixed:
                raise InvalidArgument(f"fixed IP {ip} is listed twice")
            fixed.append(item)
        groups: tuple[str, ...] = ()
        if i.port_security_enabled:
            groups = (
                await self._check_groups(caller, project, i.security_group_ids)
                if i.security_group_ids
                else (await self._store.ensure_default_group(project),)
            )
        else:
            if i.security_group_ids:
                raise InvalidArgument(
                    "a port with port security disabled cannot have security groups"
                )
            if pairs:
                raise InvalidArgument(
                    "allowed address pairs need port security (they widen anti-spoofing)"
                )
        port = await self._store.create_port(
            PortDraft(
                name=i.name,
                project_id=project,
                network_id=net.id,
                mac_address=mac,
                fixed_ips=tuple(fixed),
                device_owner=i.device_owner,
                device_id=i.device_id,
                security_group_ids=groups,
                port_security_enabled=i.port_security_enabled,
                allowed_address_pairs=pairs,
                admin_state_up=i.admin_state_up,
                request_id=request_id or None,
            )
        )
        self._wake()
        return port

    async def get(self, p: Principal | None, port_id: str) -> Port:
        caller = access.principal(p)
        port = await self._store.get_port(port_id)
        if port is None:
            raise NotFound(f"port {port_id} not found", {"port_id": port_id})
        access.require_own(caller, port.project_id, "port", port_id)
        return port

    async def list(
        self,
        p: Principal | None,
        *,
        network_id: str,
        device_id: str,
        host: str,
        all_projects: bool,
        size: int,
        token: str,
    ) -> tuple[list[Port], str]:
        caller = access.principal(p)
        project = access.scope(caller, all_projects)
        limit = page_size(size)
        items = await self._store.list_ports(
            project,
            network_id=network_id,
            device_id=device_id,
            host=host,
            after=after(token),
            limit=limit,
        )
        return items, next_token(items, limit)

    async def update(self, p: Principal | None, port_id: str, changes: dict[str, Any]) -> Port:
        caller = access.require_write(p)
        port = await self.get(caller, port_id)
        bad = set(changes) - UPDATABLE
        if bad:
            raise InvalidArgument(f"cannot update {', '.join(sorted(bad))} of a port")
        if not changes:
            raise InvalidArgument("update_mask names no field to change")
        for key in ("name", "device_owner", "device_id"):
            if key in changes:
                check_name(changes[key], key)
        if "allowed_address_pairs" in changes:
            changes["allowed_address_pairs"] = parse_address_pairs(changes["allowed_address_pairs"])
        security = changes.get("port_security_enabled", port.port_security_enabled)
        if "security_group_ids" in changes:
            changes["security_group_ids"] = await self._check_groups(
                caller, port.project_id, changes["security_group_ids"]
            )
        groups = changes.get("security_group_ids", port.security_group_ids)
        pairs = changes.get("allowed_address_pairs", port.allowed_address_pairs)
        if not security and groups:
            raise InvalidArgument(
                "a port with port security disabled cannot have security groups "
                "(remove them in the same update)"
            )
        if not security and pairs:
            raise InvalidArgument("allowed address pairs need port security")
        port = await self._store.update_port(port.id, changes, expected_revision=port.revision)
        self._wake()
        return port

    async def delete(self, p: Principal | None, port_id: str) -> None:
        caller = access.require_write(p)
        port = await self.get(caller, port_id)
        await self._store.delete_port(port.id)
        self._wake()

    # ------------------------------------------------------------------ bindings

    async def bind(
        self,
        p: Principal | None,
        port_id: str,
        host: str,
        vif_type: VifType | None,
        device_id: str,
        device_owner: str,
    ) -> tuple[Port, PortBindingSpec]:
        caller = access.require_admin_or_service(p, "binding a port")
        port = await self.get(caller, port_id)
        if not host:
            raise InvalidArgument("host is required")
        if vif_type is None or vif_type is VifType.UNBOUND:
            raise InvalidArgument("vif_type is required: bridge or vmware_portgroup")
        check_name(host, "host")
        if port.binding_host and port.binding_host != host:
            raise InvalidArgument(
                f"port {port_id} is bound to host {port.binding_host}; unbind it first"
            )
        if device_id and port.device_id and port.device_id != device_id:
            raise InvalidArgument(
                f"port {port_id} is in use by device {port.device_id}", {"port_id": port_id}
            )
        done = await self._store.set_binding(
            port.id,
            host=host,
            vif_type=vif_type,
            state=BindingState.PENDING,
            device_id=device_id or None,
            device_owner=device_owner or None,
            kind=PortEventKind.BOUND,
            with_spec=True,
        )
        assert done is not None and done[1] is not None
        self._wake()
        return done[0], done[1]

    async def unbind(self, p: Principal | None, port_id: str, keep_device: bool) -> Port:
        caller = access.require_admin_or_service(p, "unbinding a port")
        port = await self.get(caller, port_id)
        out = await self._store.set_binding(
            port.id,
            host="",
            vif_type=VifType.UNBOUND,
            state=BindingState.UNBOUND,
            device_id=None if keep_device else "",
            device_owner=None if keep_device else "",
            kind=PortEventKind.UNBOUND,
        )
        assert out is not None
        self._wake()
        return out[0]

    async def spec(self, p: Principal | None, port_id: str) -> PortBindingSpec:
        port = await self.get(p, port_id)
        return await self._store.binding_spec(port)

    async def set_state(
        self,
        p: Principal | None,
        port_id: str,
        host: str,
        state: BindingState | None,
        message: str,
        enforced: bool,
        revision: int,
    ) -> Port:
        caller = access.require_admin_or_service(p, "reporting a port binding")
        if caller.is_agent and caller.host != host:
            raise PermissionDenied(f"an agent reports for its own host ({caller.host}), not {host}")
        port = await self.get(caller, port_id)
        if state not in (BindingState.ACTIVE, BindingState.FAILED):
            raise InvalidArgument("state must be ACTIVE or FAILED")
        if port.binding_host != host:
            raise InvalidArgument(
                f"port {port_id} is bound to {port.binding_host or 'no host'}, not {host}"
            )
        out = await self._store.set_binding(
            port.id,
            host=host,
            vif_type=port.vif_type,
            state=state,
            message=message[:1000],
            enforced=enforced and state is BindingState.ACTIVE,
            kind=PortEventKind.BINDING_STATE,
            only_if_host=host,
            only_if_revision=revision or None,
        )
        if out is None:  # a newer change than the one the agent applied: not its verdict
            return await self.get(caller, port_id)
        self._wake()
        return out[0]
