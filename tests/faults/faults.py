"""The faults of the matrix, each measured the same way: the fault, `./dev up` where a part
died, the wait until nothing is in a transitional state, the invariants (harness.Chaos.check),
a fresh create per hypervisor that must end ACTIVE, then everything deleted (what remains
is `left_behind`). Each returns one row of bench/chaos's JSON line."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.stack import vcsim_vms
from tests.faults.harness import STABLE, Chaos

# ---------------------------------------------------------------------- one fault, measured

#: Every process the matrix kills (the VMware agent is the replica holding the lease).
KILLABLE = ("api", "scheduler", "imagesvc", "networksvc", "agent_kvm", "agent_vmware",
            "nats", "postgres")  # fmt: skip


def run_kill(chaos: Chaos, part: str, *, n: int, settle_s: float) -> dict[str, Any]:
    """A burst of creates and deletes; `part` killed in its middle, `./dev up` again; the
    system settles; the invariants. Then everything deleted: nothing may remain."""
    target = part
    if part == "agent_vmware":
        agent = chaos.vmware_agents()[0]
        if f"{agent}-standby" not in chaos.replicas:
            chaos.start_replica(agent)
        target = chaos.active_replica(agent) or agent
    if target not in chaos.pids() and target not in chaos.replicas:
        return {"fault": f"kill {part}", "skipped": f"{part} is not running"}
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(chaos.burst, n, f"k-{part}")
        # the burst is under way: half its creates accepted (some building, some not yet);
        # a loaded machine may take minutes to start that many CLI processes
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not load.done():
            names = [s["name"] for s in chaos.servers()]
            if sum(nm.startswith(f"k-{part}-") for nm in names) >= n // 2:
                break
            time.sleep(0.2)
        chaos.kill9(target)
        # restarted at once, as a supervisor does (the kubelet), while the burst goes on
        t0 = time.monotonic()
        chaos.up()
        burst = load.result()
    if part in ("nats", "postgres", "api"):
        chaos.login()
    chaos.settle(settle_s)
    settled = time.monotonic() - t0  # from the restart to no transitional state left
    row = _row(chaos.check(), settled)
    unusable = chaos.works(settle_s)
    row["unusable"] = len(unusable)
    row["details"] = unusable + row["details"]
    _empty(chaos, row, settle_s)
    if chaos.refused:
        row["refused_why"] = chaos.refused[-1]
        chaos.refused.clear()
    return {"fault": f"kill {part}", "killed": target, **burst, **row}


def _empty(chaos: Chaos, row: dict[str, Any], settle_s: float) -> None:
    """Everything deleted after the fault: what remains (servers, VMs, domains, allocations,
    usage) is counted in `left_behind`; the next fault starts from an empty cloud."""
    after = clean_up(chaos, settle_s)
    keys = ("stuck", "orphans", "overcommit", "quota_drift")
    row["left_behind"] = sum(after[k] for k in keys) + sum(after["states"].values())
    row["details"] = row["details"] + after["details"]


def _row(check: dict[str, Any], settled: float) -> dict[str, Any]:
    problems = check["stuck"] + check["orphans"] + check["overcommit"] + check["quota_drift"]
    return {
        "stuck": len(check["stuck"]),
        "orphans": len(check["orphans"]),
        "overcommit": len(check["overcommit"]),
        "quota_drift": len(check["quota_drift"]),
        "settle_s": round(settled, 1),
        "states": check["states"],
        "details": problems[:10],
    }


def clean_up(chaos: Chaos, settle_s: float) -> dict[str, Any]:
    """Delete everything: nothing may remain on vCenter, libvirt or in the scheduler."""
    chaos.delete_all()
    settled = chaos.settle(settle_s)
    check = chaos.check()
    remains = [f"{s['id']} {s['state']}" for s in chaos.servers() if s["state"] != "DELETED"]
    check["stuck"] = check["stuck"] + [f"left after delete: {r}" for r in remains]
    return {"fault": "delete everything", **_row(check, settled)}


# ---------------------------------------------------------------------- vCenter faults


def _vmware_active(chaos: Chaos, n: int, prefix: str, settle_s: float) -> list[str]:
    """n VMware servers ACTIVE and RUNNING to watch through the fault."""
    with ThreadPoolExecutor(4) as pool:
        ids = [s for s in pool.map(lambda i: chaos.create(f"{prefix}-{i}", "vmware"), range(n))
               if s]  # fmt: skip
    chaos.settle(settle_s)
    by_id = {s["id"]: s for s in chaos.servers()}
    return [i for i in ids if by_id[i]["state"] == "ACTIVE"]


def run_vcenter_outage(chaos: Chaos, *, pause_s: float, n: int, settle_s: float) -> dict[str, Any]:
    """vCenter stops answering (vcsim SIGSTOP) for `pause_s`, then answers again (SIGCONT):
    its servers show power UNKNOWN meanwhile, never SHUTOFF, and come back RUNNING and
    ACTIVE with no operator action."""
    ids = _vmware_active(chaos, n, "outage", settle_s)
    seen: dict[str, set[str]] = {i: set() for i in ids}

    def look() -> dict[str, dict[str, Any]]:
        by_id = {s["id"]: s for s in chaos.servers()}
        for i in ids:
            seen[i].add(f"{by_id[i]['state']}/{by_id[i]['power_state']}")
        return by_id

    chaos.vcsim_signal(signal.SIGSTOP)
    try:
        t_end = time.monotonic() + pause_s
        while time.monotonic() < t_end:
            look()
            time.sleep(min(2.0, max(0.0, t_end - time.monotonic())))
        during = look()
    finally:
        chaos.vcsim_signal(signal.SIGCONT)
    unknown_at_end = sum(during[i]["power_state"] == "UNKNOWN" for i in ids)
    t0 = time.monotonic()
    back = False
    while time.monotonic() - t0 < settle_s:
        by_id = look()
        if all((by_id[i]["state"], by_id[i]["power_state"]) == ("ACTIVE", "RUNNING") for i in ids):
            back = True
            break
        time.sleep(1)
    recovered = time.monotonic() - t0
    wrong = sorted({f"{i} seen {st}" for i in ids for st in seen[i]
                    if st.startswith("SHUTOFF") or st.endswith("/SHUTDOWN")})  # fmt: skip
    check = chaos.check()
    if not back:
        check["stuck"].append(f"not back ACTIVE/RUNNING after {settle_s:g}s: {look()}")
    row = _row(check, recovered)
    row["details"] = wrong + row["details"]
    _empty(chaos, row, settle_s)
    return {
        "fault": f"vcenter stopped {pause_s:g}s",
        "servers": len(ids),
        "unknown_during": unknown_at_end,
        "shutoff_seen": len(wrong),
        "back": back,
        **row,
    }


def run_vcenter_lost_vms(chaos: Chaos, *, n: int, settle_s: float) -> dict[str, Any]:
    """vCenter restarted without the VMs it had (vcsim killed, `./dev up` starts a fresh
    one on its port): each server it lost goes to ERROR with a fault that says so, never
    stays silently ACTIVE."""
    ids = _vmware_active(chaos, n, "lost", settle_s)
    chaos.kill9("vcsim")
    t0 = time.monotonic()
    chaos.up()
    lost: dict[str, dict[str, Any]] = {}
    while time.monotonic() - t0 < settle_s:
        by_id = {s["id"]: s for s in chaos.servers()}
        lost = {i: by_id[i] for i in ids if by_id[i]["state"] == "ERROR"}
        if len(lost) == len(ids):
            break
        time.sleep(2)
    took = time.monotonic() - t0
    by_id = {s["id"]: s for s in chaos.servers()}
    silent = [f"{i} {by_id[i]['state']}/{by_id[i]['power_state']}" for i in ids if i not in lost]
    unexplained = [
        f"{i} fault {s['fault']!r}"
        for i, s in lost.items()
        if "hypervisor" not in json.dumps(s["fault"] or {}).lower()
        and "vanish" not in json.dumps(s["fault"] or {}).lower()
    ]
    check = chaos.check()
    row = _row(check, took)
    row["details"] = silent + unexplained + row["details"]
    _empty(chaos, row, settle_s)
    return {
        "fault": "vcenter restarted without its VMs",
        "servers": len(ids),
        "error_with_fault": len(lost) - len(unexplained),
        "silently_active": len(silent),
        **row,
    }


def _power_off_outside(vcsim: dict[str, Any], names: set[str]) -> int:
    """Power off these VMs straight on vCenter, as someone outside Polyvisor would."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl

    si = SmartConnect(
        host=vcsim["host"], port=int(vcsim["port"]), protocol="http",
        user=vcsim["username"], pwd=vcsim["password"], disableSslCertValidation=True,
    )  # fmt: skip
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.VirtualMachine], True
        )
        try:
            vms = []
            for vm in view.view:
                try:
                    if vm.name in names:
                        vms.append(vm)
                except vmodl.fault.ManagedObjectNotFound:
                    continue  # another VM destroyed while we read it (a delete finishing)
        finally:
            view.Destroy()
        for vm in vms:
            vm.PowerOffVM_Task()
        return len(vms)
    finally:
        Disconnect(si)


