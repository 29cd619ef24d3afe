"""The fuzz suite's stack and Hypothesis profiles.

One stack per module (tests/api/stack.py): the network service, scheduler, image service, api
and a fake agent for three hosts, on a NATS and a database of their own, seeded with one object
of each kind (flavor, image, server, keypair, server group, network, subnet, port, security
group and rule, project, user) whose identifiers the generated requests pick from.

Profiles (`POLYVISOR_FUZZ_PROFILE`, default `ci`): `ci` runs a bounded number of examples per
RPC (`POLYVISOR_FUZZ_EXAMPLES`, default 25) and of lifecycle programs; `deep` ten times as many.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, settings

from polyvisor.common.auth import API_IDENTITY, KIND_SERVICE, TokenSigner
from polyvisor.common.embedded import EmbeddedNats
from polyvisor.compute.v1 import flavors_pb2, keypairs_pb2, quotas_pb2, server_groups_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import (
    network_service_pb2_grpc,
    networks_pb2,
    security_groups_pb2,
)
from polyvisor.types.v1 import server_group_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, wait_hosts

HOSTS = ("fuzz-1", "fuzz-2", "fuzz-3")

_EXAMPLES = int(os.environ.get("POLYVISOR_FUZZ_EXAMPLES", "25"))
_COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
    "database": None,
    "print_blob": True,
}
settings.register_profile("ci", max_examples=_EXAMPLES, **_COMMON)
settings.register_profile("deep", max_examples=_EXAMPLES * 10, **_COMMON)
PROFILE = os.environ.get("POLYVISOR_FUZZ_PROFILE", "ci")


@dataclass
class FuzzEnv:
    stack: Stack
    admin: Client
    agent: FakeAgentProcess
    service_token: str
    image_id: str
    flavor_id: str
    #: Identifiers of the seeded objects, by kind ("server", "network", ...).
    ids: dict[str, list[str]] = field(default_factory=dict)
    #: A member of another project (the admin's requests may do anything).
    member_token: str = ""
    addresses: dict[str, str] = field(default_factory=dict)

    def processes(self) -> dict[str, object]:
        """Every process of the stack, by name (for liveness)."""
        out: dict[str, object] = {
            "scheduler": self.stack.scheduler,
            "imagesvc": self.stack.imagesvc,
            "network": self.stack.network,
            "agent": self.agent,
        }
        for i, api in enumerate(self.stack.apis):
            out[f"api{i}"] = api
        return out

    def tokens_for(self, service: str) -> tuple[str, ...]:
        """Who calls `service` (a full gRPC service name): users call the public services;
        the api's service identity calls the scheduler, the network service's bindings and
        the api's internal services."""
        users = (self.admin.token, self.admin.token, self.member_token)
        if service.startswith("polyvisor.scheduling."):
            return (self.service_token,)
        if service.startswith(("polyvisor.network.", "polyvisor.agent.", "polyvisor.consoleauth.")):
            return (*users, self.service_token)
        return users

    def dead(self) -> list[str]:
        return [
            name
            for name, p in self.processes().items()
            if p is None or p.proc is None or p.proc.returncode is not None  # type: ignore[attr-defined]
        ]


