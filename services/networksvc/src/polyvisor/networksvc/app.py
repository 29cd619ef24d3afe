"""The network service's lifespan: pool (migrated), NATS, the outbox publisher, gRPC.

Everything opened here is closed in reverse by the AsyncExitStack: the gRPC server drains
first (run_service), then the outbox loop stops, NATS drains, the pool closes.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from importlib.resources import files

from polyvisor.common.auth import API_IDENTITY, JwtAuthenticator, MethodRules, TokenVerifier
from polyvisor.common.bus.client import Bus
from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.errors import FailedPrecondition
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger
from polyvisor.common.revocation import RevocationFeed, Revocations
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.networksvc.bus import encode_event, ensure_events_stream, outbox_publisher
from polyvisor.networksvc.config import NetworkSettings
from polyvisor.networksvc.handlers.network_service import SERVICE_NAME, NetworkServiceHandlers
from polyvisor.networksvc.networks import Networks
from polyvisor.networksvc.ports import Ports
from polyvisor.networksvc.secgroups import SecurityGroups
from polyvisor.networksvc.store import Store
from polyvisor.networksvc.validation import parse_vlan_ranges

__all__ = ["SCHEMA", "lifespan"]

log = get_logger(__name__)

SCHEMA = "network"

_API = f"service:{API_IDENTITY}"
_READ = ("user", "agent", _API)
#: Users (roles and projects checked by the handlers) and the api (ports of the servers it
#: builds) call everything but the binding calls; binding a port is the api's or an admin's;
#: an agent reads ports, networks, subnets, groups and binding specs, and reports bindings
#: (of its own host: checked by the handler).
NETWORK_RULES = MethodRules(
    {
        f"/{SERVICE_NAME}/": ("user", _API),
        **{
            f"/{SERVICE_NAME}/{m}": _READ
            for m in (
                "GetNetwork",
                "GetSubnet",
                "GetPort",
                "ListPorts",
                "GetSecurityGroup",
                "GetSecurityGroupMembers",
                "ListSecurityGroupRules",
                "GetPortBindingSpec",
            )
        },
        f"/{SERVICE_NAME}/BindPort": ("admin", _API),
        f"/{SERVICE_NAME}/UnbindPort": ("admin", _API),
        f"/{SERVICE_NAME}/SetPortBindingState": ("admin", "agent"),
    }
)


async def lifespan(settings: NetworkSettings, stack: AsyncExitStack) -> GrpcServer:
    try:
        verifier = TokenVerifier.from_file(settings.token_public_key)
    except (OSError, ValueError) as e:
        raise FailedPrecondition(
            f"cannot read the token public key {settings.token_public_key} "
            f"(POLYVISOR_TOKEN_PUBLIC_KEY): {e}"
        ) from e
    ranges = parse_vlan_ranges(settings.physical_networks)

    await migrate(settings.database_url, SCHEMA, files("polyvisor.networksvc") / "migrations")
    pool = await create_pool(
        settings.database_url,
        SCHEMA,
        max_size=settings.db_pool_size,
        application_name=f"network:{settings.server_id}",
    )
    stack.push_async_callback(close_pool, pool)
    store = Store(pool, encode_event)

    bus = await Bus.connect(
        settings.nats_urls, name=settings.server_id, replicas=settings.nats_replicas
    )
    stack.push_async_callback(bus.close)
    await ensure_events_stream(bus)
    revocations = Revocations(settings.token_ttl_s)
    revocation_feed = RevocationFeed(bus, revocations)
    await revocation_feed.start()
    stack.push_async_callback(revocation_feed.close)

    tasks = BackgroundTasks("network")
    stack.push_async_callback(tasks.close)
    outbox = outbox_publisher(store, bus, settings.outbox_poll_s)
    tasks.start("outbox", outbox.run())

    networks = Networks(store, ranges, settings.default_mtu)
    ports = Ports(store, networks, outbox.wake)
    groups = SecurityGroups(store, outbox.wake)
    handlers = NetworkServiceHandlers(networks, ports, groups)
    log.info("network service ready", physical_networks=sorted(ranges) or "any")
    return GrpcServer(
        settings,
        [(svc_grpc.add_NetworkServiceServicer_to_server, handlers, SERVICE_NAME)],
        auth=JwtAuthenticator(verifier, rules=NETWORK_RULES, revoked=revocations.revoked),
    )
