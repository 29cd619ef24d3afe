"""How long a command waits before it is tried again after a transient failure.

    delay = backoff(retry_delays, cmd.deadline, exc, attempt)   # None: give up, answer

A hypervisor that is down gets the fixed budget of delays (then the api can reschedule the
server elsewhere). A dependency that said "try again" (``Transient.until_deadline``: the
network service restarting with its database, a datastore answering 503) is retried at the
longest delay for as long as the next try starts before the command's deadline (without a
deadline: the fixed budget).
"""

from __future__ import annotations

import time

__all__ = ["Transient", "backoff"]


class Transient(Exception):
    """A failure that trying again, in place, may mend (its cause is ``__cause__``)."""

    def __init__(self, message: str, *, until_deadline: bool = False) -> None:
        super().__init__(message)
        self.until_deadline = until_deadline


def backoff(
    delays: tuple[float, ...], deadline: float | None, exc: Transient, attempt: int
) -> float | None:
    if not (exc.until_deadline and delays):
        return delays[attempt] if attempt < len(delays) else None
    delay = delays[min(attempt, len(delays) - 1)]
    if deadline is None:
        return delay if attempt < len(delays) else None
    # never a try after the deadline (a vCenter task that timed out may have used it all)
    return delay if time.time() + delay < deadline else None
