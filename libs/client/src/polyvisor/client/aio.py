"""`AsyncClient`: the asyncio SDK over the public gRPC API.

    async with AsyncClient() as cloud:            # endpoints and credentials: see config.py
        image = await cloud.images.create_from_file("cirros", "cirros.qcow2", disk_format="qcow2")
        flavor = await cloud.flavors.find("m1.small")
        server = await cloud.servers.create(
            "web-1", image_id=image.id, flavor_id=flavor.id, wait=True
        )

Resources: `servers`, `images`, `flavors`, `keypairs`, `hypervisors`, `quotas`, `identity`,
and the network service's `networks`, `subnets`, `ports`, `security_groups`,
`security_group_rules`.
Methods return the contract's protobuf messages (polyvisor.compute.v1, polyvisor.image.v1);
`polyvisor.client.serialize.to_dict` turns one into a plain dict. Errors are the exceptions of
`polyvisor.client.errors`.
"""

from __future__ import annotations

from types import TracebackType

from polyvisor.client.config import (
    CachedToken,
    ClientConfig,
    Credentials,
    credentials_from_env,
    resolve_endpoints,
    resolve_network_endpoint,
    resolve_volume_endpoint,
)
from polyvisor.client.flavors import FlavorsApi
from polyvisor.client.hypervisors import HypervisorsApi
from polyvisor.client.identity import IdentityApi
from polyvisor.client.images import ImagesApi
from polyvisor.client.keypairs import KeypairsApi
from polyvisor.client.network import (
    NetworksApi,
    PortsApi,
    SecurityGroupRulesApi,
    SecurityGroupsApi,
    SubnetsApi,
)
from polyvisor.client.quotas import QuotasApi
from polyvisor.client.resize import ServersWithResize
from polyvisor.client.server_groups import ServerGroupsApi
from polyvisor.client.session import Session
from polyvisor.client.volumes import VolumesApi

__all__ = ["AsyncClient"]


class AsyncClient:
    """One connection to a Polyvisor cloud. Use as an async context manager, or call
    `close()` (idempotent)."""

    def __init__(
        self,
        *,
        api_url: str | None = None,
        image_url: str | None = None,
        network_url: str | None = None,
        volume_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        project: str | None = None,
        api_key: str | None = None,
        token: str | None = None,
        config: ClientConfig | None = None,
        use_config_file: bool = True,
        timeout: float = 30.0,
        poll_interval: float = 1.0,
    ) -> None:
        if config is None:
            config = ClientConfig.load() if use_config_file else ClientConfig()
        self.config = config
        api, image = resolve_endpoints(api_url, image_url, config)
        explicit = Credentials(
            username=username or "",
            password=password or "",
            project=project or "",
            api_key=api_key or "",
            token=token or "",
        )
        cached: CachedToken | None = None
        on_token = None
        if explicit.usable:
            creds = explicit
        else:
            creds = credentials_from_env() or config.credentials
            if creds is config.credentials:
                # The saved token was issued for the saved credentials: reuse it, and save
                # the next one in its place.
                cached = config.token
                if config.path is not None and (creds.usable or cached is not None):
                    on_token = self._save_token
        network = resolve_network_endpoint(network_url, config)
        self.session = Session(
            api,
            image,
            creds,
            token=cached,
            on_token=on_token,
            timeout=timeout,
            network=network,
            volume=resolve_volume_endpoint(volume_url),
        )
        self.servers = ServersWithResize(self.session, poll_interval=poll_interval)
        self.images = ImagesApi(self.session)
        self.flavors = FlavorsApi(self.session)
        self.keypairs = KeypairsApi(self.session)
        self.hypervisors = HypervisorsApi(self.session)
        self.quotas = QuotasApi(self.session)
        self.identity = IdentityApi(self.session)
        self.server_groups = ServerGroupsApi(self.session)
        self.networks = NetworksApi(self.session)
        self.subnets = SubnetsApi(self.session)
        self.ports = PortsApi(self.session)
        self.security_groups = SecurityGroupsApi(self.session)
        self.security_group_rules = SecurityGroupRulesApi(self.session)
        self.volumes = VolumesApi(self.session, poll_interval=poll_interval)

    def _save_token(self, token: CachedToken) -> None:
        path = self.config.path
        if path is None:
            return
        try:
            fresh = ClientConfig.load(path)
            fresh.with_token(token).save(path)
        except OSError:
            pass  # a read-only config is not a reason to fail the call

    @property
    def api_url(self) -> str:
        return str(self.session.api_endpoint)

    @property
    def image_url(self) -> str:
        return str(self.session.image_endpoint)

    async def authenticate(self, *, force: bool = False) -> CachedToken:
        """A valid token (authenticating now if needed)."""
        return await self.session.authenticate(force=force)

    async def close(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
