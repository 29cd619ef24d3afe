"""buf accepts the contracts: lint (STANDARD), build and format are clean."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
BUF = ROOT / ".venv" / "bin" / "buf"


def _buf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), *args], cwd=PROTOS, capture_output=True, text=True, check=False
    )


def test_buf_lint_is_clean() -> None:
    result = _buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_buf_build_produces_an_image_with_every_file(tmp_path: Path) -> None:
    image = tmp_path / "image.json"
    result = _buf("build", "--exclude-imports", "-o", str(image))
    assert result.returncode == 0, result.stderr
    names = sorted(f["name"] for f in json.loads(image.read_text())["file"])
    expected = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    assert names == expected


def test_buf_format_is_clean() -> None:
    result = _buf("format", "--diff", "--exit-code")
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_config_uses_standard_lint_and_file_breaking() -> None:
    config = (PROTOS / "buf.yaml").read_text()
    assert "version: v2" in config
    assert "- STANDARD" in config
    assert "- FILE" in config
    assert "deps" not in config
