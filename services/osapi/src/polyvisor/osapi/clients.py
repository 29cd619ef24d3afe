"""The gRPC services the gateway calls, with the caller's own token: every call is the
caller's, so each service applies its own rules to it (the gateway decides nothing)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc

from polyvisor.compute.v1 import compute_service_pb2_grpc
from polyvisor.identity.v1 import identity_service_pb2_grpc
from polyvisor.image.v1 import image_service_pb2_grpc
from polyvisor.network.v1 import network_service_pb2_grpc
from polyvisor.volume.v1 import volume_service_pb2_grpc

__all__ = ["Apis", "Stubs"]

#: A 1 MiB image chunk and its framing fit.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
#: A call answered UNAVAILABLE (a replica draining) is tried again, as the SDK does.
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


@dataclass(frozen=True, slots=True)
class Stubs:
    compute: compute_service_pb2_grpc.ComputeServiceStub
    identity: identity_service_pb2_grpc.IdentityServiceStub
    images: image_service_pb2_grpc.ImageServiceStub
    network: network_service_pb2_grpc.NetworkServiceStub
    #: None: the gateway has no volume service (no Cinder, no volumes_attached).
    volumes: volume_service_pb2_grpc.VolumeServiceStub | None
    md: tuple[tuple[str, str], ...]
    timeout: float


def _channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.primary_user_agent", "polyvisor-osapi/0.1"),
        ],
    )


class Apis:
    def __init__(
        self,
        api: str,
        imagesvc: str,
        networksvc: str,
        volumesvc: str = "127.0.0.1:50058",
        timeout_s: float = 60.0,
    ) -> None:
        self._api = _channel(api)
        self._images = _channel(imagesvc)
        self._network = _channel(networksvc)
        self._volumes = _channel(volumesvc) if volumesvc else None
        self._timeout = timeout_s
        self._compute = compute_service_pb2_grpc.ComputeServiceStub(self._api)
        self._identity = identity_service_pb2_grpc.IdentityServiceStub(self._api)
        self._image = image_service_pb2_grpc.ImageServiceStub(self._images)
        self._net = network_service_pb2_grpc.NetworkServiceStub(self._network)
        self._vol = (
            volume_service_pb2_grpc.VolumeServiceStub(self._volumes) if self._volumes else None
        )

    def as_user(self, token: str = "") -> Stubs:
        md = (("authorization", f"Bearer {token}"),) if token else ()
        return Stubs(self._compute, self._identity, self._image, self._net, self._vol, md,
                     self._timeout)  # fmt: skip

    async def close(self) -> None:
        for ch in (self._api, self._images, self._network, self._volumes):
            if ch is not None:
                await ch.close()
