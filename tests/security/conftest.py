"""The security suite runs against the real processes of tests/api's stack (api, scheduler,
image service, a fake agent), on a NATS and a database of its own per module."""

from __future__ import annotations

from tests.api.conftest import api_settings, module_nats, module_root, stack

__all__ = ["api_settings", "module_nats", "module_root", "stack"]
