"""PostgreSQL: the connection pool, schema migrations and database error mapping. The only
common module that imports asyncpg (install `polyvisor-common[db]`).

Each service owns one schema. Its migrations are files `NNNN_name.sql` (four digits, then a
lowercase name) in a directory or package resource directory, applied in order:

    await migrate(settings.database_url, "api", importlib.resources.files("polyvisor.api") / "migrations")
    pool = await create_pool(settings.database_url, "api")   # search_path: api, public
    stack.push_async_callback(close_pool, pool)

`migrate` takes a session advisory lock keyed by the schema, so N replicas starting together
migrate once; applies each pending file in its own transaction with `search_path` set to the
schema; records it in `<schema>.schema_migrations(version, name, checksum, applied_at)`.
An applied migration whose file changed (checksum) stops the start-up.

Store code wraps its queries in `with db_errors():` (or calls `map_db_error`) so that a
unique violation becomes AlreadyExists, a lost connection Unavailable, and so on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Any

import asyncpg
import asyncpg.exceptions as pgerr

from polyvisor.common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PolyvisorError,
    Unavailable,
)
from polyvisor.common.logging import get_logger
from polyvisor.common.readiness import register as register_dependency

__all__ = [
    "Migration",
    "close_pool",
    "create_pool",
    "db_errors",
    "load_migrations",
    "map_db_error",
    "migrate",
    "quote_ident",
]

log = get_logger(__name__)

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def quote_ident(name: str) -> str:
    """A schema name, checked and quoted for SQL."""
    if not _SCHEMA_RE.match(name):
        raise InvalidArgument(f"bad schema name {name!r}")
    return f'"{name}"'


# --------------------------------------------------------------------------- errors


def map_db_error(exc: BaseException) -> BaseException:
    """The project error for an asyncpg/connection error; other exceptions unchanged."""
    if isinstance(exc, PolyvisorError):
        return exc
    details: dict[str, Any] = {}
    if isinstance(exc, pgerr.PostgresError):
        for attr in ("constraint_name", "table_name", "column_name"):
            value = getattr(exc, attr, None)
            if value:
                details[attr.removesuffix("_name")] = value
    if isinstance(exc, pgerr.UniqueViolationError | pgerr.ExclusionViolationError):
        return AlreadyExists("already exists", details)
    if isinstance(exc, pgerr.ForeignKeyViolationError):
        return FailedPrecondition(
            "refers to something that does not exist, or is still in use", details
        )
    if isinstance(
        exc,
        pgerr.CheckViolationError
        | pgerr.NotNullViolationError
        | pgerr.DataError
        | pgerr.StringDataRightTruncationError,
    ):
        return InvalidArgument(f"invalid value: {exc.args[0] if exc.args else exc}", details)
    if isinstance(
        exc,
        pgerr.SerializationError | pgerr.DeadlockDetectedError | pgerr.LockNotAvailableError,
    ):
        return Aborted("concurrent update, retry", details)
    if isinstance(exc, pgerr.QueryCanceledError):
        return Unavailable("database query timed out", details)
    if isinstance(
        exc,
        pgerr.PostgresConnectionError
        | pgerr.TooManyConnectionsError
        | pgerr.CannotConnectNowError
        | pgerr.AdminShutdownError
        | pgerr.CrashShutdownError
        | asyncpg.InterfaceError
        | OSError
        | asyncio.TimeoutError,
    ):
        # The driver's exception (its class, the server's address) is for the log only.
        log.info("database unavailable", error=repr(exc))
        return Unavailable("database unavailable")
    return exc


@contextlib.contextmanager
def db_errors() -> Iterator[None]:
    """Re-raise database errors as the project's errors (use around store queries)."""
    try:
        yield
    except PolyvisorError:
        raise
    except Exception as e:
        mapped = map_db_error(e)
        if mapped is e:
            raise
        raise mapped from e


# --------------------------------------------------------------------------- pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without the session reset (asyncpg still rolls back an open transaction)."""


