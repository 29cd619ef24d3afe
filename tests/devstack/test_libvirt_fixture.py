"""The real libvirtd the boot tests use: running, with QEMU, after ensure_libvirtd()."""

from __future__ import annotations

import grp
import os
import pwd

import libvirt
import pytest

from tests.fixtures.libvirt import (
    QEMU_USER,
    SYSTEM_URI,
    LibvirtUnavailable,
    ensure_libvirtd,
    libvirt_uri,
    libvirtd_running,
)


@pytest.fixture(scope="module")
def system_uri() -> str:
    try:
        return ensure_libvirtd()
    except LibvirtUnavailable as e:
        if os.geteuid() != 0:
            pytest.skip(f"needs root or a running libvirtd: {e}")
        raise


def test_libvirtd_answers_with_the_qemu_driver(system_uri: str) -> None:
    assert system_uri == SYSTEM_URI
    assert libvirtd_running()
    conn = libvirt.open(system_uri)
    try:
        assert conn.getType() == "QEMU"
        caps = conn.getCapabilities()
        assert "<domain type='qemu'" in caps
        if os.access("/dev/kvm", os.F_OK):
            assert "<domain type='kvm'" in caps
    finally:
        conn.close()


def test_qemu_runs_as_libvirt_qemu_in_the_kvm_group(system_uri: str) -> None:
    user = pwd.getpwnam(QEMU_USER)
    assert user.pw_uid != 0
    assert QEMU_USER in grp.getgrnam("kvm").gr_mem


def test_ensure_is_idempotent_and_libvirt_uri_reports_no_fallback(system_uri: str) -> None:
    assert ensure_libvirtd() == system_uri
    assert libvirt_uri() == (system_uri, None)
