"""The connection types store functions take (the rest of the api never imports asyncpg)."""

from __future__ import annotations

import asyncpg

Pool = asyncpg.Pool
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy | asyncpg.Pool
