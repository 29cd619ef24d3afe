"""All SQL of the scheduler (schema `scheduler`, see migrations/).

Claims, releases and moves are single calls to the plpgsql functions of the migration, so each
is one round trip and one transaction, with the provider's row locked while the summed
allocations are checked against its inventories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import AlreadyExists
from polyvisor.scheduler.caps_json import caps_from_json, caps_to_json
from polyvisor.scheduler.model import (
    RESOURCE_CLASSES,
    Allocation,
    ClaimOutcome,
    HostCapabilities,
    Inventory,
    ProviderRecord,
    ProviderUsage,
    Resources,
)

__all__ = [
    "ClaimResult",
    "MoveResult",
    "ProviderState",
    "Store",
]


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _usage(provider_id: str, row: asyncpg.Record) -> ProviderUsage:
    return ProviderUsage(
        provider_id=provider_id,
        generation=int(row["generation"]),
        used=Resources(
            int(row["used_vcpus"]), int(row["used_memory_mb"]), int(row["used_disk_gb"])
        ),
        allocation_count=int(row["allocation_count"]),
    )


def _allocation(row: asyncpg.Record) -> Allocation:
    return Allocation(
        consumer_id=row["consumer_id"],
        provider_id=row["provider_id"],
        resources=Resources(int(row["vcpus"]), int(row["memory_mb"]), int(row["disk_gb"])),
        project_id=row["project_id"],
        user_id=row["user_id"],
        request_id=row["request_id"],
        created_at=_ts(row["created_at"]),
    )


@dataclass(frozen=True, slots=True)
class ClaimResult:
    outcome: ClaimOutcome
    #: The provider's generation and usage after the call (None for EXISTS / NO_PROVIDER).
    usage: ProviderUsage | None = None


@dataclass(frozen=True, slots=True)
class MoveResult:
    status: str
    from_provider: str | None


@dataclass(frozen=True, slots=True)
class ProviderState:
    """What a periodic refresh brings back for one provider."""

    usage: ProviderUsage
    enabled: bool
    disabled_reason: str
    changed_seq: int


_PROVIDER_COLUMNS = """
    p.id, p.hostname, p.hypervisor_type, p.hypervisor_version, p.availability_zone,
    p.capabilities, p.enabled, p.disabled_reason, p.connected, p.generation, p.last_report_at,
    u.vcpus AS used_vcpus, u.memory_mb AS used_memory_mb, u.disk_gb AS used_disk_gb,
    u.allocation_count,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(i.resource_class, i.total, i.reserved,
                                                 i.allocation_ratio, i.min_unit, i.max_unit,
                                                 i.step_size)), '[]'::jsonb)
       FROM inventories i WHERE i.provider_id = p.id) AS inventories
