"""SQS side of the operator CLI: enqueue a cancel, browse dead letters, redrive them.

Dead letters are browsed without being consumed: each is received with a short visibility timeout
and made visible again (ChangeMessageVisibility 0) as soon as it has been read. A redrive sends the
body unchanged to the cancel queue and deletes the dead letter only after that send succeeded; a
dead letter that does not match the filters, or whose send failed, is made visible again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.shared.trade import CancelRequest

OUTCOME_CLASSES = ("succeeded", "retry", "terminal", "config_error", "bad_message", "exhausted")
_MASK = "***"
_TOKEN_IN_TEXT = re.compile(r"(app_auth_token\W{0,6})[^\s\"',;&}]+", re.IGNORECASE)


def build_body(request: CancelRequest) -> str:
    body: dict[str, str] = {}
    for name in ("out_trade_no", "trade_no", "app_id", "merchant_id", "app_auth_token"):
        value = getattr(request, name)
        if value:
            body[name] = value
    return json.dumps(body, ensure_ascii=False)


def enqueue(sqs: Any, queue_url: str, request: CancelRequest) -> str:
    """Send one cancel request; returns the SQS message id. FIFO queues group by trade."""
    extra: dict[str, str] = {}
    if queue_url.endswith(".fifo"):
        extra = {"MessageGroupId": request.trade_key}
    response = sqs.send_message(QueueUrl=queue_url, MessageBody=build_body(request), **extra)
    return str(response["MessageId"])


@dataclass
class DeadLetterView:
    message_id: str
    receipt_handle: str = field(repr=False)
    body: str = field(repr=False)  # original body: may hold an app_auth_token, print masked_body()
    attributes: dict[str, str]  # the dead letter's message attributes (reason, outcome_class, ...)
    sqs_attributes: dict[str, str]  # SentTimestamp, ApproximateReceiveCount, ...

    @property
    def trade_key(self) -> str | None:
        key = self.attributes.get("trade_key")
        if key:
            return key
        try:  # bad messages may lack the attribute: read what the body still says
            return parse_message(self.body).trade_key
        except BadMessage as exc:
            return exc.trade_key

    @property
    def outcome_class(self) -> str | None:
        return self.attributes.get("outcome_class")

    def masked_body(self) -> str:
        return mask_token(self.body)

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "trade_key": self.trade_key,
            "attributes": self.attributes,
            "sent_timestamp": self.sqs_attributes.get("SentTimestamp"),
            "body": self.masked_body(),
        }


@dataclass(frozen=True)
class Filters:
    trade_keys: frozenset[str] = frozenset()
    outcome_classes: frozenset[str] = frozenset()
    message_ids: frozenset[str] | None = None  # exactly these (a redrive moves what it showed)

    def match(self, letter: DeadLetterView) -> bool:
        if self.message_ids is not None and letter.message_id not in self.message_ids:
            return False
        if self.trade_keys and letter.trade_key not in self.trade_keys:
            return False
        return not (self.outcome_classes and letter.outcome_class not in self.outcome_classes)


def mask_token(body: str) -> str:
    """The body with every app_auth_token value replaced, also inside an SNS envelope's Message."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return _TOKEN_IN_TEXT.sub(lambda m: m.group(1) + _MASK, body)
    return json.dumps(_mask(document), ensure_ascii=False)


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        masked = {}
        for key, inner in value.items():
            if key == "app_auth_token" and inner is not None:
                masked[key] = _MASK
            elif key == "Message" and isinstance(inner, str):
                masked[key] = mask_token(inner)
            else:
                masked[key] = _mask(inner)
        return masked
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _receive(
    sqs: Any, queue_url: str, *, visibility_timeout: int, wait_seconds: int, limit: int
) -> Iterator[DeadLetterView]:
    """Every dead letter once (by message id), until the queue looks empty or ``limit`` is reached."""
    seen: set[str] = set()
    while len(seen) < limit:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield DeadLetterView(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                body=message.get("Body", ""),
                attributes={
                    name: str(value.get("StringValue", ""))
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                sqs_attributes=dict(message.get("Attributes", {})),
            )


def _make_visible(sqs: Any, queue_url: str, letters: list[DeadLetterView]) -> list[str]:
    """ChangeMessageVisibility 0 for each; returns the ids that failed (they reappear on their own)."""
    failed: list[str] = []
    for start in range(0, len(letters), 10):
        chunk = letters[start : start + 10]
        response = sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                for i, letter in enumerate(chunk)
            ],
        )
        failed.extend(chunk[int(entry["Id"])].message_id for entry in response.get("Failed", []))
    return failed


def browse_dead_letters(
    sqs: Any,
    queue_url: str,
    filters: Filters,
    *,
    limit: int = 100,
    visibility_timeout: int = 30,
    wait_seconds: int = 1,
) -> list[DeadLetterView]:
    """Matching dead letters; every one received is made visible again before returning."""
    received: list[DeadLetterView] = []
    try:
        for letter in _receive(
            sqs, queue_url, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, limit=limit
        ):
            received.append(letter)
    finally:
        _make_visible(sqs, queue_url, received)
    return [letter for letter in received if filters.match(letter)]


@dataclass
class RedriveReport:
    moved: list[DeadLetterView] = field(default_factory=list)
    skipped: int = 0  # did not match the filters; left in the dead-letter queue, visible again
    send_failed: list[tuple[DeadLetterView, str]] = field(default_factory=list)  # left in the DLQ
    delete_failed: list[tuple[DeadLetterView, str]] = field(default_factory=list)  # sent AND still in DLQ


def redrive(
    sqs: Any,
    dead_letter_queue_url: str,
    cancel_queue_url: str,
    filters: Filters,
    *,
    limit: int = 100,
    dry_run: bool = False,
    visibility_timeout: int = 60,
    wait_seconds: int = 1,
    on_move: Callable[[DeadLetterView], None] | None = None,
) -> RedriveReport:
    """Move matching dead letters back to the cancel queue, body unchanged."""
    report = RedriveReport()
    put_back: list[DeadLetterView] = []
    try:
        for letter in _receive(
            sqs,
            dead_letter_queue_url,
            visibility_timeout=visibility_timeout,
            wait_seconds=wait_seconds,
            limit=limit,
        ):
            if not filters.match(letter):
                report.skipped += 1
                put_back.append(letter)
                continue
            if dry_run:
                report.moved.append(letter)
                put_back.append(letter)
                continue
            try:
                extra: dict[str, str] = {}
                if cancel_queue_url.endswith(".fifo"):
                    extra = {"MessageGroupId": letter.trade_key or letter.message_id}
                sqs.send_message(QueueUrl=cancel_queue_url, MessageBody=letter.body, **extra)
            except Exception as exc:  # noqa: BLE001 - keep going; this one stays in the DLQ
                report.send_failed.append((letter, _describe(exc)))
                put_back.append(letter)
                continue
            try:
                sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=letter.receipt_handle)
            except Exception as exc:  # noqa: BLE001 - sent already: report the duplicate, keep going
                report.delete_failed.append((letter, _describe(exc)))
            report.moved.append(letter)
            if on_move is not None:
                on_move(letter)
    finally:
        _make_visible(sqs, dead_letter_queue_url, put_back)
    return report


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
