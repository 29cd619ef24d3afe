"""The authorization matrix: every RPC of every service, each caller that must not get in.

The services and their methods are read through server reflection from the running
processes (api, image service, scheduler, network service), so a new RPC is in the matrix
without editing this file. Each method is called, with a request whose id-like fields name the
victim's resources (project A's server, private image, keypair, API key, user, project; host
A), by:

- nobody (no token), a forged token (signed by another key), an expired token, and the token
  of a user deleted since (revoked): UNAUTHENTICATED from every method but health, reflection
  and token issue;
- the agent of another host: PERMISSION_DENIED, except from the methods open to agents, which
  answer it nothing about host A;
- a member of project B: any answer it gets names none of A's resources;
- a reader of project A: no method that changes something succeeds, but the few that are the
  reader's own (its password, its API keys).

At the end, A's resources are all still there, unchanged.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf import descriptor, descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.compute.v1 import flavors_pb2, keypairs_pb2
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, Stack, wait_hosts
from tests.support.services import ServiceProcess

Code = grpc.StatusCode
VICTIM_HOST = "matrix-a"
INTRUDER_HOST = "matrix-intruder"

EXEMPT_SERVICES = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
}
TOKEN_ISSUE = {"/polyvisor.identity.v1.IdentityService/Authenticate"}
#: What an agent may call at all (each then limited to its own host).
OPEN_TO_AGENTS = {
    "/polyvisor.agent.v1.AgentCallbackService/ListAssignedServers",
    "/polyvisor.agent.v1.AgentCallbackService/ListEvacuatedServers",
    "/polyvisor.image.v1.ImageService/GetImage",
    "/polyvisor.image.v1.ImageService/DownloadImage",
}
#: The network service's reads, open to agents (each limited by the service).
NETWORK_READS = (
    "/polyvisor.network.v1.NetworkService/Get",
    "/polyvisor.network.v1.NetworkService/List",
)
#: Verbs that change something; a reader may use none of them but on its own credentials.
MUTATING = (
    "Create", "Update", "Delete", "Set", "Start", "Stop", "Reboot", "Grant", "Revoke",
    "Upload", "Move", "Release", "Select", "Enable", "Disable", "Add", "Remove", "Attach",
    "Detach", "Resize", "Rebuild", "Bind", "Unbind", "Import", "Lock", "Unlock", "Pause",
    "Unpause", "Suspend", "Resume", "Rescue", "Unrescue", "Shelve", "Migrate", "Evacuate", "Reset",
)  # fmt: skip
READERS_OWN = {
    "/polyvisor.identity.v1.IdentityService/SetPassword",
    "/polyvisor.identity.v1.IdentityService/CreateApiKey",
    "/polyvisor.identity.v1.IdentityService/DeleteApiKey",
    # Converting an image the reader may download: what a download in that format does anyway.
    "/polyvisor.image.v1.ImageService/CreateRendition",
}


@dataclass
class Method:
    address: str
    name: str  # /pkg.Service/Method
    request: type[Message]
    response: type[Message]
    client_streaming: bool
    server_streaming: bool


def discover(address: str) -> list[Method]:
    """Every method of every service at `address`, from its server reflection."""
    channel = grpc.insecure_channel(address)
    try:
        db = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(db)
        out = []
        for service_name in db.get_services():
            if service_name in EXEMPT_SERVICES:
                continue
            service = pool.FindServiceByName(service_name)
            for m in service.methods:
                out.append(
                    Method(
                        address,
                        f"/{service_name}/{m.name}",
                        message_factory.GetMessageClass(m.input_type),
                        message_factory.GetMessageClass(m.output_type),
                        m.client_streaming,
                        m.server_streaming,
                    )
                )
        return out
    finally:
        channel.close()


@dataclass
class Victim:
    project_id: str
    user_id: str
    server_id: str
    server_name: str
    image_id: str
    keypair: str
    api_key_id: str
    host: str = VICTIM_HOST

    def value_for(self, name: str) -> str | None:
        return {
            "server_id": self.server_id,
            "consumer_id": self.server_id,
            "image_id": self.image_id,
            "project_id": self.project_id,
            "project": self.project_id,
            "owner": self.project_id,
            "user_id": self.user_id,
            "api_key_id": self.api_key_id,
            "keypair_name": self.keypair,
            "key_name": self.keypair,
            "name": self.keypair,
            "host": self.host,
            "hypervisor_id": self.host,
            "provider_id": self.host,
            "to_host": self.host,
            "from_host": self.host,
            "flavor_id": "m1",
            "request_id": uuid.uuid4().hex,
            "token": "",
        }.get(name)

    @property
    def secrets(self) -> set[str]:
        """What no foreign caller may read back."""
        return {
            self.project_id,
            self.user_id,
            self.server_id,
            self.server_name,
            self.image_id,
            self.api_key_id,
        }


def fill(msg: Message, victim: Victim, depth: int = 0) -> Message:
    """Every id-like string field of `msg` (and of its nested messages) names the victim's."""
    for f in msg.DESCRIPTOR.fields:
        if f.is_repeated:
            continue
        if f.type == descriptor.FieldDescriptor.TYPE_STRING:
            value = victim.value_for(f.name)
            if value is not None:
                setattr(msg, f.name, value)
        elif f.type == descriptor.FieldDescriptor.TYPE_MESSAGE and depth < 3:
            if f.message_type.full_name.startswith("google.protobuf."):
                continue
            fill(getattr(msg, f.name), victim, depth + 1)
    return msg


