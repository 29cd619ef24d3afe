"""bench/image_stream still runs end to end (figures are not asserted: timing lives in bench/)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_image_stream_bench_quick_mode_prints_one_json_line() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "bench" / "image_stream" / "run.py"),
        "--quick",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["bench"] == "image_stream"
    for key in ("upload_mb_s", "download_mb_s", "baseline_cat_mb_s", "convert_ratio"):
        assert result[key] > 0
