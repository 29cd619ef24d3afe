"""The scheduler's lifespan: database, host index, NATS feed, refresh loop, gRPC server."""

from __future__ import annotations

from contextlib import AsyncExitStack

from polyvisor.common.auth import JwtAuthenticator, TokenVerifier
from polyvisor.common.bus.client import Bus
from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger
from polyvisor.common.revocation import RevocationFeed, Revocations
from polyvisor.scheduler.bus import HostReportFeed
from polyvisor.scheduler.config import SchedulerSettings
from polyvisor.scheduler.handlers.scheduler import (
    SCHEDULER_RULES,
    SERVICE_NAME,
    SchedulerHandlers,
)
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.scheduling import Scheduler
from polyvisor.scheduler.scheduling.core import SchedulerConfig
from polyvisor.scheduler.store import Store
from polyvisor.scheduler.weighers import WeigherConfig
from polyvisor.scheduling.v1 import scheduler_service_pb2_grpc

__all__ = ["SCHEMA", "lifespan", "scheduler_config"]

log = get_logger(__name__)

SCHEMA = "scheduler"
MIGRATIONS = "polyvisor.scheduler.migrations"


def scheduler_config(settings: SchedulerSettings) -> SchedulerConfig:
    return SchedulerConfig(
        weighers=WeigherConfig(
            ram_strategy=settings.ram_weigher,
            ram_multiplier=settings.ram_weight_multiplier,
            cpu_multiplier=settings.cpu_weight_multiplier,
            build_failure_multiplier=settings.build_failure_weight_multiplier,
        ),
        default_alternates=settings.default_alternates,
        failure_window_s=settings.build_failure_window_s,
    )


async def lifespan(settings: SchedulerSettings, stack: AsyncExitStack) -> GrpcServer:
    verifier = TokenVerifier.from_file(settings.token_public_key)
    await migrate(settings.database_url, SCHEMA, MIGRATIONS)
    pool = await create_pool(
        settings.database_url,
        SCHEMA,
        # Connections opened up front: the first burst of claims does not wait for them.
        min_size=min(4, settings.db_pool_size),
        max_size=settings.db_pool_size,
        application_name="scheduler",
        # The store keeps no session state (no SET, LISTEN, cursors or session advisory
        # locks): the reset round trip asyncpg sends on every release is skipped.
        reset_session=False,
    )
    stack.push_async_callback(close_pool, pool)

    scheduler = Scheduler(
        HostIndex(settings.host_timeout_s), Store(pool), scheduler_config(settings)
    )
    await scheduler.load()

    bus = await Bus.connect(
        settings.nats_urls, name=settings.server_id, replicas=settings.nats_replicas
    )
    stack.push_async_callback(bus.close)
    revocations = Revocations(settings.token_ttl_s)
    revocation_feed = RevocationFeed(bus, revocations)
    await revocation_feed.start()
    stack.push_async_callback(revocation_feed.close)

    tasks = BackgroundTasks("scheduler")
    stack.push_async_callback(tasks.close)
    tasks.start("host-reports", HostReportFeed(bus, scheduler).run())
    tasks.start(
        "refresh",
        scheduler.run_refresh(settings.refresh_interval_s, settings.full_refresh_interval_s),
    )
    return GrpcServer(
        settings,
        [
            (
                scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server,
                SchedulerHandlers(scheduler),
                SERVICE_NAME,
            )
        ],
        auth=JwtAuthenticator(verifier, rules=SCHEDULER_RULES, revoked=revocations.revoked),
    )
