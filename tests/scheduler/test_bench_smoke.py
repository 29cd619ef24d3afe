"""bench/scheduler still runs (--quick: small host set, no Nova). Asserts on what it placed and
on the over-commit check, never on timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_scheduler_bench_quick_runs_and_never_overcommits() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scheduler" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["bench"] == "scheduler"
    size = result["sizes"]["200"]
    assert size["polyvisor_filter_weigh"]["requests_with_a_host"] == 200
    assert size["polyvisor_select_with_claim"]["placed"] == 50
    replicas = result["two_replicas"]
    assert replicas["placed"] + replicas["refused_no_valid_host"] == replicas["requests"]
    assert replicas["allocations"] == replicas["placed"]
    assert replicas["overcommitted_provider_classes"] == 0
    assert replicas["zero_overcommit"] is True
