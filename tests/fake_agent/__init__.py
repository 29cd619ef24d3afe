"""A fake agent: a real process that speaks the agents' NATS contract without a hypervisor.

It reports its hosts on hosts.report.<host> (so the real scheduler places servers on them),
consumes agent.<host>.cmd and answers with events.server.<id> events. How it answers is
chosen per host by the environment and per server by the server's metadata:

| metadata key `fake.spawn` / env `FAKE_AGENT_SPAWN` | spawn behaviour |
| --- | --- |
| `ok` (default) | PROGRESS, then SPAWNED (RUNNING, a VNC console; SHUTDOWN when the spawn says `powered_off`) |
| `fail` | SPAWN_FAILED (the host "cleaned up") |
| `fail_first` | SPAWN_FAILED on attempt 1, then like `ok` |
| `slow` | like `ok` after `FAKE_AGENT_SLOW_S` seconds |
| `silent` | acknowledges the command and never answers |

`fake.power` / `FAKE_AGENT_POWER` (`ok`, `fail`, `silent`) does the same for power on/off,
reboot, destroy and rebuild (REBUILT at once: RUNNING, or SHUTDOWN when it says `powered_off`). `FAKE_AGENT_SNAPSHOT` (`silent`, the default: a snapshot is never
answered; `ok`: SNAPSHOTTED at once, nothing uploaded) does it for snapshots. `fake.reboot=flicker` makes a reboot behave as vCenter reports a reset:
REBOOTED, then two unsolicited POWER_STATE_CHANGED of the same generation published back to
back, SHUTDOWN (the reset's brief power-off, seen late) then RUNNING. Every command received
is appended as one JSON line to `FAKE_AGENT_LOG` (when set), for tests to inspect what the api
sent.
"""
