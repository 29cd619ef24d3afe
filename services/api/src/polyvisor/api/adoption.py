"""Adoption (admin): a VM already running on a hypervisor, that no server owns, made a server.

    ListUnmanagedVms(host):  what the host's agent lists (``agent.<host>.query.unmanaged_vms``)
    AdoptServer(host, ref):  the VM's size matched to a public flavor (one is made, named
                             ``adopted-<v>c-<r>m-<d>g``, when none has exactly that size)
                             -> the size claimed on that host by the scheduler (forced there,
                             consumer = the server id) -> the agent tags the VM as the server's
                             (``agent.<host>.query.adopt``) -> the server is recorded ACTIVE or
                             SHUTOFF as the VM runs, its quota taken

The server's id is the VM's ref (vCenter instance UUID, libvirt domain UUID): the agents find an
adopted VM by it, since nothing else in the VM (its name included) changes. A server that fails
to be recorded gives its claim back; deleting an adopted server deletes its VM as any other.
The server has no image (``image_id`` ""): rebuild and the like, which need one, refuse it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from polyvisor.api import models as m
from polyvisor.api import validation
from polyvisor.api.clients import SchedulerClient
from polyvisor.api.placement import NoValidHost, PlacementRequest
from polyvisor.api.spawnspec import Hints, SpawnSpec
from polyvisor.api.store import actions, quotas
from polyvisor.api.store import flavors as flavor_store
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    ResourceExhausted,
)
from polyvisor.common.logging import get_logger

__all__ = ["AdoptedVm", "Adoption", "UnmanagedVm"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class UnmanagedVm:
    ref: str
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    power_state: str  # RUNNING, SHUTDOWN, ... (polyvisor.types.v1.PowerState without prefix)


@dataclass(frozen=True, slots=True)
class AdoptedVm:
    """What the agent says of a VM it has just tagged as a server's."""

    power_state: str  # RUNNING, SHUTDOWN, ...
    instance_name: str
    member_host: str  # VMware: the ESXi host it runs on


class AgentQueries(Protocol):
    """The agents' answers (``bus``; their errors mapped there)."""

    async def unmanaged_vms(self, host: str) -> list[UnmanagedVm]: ...

    async def adopt_vm(self, host: str, server_id: str, ref: str) -> AdoptedVm: ...