@pytest.fixture(scope="module")
def module_root() -> Iterator[Path]:
    d = tempfile.mkdtemp(prefix="polyvisor-fuzz-")
    yield Path(d)
    if not os.environ.get("POLYVISOR_TEST_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def module_nats(module_root: Path) -> Iterator[str]:
    nats = EmbeddedNats(module_root / "nats", die_with_parent=True)
    nats.start()
    try:
        assert nats.url is not None
        yield nats.url
    finally:
        nats.stop()


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {}


@pytest.fixture(scope="module")
async def stack(
    module_root: Path,
    module_nats: str,
    make_database: Callable[..., str],
    api_settings: dict[str, str],
) -> AsyncIterator[Stack]:
    s = Stack(module_root, make_database("fuzz"), module_nats)
    try:
        address = await s.start_network("physnet1:100:199")
        await s.start_control_plane({"POLYVISOR_NETWORK_ADDRESS": address, **api_settings})
        yield s
    finally:
        await s.stop()


async def seed(stack: Stack) -> FuzzEnv:
    """The fake agent and one object of each kind; their ids (and names) in `ids`."""
    agent = await stack.start_agent(*HOSTS, physical_networks="physnet1")
    admin = await stack.admin()
    signer = TokenSigner.from_file(stack.private_key)
    service_token = signer.issue(
        user_id=API_IDENTITY, project_id="", roles=(), username=API_IDENTITY, kind=KIND_SERVICE
    )[0]
    md = admin.md
    quota = (await admin.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=md)).quota
    await admin.compute.UpdateQuota(
        quotas_pb2.UpdateQuotaRequest(
            project_id=quota.project_id,
            limits=quotas_pb2.QuotaLimits(instances=-1, vcpus=-1, ram_mb=-1),
        ),
        metadata=md,
    )
    flavor = (
        await admin.compute.CreateFlavor(
            flavors_pb2.CreateFlavorRequest(
                flavor=flavors_pb2.Flavor(
                    id="fuzz", name="fuzz", vcpus=1, ram_mb=64, disk_gb=1, is_public=True
                )
            ),
            metadata=md,
        )
    ).flavor
    image = await admin.upload_image("fuzz-image", visibility=images_pb2.VISIBILITY_PUBLIC)
    keypair = (
        await admin.compute.CreateKeypair(
            keypairs_pb2.CreateKeypairRequest(name="fuzz-key"), metadata=md
        )
    ).keypair
    group = (
        await admin.compute.CreateServerGroup(
            server_groups_pb2.CreateServerGroupRequest(
                server_group=server_groups_pb2.ServerGroup(
                    name="fuzz-group",
                    policy=server_group_pb2.SERVER_GROUP_POLICY_ANTI_AFFINITY,
                )
            ),
            metadata=md,
        )
    ).server_group
    assert stack.network is not None
    ch = grpc.aio.insecure_channel(stack.network.address)
    stack.channels.append(ch)
    net = network_service_pb2_grpc.NetworkServiceStub(ch)
    network = (
        await net.CreateNetwork(
            networks_pb2.CreateNetworkRequest(
                network=networks_pb2.Network(
                    name="fuzz-net",
                    network_type=networks_pb2.NETWORK_TYPE_FLAT,
                    physical_network="physnet1",
                    shared=True,
                )
            ),
            metadata=md,
        )
    ).network
    subnet = (
        await net.CreateSubnet(
            networks_pb2.CreateSubnetRequest(
                subnet=networks_pb2.Subnet(
                    name="fuzz-v4", network_id=network.id, cidr="10.77.0.0/24", ip_version=4
                )
            ),
            metadata=md,
        )
    ).subnet
    port = (
        await net.CreatePort(
            networks_pb2.CreatePortRequest(port=networks_pb2.Port(network_id=network.id)),
            metadata=md,
        )
    ).port
    sg = (
        await net.CreateSecurityGroup(
            security_groups_pb2.CreateSecurityGroupRequest(
                security_group=security_groups_pb2.SecurityGroup(name="fuzz-sg")
            ),
            metadata=md,
        )
    ).security_group
    rule_ids = [r.id for r in sg.rules]
    # Requests name the victim's project and user (and may delete them); the member, whose
    # token the requests carry, is named by none.
    victim = await stack.new_project_user(admin, "member", name=f"victim-{uuid.uuid4().hex[:6]}")
    member = await stack.new_project_user(admin, "member", name=f"fuzz-{uuid.uuid4().hex[:6]}")
    await wait_hosts(admin, *HOSTS)
    server = await admin.create_server("fuzz-server", image.id, flavor.id)
    server = await admin.wait(server.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert server.state == st.SERVER_STATE_ACTIVE, server.fault.message
    ids = {
        "host": [*HOSTS, server.host],
        "hypervisor": [*HOSTS],
        "provider": [*HOSTS],
        "flavor": [flavor.id, flavor.name],
        "image": [image.id, image.name],
        "keypair": [keypair.name],
        "key": [keypair.name],
        "server_group": [group.id],
        "network": [network.id, network.name],
        "subnet": [subnet.id],
        "port": [port.id],
        "security_group": [sg.id],
        "rule": rule_ids,
        "project": [victim.project_id],
        "user": [victim.user_id],
        "server": [server.id, server.name],
        "consumer": [server.id],
        "device": [server.id],
    }
    return FuzzEnv(
        stack=stack,
        admin=admin,
        agent=agent,
        service_token=service_token,
        member_token=member.token,
        image_id=image.id,
        flavor_id=flavor.id,
        ids={k: [i for i in v if i] for k, v in ids.items()},
        addresses={
            "api": stack.apis[0].address,
            "imagesvc": stack.imagesvc.address if stack.imagesvc else "",
            "scheduler": stack.scheduler.address if stack.scheduler else "",
            "network": stack.network.address,
        },
    )


@pytest.fixture(scope="module")
async def fuzz_env(stack: Stack) -> FuzzEnv:
    return await seed(stack)
