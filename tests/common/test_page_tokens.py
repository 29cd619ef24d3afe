"""The page-token codec every List call uses."""

from __future__ import annotations

import base64

import pytest

from polyvisor.common.errors import InvalidArgument
from polyvisor.common.page_tokens import decode_page_token, encode_page_token, fingerprint


def test_round_trip_one_and_two_keys() -> None:
    assert decode_page_token(encode_page_token("k1")) == ("k1",)
    token = encode_page_token("2026-12-07T00:00:00+00:00", "id-1")
    assert decode_page_token(token, keys=2) == ("2026-12-07T00:00:00+00:00", "id-1")
    assert "=" not in token and "+" not in token and "/" not in token
    assert decode_page_token("") == ()


def test_token_is_bound_to_the_filters() -> None:
    fp = fingerprint({"state": "ACTIVE", "host": None})
    assert fp == fingerprint({"host": None, "state": "ACTIVE"})
    token = encode_page_token("k", fingerprint=fp)
    assert decode_page_token(token, fingerprint=fp) == ("k",)
    with pytest.raises(InvalidArgument, match="filters changed"):
        decode_page_token(token, fingerprint=fingerprint({"state": "SHUTOFF"}))
    with pytest.raises(InvalidArgument):
        decode_page_token(token)  # unbound use of a bound token


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "%%%",
        "e30",  # {}
        _b64(b"not json"),
        _b64(b'{"k": "k", "f": ""}'),  # keys not a list
        _b64(b'{"k": [1], "f": ""}'),  # a key not a string
        _b64(b'{"k": ["a", "b"], "f": ""}'),  # two keys where one is expected
        _b64(b"\xff\xfe"),
    ],
)
def test_foreign_tokens_are_invalid_argument_naming_the_field(token: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        decode_page_token(token)
    assert str(err.value).startswith("page_token:")
    assert err.value.details == {"field": "page_token"}
