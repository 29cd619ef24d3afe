"""Servers, faults and the change stream to protobuf."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from polyvisor.api import models as m
from polyvisor.api.convert.enums import (
    ADDRESS_TYPE,
    CHANGE_TYPE,
    CONSOLE_TYPE,
    FAULT_CODE,
    HYPERVISOR_TYPE,
    POWER_STATE,
    SERVER_STATE,
    SERVER_TASK,
)
from polyvisor.api.resize_state import Resize
from polyvisor.common.convert import set_ts
from polyvisor.compute.v1 import server_actions_pb2, servers_pb2
from polyvisor.types.v1 import fault_pb2


def fault_to_proto(f: m.Fault, out: fault_pb2.Fault) -> None:
    out.code = FAULT_CODE.value(f.code)
    out.message = f.message
    out.host = f.host
    out.details = f.details
    set_ts(out.time, f.time)
    if f.no_valid_host:
        json_format.ParseDict(f.no_valid_host, out.no_valid_host, ignore_unknown_fields=True)


def server_to_proto(s: m.Server) -> servers_pb2.Server:
    # Sub-messages are filled in place (`out.flavor.id = ...`, `addresses.add(...)`): a
    # message built apart and then assigned is built twice. A page of 100 servers read from
    # the database pays this 100 times.
    out = servers_pb2.Server(
        id=s.id,
        name=s.name,
        project_id=s.project_id,
        user_id=s.user_id,
        image_id=s.image_id,
        state=SERVER_STATE.value(s.state),
        task=SERVER_TASK.value(s.task),
        power_state=POWER_STATE.value(s.power_state),
        host=s.host,
        hypervisor_type=HYPERVISOR_TYPE.value(s.hypervisor_type),
        esxi_host=s.esxi_host,
        availability_zone=s.availability_zone,
        key_name=s.key_name,
        has_user_data=s.has_user_data,
        metadata=s.metadata,
        tags=s.tags,
        generation=s.generation,
        request_id=s.request_id,
        revision=s.revision,
        attempts=s.attempts,
        instance_name=s.instance_name,
    )
    _flavor(s.flavor, out.flavor)
    set_ts(out.task_deadline, s.task_deadline)
    set_ts(out.create_time, s.create_time)
    set_ts(out.update_time, s.update_time)
    set_ts(out.launch_time, s.launch_time)
    set_ts(out.delete_time, s.delete_time)
    if s.fault is not None:
        fault_to_proto(s.fault, out.fault)
    if s.resize is not None:
        _resize(s.resize, out.resize)
    if s.console is not None:
        console = out.console
        console.SetInParent()
        console.type = CONSOLE_TYPE.value(s.console.type)
        console.host = s.console.host
        console.port = s.console.port
    add = out.addresses.add
    for a in s.addresses:
        add(
            network=a.network,
            address=a.address,
            version=a.version,
            mac_address=a.mac_address,
            type=ADDRESS_TYPE.value(a.type),
        )
    return out


def shown_row_to_proto(row: Mapping[str, Any]) -> servers_pb2.Server:
    """A row of store.rows.SHOWN_COLUMNS as its protobuf: what `server_to_proto` makes of the
    server the row is (tested so), without building the domain object first (a page reads up
    to a hundred servers: the object cost as much as the protobuf). The rare parts (a fault,
    a resize) go through the domain's own parsing."""
    flavor, addresses, metadata, console, fault, resize = json.loads(row["parts"])
    flavor = flavor or {}
    out = servers_pb2.Server(
        id=row["id"],
        name=row["name"],
        project_id=row["project_id"],
        user_id=row["user_id"],
        image_id=row["image_id"],
        state=_STATE_VALUES[row["state"]],
        task=_TASK_VALUES[row["task"]],
        power_state=_POWER_VALUES[row["power_state"]],
        host=row["host"],
        hypervisor_type=HYPERVISOR_TYPE.value(row["hypervisor_type"]),
        esxi_host=row["esxi_host"],
        availability_zone=row["availability_zone"],
        key_name=row["key_name"],
        has_user_data=row["has_user_data"],
        metadata=metadata or None,
        tags=row["tags"],
        generation=row["generation"],
        request_id=row["request_id"],
        revision=row["revision"],
        attempts=row["attempts"],
        instance_name=row["instance_name"],
        flavor={
            "id": flavor.get("id", ""),
            "name": flavor.get("name", ""),
            "resources": {
                "vcpus": int(flavor.get("vcpus", 0)),
                "memory_mb": int(flavor.get("ram_mb", 0)),
                "disk_gb": int(flavor.get("disk_gb", 0)),
            },
            "extra_specs": flavor.get("extra_specs") or None,
        },
        addresses=[
            {
                "network": a["network"],
                "address": a["address"],
                "version": a.get("version", 4),
                "mac_address": a.get("mac_address", ""),
                "type": ADDRESS_TYPE.value(a.get("type", "FIXED")),
            }
            for a in addresses or ()
        ],
    )
    set_ts(out.task_deadline, row["task_deadline"])
    set_ts(out.create_time, row["create_time"])
    set_ts(out.update_time, row["update_time"])
    set_ts(out.launch_time, row["launch_time"])
    set_ts(out.delete_time, row["delete_time"])
    if console:
        c = out.console
        c.SetInParent()
        c.type = CONSOLE_TYPE.value(console["type"])
        c.host = console["host"]
        c.port = console["port"]
    if fault:
        f = m.Fault.from_json(fault)
        if f is not None:
            fault_to_proto(f, out.fault)
    if resize:
        r = Resize.from_json(resize)
        if r is not None:
            _resize(r, out.resize)
    return out


_STATE_VALUES = {s.value: SERVER_STATE.value(s) for s in m.State}
_TASK_VALUES = {t.value: SERVER_TASK.value(t) for t in m.Task}
_POWER_VALUES = {p.value: POWER_STATE.value(p) for p in m.Power}


def _resize(r: Resize, out: servers_pb2.ServerResize) -> None:
    _flavor(r.old_flavor, out.old_flavor)
    out.source_host = r.source_host
    out.dest_host = r.dest_host
    set_ts(out.auto_confirm_time, r.auto_confirm_time)


def _flavor(f: m.ServerFlavor, out: servers_pb2.ServerFlavor) -> None:
    out.id = f.id
    out.name = f.name
    res = out.resources
    res.vcpus = f.vcpus
    res.memory_mb = f.ram_mb
    res.disk_gb = f.disk_gb
    if f.extra_specs:
        out.extra_specs.update(f.extra_specs)
    else:  # present even when empty, as the message built apart made it
        out.SetInParent()


def change_to_proto(c: m.ServerChange) -> servers_pb2.WatchServersResponse:
    return servers_pb2.WatchServersResponse(
        revision=c.revision,
        type=CHANGE_TYPE.value(c.change_type),
        server=server_to_proto(c.server),
    )


def action_to_proto(a: m.ServerAction) -> server_actions_pb2.ServerAction:
    out = server_actions_pb2.ServerAction(
        request_id=a.request_id,
        server_id=a.server_id,
        action=a.action,
        user_id=a.user_id,
        project_id=a.project_id,
        result=server_actions_pb2.ServerActionResult.Value(f"SERVER_ACTION_RESULT_{a.result}"),
    )
    set_ts(out.start_time, a.start_time)
    set_ts(out.finish_time, a.finish_time)
    if a.fault is not None:
        fault_to_proto(a.fault, out.fault)
    return out
