"""`./dev test` keeps the bytecode of every Python process it starts (under .polyvisor/pycache,
never beside the sources), even when the environment says PYTHONDONTWRITEBYTECODE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deploy.dev.runner import PYCACHE, bytecode_env


def _import(src: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", "import probe_module"],
        cwd=src, env={**env, "PYTHONPATH": str(src)}, check=True, timeout=60,
    )  # fmt: skip


def test_bytecode_goes_to_the_cache_and_is_read_back(tmp_path: Path) -> None:
    src, cache = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    (src / "probe_module.py").write_text("VALUE = 1\n")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    env = {**env, **bytecode_env(env, cache)}
    _import(src, env)
    written = list(cache.rglob("probe_module*.pyc"))
    assert len(written) == 1
    assert not list(src.rglob("*.pyc"))
    stamp = written[0].stat().st_mtime_ns
    _import(src, env)  # read back, not compiled again
    assert written[0].stat().st_mtime_ns == stamp


def test_a_prefix_already_chosen_is_kept_and_the_default_is_under_polyvisor() -> None:
    assert bytecode_env({"PYTHONPYCACHEPREFIX": "/elsewhere"}) == {}
    assert PYCACHE.parts[-2:] == (".polyvisor", "pycache")