"""


def _record(row: asyncpg.Record) -> ProviderRecord:
    inventories: dict[str, Inventory] = {}
    for rc, total, reserved, ratio, min_unit, max_unit, step in row["inventories"]:
        inventories[RESOURCE_CLASSES[int(rc) - 1]] = Inventory(
            total=int(total),
            reserved=int(reserved),
            allocation_ratio=float(ratio),
            min_unit=int(min_unit),
            max_unit=None if max_unit is None else int(max_unit),
            step_size=int(step),
        )
    return ProviderRecord(
        id=row["id"],
        hostname=row["hostname"],
        capabilities=caps_from_json(
            row["hypervisor_type"],
            row["hypervisor_version"],
            row["availability_zone"],
            row["capabilities"],
        ),
        inventories=inventories,
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        generation=int(row["generation"]),
        used=Resources(
            int(row["used_vcpus"]), int(row["used_memory_mb"]), int(row["used_disk_gb"])
        ),
        allocation_count=int(row["allocation_count"]),
        last_report_at=_ts(row["last_report_at"]),
        connected=row["connected"],
    )


class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ----- providers

    async def put_provider(
        self,
        provider_id: str,
        hostname: str,
        caps: HostCapabilities,
        inventories: dict[str, Inventory],
        *,
        connected: bool,
        reported_at: float,
    ) -> tuple[int, bool]:
        """Insert or update a provider from its report: (generation, inventory changed)."""
        cols: list[list[Any]] = [[], [], [], [], [], []]
        for rc in RESOURCE_CLASSES:
            inv = inventories.get(rc)
            values: list[Any] = (
                [None] * 6
                if inv is None
                else [
                    inv.total,
                    inv.reserved,
                    inv.allocation_ratio,
                    max(1, inv.min_unit),
                    inv.max_unit,
                    max(1, inv.step_size),
                ]
            )
            for col, v in zip(cols, values, strict=True):
                col.append(v)
        with db_errors():
            row = await self.pool.fetchrow(
                "SELECT * FROM put_provider($1, $2, $3, $4, $5, $6, $7, $8,"
                " $9, $10, $11, $12, $13, $14)",
                provider_id,
                hostname,
                int(caps.hypervisor_type),
                caps.hypervisor_version,
                caps.availability_zone,
                caps_to_json(caps),
                connected,
                datetime.fromtimestamp(reported_at or datetime.now(UTC).timestamp(), UTC),
                *cols,
            )
        assert row is not None
        return int(row["generation"]), bool(row["inventory_changed"])

    async def providers(self, ids: Sequence[str] | None = None) -> list[ProviderRecord]:
        """Every provider (or those with the given ids) with inventories and usage."""
        sql = (
            f"SELECT {_PROVIDER_COLUMNS} FROM providers p CROSS JOIN LATERAL provider_used(p.id) u"
        )
        with db_errors():
            if ids is None:
                rows = await self.pool.fetch(sql + " ORDER BY p.id")
            else:
                rows = await self.pool.fetch(sql + " WHERE p.id = ANY($1) ORDER BY p.id", list(ids))
        return [_record(r) for r in rows]

    async def usage(self, provider_id: str) -> ProviderUsage | None:
        with db_errors():
            row = await self.pool.fetchrow(
                "SELECT p.generation, u.vcpus AS used_vcpus, u.memory_mb AS used_memory_mb,"
                " u.disk_gb AS used_disk_gb, u.allocation_count"
                " FROM providers p CROSS JOIN LATERAL provider_used(p.id) u WHERE p.id = $1",
                provider_id,
            )
        return None if row is None else _usage(provider_id, row)

    async def changed_since(self, seq: int) -> list[ProviderState]:
        """Providers updated after change sequence `seq` (0: all of them)."""
        with db_errors():
            rows = await self.pool.fetch(
                "SELECT p.id, p.generation, p.enabled, p.disabled_reason, p.changed_seq,"
                " u.vcpus AS used_vcpus, u.memory_mb AS used_memory_mb,"
                " u.disk_gb AS used_disk_gb, u.allocation_count"
                " FROM providers p CROSS JOIN LATERAL provider_used(p.id) u"
                " WHERE p.changed_seq > $1",
                seq,
            )
        return [
            ProviderState(
                usage=_usage(r["id"], r),
                enabled=r["enabled"],
                disabled_reason=r["disabled_reason"],
                changed_seq=int(r["changed_seq"]),
            )
            for r in rows
        ]

    async def set_enabled(self, provider_id: str, enabled: bool, reason: str) -> bool:
        """False when the provider is unknown."""
        with db_errors():
            status = await self.pool.execute(
                "UPDATE providers SET enabled = $2, disabled_reason = $3 WHERE id = $1",
                provider_id,
                enabled,
                "" if enabled else reason,
            )
        return status != "UPDATE 0"

    # ----- allocations

    async def allocations_of(self, consumer_ids: Sequence[str]) -> dict[str, Allocation]:
        with db_errors():
            rows = await self.pool.fetch(
                "SELECT * FROM allocations WHERE consumer_id = ANY($1)", list(consumer_ids)
            )
        return {r["consumer_id"]: _allocation(r) for r in rows}

    async def list_allocations(
        self, *, provider_id: str = "", consumer_id: str = "", after: str = "", limit: int = 100
    ) -> list[Allocation]:
        with db_errors():
            rows = await self.pool.fetch(
                "SELECT * FROM allocations"
                " WHERE ($1 = '' OR provider_id = $1) AND ($2 = '' OR consumer_id = $2)"
                " AND consumer_id > $3 ORDER BY consumer_id LIMIT $4",
                provider_id,
                consumer_id,
                after,
                limit,
            )
        return [_allocation(r) for r in rows]

    async def claim(
        self,
        consumer_id: str,
        provider_id: str,
        generation: int,
        resources: Resources,
        *,
        project_id: str = "",
        user_id: str = "",
        request_id: str = "",
    ) -> ClaimResult:
        try:
            with db_errors():
                row = await self.pool.fetchrow(
                    "SELECT * FROM claim($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    consumer_id,
                    provider_id,
                    generation,
                    resources.vcpus,
                    resources.memory_mb,
                    resources.disk_gb,
                    project_id,
                    user_id,
                    request_id,
                )
        except AlreadyExists:
            # The same consumer was claimed concurrently (the primary key settled it).
            return ClaimResult(ClaimOutcome.EXISTS)
        assert row is not None
        outcome = ClaimOutcome(row["status"])
        if outcome in (ClaimOutcome.EXISTS, ClaimOutcome.NO_PROVIDER):
            return ClaimResult(outcome)
        return ClaimResult(outcome, _usage(provider_id, row))

    async def release(
        self, consumer_id: str, *, build_failed: bool = False, reason: str = ""
    ) -> ProviderUsage | None:
        """The usage of the provider the consumer left, or None if it held nothing."""
        with db_errors():
            row = await self.pool.fetchrow(
                "SELECT * FROM release($1, $2, $3)", consumer_id, build_failed, reason
            )
        if row is None or row["provider_id"] is None:
            return None
        return _usage(row["provider_id"], row)

    async def move(
        self,
        consumer_id: str,
        to_provider: str,
        *,
        expected_from: str = "",
        build_failed: bool = False,
        reason: str = "",
    ) -> MoveResult:
        with db_errors():
            row = await self.pool.fetchrow(
                "SELECT * FROM move_allocation($1, $2, $3, $4, $5)",
                consumer_id,
                to_provider,
                expected_from,
                build_failed,
                reason,
            )
        assert row is not None
        return MoveResult(row["status"], row["from_provider"])

    async def hosts_of(self, consumer_ids: Sequence[str]) -> dict[str, str]:
        """consumer id -> provider id, for the consumers that hold an allocation."""
        if not consumer_ids:
            return {}
        with db_errors():
            rows = await self.pool.fetch(
                "SELECT consumer_id, provider_id FROM allocations WHERE consumer_id = ANY($1)",
                list(consumer_ids),
            )
        return {r["consumer_id"]: r["provider_id"] for r in rows}

    async def recent_failures(self, window_s: float) -> dict[str, int]:
        """Build failures per provider within the last `window_s` seconds."""
        with db_errors():
            rows = await self.pool.fetch(
                "SELECT provider_id, count(*) AS n FROM build_failures"
                " WHERE failed_at > now() - make_interval(secs => $1) GROUP BY provider_id",
                float(window_s),
            )
        return {r["provider_id"]: int(r["n"]) for r in rows}

    async def forget_failures(self, older_than_s: float) -> int:
        with db_errors():
            status = await self.pool.execute(
                "DELETE FROM build_failures WHERE failed_at < now() - make_interval(secs => $1)",
                float(older_than_s),
            )
        return int(status.split()[-1])
