"""Tokens end when their grant does, on every service, within seconds; passwords and logins.

Revocation: deleting a user, a project or an API key, or revoking a role, makes the tokens it
covered fail with UNAUTHENTICATED on the api, the image service and the scheduler (each holds
the revocation feed in memory) within 5 s. SetPassword needs the current password unless an
admin resets another user's; failed logins are throttled per user and per source."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc
from tests.api.stack import Client, Stack, eventually
from tests.support.auth import token_channel

Code = grpc.StatusCode
REVOKED_WITHIN_S = 5.0


@pytest.fixture(scope="module")
async def admin(stack: Stack) -> Client:
    return await stack.admin()


async def status(call, request, md) -> Code:  # type: ignore[no-untyped-def]
    try:
        await call(request, metadata=md)
    except grpc.aio.AioRpcError as e:
        return e.code()
    return Code.OK


async def answers(stack: Stack, token: str, *, scheduler: bool = False) -> dict[str, Code]:
    """What the api, the image service and (admins) the scheduler answer this token."""
    md = (("authorization", f"Bearer {token}"),)
    c = Client(stack, token)
    out = {
        "api": await status(
            c.identity.ListProjects, identity_requests_pb2.ListProjectsRequest(), md
        ),
        "imagesvc": await status(c.images.ListImages, images_pb2.ListImagesRequest(), md),  # type: ignore[union-attr]
    }
    if scheduler:
        assert stack.scheduler is not None
        async with token_channel(stack.scheduler.address, token) as ch:
            sched = scheduler_service_pb2_grpc.SchedulerServiceStub(ch)
            out["scheduler"] = await status(
                sched.ListProviders, scheduler_pb2.ListProvidersRequest(), ()
            )
    return out


async def refused_everywhere(stack: Stack, token: str, *, scheduler: bool = False) -> None:
    await eventually(
        lambda: answers(stack, token, scheduler=scheduler),
        lambda got: set(got.values()) == {Code.UNAUTHENTICATED},
        within=REVOKED_WITHIN_S,
    )


async def new_user(admin: Client, project_id: str, role: int, password: str) -> str:
    user = (
        await admin.identity.CreateUser(
            identity_requests_pb2.CreateUserRequest(
                user=identity_pb2.User(
                    name=f"sec-{uuid.uuid4().hex[:8]}", default_project_id=project_id
                ),
                password=password,
            ),
            metadata=admin.md,
        )
    ).user
    await admin.identity.GrantRole(
        identity_requests_pb2.GrantRoleRequest(user_id=user.id, project_id=project_id, role=role),
        metadata=admin.md,
    )
    return user.id


async def test_deleting_a_user_revokes_their_tokens_on_every_service(
    stack: Stack, admin: Client
) -> None:
    user_id = await new_user(
        admin, admin.project_id or "admin", identity_pb2.ROLE_ADMIN, "pw-123456789"
    )
    name = (
        await admin.identity.GetUser(
            identity_requests_pb2.GetUserRequest(user_id=user_id), metadata=admin.md
        )
    ).user.name
    token = await stack.login(name, "pw-123456789", "admin")
    assert set((await answers(stack, token, scheduler=True)).values()) == {Code.OK}
    await admin.identity.DeleteUser(
        identity_requests_pb2.DeleteUserRequest(user_id=user_id), metadata=admin.md
    )
    await refused_everywhere(stack, token, scheduler=True)
    # The admin's own token is untouched.
    assert set((await answers(stack, admin.token, scheduler=True)).values()) == {Code.OK}


async def test_revoking_a_role_and_deleting_an_api_key_or_project(
    stack: Stack, admin: Client
) -> None:
    member = await stack.new_project_user(admin, "member")
    # A token from an API key; deleting the key ends it (the password token lives on).
    key = await member.identity.CreateApiKey(
        identity_requests_pb2.CreateApiKeyRequest(name="k"), metadata=member.md
    )
    key_token = (
        await member.identity.Authenticate(
            identity_requests_pb2.AuthenticateRequest(
                api_key=identity_pb2.ApiKeyCredentials(secret=key.secret)
            )
        )
    ).token
    assert set((await answers(stack, key_token)).values()) == {Code.OK}
    await member.identity.DeleteApiKey(
        identity_requests_pb2.DeleteApiKeyRequest(api_key_id=key.api_key.id), metadata=member.md
    )
    await refused_everywhere(stack, key_token)
    assert set((await answers(stack, member.token)).values()) == {Code.OK}

    # Revoking the role ends the tokens that carried it.
    await admin.identity.RevokeRole(
        identity_requests_pb2.RevokeRoleRequest(
            user_id=member.user_id, project_id=member.project_id, role=identity_pb2.ROLE_MEMBER
        ),
        metadata=admin.md,
    )
    await refused_everywhere(stack, member.token)

    # Deleting a project ends every token scoped to it.
    other = await stack.new_project_user(admin, "reader")
    assert set((await answers(stack, other.token)).values()) == {Code.OK}
    await admin.identity.DeleteProject(
        identity_requests_pb2.DeleteProjectRequest(project_id=other.project_id), metadata=admin.md
    )
    await refused_everywhere(stack, other.token)


async def test_revoking_one_token_ends_it_alone_on_every_service(
    stack: Stack, admin: Client
) -> None:
    member = await stack.new_project_user(admin, "member")
    other = await stack.new_project_user(admin, "member")
    # Another token of the same user (logging in by the user's id).
    second = Client(stack, await stack.login(member.user_id, "a-good-password", member.project_id))
    assert set((await answers(stack, second.token)).values()) == {Code.OK}
    # Nobody but its user (or an admin) revokes a token.
    assert (
        await status(
            other.identity.RevokeToken,
            identity_requests_pb2.RevokeTokenRequest(token=second.token),
            other.md,
        )
        == Code.PERMISSION_DENIED
    )
    assert (
        await status(
            member.identity.RevokeToken, identity_requests_pb2.RevokeTokenRequest(), member.md
        )
        == Code.INVALID_ARGUMENT
    )
    await member.identity.RevokeToken(
        identity_requests_pb2.RevokeTokenRequest(token=second.token), metadata=member.md
    )
    await refused_everywhere(stack, second.token)
    # The user's other token, and everyone else's, live on.
    assert set((await answers(stack, member.token)).values()) == {Code.OK}
    assert set((await answers(stack, other.token)).values()) == {Code.OK}
    # An admin revokes anyone's.
    await admin.identity.RevokeToken(
        identity_requests_pb2.RevokeTokenRequest(token=other.token), metadata=admin.md
    )
    await refused_everywhere(stack, other.token)


async def test_set_password_needs_the_current_one_unless_an_admin_resets_it(
    stack: Stack, admin: Client
) -> None:
    user = await stack.new_project_user(admin, "member")
    name = (
        await admin.identity.GetUser(
            identity_requests_pb2.GetUserRequest(user_id=user.user_id), metadata=admin.md
        )
    ).user.name
    set_pw = user.identity.SetPassword
    assert (
        await status(
            set_pw, identity_requests_pb2.SetPasswordRequest(new_password="new-password-1"), user.md
        )
        == Code.INVALID_ARGUMENT
    )
    assert (
        await status(
            set_pw,
            identity_requests_pb2.SetPasswordRequest(
                new_password="new-password-1", current_password="wrong-password"
            ),
            user.md,
        )
        == Code.PERMISSION_DENIED
    )
    await set_pw(
        identity_requests_pb2.SetPasswordRequest(
            new_password="new-password-1", current_password="a-good-password"
        ),
        metadata=user.md,
    )
    await stack.login(name, "new-password-1", user.project_id)
    # An admin resets another user's password without knowing it.
    await admin.identity.SetPassword(
        identity_requests_pb2.SetPasswordRequest(
            user_id=user.user_id, new_password="reset-password-2"
        ),
        metadata=admin.md,
    )
    await stack.login(name, "reset-password-2", user.project_id)
    # The user's id logs in as well as the name (OpenStack clients send either).
    await stack.login(user.user_id, "reset-password-2", user.project_id)


@pytest.fixture(scope="module")
async def throttled_api(stack: Stack) -> AsyncIterator[int]:
    """An api replica of its own (throttling is per replica) with a small per-source budget."""
    await stack.start_api({"POLYVISOR_LOGIN_FAILURES_PER_SOURCE": "8"})
    yield len(stack.apis) - 1


async def login_code(
    stack: Stack, index: int, user: str, password: str
) -> grpc.aio.AioRpcError | None:
    from polyvisor.identity.v1 import identity_service_pb2_grpc

    stub = identity_service_pb2_grpc.IdentityServiceStub(stack.channel(index))
    try:
        await stub.Authenticate(
            identity_requests_pb2.AuthenticateRequest(
                password=identity_pb2.PasswordCredentials(username=user, password=password)
            )
        )
    except grpc.aio.AioRpcError as e:
        return e
    return None


async def test_failed_logins_are_throttled_per_user_then_per_source(
    stack: Stack, admin: Client, throttled_api: int
) -> None:
    victim = await stack.new_project_user(admin, "member")
    name = (
        await admin.identity.GetUser(
            identity_requests_pb2.GetUserRequest(user_id=victim.user_id), metadata=admin.md
        )
    ).user.name
    for _ in range(5):
        err = await login_code(stack, throttled_api, name, "not-the-password")
        assert err is not None and err.code() == Code.UNAUTHENTICATED
    # The right password is not even checked now.
    err = await login_code(stack, throttled_api, name, "a-good-password")
    assert err is not None and err.code() == Code.RESOURCE_EXHAUSTED
    assert "too many failed logins for user" in (err.details() or "")
    assert "retry in" in (err.details() or "")
    # Another replica keeps its own count: the user is not locked out of the cloud.
    assert await login_code(stack, 0, name, "a-good-password") is None

    # From this source: three more failures (other names) reach the per-source budget of 8.
    for i in range(3):
        err = await login_code(stack, throttled_api, f"nobody-{i}", "whatever-password")
        assert err is not None and err.code() == Code.UNAUTHENTICATED
    err = await login_code(stack, throttled_api, "admin", "anything-at-all")
    assert err is not None and err.code() == Code.RESOURCE_EXHAUSTED
    assert "too many failed logins from" in (err.details() or "")
