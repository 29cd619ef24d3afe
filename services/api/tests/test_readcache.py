"""The GetServer read cache never keeps a row older than a change it was told about."""

from __future__ import annotations

from polyvisor.api.readcache import ReadCache


def enabled(capacity: int = 10) -> ReadCache:
    c = ReadCache(capacity)
    c.reset(True)
    return c


def test_disabled_until_the_listener_is_connected() -> None:
    c = ReadCache(10)
    c.fill("s", "p", 1, b"v", c.begin())
    assert c.get("s") is None
    c.reset(True)
    c.fill("s", "p", 1, b"v", c.begin())
    entry = c.get("s")
    assert entry is not None and (entry.project_id, entry.value) == ("p", b"v")
    c.reset(False)  # connection lost: nothing is served from memory
    assert c.get("s") is None


def test_a_read_that_raced_with_a_change_is_not_cached() -> None:
    c = enabled()
    epoch = c.begin()  # the read starts
    c.invalidate("s")  # a change is notified while the read is in flight
    c.fill("s", "p", 1, b"old", epoch)
    assert c.get("s") is None
    c.fill("s", "p", 2, b"new", c.begin())  # a read that started after it is fine
    assert c.get("s") is not None


def test_invalidate_drops_the_entry_and_reads_after_a_reset_cannot_fill() -> None:
    c = enabled()
    c.fill("s", "p", 1, b"v", c.begin())
    c.invalidate("s")
    assert c.get("s") is None
    epoch = c.begin()
    c.reset(True)
    c.fill("t", "p", 1, b"v", epoch)
    assert c.get("t") is None


def test_capacity_is_bounded() -> None:
    c = enabled(capacity=3)
    for i in range(10):
        c.fill(f"s{i}", "p", 1, b"v", c.begin())
    assert len(c) == 3 and c.get("s9") is not None and c.get("s0") is None
    assert ReadCache(0).capacity == 0


def test_peek_serves_only_the_exact_revision() -> None:
    c = enabled()
    c.fill("s", "p", 7, b"v7", c.begin())
    assert c.peek("s", 7) is not None
    assert c.peek("s", 8) is None  # the database has moved on: not served


def test_peek_many_serves_only_the_exact_revisions_in_order() -> None:
    c = enabled()
    c.fill("a", "p", 1, b"A1", c.begin())
    c.fill("b", "p", 5, b"B5", c.begin())
    assert c.peek_many([("b", 5), ("a", 2), ("x", 1), ("a", 1)]) == [b"B5", None, None, b"A1"]
    c.invalidate("b")
    assert c.peek_many([("b", 5)]) == [None]
