"""Agent credentials: a static token as is; an API key exchanged with a real IdentityService
(a small servicer here) for a token renewed ahead of its expiry, and after a refusal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.common.derived_keys import derive_agent_key
from polyvisor.common.errors import Unauthenticated
from polyvisor.identity.v1 import identity_requests_pb2, identity_service_pb2_grpc


class Identity(identity_service_pb2_grpc.IdentityServiceServicer):
    def __init__(self) -> None:
        self.issued = 0
        self.ttl_s = 3600.0

    async def Authenticate(self, request, context):  # type: ignore[no-untyped-def]
        if request.WhichOneof("credentials") != "api_key" or request.api_key.secret != "k-1":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad key")
        self.issued += 1
        resp = identity_requests_pb2.AuthenticateResponse(token=f"token-{self.issued}")
        resp.expire_time.FromNanoseconds(int((time.time() + self.ttl_s) * 1e9))
        return resp


@pytest.fixture
async def identity() -> AsyncIterator[tuple[Identity, str]]:
    servicer = Identity()
    server = grpc.aio.server()
    identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(0)


async def test_api_key_token_is_reused_then_renewed_before_expiry(
    identity: tuple[Identity, str],
) -> None:
    servicer, address = identity
    creds = AgentCredentials(api_key="k-1", identity_address=address, refresh_margin_s=120)
    assert creds.mode == "api_key"
    assert await creds.metadata() == (("authorization", "Bearer token-1"),)
    assert await creds.metadata() == (("authorization", "Bearer token-1"),)
    assert servicer.issued == 1
    servicer.ttl_s = 60  # the next token expires within the margin: renewed on each use
    creds.invalidate()  # e.g. the api answered UNAUTHENTICATED
    assert await creds.metadata() == (("authorization", "Bearer token-2"),)
    assert await creds.metadata() == (("authorization", "Bearer token-3"),)
    await creds.close()
    await creds.close()


async def test_a_refused_key_and_a_static_token(identity: tuple[Identity, str]) -> None:
    _, address = identity
    bad = AgentCredentials(api_key="wrong", identity_address=address)
    with pytest.raises(Unauthenticated):
        await bad.metadata()
    await bad.close()
    static = AgentCredentials(static_token="abc")
    assert await static.metadata() == (("authorization", "Bearer abc"),)
    assert await AgentCredentials().metadata() == ()


def test_a_key_naming_another_host_is_refused_up_front() -> None:
    key = derive_agent_key("secret", "kvm-2")
    with pytest.raises(ValueError, match="kvm-2"):
        AgentCredentials(api_key=key, identity_address="127.0.0.1:1", host="kvm-1")
    assert AgentCredentials(api_key=key, identity_address="127.0.0.1:1", host="kvm-2").mode == (
        "api_key"
    )


def test_the_key_may_come_from_a_file(tmp_path: Path) -> None:
    from polyvisor.agentkit.settings import AgentSettings

    key = derive_agent_key("secret", "kvm-9")
    (tmp_path / "agent.key").write_text(key + "\n")
    settings = AgentSettings(host_id="kvm-9", agent_api_key_file=tmp_path / "agent.key")
    assert settings.agent_api_key == key
