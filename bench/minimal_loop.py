"""The per-message CPU floors: only the required work, written by hand.

Per message: build the JSON body, sign it (RSA2, v3 Authorization header), POST it on a kept-alive
``requests.Session``, verify Alipay's response signature, parse the answer, and the DynamoDB writes
asked for: none; ONE conditional item write after the call (the bare minimum); or the same guarantee
as the ledger's (``writes=2``): a conditional claim before the call (the lease, the call pending and
counted) and a final write conditional on still holding it. No logging, no metrics, no batch
processor, no classification. Keys are parsed once, clients built once: what a per-message floor
should not pay for again.
"""

from __future__ import annotations

import base64
import datetime as dt
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
        if writes == 2:
            self._claim(out_trade_no, holder)
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
            self._settle(out_trade_no, holder, action)
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

    def _claim(self, trade_key: str, holder: str) -> None:
        now_ms = time.time_ns() // 1_000_000
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"trade_key": {"S": trade_key}},
            UpdateExpression="SET #s = :retrying, #h = :holder, #u = :until, #p = :pending ADD #a :one",
            ConditionExpression=(
                "attribute_not_exists(trade_key) OR ((#s = :retrying OR #s = :failed) AND "
                "(attribute_not_exists(#u) OR #u < :now) AND attribute_not_exists(#p))"
            ),
            ExpressionAttributeNames={
                "#s": "status", "#h": "lease_holder", "#u": "lease_until", "#p": "pending", "#a": "attempts"
            },
            ExpressionAttributeValues={
                ":retrying": {"S": "RETRYING"},
                ":failed": {"S": "FAILED"},
                ":holder": {"S": holder},
                ":until": {"N": str(now_ms + 60_000)},
                ":now": {"N": str(now_ms)},
                ":pending": {"M": {"op": {"S": "cancel"}}},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )  # fmt: skip

    def _settle(self, trade_key: str, holder: str, action: str) -> None:
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"trade_key": {"S": trade_key}},
            UpdateExpression="SET #s = :state, #act = :action REMOVE #h, #u, #p",
            ConditionExpression="#h = :holder",
            ExpressionAttributeNames={
                "#s": "status", "#act": "action", "#h": "lease_holder", "#u": "lease_until", "#p": "pending"
            },
            ExpressionAttributeValues={
                ":state": {"S": {"close": "CLOSED", "refund": "REFUNDED"}.get(action, "NOT_FOUND")},
                ":action": {"S": action},
                ":holder": {"S": holder},
            },
        )  # fmt: skip
