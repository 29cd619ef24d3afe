"""The api's lifespan: keys, database, bus, clients, background loops, gRPC server.

Everything opened here is closed in reverse order by the exit stack; every background loop
belongs to one `BackgroundTasks` and stops when it closes."""

from __future__ import annotations

from contextlib import AsyncExitStack
from importlib.resources import files

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc
from polyvisor.api.adoption import Adoption
from polyvisor.api.authn import API_RULES, IDENTITY_AUTHENTICATE
from polyvisor.api.bus import ApiBus, event_handler
from polyvisor.api.clients import ImageClient, NetworkClient, SchedulerClient, ServiceToken
from polyvisor.api.clients.volume import VolumeClient
from polyvisor.api.config import ApiSettings
from polyvisor.api.console_sessions import ConsoleSessions
from polyvisor.api.evacuation import Evacuation
from polyvisor.api.events import EventApplier
from polyvisor.api.flavors import Flavors
from polyvisor.api.groups import ServerGroups
from polyvisor.api.handlers.agent_callback import AgentCallbackHandlers
from polyvisor.api.handlers.compute import ComputeHandlers
from polyvisor.api.handlers.consoleauth import ConsoleAuthHandlers
from polyvisor.api.handlers.identity import IdentityHandlers
from polyvisor.api.identity import Identity
from polyvisor.api.keypairs import Keypairs
from polyvisor.api.orchestrator import Orchestrator
from polyvisor.api.ports import ServerPorts
from polyvisor.api.quotas import Quotas
from polyvisor.api.readcache import ReadCache
from polyvisor.api.reaper import Reaper
from polyvisor.api.serverindex import ServerIndex
from polyvisor.api.servers import Servers
from polyvisor.api.store.listener import PgListener
from polyvisor.api.store.outbox import WAKE_CHANNEL
from polyvisor.api.store.servers import CHANGES_CHANNEL
from polyvisor.api.throttle import LoginThrottle
from polyvisor.api.watch import ChangeFeed
from polyvisor.common.auth import JwtAuthenticator, TokenSigner, TokenVerifier, ensure_keypair
from polyvisor.common.bus.client import Bus
from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.grants import ImageGrantFeed, ImageGrants
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger
from polyvisor.common.revocation import RevocationFeed, Revocations
from polyvisor.compute.v1 import compute_service_pb2_grpc
from polyvisor.consoleauth.v1 import consoleauth_service_pb2_grpc
from polyvisor.identity.v1 import identity_service_pb2_grpc

log = get_logger(__name__)

SCHEMA = "api"
COMPUTE = "polyvisor.compute.v1.ComputeService"
IDENTITY = "polyvisor.identity.v1.IdentityService"
AGENT_CALLBACK = "polyvisor.agent.v1.AgentCallbackService"
CONSOLE_AUTH = "polyvisor.consoleauth.v1.ConsoleAuthService"


class ApiServer(GrpcServer):
    """The gRPC server; its drain first ends the open Watch streams."""

    feed: ChangeFeed | None = None

    async def stop(self, grace: float | None = None) -> None:
        if self.feed is not None:
            self.feed.close()
        await super().stop(grace)