async def create_pool(
    dsn: str,
    schema: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    application_name: str = "polyvisor",
    reset_session: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections use `search_path = <schema>, public` and decode json(b).

    `reset_session=False` skips the reset query asyncpg sends on every release (RESET ALL,
    UNLISTEN *, CLOSE ALL, advisory unlock: one more round trip per query). Only for stores
    that leave no session state behind: no SET, LISTEN, cursors or session-level advisory
    locks on pooled connections."""
    quote_ident(schema)
    with db_errors():
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            command_timeout=command_timeout,
            timeout=connect_timeout,
            server_settings={
                "search_path": f"{schema},public",
                "application_name": application_name,
            },
            init=_init_connection,
            reset=None if reset_session else _keep_session,
        )
    assert pool is not None
    register_dependency("postgres", lambda: _ping(pool), pool.is_closing)
    return pool


async def _ping(pool: asyncpg.Pool) -> None:
    """`SELECT 1` through the pool (readiness). A connection the server dropped (a restarted
    PostgreSQL) fails once and is replaced: the second try tells whether the server answers."""
    for attempt in (1, 2):
        try:
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            return
        except (OSError, asyncpg.InterfaceError, pgerr.PostgresConnectionError):
            if attempt == 2:
                raise


async def close_pool(pool: asyncpg.Pool, timeout: float = 2.0) -> None:  # noqa: ASYNC109
    """Close gracefully, or terminate the connections after `timeout` s. Idempotent."""
    if pool.is_closing():
        return
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except (TimeoutError, OSError, asyncpg.InterfaceError):
        pool.terminate()


# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(source: Path | Traversable | str) -> list[Migration]:
    """The migrations in a directory, a resource directory, or a package (dotted name)."""
    if isinstance(source, str) and not Path(source).exists():
        root: Path | Traversable = files(source)
    else:
        root = Path(source) if isinstance(source, str) else source
    if not root.is_dir():
        raise FailedPrecondition(f"no migrations directory at {root}")
    found: dict[int, Migration] = {}
    for entry in root.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        m = _FILE_RE.match(entry.name)
        if m is None:
            raise FailedPrecondition(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise FailedPrecondition(f"two migrations with version {version:04d}")
        raw = entry.read_bytes()
        found[version] = Migration(
            version, m.group(2), raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()
        )
    return [found[v] for v in sorted(found)]


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"polyvisor.migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def _connection(dsn_or_pool: str | asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    with db_errors():
        if isinstance(dsn_or_pool, str):
            conn = await asyncpg.connect(dsn_or_pool, timeout=10)
            try:
                yield conn
            finally:
                await conn.close()
        else:
            async with dsn_or_pool.acquire() as conn:
                yield conn


async def migrate(
    dsn_or_pool: str | asyncpg.Pool,
    schema: str,
    migrations: Path | Traversable | str,
) -> list[int]:
    """Bring `schema` up to date; the versions applied by this call (often [])."""
    qschema = quote_ident(schema)
    wanted = load_migrations(migrations)
    applied_now: list[int] = []
    async with _connection(dsn_or_pool) as conn:
        with db_errors():
            await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
        try:
            with db_errors():
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {qschema}")
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {qschema}.schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                rows = await conn.fetch(
                    f"SELECT version, name, checksum FROM {qschema}.schema_migrations"
                )
            done = {r["version"]: r for r in rows}
            known = {m.version for m in wanted}
            for m in wanted:
                row = done.get(m.version)
                if row is not None and row["checksum"] != m.checksum:
                    raise FailedPrecondition(
                        f"migration {m.label} of schema {schema} changed after it was applied",
                        {"schema": schema, "version": m.version},
                    )
            unknown = sorted(set(done) - known)
            if unknown:
                log.warning("database has migrations this code does not know",
                            schema=schema, versions=unknown)  # fmt: skip
            for m in wanted:
                if m.version in done:
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL search_path TO {qschema}, public")
                        await conn.execute(m.sql)
                        await conn.execute(
                            f"INSERT INTO {qschema}.schema_migrations (version, name, checksum)"
                            " VALUES ($1, $2, $3)",
                            m.version,
                            m.name,
                            m.checksum,
                        )
                except pgerr.PostgresError as e:
                    if isinstance(map_db_error(e), Unavailable):
                        raise map_db_error(e) from e
                    raise FailedPrecondition(
                        f"migration {m.label} of schema {schema} failed: {e}",
                        {"schema": schema, "version": m.version},
                    ) from e
                applied_now.append(m.version)
                log.info("migration applied", schema=schema, migration=m.label)
        finally:
            if not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    return applied_now
