"""Servers, faults and the change stream to protobuf."""

from __future__ import annotations

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
        r = s.resize
        _flavor(r.old_flavor, out.resize.old_flavor)
        out.resize.source_host = r.source_host
        out.resize.dest_host = r.dest_host
        set_ts(out.resize.auto_confirm_time, r.auto_confirm_time)
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
