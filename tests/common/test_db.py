"""Pool, migrations and error mapping against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from importlib.resources import files
from pathlib import Path

import asyncpg
import pytest

from polyvisor.common import errors
from polyvisor.common.db import (
    close_pool,
    create_pool,
    db_errors,
    load_migrations,
    map_db_error,
    migrate,
    quote_ident,
)
from polyvisor.common.embedded import free_port

SAMPLE = Path(__file__).parent / "sample_migrations"
REPO = Path(__file__).resolve().parents[2]


async def _applied(dsn: str, schema: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT version, name FROM {schema}.schema_migrations ORDER BY version"
        )
        return [(r["version"], r["name"]) for r in rows]
    finally:
        await conn.close()


async def test_migrate_applies_in_order_once_and_pool_uses_the_schema(fresh_db: str) -> None:
    assert await migrate(fresh_db, "svc", SAMPLE) == [1, 2]
    assert await migrate(fresh_db, "svc", SAMPLE) == []
    assert await _applied(fresh_db, "svc") == [(1, "create_items"), (2, "item_tags")]

    pool = await create_pool(fresh_db, "svc", min_size=1, max_size=2)
    try:
        # unqualified names resolve in the service schema; jsonb comes back decoded
        await pool.execute("INSERT INTO items (name, size, props) VALUES ('a', 1, $1)", {"k": 1})
        row = await pool.fetchrow("SELECT name, props FROM items")
        assert (row["name"], row["props"]) == ("a", {"k": 1})
        assert await pool.fetchval("SELECT count(*) FROM svc.migration_runs") == 1
        public = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        assert await pool.fetchval(public) == 0
        # a pool can migrate too (another schema, same files)
        assert await migrate(pool, "other", SAMPLE) == [1, 2]
        assert await pool.fetchval("SELECT count(*) FROM svc.items") == 1
        assert await pool.fetchval("SELECT count(*) FROM other.items") == 0
    finally:
        await close_pool(pool)
        await close_pool(pool)


async def test_migrations_from_a_package_resource_directory(fresh_db: str) -> None:
    resource = files("tests.common") / "sample_migrations"
    assert [m.label for m in load_migrations(resource)] == ["0001_create_items", "0002_item_tags"]
    assert await migrate(fresh_db, "pkg", resource) == [1, 2]


async def test_two_processes_migrating_at_once_apply_each_migration_once(
    fresh_db: str,
) -> None:
    # each process imports everything, says "ready", then waits for "go": both start
    # migrating at the same moment
    code = (
        "import asyncio, json, sys\n"
        "from polyvisor.common.db import migrate\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "print(json.dumps(asyncio.run(migrate(sys.argv[1], 'race', sys.argv[2]))))\n"
    )
    pipe = asyncio.subprocess.PIPE
    argv = [sys.executable, "-c", code, fresh_db, str(SAMPLE)]
    procs = [
        await asyncio.create_subprocess_exec(
            *argv, cwd=str(REPO), stdin=pipe, stdout=pipe, stderr=pipe
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None
        assert (await p.stdout.readline()).strip() == b"ready"
    results = await asyncio.gather(*(p.communicate(b"go\n") for p in procs))
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in results]
    applied = sorted(json.loads(out.decode().strip().splitlines()[-1]) for out, _ in results)
    assert applied == [[], [1, 2]]  # one process did everything, the other found it done
    assert await _applied(fresh_db, "race") == [(1, "create_items"), (2, "item_tags")]
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM race.migration_runs") == 1
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'race'")
        }
        assert tables == {"schema_migrations", "items", "item_tags", "migration_runs"}
    finally:
        await conn.close()


async def test_changed_applied_migration_is_refused(fresh_db: str, tmp_path: Path) -> None:
    mdir = tmp_path / "m"
    shutil.copytree(SAMPLE, mdir)
    await migrate(fresh_db, "chk", mdir)
    (mdir / "0002_item_tags.sql").write_text("CREATE TABLE sneaky (x int);\n")
    with pytest.raises(errors.FailedPrecondition, match=r"0002_item_tags .*changed"):
        await migrate(fresh_db, "chk", mdir)
    assert await _applied(fresh_db, "chk") == [(1, "create_items"), (2, "item_tags")]


async def test_failing_migration_is_rolled_back_and_can_be_fixed(
    fresh_db: str, tmp_path: Path
) -> None:
    mdir = tmp_path / "m"
    shutil.copytree(SAMPLE, mdir)
    (mdir / "0003_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nALTER TABLE no_such_table ADD COLUMN y int;\n"
    )
    with pytest.raises(errors.FailedPrecondition, match="0003_broken"):
        await migrate(fresh_db, "fix", mdir)
    assert await _applied(fresh_db, "fix") == [(1, "create_items"), (2, "item_tags")]
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("SELECT to_regclass('fix.half_done')") is None
        # the advisory lock was released: another session can take it at once
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
            == 0
        )
    finally:
        await conn.close()
    (mdir / "0003_broken.sql").write_text("CREATE TABLE half_done (x int);\n")
    assert await migrate(fresh_db, "fix", mdir) == [3]


def test_migration_files_must_be_well_named(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(errors.FailedPrecondition, match="NNNN_name"):
        load_migrations(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "README.txt").write_text("ignored")
    assert [m.label for m in load_migrations(tmp_path)] == ["0001_a"]
    with pytest.raises(errors.FailedPrecondition):
        load_migrations(tmp_path / "missing")
    with pytest.raises(errors.InvalidArgument):
        quote_ident("bad-name; drop")


async def test_database_errors_map_to_project_errors(fresh_db: str) -> None:
    await migrate(fresh_db, "err", SAMPLE)
    pool = await create_pool(fresh_db, "err")
    try:
        await pool.execute("INSERT INTO items (name, size) VALUES ('x', 1)")
        with pytest.raises(errors.AlreadyExists) as info:
            with db_errors():
                await pool.execute("INSERT INTO items (name, size) VALUES ('x', 2)")
        assert info.value.details["constraint"] == "items_name_key"
        with pytest.raises(errors.FailedPrecondition):
            with db_errors():
                await pool.execute("INSERT INTO item_tags (item_id, tag) VALUES (999, 't')")
        with pytest.raises(errors.InvalidArgument):
            with db_errors():
                await pool.execute("INSERT INTO items (name, size) VALUES ('y', -1)")
        with pytest.raises(errors.InvalidArgument):
            with db_errors():
                await pool.execute("INSERT INTO items (name, size) VALUES (NULL, 1)")
        # not a database error: passes through untouched
        with pytest.raises(KeyError):
            with db_errors():
                raise KeyError("x")
        assert isinstance(map_db_error(ValueError("x")), ValueError)
    finally:
        await close_pool(pool)


async def test_unreachable_database_is_unavailable() -> None:
    dsn = f"postgresql://polyvisor@127.0.0.1:{free_port()}/polyvisor"
    with pytest.raises(errors.Unavailable):
        await create_pool(dsn, "svc", connect_timeout=2)
    with pytest.raises(errors.Unavailable):
        await migrate(dsn, "svc", SAMPLE)


def test_migrate_command_brings_a_service_schema_up_to_date(fresh_db: str) -> None:
    """`python -m polyvisor.common.migrate api` (the Kubernetes init container) applies the
    api's migrations and exits 0; run again, it applies nothing; an unknown service is refused
    and an unreachable database exits 1."""
    import os
    import subprocess

    env = {**os.environ, "POLYVISOR_DATABASE_URL": fresh_db}
    argv = [sys.executable, "-m", "polyvisor.common.migrate"]
    first = subprocess.run([*argv, "api"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    versions = [v for v, _ in asyncio.run(_applied(fresh_db, "api"))]
    wanted = [m.version for m in load_migrations(files("polyvisor.api") / "migrations")]
    assert versions == wanted and versions
    again = subprocess.run([*argv, "api"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and '"applied": []' in again.stderr, again.stderr
    bad = subprocess.run([*argv, "nova"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    env["POLYVISOR_DATABASE_URL"] = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    down = subprocess.run([*argv, "scheduler"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "migration failed" in down.stderr, down.stderr


@pytest.mark.parametrize("service", ["api", "scheduler", "imagesvc", "networksvc"])
def test_migrate_command_knows_each_service_schema_as_the_service_does(service: str) -> None:
    import importlib

    from polyvisor.common.migrate import SCHEMAS

    app = importlib.import_module(f"polyvisor.{service}.app")
    assert SCHEMAS[service] == app.SCHEMA
    assert load_migrations(f"polyvisor.{service}.migrations")