class Adoption:
    def __init__(
        self,
        pool: Pool,
        scheduler: SchedulerClient,
        agents: AgentQueries,
        default_quota: m.QuotaLimits,
    ) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.agents = agents
        self.default_quota = default_quota

    async def _host(self, host: str) -> Any:
        host = validation.required(host, "hypervisor_id")
        return await self.scheduler.get_provider(host)  # NotFound for an unknown host

    async def list_unmanaged(self, p: Principal, host: str) -> list[UnmanagedVm]:
        p.require_admin()
        provider = await self._host(host)
        return await self.agents.unmanaged_vms(provider.id)

    async def _flavor(self, vm: UnmanagedVm) -> m.Flavor:
        """The public flavor of exactly the VM's size (the first by id), made when none is."""
        disk = max(vm.disk_gb, 0)
        with db_errors():
            async with self.pool.acquire() as conn:
                found = await flavor_store.list_page(
                    conn, None, vm.vcpus, vm.memory_mb, disk, "", 1000
                )
                exact = [
                    f
                    for f in found
                    if f.is_public
                    and (f.vcpus, f.ram_mb, f.disk_gb) == (vm.vcpus, vm.memory_mb, disk)
                ]
                if exact:
                    return exact[0]
                name = f"adopted-{vm.vcpus}c-{vm.memory_mb}m-{disk}g"
                new = m.Flavor(
                    str(uuid.uuid5(uuid.NAMESPACE_URL, f"polyvisor:flavor:{name}")),
                    name,
                    vm.vcpus,
                    vm.memory_mb,
                    disk,
                    description="made for an adopted VM of this size",
                )
                async with conn.transaction():
                    made = await flavor_store.insert(conn, new)
                if made is None:  # made meanwhile by another adoption
                    made = await flavor_store.get(conn, new.id, None)
                if made is None:
                    raise AlreadyExists(f"a flavor named {name} exists with another size")
                return made

    async def adopt(
        self, p: Principal, host: str, ref: str, name: str = "", project_id: str = ""
    ) -> m.Server:
        p.require_admin()
        provider = await self._host(host)
        ref = validation.required(ref, "vm_ref")
        try:
            server_id = str(uuid.UUID(ref))
        except ValueError as e:
            raise NotFound(f"no unmanaged VM {ref} on {provider.id}", {"vm_ref": ref}) from e
        vm = next((v for v in await self.list_unmanaged(p, provider.id) if v.ref == ref), None)
        if vm is None:
            raise NotFound(
                f"no unmanaged VM {ref} on {provider.id} (ListUnmanagedVms lists them)",
                {"vm_ref": ref, "hypervisor_id": provider.id},
            )
        if vm.power_state not in ("RUNNING", "SHUTDOWN"):
            raise FailedPrecondition(
                f"VM {ref} is {vm.power_state}: only a running or stopped VM is adopted",
                {"vm_ref": ref, "power_state": vm.power_state},
            )
        if vm.vcpus < 1 or vm.memory_mb < 1:
            raise FailedPrecondition(f"VM {ref} reports no size", {"vm_ref": ref})
        project = project_id.strip() or p.project_id
        name = validation.name(name.strip() or vm.name, "name")
        flavor = await self._flavor(vm)
        sflavor = m.ServerFlavor(
            flavor.id, flavor.name, flavor.vcpus, flavor.ram_mb, flavor.disk_gb
        )
        image = m.ImageInfo(id="", name="", status="", owner="", disk_format="")
        claim = await self.scheduler.select(
            PlacementRequest(
                request_id=f"adopt:{server_id}",
                server_id=server_id,
                project_id=project,
                user_id=p.user_id,
                flavor=sflavor,
                image=image,
                force_host=provider.id,
            )
        )
        if isinstance(claim, NoValidHost):
            raise ResourceExhausted(
                f"host {provider.id} has no room for VM {ref} ({flavor.name}): {claim.summary}",
                {"hypervisor_id": provider.id, "fault_code": "NO_VALID_HOST"},
            )
        try:
            return await self._record(p, provider.id, vm, server_id, name, project, flavor, claim)
        except BaseException:
            await self.scheduler.release_claim(server_id, detail="adoption failed")
            raise

    async def _record(
        self,
        p: Principal,
        host: str,
        vm: UnmanagedVm,
        server_id: str,
        name: str,
        project: str,
        flavor: m.Flavor,
        claim: Any,
    ) -> m.Server:
        answer = await self.agents.adopt_vm(host, server_id, vm.ref)
        power = m.Power(answer.power_state or "NOSTATE")
        state = m.State.ACTIVE if power == m.Power.RUNNING else m.State.SHUTOFF
        spec = SpawnSpec(
            m.ImageInfo(id="", name="", status="", owner="", disk_format=""),
            name,
            hints=Hints(force_host=host),
        )
        new = server_store.NewServer(
            id=server_id,
            project_id=project,
            user_id=p.user_id,
            name=name,
            image_id="",
            flavor=flavor,
            request_id=f"adopt:{server_id}",
            request_index=0,
            key_name="",
            metadata={},
            availability_zone=claim.availability_zone,
            user_data=None,
            spawn=spec,
            task_deadline=datetime.now(UTC),
        )
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await quotas.ensure(conn, project, self.default_quota)
                server = await server_store.insert_adopted(
                    conn,
                    new,
                    state=state,
                    power=power,
                    host=host,
                    hypervisor_type=claim.hypervisor_type,
                    esxi_host=answer.member_host,
                    instance_name=answer.instance_name,
                )
                if server is None:
                    raise AlreadyExists(f"server {server_id} exists", {"server_id": server_id})
                if not await quotas.consume(conn, project, 1, flavor.vcpus, flavor.ram_mb):
                    raise ResourceExhausted(
                        f"quota exceeded: project {project} has no room for {flavor.name}",
                        {"project_id": project, "fault_code": "QUOTA_EXCEEDED"},
                    )
                when = server.create_time
                await actions.start(conn, server, "adopt", new.request_id, p.user_id, when)
                await actions.finish(conn, server.id, datetime.now(UTC), None)
        log.info("VM adopted", server_id=server_id, host=host, flavor=flavor.name)
        return server
