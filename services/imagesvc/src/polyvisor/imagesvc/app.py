"""The image service's lifespan: pool (migrated), NATS, store, domain, background loops, gRPC.

Everything opened here is closed in reverse by the AsyncExitStack: the gRPC server drains
first (run_service), then conversions in flight are cancelled (their temp files removed,
their claims given back), the background loops stop, NATS drains, the pool closes.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from importlib.resources import files

from polyvisor.common.auth import API_IDENTITY, JwtAuthenticator, MethodRules, TokenVerifier
from polyvisor.common.bus.client import Bus
from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.errors import FailedPrecondition
from polyvisor.common.grants import ImageGrantFeed, ImageGrants
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger
from polyvisor.common.rbd import Rbd, RbdTarget
from polyvisor.common.revocation import RevocationFeed, Revocations
from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc
from polyvisor.imagesvc.blobstore import FilesystemStore
from polyvisor.imagesvc.bus import ensure_events_stream, outbox_publisher
from polyvisor.imagesvc.catalogue import Catalogue
from polyvisor.imagesvc.config import ImageSettings
from polyvisor.imagesvc.handlers.image_service import SERVICE_NAME, ImageServiceHandlers
from polyvisor.imagesvc.qemu import QemuImg
from polyvisor.imagesvc.quotas import Quotas
from polyvisor.imagesvc.rbdstore import RbdStore
from polyvisor.imagesvc.renditions import Renditions
from polyvisor.imagesvc.store import Store
from polyvisor.imagesvc.uploads import Uploads

__all__ = ["SCHEMA", "lifespan"]

log = get_logger(__name__)

SCHEMA = "imagesvc"


def _blob_store(settings: ImageSettings) -> FilesystemStore:
    if settings.store_backend == "rbd":
        target = RbdTarget(
            settings.store_rbd_conf, settings.store_rbd_user, settings.store_rbd_keyring
        )
        log.info("image store in Ceph RBD", pool=settings.store_rbd_pool, conf=target.conf)
        return RbdStore(
            settings.store_dir, Rbd(target), settings.store_rbd_pool, fsync=settings.store_fsync
        )
    return FilesystemStore(settings.store_dir, fsync=settings.store_fsync)


async def _reaper(settings: ImageSettings, store: Store, blobs: FilesystemStore) -> None:
    """Give back uploads whose process died; remove temp files nobody writes any more."""
    while True:
        try:
            for image_id in await store.requeue_stale_uploads(settings.claim_stale_s):
                log.warning("abandoned upload requeued", image_id=image_id)
            await asyncio.to_thread(blobs.sweep_temp, settings.temp_max_age_s)
            await store.prune_conversion_usage(settings.conversion_window_s)
        except Exception as e:  # the next round may succeed (database back, disk freed)
            log.warning("reaper round failed", error=repr(e))
        await asyncio.sleep(settings.reaper_interval_s)


#: Users (roles and projects checked by the handlers) call everything; an agent reads an
#: image, downloads its rendition, and uploads the snapshot images that name its host (checked
#: by `access.require_upload`); the api kills the snapshot images it made when the snapshot
#: failed or timed out (an upload with a failure and no data, also checked there) and deletes
#: the transfer images of moves across hypervisor types (`access.require_delete`); the other
#: services' identities call nothing.
IMAGE_RULES = MethodRules(
    {
        f"/{SERVICE_NAME}/": ("user",),
        f"/{SERVICE_NAME}/GetImage": ("user", "agent"),
        f"/{SERVICE_NAME}/DownloadImage": ("user", "agent"),
        f"/{SERVICE_NAME}/UploadImage": ("user", "agent", f"service:{API_IDENTITY}"),
        f"/{SERVICE_NAME}/DeleteImage": ("user", f"service:{API_IDENTITY}"),
    }
)


async def lifespan(settings: ImageSettings, stack: AsyncExitStack) -> GrpcServer:
    try:
        verifier = TokenVerifier.from_file(settings.token_public_key)
    except (OSError, ValueError) as e:
        raise FailedPrecondition(
            f"cannot read the token public key {settings.token_public_key} "
            f"(POLYVISOR_TOKEN_PUBLIC_KEY): {e}"
        ) from e

    await migrate(settings.database_url, SCHEMA, files("polyvisor.imagesvc") / "migrations")
    pool = await create_pool(
        settings.database_url,
        SCHEMA,
        max_size=settings.db_pool_size,
        application_name=f"imagesvc:{settings.server_id}",
    )
    stack.push_async_callback(close_pool, pool)
    store = Store(pool)

    bus = await Bus.connect(
        settings.nats_urls, name=settings.server_id, replicas=settings.nats_replicas
    )
    stack.push_async_callback(bus.close)
    await ensure_events_stream(bus)
    revocations = Revocations(settings.token_ttl_s)
    revocation_feed = RevocationFeed(bus, revocations)
    await revocation_feed.start()
    stack.push_async_callback(revocation_feed.close)
    grants = ImageGrants()  # the images each agent was told to fetch
    grant_feed = ImageGrantFeed(bus, grants)
    await grant_feed.start()
    stack.push_async_callback(grant_feed.close)

    blobs = _blob_store(settings)
    qemu = QemuImg(
        settings.qemu_img,
        info_timeout_s=settings.info_timeout_s,
        convert_timeout_s=settings.convert_timeout_s,
        address_space_bytes=settings.qemu_address_space_bytes,
        threads=settings.max_conversions + 6,
    )
    stack.callback(qemu.close)

    tasks = BackgroundTasks("imagesvc")
    stack.push_async_callback(tasks.close)
    outbox = outbox_publisher(store, bus, poll_s=settings.outbox_poll_s)
    tasks.start("outbox", outbox.run())
    tasks.start("reaper", _reaper(settings, store, blobs))

    quotas = Quotas(
        stored_bytes=settings.project_max_stored_bytes,
        conversion_seconds=settings.project_conversion_seconds,
        window_s=settings.conversion_window_s,
        conversions_per_project=settings.project_max_conversions,
    )
    uploads = Uploads(
        store,
        blobs,
        qemu,
        server_id=settings.server_id,
        max_virtual_size=settings.max_virtual_size,
        max_upload_bytes=settings.max_upload_bytes,
        heartbeat_s=settings.heartbeat_s,
        wake_outbox=outbox.wake,
        max_project_bytes=settings.project_max_stored_bytes,
    )
    renditions = Renditions(
        store,
        blobs,
        qemu,
        server_id=settings.server_id,
        max_conversions=settings.max_conversions,
        max_virtual_size=settings.max_virtual_size,
        claim_stale_s=settings.claim_stale_s,
        heartbeat_s=settings.heartbeat_s,
        wake_outbox=outbox.wake,
        quotas=quotas,
    )
    stack.push_async_callback(renditions.close)
    catalogue = Catalogue(
        store, blobs, outbox.wake, on_deleted=renditions.cancel_image, agent_grants=grants
    )

    handlers = ImageServiceHandlers(catalogue, uploads, renditions)
    log.info("image store ready", root=str(blobs.root), max_virtual_size=settings.max_virtual_size)
    return GrpcServer(
        settings,
        [(svc_grpc.add_ImageServiceServicer_to_server, handlers, SERVICE_NAME)],
        auth=JwtAuthenticator(verifier, rules=IMAGE_RULES, revoked=revocations.revoked),
    )