def run_power_off_outside(chaos: Chaos, *, n: int, settle_s: float) -> dict[str, Any]:
    """Right after a burst of VMware creates, their VMs are powered off on vCenter outside
    Polyvisor: the watch must report each one (the server ends SHUTOFF)."""
    with ThreadPoolExecutor(8) as pool:
        ids = [s for s in pool.map(lambda i: chaos.create(f"off-{i}", "vmware"), range(n)) if s]
    chaos.settle(settle_s)
    active = {s["id"] for s in chaos.servers() if s["id"] in ids and s["state"] == "ACTIVE"}
    powered_off = _power_off_outside(chaos.stack.endpoints["vcsim"], active)
    t0 = time.monotonic()
    unreported = set(active)
    while unreported and time.monotonic() - t0 < settle_s:
        by_id = {s["id"]: s for s in chaos.servers()}
        unreported = {i for i in active if by_id[i]["state"] != "SHUTOFF"}
        time.sleep(1)
    row = _row(chaos.check(), time.monotonic() - t0)
    row["details"] = [f"{i} never reported SHUTOFF" for i in sorted(unreported)] + row["details"]
    _empty(chaos, row, settle_s)
    return {
        "fault": "VMs powered off outside after a burst",
        "servers": len(active),
        "powered_off": powered_off,
        "unreported": len(unreported),
        **row,
    }


