"""polyvisor.identity.v1.IdentityService."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.api import models as m
from polyvisor.api.convert import identity as convert
from polyvisor.api.convert.enums import role_name, role_value
from polyvisor.api.handlers.context import principal
from polyvisor.api.identity import Identity, Session
from polyvisor.api.throttle import peer_address
from polyvisor.common.convert import from_ts, set_ts
from polyvisor.common.errors import InvalidArgument
from polyvisor.identity.v1 import identity_requests_pb2 as pb
from polyvisor.identity.v1 import identity_service_pb2_grpc

Ctx: TypeAlias = grpc.aio.ServicerContext


def _role(value: int) -> str:
    if value == 0:
        raise InvalidArgument("role is required", {"field": "role"})
    return role_name(value)


class IdentityHandlers(identity_service_pb2_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    @staticmethod
    def _session(s: Session, out: pb.AuthenticateResponse | pb.ValidateTokenResponse) -> None:
        out.user.CopyFrom(convert.user(s.user))
        out.project.CopyFrom(convert.project(s.project))
        out.roles.extend(role_value(r) for r in s.roles)
        set_ts(out.expire_time, s.expire_time)

    async def Authenticate(
        self, request: pb.AuthenticateRequest, context: Ctx
    ) -> pb.AuthenticateResponse:
        which = request.WhichOneof("credentials")
        source = peer_address(context.peer() or "")
        if which == "password":
            c = request.password
            s = await self.identity.authenticate_password(c.project, c.username, c.password, source)
        elif which == "api_key":
            s = await self.identity.authenticate_api_key(request.api_key.secret, source)
        else:
            raise InvalidArgument(
                "credentials are required (password or api_key)", {"field": "credentials"}
            )
        out = pb.AuthenticateResponse(token=s.token)
        self._session(s, out)
        return out

    async def ValidateToken(
        self, request: pb.ValidateTokenRequest, context: Ctx
    ) -> pb.ValidateTokenResponse:
        principal()
        s = await self.identity.validate(request.token)
        out = pb.ValidateTokenResponse()
        self._session(s, out)
        return out

    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: Ctx
    ) -> pb.RevokeTokenResponse:
        await self.identity.revoke_token(principal(), request.token)
        return pb.RevokeTokenResponse()

    async def CreateProject(
        self, request: pb.CreateProjectRequest, context: Ctx
    ) -> pb.CreateProjectResponse:
        p = request.project
        created = await self.identity.create_project(
            principal(), m.Project("", p.name, p.description, True)
        )
        return pb.CreateProjectResponse(project=convert.project(created))

    async def GetProject(
        self, request: pb.GetProjectRequest, context: Ctx
    ) -> pb.GetProjectResponse:
        found = await self.identity.get_project(principal(), request.project_id)
        return pb.GetProjectResponse(project=convert.project(found))

    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: Ctx
    ) -> pb.ListProjectsResponse:
        items, token = await self.identity.list_projects(
            principal(), request.page_size, request.page_token, request.user_id
        )
        return pb.ListProjectsResponse(
            projects=[convert.project(p) for p in items], next_page_token=token
        )

    async def DeleteProject(
        self, request: pb.DeleteProjectRequest, context: Ctx
    ) -> pb.DeleteProjectResponse:
        await self.identity.delete_project(principal(), request.project_id)
        return pb.DeleteProjectResponse()

    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Ctx
    ) -> pb.CreateUserResponse:
        u = request.user
        created = await self.identity.create_user(
            principal(),
            m.User("", u.name, u.email, u.default_project_id, True),
            request.password,
        )
        return pb.CreateUserResponse(user=convert.user(created))

    async def GetUser(self, request: pb.GetUserRequest, context: Ctx) -> pb.GetUserResponse:
        return pb.GetUserResponse(
            user=convert.user(await self.identity.get_user(principal(), request.user_id))
        )

    async def ListUsers(self, request: pb.ListUsersRequest, context: Ctx) -> pb.ListUsersResponse:
        items, token = await self.identity.list_users(
            principal(), request.page_size, request.page_token, request.project_id
        )
        return pb.ListUsersResponse(users=[convert.user(u) for u in items], next_page_token=token)

    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: Ctx
    ) -> pb.DeleteUserResponse:
        await self.identity.delete_user(principal(), request.user_id)
        return pb.DeleteUserResponse()

    async def SetPassword(
        self, request: pb.SetPasswordRequest, context: Ctx
    ) -> pb.SetPasswordResponse:
        await self.identity.set_password(
            principal(), request.user_id, request.new_password, request.current_password
        )
        return pb.SetPasswordResponse()

    async def GrantRole(self, request: pb.GrantRoleRequest, context: Ctx) -> pb.GrantRoleResponse:
        a = await self.identity.grant(
            principal(), request.user_id, request.project_id, _role(request.role)
        )
        return pb.GrantRoleResponse(assignment=convert.assignment(a))

    async def RevokeRole(
        self, request: pb.RevokeRoleRequest, context: Ctx
    ) -> pb.RevokeRoleResponse:
        await self.identity.revoke(
            principal(), request.user_id, request.project_id, _role(request.role)
        )
        return pb.RevokeRoleResponse()

    async def ListRoleAssignments(
        self, request: pb.ListRoleAssignmentsRequest, context: Ctx
    ) -> pb.ListRoleAssignmentsResponse:
        items, token = await self.identity.list_assignments(
            principal(), request.page_size, request.page_token, request.user_id, request.project_id
        )
        return pb.ListRoleAssignmentsResponse(
            assignments=[convert.assignment(a) for a in items], next_page_token=token
        )

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Ctx
    ) -> pb.CreateApiKeyResponse:
        key, secret = await self.identity.create_api_key(
            principal(),
            request.name,
            request.project_id,
            from_ts(request.expire_time, request.HasField("expire_time")),
        )
        return pb.CreateApiKeyResponse(api_key=convert.api_key(key), secret=secret)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Ctx
    ) -> pb.ListApiKeysResponse:
        items, token = await self.identity.list_api_keys(
            principal(), request.page_size, request.page_token, request.user_id
        )
        return pb.ListApiKeysResponse(
            api_keys=[convert.api_key(k) for k in items], next_page_token=token
        )

    async def DeleteApiKey(
        self, request: pb.DeleteApiKeyRequest, context: Ctx
    ) -> pb.DeleteApiKeyResponse:
        await self.identity.delete_api_key(principal(), request.api_key_id)
        return pb.DeleteApiKeyResponse()
