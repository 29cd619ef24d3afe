"""Flavors, keypairs, quotas and server groups to and from protobuf."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.convert.enums import KEYPAIR_TYPE, SERVER_GROUP_POLICY
from polyvisor.api.store.groups import Group
from polyvisor.common.convert import set_ts
from polyvisor.compute.v1 import flavors_pb2, keypairs_pb2, quotas_pb2, server_groups_pb2


def flavor(f: m.Flavor) -> flavors_pb2.Flavor:
    out = flavors_pb2.Flavor(
        id=f.id,
        name=f.name,
        vcpus=f.vcpus,
        ram_mb=f.ram_mb,
        disk_gb=f.disk_gb,
        extra_specs=f.extra_specs,
        is_public=f.is_public,
        project_ids=list(f.project_ids),
        description=f.description,
    )
    set_ts(out.create_time, f.create_time)
    return out


def flavor_in(f: flavors_pb2.Flavor) -> m.Flavor:
    return m.Flavor(
        id=f.id,
        name=f.name,
        vcpus=f.vcpus,
        ram_mb=f.ram_mb,
        disk_gb=f.disk_gb,
        extra_specs=dict(f.extra_specs),
        is_public=f.is_public,
        project_ids=tuple(f.project_ids),
        description=f.description,
    )


def keypair(k: m.Keypair) -> keypairs_pb2.Keypair:
    out = keypairs_pb2.Keypair(
        name=k.name,
        fingerprint=k.fingerprint,
        public_key=k.public_key,
        type=KEYPAIR_TYPE.value(k.type),
        user_id=k.user_id,
    )
    set_ts(out.create_time, k.create_time)
    return out


def quota(q: m.Quota) -> quotas_pb2.Quota:
    return quotas_pb2.Quota(
        project_id=q.project_id,
        limits=quotas_pb2.QuotaLimits(
            instances=q.limits.instances, vcpus=q.limits.vcpus, ram_mb=q.limits.ram_mb
        ),
        usage=quotas_pb2.QuotaUsage(
            instances=q.usage.instances, vcpus=q.usage.vcpus, ram_mb=q.usage.ram_mb
        ),
    )


def group(g: Group) -> server_groups_pb2.ServerGroup:
    out = server_groups_pb2.ServerGroup(
        id=g.id,
        name=g.name,
        policy=SERVER_GROUP_POLICY.value(g.policy),
        members=list(g.members),
        project_id=g.project_id,
    )
    set_ts(out.create_time, g.create_time)
    return out
