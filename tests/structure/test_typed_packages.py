"""Every package of the workspace says it is typed (PEP 561's `py.typed`), and the wheels
carry the marker: users' type checkers then read the SDK's and the generated messages' types
instead of treating them as Any."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _packages() -> list[Path]:
    """The top packages under each member's `src/polyvisor` namespace."""
    return sorted(
        p
        for src in (*REPO.glob("libs/*/src/polyvisor"), *REPO.glob("services/*/src/polyvisor"))
        for p in src.iterdir()
        if p.is_dir() and (p / "__init__.py").exists()
    )


def test_every_package_has_the_marker_under_version_control() -> None:
    tracked = set(
        subprocess.run(
            ["git", "ls-files", "*py.typed"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    missing = [str(p.relative_to(REPO)) for p in _packages() if
               str((p / "py.typed").relative_to(REPO)) not in tracked]  # fmt: skip
    assert _packages() and not missing, f"no py.typed in {missing}"


@pytest.mark.parametrize("package", ["polyvisor-client", "polyvisor-proto"])
def test_the_wheels_carry_the_marker(package: str, tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(REPO / ".polyvisor/tools/uv/bin/uv")
    done = subprocess.run(
        [uv, "build", "--wheel", "--offline", "--package", package, "-o", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    typed = {n for n in names if n.endswith("/py.typed")}
    packages = {n.split("/")[1] for n in names if n.startswith("polyvisor/") and n.count("/") > 1}
    assert typed == {f"polyvisor/{p}/py.typed" for p in packages}
