"""Console tokens through the api, with the real scheduler and image service and a fake agent:
a token is redeemed once, only by the console proxy's identity, only for its server and its
user, and never after it expires; redeeming it sends the server's agent a fresh VNC password
(the OpenConsole command) that is handed to the proxy and stored nowhere."""

from __future__ import annotations

import asyncpg
import grpc
import pytest

from polyvisor.common.auth import CONSOLE_IDENTITY
from polyvisor.common.derived_keys import derive_service_key
from polyvisor.compute.v1 import flavors_pb2, quotas_pb2, servers_pb2
from polyvisor.consoleauth.v1 import consoleauth_service_pb2 as ca
from polyvisor.consoleauth.v1 import consoleauth_service_pb2_grpc as ca_grpc
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import AGENT_KEY_SECRET, Client, Stack, eventually, wait_hosts

HOSTS = ("kvm-c1",)
PROXY = "ws://console.example:6080"


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {"POLYVISOR_CONSOLE_PROXY_URL": PROXY, "POLYVISOR_CONSOLE_SESSION_S": "45"}


async def _service_token(stack: Stack, secret: str) -> str:
    stub = identity_service_pb2_grpc.IdentityServiceStub(stack.channel())
    resp = await stub.Authenticate(
        identity_requests_pb2.AuthenticateRequest(
            api_key=identity_pb2.ApiKeyCredentials(secret=secret)
        )
    )
    return resp.token


@pytest.fixture(scope="module")
async def world(stack: Stack) -> dict[str, object]:
    agent = await stack.start_agent(*HOSTS, slow_s="1")
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="tiny", name="tiny", vcpus=1, ram_mb=256, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    await wait_hosts(admin, *HOSTS)
    alice = await stack.new_project_user(admin, "member")
    bob = await stack.new_project_user(admin, "member")
    await admin.compute.UpdateQuota(
        quotas_pb2.UpdateQuotaRequest(
            project_id=alice.project_id,
            limits=quotas_pb2.QuotaLimits(instances=-1, vcpus=-1, ram_mb=-1),
        ),
        metadata=admin.md,
    )
    s1 = await alice.create_server("c-1", image.id, "tiny")
    s2 = await alice.create_server("c-2", image.id, "tiny")
    for s in (s1, s2):
        await alice.wait(s.id, st.SERVER_STATE_ACTIVE)
    proxy = await _service_token(stack, derive_service_key(AGENT_KEY_SECRET, CONSOLE_IDENTITY))
    return {
        "agent": agent,
        "admin": admin,
        "alice": alice,
        "bob": bob,
        "s1": s1.id,
        "s2": s2.id,
        "proxy": proxy,
    }


def _auth(stack: Stack, token: str) -> tuple[ca_grpc.ConsoleAuthServiceStub, tuple]:  # type: ignore[type-arg]
    return ca_grpc.ConsoleAuthServiceStub(stack.channel()), (("authorization", f"Bearer {token}"),)


async def _console(c: Client, server_id: str) -> servers_pb2.GetServerConsoleResponse:
    return await c.compute.GetServerConsole(
        servers_pb2.GetServerConsoleRequest(server_id=server_id), metadata=c.md
    )


async def _redeem_code(stub, md, **req: str) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await stub.RedeemConsoleToken(ca.RedeemConsoleTokenRequest(**req), metadata=md)
    return exc.value.code()


async def test_the_console_urls_point_at_the_proxy(stack: Stack, world: dict) -> None:  # type: ignore[type-arg]
    alice: Client = world["alice"]  # type: ignore[assignment]
    c = await _console(alice, world["s1"])  # type: ignore[arg-type]
    assert c.url.startswith(f"{PROXY}/websockify?")
    assert f"server_id={world['s1']}" in c.url and f"token={c.token}" in c.url
    assert (c.host, c.port) == ("console.example", 6080)
    # A browser's address for the same console: the proxy's noVNC page, over http, with the
    # same server and token (the WebSocket URL above stays what programs connect to).
    query = c.url.split("?", 1)[1]
    assert c.page_url == f"http://console.example:6080/vnc.html?{query}"


