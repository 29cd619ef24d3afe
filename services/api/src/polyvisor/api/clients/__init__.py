"""gRPC clients of the scheduler, the image service and the network service. Their errors
are mapped to the project's errors here, at the boundary."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from polyvisor.api import models as m
from polyvisor.api.clients.base import CHANNEL_OPTIONS, map_rpc_error
from polyvisor.api.clients.network import DEVICE_OWNER, NetworkClient
from polyvisor.api.convert import images as image_convert
from polyvisor.api.convert import scheduling as sched_convert
from polyvisor.api.placement import NoValidHost, Placement, PlacementRequest
from polyvisor.common.auth import API_IDENTITY, KIND_SERVICE, TokenSigner
from polyvisor.common.errors import (
    NotFound,
    Unavailable,
)
from polyvisor.common.interceptors import REQUEST_ID_KEY, current_request_id
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc

__all__ = [
    "CHANNEL_OPTIONS",
    "DEVICE_OWNER",
    "ImageClient",
    "NetworkClient",
    "SchedulerClient",
    "ServiceToken",
    "map_rpc_error",
]


class ServiceToken:
    """The api's own service token for internal calls, renewed before it expires: the
    identity ``polyvisor-api``, no role; the scheduler opens its claims to it alone."""

    def __init__(self, signer: TokenSigner, ttl_s: float = 3600.0) -> None:
        self._signer = signer
        self._ttl = ttl_s
        self._token = ""
        self._expires = 0.0

    def metadata(self) -> tuple[tuple[str, str], ...]:
        now = time.time()
        if now > self._expires - self._ttl / 4:
            self._token, principal = self._signer.issue(
                user_id=API_IDENTITY,
                project_id="",
                roles=(),
                username=API_IDENTITY,
                kind=KIND_SERVICE,
                ttl_s=self._ttl,
            )
            self._expires = principal.expires_at
        out: list[tuple[str, str]] = [("authorization", f"Bearer {self._token}")]
        rid = current_request_id()
        if rid:
            out.append((REQUEST_ID_KEY, rid))
        return tuple(out)


class SchedulerClient:
    PEER = "scheduler"

    def __init__(self, address: str, token: Callable[[], Any], timeout_s: float = 10.0) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = scheduler_service_pb2_grpc.SchedulerServiceStub(self._channel)
        self._token = token
        self.timeout_s = timeout_s

    async def _call(self, method: Callable[..., Any], request: Any) -> Any:
        try:
            return await method(request, timeout=self.timeout_s, metadata=self._token())
        except grpc.aio.AioRpcError as e:
            raise map_rpc_error(e, self.PEER) from e

    async def select(self, req: PlacementRequest) -> Placement | NoValidHost:
        resp = await self._call(self.stub.SelectDestinations, sched_convert.select_request(req))
        return sched_convert.select_response(resp, req.server_id)

    async def check_host(self, req: PlacementRequest, host: str) -> NoValidHost | None:
        """Whether `host` can run the image `req` names, by the scheduler's image filters
        (nothing claimed); None when it can, otherwise the scheduler's explanation."""
        resp = await self._call(
            self.stub.CheckHost,
            scheduler_pb2.CheckHostRequest(host=host, spec=sched_convert.select_request(req).spec),
        )
        if resp.fits:
            return None
        return sched_convert.no_valid_host(resp.no_valid_host)

    async def move_claim(
        self, server_id: str, to_host: str, from_host: str, detail: str = ""
    ) -> m.Alternate:
        """Move a claim away from a host where the build failed (counted against it)."""
        resp = await self._call(
            self.stub.MoveClaim,
            scheduler_pb2.MoveClaimRequest(
                consumer_id=server_id,
                to_host=to_host,
                from_host=from_host,
                reason=scheduler_pb2.RELEASE_REASON_BUILD_FAILED,
                detail=detail[:1000],
            ),
        )
        return sched_convert.alternate(resp.selection)

    async def release_claim(
        self, server_id: str, reason: str = "DELETED", detail: str = ""
    ) -> bool:
        """Give a claim back (idempotent); BUILD_FAILED counts against the host."""
        code = (
            scheduler_pb2.RELEASE_REASON_BUILD_FAILED
            if reason == "BUILD_FAILED"
            else scheduler_pb2.RELEASE_REASON_DELETED
        )
        try:
            resp = await self._call(
                self.stub.ReleaseClaim,
                scheduler_pb2.ReleaseClaimRequest(
                    consumer_id=server_id, reason=code, detail=detail[:1000]
                ),
            )
        except NotFound:
            return False
        return bool(resp.released)

    async def list_providers(
        self, request: scheduler_pb2.ListProvidersRequest
    ) -> scheduler_pb2.ListProvidersResponse:
        return await self._call(self.stub.ListProviders, request)

    async def get_provider(self, provider_id: str) -> Any:
        resp = await self._call(
            self.stub.GetProvider, scheduler_pb2.GetProviderRequest(provider_id=provider_id)
        )
        return resp.provider

    async def set_provider_enabled(self, provider_id: str, enabled: bool, reason: str) -> Any:
        resp = await self._call(
            self.stub.SetProviderEnabled,
            scheduler_pb2.SetProviderEnabledRequest(
                provider_id=provider_id, enabled=enabled, disabled_reason=reason
            ),
        )
        return resp.provider

    async def close(self) -> None:
        await self._channel.close()


