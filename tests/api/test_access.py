"""Who may see and do what (projects, roles, tokens), and a table of invalid requests each
mapped to the status code a client should get."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from polyvisor.compute.v1 import (
    flavors_pb2,
    hypervisors_pb2,
    keypairs_pb2,
    quotas_pb2,
    servers_pb2,
)
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import ADMIN, Client, Stack, wait_hosts

Code = grpc.StatusCode
HOSTS = ("acc-1",)


@dataclass
class Env:
    stack: Stack
    admin: Client
    a: Client  # member of project A
    a_reader: Client  # reader of project A
    b: Client  # member of project B
    image_id: str  # public
    private_image_a: str  # private to A
    server_a: servers_pb2.Server
    keypair_a: str


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    await stack.start_agent(*HOSTS)
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="m1", name="m1", vcpus=1, ram_mb=512, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    public = await admin.upload_image("public", visibility=images_pb2.VISIBILITY_PUBLIC)
    a = await stack.new_project_user(admin, "member", name=f"a-{uuid.uuid4().hex[:6]}")
    b = await stack.new_project_user(admin, "member", name=f"b-{uuid.uuid4().hex[:6]}")
    # A reader on project A.
    reader = (
        await admin.identity.CreateUser(
            identity_requests_pb2.CreateUserRequest(
                user=identity_pb2.User(
                    name=f"reader-{uuid.uuid4().hex[:6]}", default_project_id=a.project_id
                ),
                password="reader-password",
            ),
            metadata=admin.md,
        )
    ).user
    await admin.identity.GrantRole(
        identity_requests_pb2.GrantRoleRequest(
            user_id=reader.id, project_id=a.project_id, role=identity_pb2.ROLE_READER
        ),
        metadata=admin.md,
    )
    a_reader = Client(stack, await stack.login(reader.name, "reader-password"))
    private = await a.upload_image("a-private", visibility=images_pb2.VISIBILITY_PRIVATE)
    await a.compute.CreateKeypair(keypairs_pb2.CreateKeypairRequest(name="a-key"), metadata=a.md)
    await wait_hosts(admin, *HOSTS)
    server = await a.create_server("a-server", private.id, "m1", key_name="a-key")
    server = await a.wait(server.id, st.SERVER_STATE_ACTIVE)
    return Env(stack, admin, a, a_reader, b, public.id, private.id, server, "a-key")


async def code_of(call: Awaitable[Any]) -> Code:
    try:
        await call
    except grpc.aio.AioRpcError as e:
        return e.code()
    return Code.OK


# ------------------------------------------------------------------ isolation matrix


def server_calls(c: Client, sid: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    md = c.md
    return {
        "get": lambda: c.compute.GetServer(
            servers_pb2.GetServerRequest(server_id=sid), metadata=md
        ),
        "console": lambda: c.compute.GetServerConsole(
            servers_pb2.GetServerConsoleRequest(server_id=sid), metadata=md
        ),
        "update": lambda: c.compute.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id=sid, name="renamed"), update_mask={"paths": ["name"]}
            ),
            metadata=md,
        ),
        "reboot": lambda: c.compute.RebootServer(
            servers_pb2.RebootServerRequest(server_id=sid), metadata=md
        ),
        "stop": lambda: c.compute.StopServer(
            servers_pb2.StopServerRequest(server_id=sid), metadata=md
        ),
        "start": lambda: c.compute.StartServer(
            servers_pb2.StartServerRequest(server_id=sid), metadata=md
        ),
        "delete": lambda: c.compute.DeleteServer(
            servers_pb2.DeleteServerRequest(server_id=sid), metadata=md
        ),
    }


async def test_another_project_can_neither_see_nor_touch_servers(env: Env) -> None:
    sid = env.server_a.id
    for name, call in server_calls(env.b, sid).items():
        assert await code_of(call()) == Code.NOT_FOUND, name
    listed = await env.b.compute.ListServers(servers_pb2.ListServersRequest(), metadata=env.b.md)
    assert sid not in {s.id for s in listed.servers}
    watch = env.b.compute.WatchServers(
        servers_pb2.WatchServersRequest(server_id=sid), metadata=env.b.md
    )
    assert await code_of(watch.read()) == Code.NOT_FOUND
    for req in (
        servers_pb2.ListServersRequest(project_id=env.a.project_id),
        servers_pb2.ListServersRequest(all_projects=True),
    ):
        assert (
            await code_of(env.b.compute.ListServers(req, metadata=env.b.md))
            == Code.PERMISSION_DENIED
        )
    quota = quotas_pb2.GetQuotaRequest(project_id=env.a.project_id)
    assert await code_of(env.b.compute.GetQuota(quota, metadata=env.b.md)) == Code.PERMISSION_DENIED
    # A still has it, untouched; the admin sees it too.
    assert (await env.a.get(sid)).state == st.SERVER_STATE_ACTIVE
    assert (await env.admin.get(sid)).project_id == env.a.project_id


async def test_another_project_can_neither_see_nor_use_keypairs_or_private_images(env: Env) -> None:
    b = env.b
    get = keypairs_pb2.GetKeypairRequest(name=env.keypair_a)
    assert await code_of(b.compute.GetKeypair(get, metadata=b.md)) == Code.NOT_FOUND
    delete = keypairs_pb2.DeleteKeypairRequest(name=env.keypair_a)
    assert await code_of(b.compute.DeleteKeypair(delete, metadata=b.md)) == Code.NOT_FOUND
    listed = await b.compute.ListKeypairs(keypairs_pb2.ListKeypairsRequest(), metadata=b.md)
    assert not listed.keypairs
    assert (
        await code_of(b.create_server("x", env.image_id, "m1", key_name=env.keypair_a))
        == Code.NOT_FOUND
    )
    assert await code_of(b.create_server("x", env.private_image_a, "m1")) == Code.NOT_FOUND
    other_user = keypairs_pb2.ListKeypairsRequest(user_id=env.a.user_id)
    assert (
        await code_of(b.compute.ListKeypairs(other_user, metadata=b.md)) == Code.PERMISSION_DENIED
    )
    # A's own view is intact.
    mine = await env.a.compute.GetKeypair(get, metadata=env.a.md)
    assert mine.keypair.name == env.keypair_a


async def test_a_reader_cannot_change_anything(env: Env) -> None:
    r, sid = env.a_reader, env.server_a.id
    assert (await r.get(sid)).id == sid  # reading is fine
    listed = await r.compute.ListServers(servers_pb2.ListServersRequest(), metadata=r.md)
    assert sid in {s.id for s in listed.servers}
    for name, call in server_calls(r, sid).items():
        if name in ("get", "console"):
            continue
        assert await code_of(call()) == Code.PERMISSION_DENIED, name
    assert await code_of(r.create_server("nope", env.image_id, "m1")) == Code.PERMISSION_DENIED
    for call in (
        r.compute.CreateKeypair(keypairs_pb2.CreateKeypairRequest(name="k"), metadata=r.md),
        r.compute.DeleteKeypair(keypairs_pb2.DeleteKeypairRequest(name="k"), metadata=r.md),
    ):
        assert await code_of(call) == Code.PERMISSION_DENIED
    assert (await env.a.get(sid)).state == st.SERVER_STATE_ACTIVE


async def test_a_reader_finds_no_server_of_another_project_to_change(env: Env) -> None:
    # As Nova: another project's server is not found, whatever the caller's role; only in its
    # own project does a reader learn it may not change it.
    theirs = await env.b.create_server("b-only", env.image_id, "m1")
    try:
        for name, call in server_calls(env.a_reader, theirs.id).items():
            assert await code_of(call()) == Code.NOT_FOUND, name
        assert (await env.b.get(theirs.id)).name == "b-only"
    finally:
        await env.b.compute.DeleteServer(
            servers_pb2.DeleteServerRequest(server_id=theirs.id), metadata=env.b.md
        )


async def test_an_admin_lists_every_project_or_the_one_named(env: Env) -> None:
    ad = env.admin

    async def listed(**req: Any) -> set[str]:
        resp = await ad.compute.ListServers(servers_pb2.ListServersRequest(**req), metadata=ad.md)
        return {s.id for s in resp.servers}

    a_server = env.server_a.id
    assert a_server in await listed(all_projects=True)
    assert a_server in await listed(all_projects=True, project_id=env.a.project_id)
    assert a_server not in await listed(all_projects=True, project_id=env.b.project_id)
    assert a_server not in await listed()  # the admin's own project


async def test_admin_only_methods(env: Env) -> None:
    m = env.a
    calls = [
        m.compute.CreateFlavor(
            flavors_pb2.CreateFlavorRequest(flavor=flavors_pb2.Flavor(name="x", vcpus=1, ram_mb=1)),
            metadata=m.md,
        ),
        m.compute.DeleteFlavor(flavors_pb2.DeleteFlavorRequest(flavor_id="m1"), metadata=m.md),
        m.compute.UpdateFlavor(
            flavors_pb2.UpdateFlavorRequest(flavor_id="m1", set_extra_specs={"k": "v"}),
            metadata=m.md,
        ),
        m.compute.ListHypervisors(hypervisors_pb2.ListHypervisorsRequest(), metadata=m.md),
        m.compute.DisableHypervisor(
            hypervisors_pb2.DisableHypervisorRequest(hypervisor_id=HOSTS[0]), metadata=m.md
        ),
        m.compute.UpdateQuota(
            quotas_pb2.UpdateQuotaRequest(
                project_id=m.project_id, limits=quotas_pb2.QuotaLimits(instances=99)
            ),
            metadata=m.md,
        ),
        m.identity.CreateProject(
            identity_requests_pb2.CreateProjectRequest(project=identity_pb2.Project(name="evil")),
            metadata=m.md,
        ),
        m.identity.ListUsers(identity_requests_pb2.ListUsersRequest(), metadata=m.md),
        m.create_server("forced", env.image_id, "m1", scheduler_hints={"force_host": HOSTS[0]}),
    ]
    for call in calls:
        assert await code_of(call) == Code.PERMISSION_DENIED


async def test_a_private_flavor_is_seen_by_the_projects_given_access_and_no_other(
    env: Env,
) -> None:
    """UpdateFlavor: the access list, extra specs and description change in one transaction;
    a refused update changes nothing."""
    ad = env.admin
    flavor_id = f"priv-{uuid.uuid4().hex[:6]}"
    await ad.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id=flavor_id, name=flavor_id, vcpus=1, ram_mb=64, extra_specs={"a": "1"}
            )
        ),
        metadata=ad.md,
    )  # private: no project given

    async def update(**change: Any) -> flavors_pb2.Flavor:
        resp = await ad.compute.UpdateFlavor(
            flavors_pb2.UpdateFlavorRequest(flavor_id=flavor_id, **change), metadata=ad.md
        )
        return resp.flavor

    async def seen_by(c: Client) -> Code:
        return await code_of(
            c.compute.GetFlavor(flavors_pb2.GetFlavorRequest(flavor_id=flavor_id), metadata=c.md)
        )

    assert await seen_by(env.a) == await seen_by(env.b) == Code.NOT_FOUND
    f = await update(
        add_project_ids=[env.a.project_id],
        set_extra_specs={"b": "2"},
        unset_extra_specs=["a"],
        description="for A",
    )
    assert (list(f.project_ids), dict(f.extra_specs), f.description) == (
        [env.a.project_id],
        {"b": "2"},
        "for A",
    )
    assert await seen_by(env.a) == Code.OK and await seen_by(env.b) == Code.NOT_FOUND
    listed = await env.a.compute.ListFlavors(flavors_pb2.ListFlavorsRequest(), metadata=env.a.md)
    assert flavor_id in {x.id for x in listed.flavors}

    refused = {
        "added twice": (Code.ALREADY_EXISTS, {"add_project_ids": [env.a.project_id]}),
        "removed, never added": (Code.NOT_FOUND, {"remove_project_ids": [env.b.project_id]}),
        "no such project": (Code.INVALID_ARGUMENT, {"add_project_ids": ["no-such-project"]}),
        "unset, never set": (
            Code.NOT_FOUND,
            {"set_extra_specs": {"c": "3"}, "unset_extra_specs": ["zzz"]},
        ),
        "set and unset": (
            Code.INVALID_ARGUMENT,
            {"set_extra_specs": {"b": "3"}, "unset_extra_specs": ["b"]},
        ),
        "nothing": (Code.INVALID_ARGUMENT, {}),
    }
    for why, (code, change) in refused.items():
        assert await code_of(update(**change)) == code, why
    public = ad.compute.UpdateFlavor(
        flavors_pb2.UpdateFlavorRequest(flavor_id="m1", add_project_ids=[env.b.project_id]),
        metadata=ad.md,
    )
    assert await code_of(public) == Code.FAILED_PRECONDITION
    gone = ad.compute.UpdateFlavor(
        flavors_pb2.UpdateFlavorRequest(flavor_id="no-such-flavor", description="x"),
        metadata=ad.md,
    )
    assert await code_of(gone) == Code.NOT_FOUND
    got = await ad.compute.GetFlavor(
        flavors_pb2.GetFlavorRequest(flavor_id=flavor_id), metadata=ad.md
    )
    assert (list(got.flavor.project_ids), dict(got.flavor.extra_specs)) == (
        [env.a.project_id],
        {"b": "2"},
    )  # the refused updates changed nothing (the "c" set beside a missing key included)

    f = await update(remove_project_ids=[env.a.project_id], description="")
    assert not f.project_ids and f.description == ""
    assert await seen_by(env.a) == Code.NOT_FOUND
    await ad.compute.DeleteFlavor(
        flavors_pb2.DeleteFlavorRequest(flavor_id=flavor_id), metadata=ad.md
    )


async def zones(c: Client) -> dict[str, bool]:
    resp = await c.compute.ListAvailabilityZones(
        hypervisors_pb2.ListAvailabilityZonesRequest(), metadata=c.md
    )
    return {z.name: z.available for z in resp.availability_zones}


async def test_hypervisors_for_admins(env: Env) -> None:
    ad = env.admin
    h = (
        await ad.compute.GetHypervisor(
            hypervisors_pb2.GetHypervisorRequest(hypervisor_id=HOSTS[0]), metadata=ad.md
        )
    ).hypervisor
    assert h.hypervisor_type == hypervisor_pb2.HYPERVISOR_TYPE_KVM
    assert (
        h.state == hypervisor_pb2.HOST_STATE_UP and h.status == hypervisor_pb2.HOST_STATUS_ENABLED
    )
    assert h.features.key_injection and h.total.vcpus == 64 and h.running_servers >= 1
    assert h.used.vcpus >= 1 and h.HasField("last_report_time")
    disabled = (
        await ad.compute.DisableHypervisor(
            hypervisors_pb2.DisableHypervisorRequest(hypervisor_id=HOSTS[0], reason="maintenance"),
            metadata=ad.md,
        )
    ).hypervisor
    assert disabled.status == hypervisor_pb2.HOST_STATUS_DISABLED
    assert disabled.disabled_reason == "maintenance"
    # Any user sees the zones, and that the one whose only host is disabled is unavailable.
    assert await zones(env.a_reader) == {h.availability_zone: False}
    enabled = (
        await ad.compute.EnableHypervisor(
            hypervisors_pb2.EnableHypervisorRequest(hypervisor_id=HOSTS[0]), metadata=ad.md
        )
    ).hypervisor
    assert enabled.status == hypervisor_pb2.HOST_STATUS_ENABLED
    assert await zones(env.b) == {h.availability_zone: True}
    nobody = env.b.compute.ListAvailabilityZones(hypervisors_pb2.ListAvailabilityZonesRequest())
    assert await code_of(nobody) == Code.UNAUTHENTICATED
    missing = hypervisors_pb2.GetHypervisorRequest(hypervisor_id="no-such-host")
    assert await code_of(ad.compute.GetHypervisor(missing, metadata=ad.md)) == Code.NOT_FOUND


# ------------------------------------------------------------------ tokens


async def test_tokens_are_required_and_checked(env: Env) -> None:
    stub = env.a.compute
    req = servers_pb2.ListServersRequest()
    assert await code_of(stub.ListServers(req)) == Code.UNAUTHENTICATED
    bad = (("authorization", "Bearer not-a-token"),)
    assert await code_of(stub.ListServers(req, metadata=bad)) == Code.UNAUTHENTICATED
    forged = (("authorization", "Basic dXNlcjpwYXNz"),)
    assert await code_of(stub.ListServers(req, metadata=forged)) == Code.UNAUTHENTICATED
    wrong = identity_requests_pb2.AuthenticateRequest(
        password=identity_pb2.PasswordCredentials(
            username=ADMIN[0], password="wrong", project=ADMIN[2]
        )
    )
    assert await code_of(env.a.identity.Authenticate(wrong)) == Code.UNAUTHENTICATED
    nobody = identity_requests_pb2.AuthenticateRequest(
        password=identity_pb2.PasswordCredentials(username="nobody", password="whatever1")
    )
    assert await code_of(env.a.identity.Authenticate(nobody)) == Code.UNAUTHENTICATED


async def test_api_keys_are_shown_once_and_authenticate(env: Env) -> None:
    a = env.a
    created = await a.identity.CreateApiKey(
        identity_requests_pb2.CreateApiKeyRequest(name="ci"), metadata=a.md
    )
    assert created.secret.startswith(created.api_key.prefix)
    auth = await a.identity.Authenticate(
        identity_requests_pb2.AuthenticateRequest(
            api_key=identity_pb2.ApiKeyCredentials(secret=created.secret)
        )
    )
    assert auth.project.id == a.project_id and auth.user.id == a.user_id
    assert list(auth.roles) == [identity_pb2.ROLE_MEMBER]
    via_key = Client(env.stack, auth.token)
    assert (await via_key.get(env.server_a.id)).id == env.server_a.id
    listed = await a.identity.ListApiKeys(identity_requests_pb2.ListApiKeysRequest(), metadata=a.md)
    assert [k.id for k in listed.api_keys] == [created.api_key.id]
    assert created.secret not in str(listed)
    await a.identity.DeleteApiKey(
        identity_requests_pb2.DeleteApiKeyRequest(api_key_id=created.api_key.id), metadata=a.md
    )
    again = identity_requests_pb2.AuthenticateRequest(
        api_key=identity_pb2.ApiKeyCredentials(secret=created.secret)
    )
    assert await code_of(a.identity.Authenticate(again)) == Code.UNAUTHENTICATED
    validated = await a.identity.ValidateToken(
        identity_requests_pb2.ValidateTokenRequest(token=a.token), metadata=a.md
    )
    assert validated.user.id == a.user_id and validated.project.id == a.project_id


# ------------------------------------------------------------------ invalid input table


def _spec(env: Env, **kw: Any) -> servers_pb2.CreateServerRequest:
    spec = {"name": "ok", "image_id": env.image_id, "flavor_id": "m1", **kw}
    counts = {k: spec.pop(k) for k in ("min_count", "max_count") if k in spec}
    return servers_pb2.CreateServerRequest(
        request_id=uuid.uuid4().hex, server=servers_pb2.ServerSpec(**spec), **counts
    )


async def test_invalid_requests_map_to_the_right_status(env: Env) -> None:
    a, ad = env.a, env.admin
    queued = (
        await a.images.CreateImage(  # type: ignore[union-attr]
            images_pb2.CreateImageRequest(
                request_id=uuid.uuid4().hex,
                image=images_pb2.Image(
                    name="queued",
                    disk_format=disk_pb2.DISK_FORMAT_RAW,
                    container_format=disk_pb2.CONTAINER_FORMAT_BARE,
                ),
            ),
            metadata=a.md,
        )
    ).image
    needs_ram = await a.upload_image("big-ram", min_ram=4096)
    needs_disk = await a.upload_image("big-disk", min_disk=40)
    vmware_only = await a.upload_image(
        "vmware-only", hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_VMWARE
    )
    ok_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJr3R8DoS1cqKlPH0bkkpvFnQ3gG+Wz9cHSvhbwJ5Qxr t"
    await a.compute.ImportKeypair(
        keypairs_pb2.ImportKeypairRequest(name="imported", public_key=ok_key), metadata=a.md
    )
    create = a.compute.CreateServer
    cases: list[tuple[str, Awaitable[Any], Code]] = [
        ("no name", create(_spec(env, name=""), metadata=a.md), Code.INVALID_ARGUMENT),
        ("long name", create(_spec(env, name="x" * 300), metadata=a.md), Code.INVALID_ARGUMENT),
        ("no image", create(_spec(env, image_id=""), metadata=a.md), Code.INVALID_ARGUMENT),
        (
            "unknown image",
            create(_spec(env, image_id=str(uuid.uuid4())), metadata=a.md),
            Code.NOT_FOUND,
        ),
        (
            "queued image",
            create(_spec(env, image_id=queued.id), metadata=a.md),
            Code.FAILED_PRECONDITION,
        ),
        ("no flavor", create(_spec(env, flavor_id=""), metadata=a.md), Code.INVALID_ARGUMENT),
        ("unknown flavor", create(_spec(env, flavor_id="nope"), metadata=a.md), Code.NOT_FOUND),
        (
            "flavor < min_ram",
            create(_spec(env, image_id=needs_ram.id), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "flavor < min_disk",
            create(_spec(env, image_id=needs_disk.id), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        ("unknown key", create(_spec(env, key_name="missing"), metadata=a.md), Code.NOT_FOUND),
        (
            "user data > 64 KiB",
            create(_spec(env, user_data=b"x" * 70000), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "unknown hint",
            create(_spec(env, scheduler_hints={"teleport": "1"}), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "bad hypervisor hint",
            create(_spec(env, scheduler_hints={"hypervisor_type": "bhyve"}), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "hint against the image pin",
            create(
                _spec(env, image_id=vmware_only.id, scheduler_hints={"hypervisor_type": "kvm"}),
                metadata=a.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "min > max",
            create(_spec(env, min_count=3, max_count=2), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        ("too many", create(_spec(env, min_count=500), metadata=a.md), Code.INVALID_ARGUMENT),
        ("over quota", create(_spec(env, min_count=11), metadata=a.md), Code.RESOURCE_EXHAUSTED),
        (
            "huge metadata",
            create(_spec(env, metadata={f"k{i}": "v" for i in range(200)}), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "get no id",
            a.compute.GetServer(servers_pb2.GetServerRequest(), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "get unknown",
            a.compute.GetServer(
                servers_pb2.GetServerRequest(server_id=str(uuid.uuid4())), metadata=a.md
            ),
            Code.NOT_FOUND,
        ),
        (
            "negative page size",
            a.compute.ListServers(servers_pb2.ListServersRequest(page_size=-1), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "foreign page token",
            a.compute.ListServers(
                servers_pb2.ListServersRequest(page_token="garbage"), metadata=a.md
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "unknown state filter",
            a.compute.ListServers(servers_pb2.ListServersRequest(state=99), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "unknown reboot type",
            a.compute.RebootServer(
                servers_pb2.RebootServerRequest(server_id=env.server_a.id, type=7), metadata=a.md
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "update without mask",
            a.compute.UpdateServer(
                servers_pb2.UpdateServerRequest(
                    server=servers_pb2.Server(id=env.server_a.id, name="n")
                ),
                metadata=a.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "update of an output field",
            a.compute.UpdateServer(
                servers_pb2.UpdateServerRequest(
                    server=servers_pb2.Server(id=env.server_a.id), update_mask={"paths": ["host"]}
                ),
                metadata=a.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "bad public key",
            a.compute.ImportKeypair(
                keypairs_pb2.ImportKeypairRequest(name="bad", public_key="ssh-rsa AAAA"),
                metadata=a.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "duplicate keypair",
            a.compute.ImportKeypair(
                keypairs_pb2.ImportKeypairRequest(name="imported", public_key=ok_key), metadata=a.md
            ),
            Code.ALREADY_EXISTS,
        ),
        (
            "bad keypair name",
            a.compute.CreateKeypair(keypairs_pb2.CreateKeypairRequest(name="../x"), metadata=a.md),
            Code.INVALID_ARGUMENT,
        ),
        (
            "flavor without vcpus",
            ad.compute.CreateFlavor(
                flavors_pb2.CreateFlavorRequest(flavor=flavors_pb2.Flavor(name="zero", ram_mb=1)),
                metadata=ad.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "duplicate flavor",
            ad.compute.CreateFlavor(
                flavors_pb2.CreateFlavorRequest(
                    flavor=flavors_pb2.Flavor(id="m1", name="m1", vcpus=1, ram_mb=1)
                ),
                metadata=ad.md,
            ),
            Code.ALREADY_EXISTS,
        ),
        (
            "quota below -1",
            ad.compute.UpdateQuota(
                quotas_pb2.UpdateQuotaRequest(
                    project_id=a.project_id,
                    limits=quotas_pb2.QuotaLimits(instances=-5, vcpus=1, ram_mb=1),
                ),
                metadata=ad.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "short password",
            ad.identity.CreateUser(
                identity_requests_pb2.CreateUserRequest(
                    user=identity_pb2.User(name="shorty"), password="x"
                ),
                metadata=ad.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "role unspecified",
            ad.identity.GrantRole(
                identity_requests_pb2.GrantRoleRequest(user_id=a.user_id, project_id=a.project_id),
                metadata=ad.md,
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            "no credentials",
            a.identity.Authenticate(identity_requests_pb2.AuthenticateRequest()),
            Code.INVALID_ARGUMENT,
        ),
    ]
    got = {name: await code_of(call) for name, call, _ in cases}
    assert got == {name: code for name, _, code in cases}
    # None of the refused creates left a server behind or used quota.
    quota = (await a.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=a.md)).quota
    assert quota.usage.instances == 1


async def test_watch_with_a_bad_revision(env: Env) -> None:
    watch = env.a.compute.WatchServers(
        servers_pb2.WatchServersRequest(from_revision=-1), metadata=env.a.md
    )
    assert await code_of(watch.read()) == Code.INVALID_ARGUMENT
