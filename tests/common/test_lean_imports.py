"""A service imports neither aiohttp (through nats) nor rich (through structlog) at start-up,
and loses nothing by it: the packages load as usual when something asks for them later."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from polyvisor.common.lean_imports import LazyModule, hidden

SERVICE_APPS = (
    "polyvisor.api.app",
    "polyvisor.scheduler.app",
    "polyvisor.imagesvc.app",
    "polyvisor.networksvc.app",
    "polyvisor.volumesvc.app",
)


def _fresh(code: str) -> object:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_the_services_start_without_aiohttp_and_rich() -> None:
    loaded = _fresh(
        "import importlib, json, sys\n"
        f"for m in {SERVICE_APPS!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(m for m in ('aiohttp', 'rich') if m in sys.modules)))"
    )
    assert loaded == []


def test_nats_gets_aiohttp_back_when_it_is_used_and_a_later_import_is_the_real_one() -> None:
    found = _fresh(
        "import json, sys\n"
        "import polyvisor.common.bus\n"
        "import nats.aio.transport as t\n"
        "before = 'aiohttp' in sys.modules\n"
        "session = t.aiohttp.ClientSession\n"
        "import aiohttp\n"
        "from aiohttp import web\n"
        "print(json.dumps([before, session is aiohttp.ClientSession, bool(t.aiohttp),"
        " web.Application.__module__]))"
    )
    assert found == [False, True, True, "aiohttp.web_app"]


def test_hidden_hides_only_what_is_not_imported_yet_and_only_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with hidden("colorsys", "json"):
        with pytest.raises(ImportError):
            importlib.import_module("colorsys")
        assert importlib.import_module("json") is json  # imported already: still there
    assert importlib.import_module("colorsys").__name__ == "colorsys"


def test_a_lazy_module_loads_on_first_use() -> None:
    lazy = LazyModule("json")
    assert lazy.dumps([1]) == "[1]"
