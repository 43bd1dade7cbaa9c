"""The local tools read the function's own log lines: a record's ending is one of the function's
``Ending`` values, never a string compared by hand; any other line is not a record's end."""

from __future__ import annotations

import json

import pytest
from local.lambda_runtime.function_log import DEFERRED, HANDED_BACK, record_end

from alipay_cancel.shared.endings import Ending

LINE = {
    "message": "trade will be retried",
    "message_id": "m-1",
    "trade_key": "T-1",
    "ending": "slow_retry",
    "error_code": "40004",
    "error_sub_code": "ACQ.SYSTEM_ERROR",
    "delay": 900,
    "timestamp": "2026-12-07 01:02:03,456+0000",
}


def test_a_records_end_is_read_with_its_ending_and_what_a_person_reads_next() -> None:
    end = record_end(json.dumps(LINE))
    assert end is not None
    assert (end.ending, end.trade_key, end.code, end.at) == (
        Ending.SLOW_RETRY,
        "T-1",
        "ACQ.SYSTEM_ERROR",
        "01:02:03",
    )
    assert end.detail == "ACQ.SYSTEM_ERROR, back in 900 s"
    assert (
        end.line()
        == "01:02:03  slow_retry          T-1: trade will be retried (ACQ.SYSTEM_ERROR, back in 900 s)"
    )


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        json.dumps(["a", "list"]),
        json.dumps({k: v for k, v in LINE.items() if k != "ending"}),
        json.dumps({k: v for k, v in LINE.items() if k != "message_id"}),
        json.dumps({**LINE, "ending": "an_ending_of_a_later_release"}),
    ],
)
def test_any_other_line_is_not_a_records_end(line: str) -> None:
    assert record_end(line) is None


def test_the_endings_handed_back_are_those_that_leave_the_record_on_the_queue() -> None:
    acknowledged = {Ending.SUCCEEDED, Ending.TERMINAL, Ending.BAD_MESSAGE, Ending.EXHAUSTED, Ending.DUPLICATE}
    assert HANDED_BACK == set(Ending) - acknowledged
    assert DEFERRED is Ending.LOW_TIME and DEFERRED in HANDED_BACK
