"""The per-message CPU floors: only the required work, written by hand.

Per message: build the JSON body, sign it (RSA2, v3 Authorization header), POST it on a kept-alive
``requests.Session``, verify Alipay's response signature, parse the answer, and the DynamoDB writes
asked for: none; ONE conditional item write after the call (the bare minimum); or the ledger's own two
writes (``writes=2``), attribute for attribute as docs/ledger.md lists them for a settled cancel: a
conditional claim before the call (the lease, the call pending and counted) and a final write
conditional on still holding it (the state, Alipay's facts, the history entry, the event id). No
logging, no metrics, no batch processor, no classification. Keys are parsed once, clients built once:
what a per-message floor should not pay for again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
import uuid
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CANCEL_PATH = "/v3/alipay/trade/cancel"


class MinimalCanceller:
    def __init__(self, endpoint: str, secret: dict[str, str], dynamodb: Any, results_table: str) -> None:
        private = serialization.load_pem_private_key(secret["private_key"].encode(), password=None)
        public = serialization.load_pem_public_key(secret["alipay_public_key"].encode())
        assert isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
        self._private, self._public = private, public
        self._app_id = secret["app_id"]
        self._url = endpoint.rstrip("/") + CANCEL_PATH
        self._session = requests.Session()
        self._session.trust_env = False  # not the environment scan requests makes on every call
        self._dynamodb = dynamodb
        self._table = results_table

    def cancel(self, out_trade_no: str, *, writes: int = 1) -> str:
        """Returns Alipay's ``action``; raises on anything but a verified success. ``writes``: 0 (to
        measure what one AWS call costs by difference), 1, or 2 (the ledger's claim and final write)."""
        holder = uuid.uuid4().hex
        claimed_at = self._claim(out_trade_no, holder) if writes == 2 else ""
        body = json.dumps({"out_trade_no": out_trade_no}, separators=(",", ":"))
        auth = f"app_id={self._app_id},nonce={uuid.uuid4().hex},timestamp={time.time_ns() // 1_000_000}"
        content = f"{auth}\nPOST\n{CANCEL_PATH}\n{body}\n".encode()
        sign = base64.b64encode(self._private.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()
        response = self._session.post(
            self._url,
            data=body.encode(),
            headers={
                "Authorization": f"ALIPAY-SHA256withRSA {auth},sign={sign}",
                "Content-Type": "application/json;charset=UTF-8",
                "alipay-request-id": uuid.uuid4().hex,
            },
            timeout=(3, 10),
        )
        raw = response.content
        h = response.headers
        signed = f"{h['alipay-timestamp']}\n{h['alipay-nonce']}\n".encode() + raw + b"\n"
        self._public.verify(
            base64.b64decode(h["alipay-signature"]), signed, padding.PKCS1v15(), hashes.SHA256()
        )
        answer = json.loads(raw)
        if response.status_code != 200 or answer.get("code") not in (None, "10000"):
            raise RuntimeError(f"cancel failed: HTTP {response.status_code}")
        action = str(answer.get("action") or "none")
        if writes == 2:
            trade_no = str(answer.get("trade_no") or "")
            self._settle(out_trade_no, holder, claimed_at, action, trade_no, h.get("alipay-trace-id", ""))
        if writes != 1:
            return action
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "trade_key": {"S": out_trade_no},
                "status": {"S": "SUCCEEDED"},
                "outcome_class": {"S": "succeeded"},
                "action": {"S": action},
                "updated_at": {"S": now},
            },
            ConditionExpression="attribute_not_exists(trade_key) OR #status <> :succeeded",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":succeeded": {"S": "SUCCEEDED"}},
        )
        return action

    def _claim(self, trade_key: str, holder: str) -> str:
        """The ledger's claim, attribute for attribute (docs/ledger.md): the lease, the call pending and
        counted, who asked, and what a new claim clears."""
        now_ms = time.time_ns() // 1_000_000
        claimed_at = _iso(now_ms)
        pending = {"op": "cancel", "at": claimed_at, "delivery": holder}
        names = (
            "updated_at",
            "created_at",
            "status",
            "lease_holder",
            "lease_until",
            "pending",
            "message_id",
            "app_id",
            "out_trade_no",
            "attempts",
            "event_id",
            "finished_at",
            "settled_by",
            "trade_key",
        )
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"trade_key": {"S": trade_key}},
            UpdateExpression=(
                "SET #updated_at = :now, #created_at = if_not_exists(#created_at, :now), "
                "#status = :retrying, #lease_holder = :holder, #lease_until = :until, #pending = :pending, "
                "#message_id = :holder, "
                "#app_id = :app_id, #out_trade_no = if_not_exists(#out_trade_no, :out_trade_no) "
                "ADD #attempts :one REMOVE #event_id, #finished_at, #settled_by"
            ),
            ConditionExpression=(
                "attribute_not_exists(#trade_key) OR ((#status = :retrying OR #status = :failed) AND "
                "(attribute_not_exists(#lease_until) OR #lease_until < :now_ms) AND "
                "attribute_not_exists(#pending))"
            ),
            ExpressionAttributeNames={f"#{name}": name for name in names},
            ExpressionAttributeValues={
                ":now": {"S": claimed_at},
                ":retrying": {"S": "RETRYING"},
                ":failed": {"S": "FAILED"},
                ":holder": {"S": holder},
                ":until": {"N": str(now_ms + 60_000)},
                ":now_ms": {"N": str(now_ms)},
                ":pending": {"M": {k: {"S": v} for k, v in pending.items()}},
                ":app_id": {"S": self._app_id},
                ":out_trade_no": {"S": trade_key},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return claimed_at

    def _settle(
        self, trade_key: str, holder: str, claimed_at: str, action: str, trade_no: str, trace_id: str
    ) -> None:
        """The ledger's final write of a settled cancel, attribute for attribute: the state and Alipay's
        facts, the history entry, the event id, the lease and pending call removed, the latest error
        fields cleared."""
        now = _iso(time.time_ns() // 1_000_000)
        names = (
            "updated_at",
            "created_at",
            "status",
            "outcome_class",
            "message_id",
            "out_trade_no",
            "trade_no",
            "if_paid",
            "action",
            "retry_flag",
            "alipay_trace_id",
            "money_moved",
            "history",
            "finished_at",
            "event_id",
            "settled_by",
            "settled_reason",
            "lease_holder",
            "lease_until",
            "pending",
            "error_code",
            "error_sub_code",
            "error_message",
            "remedy",
        )
        entry = {"op": "cancel", "at": claimed_at, "delivery": holder, "result": "ok"}
        entry["trace_id"] = trace_id
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"trade_key": {"S": trade_key}},
            UpdateExpression=(
                "SET #updated_at = :now, #created_at = if_not_exists(#created_at, :now), #status = :state, "
                "#outcome_class = :succeeded, #message_id = :holder, #out_trade_no = :out_trade_no, "
                "#trade_no = :trade_no, #if_paid = :if_paid, "
                "#action = :action, #retry_flag = :retry_flag, #alipay_trace_id = :trace_id, "
                "#money_moved = :money_moved, "
                "#history = :history, #finished_at = :now, #event_id = :event_id, #settled_by = :holder, "
                "#settled_reason = :reason "
                "REMOVE #lease_holder, #lease_until, #pending, "
                "#error_code, #error_sub_code, #error_message, #remedy"
            ),
            ConditionExpression="#lease_holder = :holder",
            ExpressionAttributeNames={f"#{name}": name for name in names},
            ExpressionAttributeValues={
                ":now": {"S": now},
                ":state": {"S": {"close": "CLOSED", "refund": "REFUNDED"}.get(action, "NOT_FOUND")},
                ":succeeded": {"S": "succeeded"},
                ":holder": {"S": holder},
                ":out_trade_no": {"S": trade_key},
                ":trade_no": {"S": trade_no},
                ":if_paid": {"S": "refund"},
                ":action": {"S": action},
                ":retry_flag": {"S": "N"},
                ":trace_id": {"S": trace_id},
                ":money_moved": {"BOOL": action == "refund"},
                ":reason": {
                    "S": _SETTLED_REASON.get(
                        action, "Alipay found no such trade: nothing to cancel (no action)"
                    )
                },
                ":history": {"L": [{"M": {k: {"S": v} for k, v in entry.items()}}]},
                ":event_id": {"S": hashlib.sha256(f"{trade_key}:{action}".encode()).hexdigest()[:32]},
            },
        )


# The steps' wording for a settled cancel (the ledger keeps it as settled_reason).
_SETTLED_REASON = {
    "close": "Alipay closed the unpaid trade (action close, no refund)",
    "refund": "Alipay cancelled the paid trade and refunded the buyer (action refund)",
}


def _iso(epoch_ms: int) -> str:
    at = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
