"""Nova microversion negotiation: the headers clients send, the range, the refusals."""

from __future__ import annotations

import pytest

from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.microversion import (
    MAX_VERSION,
    MIN_VERSION,
    Version,
    negotiate,
    response_headers,
)


def test_no_header_is_the_base_version() -> None:
    assert negotiate({}) == MIN_VERSION == Version(2, 1)


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ({"OpenStack-API-Version": "compute 2.60"}, Version(2, 60)),
        ({"OpenStack-API-Version": "image 2.5, compute 2.47"}, Version(2, 47)),
        ({"X-OpenStack-Nova-API-Version": "2.26"}, Version(2, 26)),
        ({"OpenStack-API-Version": "compute latest"}, MAX_VERSION),
        # the new header wins over the legacy one, as in Nova
        (
            {"OpenStack-API-Version": "compute 2.10", "X-OpenStack-Nova-API-Version": "2.20"},
            Version(2, 10),
        ),
    ],
)
def test_requested_versions(headers: dict[str, str], want: Version) -> None:
    assert negotiate(headers) == want


def test_versions_order_numerically_not_as_text() -> None:
    assert Version.parse("2.10") > Version.parse("2.9")


@pytest.mark.parametrize("text", ["2.0", "3.1", f"2.{MAX_VERSION.minor + 1}"])
def test_out_of_range_is_not_acceptable(text: str) -> None:
    with pytest.raises(ApiError) as exc:
        negotiate({"OpenStack-API-Version": f"compute {text}"})
    assert exc.value.status == 406 and str(MAX_VERSION) in exc.value.message


@pytest.mark.parametrize("text", ["two", "2", "2.x", "2.1.1"])
def test_malformed_is_a_bad_request(text: str) -> None:
    with pytest.raises(ApiError) as exc:
        negotiate({"X-OpenStack-Nova-API-Version": text})
    assert exc.value.status == 400


def test_answers_name_the_version_in_both_headers() -> None:
    h = response_headers(Version(2, 53))
    assert h["OpenStack-API-Version"] == "compute 2.53"
    assert h["X-OpenStack-Nova-API-Version"] == "2.53"
    assert "OpenStack-API-Version" in h["Vary"]
