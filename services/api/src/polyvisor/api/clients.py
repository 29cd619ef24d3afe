"""gRPC clients of the scheduler, the image service and the network service. Their errors are
mapped to the project's errors here, at the boundary.

One concern: the api's edge towards its peer services (each client's calls, and how each
peer's status codes become the project's errors); the domain never sees their messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from polyvisor.api import models as m
from polyvisor.api.convert import images as image_convert
from polyvisor.api.convert import scheduling as sched_convert
from polyvisor.api.placement import NoValidHost, Placement, PlacementRequest
from polyvisor.common.auth import API_IDENTITY, KIND_SERVICE, TokenSigner
from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.common.errors import (
    FailedPrecondition,
    NotFound,
    PolyvisorError,
    Unavailable,
    error_for_status,
)
from polyvisor.common.interceptors import REQUEST_ID_KEY, current_request_id
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.network.v1 import bindings_pb2, network_service_pb2_grpc, networks_pb2
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc

CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    *RECONNECT_OPTIONS,
)


def map_rpc_error(exc: grpc.aio.AioRpcError, peer: str) -> PolyvisorError:
    code = exc.code()
    message = exc.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{peer} unavailable: {message}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return FailedPrecondition(f"{peer} does not implement this: {message}")
    err = error_for_status(code, f"{peer}: {message}")
    if type(err) is PolyvisorError:  # no dedicated class: an internal failure of the peer
        return Unavailable(f"{peer} failed ({code.name}): {message}")
    return err


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


class NetworkClient:
    """The network service (polyvisor.network.v1): what the caller may use is checked with the
    caller's token (forwarded); the ports of the servers the api builds are made, bound and
    freed with the api's own service token (docs/networking.md, "Who binds, who plumbs")."""

    PEER = "network service"

    def __init__(self, address: str, token: Callable[[], Any], timeout_s: float = 10.0) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = network_service_pb2_grpc.NetworkServiceStub(self._channel)
        self._token = token
        self.timeout_s = timeout_s

    async def _call(self, method: Callable[..., Any], request: Any, bearer: str = "") -> Any:
        metadata = _bearer_metadata(bearer) if bearer else self._token()
        try:
            return await method(request, timeout=self.timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as e:
            raise map_rpc_error(e, self.PEER) from e

    # ------------------------------------------------------------------ as the caller

    async def usable_networks(self, bearer: str) -> list[m.NetworkRef]:
        """The networks the caller's project may put a server on (its own and shared)."""
        out: list[m.NetworkRef] = []
        token = ""
        while True:
            resp = await self._call(
                self.stub.ListNetworks,
                networks_pb2.ListNetworksRequest(page_size=1000, page_token=token),
                bearer,
            )
            out.extend(m.NetworkRef(n.id, n.name, n.physical_network) for n in resp.networks)
            token = resp.next_page_token
            if not token:
                return out

    async def get_network(self, network_id: str, bearer: str) -> m.NetworkRef:
        resp = await self._call(
            self.stub.GetNetwork, networks_pb2.GetNetworkRequest(network_id=network_id), bearer
        )
        n = resp.network
        return m.NetworkRef(n.id, n.name, n.physical_network)

    async def get_port(self, port_id: str, bearer: str = "") -> m.PortRef:
        """The port as the caller sees it (another project's port: NOT_FOUND); without a
        bearer, as the api."""
        resp = await self._call(
            self.stub.GetPort, networks_pb2.GetPortRequest(port_id=port_id), bearer
        )
        return _port_ref(resp.port)

    # ------------------------------------------------------------------ as the api

    async def create_port(
        self, project_id: str, network_id: str, fixed_ip: str, device_id: str, request_id: str
    ) -> m.PortRef:
        """A port of `project_id` for the server `device_id` (idempotent on `request_id`)."""
        port = networks_pb2.Port(
            project_id=project_id,
            network_id=network_id,
            device_id=device_id,
            device_owner=DEVICE_OWNER,
        )
        if fixed_ip:
            port.fixed_ips.add(ip_address=fixed_ip)
        resp = await self._call(
            self.stub.CreatePort,
            networks_pb2.CreatePortRequest(request_id=request_id, port=port),
        )
        return _port_ref(resp.port)

    async def bind_port(
        self, port_id: str, host: str, vmware: bool, device_id: str
    ) -> tuple[Any, list[m.Address]]:
        """Bind the port to `host` (rebinding it when a reschedule moved the server): its
        binding spec (opaque past here: the spawn command carries it) and its addresses."""
        current = await self.get_port(port_id)
        if current.host and current.host != host:
            await self.unbind_port(port_id, keep_device=True)
        resp = await self._call(
            self.stub.BindPort,
            bindings_pb2.BindPortRequest(
                port_id=port_id,
                host=host,
                vif_type=(
                    networks_pb2.VIF_TYPE_VMWARE_PORTGROUP
                    if vmware
                    else networks_pb2.VIF_TYPE_BRIDGE
                ),
                device_id=device_id,
                device_owner=DEVICE_OWNER,
            ),
        )
        spec = resp.spec
        name = await self._network_name(spec.network_id)
        addresses = [
            m.Address(
                network=name,
                address=ip.ip_address,
                version=6 if ip.ip_version == networks_pb2.IP_VERSION_6 else 4,
                mac_address=spec.mac_address,
            )
            for ip in spec.ips
        ]
        return spec, addresses

    async def _network_name(self, network_id: str) -> str:
        try:
            resp = await self._call(
                self.stub.GetNetwork, networks_pb2.GetNetworkRequest(network_id=network_id)
            )
        except NotFound:
            return network_id
        return str(resp.network.name or network_id)

    async def unbind_port(self, port_id: str, keep_device: bool = False) -> None:
        try:
            await self._call(
                self.stub.UnbindPort,
                bindings_pb2.UnbindPortRequest(port_id=port_id, keep_device=keep_device),
            )
        except NotFound:
            pass

    async def delete_port(self, port_id: str) -> None:
        try:
            await self._call(self.stub.DeletePort, networks_pb2.DeletePortRequest(port_id=port_id))
        except NotFound:
            pass

    async def ports_of(self, device_id: str) -> list[m.PortRef]:
        """Every port whose device is `device_id` (any project)."""
        out: list[m.PortRef] = []
        token = ""
        while True:
            resp = await self._call(
                self.stub.ListPorts,
                networks_pb2.ListPortsRequest(
                    page_size=1000, page_token=token, device_id=device_id, all_projects=True
                ),
            )
            out.extend(_port_ref(p) for p in resp.ports)
            token = resp.next_page_token
            if not token:
                return out

    async def close(self) -> None:
        await self._channel.close()


# The device owner of the ports of servers (Neutron's "compute:<zone>").
DEVICE_OWNER = "compute:polyvisor"


def _bearer_metadata(bearer: str) -> tuple[tuple[str, str], ...]:
    metadata: list[tuple[str, str]] = [("authorization", f"Bearer {bearer}")]
    rid = current_request_id()
    if rid:
        metadata.append((REQUEST_ID_KEY, rid))
    return tuple(metadata)


def _port_ref(p: Any) -> m.PortRef:
    return m.PortRef(
        id=p.id,
        network_id=p.network_id,
        project_id=p.project_id,
        device_id=p.device_id,
        mac_address=p.mac_address,
        host=p.binding.host if p.HasField("binding") else "",
        port_security_enforced=(
            p.binding.port_security_enforced if p.HasField("binding") else False
        ),
        port_security_enabled=p.port_security_enabled
        if p.HasField("port_security_enabled")
        else True,
    )