@dataclass
class Answer:
    code: Code
    messages: list[bytes] = field(default_factory=list)

    def mentions(self, secrets: set[str]) -> set[str]:
        blob = b"".join(self.messages)
        return {s for s in secrets if s and s.encode() in blob}


async def call(method: Method, token: str | None, victim: Victim) -> Answer:
    md = (("authorization", f"Bearer {token}"),) if token is not None else ()
    request = fill(method.request(), victim)
    ser = method.request.SerializeToString
    des = method.response.FromString
    async with grpc.aio.insecure_channel(method.address) as ch:
        messages: list[bytes] = []
        try:
            if method.client_streaming:
                requests = iter([request])
                if method.server_streaming:
                    stream = ch.stream_stream(method.name, ser, des)(
                        requests, metadata=md, timeout=3
                    )
                    async for r in stream:
                        messages.append(r.SerializeToString())
                        break
                else:
                    r = await ch.stream_unary(method.name, ser, des)(
                        requests, metadata=md, timeout=5
                    )
                    messages.append(r.SerializeToString())
            elif method.server_streaming:
                stream = ch.unary_stream(method.name, ser, des)(request, metadata=md, timeout=3)
                async for r in stream:
                    messages.append(r.SerializeToString())
                    if len(messages) >= 3:
                        break
                stream.cancel()
            else:
                r = await ch.unary_unary(method.name, ser, des)(request, metadata=md, timeout=5)
                messages.append(r.SerializeToString())
        except grpc.aio.AioRpcError as e:
            return Answer(e.code(), messages)
        return Answer(Code.OK, messages)


@dataclass
class World:
    stack: Stack
    methods: list[Method]
    victim: Victim
    signer: TokenSigner
    tokens: dict[str, str]


@pytest.fixture(scope="module")
async def networksvc(stack: Stack) -> AsyncIterator[ServiceProcess | None]:
    proc = await ServiceProcess(
        "networksvc",
        stack._common("networksvc"),
        log_path=stack.root / "logs" / "networksvc.log",
    ).start(60)
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def world(stack: Stack, networksvc: ServiceProcess) -> World:
    await stack.start_agent(VICTIM_HOST)
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="m1", name="m1", vcpus=1, ram_mb=512, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    a = await stack.new_project_user(admin, "member")
    b = await stack.new_project_user(admin, "member")
    reader = await stack.new_project_user(admin, "reader")
    await admin.identity.GrantRole(
        identity_requests_pb2.GrantRoleRequest(
            user_id=reader.user_id, project_id=a.project_id, role=identity_pb2.ROLE_READER
        ),
        metadata=admin.md,
    )
    reader = Client(stack, await stack.login(await name_of(admin, reader.user_id),
                                             "a-good-password", a.project_id))  # fmt: skip
    image = await a.upload_image("a-private", visibility=images_pb2.VISIBILITY_PRIVATE)
    await a.compute.CreateKeypair(
        keypairs_pb2.CreateKeypairRequest(name="matrix-a-key"), metadata=a.md
    )
    key = await a.identity.CreateApiKey(
        identity_requests_pb2.CreateApiKeyRequest(name="matrix-a"), metadata=a.md
    )
    await wait_hosts(admin, VICTIM_HOST)
    server_name = f"matrix-secret-{uuid.uuid4().hex[:8]}"
    server = await a.wait(
        (await a.create_server(server_name, image.id, "m1")).id, st.SERVER_STATE_ACTIVE
    )
    victim = Victim(
        project_id=a.project_id,
        user_id=a.user_id,
        server_id=server.id,
        server_name=server_name,
        image_id=image.id,
        keypair="matrix-a-key",
        api_key_id=key.api_key.id,
    )

    # A user who is then deleted: their token is revoked.
    gone = await stack.new_project_user(admin, "member")
    await admin.identity.DeleteUser(
        identity_requests_pb2.DeleteUserRequest(user_id=gone.user_id), metadata=admin.md
    )
    signer = TokenSigner.from_file(stack.private_key)
    forged_private, _ = generate_keypair()
    forger = TokenSigner(forged_private)
    agent_of_other, _ = signer.issue(
        user_id=f"agent:{INTRUDER_HOST}", project_id="", roles=(), kind="agent", host=INTRUDER_HOST
    )
    tokens = {
        "forged": forger.issue(user_id=a.user_id, project_id=a.project_id, roles=["admin"])[0],
        "expired": signer.issue(
            user_id=a.user_id, project_id=a.project_id, roles=["member"], ttl_s=-60
        )[0],
        "revoked": gone.token,
        "agent_of_other_host": agent_of_other,
        "member_of_b": b.token,
        "reader_of_a": reader.token,
        "member_of_a": a.token,
    }
    methods: list[Method] = []
    for address in (
        stack.apis[0].address,
        stack.imagesvc.address,  # type: ignore[union-attr]
        stack.scheduler.address,  # type: ignore[union-attr]
        networksvc.address,
    ):
        methods.extend(await asyncio.to_thread(discover, address))
    return World(stack, methods, victim, signer, tokens)


