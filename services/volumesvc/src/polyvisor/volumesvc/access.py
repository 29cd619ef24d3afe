"""Who may do what.

A user sees and changes its project's volumes (the reader role changes nothing); another
project's volume does not exist for them (NOT_FOUND). Admins see all; the compute api (a
service identity) reserves and releases attachments for the servers of any project, naming
the server's project, which must be the volume's.
"""

from __future__ import annotations

from polyvisor.common.auth import Principal
from polyvisor.common.errors import PermissionDenied, Unauthenticated

__all__ = ["principal", "require_orchestrator", "sees_all"]


def principal(p: Principal | None) -> Principal:
    if p is None:
        raise Unauthenticated("this call needs a token")
    return p


def sees_all(p: Principal) -> bool:
    return p.is_admin or p.is_service


def require_orchestrator(p: Principal | None) -> Principal:
    caller = principal(p)
    if not (caller.is_admin or (caller.is_service and not caller.is_agent)):
        raise PermissionDenied("attachments are made by the compute api")
    return caller