async def lifespan(settings: ApiSettings, stack: AsyncExitStack) -> GrpcServer:
    ensure_keypair(settings.token_private_key, settings.token_public_key)
    signer = TokenSigner.from_file(settings.token_private_key, settings.token_ttl_s)
    verifier = TokenVerifier.from_file(settings.token_public_key)
    deadlines = settings.deadlines

    await migrate(settings.database_url, SCHEMA, files("polyvisor.api") / "migrations")
    pool = await create_pool(
        settings.database_url,
        SCHEMA,
        max_size=settings.db_pool_size,
        application_name=f"polyvisor-api-{settings.server_id}",
        # The store keeps no session state (transaction-scoped advisory locks only; LISTEN
        # runs on its own connection), so the per-release reset round trip is skipped.
        reset_session=False,
    )
    stack.push_async_callback(close_pool, pool)

    bus = await Bus.connect(
        settings.nats_urls, name=settings.server_id, replicas=settings.nats_replicas
    )
    stack.push_async_callback(bus.close)
    grant_feed = ImageGrantFeed(bus, ImageGrants())
    await grant_feed.ensure_stream()
    api_bus = ApiBus(
        bus, grant_feed, grant_ttl_s=settings.build_timeout_s * settings.max_build_attempts + 300
    )
    await api_bus.ensure_streams()
    revocations = Revocations(settings.token_ttl_s)
    revocation_feed = RevocationFeed(bus, revocations)
    await revocation_feed.start()
    stack.push_async_callback(revocation_feed.close)

    service_token = ServiceToken(signer)
    scheduler = SchedulerClient(
        settings.scheduler_address, service_token.metadata, settings.downstream_timeout_s
    )
    stack.push_async_callback(scheduler.close)
    images = ImageClient(
        settings.imagesvc_address, settings.downstream_timeout_s, service_token.metadata
    )
    stack.push_async_callback(images.close)
    ports: ServerPorts | None = None
    if settings.network_address:
        network = NetworkClient(
            settings.network_address, service_token.metadata, settings.downstream_timeout_s
        )
        stack.push_async_callback(network.close)
        ports = ServerPorts(network)
    volumes: VolumeClient | None = None
    if settings.volume_address:
        volumes = VolumeClient(
            settings.volume_address, service_token.metadata, settings.downstream_timeout_s
        )
        stack.push_async_callback(volumes.close)

    identity = Identity(
        pool,
        signer,
        verifier,
        settings.default_quota,
        revoke=revocation_feed.revoke,
        is_revoked=revocations.revoked,
        agent_key_secret=settings.agent_key_secret,
        throttle=LoginThrottle(
            settings.login_failures_per_user,
            settings.login_failures_per_source,
            settings.login_failure_window_s,
        ),
    )
    if settings.bootstrap_admin_user and settings.bootstrap_admin_password:
        await identity.bootstrap_admin(
            settings.bootstrap_admin_user,
            settings.bootstrap_admin_password,
            settings.bootstrap_admin_project or "admin",
        )
    if not settings.agent_key_secret:
        log.warning("POLYVISOR_AGENT_KEY_SECRET is not set: no agent can authenticate")

    orchestrator = Orchestrator(
        pool,
        scheduler,
        api_bus.publish_command,
        deadlines,
        poll_s=settings.outbox_poll_s,
        batch=settings.outbox_workers * 4,
        lease_s=settings.outbox_lease_s,
        ports=ports,
        images=images,
        volumes=volumes,
    )
    feed = ChangeFeed(pool)
    cache = ReadCache(settings.server_cache_size)
    index = ServerIndex(pool, settings.server_index_size)

    def on_change(payload: str) -> None:
        project, _, server_id = payload.partition(" ")
        if server_id:
            cache.invalidate(server_id)
        feed.notify(project or None)
        index.notify()

    listener = PgListener(
        settings.database_url,
        SCHEMA,
        {CHANGES_CHANNEL: on_change, WAKE_CHANNEL: lambda _: orchestrator.wake()},
        on_state=cache.reset,
    )
    applier = EventApplier(pool, deadlines, orchestrator.wake)
    reaper = Reaper(
        pool,
        deadlines,
        interval_s=settings.reaper_interval_s,
        change_retention_s=settings.change_retention_s,
        action_retention_s=settings.action_retention_s,
        wake_outbox=orchestrator.wake,
    )
    consumer = await api_bus.event_consumer(settings.events_durable)

    tasks = BackgroundTasks("api")
    stack.push_async_callback(tasks.close)
    tasks.start("listener", listener.run())
    tasks.start("outbox", orchestrator.run())
    tasks.start(
        "events",
        consumer.consume(event_handler(applier.apply), concurrency=settings.event_concurrency),
    )
    tasks.start("reaper", reaper.run())
    tasks.start("server-index", index.run())

    servers = Servers(
        pool,
        images,
        scheduler,
        deadlines,
        settings.default_quota,
        console_ttl_s=settings.console_token_ttl_s,
        wake_outbox=orchestrator.wake,
        console_proxy_url=settings.console_proxy_url,
        ports=ports,
        volumes=volumes,
        console_output=api_bus.console_output,
    )
    console_sessions = ConsoleSessions(
        pool, api_bus.publish_command, verifier, session_s=settings.console_session_s
    )
    compute = ComputeHandlers(
        servers,
        feed,
        Flavors(pool),
        Keypairs(pool),
        ServerGroups(pool),
        Quotas(pool, settings.default_quota),
        scheduler,
        cache,
        adoption=Adoption(pool, scheduler, api_bus, settings.default_quota),
        evacuation=Evacuation(servers, api_bus),
        index=index,
    )
    server = ApiServer(
        settings,
        services=[
            (compute_service_pb2_grpc.add_ComputeServiceServicer_to_server, compute, COMPUTE),
            (
                identity_service_pb2_grpc.add_IdentityServiceServicer_to_server,
                IdentityHandlers(identity),
                IDENTITY,
            ),
            (
                agent_callback_service_pb2_grpc.add_AgentCallbackServiceServicer_to_server,
                AgentCallbackHandlers(servers),
                AGENT_CALLBACK,
            ),
            (
                consoleauth_service_pb2_grpc.add_ConsoleAuthServiceServicer_to_server,
                ConsoleAuthHandlers(console_sessions),
                CONSOLE_AUTH,
            ),
        ],
        auth=JwtAuthenticator(
            verifier,
            exempt=[IDENTITY_AUTHENTICATE],
            rules=API_RULES,
            revoked=revocations.revoked,
        ),
        auth_exempt=[IDENTITY_AUTHENTICATE],
    )
    server.feed = feed
    log.info("api ready", scheduler=settings.scheduler_address, imagesvc=settings.imagesvc_address)
    return server
