"""The console proxy's page address follows its WebSocket address: ws -> http, wss -> https,
host, port and path prefix kept (the URLs themselves: tests/api/test_console_tokens.py)."""

from __future__ import annotations

import pytest

from polyvisor.api.server_consoles import page_base


@pytest.mark.parametrize(
    ("proxy", "page"),
    [
        ("ws://console.example:6080", "http://console.example:6080"),
        ("wss://console.example", "https://console.example"),
        ("wss://edge.example/console", "https://edge.example/console"),
        ("https://console.example:8443", "https://console.example:8443"),
    ],
)
def test_the_page_is_served_where_the_websocket_is(proxy: str, page: str) -> None:
    assert page_base(proxy) == page