async def test_a_token_opens_one_session_with_a_fresh_password(
    stack: Stack,
    world: dict,  # type: ignore[type-arg]
) -> None:
    alice: Client = world["alice"]  # type: ignore[assignment]
    sid: str = world["s1"]  # type: ignore[assignment]
    stub, md = _auth(stack, world["proxy"])  # type: ignore[arg-type]
    server = await alice.get(sid)
    c = await _console(alice, sid)
    got = await stub.RedeemConsoleToken(
        ca.RedeemConsoleTokenRequest(token=c.token, server_id=sid, user_token=alice.token),
        metadata=md,
    )
    assert got.server_id == sid and got.user_id == alice.user_id
    assert (got.host, got.port) == (server.console.host, server.console.port)
    assert len(got.password) == 8 and got.password.isalnum()
    # The agent was told that very password, for the configured session lifetime.
    sent = await eventually(
        lambda: _async(world["agent"].commands()),  # type: ignore[attr-defined]
        lambda cmds: any(x["verb"] == "open_console" and x["server_id"] == sid for x in cmds),
    )
    opened = [x for x in sent if x["verb"] == "open_console" and x["server_id"] == sid]
    assert opened[-1]["password"] == got.password and opened[-1]["valid_for_s"] == 45
    # Once only.
    assert await _redeem_code(stub, md, token=c.token, server_id=sid) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # The next session has another password, and the server is untouched.
    c2 = await _console(alice, sid)
    again = await stub.RedeemConsoleToken(
        ca.RedeemConsoleTokenRequest(token=c2.token, server_id=sid), metadata=md
    )
    assert again.password != got.password
    after = await alice.get(sid)
    assert after.state == st.SERVER_STATE_ACTIVE and after.generation == server.generation
    # The password is stored nowhere in the api's database.
    conn = await asyncpg.connect(stack.database_url)
    try:
        dump = await conn.fetch("SELECT * FROM api.console_tokens")
    finally:
        await conn.close()
    assert got.password not in repr(dump) and again.password not in repr(dump)


async def _async(value: object) -> object:
    return value


async def test_a_token_is_only_for_its_server_and_user(
    stack: Stack,
    world: dict,  # type: ignore[type-arg]
) -> None:
    alice: Client = world["alice"]  # type: ignore[assignment]
    bob: Client = world["bob"]  # type: ignore[assignment]
    stub, md = _auth(stack, world["proxy"])  # type: ignore[arg-type]
    # Another server: refused, and the token is spent (a guess costs the thief the token).
    c = await _console(alice, world["s1"])  # type: ignore[arg-type]
    code = await _redeem_code(stub, md, token=c.token, server_id=world["s2"])
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code = await _redeem_code(stub, md, token=c.token, server_id=world["s1"])
    assert code == grpc.StatusCode.UNAUTHENTICATED
    # Another user presenting alice's token: refused.
    c = await _console(alice, world["s1"])  # type: ignore[arg-type]
    code = await _redeem_code(stub, md, token=c.token, server_id=world["s1"], user_token=bob.token)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # Bob cannot even ask for a console of alice's server.
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _console(bob, world["s1"])  # type: ignore[arg-type]
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_expired_token_opens_nothing(stack: Stack, world: dict) -> None:  # type: ignore[type-arg]
    alice: Client = world["alice"]  # type: ignore[assignment]
    stub, md = _auth(stack, world["proxy"])  # type: ignore[arg-type]
    c = await _console(alice, world["s2"])  # type: ignore[arg-type]
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "UPDATE api.console_tokens SET expire_time = now() - interval '1 second' "
            "WHERE server_id = $1",
            world["s2"],
        )
    finally:
        await conn.close()
    code = await _redeem_code(stub, md, token=c.token, server_id=world["s2"])
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_only_the_proxy_identity_redeems(stack: Stack, world: dict) -> None:  # type: ignore[type-arg]
    alice: Client = world["alice"]  # type: ignore[assignment]
    admin: Client = world["admin"]  # type: ignore[assignment]
    c = await _console(alice, world["s1"])  # type: ignore[arg-type]
    for who in (alice, admin):
        stub, md = _auth(stack, who.token)
        code = await _redeem_code(stub, md, token=c.token, server_id=world["s1"])
        assert code == grpc.StatusCode.PERMISSION_DENIED
    # ... and the proxy's token calls nothing else of the api.
    proxy = Client(stack, world["proxy"])  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await proxy.get(world["s1"])  # type: ignore[arg-type]
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A forged service key gets no token.
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _service_token(stack, derive_service_key("another-secret", CONSOLE_IDENTITY))
    assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The token was not spent by the refused callers: the proxy still redeems it.
    stub, md = _auth(stack, world["proxy"])  # type: ignore[arg-type]
    got = await stub.RedeemConsoleToken(
        ca.RedeemConsoleTokenRequest(token=c.token, server_id=world["s1"]), metadata=md
    )
    assert got.server_id == world["s1"]
