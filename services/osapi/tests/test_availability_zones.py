"""Nova's os-availability-zone through the gateway: any user lists the zones and whether each
is available (the api's ListAvailabilityZones, open to every caller); the detail form, which
names each zone's hosts, comes from the admin-only ListHypervisors. The compute service is an
in-memory stand-in; the api refuses ListHypervisors to a caller who is no admin, as here."""

from __future__ import annotations

from typing import Any

import grpc

from polyvisor.compute.v1 import hypervisors_pb2 as hp
from polyvisor.types.v1 import hypervisor_pb2 as hv
from tests.support.osapi_gateway import gateway

H = {"X-Auth-Token": "t"}
AZ = "/compute/v2.1/os-availability-zone"


class _Compute:
    def __init__(self, admin: bool) -> None:
        self.admin = admin

    async def ListAvailabilityZones(self, req: Any, **_: Any) -> Any:
        return hp.ListAvailabilityZonesResponse(availability_zones=[
            hp.AvailabilityZone(name="", available=True),
            hp.AvailabilityZone(name="az-2", available=False),
        ])  # fmt: skip

    async def ListHypervisors(self, req: Any, **_: Any) -> Any:
        if not self.admin:
            raise grpc.aio.AioRpcError(grpc.StatusCode.PERMISSION_DENIED, grpc.aio.Metadata(),
                                       grpc.aio.Metadata(), "admin only")  # fmt: skip
        return hp.ListHypervisorsResponse(hypervisors=[
            hp.Hypervisor(id="h1", hostname="kvm-1", state=hv.HOST_STATE_UP),
            hp.Hypervisor(id="h2", hostname="kvm-2", availability_zone="az-2",
                          status=hv.HOST_STATUS_DISABLED),
        ])  # fmt: skip


async def test_a_user_lists_the_zones_and_their_state_but_not_their_hosts() -> None:
    async with gateway(_Compute(admin=False)) as c:
        resp = await c.get(AZ, headers=H)
        assert resp.status == 200
        assert await resp.json() == {"availabilityZoneInfo": [
            {"zoneName": "az-2", "zoneState": {"available": False}, "hosts": None},
            {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None},
        ]}  # fmt: skip
        resp = await c.get(f"{AZ}/detail", headers=H)
        assert resp.status == 403


async def test_an_admin_lists_each_zones_hosts_in_the_detail() -> None:
    async with gateway(_Compute(admin=True)) as c:
        info = (await (await c.get(f"{AZ}/detail", headers=H)).json())["availabilityZoneInfo"]
    assert [(z["zoneName"], z["zoneState"]["available"]) for z in info] == [
        ("az-2", False),
        ("nova", True),
    ]
    assert info[1]["hosts"]["kvm-1"]["nova-compute"]["active"] is True
    assert info[0]["hosts"]["kvm-2"]["nova-compute"]["available"] is False
