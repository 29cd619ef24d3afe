"""The public gRPC APIs, called with the logged-in user's token."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.compute.v1 import compute_service_pb2_grpc
from polyvisor.identity.v1 import identity_service_pb2_grpc
from polyvisor.image.v1 import image_service_pb2_grpc
from polyvisor.network.v1 import network_service_pb2_grpc

__all__ = ["Apis", "Stubs"]


@dataclass(frozen=True, slots=True)
class Stubs:
    compute: compute_service_pb2_grpc.ComputeServiceStub
    identity: identity_service_pb2_grpc.IdentityServiceStub
    images: image_service_pb2_grpc.ImageServiceStub
    network: network_service_pb2_grpc.NetworkServiceStub
    md: tuple[tuple[str, str], ...]


class Apis:
    def __init__(self, api: str, imagesvc: str, networksvc: str) -> None:
        self._api = grpc.aio.insecure_channel(api, options=RECONNECT_OPTIONS)
        self._images = grpc.aio.insecure_channel(imagesvc, options=RECONNECT_OPTIONS)
        self._network = grpc.aio.insecure_channel(networksvc, options=RECONNECT_OPTIONS)

    def as_user(self, token: str = "") -> Stubs:
        md = (("authorization", f"Bearer {token}"),) if token else ()
        return Stubs(
            compute_service_pb2_grpc.ComputeServiceStub(self._api),
            identity_service_pb2_grpc.IdentityServiceStub(self._api),
            image_service_pb2_grpc.ImageServiceStub(self._images),
            network_service_pb2_grpc.NetworkServiceStub(self._network),
            md,
        )

    async def close(self) -> None:
        for ch in (self._api, self._images, self._network):
            await ch.close()
