"""Fixtures for the bare-metal agent's tests: emulated machines (libvirt domains on the real
libvirtd) behind sushy-tools' Redfish emulator, which plays their BMC.

Directories live under /var/tmp (made 0755): QEMU runs as libvirt-qemu and must reach the
machines' disks, which pytest's private tmp directories (0700) forbid.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.libvirt import SYSTEM_URI, LibvirtUnavailable, ensure_libvirtd
from tests.fixtures.redfish import SMALL, EmulatedMachine, EmulatedPool, MachineSize


@pytest.fixture(scope="module")
def libvirtd() -> str:
    try:
        return ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"emulated machines need root or a running libvirtd: {exc}")
        raise  # as root the project's scripts start libvirtd: its absence is a failure


@pytest.fixture(scope="module")
def machines_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bm-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


#: Two small machines and a bigger one.
SIZES = [SMALL, SMALL, MachineSize(vcpus=2, memory_mb=2048, disk_gb=2)]


@pytest.fixture(scope="module")
def emulated_pool(libvirtd: str, machines_dir: Path) -> Iterator[EmulatedPool]:
    pool = EmulatedPool(machines_dir / "pool", libvirtd, SIZES, die_with_parent=True)
    try:
        pool.start()
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def machines(emulated_pool: EmulatedPool) -> list[EmulatedMachine]:
    return emulated_pool.machines
