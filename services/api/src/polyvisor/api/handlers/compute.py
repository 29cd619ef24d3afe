"""polyvisor.compute.v1.ComputeService, assembled from its parts."""

from __future__ import annotations

from polyvisor.api.adoption import Adoption
from polyvisor.api.clients import SchedulerClient
from polyvisor.api.evacuation import Evacuation
from polyvisor.api.flavors import Flavors
from polyvisor.api.groups import ServerGroups
from polyvisor.api.handlers.admin import AdminHandlers
from polyvisor.api.handlers.catalog import CatalogHandlers
from polyvisor.api.handlers.resize import ResizeHandlers
from polyvisor.api.handlers.server_nics import ServerNicHandlers
from polyvisor.api.handlers.server_pages import PageReader
from polyvisor.api.handlers.server_volumes import ServerVolumeHandlers
from polyvisor.api.handlers.servers import ServerHandlers
from polyvisor.api.keypairs import Keypairs
from polyvisor.api.quotas import Quotas
from polyvisor.api.readcache import ReadCache
from polyvisor.api.serverindex import ServerIndex
from polyvisor.api.servers import Servers
from polyvisor.api.watch import ChangeFeed
from polyvisor.compute.v1 import compute_service_pb2_grpc


class ComputeHandlers(
    ServerHandlers,
    ResizeHandlers,
    ServerNicHandlers,
    ServerVolumeHandlers,
    CatalogHandlers,
    AdminHandlers,
    compute_service_pb2_grpc.ComputeServiceServicer,
):
    def __init__(
        self,
        servers: Servers,
        feed: ChangeFeed,
        flavors: Flavors,
        keypairs: Keypairs,
        groups: ServerGroups,
        quotas: Quotas,
        scheduler: SchedulerClient,
        cache: ReadCache | None = None,
        adoption: Adoption | None = None,
        evacuation: Evacuation | None = None,
        index: ServerIndex | None = None,
    ) -> None:
        self.index = index
        self.adoption = adoption
        self.evacuation = evacuation
        self.servers = servers
        self.feed = feed
        self.flavors = flavors
        self.keypairs = keypairs
        self.groups = groups
        self.quotas = quotas
        self.scheduler = scheduler
        self.cache = cache if cache is not None else ReadCache(0)
        self.pages = PageReader(servers, self.cache)
