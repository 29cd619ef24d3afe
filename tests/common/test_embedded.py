"""The embedded servers: real processes, reachable, stoppable from another process."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import nats
import pytest

from polyvisor.common.embedded import EmbeddedError, EmbeddedNats, EmbeddedPostgres


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


async def test_pg_server_has_polyvisor_database(pg_server: EmbeddedPostgres) -> None:
    assert pg_server.url is not None and pg_server.url.endswith("/polyvisor")
    conn = await asyncpg.connect(pg_server.url)
    try:
        assert await conn.fetchval("SELECT current_database()") == "polyvisor"
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
    finally:
        await conn.close()


async def test_fresh_databases_are_empty_and_isolated(fresh_db: str, make_database) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        await conn.execute("CREATE TABLE only_here (id int)")
    finally:
        await conn.close()
    other = make_database("other")
    assert other != fresh_db
    conn = await asyncpg.connect(other)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables == []
    finally:
        await conn.close()


async def test_nats_url_has_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", [EmbeddedNats, EmbeddedPostgres])
async def test_started_server_is_stopped_by_another_process(kind: type) -> None:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-emb-"))
    server = kind(root / "srv")
    url = server.start()
    try:
        port = server.port
        assert port is not None and f":{port}" in url
        assert _accepts(port)
        # start() again on a running instance (here: from a new object) gives the same URL
        assert kind(root / "srv").start() == url
        code = (
            "import sys; from polyvisor.common.embedded import EmbeddedError, EmbeddedNats, EmbeddedPostgres;"
            f"s = {kind.__name__}(sys.argv[1]); assert s.running(); s.stop(); s.stop();"
            "assert not s.running()"
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(root / "srv"))
        assert await proc.wait() == 0
        assert not server.running()
        assert server.url is None
        assert not _accepts(port)
        assert not (root / "srv" / f"{server.name}.pid").exists()
        # and it starts again on the same data (port 0: a new ephemeral port)
        assert server.start().startswith(url.split(":")[0])
        assert server.running()
    finally:
        server.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("kind", [EmbeddedNats, EmbeddedPostgres])
def test_a_taken_port_is_an_error_not_someone_elses_server(kind: type) -> None:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-emb-"))
    try:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            server = kind(root / "srv", port=port)
            with pytest.raises(EmbeddedError, match="in use"):
                server.start()
            assert not server.running() and server.url is None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_restarts_after_being_killed() -> None:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-emb-"))
    pg = EmbeddedPostgres(root / "pg", durable=False)
    try:
        pg.start()
        pid = pg.pid
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)  # a crash: postmaster.pid stays behind
        while pg.running():
            time.sleep(0.05)
        assert (root / "pg" / "data" / "postmaster.pid").exists()
        url = pg.start()
        assert pg.running() and url.endswith("/polyvisor")
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_nats_killed_comes_back_with_the_users_it_had() -> None:
    """`./dev up` after NATS died starts it from a new object (no users given): every user of
    the last configuration, restricted ones with their permissions, logs in at once, not
    only once `configure` runs again (meanwhile each reconnecting service was refused)."""
    from polyvisor.common.natsauth import agent_user, service_user, users_in_config

    root = Path(tempfile.mkdtemp(prefix="polyvisor-emb-"))
    agent = agent_user("host-1", "agent-key")
    server = EmbeddedNats(root / "nats")
    try:
        server.start()
        server.configure([service_user("api", "api-password"), agent])
        pid, port = server.pid, server.port
        assert pid is not None and port is not None
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(_wait_dead, server)
        again = EmbeddedNats(root / "nats", port)
        again.start()
        users = users_in_config(again.config_file.read_text(), but=again.ADMIN_USER)
        assert users == [service_user("api", "api-password"), agent]
        for user, password in (("api", "api-password"), (agent.name, "agent-key")):
            nc = await nats.connect(again.url_for(user, password), allow_reconnect=False)
            await nc.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_dead(server: EmbeddedNats) -> None:
    deadline = time.monotonic() + 30
    while server.running() and time.monotonic() < deadline:
        time.sleep(0.05)
