"""Rows (asyncpg records, or the JSON snapshots of the change log) to domain objects."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.resize_state import Resize


def js(value: Any) -> Any:
    """A jsonb value: asyncpg hands text unless a codec is set; snapshots hand objects."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


SERVER_COLUMNS = (
    "id, project_id, user_id, name, image_id, flavor, state, task, task_deadline, power_state, "
    "desired_power_state, fault, host, hypervisor_type, esxi_host, availability_zone, "
    "addresses, key_name, has_user_data, metadata, console, create_time, update_time, "
    "launch_time, delete_time, generation, request_id, revision, attempts, instance_name, "
    "command_attempts, tried_hosts, alternates, last_request_id, action_args, tags, resize"
)

# What a server shows (ListServers' and GetServer's answer), read for a page: the columns the
# protobuf needs, and the JSON ones as one JSON array in text (one json.loads per server
# instead of one per column and server), in the order of SHOWN_PARTS.
SHOWN_PARTS = ("flavor", "addresses", "metadata", "console", "fault", "resize")
SHOWN_COLUMNS = (
    "id, project_id, user_id, name, image_id, state, task, task_deadline, power_state, host, "
    "hypervisor_type, esxi_host, availability_zone, key_name, has_user_data, create_time, "
    "update_time, launch_time, delete_time, generation, request_id, revision, attempts, "
    f"instance_name, tags, json_build_array({', '.join(SHOWN_PARTS)})::text AS parts"
)


# The enums by value: a dict lookup is some twenty times cheaper than calling the enum, and
# every row read (a page of a hundred servers) pays it four times.
_STATES = {s.value: s for s in m.State}
_TASKS = {t.value: t for t in m.Task}
_POWERS = {p.value: p for p in m.Power}


def server(row: Mapping[str, Any]) -> m.Server:
    flavor = js(row["flavor"]) or {}
    console = js(row["console"])
    return m.Server(
        id=row["id"],
        project_id=row["project_id"],
        user_id=row["user_id"],
        name=row["name"],
        image_id=row["image_id"],
        flavor=m.ServerFlavor(
            id=flavor.get("id", ""),
            name=flavor.get("name", ""),
            vcpus=int(flavor.get("vcpus", 0)),
            ram_mb=int(flavor.get("ram_mb", 0)),
            disk_gb=int(flavor.get("disk_gb", 0)),
            extra_specs=dict(flavor.get("extra_specs") or {}),
        ),
        state=_STATES[row["state"]],
        task=_TASKS[row["task"]],
        task_deadline=ts(row["task_deadline"]),
        power_state=_POWERS[row["power_state"]],
        desired_power_state=_POWERS[row["desired_power_state"]],
        fault=m.Fault.from_json(js(row["fault"])),
        host=row["host"],
        hypervisor_type=row["hypervisor_type"],
        esxi_host=row["esxi_host"],
        availability_zone=row["availability_zone"],
        addresses=tuple(m.Address(**a) for a in js(row["addresses"]) or ()),
        key_name=row["key_name"],
        has_user_data=row["has_user_data"],
        metadata=dict(js(row["metadata"]) or {}),
        console=m.Console(**console) if console else None,
        create_time=ts(row["create_time"]),  # type: ignore[arg-type]
        update_time=ts(row["update_time"]),  # type: ignore[arg-type]
        launch_time=ts(row["launch_time"]),
        delete_time=ts(row["delete_time"]),
        generation=int(row["generation"]),
        request_id=row["request_id"],
        revision=int(row["revision"]),
        attempts=int(row["attempts"]),
        instance_name=row["instance_name"],
        command_attempts=int(row["command_attempts"]),
        tried_hosts=tuple(row["tried_hosts"] or ()),
        alternates=tuple(m.Alternate(**a) for a in js(row["alternates"]) or ()),
        last_request_id=row["last_request_id"],
        action_args=dict(js(row.get("action_args")) or {}),
        # A change log snapshot written before tags existed has none.
        tags=tuple(row.get("tags") or ()),
        # A change log snapshot written before resizes existed has none.
        resize=Resize.from_json(js(row.get("resize"))),
    )


def flavor_json(f: m.ServerFlavor | m.Flavor) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram_mb": f.ram_mb,
        "disk_gb": f.disk_gb,
        "extra_specs": dict(f.extra_specs),
    }


def column_value(column: str, value: Any) -> Any:
    """A domain value as the parameter of its column (jsonb columns take Python objects: the
    pool's codec encodes them)."""
    if isinstance(value, enum.Enum):
        return value.value
    if column == "fault":
        return value.to_json() if value is not None else None
    if column == "console":
        if value is None:
            return None
        return {"type": value.type, "host": value.host, "port": value.port}
    if column == "addresses":
        return [
            {
                "network": a.network,
                "address": a.address,
                "version": a.version,
                "mac_address": a.mac_address,
                "type": a.type,
            }
            for a in value
        ]
    if column == "alternates":
        return [
            {
                "host": a.host,
                "hostname": a.hostname,
                "hypervisor_type": a.hypervisor_type,
                "availability_zone": a.availability_zone,
                "disk_format": a.disk_format,
                "vmware_disktype": a.vmware_disktype,
            }
            for a in value
        ]
    if column == "resize":
        return value.to_json() if value is not None else None
    if column == "flavor":
        return flavor_json(value)
    if column in ("metadata", "action_args"):
        return dict(value)
    if column in ("tried_hosts", "tags"):
        return list(value)
    return value


JSONB_COLUMNS = frozenset(
    {"fault", "console", "addresses", "alternates", "metadata", "action_args", "resize", "flavor"}
)


def flavor(row: Mapping[str, Any], project_ids: tuple[str, ...] = ()) -> m.Flavor:
    return m.Flavor(
        id=row["id"],
        name=row["name"],
        vcpus=row["vcpus"],
        ram_mb=row["ram_mb"],
        disk_gb=row["disk_gb"],
        extra_specs=dict(js(row["extra_specs"]) or {}),
        is_public=row["is_public"],
        project_ids=project_ids,
        description=row["description"],
        create_time=row["create_time"],
    )


def keypair(row: Mapping[str, Any]) -> m.Keypair:
    return m.Keypair(
        name=row["name"],
        fingerprint=row["fingerprint"],
        public_key=row["public_key"],
        type=row["type"],
        user_id=row["user_id"],
        project_id=row["project_id"],
        create_time=row["create_time"],
    )


def project(row: Mapping[str, Any]) -> m.Project:
    return m.Project(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        enabled=row["enabled"],
        create_time=row["create_time"],
    )


def user(row: Mapping[str, Any]) -> m.User:
    return m.User(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        default_project_id=row["default_project_id"] or "",
        enabled=row["enabled"],
        create_time=row["create_time"],
    )


def api_key(row: Mapping[str, Any]) -> m.ApiKey:
    return m.ApiKey(
        id=row["id"],
        name=row["name"],
        user_id=row["user_id"],
        project_id=row["project_id"],
        prefix=row["prefix"],
        kind=row["kind"],
        create_time=row["create_time"],
        expire_time=row["expire_time"],
        last_used_time=row["last_used_time"],
    )


def quota(row: Mapping[str, Any]) -> m.Quota:
    return m.Quota(
        project_id=row["project_id"],
        limits=m.QuotaLimits(row["instances"], row["vcpus"], row["ram_mb"]),
        usage=m.QuotaLimits(row["used_instances"], row["used_vcpus"], row["used_ram_mb"]),
    )
