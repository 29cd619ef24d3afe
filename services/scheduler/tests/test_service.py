"""The scheduler as a real process: host reports over NATS, the gRPC contract, validation."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.scheduling.v1 import (
    request_spec_pb2,
    scheduler_pb2,
    scheduler_service_pb2_grpc,
)
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2, resources_pb2
from tests.support.auth import TestKeys, token_channel
from tests.support.services import ServiceProcess, free_port

KVM = hypervisor_pb2.HYPERVISOR_TYPE_KVM
VMWARE = hypervisor_pb2.HYPERVISOR_TYPE_VMWARE


def report(
    host: str,
    az: str,
    *,
    memory_mb: int = 16384,
    seq: int = 1,
    agent: str = "agent-a",
    connected: bool = True,
) -> host_report_pb2.HostReport:
    return host_report_pb2.HostReport(
        host_id=host,
        hostname=host,
        hypervisor_type=KVM,
        hypervisor_version="8.2.0",
        state=host_report_pb2.CONNECTION_STATE_CONNECTED
        if connected
        else host_report_pb2.CONNECTION_STATE_DISCONNECTED,
        inventories=[
            resources_pb2.Inventory(resource_class=1, total=8, allocation_ratio=4.0),
            resources_pb2.Inventory(resource_class=2, total=memory_mb, reserved=512),
            resources_pb2.Inventory(resource_class=3, total=200),
        ],
        supported_instances=[
            hypervisor_pb2.SupportedInstance(
                architecture="x86_64", hypervisor_type=KVM, vm_mode="hvm"
            )
        ],
        disk_formats=[
            disk_pb2.Rendition(disk_format=disk_pb2.DISK_FORMAT_QCOW2),
            disk_pb2.Rendition(disk_format=disk_pb2.DISK_FORMAT_RAW),
        ],
        features=hypervisor_pb2.HypervisorFeatures(
            console_types=[hypervisor_pb2.CONSOLE_TYPE_VNC], key_injection=True, user_data=True
        ),
        availability_zone=az,
        host_ip="192.0.2.10",
        sequence=seq,
        agent_id=agent,
        report_interval=Duration(seconds=10),
    )


def select(az: str, *consumers: str, memory_mb: int = 2048, **image: object):
    return scheduler_pb2.SelectDestinationsRequest(
        spec=request_spec_pb2.RequestSpec(
            request_id=f"req-{consumers[0]}",
            consumer_ids=list(consumers),
            num_instances=len(consumers),
            resources=resources_pb2.Resources(vcpus=2, memory_mb=memory_mb, disk_gb=10),
            image=request_spec_pb2.ImageRequirements(**image),  # type: ignore[arg-type]
            availability_zone=az,
        )
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    return TestKeys(Path(tmp_path_factory.mktemp("scheduler-keys")))


@pytest.fixture(scope="module")
async def service(pg_url: str, nats_url: str, keys: TestKeys) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(
        "scheduler",
        {
            **keys.env,
            "POLYVISOR_DATABASE_URL": pg_url,
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_GRPC_PORT": str(free_port()),
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_REFRESH_INTERVAL_S": "0.5",
        },
    )
    await proc.start()
    yield proc
    assert await proc.stop() == 0


@pytest.fixture(scope="module")
async def stub(
    service: ServiceProcess, keys: TestKeys
) -> AsyncIterator[scheduler_service_pb2_grpc.SchedulerServiceStub]:
    async with token_channel(service.address, keys.api_token()) as channel:
        yield scheduler_service_pb2_grpc.SchedulerServiceStub(channel)


@pytest.fixture(scope="module")
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(nats_url, name="scheduler-test")
    await b.ensure_stream("HOSTS", ["hosts.report.*"])
    yield b
    await b.close()


@pytest.fixture
def az() -> str:
    return f"az-{uuid.uuid4().hex[:8]}"


async def publish(bus: Bus, r: host_report_pb2.HostReport) -> None:
    await bus.publish(f"hosts.report.{subject_token(r.host_id)}", r)


async def provider_when(stub, host: str, check, within_s: float = 15.0):
    """Poll GetProvider until `check(provider)` holds."""
    deadline = time.monotonic() + within_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = (
                await stub.GetProvider(scheduler_pb2.GetProviderRequest(provider_id=host))
            ).provider
            if check(last):
                return last
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.1)
    raise AssertionError(f"provider {host} never matched; last: {last}")


async def test_report_over_nats_changes_the_index(stub, bus: Bus, az: str) -> None:
    host = f"kvm-{az}:1"  # host ids may hold ':'
    await publish(bus, report(host, az, memory_mb=16384))
    p = await provider_when(stub, host, lambda p: True)
    assert p.state == hypervisor_pb2.HOST_STATE_UP
    assert p.status == hypervisor_pb2.HOST_STATUS_ENABLED
    assert p.availability_zone == az
    assert [i.total for i in p.inventories] == [8, 16384, 200]
    assert p.features.key_injection and list(p.features.console_types) == [
        hypervisor_pb2.CONSOLE_TYPE_VNC
    ]
    # a later report with more memory: the index (and what a request sees) follows
    too_big = select(az, f"c-{az}-big", memory_mb=30000)
    assert (await stub.SelectDestinations(too_big)).HasField("no_valid_host")
    await publish(bus, report(host, az, memory_mb=65536, seq=2))
    await provider_when(stub, host, lambda p: p.inventories[1].total == 65536)
    placed = await stub.SelectDestinations(too_big)
    assert placed.selections, placed.no_valid_host
    assert placed.selections[0].primary.host == host
    # an older report of the same agent process is ignored
    await publish(bus, report(host, az, memory_mb=4096, seq=1))
    await publish(bus, report(host, az, memory_mb=65536, seq=3, connected=False))
    down = await provider_when(stub, host, lambda p: p.state == hypervisor_pb2.HOST_STATE_DOWN)
    assert down.inventories[1].total == 65536


async def test_select_release_and_explain(stub, bus: Bus, az: str) -> None:
    hosts = [f"h{i}-{az}" for i in range(3)]
    for i, h in enumerate(hosts):
        await publish(bus, report(h, az, memory_mb=8192 * (i + 1)))
    for h in hosts:
        await provider_when(stub, h, lambda p: p.state == hypervisor_pb2.HOST_STATE_UP)
    c = f"server-{az}"
    qcow2 = disk_pb2.DISK_FORMAT_QCOW2
    resp = await stub.SelectDestinations(
        select(az, c, disk_format=qcow2, available_disk_formats=[qcow2])
    )
    [sel] = resp.selections
    assert sel.consumer_id == c and sel.primary.host == hosts[2]
    assert [a.host for a in sel.alternates] == [hosts[1], hosts[0]]
    assert sel.primary.allocation.memory_mb == 2048
    # each candidate comes with the rendition it reports it boots: the qcow2 as it is
    assert {s.rendition.disk_format for s in [sel.primary, *sel.alternates]} == {qcow2}
    again = await stub.SelectDestinations(select(az, c, disk_format=qcow2))
    assert again.selections[0].primary.host == hosts[2]
    assert again.selections[0].primary.rendition.disk_format == qcow2
    allocs = await stub.ListAllocations(scheduler_pb2.ListAllocationsRequest(consumer_id=c))
    assert [a.provider_id for a in allocs.allocations] == [hosts[2]]
    p = await stub.GetProvider(scheduler_pb2.GetProviderRequest(provider_id=hosts[2]))
    assert p.provider.inventories[1].used == 2048 and p.provider.allocation_count == 1

    moved = await stub.MoveClaim(
        scheduler_pb2.MoveClaimRequest(
            consumer_id=c,
            to_host=hosts[1],
            from_host=hosts[2],
            reason=scheduler_pb2.RELEASE_REASON_BUILD_FAILED,
            detail="libvirt: domain failed to start",
        )
    )
    assert moved.selection.host == hosts[1]
    rel = await stub.ReleaseClaim(
        scheduler_pb2.ReleaseClaimRequest(
            consumer_id=c, reason=scheduler_pb2.RELEASE_REASON_DELETED
        )
    )
    assert rel.released
    assert not (await stub.ReleaseClaim(scheduler_pb2.ReleaseClaimRequest(consumer_id=c))).released

    nope = await stub.SelectDestinations(
        select(az, f"{c}-vmw", hypervisor_type=VMWARE, disk_format=disk_pb2.DISK_FORMAT_QCOW2)
    )
    assert not nope.selections
    nvh = nope.no_valid_host
    assert nvh.summary.endswith("3 wrong hypervisor_type")
    image = next(f for f in nvh.filters if f.filter == "ImagePropertiesFilter")
    assert image.hosts_removed == 3
    assert image.examples[0].reason == "hypervisor_type kvm does not match image's vmware"


async def test_replace_claim_moves_a_server_to_its_move_claim(stub, bus: Bus, az: str) -> None:
    """A resize claims its destination under a consumer of its own; confirming it replaces
    the server's claim by that one, on both providers at once (and only once)."""
    hosts = [f"r{i}-{az}" for i in range(2)]
    for h in hosts:
        await publish(bus, report(h, az, memory_mb=8192))
    for h in hosts:
        await provider_when(stub, h, lambda p: p.state == hypervisor_pb2.HOST_STATE_UP)

    async def used(host: str) -> tuple[int, int]:
        p = (await stub.GetProvider(scheduler_pb2.GetProviderRequest(provider_id=host))).provider
        return p.inventories[1].used, p.allocation_count

    c = f"srv-{az}"
    first = await stub.SelectDestinations(select(az, c, memory_mb=2048))
    src = first.selections[0].primary.host
    dst = next(h for h in hosts if h != src)
    req = select(az, f"{c}/resize", memory_mb=4096)
    req.spec.hints.force_host = dst
    moved = await stub.SelectDestinations(req)
    assert moved.selections[0].primary.host == dst
    assert await used(src) == (2048, 1) and await used(dst) == (4096, 1)
    r = await stub.ReplaceClaim(
        scheduler_pb2.ReplaceClaimRequest(consumer_id=c, with_consumer_id=f"{c}/resize")
    )
    assert r.replaced and r.host == dst
    assert await used(src) == (0, 0) and await used(dst) == (4096, 1)
    allocs = await stub.ListAllocations(scheduler_pb2.ListAllocationsRequest(consumer_id=c))
    assert [(a.provider_id, a.resources.memory_mb) for a in allocs.allocations] == [(dst, 4096)]
    again = await stub.ReplaceClaim(
        scheduler_pb2.ReplaceClaimRequest(consumer_id=c, with_consumer_id=f"{c}/resize")
    )
    assert not again.replaced and again.host == dst
    assert await used(dst) == (4096, 1)
    # the index follows: only the source has room for 6 GiB now
    big = await stub.SelectDestinations(select(az, f"{c}-big", memory_mb=6144))
    assert big.selections[0].primary.host == src


