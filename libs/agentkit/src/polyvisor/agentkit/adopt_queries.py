"""The api's adoption requests of this agent (``agent.<host>.query.unmanaged_vms`` and
``agent.<host>.query.adopt``), answered from the driver's ``adopt`` capability: the VMs of
the host no server owns, and one of them tagged as a server's. Answers carry ``error_kind``
as the console output's do (unsupported, not_found, failed).

An edge like ``convert``: the wire messages stop here (import-linter lets it import them).
"""

from __future__ import annotations

from polyvisor.agent.v1 import queries_pb2
from polyvisor.agentkit.adopt_capabilities import Adopt, UnmanagedVm
from polyvisor.agentkit.convert import power_state_to_proto
from polyvisor.agentkit.driver import Driver, DriverError, Instance, InstanceNotFound
from polyvisor.agentkit.executor import DriverCalls

__all__ = ["answer_adopt", "answer_unmanaged"]


def _unmanaged(vms: list[UnmanagedVm], error: str = "", kind: str = "") -> bytes:
    reply = queries_pb2.UnmanagedVmsReply(error=error, error_kind=kind)
    for v in vms:
        reply.vms.add(
            ref=v.ref,
            name=v.name,
            vcpus=v.vcpus,
            memory_mb=v.memory_mb,
            disk_gb=v.disk_gb,
            power_state=power_state_to_proto(v.power_state),
        )
    return bytes(reply.SerializeToString())


def _adopted(inst: Instance | None, error: str = "", kind: str = "") -> bytes:
    reply = queries_pb2.AdoptVmReply(error=error, error_kind=kind)
    if inst is not None:
        reply.power_state = power_state_to_proto(inst.power_state)
        reply.instance_name, reply.member_host = inst.name, inst.member_host
    return bytes(reply.SerializeToString())


async def answer_unmanaged(driver: Driver, calls: DriverCalls, host: str, data: bytes) -> bytes:
    if not isinstance(driver, Adopt):
        return _unmanaged([], f"host {host} cannot adopt VMs", "unsupported")
    try:
        vms = await calls.run("list_unmanaged", driver.list_unmanaged)
    except (DriverError, OSError) as exc:
        return _unmanaged([], str(exc)[:500], "failed")
    return _unmanaged(vms)


async def answer_adopt(driver: Driver, calls: DriverCalls, host: str, data: bytes) -> bytes:
    try:
        req = queries_pb2.AdoptVmRequest.FromString(data)
    except Exception:
        return _adopted(None, "not an adopt request", "failed")
    if not isinstance(driver, Adopt):
        return _adopted(None, f"host {host} cannot adopt VMs", "unsupported")
    if not req.server_id or not req.ref:
        return _adopted(None, "an adopt request names a server id and a ref", "failed")
    try:
        inst = await calls.run("adopt", driver.adopt, req.server_id, req.ref)
    except InstanceNotFound as exc:
        return _adopted(None, str(exc)[:500], "not_found")
    except (DriverError, OSError) as exc:
        return _adopted(None, str(exc)[:500], "failed")
    return _adopted(inst)
