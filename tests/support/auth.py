"""Tokens for tests that call services directly: a keypair in a directory, tokens of any
identity signed with it, and channels that send one with every call.

    keys = TestKeys(tmp_path / "keys")            # env: {"POLYVISOR_TOKEN_PUBLIC_KEY": ...}
    channel = token_channel(address, keys.api_token())
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from polyvisor.common.auth import (
    API_IDENTITY,
    KIND_AGENT,
    KIND_SERVICE,
    TokenSigner,
    ensure_keypair,
)
from polyvisor.common.bus.client import Bus
from polyvisor.common.grants import ImageGrantFeed, ImageGrants


class TestKeys:
    __test__ = False  # not a test class

    def __init__(self, root: Path) -> None:
        self.private_key = root / "token.key"
        self.public_key = root / "token.pub"
        ensure_keypair(self.private_key, self.public_key)
        self.signer = TokenSigner.from_file(self.private_key)

    @property
    def env(self) -> dict[str, str]:
        return {"POLYVISOR_TOKEN_PUBLIC_KEY": str(self.public_key)}

    def api_token(self) -> str:
        """The api's service identity (what it calls the scheduler with)."""
        return self.signer.issue(
            user_id=API_IDENTITY, project_id="", roles=(), username=API_IDENTITY, kind=KIND_SERVICE
        )[0]

    def agent_token(self, host: str) -> str:
        return self.signer.issue(
            user_id=f"agent:{host}", project_id="", roles=(), kind=KIND_AGENT, host=host
        )[0]

    def user_token(self, project_id: str, *roles: str, user_id: str = "u-test") -> str:
        return self.signer.issue(user_id=user_id, project_id=project_id, roles=roles)[0]


class _Bearer(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    def __init__(self, token: str) -> None:
        self._md = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        md = [*(details.metadata or ()), self._md]
        return details._replace(metadata=grpc.aio.Metadata(*md))

    async def intercept_unary_unary(self, continuation: Callable, details: Any, request: Any):  # type: ignore[no-untyped-def,override]
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Callable, details: Any, request: Any):  # type: ignore[no-untyped-def,override]
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Callable, details: Any, it: Any):  # type: ignore[no-untyped-def,override]
        return await continuation(self._details(details), it)

    async def intercept_stream_stream(self, continuation: Callable, details: Any, it: Any):  # type: ignore[no-untyped-def,override]
        return await continuation(self._details(details), it)


def token_channel(address: str, token: str) -> grpc.aio.Channel:
    """A channel sending `authorization: Bearer <token>` with every call."""
    return grpc.aio.insecure_channel(address, interceptors=[_Bearer(token)])


async def grant_image(bus: Bus, host: str, image_id: str, ttl_s: float = 3600.0) -> None:
    """What the api does before it sends a spawn command: let the agent of `host` read
    `image_id` from the image service."""
    await ImageGrantFeed(bus, ImageGrants()).grant(host, image_id, ttl_s)
