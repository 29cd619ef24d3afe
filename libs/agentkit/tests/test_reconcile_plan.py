"""plan_reconcile: what the reconciler does, for each combination of views."""

from __future__ import annotations

from polyvisor.agentkit.driver import Instance, PowerState
from polyvisor.agentkit.reconcile_plan import Action, ActionKind, Assigned, plan_reconcile

RUN, OFF = PowerState.RUNNING, PowerState.SHUTDOWN


def a(
    sid: str, desired: PowerState | None = RUN, state: str = "ACTIVE", task: str = "NONE"
) -> Assigned:
    return Assigned(sid, 3, desired, state, task, f"polyvisor-{sid}")


def i(sid: str, power: PowerState = RUN) -> Instance:
    return Instance(sid, power, f"polyvisor-{sid}")


def kinds(actions: list[Action]) -> dict[str, ActionKind]:
    return {x.server_id: x.kind for x in actions}


def test_desired_power_state_wins() -> None:
    actions = plan_reconcile(
        [a("on-but-off"), a("off-but-on", OFF, "SHUTOFF"), a("fine"), a("crashed")],
        [i("on-but-off", OFF), i("off-but-on", RUN), i("fine"), i("crashed", PowerState.CRASHED)],
    )
    assert kinds(actions) == {
        "on-but-off": ActionKind.POWER_ON,
        "off-but-on": ActionKind.POWER_OFF,
        "crashed": ActionKind.POWER_ON,
    }
    assert next(x for x in actions if x.server_id == "on-but-off").generation == 3


def test_vanished_only_when_settled() -> None:
    actions = plan_reconcile(
        [
            a("gone"),
            a("gone-off", OFF, "SHUTOFF"),
            a("building", state="BUILDING", task="SPAWNING"),
            a("deleting", state="DELETING", task="DELETING"),
            a("error", state="ERROR"),
            a("rebooting", state="ACTIVE", task="REBOOTING"),
        ],
        [],
    )
    assert kinds(actions) == {"gone": ActionKind.VANISHED, "gone-off": ActionKind.VANISHED}


def test_unwanted_vms_and_busy_servers() -> None:
    actions = plan_reconcile(
        [a("busy-gone"), a("busy-off")],
        [i("orphan"), i("busy-off", OFF), i("busy-orphan")],
        busy={"busy-gone", "busy-off", "busy-orphan"},
    )
    assert kinds(actions) == {"orphan": ActionKind.UNWANTED}
    assert actions[0].observed == RUN


def test_no_desired_state_means_no_power_action() -> None:
    assert plan_reconcile([a("x", desired=None)], [i("x", OFF)]) == []


def test_paused_and_suspended_servers_may_vanish_but_keep_their_power_state() -> None:
    """A server held PAUSED or SUSPENDED is settled: gone from the hypervisor it is VANISHED;
    there, it is left as it is even though the api wants it running once resumed."""
    actions = plan_reconcile(
        [
            a("paused", RUN, "PAUSED"),
            a("suspended", RUN, "SUSPENDED"),
            a("paused-gone", RUN, "PAUSED"),
            a("suspended-gone", RUN, "SUSPENDED"),
            a("pausing", RUN, "ACTIVE", "PAUSING"),
        ],
        [
            i("paused", PowerState.PAUSED),
            i("suspended", OFF),  # a managed save reads as shut off on some hypervisors
        ],
    )
    assert kinds(actions) == {
        "paused-gone": ActionKind.VANISHED,
        "suspended-gone": ActionKind.VANISHED,
    }


def test_a_resize_waiting_for_confirmation_may_vanish_but_keeps_its_power_state() -> None:
    """VERIFY_RESIZE is settled: gone it is VANISHED; there, off or running, it is left as its
    resize left it; a resize in flight is the resize's own business."""
    actions = plan_reconcile(
        [
            a("verify-off", RUN, "VERIFY_RESIZE"),
            a("verify-gone", RUN, "VERIFY_RESIZE"),
            a("resizing", RUN, "ACTIVE", "RESIZE_MIGRATING"),
        ],
        [i("verify-off", OFF), i("resizing", OFF)],
    )
    assert kinds(actions) == {"verify-gone": ActionKind.VANISHED}


def test_a_copy_of_a_server_evacuated_from_here_is_stale_unless_it_is_assigned_here() -> None:
    """The api says which servers were rebuilt elsewhere while this host was down: their copies
    here are EVACUATED (destroyed at once), other unassigned VMs stay UNWANTED, a server the
    api assigns here again is its own again, and one busy with a command is left to it."""
    actions = plan_reconcile(
        [a("back-here", RUN, "ACTIVE")],
        [i("stale"), i("stale-off", OFF), i("orphan"), i("back-here"), i("busy")],
        busy=["busy"],
        evacuated=["stale", "stale-off", "back-here", "busy", "gone-here-too"],
    )
    assert kinds(actions) == {
        "stale": ActionKind.EVACUATED,
        "stale-off": ActionKind.EVACUATED,
        "orphan": ActionKind.UNWANTED,
    }
