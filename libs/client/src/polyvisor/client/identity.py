"""Identity: who the token belongs to, projects, users, roles and API keys."""

from __future__ import annotations

import uuid

from polyvisor.client.session import Session
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2

__all__ = ["IdentityApi", "role_number"]


def role_number(role: str | int) -> int:
    if isinstance(role, int):
        return role
    return int(identity_pb2.Role.Value(f"ROLE_{role.strip().upper()}"))


class IdentityApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def validate_token(
        self, token: str | None = None
    ) -> identity_requests_pb2.ValidateTokenResponse:
        """Whose token this is (default: the session's own)."""
        if token is None:
            token = (await self._s.authenticate()).token
        resp: identity_requests_pb2.ValidateTokenResponse = await self._s.call(
            self._s.identity.ValidateToken, identity_requests_pb2.ValidateTokenRequest(token=token)
        )
        return resp

    async def create_project(self, name: str, *, description: str = "") -> identity_pb2.Project:
        resp = await self._s.call(
            self._s.identity.CreateProject,
            identity_requests_pb2.CreateProjectRequest(
                request_id=str(uuid.uuid4()),
                project=identity_pb2.Project(name=name, description=description, enabled=True),
            ),
        )
        return resp.project

    async def get_project(self, project_id_or_name: str) -> identity_pb2.Project:
        resp = await self._s.call(
            self._s.identity.GetProject,
            identity_requests_pb2.GetProjectRequest(project_id=project_id_or_name),
        )
        return resp.project

    async def list_projects(self) -> list[identity_pb2.Project]:
        req = identity_requests_pb2.ListProjectsRequest()
        out: list[identity_pb2.Project] = []
        while True:
            resp = await self._s.call(self._s.identity.ListProjects, req)
            out.extend(resp.projects)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def delete_project(self, project_id: str) -> None:
        await self._s.call(
            self._s.identity.DeleteProject,
            identity_requests_pb2.DeleteProjectRequest(project_id=project_id),
        )

    async def create_user(
        self, name: str, *, password: str = "", email: str = "", default_project_id: str = ""
    ) -> identity_pb2.User:
        resp = await self._s.call(
            self._s.identity.CreateUser,
            identity_requests_pb2.CreateUserRequest(
                request_id=str(uuid.uuid4()),
                user=identity_pb2.User(
                    name=name, email=email, default_project_id=default_project_id, enabled=True
                ),
                password=password,
            ),
        )
        return resp.user

    async def get_user(self, user_id_or_name: str) -> identity_pb2.User:
        resp = await self._s.call(
            self._s.identity.GetUser, identity_requests_pb2.GetUserRequest(user_id=user_id_or_name)
        )
        return resp.user

    async def list_users(self, *, project_id: str = "") -> list[identity_pb2.User]:
        """Every user (an admin's view), or those with a role on `project_id`."""
        req = identity_requests_pb2.ListUsersRequest(project_id=project_id)
        out: list[identity_pb2.User] = []
        while True:
            resp = await self._s.call(self._s.identity.ListUsers, req)
            out.extend(resp.users)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def delete_user(self, user_id: str) -> None:
        await self._s.call(
            self._s.identity.DeleteUser, identity_requests_pb2.DeleteUserRequest(user_id=user_id)
        )

    async def grant_role(
        self, user_id: str, project_id: str, role: str | int
    ) -> identity_pb2.RoleAssignment:
        resp = await self._s.call(
            self._s.identity.GrantRole,
            identity_requests_pb2.GrantRoleRequest(
                user_id=user_id, project_id=project_id, role=role_number(role)
            ),
        )
        return resp.assignment

    async def revoke_role(self, user_id: str, project_id: str, role: str | int) -> None:
        await self._s.call(
            self._s.identity.RevokeRole,
            identity_requests_pb2.RevokeRoleRequest(
                user_id=user_id, project_id=project_id, role=role_number(role)
            ),
        )

    async def list_role_assignments(
        self, *, user_id: str = "", project_id: str = ""
    ) -> list[identity_pb2.RoleAssignment]:
        req = identity_requests_pb2.ListRoleAssignmentsRequest(
            user_id=user_id, project_id=project_id
        )
        out: list[identity_pb2.RoleAssignment] = []
        while True:
            resp = await self._s.call(self._s.identity.ListRoleAssignments, req)
            out.extend(resp.assignments)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def list_api_keys(self, *, user_id: str = "") -> list[identity_pb2.ApiKey]:
        """The caller's API keys (an admin: another user's, with `user_id`)."""
        req = identity_requests_pb2.ListApiKeysRequest(user_id=user_id)
        out: list[identity_pb2.ApiKey] = []
        while True:
            resp = await self._s.call(self._s.identity.ListApiKeys, req)
            out.extend(resp.api_keys)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def create_api_key(
        self, name: str, *, project_id: str = ""
    ) -> tuple[identity_pb2.ApiKey, str]:
        """A new API key of the caller and its secret (returned only here)."""
        resp = await self._s.call(
            self._s.identity.CreateApiKey,
            identity_requests_pb2.CreateApiKeyRequest(name=name, project_id=project_id),
        )
        return resp.api_key, resp.secret

    async def delete_api_key(self, api_key_id: str) -> None:
        await self._s.call(
            self._s.identity.DeleteApiKey,
            identity_requests_pb2.DeleteApiKeyRequest(api_key_id=api_key_id),
        )
