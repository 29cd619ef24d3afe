"""Timestamps a client sends: out of datetime's range is the client's error, said plainly."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.common.convert import from_ts
from polyvisor.common.errors import InvalidArgument


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(1 << 62, 0), (-(1 << 62), 0), (253402300800, 0), (-62135596801, 0), (0, 2_000_000_000)],
)
def test_out_of_range_timestamp_is_invalid_argument(seconds: int, nanos: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        from_ts(Timestamp(seconds=seconds, nanos=nanos), True)
    assert "out of range" in info.value.message


def test_timestamps_in_range_and_absent() -> None:
    assert from_ts(Timestamp(seconds=86400), True).isoformat() == "1970-01-02T00:00:00+00:00"
    assert from_ts(Timestamp(), False) is None
