"""Kept server list pages: bounded by bytes; a failed revision check makes the page anew (the
sharing of checks per token is FreshCalls', tests/common/test_fresh_calls.py)."""

from __future__ import annotations

from polyvisor.osapi.kept_pages import KeptPages, revision_checks


def test_pages_are_kept_within_their_bytes_and_unrevisioned_ones_not_at_all() -> None:
    pages = KeptPages(max_bytes=16 * 100)
    pages.keep(("t", "/a"), 5, b"a" * 60)
    pages.keep(("t", "/b"), 5, b"b" * 60)
    pages.keep(("t", "/q"), 0, b"q" * 10)  # a queried page: nothing can check it
    pages.keep(("t", "/huge"), 5, b"h" * 101)  # over a sixteenth of the room
    assert pages.get(("t", "/a")) == (5, b"a" * 60) and len(pages) == 2
    for n in range(30):  # /a was used last: /b goes first
        pages.keep(("t", f"/n{n}"), 6, b"n" * 60)
    assert pages.get(("t", "/b")) is None and len(pages) == 1600 // 60
    pages.keep(("t", "/n29"), 7, b"new")
    assert pages.get(("t", "/n29")) == (7, b"new")
    pages.drop(("t", "/n29"))
    assert pages.get(("t", "/n29")) is None


async def test_a_failed_check_answers_zero_so_the_page_is_made_anew() -> None:
    async def failing(token: str) -> int:
        raise RuntimeError("api unreachable")

    checks = revision_checks(failing)
    assert await checks.get("t") == 0
    await checks.close()
