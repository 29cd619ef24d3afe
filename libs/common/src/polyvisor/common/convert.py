"""Conversions to the contract that several services and agents make.

Timestamps: every service's convert layer turns datetimes into google.protobuf.Timestamp
the same way (set_ts, ts) and reads a client's Timestamp back (from_ts).

An agent reports its cluster's member hosts (polyvisor.types.v1.EsxiHost) and the scheduler
writes the ones it keeps back into the same message: the load counters are copied alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.common.errors import InvalidArgument
from polyvisor.types.v1 import hypervisor_pb2

__all__ = ["MemberLoad", "esxi_host", "from_ts", "set_ts", "ts"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def set_ts(field: Timestamp, value: datetime | None) -> None:
    """Set a Timestamp field from an aware datetime (integer arithmetic: this runs for every
    timestamp of every server listed)."""
    if value is None:
        return
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    field.seconds = delta.days * 86400 + delta.seconds
    field.nanos = delta.microseconds * 1000


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    set_ts(out, value)
    return out


def from_ts(field: Timestamp, present: bool) -> datetime | None:
    """The datetime of a Timestamp a client sent; INVALID_ARGUMENT past year 1..9999."""
    if not present:
        return None
    try:
        value: datetime = field.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as e:
        raise InvalidArgument(
            "timestamp out of range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"
        ) from e
    return value
