"""The CI-sized subset of the fault matrix (`./dev bench chaos` runs all of it): one stack;
a burst of creates and deletes with one part killed -9 in its middle and `./dev up` run
again (NATS: every service and agent loses its bus, the VMware agents their lease; the
VMware agent holding the lease, with a standby); a cold migration with the api, then the
source cluster's agent, killed -9 in its middle (the server ends ACTIVE on one host, one VM,
one claim); vCenter stopped (SIGSTOP) then resumed; vCenter restarted without its VMs. After
each: no server stuck, no orphan, no over-commit, no quota drift, a fresh create on each
hypervisor ends ACTIVE, and deleting everything leaves nothing behind. See harness.py for
what each invariant checks.

    .venv/bin/python -m pytest tests/faults -q
    POLYVISOR_CHAOS_OUTAGE_S=60 .venv/bin/python -m pytest tests/faults -q   # the full outage
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.faults import (
    run_kill,
    run_migration_kill,
    run_vcenter_lost_vms,
    run_vcenter_outage,
)
from tests.faults.harness import LONGEST_DEADLINE_S, Chaos

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: Longer than any transitional state's deadline the stack runs with.
SETTLE_S = LONGEST_DEADLINE_S + 60
#: Long enough for the VMware agent to declare vCenter unreachable (two missed probes).
OUTAGE_S = float(os.environ.get("POLYVISOR_CHAOS_OUTAGE_S", "40"))


@pytest.fixture(scope="module")
def chaos() -> Iterator[Chaos]:
    with Chaos.running() as c:
        yield c


def assert_clean(row: dict[str, object]) -> None:
    keys = ("stuck", "orphans", "overcommit", "quota_drift", "unusable", "left_behind")
    assert {k: row.get(k, 0) for k in keys} == dict.fromkeys(keys, 0), row


@pytest.mark.parametrize("part", ["nats", "agent_vmware"])
def test_a_part_killed_in_a_burst_leaves_nothing_stuck_lost_or_double_booked(
    chaos: Chaos, part: str
) -> None:
    row = run_kill(chaos, part, n=8, settle_s=SETTLE_S)
    assert row["created"] > 0, row
    assert_clean(row)


@pytest.mark.parametrize("part", ["api", "agent_vmware"])
def test_a_cold_migration_killed_in_its_middle_ends_on_one_host_with_one_claim(
    chaos: Chaos, part: str
) -> None:
    row = run_migration_kill(chaos, part, settle_s=SETTLE_S)
    assert "error" not in row, row
    assert (row["claims"], row["vms"], row["wrong"]) == (1, 1, 0), row
    assert_clean(row)


def test_a_vcenter_that_stops_answering_shows_unknown_never_shutoff_and_comes_back(
    chaos: Chaos,
) -> None:
    row = run_vcenter_outage(chaos, pause_s=OUTAGE_S, n=3, settle_s=SETTLE_S)
    assert row["servers"] == 3, row
    assert row["unknown_during"] == 3 and row["shutoff_seen"] == 0 and row["back"], row
    assert_clean(row)


def test_servers_a_restarted_vcenter_lost_go_to_error_with_a_fault_saying_so(
    chaos: Chaos,
) -> None:
    row = run_vcenter_lost_vms(chaos, n=3, settle_s=SETTLE_S)
    assert row["servers"] == 3, row
    assert row["error_with_fault"] == 3 and row["silently_active"] == 0, row
    assert_clean(row)
