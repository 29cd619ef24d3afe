"""bench/agent_kvm still runs (its quick mode: 20 spawns on the test driver, no real boot).
Nothing here asserts on timings: the figures are the benchmark's business."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.support.services import REPO


async def test_bench_quick_mode_prints_its_json_line_last() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "bench" / "agent_kvm" / "run.py"),
        "--quick",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(REPO),
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["bench"] == "agent_kvm" and result["spawns"] == 20
    assert result["agent_spawns_per_s"] > 0 and result["direct_define_create_per_s"] > 0
    assert result["boot"] == {"skipped": "--quick"}