class ImageClient:
    PEER = "image service"

    def __init__(
        self,
        address: str,
        timeout_s: float = 10.0,
        token: Callable[[], Any] | None = None,
    ) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = image_service_pb2_grpc.ImageServiceStub(self._channel)
        self.timeout_s = timeout_s
        # The api's own token (`ServiceToken.metadata`): only to kill the snapshots it made.
        self._token = token

    async def get_image(self, image_id: str, bearer: str) -> m.ImageInfo:
        """The image as the caller (whose token is forwarded) may see it."""
        metadata: list[tuple[str, str]] = [("authorization", f"Bearer {bearer}")]
        rid = current_request_id()
        if rid:
            metadata.append((REQUEST_ID_KEY, rid))
        try:
            resp = await self.stub.GetImage(
                images_pb2.GetImageRequest(image_id=image_id),
                timeout=self.timeout_s,
                metadata=tuple(metadata),
            )
        except grpc.aio.AioRpcError as e:
            if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                raise NotFound(f"image {image_id} not found", {"image_id": image_id}) from e
            if e.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise NotFound(
                    f"image {image_id} not found ({e.details()})", {"image_id": image_id}
                ) from e
            raise map_rpc_error(e, self.PEER) from e
        return image_convert.image_info(resp.image)

    def _metadata(self, bearer: str) -> tuple[tuple[str, str], ...]:
        metadata: list[tuple[str, str]] = [("authorization", f"Bearer {bearer}")]
        rid = current_request_id()
        if rid:
            metadata.append((REQUEST_ID_KEY, rid))
        return tuple(metadata)

    async def create_image(self, draft: images_pb2.Image, request_id: str, bearer: str) -> str:
        """A new QUEUED image, made as the caller (whose token is forwarded): its project owns
        it. Returns its id."""
        try:
            resp = await self.stub.CreateImage(
                images_pb2.CreateImageRequest(request_id=request_id, image=draft),
                timeout=self.timeout_s,
                metadata=self._metadata(bearer),
            )
        except grpc.aio.AioRpcError as e:
            raise map_rpc_error(e, self.PEER) from e
        return str(resp.image.id)

    async def delete_image(self, image_id: str, bearer: str) -> None:
        try:
            await self.stub.DeleteImage(
                images_pb2.DeleteImageRequest(image_id=image_id),
                timeout=self.timeout_s,
                metadata=self._metadata(bearer),
            )
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise map_rpc_error(e, self.PEER) from e

    async def delete_transfer_image(self, image_id: str) -> None:
        """Delete, as the api, the image a move across hypervisor types carried a server's
        disk in (the image service lets the api delete those only); gone already is done."""
        if self._token is None:
            raise Unavailable("the api has no service identity for the image service")
        try:
            await self.stub.DeleteImage(
                images_pb2.DeleteImageRequest(image_id=image_id),
                timeout=self.timeout_s,
                metadata=self._token(),
            )
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise map_rpc_error(e, self.PEER) from e

    async def fail_snapshot(self, image_id: str, reason: str) -> str:
        """Kill the snapshot image `image_id` with `reason`, as the api (no caller is waiting:
        the snapshot failed or timed out). Returns what became of it: "killed", or the state
        that made a kill needless ("gone", "not queued"). Unavailable while an upload is still
        saving it (the image service queues it again once that upload stops beating)."""
        if self._token is None:
            raise Unavailable("the api has no service identity for the image service")
        header = images_pb2.UploadImageHeader(image_id=image_id, failure=reason[:900] or "failed")

        async def requests() -> Any:
            yield images_pb2.UploadImageRequest(header=header)

        try:
            await self.stub.UploadImage(requests(), timeout=self.timeout_s, metadata=self._token())
        except grpc.aio.AioRpcError as e:
            code = e.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                return "killed"  # the refusal carries the reason we gave: done
            if code == grpc.StatusCode.NOT_FOUND:
                return "gone"
            if code == grpc.StatusCode.FAILED_PRECONDITION:
                if "saving" in (e.details() or ""):
                    raise Unavailable(f"image {image_id} is still saving: {e.details()}") from e
                return "not queued"  # ACTIVE (the upload made it after all) or KILLED
            raise map_rpc_error(e, self.PEER) from e
        return "killed"

    async def close(self) -> None:
        await self._channel.close()