# ---------------------------------------------------------------------- a move, killed


def _moved_or_settled(chaos: Chaos, sid: str, within: float) -> dict[str, Any]:
    """The server once nothing is in flight on it (VERIFY_RESIZE counts: a cold migration
    waits there for its confirm)."""
    deadline = time.monotonic() + within
    while True:
        s = {x["id"]: x for x in chaos.servers()}[sid]
        if s["task"] == "NONE" and s["state"] in STABLE | {"VERIFY_RESIZE"}:
            return s
        if time.monotonic() > deadline:
            return s
        time.sleep(0.5)


def run_migration_kill(chaos: Chaos, part: str, *, settle_s: float) -> dict[str, Any]:
    """A VMware server cold-migrated to the other cluster, and `part` killed -9 in the middle
    as soon as the migration is accepted ("api": while its destination is being claimed;
    "agent_vmware": the source cluster's agent, while it is told, or moves the VM), then
    `./dev up` again. Once it settles (confirmed if it waits for that), the server must be
    ACTIVE on exactly one host, with exactly one VM on vCenter (in that host's cluster) and
    exactly one claim (on that host: no move claim left, nothing on the other cluster)."""
    [sid] = _vmware_active(chaos, 1, f"mig-{part}", settle_s) or [None]
    if sid is None:
        return {"fault": f"migrate, kill {part}", "error": "no ACTIVE VMware server to move"}
    source = {s["id"]: s for s in chaos.servers()}[sid]["host"]
    target = "api"
    if part == "agent_vmware":
        agent = f"agent_{source}"  # host vmware-<cluster>, process agent_vmware-<cluster>
        target = chaos.active_replica(agent) or agent
    r = chaos.stack.cli("server", "migrate", sid, timeout=120)
    if r.returncode != 0:
        return {"fault": f"migrate, kill {part}", "error": r.stdout + r.stderr}
    chaos.kill9(target)
    at_kill = {x["id"]: x for x in chaos.servers()}[sid]
    seen = f"{at_kill['state']}/{at_kill['task']}"
    t0 = time.monotonic()
    chaos.up()
    if part == "api":
        chaos.login()
    s = _moved_or_settled(chaos, sid, settle_s)
    confirmed = False
    if s["state"] == "VERIFY_RESIZE":
        confirmed = chaos.stack.cli("server", "resize", "confirm", sid, timeout=120).returncode == 0
        s = _moved_or_settled(chaos, sid, settle_s)
    settled = time.monotonic() - t0
    claims = chaos.allocations_of(sid)
    vms = [vm for vm in vcsim_vms(chaos.stack.endpoints["vcsim"]) if vm.name == sid]
    wrong: list[str] = []
    if s["state"] != "ACTIVE" or s["task"] != "NONE":
        wrong.append(f"{sid} ended {s['state']}/{s['task']}: {s['fault']}")
    if [(c["consumer_id"], c["provider_id"]) for c in claims] != [(sid, s["host"])]:
        wrong.append(f"{sid} on {s['host']} holds claims {claims}")
    if [f"vmware-{vm.cluster}" for vm in vms] != [s["host"]]:
        wrong.append(f"{sid} on {s['host']} has VMs in {[vm.cluster for vm in vms]}")
    row = _row(chaos.check(), settled)
    row["details"] = wrong + row["details"]
    _empty(chaos, row, settle_s)
    return {
        "fault": f"migrate, kill {part}",
        "killed": target,
        "killed_during": seen,
        "moved": s["host"] != source,
        "confirmed": confirmed,
        "claims": len(claims),
        "vms": len(vms),
        "wrong": len(wrong),
        **row,
    }
