"""Conversions to the contract that an agent and a service both make.

An agent reports its cluster's member hosts (polyvisor.types.v1.EsxiHost) and the scheduler
writes the ones it keeps back into the same message: the load counters are copied alike.
"""

from __future__ import annotations

from typing import Protocol

from polyvisor.types.v1 import hypervisor_pb2

__all__ = ["MemberLoad", "esxi_host"]


class MemberLoad(Protocol):
    """What a cluster member host says of its size and load (the agent's and the scheduler's
    member hosts both do)."""

    @property
    def name(self) -> str: ...
    @property
    def in_maintenance(self) -> bool: ...
    @property
    def cpu_cores(self) -> int: ...
    @property
    def cpu_threads(self) -> int: ...
    @property
    def cpu_mhz(self) -> int: ...
    @property
    def cpu_used_mhz(self) -> int: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def memory_used_mb(self) -> int: ...
    @property
    def vcpus_allocated(self) -> int: ...
    @property
    def memory_allocated_mb(self) -> int: ...
    @property
    def vm_count(self) -> int: ...


def esxi_host(
    h: MemberLoad,
    connection_state: hypervisor_pb2.EsxiConnectionState.ValueType,
    moref: str = "",
) -> hypervisor_pb2.EsxiHost:
    """The contract's member host: `h`'s name and load, with its connection state and moref."""
    return hypervisor_pb2.EsxiHost(
        name=h.name,
        moref=moref,
        connection_state=connection_state,
        in_maintenance=h.in_maintenance,
        cpu_cores=h.cpu_cores,
        cpu_threads=h.cpu_threads,
        cpu_mhz=h.cpu_mhz,
        cpu_used_mhz=h.cpu_used_mhz,
        memory_mb=h.memory_mb,
        memory_used_mb=h.memory_used_mb,
        vcpus_allocated=h.vcpus_allocated,
        memory_allocated_mb=h.memory_allocated_mb,
        vm_count=h.vm_count,
    )
