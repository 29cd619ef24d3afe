"""A page's servers read as shown rows (store.rows.SHOWN_COLUMNS) encode to exactly the bytes
of the domain path (rows.server, then server_to_proto): the read cache holds either, GetServer
and ListServers send them as they are."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import pytest

from polyvisor.api import models as m
from polyvisor.api.convert.servers import server_to_proto, shown_row_to_proto
from polyvisor.api.resize_state import Resize
from polyvisor.api.store import rows
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.db import close_pool, create_pool, migrate

T = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
FLAVOR = {"id": "m1", "name": "m1.small", "vcpus": 2, "ram_mb": 2048, "disk_gb": 20}

# One server per row: each shows a part the others leave empty (None: the column's NULL).
CASES: list[dict[str, Any]] = [
    {},  # every optional part empty
    {"flavor": {}, "console": None, "fault": None},  # a flavor with nothing in it
    {
        "flavor": {**FLAVOR, "extra_specs": {"hw:cpu_policy": "dedicated", "a": "b"}},
        "metadata": {"owner": "bench", "tier": "web"},
        "tags": ["blue", "green"],
        "console": {"type": "VNC", "host": "10.1.0.1", "port": 5901},
        "addresses": [
            {
                "network": "n1",
                "address": "10.0.0.5",
                "version": 4,
                "mac_address": "52:54:00:00:00:01",
                "type": "FIXED",
            },
            {"network": "n2", "address": "fd00::5", "version": 6, "type": "FLOATING"},
            {"network": "n3", "address": "10.9.0.1"},
        ],
        "task_deadline": T,
        "launch_time": T,
        "delete_time": T,
        "esxi_host": "esx-1",
        "key_name": "k",
        "user_data": b"#!",
        "generation": 7,
        "attempts": 3,
    },
    {
        "state": "ERROR",
        "task": "NONE",
        "power_state": "NOSTATE",
        "hypervisor_type": "VMWARE",
        "fault": m.Fault(
            code="NO_VALID_HOST",
            message="no host",
            host="h1",
            details="d",
            time=T,
            no_valid_host={"hosts": 12},
        ).to_json(),
    },
    {
        "state": "VERIFY_RESIZE",
        "task": "NONE",
        "resize": Resize(
            old_flavor=m.ServerFlavor("m0", "m0", 1, 512, 1, {"x": "y"}),
            source_host="h1",
            dest_host="h2",
            auto_confirm_time=T,
        ).to_json(),
        "fault": m.Fault(code="TIMEOUT", message="slow").to_json(),
    },
]


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[Pool]:
    await migrate(fresh_db, "api", files("polyvisor.api") / "migrations")
    p = await create_pool(fresh_db, "api", max_size=2, reset_session=False)
    async with p.acquire() as conn:
        await conn.execute("INSERT INTO projects (id, name) VALUES ('p1', 'one')")
    try:
        yield p
    finally:
        await close_pool(p)


def _jsonb(value: Any) -> Any:
    return None if value is None else json.dumps(value)


async def test_shown_rows_encode_as_the_domain_path(pool: Pool) -> None:
    ids = []
    async with pool.acquire() as conn:
        for n, case in enumerate(CASES):
            sid = f"00000000-0000-7000-8000-{n:012d}"
            ids.append(sid)
            v: dict[str, Any] = {
                "flavor": FLAVOR,
                "state": "ACTIVE",
                "task": "NONE",
                "power_state": "RUNNING",
                "hypervisor_type": "KVM",
                "esxi_host": "",
                "key_name": "",
                "generation": 1,
                "attempts": 0,
                "addresses": [],
                "metadata": {},
                "tags": [],
                **case,
            }
            await conn.execute(
                """
                INSERT INTO servers (
                    id, project_id, user_id, name, image_id, flavor, vcpus, ram_mb, state, task,
                    task_deadline, power_state, desired_power_state, host, hypervisor_type,
                    esxi_host, availability_zone, addresses, metadata, console, fault, resize,
                    tags, user_data, request_id, request_index, revision, attempts,
                    instance_name, launch_time, delete_time, generation, key_name)
                VALUES ($1, 'p1', 'u1', $2, 'img', $3::text::jsonb, 1, 512, $4, $5, $6, $7,
                        'RUNNING', 'h1', $8, $9, 'nova', $10::text::jsonb, $11::text::jsonb,
                        $12::text::jsonb, $13::text::jsonb, $14::text::jsonb, $15, $16, $1, 0,
                        nextval('server_revision_seq'), $17, 'instance-1', $18, $19, $20, $21)
                """,
                sid,
                f"s{n}",
                _jsonb(v["flavor"]),
                v["state"],
                v["task"],
                v.get("task_deadline"),
                v["power_state"],
                v["hypervisor_type"],
                v["esxi_host"],
                _jsonb(v["addresses"]),
                _jsonb(v["metadata"]),
                _jsonb(v.get("console")),
                _jsonb(v.get("fault")),
                _jsonb(v.get("resize")),
                v["tags"],
                v.get("user_data"),
                v["attempts"],
                v.get("launch_time"),
                v.get("delete_time"),
                v["generation"],
                v["key_name"],
            )
        full = {
            r["id"]: r
            for r in await conn.fetch(f"SELECT {rows.SERVER_COLUMNS} FROM servers ORDER BY id")
        }
        shown = await server_store.get_many_shown(conn, ids)
    assert sorted(r["id"] for r in shown) == ids
    for row in shown:
        expected = server_to_proto(rows.server(full[row["id"]]))
        got = shown_row_to_proto(row)
        assert got == expected, row["id"]
        assert got.SerializeToString() == expected.SerializeToString(), row["id"]
