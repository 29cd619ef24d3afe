"""Creating servers: validated up front, idempotent by request id, quota-checked, and committed
with their Schedule outbox entries in one transaction (min_count..max_count: as many as the
quota allows, at least min_count)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from polyvisor.api import (
    ids,
    image_checks,
    spawnspec,
    validation,
)
from polyvisor.api import models as m
from polyvisor.api.baremetal import asks_for_baremetal
from polyvisor.api.boot_volumes import BootVolumes, image_or_volume
from polyvisor.api.lifecycle import Schedule
from polyvisor.api.server_base import ServerBase
from polyvisor.api.spawnspec import SpawnSpec
from polyvisor.api.store import actions, groups, keypairs, outbox, quotas
from polyvisor.api.store import flavors as flavor_store
from polyvisor.api.store import servers as server_store
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
    # Only hosts that enforce the ports' security groups (not vSphere without NSX).
    require_security_groups: bool = False
    # Boot from this volume instead of an image (exactly one of image_id, boot_volume_id).
    boot_volume_id: str = ""
    # Delete the boot volume when the deleted server has let it go.
    boot_volume_delete_on_termination: bool = False


class ServerCreate(ServerBase):
    # ------------------------------------------------------------------ create

    async def create(self, p: Principal, bearer: str, req: CreateRequest) -> list[m.Server]:
        p.require_write()
        name = validation.name(req.name, "server.name")
        image_id, boot_volume_id = image_or_volume(
            req.image_id,
            req.boot_volume_id,
            req.max_count,
            delete_on_termination=req.boot_volume_delete_on_termination,
        )
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

        if boot_volume_id:
            image = spawnspec.NO_IMAGE
        else:
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

        metal = asks_for_baremetal(flavor.extra_specs)
        nics = () if metal and not req.networks else await self._nics(bearer, req.networks, hi)
        spec = SpawnSpec(
            image,
            spawnspec.hostname_for(name),
            tuple(public_keys),
            hints,
            console_type="" if metal else "VNC",
            nics=nics,
            require_security_groups=req.require_security_groups,
        )
        deadline = datetime.now(UTC) + timedelta(seconds=self.deadlines.scheduling_s)
        key = request_id or ids.new_id()
        if image.vm_mode.lower() == "exe" or image.hypervisor_type.lower() == "lxc":
            spec = replace(spec, console_type="")  # a container: a console log, no VNC
        first_id = ids.new_id()
        if boot_volume_id:
            root = await BootVolumes(self.volumes).reserve(
                boot_volume_id,
                first_id,
                p.project_id,
                hints.hypervisor_type.lower(),
                delete_on_termination=req.boot_volume_delete_on_termination,
            )
            spec = replace(spec, root_volume=root)

        def new(count: int) -> list[server_store.NewServer]:
            return [
                server_store.NewServer(
                    id=first_id if i == 0 else ids.new_id(),
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
        try:
            created = await self._insert(p, key, lo, hi, flavor, new)
        finally:
            if boot_volume_id and not any(s.id == first_id for s in created or ()):
                await BootVolumes(self.volumes).give_back(boot_volume_id, first_id)
        self.wake_outbox()
        log.info("servers created", server_ids=[s.id for s in created], request_id=key)
        return created

    async def _insert(
        self,
        p: Principal,
        key: str,
        lo: int,
        hi: int,
        flavor: m.Flavor,
        new: Callable[[int], list[server_store.NewServer]],
    ) -> list[m.Server]:
        """Insert as many servers as the quota allows (hi, else lo), with their Schedule
        work; a concurrent create with the same request id: its servers."""
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
        assert created is not None
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


class _Duplicate(Exception):
    """Rolls back a create whose request id another call used first."""


class _OverQuota(Exception):
    """Rolls back a create the quota does not allow."""
