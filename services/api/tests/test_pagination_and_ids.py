from __future__ import annotations

import time

import pytest

from polyvisor.api import ids, pagination
from polyvisor.common.errors import InvalidArgument


def test_ids_are_uuids_ordered_by_creation() -> None:
    a = ids.new_id()
    time.sleep(0.002)
    b = ids.new_id()
    assert ids.is_uuid(a) and ids.is_uuid(b) and a < b
    assert a[14] == "7"
    assert not ids.is_uuid("nope")


def test_page_token_round_trip_and_filter_binding() -> None:
    first = pagination.page_request(2, "", state="ACTIVE")
    assert first.size == 2 and first.after == ""
    token = first.next_token([1, 2, 3], "k2")
    assert token
    again = pagination.page_request(2, token, state="ACTIVE")
    assert again.after == "k2"
    with pytest.raises(InvalidArgument):
        pagination.page_request(2, token, state="SHUTOFF")
    assert first.next_token([1, 2], "k2") == ""


@pytest.mark.parametrize("token", ["garbage", "e30", "!!!!"])
def test_foreign_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument):
        pagination.page_request(10, token)


def test_page_size_bounds() -> None:
    assert pagination.page_request(0, "").size == pagination.DEFAULT_PAGE_SIZE
    assert pagination.page_request(10**6, "").size == pagination.MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        pagination.page_request(-1, "")
