"""python -m tests.fake_agent (settings from the environment, see the package docstring)."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from tests.fake_agent.agent import FakeAgent, FakeAgentConfig


async def main() -> None:
    agent = FakeAgent(FakeAgentConfig.from_env())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.start()
    try:
        await stop.wait()
    finally:
        await agent.close()


if __name__ == "__main__":
    uvloop.run(main())
