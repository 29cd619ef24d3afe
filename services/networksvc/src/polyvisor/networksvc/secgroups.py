"""Security groups and their rules; the project's default group on first use."""

from __future__ import annotations

import builtins
from collections.abc import Callable

from polyvisor.common.auth import Principal
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, NotFound
from polyvisor.common.id_paging import after, next_token, page_size
from polyvisor.networksvc import access
from polyvisor.networksvc.events import GroupMember
from polyvisor.networksvc.model import Direction, RemoteGroup, SecurityGroup, SecurityGroupRule
from polyvisor.networksvc.rules import normalise_rule
from polyvisor.networksvc.store import Store
from polyvisor.networksvc.validation import check_name

__all__ = ["SecurityGroups"]

MAX_RULES = 200


class SecurityGroups:
    def __init__(self, store: Store, wake: Callable[[], None]) -> None:
        self._store = store
        self._wake = wake

    async def create(
        self, p: Principal | None, name: str, description: str, project_id: str, request_id: str
    ) -> SecurityGroup:
        caller = access.require_write(p)
        project = project_id or caller.project_id
        if project != caller.project_id and not caller.is_admin:
            raise InvalidArgument("only an admin creates a group for another project")
        check_name(name)
        check_name(description, "description")
        if not name:
            raise InvalidArgument("a security group needs a name")
        if name == "default":
            raise InvalidArgument("'default' is the name of the project's default group")
        await self._store.ensure_default_group(project)
        group = await self._store.insert_group(name, description, project, request_id or None)
        self._wake()
        return group

    async def get(self, p: Principal | None, group_id: str) -> SecurityGroup:
        caller = access.principal(p)
        group = await self._store.get_group(group_id)
        if group is None:
            raise NotFound(f"security group {group_id} not found", {"security_group_id": group_id})
        access.require_own(caller, group.project_id, "security group", group_id)
        return group

    async def list(
        self, p: Principal | None, *, name: str, all_projects: bool, size: int, token: str
    ) -> tuple[list[SecurityGroup], str]:
        caller = access.principal(p)
        project = access.scope(caller, all_projects)
        if project is not None and caller.project_id and not token:
            await self._store.ensure_default_group(caller.project_id)
            self._wake()
        limit = page_size(size)
        items = await self._store.list_groups(project, name=name, after=after(token), limit=limit)
        return items, next_token(items, limit)

    async def members(
        self, p: Principal | None, group_id: str
    ) -> tuple[RemoteGroup, builtins.list[GroupMember]]:
        group = await self.get(p, group_id)
        members = await self._store.group_members(group.id)
        if members is None:
            raise NotFound(f"security group {group_id} not found", {"security_group_id": group_id})
        return members

    async def delete(self, p: Principal | None, group_id: str) -> None:
        caller = access.require_write(p)
        group = await self.get(caller, group_id)
        if group.is_default and not caller.is_admin:
            raise FailedPrecondition(f"security group {group_id} is the project's default group")
        await self._store.delete_group(group.id)
        self._wake()

    async def create_rule(
        self,
        p: Principal | None,
        group_id: str,
        direction: Direction | None,
        ethertype: str,
        protocol: str,
        port_range_min: int | None,
        port_range_max: int | None,
        remote_ip_prefix: str,
        remote_group_id: str,
        description: str,
    ) -> SecurityGroupRule:
        caller = access.require_write(p)
        if not group_id:
            raise InvalidArgument("security_group_id is required")
        group = await self.get(caller, group_id)
        check_name(description, "description")
        rule = normalise_rule(
            direction, ethertype, protocol, port_range_min, port_range_max,
            remote_ip_prefix, remote_group_id,
        )  # fmt: skip
        if rule.remote_group_id:
            remote = await self._store.get_group(rule.remote_group_id)
            if remote is None or remote.project_id != group.project_id:
                raise NotFound(
                    f"remote security group {rule.remote_group_id} not found",
                    {"remote_group_id": rule.remote_group_id},
                )
        if len(group.rules) >= MAX_RULES:
            raise FailedPrecondition(f"security group {group_id} has {MAX_RULES} rules already")
        out = await self._store.insert_rule(group.id, group.project_id, rule, description)
        self._wake()
        return out

    async def get_rule(self, p: Principal | None, rule_id: str) -> SecurityGroupRule:
        caller = access.principal(p)
        rule = await self._store.get_rule(rule_id)
        if rule is None:
            raise NotFound(f"security group rule {rule_id} not found")
        access.require_own(caller, rule.project_id, "security group rule", rule_id)
        return rule

    async def list_rules(
        self, p: Principal | None, group_id: str, all_projects: bool
    ) -> builtins.list[SecurityGroupRule]:
        caller = access.principal(p)
        if group_id:
            await self.get(caller, group_id)  # NotFound unless the caller sees it
            return await self._store.list_rules(None, group_id)
        project = access.scope(caller, all_projects)
        return await self._store.list_rules(project, group_id)

    async def delete_rule(self, p: Principal | None, rule_id: str) -> None:
        caller = access.require_write(p)
        rule = await self.get_rule(caller, rule_id)
        await self._store.delete_rule(rule.id)
        self._wake()
