"""Successes stored by releases before the explicit idempotency key (README "Idempotency", "Upgrading").

Those releases let Powertools build the record's key from the function's name and the decorated
method: ``<AWS_LAMBDA_FUNCTION_NAME>.alipay_cancel.cancel_idempotency.IdempotentCanceller._cancel_once
#<md5>``. The md5 is Powertools' hash of the same payload this release hashes (the JSON of the trade
key), so a trade's legacy key differs from its current one only in the prefix. Without this read, a
duplicate of a trade those releases cancelled would call Alipay again after an upgrade.

One strongly consistent GetItem of three small attributes, made only when the current key has no
record (a trade not yet seen by this release), only until ``LEGACY_IDEMPOTENCY_READS_UNTIL``, and
only where earlier releases can have stored anything: the first container that needs a read looks
once at the table (one page of ids) and leaves the answer in a marker item every later container
reads once. A table holding nothing but this release's records when first looked at (a new
installation) has no earlier successes, and no legacy read is ever made there.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from alipay_cancel.alipay.responses import CancelSuccess
from alipay_cancel.stores.idempotency import EarlierInProgress, key_hash, stored_success

# The method whose module and qualname Powertools put in the key (git show 877a1ab:src/alipay_cancel/
# cancel_idempotency.py); never changes: it names where those releases stored their successes.
LEGACY_FUNCTION = "alipay_cancel.cancel_idempotency.IdempotentCanceller._cancel_once"
# What Powertools used when AWS_LAMBDA_FUNCTION_NAME was unset (never on Lambda).
POWERTOOLS_DEFAULT_FUNCTION_NAME = "test-func"

# Ids this release writes start so; an earlier release's start with the Lambda function's name, which
# cannot hold "#". The marker records whether the table held anything else when first looked at.
OUR_PREFIX = "alipay-cancel#"
MARKER_ID = "alipay-cancel#release-check#legacy-idempotency-keys"
_SCAN_PAGE = 100  # ids looked at; a longer table is assumed to hold earlier records


def legacy_key(function_name: str, trade_key: str) -> str:
    """The key a release before the explicit one stored the trade's success under."""
    return f"{function_name}.{LEGACY_FUNCTION}#{key_hash(trade_key)}"


class LegacySuccesses:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        reads_until: float | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = dynamodb_client
        self._table = table_name
        # Read as Powertools read it to build those keys (Lambda sets it; not our configuration).
        self._function_name = os.getenv("AWS_LAMBDA_FUNCTION_NAME", POWERTOOLS_DEFAULT_FUNCTION_NAME)
        self._reads_until = reads_until  # epoch seconds; None: no end set
        self._clock = clock
        self._lock = threading.Lock()
        self._earlier_records: bool | None = None  # None: not known yet in this container

    def find(self, trade_key: str) -> CancelSuccess | None:
        """The trade's success as an earlier release stored it, if it is still remembered (errors
        propagate: the caller must then not call Alipay)."""
        now = self._clock()
        if self._reads_until is not None and now >= self._reads_until:
            return None
        if not self._table_may_hold_earlier_records():
            return None
        item = self._client.get_item(
            TableName=self._table,
            Key={"id": {"S": legacy_key(self._function_name, trade_key)}},
            ConsistentRead=True,  # a success stored moments before an upgrade is found too
            ProjectionExpression="#s, #e, #p, #d",
            ExpressionAttributeNames={
                "#s": "status",
                "#e": "expiration",
                "#p": "in_progress_expiration",
                "#d": "data",
            },
        ).get("Item")
        if not item or _number(item, "expiration") < now:
            return None  # none, or expired (as Powertools treats it)
        status = item.get("status", {}).get("S")
        if status == "INPROGRESS" and _number(item, "in_progress_expiration") > now * 1000:
            raise EarlierInProgress  # the earlier release is calling Alipay for it (not crashed)
        if status != "COMPLETED":
            return None
        try:
            return stored_success(json.loads(item["data"]["S"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # not what those releases stored: not a success to trust, so Alipay is asked

    def _table_may_hold_earlier_records(self) -> bool:
        """Once per container: the marker's answer (written by the first container to ask). Errors
        propagate, like the read they guard: no Alipay call until it is known."""
        if self._earlier_records is None:
            with self._lock:
                if self._earlier_records is None:
                    self._earlier_records = self._marker_answer()
        return self._earlier_records

    def _marker_answer(self) -> bool:
        marker = self._read_marker()
        if marker is not None:
            return marker
        page = self._client.scan(TableName=self._table, Limit=_SCAN_PAGE, ProjectionExpression="id")
        ids = [str(item.get("id", {}).get("S", "")) for item in page.get("Items", [])]
        earlier = "LastEvaluatedKey" in page or any(not i.startswith(OUR_PREFIX) for i in ids)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": MARKER_ID},
                    "earlier_records": {"BOOL": earlier},
                    "looked_at": {"N": str(int(self._clock()))},
                },
                ConditionExpression="attribute_not_exists(id)",  # the first container's answer stands
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            marker = self._read_marker()
            return True if marker is None else marker
        return earlier

    def _read_marker(self) -> bool | None:
        item = self._client.get_item(
            TableName=self._table, Key={"id": {"S": MARKER_ID}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return bool(item.get("earlier_records", {}).get("BOOL", True))


def _number(item: dict[str, Any], name: str) -> float:
    try:
        return float(item[name]["N"])
    except (KeyError, TypeError, ValueError):
        return 0.0
