"""The live-migration verbs of a command (``live_migrate``, ``abort_migration``) applied to the
driver's ``live_migrate`` capability (``migrate_capabilities``). A host without it fails the
command naming what it lacks (COMMAND_FAILED with a MIGRATION_FAILED fault).

``abort_migration`` is not queued behind the server's running ``live_migrate`` (the consumer
runs it beside it): it asks the driver to cancel, and the ``live_migrate`` then fails.
Progress is reported from the driver's thread into the event loop, at most one event per
``step`` percent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, Final

from polyvisor.agentkit.commands import Command, Verb
from polyvisor.agentkit.driver import Driver, DriverError, Instance
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.migrate_capabilities import (
    LiveMigrate,
    MigrationProgress,
    MigrationTarget,
)

__all__ = ["MIGRATE_VERBS", "abort_migration", "live_migrate"]

MIGRATE_VERBS: Final = frozenset({Verb.LIVE_MIGRATE, Verb.ABORT_MIGRATION})

OnProgress = Callable[[int], Coroutine[Any, Any, None]]


def _capable(driver: Driver, host: str) -> LiveMigrate:
    if not isinstance(driver, LiveMigrate):
        raise DriverError(
            f"host {host} cannot live-migrate servers: its hypervisor driver has no "
            "live_migrate capability"
        )
    return driver


async def live_migrate(
    driver: Driver,
    calls: DriverCalls,
    host: str,
    cmd: Command,
    on_progress: OnProgress,
    *,
    step: int = 10,
) -> Instance:
    """Carry out ``live_migrate``: the server as the destination runs it."""
    migrator = _capable(driver, host)
    req = cmd.migrate
    if req is None or not req.dest_host:
        raise DriverError("live_migrate without a destination host")
    if req.dest_host == host:
        raise DriverError(f"live_migrate of a server to the host it is on ({host})")
    target = MigrationTarget(host=req.dest_host, uri=req.dest_uri, block=req.block)
    loop = asyncio.get_running_loop()
    last = [0]  # the caller reported 0 before the move began
    pending: list[concurrent.futures.Future[None]] = []

    def progress(p: MigrationProgress) -> None:  # the driver's thread
        pct = p.percent
        if pct - last[0] < step and not (pct == 100 and last[0] < 100):
            return
        last[0] = pct
        pending.append(asyncio.run_coroutine_threadsafe(on_progress(pct), loop))

    try:
        return await calls.run(
            "live_migrate", lambda: migrator.live_migrate(cmd.server_id, target, progress)
        )
    finally:
        if pending:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in pending), return_exceptions=True)


async def abort_migration(driver: Driver, calls: DriverCalls, host: str, cmd: Command) -> bool:
    """Carry out ``abort_migration``: whether a migration of the server was under way."""
    migrator = _capable(driver, host)
    return await calls.run("abort_migration", migrator.abort_migration, cmd.server_id)