async def test_disable_and_list(stub, bus: Bus, az: str) -> None:
    host = f"solo-{az}"
    await publish(bus, report(host, az))
    await provider_when(stub, host, lambda p: p.state == hypervisor_pb2.HOST_STATE_UP)
    resp = await stub.SetProviderEnabled(
        scheduler_pb2.SetProviderEnabledRequest(
            provider_id=host, enabled=False, disabled_reason="rack move"
        )
    )
    assert resp.provider.status == hypervisor_pb2.HOST_STATUS_DISABLED
    nvh = (await stub.SelectDestinations(select(az, f"x-{az}"))).no_valid_host
    compute = nvh.filters[0]
    assert compute.filter == "ComputeFilter"
    assert {x.host: x.reason for x in compute.examples}[host] == "disabled: rack move"
    listed = await stub.ListProviders(
        scheduler_pb2.ListProvidersRequest(
            availability_zone=az, status=hypervisor_pb2.HOST_STATUS_DISABLED
        )
    )
    assert [p.id for p in listed.providers] == [host]
    await stub.SetProviderEnabled(
        scheduler_pb2.SetProviderEnabledRequest(provider_id=host, enabled=True)
    )
    assert (await stub.SelectDestinations(select(az, f"x-{az}"))).selections
    # paging
    first = await stub.ListProviders(scheduler_pb2.ListProvidersRequest(page_size=1))
    assert len(first.providers) == 1 and first.next_page_token
    second = await stub.ListProviders(
        scheduler_pb2.ListProvidersRequest(page_size=1, page_token=first.next_page_token)
    )
    assert second.providers[0].id > first.providers[0].id


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (scheduler_pb2.SelectDestinationsRequest(), "spec: is required"),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    resources=resources_pb2.Resources(vcpus=1, memory_mb=1)
                )
            ),
            "spec.consumer_ids: at least one consumer",
        ),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    consumer_ids=["a", "a"], resources=resources_pb2.Resources(vcpus=1, memory_mb=1)
                )
            ),
            "spec.consumer_ids: holds the same consumer twice",
        ),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    consumer_ids=["a"], resources=resources_pb2.Resources(vcpus=1, memory_mb=-5)
                )
            ),
            "spec.resources.memory_mb: must be between 1 and",
        ),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    consumer_ids=["a"],
                    resources=resources_pb2.Resources(vcpus=1, memory_mb=512),
                    image=request_spec_pb2.ImageRequirements(architecture="z80"),
                )
            ),
            "spec.image.architecture: unknown architecture 'z80'",
        ),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    consumer_ids=["a"],
                    resources=resources_pb2.Resources(vcpus=1, memory_mb=512),
                    image=request_spec_pb2.ImageRequirements(min_ram=1024),
                )
            ),
            "spec.resources.memory_mb: 512 MiB is below the image's min_ram of 1024 MiB",
        ),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    consumer_ids=["a"],
                    resources=resources_pb2.Resources(vcpus=1, memory_mb=512),
                    image=request_spec_pb2.ImageRequirements(hypervisor_version_requires=">=x"),
                )
            ),
            "spec.image.hypervisor_version_requires: bad version requirement",
        ),
        (
            scheduler_pb2.SelectDestinationsRequest(
                spec=request_spec_pb2.RequestSpec(
                    consumer_ids=["a"],
                    resources=resources_pb2.Resources(vcpus=1, memory_mb=512),
                    image=request_spec_pb2.ImageRequirements(disk_format=42),
                )
            ),
            "spec.image.disk_format: unknown value 42",
        ),
        (scheduler_pb2.ReleaseClaimRequest(), "consumer_id: is required"),
        (scheduler_pb2.ReleaseClaimRequest(consumer_id="c", reason=9), "reason: unknown value 9"),
        (scheduler_pb2.MoveClaimRequest(consumer_id="c"), "to_host: is required"),
        (scheduler_pb2.ListProvidersRequest(page_token="%%%"), "page_token: is not a token"),
        (scheduler_pb2.ListProvidersRequest(page_size=-1), "page_size: must be between"),
        (scheduler_pb2.GetProviderRequest(), "provider_id: is required"),
    ],
)
async def test_bad_requests_are_invalid_argument(stub, request_, message: str) -> None:
    method = {
        scheduler_pb2.SelectDestinationsRequest: stub.SelectDestinations,
        scheduler_pb2.ReleaseClaimRequest: stub.ReleaseClaim,
        scheduler_pb2.MoveClaimRequest: stub.MoveClaim,
        scheduler_pb2.ListProvidersRequest: stub.ListProviders,
        scheduler_pb2.GetProviderRequest: stub.GetProvider,
    }[type(request_)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (err.value.details() or "")


async def test_unknown_host_and_consumer_are_not_found(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetProvider(scheduler_pb2.GetProviderRequest(provider_id="no-such-host"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.MoveClaim(scheduler_pb2.MoveClaimRequest(consumer_id="nobody", to_host="x"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_only_the_api_claims_and_only_admins_read_besides_it(
    service: ServiceProcess, keys: TestKeys, az: str, tmp_path: Path
) -> None:
    """No token, an agent's, a member's: refused; an admin reads hosts but claims nothing."""
    claim = select(az, f"c-{uuid.uuid4().hex[:8]}")
    release = scheduler_pb2.ReleaseClaimRequest(
        consumer_id=str(uuid.uuid4()), reason=scheduler_pb2.RELEASE_REASON_DELETED
    )
    listing = scheduler_pb2.ListProvidersRequest()
    callers = {
        "none": (grpc.aio.insecure_channel(service.address), grpc.StatusCode.UNAUTHENTICATED),
        "forged": (
            token_channel(service.address, TestKeys(tmp_path / "forged").api_token()),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        "agent": (
            token_channel(service.address, keys.agent_token("kvm-1")),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        "member": (
            token_channel(service.address, keys.user_token("p1", "member")),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    }
    for name, (channel, code) in callers.items():
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        for call, req in (
            (stub.SelectDestinations, claim),
            (stub.ReleaseClaim, release),
            (stub.ListProviders, listing),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await call(req)
            assert exc.value.code() == code, (name, exc.value)
        await channel.close()
    async with token_channel(service.address, keys.user_token("p1", "admin")) as channel:
        admin = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        await admin.ListProviders(listing)
        for call, req in ((admin.SelectDestinations, claim), (admin.ReleaseClaim, release)):
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await call(req)
            assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
