"""The fault matrix: every part killed -9 in the middle of a burst of creates and deletes
and brought back by `./dev up`, a vCenter that stops answering for a while, a vCenter that
comes back without its VMs, a cold migration with the api or the source agent killed in its
middle; after each, the invariants of tests/faults/harness.py.

    ./dev bench chaos [--burst 12] [--outage 60] [--settle 300] [--only kill-api,...]
    POLYVISOR_CHAOS_KEEP_LOGS=DIR ./dev bench chaos ...   # the services' logs kept in DIR

One stack for the whole matrix (its own state directory and ports, libvirt's test driver).
The last line printed is one JSON object: a row per fault with stuck, orphans, overcommit,
quota_drift (counts; each must be 0) and settle_s (from the restart, or the end of the
outage, until nothing is in a transitional state), and `clean` (true when every row is 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.faults.faults import (
    KILLABLE,
    clean_up,
    run_kill,
    run_migration_kill,
    run_power_off_outside,
    run_vcenter_lost_vms,
    run_vcenter_outage,
)
from tests.faults.harness import LONGEST_DEADLINE_S, Chaos


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--burst", type=int, default=12, help="creates per burst")
    p.add_argument("--outage", type=float, default=60.0, help="seconds vCenter is stopped")
    p.add_argument("--settle", type=float, default=LONGEST_DEADLINE_S + 60,
                   help="longest wait to settle (longer than every deadline)")  # fmt: skip
    p.add_argument("--only", default="", help="comma-separated fault names to run")
    args = p.parse_args()
    faults = [f"kill-{k}" for k in KILLABLE] + [
        "migrate-kill-api",
        "migrate-kill-agent_vmware",
        "vcenter-outage",
        "vcenter-lost-vms",
        "power-off-outside",
    ]
    if args.only:
        faults = [f for f in faults if f in args.only.split(",")]
    rows = []
    t0 = time.monotonic()
    with Chaos.running() as chaos:
        for fault in faults:
            print(f"chaos: {fault}", file=sys.stderr, flush=True)
            try:
                if fault.startswith("kill-"):
                    row = run_kill(chaos, fault[5:], n=args.burst, settle_s=args.settle)
                elif fault.startswith("migrate-kill-"):
                    row = run_migration_kill(chaos, fault[13:], settle_s=args.settle)
                elif fault == "vcenter-outage":
                    row = run_vcenter_outage(chaos, pause_s=args.outage, n=4, settle_s=args.settle)
                elif fault == "vcenter-lost-vms":
                    row = run_vcenter_lost_vms(chaos, n=4, settle_s=args.settle)
                else:
                    row = run_power_off_outside(chaos, n=args.burst, settle_s=args.settle)
            except Exception as e:  # a fault the harness could not even measure is a row too
                row = {"fault": fault, "error": repr(e)[:500]}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
        rows.append(clean_up(chaos, args.settle))
    keys = ("stuck", "orphans", "overcommit", "quota_drift", "unusable", "left_behind",
            "unreported", "shutoff_seen", "silently_active", "wrong")  # fmt: skip
    clean = all("error" not in r and all(r.get(k, 0) == 0 for k in keys) for r in rows)
    print(json.dumps({
        "bench": "chaos",
        "clean": clean,
        "faults": rows,
        "wall_s": round(time.monotonic() - t0, 1),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
