"""The proxy's side of console tokens: its own service token (from its service key), and
the api's RedeemConsoleToken.

    auth = ConsoleAuth("api:50051", service_key)
    session = await auth.redeem(token, server_id, user_token)   # once per token
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import grpc

from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.common.errors import PolyvisorError, Unauthenticated, Unavailable, error_for_status
from polyvisor.common.logging import get_logger
from polyvisor.consoleauth.v1 import consoleauth_service_pb2 as ca
from polyvisor.consoleauth.v1 import consoleauth_service_pb2_grpc as ca_grpc
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc

__all__ = ["ConsoleAuth", "Session"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Session:
    server_id: str
    user_id: str
    host: str
    port: int
    password: str = field(repr=False)


class ConsoleAuth:
    def __init__(self, api_address: str, service_key: str, timeout_s: float = 10.0) -> None:
        self.address = api_address
        self._key = service_key.strip()
        self._timeout = timeout_s
        self._channel = grpc.aio.insecure_channel(api_address, options=RECONNECT_OPTIONS)
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def _metadata(self) -> tuple[tuple[str, str], ...]:
        if not self._key:
            raise Unavailable("the console proxy has no service key (POLYVISOR_CONSOLE_API_KEY)")
        if time.time() > self._expires_at - 60:
            async with self._lock:
                if time.time() > self._expires_at - 60:
                    stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)
                    resp = await stub.Authenticate(
                        identity_requests_pb2.AuthenticateRequest(
                            api_key=identity_pb2.ApiKeyCredentials(secret=self._key)
                        ),
                        timeout=self._timeout,
                    )
                    self._token = resp.token
                    exp = (
                        resp.expire_time.ToNanoseconds() / 1e9
                        if resp.HasField("expire_time")
                        else 0
                    )
                    self._expires_at = exp or time.time() + 600
        return (("authorization", f"Bearer {self._token}"),)

    async def redeem(self, token: str, server_id: str, user_token: str = "") -> Session:
        """The session a console token opens (once); a PolyvisorError otherwise."""
        try:
            md = await self._metadata()
            stub = ca_grpc.ConsoleAuthServiceStub(self._channel)
            resp = await stub.RedeemConsoleToken(
                ca.RedeemConsoleTokenRequest(
                    token=token, server_id=server_id, user_token=user_token
                ),
                metadata=md,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            err: PolyvisorError = error_for_status(exc.code(), exc.details() or "")
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED and "key" in (exc.details() or ""):
                self._expires_at = 0.0
            raise err from exc
        return Session(resp.server_id, resp.user_id, resp.host, resp.port, resp.password)

    async def ready(self) -> None:
        """A service token can be had (start-up check)."""
        try:
            await self._metadata()
        except grpc.aio.AioRpcError as exc:
            raise Unauthenticated(f"the console service key was refused: {exc.details()}") from exc

    async def close(self) -> None:
        await self._channel.close()
