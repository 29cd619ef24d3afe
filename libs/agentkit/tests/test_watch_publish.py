"""A hypervisor change whose event could not be published (NATS down at that moment) is not
taken as reported: the next sight of the same state publishes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.driver import PowerState
from polyvisor.common.errors import Unavailable

if TYPE_CHECKING:
    from conftest import Agent


async def test_a_power_change_not_published_is_published_when_seen_again(agent: Agent) -> None:
    await agent.send("s1", 4, "spawn")
    await agent.tap.wait_for(lambda e: e.kind == EventKind.SPAWNED and e.server_id == "s1")
    # The spawn's job done: the changes below come through the watch, one by one (while a
    # job of the server runs, both would be folded into one look after it, whose lost
    # publish only the reconciler's next pass would repeat).
    await agent.runtime.dispatcher.wait_idle()
    bus = agent.runtime.agent_bus
    assert bus is not None
    real_publish = bus.publish_event
    refused: list[str] = []

    async def publish_once_down(event):  # type: ignore[no-untyped-def]
        if event.kind == EventKind.POWER_STATE_CHANGED and not refused:
            refused.append(event.power_state.value)
            raise Unavailable("nats: no servers available for connection")
        return await real_publish(event)

    bus.publish_event = publish_once_down  # type: ignore[method-assign]
    agent.driver.set_power("s1", PowerState.SHUTDOWN)  # seen; its event is lost
    agent.driver.set_power("s1", PowerState.SHUTDOWN)  # seen again (a later listing or watch)
    ev = await agent.tap.wait_for(
        lambda e: e.kind == EventKind.POWER_STATE_CHANGED and e.server_id == "s1"
    )
    assert refused == ["SHUTDOWN"]
    assert ev.power_state == "SHUTDOWN" and ev.generation == 4
