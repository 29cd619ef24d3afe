"""Hundreds of VMware creates at once through the agent on vcsim: all must end RUNNING.

    .venv/bin/python bench/agent_vmware/creates.py [--creates 200] [--concurrency 8]

Starts vcsim, NATS and the VMware agent as a real process, publishes every spawn command at
once, and counts the servers answered SPAWNED RUNNING and those that an observation reported
SHUTDOWN after their SPAWNED (the api would have turned them SHUTOFF and the reconciler
powered them off). The last line printed is one JSON object with the figures; the exit
status is 1 when any server did not end RUNNING. The test suite runs a smaller batch
(tests/agent_vmware/test_many_creates.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "services" / "agent_vmware" / "tests"))
sys.path.insert(0, str(REPO / "tests" / "agent_vmware"))

from many_creates import run_creates  # noqa: E402
from vmware_fixtures import make_images  # noqa: E402

from polyvisor.common.embedded import EmbeddedNats  # noqa: E402
from tests.fixtures.vcsim import Vcsim  # noqa: E402


async def main(creates: int, concurrency: int, keep: bool = False) -> int:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-creates-"))
    sim = Vcsim(root / "vcsim", die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    try:
        endpoint = sim.start()
        nats_url = nats.start()
        images = make_images(root / "images")
        outcome = await run_creates(
            creates,
            endpoint=endpoint,
            nats_url=nats_url,
            root=root,
            stream_vmdk=images["streamOptimized"].read_bytes(),
            concurrency=concurrency,
        )
    finally:
        nats.stop()
        sim.stop()
        if keep:
            print(f"kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    figures = {
        "bench": "agent_vmware_creates",
        "creates": creates,
        "concurrency": concurrency,
        "spawned_running": outcome.spawned_running,
        "spawn_failed": len(outcome.spawn_failed),
        "shut_off": len(outcome.shut_off),
        "powered_on_in_vcenter": outcome.powered_on_in_vcenter,
        "marker_reported": outcome.marker_reported,
        "seconds": round(outcome.seconds, 1),
        "creates_per_s": round(creates / outcome.seconds, 2) if outcome.seconds else 0.0,
    }
    for sid, powers in list(outcome.shut_off.items())[:10]:
        print(f"shut off after SPAWNED: {sid} {powers}", file=sys.stderr)
    for line in outcome.spawn_failed[:10]:
        print(f"spawn failed: {line}", file=sys.stderr)
    print(json.dumps(figures))
    ok = outcome.spawned_running == creates and not outcome.shut_off
    return 0 if ok and outcome.powered_on_in_vcenter == creates else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the logs (printed where)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.creates, args.concurrency, args.keep)))
