"""SQS side of the operator CLI: enqueue a cancel, browse dead letters, take them off the queue.

Dead letters are browsed without being consumed: each is received with a short visibility timeout
and made visible again (ChangeMessageVisibility 0) as soon as it has been read. Taking dead letters
(a redrive, a discard) acts on each matching one first (send it to the cancel queue, note it in the
results table) and deletes it only after that succeeded; a dead letter that does not match, or whose
action failed, is made visible again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from alipay_cancel.pipeline.messages import BadMessage, parse_message
from alipay_cancel.shared.endings import ENDINGS, Ending
from alipay_cancel.shared.trade import CancelRequest
from alipay_cancel_ops.masking import ShownBody, shown_body

# The classes the function gives a dead letter, and "none" for one the queue's redrive policy moved
# itself (the function crashed or timed out on every receive, so no reason attribute was written).
UNCLASSIFIED = "none"
DEAD_LETTER_CLASSES = (
    *(ENDINGS[ending].outcome_class for ending in (Ending.TERMINAL, Ending.BAD_MESSAGE, Ending.EXHAUSTED)),
    UNCLASSIFIED,
)


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
    body: str = field(repr=False)  # original body: may hold an app_auth_token, show shown() only
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
    def outcome_class(self) -> str:
        """Its ``outcome_class`` attribute, or ``none`` when the queue moved it (no attributes)."""
        return self.attributes.get("outcome_class") or UNCLASSIFIED

    @property
    def sent_ms(self) -> int | None:
        """When it reached the dead-letter queue (SQS SentTimestamp, epoch ms)."""
        millis = self.sqs_attributes.get("SentTimestamp", "")
        return int(millis) if millis.isdigit() else None

    def shown(self, *, show_unparseable: bool = False) -> ShownBody:
        return shown_body(self.body, show_unparseable=show_unparseable)

    def as_dict(self, *, show_unparseable: bool = False) -> dict[str, Any]:
        body = self.shown(show_unparseable=show_unparseable)
        return {
            "message_id": self.message_id,
            "trade_key": self.trade_key,
            "outcome_class": self.outcome_class,
            "attributes": self.attributes,
            "sent_timestamp": self.sqs_attributes.get("SentTimestamp"),
            "body": body.text,
            "body_is_json": body.parsed,
            "body_bytes": body.size,
            "body_sha256": body.sha256,
        }


@dataclass(frozen=True)
class Filters:
    trade_keys: frozenset[str] = frozenset()
    outcome_classes: frozenset[str] = frozenset()
    sent_before_ms: int | None = None  # only dead letters that reached the queue before this
    message_ids: frozenset[str] | None = None  # exactly these (a redrive moves what it showed)

    def match(self, letter: DeadLetterView) -> bool:
        if self.message_ids is not None and letter.message_id not in self.message_ids:
            return False
        if self.trade_keys and letter.trade_key not in self.trade_keys:
            return False
        if self.sent_before_ms is not None and (
            letter.sent_ms is None or letter.sent_ms >= self.sent_before_ms
        ):
            return False
        return not (self.outcome_classes and letter.outcome_class not in self.outcome_classes)


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
class TakeReport:
    done: list[DeadLetterView] = field(default_factory=list)  # acted on and deleted (or the delete failed)
    skipped: int = 0  # did not match the filters; left in the dead-letter queue, visible again
    failed: list[tuple[DeadLetterView, str]] = field(default_factory=list)  # action failed: left in the DLQ
    delete_failed: list[tuple[DeadLetterView, str]] = field(default_factory=list)  # acted on AND still there


def take_dead_letters(
    sqs: Any,
    queue_url: str,
    filters: Filters,
    act: Callable[[DeadLetterView], None],
    *,
    limit: int = 100,
    visibility_timeout: int = 60,
    wait_seconds: int = 1,
) -> TakeReport:
    """``act`` on each matching dead letter, then delete it; an ``act`` that raises leaves it there."""
    report = TakeReport()
    put_back: list[DeadLetterView] = []
    try:
        for letter in _receive(
            sqs, queue_url, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, limit=limit
        ):
            if not filters.match(letter):
                report.skipped += 1
                put_back.append(letter)
                continue
            try:
                act(letter)
            except Exception as exc:  # noqa: BLE001 - keep going; this one stays in the DLQ
                report.failed.append((letter, describe_error(exc)))
                put_back.append(letter)
                continue
            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=letter.receipt_handle)
            except Exception as exc:  # noqa: BLE001 - acted on already: report it, keep going
                report.delete_failed.append((letter, describe_error(exc)))
            report.done.append(letter)
    finally:
        _make_visible(sqs, queue_url, put_back)
    return report


def resend(sqs: Any, cancel_queue_url: str) -> Callable[[DeadLetterView], None]:
    """A redrive's action: the body, unchanged, back to the cancel queue (FIFO: grouped by trade)."""

    def send(letter: DeadLetterView) -> None:
        extra: dict[str, str] = {}
        if cancel_queue_url.endswith(".fifo"):
            extra = {"MessageGroupId": letter.trade_key or letter.message_id}
        sqs.send_message(QueueUrl=cancel_queue_url, MessageBody=letter.body, **extra)

    return send


def describe_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
