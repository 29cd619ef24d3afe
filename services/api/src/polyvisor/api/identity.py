"""Identity: projects, users, roles, API keys, and tokens.

A token is scoped to one project and carries the caller's roles there. Holding the admin
role on any project makes a user a cloud administrator: their tokens carry "admin" whatever
project they are scoped to (and they may scope to any project).

Projects, users, roles and API keys are in `identity_directory`; this module adds tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from polyvisor.api import models as m
from polyvisor.api import passwords
from polyvisor.api.identity_directory import IdentityDirectory, Revoke
from polyvisor.api.store import identity as store
from polyvisor.common.auth import (
    KIND_AGENT,
    KIND_SERVICE,
    KIND_USER,
    Principal,
)
from polyvisor.common.db import db_errors
from polyvisor.common.derived_keys import (
    is_agent_key,
    is_service_key,
    verify_agent_key,
    verify_service_key,
)
from polyvisor.common.errors import InvalidArgument, PermissionDenied, Unauthenticated

__all__ = ["Identity", "Revoke", "Session"]

_BAD_LOGIN = "invalid username or password"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    principal: Principal
    user: m.User
    project: m.Project
    roles: tuple[str, ...]

    @property
    def expire_time(self) -> datetime:
        return datetime.fromtimestamp(self.principal.expires_at, UTC)


class Identity(IdentityDirectory):
    """The identity service's domain: the directory, and the tokens made from it."""

    # ------------------------------------------------------------------ tokens

    async def authenticate_password(
        self, project: str, username: str, password: str, source: str = ""
    ) -> Session:
        if not username or not password:
            raise Unauthenticated(_BAD_LOGIN)
        self.throttle.check(username, source)
        with db_errors():
            found = await store.user_credentials(self.pool, username)
        if found is None:
            await passwords.verify_password(None, password)  # same cost as a real check
            self.throttle.failed(username, source)
            raise Unauthenticated(_BAD_LOGIN)
        user, pw_hash = found
        if not await passwords.verify_password(pw_hash, password):
            self.throttle.failed(username, source)
            raise Unauthenticated(_BAD_LOGIN)
        self.throttle.succeeded(username)
        if not user.enabled:
            raise Unauthenticated("this user is disabled")
        project_ref = project or user.default_project_id
        if not project_ref:
            raise InvalidArgument(
                "no project given and the user has no default project",
                {"field": "password.project"},
            )
        return await self._session(user, project_ref, kind="user")

    async def authenticate_api_key(self, secret: str, source: str = "") -> Session:
        if not secret:
            raise Unauthenticated("invalid API key")
        self.throttle.check("", source)
        if is_agent_key(secret):
            try:
                host = verify_agent_key(self.agent_key_secret, secret)
            except Unauthenticated:
                self.throttle.failed("", source)
                raise
            return self._agent_session(host)
        if is_service_key(secret):
            try:
                name = verify_service_key(self.agent_key_secret, secret)
            except Unauthenticated:
                self.throttle.failed("", source)
                raise
            return self._service_session(name)
        with db_errors():
            key = await store.api_key_by_digest(self.pool, passwords.secret_digest(secret))
            if key is None:
                self.throttle.failed("", source)
                raise Unauthenticated("invalid API key")
            if key.kind != KIND_USER:
                raise Unauthenticated(
                    "shared service API keys are no longer accepted: give each agent its own "
                    "key (POLYVISOR_AGENT_API_KEY, derived for its host)"
                )
            now = datetime.now(UTC)
            if key.expire_time is not None and key.expire_time <= now:
                raise Unauthenticated("this API key has expired")
            user = await store.get_user(self.pool, key.user_id)
            if user is None or not user.enabled:
                raise Unauthenticated("the owner of this API key is disabled")
            await store.touch_api_key(self.pool, key.id, now)
        return await self._session(user, key.project_id, kind=KIND_USER, by_id=True, key_id=key.id)

    def _agent_session(self, host: str) -> Session:
        """The token of the agent of `host`: no role, no project; it may call only what the
        services' rules open to agents, for its own host."""
        name = f"agent-{host}"
        token, principal = self.signer.issue(
            user_id=f"agent:{host}",
            project_id="",
            roles=(),
            username=name,
            kind=KIND_AGENT,
            host=host,
        )
        return Session(token, principal, m.User(f"agent:{host}", name), m.Project("", ""), ())

    def _service_session(self, name: str) -> Session:
        """The token of a keyed control-plane service (the console proxy): no role, no
        project; the services' rules say what its name may call."""
        token, principal = self.signer.issue(
            user_id=name, project_id="", roles=(), username=name, kind=KIND_SERVICE
        )
        return Session(token, principal, m.User(name, name), m.Project("", ""), ())

    async def _session(
        self, user: m.User, project_ref: str, kind: str, by_id: bool = False, key_id: str = ""
    ) -> Session:
        with db_errors():
            project = await store.get_project(self.pool, project_ref)
            if project is None or (by_id and project.id != project_ref):
                raise PermissionDenied(f"no access to project {project_ref}")
            roles = await store.roles_on(self.pool, user.id, project.id)
            if await store.is_cloud_admin(self.pool, user.id):
                roles.add(m.ROLE_ADMIN)
        if not project.enabled:
            raise PermissionDenied(f"project {project.name} is disabled")
        if not roles:
            raise PermissionDenied(f"user {user.name} has no role on project {project.name}")
        token, principal = self.signer.issue(
            user_id=user.id,
            project_id=project.id,
            roles=roles,
            username=user.name,
            kind=kind,
            api_key_id=key_id,
        )
        return Session(token, principal, user, project, tuple(sorted(roles)))

    async def revoke_token(self, p: Principal, token: str) -> None:
        """Revoke one user token on every service: the caller's own, or anyone's for an
        admin (Keystone's DELETE /v3/auth/tokens)."""
        if not token:
            raise InvalidArgument("token is required", {"field": "token"})
        target = self.verifier.verify(token)
        if target.kind != KIND_USER:
            raise InvalidArgument("not a user token", {"field": "token"})
        if target.user_id != p.user_id and not p.is_admin:
            raise PermissionDenied("a user revokes only their own tokens")
        if not target.token_id:
            raise InvalidArgument("this token has no id to revoke", {"field": "token"})
        await self._revoke("token", target.token_id)

    async def validate(self, token: str) -> Session:
        principal = self.verifier.verify(token)
        if self._is_revoked(principal):
            raise Unauthenticated("token revoked")
        if principal.kind != KIND_USER:
            raise Unauthenticated("not a user token")
        with db_errors():
            user = await store.get_user(self.pool, principal.user_id)
            project = await store.get_project(self.pool, principal.project_id)
        if user is None or project is None:
            raise Unauthenticated("the token's user or project no longer exists")
        return Session(token, principal, user, project, tuple(sorted(principal.roles)))
