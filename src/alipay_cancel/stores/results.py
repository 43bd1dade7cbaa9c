"""The results table (README "Results"): one item per trade, conditional writes.

Every write is an UpdateItem guarded by ``attribute_not_exists(trade_key) OR #status <> :succeeded`` so a
``SUCCEEDED`` item is never overwritten. A write refused by that condition is not an error: the trade
already succeeded, and ``write`` returns False so the caller can say so. Any other DynamoDB error
(throttling, outage) propagates: the caller must not acknowledge the message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from alipay_cancel.shared.endings import Ending


class Status(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    RETRYING = "RETRYING"


ALIPAY_FIELDS = ("out_trade_no", "trade_no", "action", "gmt_refund_pay", "refund_settlement_id", "retry_flag")
ERROR_FIELDS = ("error_code", "error_sub_code", "error_message", "remedy")


class ResultRecord(NamedTuple):
    trade_key: str
    status: Status
    outcome_class: Ending  # ENDINGS[ending].outcome_class
    message_id: str
    alipay_calls: int = 1  # added to ``attempts``: the Alipay calls this delivery made (0: none)
    out_trade_no: str | None = None
    trade_no: str | None = None
    action: str | None = None
    gmt_refund_pay: str | None = None
    refund_settlement_id: str | None = None
    retry_flag: str | None = None
    error_code: str | None = None
    error_sub_code: str | None = None
    error_message: str | None = None
    remedy: str | None = None
    alipay_trace_id: str | None = None


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ResultsStore:
    def __init__(self, client: Any, table_name: str, clock: Callable[[], str] = utc_now) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def write(self, record: ResultRecord) -> bool:
        """Upsert the trade's item. False when the item is already SUCCEEDED (left untouched)."""
        now = self._clock()
        # Every attribute goes through a name placeholder: several (action, status) are reserved words.
        names: dict[str, str] = {}
        values: dict[str, dict[str, str]] = {
            ":succeeded": {"S": Status.SUCCEEDED.value},
            ":now": {"S": now},
            ":inc": {"N": str(max(0, record.alipay_calls))},
        }
        sets: list[str] = []
        removes: list[str] = []

        def put(name: str, value: str) -> None:
            names[f"#{name}"] = name
            values[f":{name}"] = {"S": value}
            sets.append(f"#{name} = :{name}")

        def remove(name: str) -> None:
            names[f"#{name}"] = name
            removes.append(f"#{name}")

        put("status", record.status.value)
        put("outcome_class", record.outcome_class.value)
        put("message_id", record.message_id)
        names.update({"#updated_at": "updated_at", "#created_at": "created_at", "#attempts": "attempts"})
        sets += ["#updated_at = :now", "#created_at = if_not_exists(#created_at, :now)"]
        if record.status is Status.RETRYING:
            remove("finished_at")
        else:
            names["#finished_at"] = "finished_at"
            sets.append("#finished_at = :now")
        # Alipay fields accumulate (a later failure keeps the trade_no learnt earlier); error fields
        # describe the latest outcome only, so they are removed when absent.
        for name in (*ALIPAY_FIELDS, "alipay_trace_id"):
            value = getattr(record, name)
            if value is not None:
                put(name, value)
        for name in ERROR_FIELDS:
            value = getattr(record, name)
            if value is not None:
                put(name, value)
            else:
                remove(name)
        expression = "SET " + ", ".join(sets) + " ADD #attempts :inc"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        names["#trade_key"] = "trade_key"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"trade_key": {"S": record.trade_key}},
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(#trade_key) OR #status <> :succeeded",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
