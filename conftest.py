"""Fixtures shared by every test in the repository (tests/, libs/*/tests, services/*/tests).

One real PostgreSQL and one real NATS (JetStream) per test session, on ephemeral ports, started
lazily by the first test that asks for them and stopped at session end:

- `pg_server`: the `EmbeddedPostgres` (its `url` is the `polyvisor` database);
- `make_database`: `make_database(prefix="t") -> url` creates a new empty database;
- `fresh_db`: the URL of a new empty database for this test;
- `pg_url`: the URL of a new empty database shared by the tests of one module;
- `nats_server` / `nats_url`: the `EmbeddedNats` and its URL. Tests isolate themselves on
  NATS by using unique stream/subject names (see `unique_name`).
- `ceph_cluster`: a one-node Ceph (one mon, one mgr, one OSD, pool `rbd` of size 1;
  tests/fixtures/ceph.py), started by the first test that asks for it and shared by the
  session; the tests that use it skip, saying why, only when Ceph cannot run here. Tests
  isolate themselves by unique RBD image names.

The servers live in a private directory under the system temp dir (not pytest's tmp_path, whose
permissions pytest tightens, while PostgreSQL runs as an unprivileged user when we are root),
and they die with the test process even if it is killed.
"""

from __future__ import annotations

import os

# This process forks PostgreSQL, NATS, qemu-img, the CLI, ... while gRPC's threads run (earlier
# tests' channels and servers). gRPC's fork handlers, on by default, then run in the child
# before it execs, or are skipped, and can break it: a PostgreSQL start failed with the child's
# "epoll_wait error: Bad file descriptor" in its log. Off, as the services that fork set it
# (imagesvc, agent_kvm); set before gRPC is first imported (the imports below bring it).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres
from tests.fixtures.ceph import CephCluster, ceph_unavailable


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """`unique_name("S") -> "S_1a2b3c4d5e6f"`: names that never collide between tests."""
    return _unique


@pytest.fixture(scope="session")
def embedded_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(embedded_root: Path) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(embedded_root / "pg", durable=False, die_with_parent=True)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def make_database(pg_server: EmbeddedPostgres) -> Callable[..., str]:
    def make(prefix: str = "t") -> str:
        return pg_server.create_database(_unique(prefix))

    return make


@pytest.fixture
def fresh_db(make_database: Callable[..., str]) -> str:
    """The URL of a new, empty database: full isolation for one test."""
    return make_database("t")


@pytest.fixture(scope="module")
def pg_url(make_database: Callable[..., str]) -> str:
    """The URL of a new, empty database shared by the tests of one module."""
    return make_database("m")


@pytest.fixture(scope="session")
def nats_server(embedded_root: Path) -> Iterator[EmbeddedNats]:
    nats = EmbeddedNats(embedded_root / "nats", die_with_parent=True)
    nats.start()
    try:
        yield nats
    finally:
        nats.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats) -> str:
    url = nats_server.url
    assert url is not None
    return url


@pytest.fixture(scope="session")
def ceph_cluster() -> Iterator[CephCluster]:
    reason = ceph_unavailable()
    if reason is not None:
        pytest.skip(f"no one-node Ceph here: {reason}")
    # under /var/tmp, traversable: QEMU (libvirt-qemu) reads nothing there, but the KVM
    # agent's tests keep their worlds there too, and pytest's tmp dirs are 0700
    root = Path(tempfile.mkdtemp(prefix="polyvisor-ceph-", dir="/var/tmp"))
    root.chmod(0o755)
    cluster = CephCluster(root / "cluster", die_with_parent=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop(remove=True)
        shutil.rmtree(root, ignore_errors=True)
