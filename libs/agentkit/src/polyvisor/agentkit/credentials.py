"""The agent's bearer token for the api and the image service.

    creds = AgentCredentials(identity_address="api:50051", api_key="...")
    metadata = await creds.metadata()       # (("authorization", "Bearer ..."),)
    creds.invalidate()                      # after UNAUTHENTICATED: fetch a new one next time

Either a static token (``POLYVISOR_AGENT_TOKEN``, used as is) or the agent's own key
(``POLYVISOR_AGENT_API_KEY``, ``pva1.<host>.<mac>``, printed for a host by
``python -m polyvisor.api.agentkey HOST``) exchanged with IdentityService.Authenticate for an
agent token naming that host, renewed ahead of its expiry. A key naming another host than
``host`` is refused at once (the services would refuse everything it asks for this host).
With neither, calls go out without a token and the services refuse them; the first such call
logs a warning.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.common.derived_keys import agent_key_host, is_agent_key
from polyvisor.common.errors import PolyvisorError, Unauthenticated, Unavailable, error_for_status
from polyvisor.common.logging import get_logger
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc

__all__ = ["AgentCredentials"]

log = get_logger(__name__)

Metadata = tuple[tuple[str, str], ...]


class AgentCredentials:
    def __init__(
        self,
        *,
        static_token: str = "",
        api_key: str = "",
        identity_address: str = "",
        refresh_margin_s: float = 120.0,
        timeout_s: float = 10.0,
        host: str = "",
    ) -> None:
        if api_key and not identity_address:
            raise ValueError("an API key needs the identity service's address")
        if host and is_agent_key(api_key.strip()):
            named = agent_key_host(api_key.strip())
            if named != host:
                raise ValueError(
                    f"POLYVISOR_AGENT_API_KEY is the key of host {named!r}, not of {host!r}"
                )
        self._static = static_token.strip()
        self._api_key = api_key.strip()
        self._address = identity_address
        self._margin = refresh_margin_s
        self._timeout = timeout_s
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._channel: grpc.aio.Channel | None = None
        self._warned = False

    @property
    def mode(self) -> str:
        return "token" if self._static else "api_key" if self._api_key else "none"

    async def metadata(self) -> Metadata:
        if self._static:
            return (("authorization", f"Bearer {self._static}"),)
        if not self._api_key:
            if not self._warned:
                self._warned = True
                log.warning("no agent credentials configured: calling without a token")
            return ()
        if not self._token or time.time() > self._expires_at - self._margin:
            async with self._lock:
                if not self._token or time.time() > self._expires_at - self._margin:
                    await self._authenticate()
        return (("authorization", f"Bearer {self._token}"),)

    def invalidate(self) -> None:
        """The token was refused: get a fresh one on the next call (API keys only)."""
        self._token = ""
        self._expires_at = 0.0

    async def _authenticate(self) -> None:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address, options=RECONNECT_OPTIONS)
        stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)
        request = identity_requests_pb2.AuthenticateRequest(
            api_key=identity_pb2.ApiKeyCredentials(secret=self._api_key)
        )
        try:
            resp = await stub.Authenticate(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            err: PolyvisorError = error_for_status(exc.code(), exc.details() or "")
            if isinstance(err, Unauthenticated):
                raise Unauthenticated(f"the agent API key was refused: {exc.details()}") from exc
            raise Unavailable(f"identity service at {self._address}: {exc.details()}") from exc
        self._token = resp.token
        expires = resp.expire_time.ToNanoseconds() / 1e9 if resp.HasField("expire_time") else 0.0
        # Without an expiry, renew every ten minutes anyway.
        self._expires_at = expires or time.time() + 600 + self._margin
        log.info("agent token obtained", expires_in_s=round(self._expires_at - time.time()))

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
