"""The identity directory: projects, users, role assignments and API keys, and the first
administrator (`bootstrap_admin`). Tokens are made from it in `identity` (the `Identity` class
adds them to this one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from polyvisor.api import ids, passwords, validation
from polyvisor.api import models as m
from polyvisor.api.pagination import page_request
from polyvisor.api.store import identity as store
from polyvisor.api.store import quotas
from polyvisor.api.store.db import Pool
from polyvisor.api.throttle import LoginThrottle
from polyvisor.common.auth import (
    KIND_USER,
    Principal,
    TokenSigner,
    TokenVerifier,
)
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from polyvisor.common.logging import get_logger

log = get_logger(__name__)

__all__ = ["IdentityDirectory", "Revoke"]

#: Publishes a revocation (scope, id) to every service; raises if it cannot.
Revoke = Callable[[str, str], Awaitable[None]]


async def _no_revocation_feed(scope: str, ident: str) -> None:
    log.warning("no revocation feed: tokens stay valid until they expire", scope=scope, id=ident)


class IdentityDirectory:
    """Who exists and holds which role where; every change a revocation may follow."""

    def __init__(
        self,
        pool: Pool,
        signer: TokenSigner,
        verifier: TokenVerifier,
        default_quota: m.QuotaLimits,
        *,
        revoke: Revoke = _no_revocation_feed,
        is_revoked: Callable[[Principal], bool] = lambda _: False,
        agent_key_secret: str = "",
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.pool = pool
        self.signer = signer
        self.verifier = verifier
        self.default_quota = default_quota
        self._revoke = revoke
        self._is_revoked = is_revoked
        self.agent_key_secret = agent_key_secret
        self.throttle = throttle or LoginThrottle()

    # ------------------------------------------------------------------ projects

    async def create_project(self, p: Principal, project: m.Project) -> m.Project:
        p.require_admin()
        name = validation.name(project.name, "project.name")
        new = m.Project(ids.new_id(), name, project.description[:1024], project.enabled)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                created = await store.insert_project(conn, new)
                if created is None:
                    raise AlreadyExists(f"project {name} already exists", {"name": name})
                await quotas.ensure(conn, created.id, self.default_quota)
        log.info("project created", project_id=created.id, name=name)
        return created

    async def get_project(self, p: Principal, ref: str) -> m.Project:
        ref = validation.required(ref, "project_id")
        with db_errors():
            project = await store.get_project(self.pool, ref)
            if project is not None and not p.is_admin and project.id != p.project_id:
                roles = await store.roles_on(self.pool, p.user_id, project.id)
                if not roles:
                    project = None
        if project is None:
            raise NotFound(f"project {ref} not found", {"project_id": ref})
        return project

    async def list_projects(
        self, p: Principal, page_size: int, page_token: str, user_id: str
    ) -> tuple[list[m.Project], str]:
        if not p.is_admin:
            user_id = p.user_id
        page = page_request(page_size, page_token, user=user_id)
        with db_errors():
            found = await store.list_projects(self.pool, user_id, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def delete_project(self, p: Principal, ref: str) -> None:
        p.require_admin()
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                project = await store.get_project(conn, validation.required(ref, "project_id"))
                if project is None:
                    raise NotFound(f"project {ref} not found", {"project_id": ref})
                live = await conn.fetchval(
                    "SELECT count(*) FROM servers WHERE project_id = $1 AND state <> 'DELETED'",
                    project.id,
                )
                if live:
                    raise FailedPrecondition(
                        f"project {project.name} still has {live} server(s); delete them first",
                        {"project_id": project.id},
                    )
                await store.delete_project(conn, project.id)
                # Before the commit: if no service can learn of it, nothing is deleted.
                await self._revoke("project", project.id)
        log.info("project deleted", project_id=project.id)

    # ------------------------------------------------------------------ users

    async def create_user(self, p: Principal, user: m.User, password: str) -> m.User:
        p.require_admin()
        name = validation.name(user.name, "user.name")
        pw_hash = None
        if password:
            _check_password(password)
            pw_hash = await passwords.hash_password(password)
        default_project = ""
        with db_errors():
            if user.default_project_id:
                project = await store.get_project(self.pool, user.default_project_id)
                if project is None:
                    raise NotFound(f"project {user.default_project_id} not found")
                default_project = project.id
            created = await store.insert_user(
                self.pool,
                m.User(ids.new_id(), name, user.email[:255], default_project, user.enabled),
                pw_hash,
            )
        if created is None:
            raise AlreadyExists(f"user {name} already exists", {"name": name})
        log.info("user created", user_id=created.id, name=name)
        return created

    async def get_user(self, p: Principal, ref: str) -> m.User:
        ref = validation.required(ref, "user_id")
        with db_errors():
            user = await store.get_user(self.pool, ref)
        if user is None or (not p.is_admin and user.id != p.user_id):
            raise NotFound(f"user {ref} not found", {"user_id": ref})
        return user

    async def list_users(
        self, p: Principal, page_size: int, page_token: str, project_id: str
    ) -> tuple[list[m.User], str]:
        p.require_admin()
        page = page_request(page_size, page_token, project=project_id)
        with db_errors():
            found = await store.list_users(self.pool, project_id, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def delete_user(self, p: Principal, ref: str) -> None:
        p.require_admin()
        user = await self.get_user(p, ref)
        if user.id == p.user_id:
            raise FailedPrecondition("you cannot delete yourself")
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await store.delete_user(conn, user.id)
                await self._revoke("user", user.id)

    async def set_password(self, p: Principal, ref: str, new: str, current: str) -> None:
        """Your own password needs the current one (a stolen token or API key must not become
        a password login); an admin resets another user's without it."""
        if p.kind != KIND_USER:
            raise PermissionDenied("only users have passwords")
        target = p.user_id if not ref else (await self.get_user(p, ref)).id
        _check_password(new)
        if target == p.user_id:
            if not current:
                raise InvalidArgument(
                    "current_password is required to change your own password",
                    {"field": "current_password"},
                )
            with db_errors():
                stored = await store.password_hash(self.pool, target)
            if stored is None or not await passwords.verify_password(stored, current):
                raise PermissionDenied("current_password is wrong")
        elif not p.is_admin:
            raise PermissionDenied("only admins may set another user's password")
        new_hash = await passwords.hash_password(new)
        with db_errors():
            if not await store.set_password_hash(self.pool, target, new_hash):
                raise NotFound(f"user {target} not found")

    # ------------------------------------------------------------------ roles

    async def grant(
        self, p: Principal, user_ref: str, project_ref: str, role: str
    ) -> m.RoleAssignment:
        p.require_admin()
        user, project = await self._user_and_project(user_ref, project_ref, role)
        with db_errors():
            await store.grant(self.pool, user.id, project.id, role)
        return m.RoleAssignment(user.id, project.id, role)

    async def revoke(self, p: Principal, user_ref: str, project_ref: str, role: str) -> None:
        p.require_admin()
        user, project = await self._user_and_project(user_ref, project_ref, role)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                if not await store.revoke(conn, user.id, project.id, role):
                    raise NotFound(f"user {user.name} has no {role} role on {project.name}")
                # The user's tokens carry their roles: every one issued so far ends.
                await self._revoke("user", user.id)

    async def _user_and_project(
        self, user_ref: str, project_ref: str, role: str
    ) -> tuple[m.User, m.Project]:
        if role not in m.ROLES:
            raise InvalidArgument("role must be admin, member or reader", {"field": "role"})
        with db_errors():
            user = await store.get_user(self.pool, validation.required(user_ref, "user_id"))
            project = await store.get_project(
                self.pool, validation.required(project_ref, "project_id")
            )
        if user is None:
            raise NotFound(f"user {user_ref} not found", {"user_id": user_ref})
        if project is None:
            raise NotFound(f"project {project_ref} not found", {"project_id": project_ref})
        return user, project

    async def list_assignments(
        self, p: Principal, page_size: int, page_token: str, user_id: str, project_id: str
    ) -> tuple[list[m.RoleAssignment], str]:
        p.require_admin()
        page = page_request(page_size, page_token, user=user_id, project=project_id)
        with db_errors():
            found = await store.list_assignments(
                self.pool, user_id, project_id, page.after, page.size + 1
            )
        items = found[: page.size]
        last = f"{items[-1].user_id}/{items[-1].project_id}/{items[-1].role}" if items else ""
        return items, page.next_token(found, last)

    # ------------------------------------------------------------------ API keys

    async def create_api_key(
        self, p: Principal, name: str, project_id: str, expire_time: datetime | None
    ) -> tuple[m.ApiKey, str]:
        if p.kind != KIND_USER:
            raise PermissionDenied("service and agent tokens cannot create API keys")
        name = validation.name(name, "name")
        project_id = project_id or p.project_id
        if expire_time is not None and expire_time <= datetime.now(UTC):
            raise InvalidArgument("expire_time is in the past", {"field": "expire_time"})
        with db_errors():
            if project_id != p.project_id and not p.is_admin:
                if not await store.roles_on(self.pool, p.user_id, project_id):
                    raise PermissionDenied(f"no role on project {project_id}")
            if await store.get_project(self.pool, project_id) is None:
                raise NotFound(f"project {project_id} not found")
            secret = passwords.new_api_key_secret()
            key = await store.insert_api_key(
                self.pool,
                m.ApiKey(
                    ids.new_id(),
                    name,
                    p.user_id,
                    project_id,
                    secret[:10],
                    "user",
                    expire_time=expire_time,
                ),
                passwords.secret_digest(secret),
            )
        assert key is not None
        return key, secret

    async def list_api_keys(
        self, p: Principal, page_size: int, page_token: str, user_id: str
    ) -> tuple[list[m.ApiKey], str]:
        if user_id and user_id != p.user_id:
            p.require_admin()
        owner = user_id or p.user_id
        page = page_request(page_size, page_token, user=owner)
        with db_errors():
            found = await store.list_api_keys(self.pool, owner, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def delete_api_key(self, p: Principal, key_id: str) -> None:
        key_id = validation.required(key_id, "api_key_id")
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                deleted = await store.delete_api_key(
                    conn, key_id, None if p.is_admin else p.user_id
                )
                if deleted:
                    await self._revoke("api_key", key_id)
        if not deleted:
            raise NotFound(f"API key {key_id} not found", {"api_key_id": key_id})

    # ------------------------------------------------------------------ bootstrap

    async def bootstrap_admin(self, username: str, password: str, project_name: str) -> None:
        """Create the first admin, once (the first replica to start does it)."""
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                if not await store.mark_bootstrapped(conn, f"admin:{username}"):
                    return
                project = await store.get_project(conn, project_name)
                if project is None:
                    project = await store.insert_project(
                        conn, m.Project(ids.new_id(), project_name, "administration")
                    )
                    assert project is not None
                await quotas.ensure(conn, project.id, self.default_quota)
                user = await store.get_user(conn, username)
                if user is None:
                    user = await store.insert_user(
                        conn,
                        m.User(ids.new_id(), username, "", project.id, True),
                        await passwords.hash_password(password),
                    )
                    assert user is not None
                await store.grant(conn, user.id, project.id, m.ROLE_ADMIN)
        log.info("bootstrap admin created", user=username, project=project_name)


def _check_password(password: str) -> None:
    if not passwords.MIN_PASSWORD_LENGTH <= len(password) <= passwords.MAX_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"password must be {passwords.MIN_PASSWORD_LENGTH}-{passwords.MAX_PASSWORD_LENGTH} characters",
            {"field": "password"},
        )