async def name_of(admin: Client, user_id: str) -> str:
    resp = await admin.identity.GetUser(
        identity_requests_pb2.GetUserRequest(user_id=user_id), metadata=admin.md
    )
    return resp.user.name


def test_reflection_lists_every_service(world: World) -> None:
    services = {m.name.split("/")[1] for m in world.methods}
    assert {
        "polyvisor.compute.v1.ComputeService",
        "polyvisor.identity.v1.IdentityService",
        "polyvisor.agent.v1.AgentCallbackService",
        "polyvisor.image.v1.ImageService",
        "polyvisor.scheduling.v1.SchedulerService",
        "polyvisor.network.v1.NetworkService",
    } <= services
    assert len(world.methods) > 60


@pytest.mark.parametrize("who", ["nobody", "forged", "expired", "revoked"])
async def test_no_valid_token_gets_nothing(world: World, who: str) -> None:
    token = None if who == "nobody" else world.tokens[who]
    wrong = {}
    for m in world.methods:
        if m.name in TOKEN_ISSUE:
            continue
        answer = await call(m, token, world.victim)
        if answer.code != Code.UNAUTHENTICATED:
            wrong[m.name] = answer.code.name
    assert wrong == {}


async def test_the_agent_of_another_host_gets_nothing_of_host_a(world: World) -> None:
    token = world.tokens["agent_of_other_host"]
    wrong = {}
    for m in world.methods:
        if m.name in TOKEN_ISSUE:
            continue
        answer = await call(m, token, world.victim)
        if m.name in OPEN_TO_AGENTS:
            # Open to agents, for their own host and the images they were told to fetch:
            # host A's servers and project A's image are not theirs.
            if answer.code == Code.OK:
                wrong[m.name] = "answered about host A"
        elif m.name.startswith(NETWORK_READS):
            # The network service opens its reads to agents: nothing of project A in them.
            if answer.mentions(world.victim.secrets):
                wrong[m.name] = "named project A's resources"
        elif answer.code != Code.PERMISSION_DENIED:
            wrong[m.name] = answer.code.name
    assert wrong == {}


async def test_a_member_of_another_project_reads_nothing_of_project_a(world: World) -> None:
    token = world.tokens["member_of_b"]
    leaks = {}
    for m in world.methods:
        answer = await call(m, token, world.victim)
        seen = answer.mentions(world.victim.secrets)
        if seen:
            leaks[m.name] = (answer.code.name, sorted(seen))
    assert leaks == {}


async def test_a_reader_changes_nothing(world: World) -> None:
    token = world.tokens["reader_of_a"]
    changed = {}
    for m in world.methods:
        verb = m.name.rsplit("/", 1)[1]
        if not verb.startswith(MUTATING) or m.name in READERS_OWN:
            continue
        answer = await call(m, token, world.victim)
        if answer.code == Code.OK:
            changed[m.name] = "OK"
    assert changed == {}


async def test_project_a_is_intact_after_the_matrix(world: World) -> None:
    """Run last (file order): nothing above removed or changed A's resources."""
    a = Client(world.stack, world.tokens["member_of_a"])
    server = await a.get(world.victim.server_id)
    assert server.state == st.SERVER_STATE_ACTIVE and server.name == world.victim.server_name
    assert a.images is not None
    image = (
        await a.images.GetImage(
            images_pb2.GetImageRequest(image_id=world.victim.image_id), metadata=a.md
        )
    ).image
    assert image.status == images_pb2.IMAGE_STATUS_ACTIVE
    await a.compute.GetKeypair(
        keypairs_pb2.GetKeypairRequest(name=world.victim.keypair), metadata=a.md
    )
    keys = await a.identity.ListApiKeys(identity_requests_pb2.ListApiKeysRequest(), metadata=a.md)
    assert world.victim.api_key_id in {k.id for k in keys.api_keys}
