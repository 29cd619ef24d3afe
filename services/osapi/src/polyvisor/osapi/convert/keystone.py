"""Keystone v3's JSON: tokens with their service catalog, projects, users, application
credentials. Polyvisor has no domains: everything is in the one domain `default`."""

from __future__ import annotations

import hashlib
from typing import Any

from polyvisor.client.enums import display
from polyvisor.identity.v1 import identity_pb2
from polyvisor.osapi.convert.common import iso_us, stable_uuid

__all__ = [
    "DEFAULT_DOMAIN",
    "app_cred",
    "catalog",
    "domain",
    "project",
    "role",
    "role_names",
    "token",
    "user",
]

DEFAULT_DOMAIN = {"id": "default", "name": "Default"}

#: (type, name, path under the gateway's base URL)
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "neutron", "/network"),
)
#: Cinder's, whose endpoints name the project (Cinder's `$(project_id)s`): only in a
#: project-scoped token's catalog, as Keystone leaves them out of the others.
PROJECT_SERVICES = (
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
    ("block-storage", "cinder", "/volume/v3/{project_id}"),
)


def catalog(
    base: str, region: str, project_id: str = "", block_storage: bool = True
) -> list[dict[str, Any]]:
    """The services at `base`; Cinder's at `project_id`'s endpoints when there is a project
    and the gateway has a volume service (`block_storage`)."""
    out = []
    scoped = (
        [(k, n, p.format(project_id=project_id)) for k, n, p in PROJECT_SERVICES]
        if project_id and block_storage
        else []
    )
    for kind, name, path in (*SERVICES, *scoped):
        endpoints = [
            {
                "id": stable_uuid("endpoint", kind, iface),
                "interface": iface,
                "region": region,
                "region_id": region,
                "url": base + path,
            }
            for iface in ("public", "internal", "admin")
        ]
        out.append({"id": stable_uuid("service", kind), "type": kind, "name": name,
                    "endpoints": endpoints})  # fmt: skip
    return out


def role_names(roles: Any) -> list[str]:
    return [display(identity_pb2.Role.DESCRIPTOR, r) for r in roles]


def role(name: str) -> dict[str, Any]:
    return {"id": name, "name": name, "domain_id": None}


def token(
    resp: Any,
    token_id: str,
    methods: list[str],
    base: str,
    region: str,
    issued: str,
    block_storage: bool = True,
) -> dict[str, Any]:
    """`resp`: an AuthenticateResponse or a ValidateTokenResponse."""
    body: dict[str, Any] = {
        "methods": methods,
        "user": {
            "id": resp.user.id,
            "name": resp.user.name,
            "domain": DEFAULT_DOMAIN,
            "password_expires_at": None,
        },
        "audit_ids": [hashlib.sha256(token_id.encode()).hexdigest()[:22]],
        "expires_at": iso_us(resp.expire_time),
        "issued_at": issued,
        "is_domain": False,
    }
    if resp.project.id:
        body["project"] = {"id": resp.project.id, "name": resp.project.name,
                           "domain": DEFAULT_DOMAIN}  # fmt: skip
        body["roles"] = [role(r) for r in role_names(resp.roles)]
        body["catalog"] = catalog(base, region, resp.project.id, block_storage)
    return {"token": body}


def domain(base: str) -> dict[str, Any]:
    return {**DEFAULT_DOMAIN, "description": "The only domain", "enabled": True, "tags": [],
            "options": {}, "links": {"self": f"{base}/identity/v3/domains/default"}}  # fmt: skip


def project(p: Any, base: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "enabled": p.enabled,
        "domain_id": "default",
        "parent_id": "default",
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/identity/v3/projects/{p.id}"},
    }


def user(u: Any, base: str) -> dict[str, Any]:
    out = {
        "id": u.id,
        "name": u.name,
        "enabled": u.enabled,
        "domain_id": "default",
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{base}/identity/v3/users/{u.id}"},
    }
    if u.email:
        out["email"] = u.email
    if u.default_project_id:
        out["default_project_id"] = u.default_project_id
    return out


def app_cred(k: Any, roles: list[str], secret: str = "") -> dict[str, Any]:
    out = {
        "id": k.id,
        "name": k.name,
        "description": None,
        "project_id": k.project_id,
        "user_id": k.user_id,
        "expires_at": iso_us(k.expire_time),
        "unrestricted": False,
        "roles": [role(r) for r in roles],
        "access_rules": [],
    }
    if secret:
        out["secret"] = secret
    return out
