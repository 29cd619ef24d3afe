"""The benchmark still runs (its --quick mode); its figures are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "agent_vmware" / "run.py"


def test_bench_quick_mode_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "agent_vmware"
    assert figures["spawns"] == 5 and figures["spawn_failures"] == 0
    assert figures["agent_spawns_per_s"] > 0 and figures["direct_spawns_per_s"] > 0
