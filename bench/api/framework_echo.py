"""A trivial method served the way every Polyvisor service serves gRPC (polyvisor.common's
GrpcServer: metrics, errors and request id, auth with a real token), for bench/api/run.py:
the cost of the shared gRPC framework alone, between the bare echo and the api.

    python bench/api/framework_echo.py PORT PUBLIC_KEY_PEM_PATH
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import uvloop  # noqa: E402

from polyvisor.common.auth import JwtAuthenticator, TokenVerifier  # noqa: E402
from polyvisor.common.config import ServiceSettings  # noqa: E402
from polyvisor.common.grpcserver import GrpcServer  # noqa: E402
from polyvisor.identity.v1 import identity_requests_pb2 as pb  # noqa: E402
from polyvisor.identity.v1 import identity_service_pb2_grpc  # noqa: E402

SERVICE = "polyvisor.identity.v1.IdentityService"


class Echo(identity_service_pb2_grpc.IdentityServiceServicer):
    async def ValidateToken(
        self, request: pb.ValidateTokenRequest, context: object
    ) -> pb.ValidateTokenResponse:
        return pb.ValidateTokenResponse()


async def main(port: int, public_key: Path) -> None:
    settings = ServiceSettings(grpc_host="127.0.0.1", grpc_port=port, log_level="WARNING")
    server = GrpcServer(
        settings,
        [(identity_service_pb2_grpc.add_IdentityServiceServicer_to_server, Echo(), SERVICE)],
        auth=JwtAuthenticator(TokenVerifier.from_file(public_key)),
    )
    await server.start()
    await server.set_serving()
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), Path(sys.argv[2])))
