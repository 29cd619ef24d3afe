"""IPAM under concurrency, over real gRPC and PostgreSQL: N concurrent port creates on one
subnet hand out N distinct addresses, and a full subnet says so cleanly."""

from __future__ import annotations

import asyncio
import ipaddress

import grpc
from netsvc_client import Caller, Service, physnet

from polyvisor.network.v1 import networks_pb2 as pb


async def _create_many(
    caller: Caller, network_id: str, n: int
) -> tuple[list[pb.Port], list[grpc.aio.AioRpcError]]:
    results = await asyncio.gather(
        *(caller.port(network_id, name=f"p{i}") for i in range(n)), return_exceptions=True
    )
    ports = [r for r in results if isinstance(r, pb.Port)]
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    others = [r for r in results if not isinstance(r, pb.Port | grpc.aio.AioRpcError)]
    assert not others, others
    return ports, errors


async def test_200_concurrent_creates_on_a_24_get_200_distinct_addresses(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=200)
    sub = await admin.subnet(net.id, "10.200.0.0/24")
    ports, errors = await _create_many(admin, net.id, 200)
    assert errors == []
    addresses = [p.fixed_ips[0].ip_address for p in ports]
    assert len(addresses) == 200 and len(set(addresses)) == 200
    cidr = ipaddress.ip_network(sub.cidr)
    assert all(ipaddress.ip_address(a) in cidr for a in addresses)
    assert "10.200.0.1" not in addresses  # the gateway
    # And what the database holds agrees: every port lists exactly its address.
    listed = (await admin.ListPorts(pb.ListPortsRequest(network_id=net.id, page_size=1000))).ports
    assert sorted(p.fixed_ips[0].ip_address for p in listed) == sorted(addresses)


async def test_concurrent_creates_on_a_28_exhaust_cleanly(service: Service) -> None:
    admin = service.admin()
    net = await admin.network(physical_network=physnet(), segmentation_id=28)
    sub = await admin.subnet(net.id, "10.28.0.0/28")  # 16 - network, broadcast, gateway = 13
    ports, errors = await _create_many(admin, net.id, 40)
    addresses = [p.fixed_ips[0].ip_address for p in ports]
    assert len(set(addresses)) == len(addresses) == 13
    assert len(errors) == 27
    for e in errors:
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert e.details() == f"subnet {sub.id} has no free address"
    # Nothing half-created: the failed creates left no port behind.
    listed = (await admin.ListPorts(pb.ListPortsRequest(network_id=net.id, page_size=1000))).ports
    assert len(listed) == 13
    # A freed address is handed out again.
    await admin.DeletePort(pb.DeletePortRequest(port_id=ports[0].id))
    again = await admin.port(net.id)
    assert again.fixed_ips[0].ip_address == addresses[0]
