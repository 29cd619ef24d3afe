"""One client session: the gRPC channels to the api, the image and the network service, and
the token.

Every call goes through `Session.call` (unary), `Session.stream` (server streaming) or
`Session.upload` (client streaming). They add `authorization: Bearer <token>` metadata,
authenticate first when the token is missing or about to expire, retry a unary call once after
re-authenticating when the service says UNAUTHENTICATED (a token revoked or expired in flight),
and turn every `grpc.RpcError` into the SDK's exceptions (polyvisor.client.errors).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from polyvisor.client.config import CachedToken, Credentials, Endpoint
from polyvisor.client.errors import ConfigError, Unauthenticated, from_rpc_error
from polyvisor.compute.v1 import compute_service_pb2_grpc
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc
from polyvisor.image.v1 import image_service_pb2_grpc
from polyvisor.network.v1 import network_service_pb2_grpc
from polyvisor.volume.v1 import volume_service_pb2_grpc

__all__ = ["Session"]

T = TypeVar("T")

USER_AGENT = "polyvisor-client/0.1"
#: Refresh a token this long before it expires.
TOKEN_MARGIN_S = 30.0
#: Big enough for a 1 MiB chunk plus its framing.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


#: gRPC service config of every channel: a call the server answered UNAVAILABLE (a replica
#: draining on shutdown or closing an old connection, a connection reset) is tried again, up
#: to 4 attempts with backoff. Every Polyvisor RPC may be repeated: reads are reads, and
#: commands are idempotent (request ids, generations). Other codes are never retried.
SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{}],  # every method of every service
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.2s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}
#: Ping a connection that carries a call (a Watch stream) but no data for this long, so a
#: dead peer or a middlebox that dropped the connection is noticed; servers accept pings
#: this often (polyvisor.common.grpcserver).
KEEPALIVE_MS = 60_000


def _channel(endpoint: Endpoint) -> grpc.aio.Channel:
    options = [
        ("grpc.primary_user_agent", USER_AGENT),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
    ]
    if endpoint.tls:
        return grpc.aio.secure_channel(endpoint.target, grpc.ssl_channel_credentials(), options)
    return grpc.aio.insecure_channel(endpoint.target, options)


class Session:
    """Channels and token for one client. Channels open on first use; `close()` is idempotent."""

    def __init__(
        self,
        api: Endpoint,
        image: Endpoint,
        credentials: Credentials,
        *,
        token: CachedToken | None = None,
        on_token: Callable[[CachedToken], None] | None = None,
        timeout: float = 30.0,
        network: Endpoint | None = None,
        volume: Endpoint | None = None,
    ) -> None:
        self.api_endpoint = api
        self.image_endpoint = image
        self.network_endpoint = network
        self.volume_endpoint = volume
        self.credentials = credentials
        self.timeout = timeout
        self._token = token
        self._on_token = on_token
        self._api: grpc.aio.Channel | None = None
        self._image: grpc.aio.Channel | None = None
        self._network: grpc.aio.Channel | None = None
        self._volume: grpc.aio.Channel | None = None
        self._auth_lock: asyncio.Lock | None = None
        self._closed = False
        if credentials.token:
            self._token = CachedToken(token=credentials.token, expires_at=float("inf"))

    # ------------------------------------------------------------------ channels and stubs

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError("the client is closed")

    @property
    def api_channel(self) -> grpc.aio.Channel:
        self._check_open()
        if self._api is None:
            self._api = _channel(self.api_endpoint)
        return self._api

    @property
    def image_channel(self) -> grpc.aio.Channel:
        self._check_open()
        if self._image is None:
            self._image = _channel(self.image_endpoint)
        return self._image

    @property
    def network_channel(self) -> grpc.aio.Channel:
        self._check_open()
        if self.network_endpoint is None:
            raise ConfigError("no network service endpoint (POLYVISOR_NETWORK_URL)")
        if self._network is None:
            self._network = _channel(self.network_endpoint)
        return self._network

    @property
    def volume_channel(self) -> grpc.aio.Channel:
        self._check_open()
        if self.volume_endpoint is None:
            raise ConfigError("no volume service endpoint (POLYVISOR_VOLUME_URL)")
        if self._volume is None:
            self._volume = _channel(self.volume_endpoint)
        return self._volume

    @property
    def compute(self) -> compute_service_pb2_grpc.ComputeServiceStub:
        return compute_service_pb2_grpc.ComputeServiceStub(self.api_channel)

    @property
    def identity(self) -> identity_service_pb2_grpc.IdentityServiceStub:
        return identity_service_pb2_grpc.IdentityServiceStub(self.api_channel)

    @property
    def images(self) -> image_service_pb2_grpc.ImageServiceStub:
        return image_service_pb2_grpc.ImageServiceStub(self.image_channel)

    @property
    def network(self) -> network_service_pb2_grpc.NetworkServiceStub:
        return network_service_pb2_grpc.NetworkServiceStub(self.network_channel)

    @property
    def volume(self) -> volume_service_pb2_grpc.VolumeServiceStub:
        return volume_service_pb2_grpc.VolumeServiceStub(self.volume_channel)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        channels = [
            c for c in (self._api, self._image, self._network, self._volume) if c is not None
        ]
        self._api = self._image = self._network = self._volume = None
        for ch in channels:
            await ch.close()

    # ------------------------------------------------------------------ token

    @property
    def token(self) -> CachedToken | None:
        return self._token

    async def authenticate(self, *, force: bool = False) -> CachedToken:
        """A valid token: the cached one, or a new one from IdentityService.Authenticate."""
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            if not force and self._token is not None and self._token.valid(TOKEN_MARGIN_S):
                return self._token
            creds = self.credentials
            if creds.token:
                if self._token is not None:
                    return self._token
            if not (creds.api_key or (creds.username and creds.password)):
                if self._token is not None and not force:
                    raise ConfigError(
                        "the saved token has expired and no credentials are configured: "
                        "run `polyvisor login` again"
                    )
                raise ConfigError(
                    "no credentials: run `polyvisor login`, or set POLYVISOR_API_KEY, or "
                    "POLYVISOR_USERNAME and POLYVISOR_PASSWORD (and POLYVISOR_PROJECT)"
                )
            if creds.api_key:
                req = identity_requests_pb2.AuthenticateRequest(
                    api_key=identity_pb2.ApiKeyCredentials(secret=creds.api_key)
                )
            else:
                req = identity_requests_pb2.AuthenticateRequest(
                    password=identity_pb2.PasswordCredentials(
                        project=creds.project, username=creds.username, password=creds.password
                    )
                )
            try:
                resp = await self.identity.Authenticate(req, timeout=self.timeout)
            except grpc.RpcError as e:
                raise from_rpc_error(e) from None
            expires = resp.expire_time.seconds + resp.expire_time.nanos / 1e9
            if expires <= 0:
                expires = time.time() + 3600.0
            self._token = CachedToken(
                token=resp.token,
                expires_at=expires,
                user=resp.user.name,
                project=resp.project.name,
                project_id=resp.project.id,
                roles=tuple(
                    identity_pb2.Role.Name(r).removeprefix("ROLE_").lower() for r in resp.roles
                ),
            )
            if self._on_token is not None:
                self._on_token(self._token)
            return self._token

    async def metadata(self, *, force_auth: bool = False) -> list[tuple[str, str]]:
        token = await self.authenticate(force=force_auth)
        return [("authorization", f"Bearer {token.token}")]

    def _can_reauth(self) -> bool:
        c = self.credentials
        return not c.token and bool(c.api_key or (c.username and c.password))

    # ------------------------------------------------------------------ calls

    async def call(
        self, method: Callable[..., Any], request: Any, *, deadline: float | None = None
    ) -> Any:
        """A unary call with auth; UNAUTHENTICATED once means: re-authenticate and retry."""
        t = self.timeout if deadline is None else deadline
        try:
            return await method(request, metadata=await self.metadata(), timeout=t)
        except grpc.RpcError as e:
            err = from_rpc_error(e)
        if isinstance(err, Unauthenticated) and self._can_reauth():
            try:
                return await method(
                    request, metadata=await self.metadata(force_auth=True), timeout=t
                )
            except grpc.RpcError as e:
                raise from_rpc_error(e) from None
        raise err

    async def stream(
        self, method: Callable[..., Any], request: Any, *, deadline: float | None = None
    ) -> AsyncIterator[Any]:
        """A server-streaming call with auth; yields each response. No timeout by default."""
        call = method(request, metadata=await self.metadata(), timeout=deadline)
        try:
            async for item in call:
                yield item
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    async def upload(
        self,
        method: Callable[..., Any],
        requests: AsyncIterable[Any],
        *,
        deadline: float | None = None,
    ) -> Any:
        """A client-streaming call with auth (not retried: the stream cannot be replayed)."""
        md = await self.metadata()
        try:
            return await method(requests, metadata=md, timeout=deadline)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
