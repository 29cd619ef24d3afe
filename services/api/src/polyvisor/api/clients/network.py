"""The network service's client: networks and ports as the caller sees them, the ports of
servers made, bound and freed as the api."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import grpc

from polyvisor.api import models as m
from polyvisor.api.clients.base import CHANNEL_OPTIONS, bearer_metadata, map_rpc_error
from polyvisor.common.errors import AlreadyExists, InvalidArgument, NotFound
from polyvisor.network.v1 import bindings_pb2, network_service_pb2_grpc, networks_pb2


class NetworkClient:
    """The network service (polyvisor.network.v1): what the caller may use is checked with the
    caller's token (forwarded); the ports of the servers the api builds are made, bound and
    freed with the api's own service token (docs/networking.md, "Who binds, who plumbs")."""

    PEER = "network service"

    def __init__(self, address: str, token: Callable[[], Any], timeout_s: float = 10.0) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = network_service_pb2_grpc.NetworkServiceStub(self._channel)
        self._token = token
        self.timeout_s = timeout_s

    async def _call(self, method: Callable[..., Any], request: Any, bearer: str = "") -> Any:
        metadata = bearer_metadata(bearer) if bearer else self._token()
        try:
            return await method(request, timeout=self.timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as e:
            raise map_rpc_error(e, self.PEER) from e

    # ------------------------------------------------------------------ as the caller

    async def usable_networks(self, bearer: str) -> list[m.NetworkRef]:
        """The networks the caller's project may put a server on (its own and shared)."""
        out: list[m.NetworkRef] = []
        token = ""
        while True:
            resp = await self._call(
                self.stub.ListNetworks,
                networks_pb2.ListNetworksRequest(page_size=1000, page_token=token),
                bearer,
            )
            out.extend(m.NetworkRef(n.id, n.name, n.physical_network) for n in resp.networks)
            token = resp.next_page_token
            if not token:
                return out

    async def get_network(self, network_id: str, bearer: str) -> m.NetworkRef:
        resp = await self._call(
            self.stub.GetNetwork, networks_pb2.GetNetworkRequest(network_id=network_id), bearer
        )
        n = resp.network
        return m.NetworkRef(n.id, n.name, n.physical_network)

    async def check_fixed_ip(self, network_id: str, ip: str, bearer: str) -> None:
        """Refuse, before anything is made, a fixed IP the network service would refuse when
        the port is made: outside every subnet of the network, a subnet's gateway, network
        or broadcast address (INVALID_ARGUMENT), or held by a port (ALREADY_EXISTS). The
        port's create still decides a race."""
        net = (
            await self._call(
                self.stub.GetNetwork, networks_pb2.GetNetworkRequest(network_id=network_id), bearer
            )
        ).network
        addr = ipaddress.ip_address(ip)
        for subnet_id in net.subnet_ids:
            s = (
                await self._call(
                    self.stub.GetSubnet, networks_pb2.GetSubnetRequest(subnet_id=subnet_id), bearer
                )
            ).subnet
            cidr = ipaddress.ip_network(s.cidr)
            if addr not in cidr:
                continue
            reserved = {s.gateway_ip} if s.gateway_ip else set()
            if cidr.version == 4 and cidr.prefixlen < 31:
                reserved |= {str(cidr.network_address), str(cidr.broadcast_address)}
            if str(addr) in reserved:
                raise InvalidArgument(
                    f"fixed_ip {ip} is the gateway, network or broadcast address of subnet "
                    f"{subnet_id} ({s.cidr})",
                    {"field": "fixed_ip", "subnet_id": subnet_id},
                )
            break
        else:
            raise InvalidArgument(
                f"fixed_ip {ip} is outside every subnet of network {network_id}",
                {"field": "fixed_ip", "network_id": network_id},
            )
        token = ""
        while True:
            resp = await self._call(
                self.stub.ListPorts,
                networks_pb2.ListPortsRequest(
                    network_id=network_id, all_projects=True, page_size=1000, page_token=token
                ),
            )
            for p in resp.ports:
                if any(f.ip_address == str(addr) for f in p.fixed_ips):
                    raise AlreadyExists(
                        f"IP address {ip} is already allocated on subnet {subnet_id}",
                        {"ip_address": ip, "subnet_id": subnet_id},
                    )
            token = resp.next_page_token
            if not token:
                return

    async def get_port(self, port_id: str, bearer: str = "") -> m.PortRef:
        """The port as the caller sees it (another project's port: NOT_FOUND); without a
        bearer, as the api."""
        resp = await self._call(
            self.stub.GetPort, networks_pb2.GetPortRequest(port_id=port_id), bearer
        )
        return _port_ref(resp.port)

    # ------------------------------------------------------------------ as the api

    async def create_port(
        self, project_id: str, network_id: str, fixed_ip: str, device_id: str, request_id: str
    ) -> m.PortRef:
        """A port of `project_id` for the server `device_id` (idempotent on `request_id`)."""
        port = networks_pb2.Port(
            project_id=project_id,
            network_id=network_id,
            device_id=device_id,
            device_owner=DEVICE_OWNER,
        )
        if fixed_ip:
            port.fixed_ips.add(ip_address=fixed_ip)
        resp = await self._call(
            self.stub.CreatePort,
            networks_pb2.CreatePortRequest(request_id=request_id, port=port),
        )
        return _port_ref(resp.port)

    async def bind_port(
        self, port_id: str, host: str, vmware: bool, device_id: str
    ) -> tuple[Any, list[m.Address]]:
        """Bind the port to `host` (rebinding it when a reschedule moved the server): its
        binding spec (opaque past here: the spawn command carries it) and its addresses."""
        current = await self.get_port(port_id)
        if current.host and current.host != host:
            await self.unbind_port(port_id, keep_device=True)
        resp = await self._call(
            self.stub.BindPort,
            bindings_pb2.BindPortRequest(
                port_id=port_id,
                host=host,
                vif_type=(
                    networks_pb2.VIF_TYPE_VMWARE_PORTGROUP
                    if vmware
                    else networks_pb2.VIF_TYPE_BRIDGE
                ),
                device_id=device_id,
                device_owner=DEVICE_OWNER,
            ),
        )
        spec = resp.spec
        name = await self._network_name(spec.network_id)
        addresses = [
            m.Address(
                network=name,
                address=ip.ip_address,
                version=6 if ip.ip_version == networks_pb2.IP_VERSION_6 else 4,
                mac_address=spec.mac_address,
            )
            for ip in spec.ips
        ]
        return spec, addresses

    async def _network_name(self, network_id: str) -> str:
        try:
            resp = await self._call(
                self.stub.GetNetwork, networks_pb2.GetNetworkRequest(network_id=network_id)
            )
        except NotFound:
            return network_id
        return str(resp.network.name or network_id)

    async def unbind_port(self, port_id: str, keep_device: bool = False) -> None:
        try:
            await self._call(
                self.stub.UnbindPort,
                bindings_pb2.UnbindPortRequest(port_id=port_id, keep_device=keep_device),
            )
        except NotFound:
            pass

    async def delete_port(self, port_id: str) -> None:
        try:
            await self._call(self.stub.DeletePort, networks_pb2.DeletePortRequest(port_id=port_id))
        except NotFound:
            pass

    async def ports_of(self, device_id: str) -> list[m.PortRef]:
        """Every port whose device is `device_id` (any project)."""
        out: list[m.PortRef] = []
        token = ""
        while True:
            resp = await self._call(
                self.stub.ListPorts,
                networks_pb2.ListPortsRequest(
                    page_size=1000, page_token=token, device_id=device_id, all_projects=True
                ),
            )
            out.extend(_port_ref(p) for p in resp.ports)
            token = resp.next_page_token
            if not token:
                return out

    async def close(self) -> None:
        await self._channel.close()


# The device owner of the ports of servers (Neutron's "compute:<zone>").
DEVICE_OWNER = "compute:polyvisor"


def _port_ref(p: Any) -> m.PortRef:
    return m.PortRef(
        id=p.id,
        network_id=p.network_id,
        project_id=p.project_id,
        device_id=p.device_id,
        mac_address=p.mac_address,
        host=p.binding.host if p.HasField("binding") else "",
        port_security_enforced=(
            p.binding.port_security_enforced if p.HasField("binding") else False
        ),
        port_security_enabled=p.port_security_enabled
        if p.HasField("port_security_enabled")
        else True,
    )
