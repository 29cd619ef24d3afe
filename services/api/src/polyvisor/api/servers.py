"""Server operations: create (validated up front, idempotent, quota-checked), read, list,
update, the lifecycle actions and the console. Scheduling and commands happen after the
commit, from the outbox (see `orchestrator`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from polyvisor.api import (
    access,
    ids,
    image_checks,
    lifecycle,
    outcomes,
    passwords,
    spawnspec,
    validation,
)
from polyvisor.api import models as m
from polyvisor.api.clients import ImageClient, SchedulerClient
from polyvisor.api.convert import images as image_convert
from polyvisor.api.lifecycle import Action, Change, Schedule
from polyvisor.api.models import State
from polyvisor.api.pagination import PageRequest, page_request
from polyvisor.api.ports import ServerPorts
from polyvisor.api.spawnspec import SpawnSpec
from polyvisor.api.store import actions, consoles, groups, keypairs, outbox, quotas
from polyvisor.api.store import flavors as flavor_store
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from polyvisor.common.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    name: str
    image_id: str
    flavor_id: str
    request_id: str = ""
    key_name: str = ""
    user_data: bytes = b""
    availability_zone: str = ""
    scheduler_hints: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    min_count: int = 0
    max_count: int = 0
    # The NICs asked for (network_id, port_id or fixed_ip); none: the project's network.
    networks: tuple[spawnspec.Nic, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    type: str
    host: str
    port: int
    token: str
    expire_time: datetime
    url: str = ""


class Servers:
    def __init__(
        self,
        pool: Pool,
        images: ImageClient,
        scheduler: SchedulerClient,
        deadlines: lifecycle.Deadlines,
        default_quota: m.QuotaLimits,
        console_ttl_s: float = 600.0,
        wake_outbox: Callable[[], None] = lambda: None,
        console_proxy_url: str = "",
        ports: ServerPorts | None = None,
        console_output: Callable[[str, str, int], Awaitable[str]] | None = None,
    ) -> None:
        self.console_proxy_url = console_proxy_url.rstrip("/")
        self.pool = pool
        self.ports = ports
        self._console_output = console_output
        self.images = images
        self.scheduler = scheduler
        self.deadlines = deadlines
        self.default_quota = default_quota
        self.console_ttl_s = console_ttl_s
        self.wake_outbox = wake_outbox

    # ------------------------------------------------------------------ create

    async def create(self, p: Principal, bearer: str, req: CreateRequest) -> list[m.Server]:
        p.require_write()
        name = validation.name(req.name, "server.name")
        image_id = validation.required(req.image_id, "server.image_id")
        flavor_id = validation.required(req.flavor_id, "server.flavor_id")
        request_id = validation.request_id(req.request_id)
        metadata = validation.metadata(req.metadata, "server.metadata")
        user_data = validation.user_data(req.user_data)
        lo, hi = validation.counts(req.min_count, req.max_count)
        hints = spawnspec.hints(p, req.scheduler_hints)
        az = validation.name(req.availability_zone, "server.availability_zone", required=False)

        if request_id:
            with db_errors():
                existing = await server_store.find_by_request(self.pool, p.project_id, request_id)
            if existing:
                return existing

        with db_errors():
            flavor = await flavor_store.get(self.pool, flavor_id, p.project_id)
            if flavor is None:
                raise NotFound(f"flavor {flavor_id} not found", {"flavor_id": flavor_id})
            public_keys: list[str] = []
            key_name = ""
            if req.key_name.strip():
                key_name = req.key_name.strip()
                kp = await keypairs.get(self.pool, p.project_id, p.user_id, key_name)
                if kp is None:
                    raise NotFound(f"keypair {key_name} not found", {"key_name": key_name})
                public_keys.append(kp.public_key)
            group = None
            if hints.group:
                group = await groups.get(self.pool, hints.group, p.project_id)
                if group is None:
                    raise NotFound(f"server group {hints.group} not found")
                hints = replace(hints, group_policy=group.policy)

        image = await self.images.get_image(image_id, bearer)
        image_checks.check_image_usable(image)
        image_checks.check_flavor_fits_image(flavor, image)
        pinned = image.hypervisor_type
        if pinned and hints.hypervisor_type and hints.hypervisor_type != pinned:
            raise InvalidArgument(
                f"the image runs only on {pinned.lower()} hosts; the hint asks for "
                f"{hints.hypervisor_type.lower()}",
                {"field": "server.scheduler_hints"},
            )
        # Whether a host can inject the keys or pass the user data is its agent's fact: the
        # scheduler places only on hosts reporting it, and explains when none does.

        nics = await self._nics(bearer, req.networks, hi)
        spec = SpawnSpec(image, spawnspec.hostname_for(name), tuple(public_keys), hints, nics=nics)
        deadline = datetime.now(UTC) + timedelta(seconds=self.deadlines.scheduling_s)
        key = request_id or ids.new_id()

        def new(count: int) -> list[server_store.NewServer]:
            return [
                server_store.NewServer(
                    id=ids.new_id(),
                    project_id=p.project_id,
                    user_id=p.user_id,
                    name=name if count == 1 else f"{name}-{i + 1}",
                    image_id=image.id,
                    flavor=flavor,
                    request_id=key,
                    request_index=i,
                    key_name=key_name,
                    metadata=metadata,
                    availability_zone=az,
                    user_data=user_data or None,
                    spawn=replace(
                        spec,
                        hostname=spawnspec.hostname_for(name if count == 1 else f"{name}-{i + 1}"),
                    ),
                    task_deadline=deadline,
                    server_group_id=group.id if group else "",
                )
                for i in range(count)
            ]

        created: list[m.Server] | None = None
        with db_errors():
            async with self.pool.acquire() as conn:
                await quotas.ensure(conn, p.project_id, self.default_quota)
                for count in sorted({hi, lo}, reverse=True):
                    try:
                        async with conn.transaction():
                            created = await server_store.insert(conn, new(count))
                            if created is None:
                                raise _Duplicate
                            if not await quotas.consume(
                                conn,
                                p.project_id,
                                count,
                                count * flavor.vcpus,
                                count * flavor.ram_mb,
                            ):
                                raise _OverQuota
                            for s in created:
                                await outbox.add(conn, s.id, Schedule(s.generation))
                                await actions.start(
                                    conn, s, "create", key, p.user_id, s.create_time
                                )
                    except _Duplicate:
                        # A concurrent call with the same request id won: return its servers.
                        created = None
                        break
                    except _OverQuota:
                        created = None
                        continue
                    break
                if created is None:
                    again = await server_store.find_by_request(conn, p.project_id, key)
                    if again:
                        return again
                    raise await self._quota_error(conn, p.project_id, lo, flavor)
        self.wake_outbox()
        log.info("servers created", server_ids=[s.id for s in created], request_id=key)
        return created

    async def _nics(
        self, bearer: str, asked: tuple[spawnspec.Nic, ...], count: int
    ) -> tuple[spawnspec.Nic, ...]:
        """The NICs of the servers of a create (see `ports.ServerPorts.resolve`)."""
        if self.ports is None:
            if asked:
                raise FailedPrecondition(
                    "this cloud has no network service: a server cannot ask for networks",
                    {"field": "server.networks"},
                )
            return ()
        nics = await self.ports.resolve(bearer, asked)
        if count > 1 and any(n.port_id or n.fixed_ip for n in nics):
            raise InvalidArgument(
                "a port_id or a fixed_ip names one server's NIC: create one server with it",
                {"field": "server.networks"},
            )
        return nics

    async def _quota_error(
        self, conn: Any, project_id: str, count: int, flavor: m.Flavor
    ) -> ResourceExhausted:
        q = await quotas.get(conn, project_id)
        parts = []
        if q is not None:
            for label, need, used, limit in (
                ("instances", count, q.usage.instances, q.limits.instances),
                ("vcpus", count * flavor.vcpus, q.usage.vcpus, q.limits.vcpus),
                ("ram_mb", count * flavor.ram_mb, q.usage.ram_mb, q.limits.ram_mb),
            ):
                if limit >= 0 and used + need > limit:
                    parts.append(f"{label}: {used} used + {need} asked > {limit} allowed")
        return ResourceExhausted(
            "quota exceeded: " + ("; ".join(parts) or "limits reached"),
            {"project_id": project_id, "fault_code": "QUOTA_EXCEEDED"},
        )

    # ------------------------------------------------------------------ read

    async def get(self, p: Principal, server_id: str) -> m.Server:
        server_id = validation.required(server_id, "server_id")
        with db_errors():
            server = await server_store.get(self.pool, server_id, access.resource_scope(p))
        if server is None:
            raise NotFound(f"server {server_id} not found", {"server_id": server_id})
        return server

    def _page(
        self,
        p: Principal,
        page_size: int,
        page_token: str,
        filters: m.ServerFilters,
        project_id: str,
        all_projects: bool,
    ) -> tuple[str | None, PageRequest]:
        scope = access.list_scope(p, project_id, all_projects)
        page = page_request(
            page_size,
            page_token,
            scope=scope,
            state=filters.state,
            host=filters.host,
            hv=filters.hypervisor_type,
            tags=list(filters.tags),
            name=filters.name,
            deleted=filters.show_deleted,
        )
        return scope, page

    async def list_servers(
        self,
        p: Principal,
        page_size: int,
        page_token: str,
        filters: m.ServerFilters,
        project_id: str = "",
        all_projects: bool = False,
    ) -> tuple[list[m.Server], str]:
        scope, page = self._page(p, page_size, page_token, filters, project_id, all_projects)
        with db_errors():
            found = await server_store.list_page(
                self.pool, scope, filters, page.after, page.size + 1
            )
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def list_keys(
        self,
        p: Principal,
        page_size: int,
        page_token: str,
        filters: m.ServerFilters,
        project_id: str = "",
        all_projects: bool = False,
    ) -> tuple[list[tuple[str, int]], str]:
        """Like `list_servers`, only (id, revision) of each server: the caller fetches what it does
        not hold at that revision with `fetch`."""
        scope, page = self._page(p, page_size, page_token, filters, project_id, all_projects)
        with db_errors():
            found = await server_store.list_keys(
                self.pool, scope, filters, page.after, page.size + 1
            )
        items = found[: page.size]
        return items, page.next_token(found, items[-1][0] if items else "")

    async def count_on_host(self, host: str) -> int:
        """Servers placed on `host` and not deleted (what a hypervisor shows as running)."""
        with db_errors():
            return await server_store.count_on_host(self.pool, host)

    async def assigned_to_host(
        self, host: str, page_size: int, page_token: str
    ) -> tuple[list[m.Server], str]:
        """One page of the servers placed on `host`, for the agent that drives it."""
        page = page_request(page_size, page_token, host=host)
        with db_errors():
            found = await server_store.assigned_to_host(self.pool, host, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def fetch(self, server_ids: list[str]) -> list[m.Server]:
        """Servers by id, after `list_keys` scoped them (unscoped: never call with ids a
        client chose)."""
        with db_errors():
            return await server_store.get_many(self.pool, server_ids)

    # ------------------------------------------------------------------ update

    async def update(
        self, p: Principal, server_id: str, name: str | None, metadata: dict[str, str] | None
    ) -> m.Server:
        p.require_write()
        change = Change(
            name=validation.name(name, "server.name") if name is not None else lifecycle.UNSET,
            metadata=(
                validation.metadata(metadata, "server.metadata")
                if metadata is not None
                else lifecycle.UNSET
            ),
        )
        if not change:
            raise InvalidArgument("update_mask names nothing to change", {"field": "update_mask"})
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await self._locked(conn, p, server_id)
                if server.state == State.DELETED:
                    raise FailedPrecondition(f"server {server_id} is deleted")
                return await server_store.save(conn, server, change)

    async def tag(self, p: Principal, server_id: str, tag: str, *, add: bool) -> m.Server:
        """Add a tag (one already there changes nothing) or remove one (one not there is
        NOT_FOUND, as Nova's)."""
        p.require_write()
        tag = validation.tag(tag)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await self._locked(conn, p, server_id)
                if server.state == State.DELETED:
                    raise FailedPrecondition(f"server {server_id} is deleted")
                if add:
                    if tag in server.tags:
                        return server
                    if len(server.tags) >= validation.MAX_TAGS:
                        raise FailedPrecondition(
                            f"server {server_id} has {validation.MAX_TAGS} tags already",
                            {"server_id": server_id},
                        )
                    tags = (*server.tags, tag)
                else:
                    if tag not in server.tags:
                        raise NotFound(
                            f"server {server_id} has no tag {tag!r}",
                            {"server_id": server_id, "tag": tag},
                        )
                    tags = tuple(t for t in server.tags if t != tag)
                return await server_store.save(conn, server, Change(tags=tags))

    # ------------------------------------------------------------------ actions

    async def _locked(self, conn: Any, p: Principal, server_id: str) -> m.Server:
        server_id = validation.required(server_id, "server_id")
        server = await server_store.lock(conn, server_id, access.resource_scope(p))
        if server is None:
            raise NotFound(f"server {server_id} not found", {"server_id": server_id})
        return server

    async def act(
        self,
        p: Principal,
        server_id: str,
        action: Action,
        request_id: str = "",
        args: dict[str, Any] | None = None,
        spawn_image: m.ImageInfo | None = None,
    ) -> m.Server:
        """Do a user action (see `lifecycle.actions`); a retry with the request id of the call
        that took effect returns the server without acting again. `args`: what the action
        was asked beyond its verb; `spawn_image`: the image the server's next build boots."""
        p.require_write()
        request_id = validation.request_id(request_id)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await self._locked(conn, p, server_id)
                if request_id and server.last_request_id == request_id:
                    return server  # a retry of a call that already took effect
                if server.state == State.DELETED:
                    raise NotFound(f"server {server_id} is deleted", {"server_id": server_id})
                now = datetime.now(UTC)
                # Every action has a request id in the history: the caller's, or one made up.
                rid = request_id or f"req-{ids.new_id()}"
                out = lifecycle.plan(action, server, now, self.deadlines, rid, args)
                if spawn_image is not None:
                    await server_store.set_spawn_image(conn, server.id, spawn_image)
                if not out.noop:
                    await actions.start(conn, server, action.value, rid, p.user_id, now)
                updated = await outcomes.apply(conn, server, out)
        self.wake_outbox()
        return updated

    # ------------------------------------------------------------------ day 2

    async def create_image(
        self,
        p: Principal,
        bearer: str,
        server_id: str,
        name: str,
        request_id: str = "",
        properties: dict[str, str] | None = None,
        *,
        action: Action = Action.CREATE_IMAGE,
    ) -> tuple[m.Server, str]:
        """Snapshot the server to a new image (CREATE_IMAGE, or SHELVE: then free its host).

        The image is made first (QUEUED, owned by the caller's project, naming the host that
        may upload to it), then the action starts with its id; the host uploads the disk.
        Returns the server and the image's id."""
        p.require_write()
        request_id = validation.request_id(request_id)
        props = validation.metadata(dict(properties or {}), "properties")
        server = await self.get(p, server_id)
        if request_id and server.last_request_id == request_id:
            return server, str(server.action_args.get("image_id") or "")
        # Refuse before making an image nobody would fill.
        lifecycle.ACTIONS[action].check(server)
        suffix = "shelved" if action == Action.SHELVE else "snapshot"
        name = validation.name(name or f"{server.name}-{suffix}", "name")
        try:
            base: m.ImageInfo | None = await self.images.get_image(server.image_id, bearer)
        except NotFound:
            base = None  # deleted since: the snapshot stands on its own
        draft = image_convert.snapshot_draft(name, server, base, props)
        image_id = await self.images.create_image(
            draft, f"{action.value}:{server.id}:{request_id}" if request_id else "", bearer
        )
        try:
            updated = await self.act(p, server.id, action, request_id, {"image_id": image_id})
        except BaseException:
            # Raced with another action: the image would stay empty for ever.
            try:
                await self.images.delete_image(image_id, bearer)
            except Exception as e:
                log.warning(
                    "could not remove an unused snapshot image", image_id=image_id, error=str(e)
                )
            raise
        log.info(
            "server image requested", server_id=server.id, image_id=image_id, action=action.value
        )
        return updated, image_id

    async def rebuild(
        self, p: Principal, bearer: str, server_id: str, image_id: str, request_id: str = ""
    ) -> m.Server:
        """Reinstall the server from `image_id` on its host (same id, addresses, ports)."""
        image_id = validation.required(image_id, "image_id")
        server = await self.get(p, server_id)
        lifecycle.ACTIONS[Action.REBUILD].check(server)
        image = await self.images.get_image(image_id, bearer)
        image_checks.check_image_usable(image)
        image_checks.check_flavor_fits_image(server.flavor, image)
        image_checks.check_host_runs_image(server, image)
        args = {"image_id": image.id, "image": asdict(image)}
        return await self.act(p, server.id, Action.REBUILD, request_id, args)

    async def unshelve(
        self, p: Principal, bearer: str, server_id: str, request_id: str = ""
    ) -> m.Server:
        """Schedule a shelved server again; it boots from the image it was shelved to."""
        server = await self.get(p, server_id)
        lifecycle.ACTIONS[Action.UNSHELVE].check(server)
        image_id = str(server.action_args.get("image_id") or "")
        if not image_id:
            raise FailedPrecondition(
                f"server {server_id} has no shelved image", {"server_id": server_id}
            )
        image = await self.images.get_image(image_id, bearer)
        image_checks.check_image_usable(image)
        return await self.act(
            p, server.id, Action.UNSHELVE, request_id, {"image_id": image_id}, spawn_image=image
        )

    # ------------------------------------------------------------------ console output

    async def console_output(self, p: Principal, server_id: str, lines: int) -> str:
        """The last `lines` lines of the server's serial console, read from its host now."""
        if lines < 0:
            raise InvalidArgument("lines must not be negative", {"field": "lines"})
        server = await self.get(p, server_id)
        if not server.host or server.state in (State.BUILDING, State.DELETING, State.DELETED):
            raise FailedPrecondition(
                f"server {server_id} has no console output now (it is {server.state})",
                {"server_id": server_id, "state": server.state},
            )
        if self._console_output is None:
            raise FailedPrecondition("console output is not available on this api")
        return await self._console_output(server.host, server.id, min(lines, 10_000))

    # ------------------------------------------------------------------ action history

    async def list_actions(
        self, p: Principal, server_id: str, page_size: int, page_token: str
    ) -> tuple[list[m.ServerAction], str]:
        """The server's actions, newest first (a deleted server's too, until pruned)."""
        server = await self.get(p, server_id)
        page = page_request(page_size, page_token, server_id=server.id, what="actions")
        try:
            offset = int(page.after or 0)
        except ValueError:
            raise InvalidArgument("page_token is not valid", {"field": "page_token"}) from None
        with db_errors():
            async with self.pool.acquire() as conn:
                found = await actions.page(conn, server.id, page.size + 1, max(0, offset))
        items = found[: page.size]
        return items, page.next_token(found, str(offset + len(items)))

    async def get_action(self, p: Principal, server_id: str, request_id: str) -> m.ServerAction:
        server = await self.get(p, server_id)
        request_id = validation.required(request_id, "request_id")
        with db_errors():
            async with self.pool.acquire() as conn:
                found = await actions.get(conn, server.id, request_id)
        if found is None:
            raise NotFound(
                f"server {server_id} has no action with request id {request_id}",
                {"server_id": server_id, "request_id": request_id},
            )
        return found

    # ------------------------------------------------------------------ console

    async def console(self, p: Principal, server_id: str, console_type: str) -> ConsoleAccess:
        server = await self.get(p, server_id)
        wanted = console_type or "VNC"
        if server.state != State.ACTIVE or server.console is None:
            raise FailedPrecondition(
                f"server {server_id} has no console now (it is {server.state})",
                {"server_id": server_id, "state": server.state},
            )
        if server.console.type != wanted:
            raise FailedPrecondition(
                f"server {server_id} offers a {server.console.type} console, not {wanted}",
                {"server_id": server_id},
            )
        token = passwords.new_token()
        expire = datetime.now(UTC) + timedelta(seconds=self.console_ttl_s)
        with db_errors():
            await consoles.insert(
                self.pool,
                passwords.secret_digest(token),
                server,
                server.console,
                expire,
                p.user_id,
            )
        if self.console_proxy_url:
            # The client goes to the proxy, never to the hypervisor.
            parts = urlsplit(self.console_proxy_url)
            query = urlencode({"server_id": server.id, "token": token})
            url = f"{self.console_proxy_url}/websockify?{query}"
            default_port = 443 if parts.scheme in ("wss", "https") else 80
            return ConsoleAccess(
                wanted, parts.hostname or "", parts.port or default_port, token, expire, url
            )
        return ConsoleAccess(wanted, server.console.host, server.console.port, token, expire)


class _Duplicate(Exception):
    """Rolls back a create whose request id another call used first."""


class _OverQuota(Exception):
    """Rolls back a create the quota does not allow."""
