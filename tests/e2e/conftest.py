"""One whole stack for the end-to-end session (the CLI story and the grpcurl story share it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import stack as stack_mod
from tests.e2e.stack import Stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed story step shows what the stack's processes logged last: the stack's
    directory (and its logs) is gone once the session ends."""
    report = yield
    if report.failed and call.when == "call":
        s = getattr(item, "funcargs", {}).get("stack")
        if isinstance(s, Stack) and (s.home / "logs").is_dir():
            for log in sorted((s.home / "logs").glob("*.log")):
                report.sections.append(
                    (f"stack log {log.stem} (last lines)", s.log_tail(log.stem, 60))
                )
    return report


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user and must traverse it.
    given = os.environ.get("POLYVISOR_TEST_STACK_HOME")  # a stack already up (iterating)
    home = Path(given) if given else Path(tempfile.mkdtemp(prefix="polyvisor-e2e-"))
    home.chmod(0o755)
    s = stack_mod.start(home)
    try:
        yield s
    finally:
        _safety_net(s)
        if not given:
            stack_mod.stop(home)
            shutil.rmtree(home, ignore_errors=True)


def _safety_net(s: Stack) -> None:
    """Servers a failed test left behind: delete them through the API, then make sure no
    domain of theirs stays in a libvirtd that outlives the stack."""
    if s.created and (s.home / "cli" / "config.yaml").exists():
        for sid in sorted(s.created):
            with contextlib.suppress(Exception):
                s.cli("server", "delete", sid, "--wait", "--wait-timeout", "60", timeout=120)
    with contextlib.suppress(Exception):
        stack_mod.destroy_libvirt_domains(s.libvirt_uri, s.created)


@pytest.fixture(scope="session")
def workdir(stack: Stack) -> Path:
    d = stack.home / "work"
    d.mkdir(exist_ok=True)
    return d
