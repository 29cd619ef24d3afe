"""Who may see and change what: the project a caller's request is scoped to.

A scope is a project id, or None for "every project" (administrators only). Store queries take
the scope and put it in their WHERE clause.
"""

from __future__ import annotations

from polyvisor.common.auth import Principal
from polyvisor.common.errors import PermissionDenied, Unauthenticated


def caller(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthenticated("this call needs a token")
    return principal


def resource_scope(p: Principal) -> str | None:
    """Scope for acting on one resource by id: admins reach every project."""
    return None if p.is_admin else p.project_id


def list_scope(p: Principal, project_id: str = "", all_projects: bool = False) -> str | None:
    """Scope for listing: the caller's project, or (admins) another one or all of them (a
    project named beside all_projects narrows it to that one, as Nova's tenant_id does)."""
    if all_projects:
        if not p.is_admin:
            raise PermissionDenied("all_projects needs the admin role")
        return project_id or None
    if project_id and project_id != p.project_id:
        if not p.is_admin:
            raise PermissionDenied("only admins may look into another project")
        return project_id
    return p.project_id


def require_agent_of(p: Principal, host: str) -> None:
    """An agent may ask only about its own host."""
    if not p.is_agent:
        raise PermissionDenied("this call is for agents (an agent token is needed)")
    if host != p.host:
        raise PermissionDenied(f"the agent of {p.host} cannot act for host {host}")
