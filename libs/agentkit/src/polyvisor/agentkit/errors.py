"""Errors of the agent runtime itself (the driver's own errors live in driver.py)."""

from __future__ import annotations

__all__ = ["ImageUnavailable"]


class ImageUnavailable(Exception):
    """The rendition a spawn needs could not be fetched (missing, checksum, unreachable)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
