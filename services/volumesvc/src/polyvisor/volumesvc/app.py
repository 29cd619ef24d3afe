"""The volume service's lifespan: pool (migrated), the backends, NATS, the outbox publisher,
gRPC.

Everything opened here is closed in reverse by the AsyncExitStack: the gRPC server drains
first (run_service), then the outbox loop stops, NATS drains, the pool closes.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from importlib.resources import files

from polyvisor.common.auth import API_IDENTITY, JwtAuthenticator, MethodRules, TokenVerifier
from polyvisor.common.bus.client import Bus
from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.errors import FailedPrecondition, PolyvisorError
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger
from polyvisor.common.revocation import RevocationFeed, Revocations
from polyvisor.volume.v1 import volume_service_pb2_grpc as svc_grpc
from polyvisor.volumesvc.backends import build_backend
from polyvisor.volumesvc.backends.base import VolumeBackend
from polyvisor.volumesvc.bus import encode_event, ensure_events_stream, outbox_publisher
from polyvisor.volumesvc.config import DEFAULT_HYPERVISORS, VolumeSettings, backend_options
from polyvisor.volumesvc.handlers.volume_service import SERVICE_NAME, VolumeServiceHandlers
from polyvisor.volumesvc.model import VolumeType
from polyvisor.volumesvc.store import Store
from polyvisor.volumesvc.volumes import Volumes

__all__ = ["SCHEMA", "VOLUME_RULES", "build_backends", "lifespan"]

log = get_logger(__name__)

SCHEMA = "volume"

_API = f"service:{API_IDENTITY}"
#: Users (roles and projects checked by the domain) and the api call everything; attachments
#: are the api's (or an admin's) to make and release.
VOLUME_RULES = MethodRules(
    {
        f"/{SERVICE_NAME}/": ("user", _API),
        **{
            f"/{SERVICE_NAME}/{m}": ("admin", _API)
            for m in ("ReserveVolume", "CompleteAttachment", "BeginDetach", "RemoveAttachment")
        },
    }
)


def build_backends(raw: str) -> tuple[dict[str, VolumeBackend], dict[str, VolumeType]]:
    """The configured backends by name, and the volume type each brings (of its name)."""
    backends: dict[str, VolumeBackend] = {}
    types: dict[str, VolumeType] = {}
    for name, opts in backend_options(raw).items():
        hvs = opts.pop("hypervisor_types", "") or DEFAULT_HYPERVISORS.get(opts["kind"], "")
        multi = opts.pop("multiattach", "false").lower() in ("1", "true", "yes")
        try:
            backends[name] = build_backend(opts)
        except PolyvisorError as e:
            raise FailedPrecondition(f"volume backend {name}: {e.message}") from e
        types[name] = VolumeType(
            id="",
            name=name,
            backend=name,
            hypervisor_types=tuple(h.strip().lower() for h in hvs.split(",") if h.strip()),
            multiattach=multi,
            description=f"{opts['kind']} volumes (backend {name})",
        )
    return backends, types


async def lifespan(settings: VolumeSettings, stack: AsyncExitStack) -> GrpcServer:
    try:
        verifier = TokenVerifier.from_file(settings.token_public_key)
    except (OSError, ValueError) as e:
        raise FailedPrecondition(
            f"cannot read the token public key {settings.token_public_key} "
            f"(POLYVISOR_TOKEN_PUBLIC_KEY): {e}"
        ) from e
    backends, types = build_backends(settings.volume_backends)

    await migrate(settings.database_url, SCHEMA, files("polyvisor.volumesvc") / "migrations")
    pool = await create_pool(
        settings.database_url,
        SCHEMA,
        max_size=settings.db_pool_size,
        application_name=f"volume:{settings.server_id}",
    )
    stack.push_async_callback(close_pool, pool)
    store = Store(
        pool,
        encode_event,
        (
            settings.volume_quota_volumes,
            settings.volume_quota_gigabytes,
            settings.volume_quota_snapshots,
        ),
    )
    for t in types.values():
        await store.ensure_type(t)

    bus = await Bus.connect(
        settings.nats_urls, name=settings.server_id, replicas=settings.nats_replicas
    )
    stack.push_async_callback(bus.close)
    await ensure_events_stream(bus)
    revocations = Revocations(settings.token_ttl_s)
    revocation_feed = RevocationFeed(bus, revocations)
    await revocation_feed.start()
    stack.push_async_callback(revocation_feed.close)

    tasks = BackgroundTasks("volume")
    stack.push_async_callback(tasks.close)
    outbox = outbox_publisher(store, bus, settings.outbox_poll_s)
    tasks.start("outbox", outbox.run())

    volumes = Volumes(store, backends, settings.default_volume_type, None, outbox.wake)
    log.info("volume service ready", backends=sorted(backends))
    return GrpcServer(
        settings,
        [
            (
                svc_grpc.add_VolumeServiceServicer_to_server,
                VolumeServiceHandlers(volumes),
                SERVICE_NAME,
            )
        ],
        auth=JwtAuthenticator(verifier, rules=VOLUME_RULES, revoked=revocations.revoked),
    )
