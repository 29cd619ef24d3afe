"""What the watcher makes of a PropertyCollector answer, built without vCenter."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware.watcher import changes_in

PC = vmodl.query.PropertyCollector


def answer(*updates: tuple[vim.VirtualMachine, str, dict[str, Any]]) -> Any:
    return PC.UpdateSet(
        version="2",
        filterSet=[
            PC.FilterUpdate(
                objectSet=[
                    PC.ObjectUpdate(
                        obj=vm,
                        kind=kind,
                        changeSet=[
                            PC.Change(name=name, op="assign", val=val)
                            for name, val in props.items()
                        ],
                    )
                    for vm, kind, props in updates
                ]
            )
        ],
    )


def test_a_reset_in_one_answer_ends_running() -> None:
    # vcsim replays a reset as power-off then power-on in the same answer; reported one by
    # one, the power-off arrived after the reboot was answered and turned the server SHUTOFF.
    vm, other = vim.VirtualMachine("vm-1"), vim.VirtualMachine("vm-2")
    changes = changes_in(
        answer(
            (vm, "modify", {"runtime.powerState": "poweredOff"}),
            (other, "modify", {"runtime.host": vim.HostSystem("host-9")}),
            (vm, "modify", {"runtime.powerState": "poweredOn"}),
        )
    )
    assert [(c.vm._moId, c.kind, c.props) for c in changes] == [
        ("vm-1", "modify", {"runtime.powerState": "poweredOn"}),
        ("vm-2", "modify", {"runtime.host": vim.HostSystem("host-9")}),
    ]


def test_folding_keeps_everything_said_and_a_leave_wins() -> None:
    vm, gone = vim.VirtualMachine("vm-1"), vim.VirtualMachine("vm-3")
    changes = changes_in(
        answer(
            (vm, "enter", {"name": "web-1", "runtime.powerState": "poweredOff"}),
            (vm, "modify", {"runtime.powerState": "poweredOn"}),
            (gone, "modify", {"runtime.powerState": "poweredOff"}),
            (gone, "leave", {}),
        )
    )
    assert [(c.vm._moId, c.kind, c.props) for c in changes] == [
        ("vm-1", "enter", {"name": "web-1", "runtime.powerState": "poweredOn"}),
        ("vm-3", "leave", {}),
    ]


def test_things_other_than_vms_are_not_changes() -> None:
    assert changes_in(answer((vim.HostSystem("host-1"), "modify", {"name": "h"}))) == []
