"""The import-linter contracts in pyproject.toml catch what they promise to catch.

Each case copies every package's source into one tree, plants one forbidden import in the
copy and runs `lint-imports` on it with the repository's own configuration: the clean copy
passes, each planted import fails, naming its contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    dest = root / "src" / "polyvisor"
    for src in sorted(REPO.glob("libs/*/src/polyvisor")) + sorted(
        REPO.glob("services/*/src/polyvisor")
    ):
        shutil.copytree(
            src,
            dest,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "tests", "migrations"),
        )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _copy(tree: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(tree, work)
    return work


def _run(work: Path) -> subprocess.CompletedProcess[str]:
    # -S: no site, so the venv's editable installs do not add the real sources beside the copy
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(work / "src"), sysconfig.get_paths()["purelib"]]),
    }
    return subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "from importlinter.cli import lint_imports_command as c; c()",
            "--no-cache",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _plant(work: Path, module: str, line: str) -> None:
    path = work / "src" / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_clean_tree_keeps_every_contract(clean_tree: Path, tmp_path: Path) -> None:
    result = _run(_copy(clean_tree, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "polyvisor.api.handlers.servers",
            "from polyvisor.api.store import servers as _planted",
            "Handlers reach the store and the bus only through the domain",
        ),
        (
            "polyvisor.agent_kvm.libvirt_driver",
            "import pyVmomi as _planted",
            "Each agent imports its own hypervisor's library only",
        ),
        (
            "polyvisor.agent_vmware.driver",
            "import libvirt as _planted",
            "The VMware agent never imports libvirt",
        ),
        (
            "polyvisor.scheduler.filters",
            "from polyvisor.agentkit import driver as _planted",
            "The api and the scheduler never import the agent kit",
        ),
        (
            "polyvisor.api.servers",
            "from polyvisor.compute.v1 import servers_pb2 as _planted",
            "Protobuf stays at the edges: handlers, convert, bus, clients, app",
        ),
        (
            "polyvisor.imagesvc.store.images",
            "from polyvisor.imagesvc.handlers import image_service as _planted",
            "Each service: app, handlers and bus, domain, store",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(
    clean_tree: Path, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    work = _copy(clean_tree, tmp_path)
    _plant(work, module, line)
    result = _run(work)
    assert result.returncode != 0, result.stdout
    broken = [ln for ln in result.stdout.splitlines() if " BROKEN" in ln]
    assert len(broken) == 1, result.stdout
    assert broken[0].startswith(contract), result.stdout
