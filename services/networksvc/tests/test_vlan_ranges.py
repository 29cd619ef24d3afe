"""Physical networks configured with VLAN ranges (POLYVISOR_PHYSICAL_NETWORKS): automatic
VLAN ids for project networks, unknown physical networks refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from netsvc_client import Service

from conftest import running_service
from polyvisor.network.v1 import networks_pb2 as pb


@pytest.fixture(scope="module")
async def service(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    async with running_service(
        pg_url,
        nats_url,
        tmp_path_factory.mktemp("network-ranges"),
        physical_networks="physnetA:100:102,physnetB",
    ) as svc:
        yield svc


async def test_project_networks_get_vlan_ids_from_the_range(service: Service) -> None:
    alice, bob = service.caller(), service.caller()
    nets = await asyncio.gather(
        alice.network(physical_network="physnetA"),
        bob.network(physical_network="physnetA"),
        alice.network(physical_network="physnetA"),
    )
    assert sorted(n.segmentation_id for n in nets) == [100, 101, 102]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await bob.network(physical_network="physnetA")
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert e.value.details() == "physical network physnetA has no free VLAN id in 100-102"
    # A freed id is handed out again; an admin may still choose an id outside the range.
    await bob.DeleteNetwork(pb.DeleteNetworkRequest(network_id=nets[1].id))
    again = await bob.network(physical_network="physnetA")
    assert again.segmentation_id == nets[1].segmentation_id
    outside = await service.admin().network(physical_network="physnetA", segmentation_id=500)
    assert outside.segmentation_id == 500


async def test_unknown_physical_network_and_no_range(service: Service) -> None:
    alice = service.caller()
    for physnet, needle in (
        ("physnetZ", "unknown physical network 'physnetZ' (known: physnetA, physnetB)"),
        ("physnetB", "segmentation_id is required"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await alice.network(physical_network=physnet)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert needle in (e.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await alice.network(physical_network="physnetA", network_type=pb.NETWORK_TYPE_FLAT)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
