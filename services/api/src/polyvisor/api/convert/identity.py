"""Identity objects to protobuf."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.convert.enums import role_value
from polyvisor.common.convert import set_ts
from polyvisor.identity.v1 import identity_pb2


def project(p: m.Project) -> identity_pb2.Project:
    out = identity_pb2.Project(id=p.id, name=p.name, description=p.description, enabled=p.enabled)
    set_ts(out.create_time, p.create_time)
    return out


def user(u: m.User) -> identity_pb2.User:
    out = identity_pb2.User(
        id=u.id,
        name=u.name,
        email=u.email,
        default_project_id=u.default_project_id,
        enabled=u.enabled,
    )
    set_ts(out.create_time, u.create_time)
    return out


def assignment(a: m.RoleAssignment) -> identity_pb2.RoleAssignment:
    return identity_pb2.RoleAssignment(
        user_id=a.user_id, project_id=a.project_id, role=role_value(a.role)
    )


def api_key(k: m.ApiKey) -> identity_pb2.ApiKey:
    out = identity_pb2.ApiKey(
        id=k.id, name=k.name, user_id=k.user_id, project_id=k.project_id, prefix=k.prefix
    )
    set_ts(out.create_time, k.create_time)
    set_ts(out.expire_time, k.expire_time)
    set_ts(out.last_used_time, k.last_used_time)
    return out
