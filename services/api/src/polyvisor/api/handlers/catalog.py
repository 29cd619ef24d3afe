"""ComputeService: flavors, keypairs and server groups."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.api.convert import compute as convert
from polyvisor.api.convert.enums import KEY_ALGORITHM, KEYPAIR_TYPE, SERVER_GROUP_POLICY
from polyvisor.api.flavors import FlavorChange, Flavors
from polyvisor.api.groups import ServerGroups
from polyvisor.api.handlers.context import principal
from polyvisor.api.keypairs import Keypairs
from polyvisor.common.errors import InvalidArgument
from polyvisor.compute.v1 import flavors_pb2, keypairs_pb2, server_groups_pb2

Ctx: TypeAlias = grpc.aio.ServicerContext


class CatalogHandlers:
    flavors: Flavors
    keypairs: Keypairs
    groups: ServerGroups

    # -- flavors

    async def CreateFlavor(
        self, request: flavors_pb2.CreateFlavorRequest, context: Ctx
    ) -> flavors_pb2.CreateFlavorResponse:
        created = await self.flavors.create(principal(), convert.flavor_in(request.flavor))
        return flavors_pb2.CreateFlavorResponse(flavor=convert.flavor(created))

    async def GetFlavor(
        self, request: flavors_pb2.GetFlavorRequest, context: Ctx
    ) -> flavors_pb2.GetFlavorResponse:
        f = await self.flavors.get(principal(), request.flavor_id)
        return flavors_pb2.GetFlavorResponse(flavor=convert.flavor(f))

    async def ListFlavors(
        self, request: flavors_pb2.ListFlavorsRequest, context: Ctx
    ) -> flavors_pb2.ListFlavorsResponse:
        items, token = await self.flavors.list(
            principal(),
            request.page_size,
            request.page_token,
            request.min_vcpus,
            request.min_ram_mb,
            request.min_disk_gb,
            request.include_private,
        )
        return flavors_pb2.ListFlavorsResponse(
            flavors=[convert.flavor(f) for f in items], next_page_token=token
        )

    async def DeleteFlavor(
        self, request: flavors_pb2.DeleteFlavorRequest, context: Ctx
    ) -> flavors_pb2.DeleteFlavorResponse:
        await self.flavors.delete(principal(), request.flavor_id)
        return flavors_pb2.DeleteFlavorResponse()

    async def UpdateFlavor(
        self, request: flavors_pb2.UpdateFlavorRequest, context: Ctx
    ) -> flavors_pb2.UpdateFlavorResponse:
        change = FlavorChange(
            description=request.description if request.HasField("description") else None,
            set_extra_specs=dict(request.set_extra_specs),
            unset_extra_specs=tuple(request.unset_extra_specs),
            add_project_ids=tuple(dict.fromkeys(request.add_project_ids)),
            remove_project_ids=tuple(dict.fromkeys(request.remove_project_ids)),
        )
        f = await self.flavors.update(principal(), request.flavor_id, change)
        return flavors_pb2.UpdateFlavorResponse(flavor=convert.flavor(f))

    # -- keypairs

    async def CreateKeypair(
        self, request: keypairs_pb2.CreateKeypairRequest, context: Ctx
    ) -> keypairs_pb2.CreateKeypairResponse:
        kp, private = await self.keypairs.create(
            principal(),
            request.name,
            KEYPAIR_TYPE.name(request.type),
            KEY_ALGORITHM.name(request.algorithm),
        )
        return keypairs_pb2.CreateKeypairResponse(keypair=convert.keypair(kp), private_key=private)

    async def ImportKeypair(
        self, request: keypairs_pb2.ImportKeypairRequest, context: Ctx
    ) -> keypairs_pb2.ImportKeypairResponse:
        kp = await self.keypairs.import_(
            principal(), request.name, request.public_key, KEYPAIR_TYPE.name(request.type)
        )
        return keypairs_pb2.ImportKeypairResponse(keypair=convert.keypair(kp))

    async def GetKeypair(
        self, request: keypairs_pb2.GetKeypairRequest, context: Ctx
    ) -> keypairs_pb2.GetKeypairResponse:
        kp = await self.keypairs.get(principal(), request.name, request.user_id)
        return keypairs_pb2.GetKeypairResponse(keypair=convert.keypair(kp))

    async def ListKeypairs(
        self, request: keypairs_pb2.ListKeypairsRequest, context: Ctx
    ) -> keypairs_pb2.ListKeypairsResponse:
        items, token = await self.keypairs.list(
            principal(), request.page_size, request.page_token, request.user_id
        )
        return keypairs_pb2.ListKeypairsResponse(
            keypairs=[convert.keypair(k) for k in items], next_page_token=token
        )

    async def DeleteKeypair(
        self, request: keypairs_pb2.DeleteKeypairRequest, context: Ctx
    ) -> keypairs_pb2.DeleteKeypairResponse:
        await self.keypairs.delete(principal(), request.name, request.user_id)
        return keypairs_pb2.DeleteKeypairResponse()

    # -- server groups

    async def CreateServerGroup(
        self, request: server_groups_pb2.CreateServerGroupRequest, context: Ctx
    ) -> server_groups_pb2.CreateServerGroupResponse:
        g = request.server_group
        if g.policy == 0:
            raise InvalidArgument(
                "server_group.policy is required", {"field": "server_group.policy"}
            )
        created = await self.groups.create(
            principal(), g.name, SERVER_GROUP_POLICY.name(g.policy), request.request_id
        )
        return server_groups_pb2.CreateServerGroupResponse(server_group=convert.group(created))

    async def GetServerGroup(
        self, request: server_groups_pb2.GetServerGroupRequest, context: Ctx
    ) -> server_groups_pb2.GetServerGroupResponse:
        g = await self.groups.get(principal(), request.server_group_id)
        return server_groups_pb2.GetServerGroupResponse(server_group=convert.group(g))

    async def ListServerGroups(
        self, request: server_groups_pb2.ListServerGroupsRequest, context: Ctx
    ) -> server_groups_pb2.ListServerGroupsResponse:
        items, token = await self.groups.list(
            principal(), request.page_size, request.page_token, request.all_projects
        )
        return server_groups_pb2.ListServerGroupsResponse(
            server_groups=[convert.group(g) for g in items], next_page_token=token
        )

    async def DeleteServerGroup(
        self, request: server_groups_pb2.DeleteServerGroupRequest, context: Ctx
    ) -> server_groups_pb2.DeleteServerGroupResponse:
        await self.groups.delete(principal(), request.server_group_id)
        return server_groups_pb2.DeleteServerGroupResponse()
