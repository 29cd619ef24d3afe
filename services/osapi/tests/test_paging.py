"""OpenStack's limit/marker paging over gRPC page tokens (handlers.common.page_after)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import page_after

ITEMS = [f"id-{n:03d}" for n in range(25)]


def pager(page: int = 7):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, int]] = []

    async def fetch(token: str, size: int) -> tuple[Sequence[str], str]:
        calls.append((token, size))
        start = int(token or 0)
        stop = start + min(size, page)
        return ITEMS[start:stop], (str(stop) if stop < len(ITEMS) else "")

    return fetch, calls


async def test_limit_without_marker() -> None:
    fetch, _ = pager()
    got, more = await page_after(fetch, limit=10, marker=None, key=str)
    assert got == ITEMS[:10] and more


async def test_marker_is_the_last_id_seen_across_pages() -> None:
    fetch, _ = pager()
    got, more = await page_after(fetch, limit=5, marker="id-008", key=str)
    assert got == ITEMS[9:14] and more
    got, more = await page_after(fetch, limit=50, marker="id-020", key=str)
    assert got == ITEMS[21:] and not more


async def test_filters_apply_before_the_limit() -> None:
    fetch, _ = pager()
    got, _ = await page_after(fetch, limit=3, marker=None, key=str, keep=lambda s: s.endswith("5"))
    assert got == ["id-005", "id-015"]


async def test_filters_and_marker_across_pages_and_whether_more_follow() -> None:
    fetch, _ = pager(page=4)
    odd = lambda s: int(s[-1]) % 2 == 1  # noqa: E731
    got, more = await page_after(fetch, limit=3, marker="id-006", key=str, keep=odd)
    assert got == ["id-007", "id-009", "id-011"] and more
    got, more = await page_after(fetch, limit=10, marker="id-018", key=str, keep=odd)
    assert got == ["id-019", "id-021", "id-023"] and not more


async def test_the_next_page_resumes_where_the_last_one_ended() -> None:
    """A page that ended on a gRPC page boundary remembers the token after it: the next
    page, asked by its last id, starts there instead of listing from the start."""
    fetch, calls = pager(page=5)
    first, more = await page_after(fetch, limit=5, marker=None, key=str, scope="s")
    assert first == ITEMS[:5] and more
    calls.clear()
    second, _ = await page_after(fetch, limit=5, marker=first[-1], key=str, scope="s")
    assert second == ITEMS[5:10]
    assert calls == [("5", 5)]
    calls.clear()  # another caller (scope) does not get it: found by listing
    again, _ = await page_after(fetch, limit=5, marker=first[-1], key=str, scope="other")
    assert again == ITEMS[5:10] and calls[0][0] == ""


async def test_unknown_marker_is_a_bad_request() -> None:
    fetch, _ = pager()
    with pytest.raises(ApiError) as exc:
        await page_after(fetch, limit=5, marker="nope", key=str)
    assert exc.value.status == 400


async def test_zero_limit_is_an_empty_page() -> None:
    fetch, calls = pager()
    assert await page_after(fetch, limit=0, marker=None, key=str) == ([], False)
    assert calls == []
