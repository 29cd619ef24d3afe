"""Who may see and change what.

- admin sees and changes everything; a service token (an agent, the api) reads everything and
  binds ports;
- a user sees their project's networks and the shared ones, their project's subnets (and
  those of networks they see), ports and security groups; anything else does not exist for
  them (NotFound, never a hint that it does);
- the member role changes resources of its project; reader changes nothing;
- provider attributes (a chosen physical network segment), `shared`, and another project's
  id on create are admin only.
"""

from __future__ import annotations

from polyvisor.common.auth import Principal
from polyvisor.common.errors import NotFound, PermissionDenied, Unauthenticated

__all__ = [
    "can_see_network",
    "principal",
    "require_admin_or_service",
    "require_own",
    "require_write",
    "scope",
]


def principal(p: Principal | None) -> Principal:
    if p is None:
        raise Unauthenticated("this call needs a token")
    return p


def require_write(p: Principal | None) -> Principal:
    caller = principal(p)
    caller.require_write()
    return caller


def require_admin_or_service(p: Principal | None, what: str) -> Principal:
    caller = principal(p)
    if not (caller.is_admin or caller.is_service):
        raise PermissionDenied(f"{what} needs the admin role or a service token")
    return caller


def sees_all(p: Principal) -> bool:
    return p.is_admin or p.is_service


def can_see_network(p: Principal, project_id: str, shared: bool) -> bool:
    return sees_all(p) or shared or project_id == p.project_id


def require_own(p: Principal, project_id: str, kind: str, object_id: str) -> None:
    """`p` may see an object of `project_id`, else it does not exist for them."""
    if not (sees_all(p) or project_id == p.project_id):
        raise NotFound(f"{kind} {object_id} not found", {f"{kind.replace(' ', '_')}_id": object_id})


def scope(p: Principal, all_projects: bool) -> str | None:
    """The project a List is limited to, or None for every project."""
    if all_projects:
        if not sees_all(p):
            raise PermissionDenied("all_projects needs the admin role")
        return None
    return p.project_id
