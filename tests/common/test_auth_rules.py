"""Agent keys, method rules and revocation cut-offs (pure logic; the services' tests cover
them end to end)."""

from __future__ import annotations

import time

import pytest

from polyvisor.common.auth import (
    API_IDENTITY,
    JwtAuthenticator,
    MethodRules,
    TokenSigner,
    TokenVerifier,
    generate_keypair,
)
from polyvisor.common.derived_keys import agent_key_host, derive_agent_key, verify_agent_key
from polyvisor.common.errors import PermissionDenied, Unauthenticated
from polyvisor.common.revocation import Revocations


def test_an_agent_key_names_its_host_and_cannot_be_moved_to_another() -> None:
    key = derive_agent_key("s3cret", "esx:domain-c7")
    assert agent_key_host(key) == "esx:domain-c7"
    assert verify_agent_key("s3cret", key) == "esx:domain-c7"
    mac = key.rpartition(".")[2]
    other = derive_agent_key("s3cret", "kvm-2")
    # Another host's name with this key's MAC, or this key under another secret: refused.
    forged = f"{other.rpartition('.')[0]}.{mac}"
    for bad in (forged, key + "x", "pva1.a.b", "nonsense", ""):
        with pytest.raises(Unauthenticated):
            verify_agent_key("s3cret", bad)
    with pytest.raises(Unauthenticated):
        verify_agent_key("another-secret", key)


@pytest.fixture
def keys() -> tuple[TokenSigner, TokenVerifier]:
    private, public = generate_keypair()
    return TokenSigner(private), TokenVerifier(public)


async def test_rules_match_the_method_first_then_its_service(keys) -> None:  # type: ignore[no-untyped-def]
    signer, verifier = keys
    rules = MethodRules({"/s.S/": ("user",), "/s.S/Read": ("user", "agent")})
    auth = JwtAuthenticator(verifier, rules=rules)
    user = signer.issue(user_id="u", project_id="p", roles=["reader"])[0]
    agent = signer.issue(user_id="agent:h", project_id="", roles=[], kind="agent", host="h")[0]
    api = signer.issue(user_id=API_IDENTITY, project_id="", roles=[], kind="service")[0]

    def md(t: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {t}"),)

    assert (await auth.authenticate("/s.S/Write", md(user))).user_id == "u"  # type: ignore[union-attr]
    assert (await auth.authenticate("/s.S/Read", md(agent))).host == "h"  # type: ignore[union-attr]
    for method, token in (("/s.S/Write", agent), ("/s.S/Read", api), ("/other.O/X", user)):
        for _ in range(2):  # the second time from the decided cache
            with pytest.raises(PermissionDenied):
                await auth.authenticate(method, md(token))
    assert await auth.authenticate("/grpc.health.v1.Health/Check", ()) is None
    with pytest.raises(Unauthenticated):
        await auth.authenticate("/s.S/Read", ())


def test_a_cut_off_ends_the_tokens_issued_before_it_only(keys) -> None:  # type: ignore[no-untyped-def]
    signer, verifier = keys
    revocations = Revocations(max_token_ttl_s=3600)
    auth = JwtAuthenticator(verifier, revoked=revocations.revoked)
    old, p = signer.issue(user_id="u", project_id="p", roles=["member"], api_key_id="k1")
    auth.verify(old)  # cached from now on: revocation must still apply
    revocations.add("api_key", "k1", p.issued_at)
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.verify(old)
    newer = signer.issue(user_id="u", project_id="p", roles=["member"])[0]
    assert auth.verify(newer).user_id == "u"
    revocations.add("user", "u", time.time() + 1)
    with pytest.raises(Unauthenticated):
        auth.verify(newer)
    # Cut-offs older than the longest token are forgotten: nothing they cover is valid.
    revocations.prune(now=time.time() + 3600 + 60)
    assert len(revocations) == 0
