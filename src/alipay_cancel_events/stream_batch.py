"""One batch of stream records -> events on the bus, in stream order, stopping at the first failure.

A stream is read in order per shard, and Lambda resumes a batch from the first record reported as
failed. So the batch stops at the first record whose event the bus does not take: the records
after it are left for the retry, and one trade's events are never published out of order by a
retry. (Powertools' BatchProcessor handles every record and reports every failure, which would
publish later records before the failed one.)

A record whose event keeps failing is retried for ``retry_seconds`` (the stream waits meanwhile:
nothing after it is lost or reordered), then its event goes to the dead-letter queue and the stream
moves on. A record that can never be an event (``NotAnOutcome``) is dead-lettered at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alipay_cancel_events.outcome_event import NotAnOutcome, OutcomeEvent, announces_outcome, outcome_event
from alipay_cancel_events.publisher import DeadLetterFailed, PublishFailed


class EventSink(Protocol):
    def publish(self, event: OutcomeEvent) -> None: ...

    def dead_letter_event(self, event: OutcomeEvent, *, reason: str, error_code: str) -> None: ...

    def dead_letter_record(
        self, *, trade_key: str | None, event_id: str | None, sequence_number: str, reason: str
    ) -> None: ...


@dataclass
class BatchReport:
    published: list[OutcomeEvent] = field(default_factory=list)
    dead_lettered: list[tuple[str, str]] = field(default_factory=list)  # (trade_key or "", reason)
    announced_nothing: int = 0  # records that are not the write of a final state
    failed_sequence_number: str | None = None  # where the stream must resume (None: all done)
    failure: str | None = None  # why it stopped (an error code, never a value from the item)

    def batch_item_failures(self) -> list[dict[str, str]]:
        if self.failed_sequence_number is None:
            return []
        return [{"itemIdentifier": self.failed_sequence_number}]


def _text(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name) or {}
    return str(value["S"]) if "S" in value else None


def publish_batch(
    records: Sequence[Mapping[str, Any]], sink: EventSink, *, retry_seconds: int, now: float
) -> BatchReport:
    """Publish the outcome each record announces; ``now`` is epoch seconds (records' ages)."""
    report = BatchReport()
    for record in records:
        change = record.get("dynamodb") or {}
        sequence_number = str(change.get("SequenceNumber", ""))
        if not announces_outcome(record):
            report.announced_nothing += 1
            continue
        image = change.get("NewImage") or {}
        try:
            try:
                event = outcome_event(image)
            except NotAnOutcome as defect:
                sink.dead_letter_record(
                    trade_key=_text(image, "trade_key"),
                    event_id=_text(image, "event_id"),
                    sequence_number=sequence_number,
                    reason=str(defect),
                )
                report.dead_lettered.append((_text(image, "trade_key") or "", str(defect)))
                continue
            try:
                sink.publish(event)
            except PublishFailed as failed:
                age = now - float(change.get("ApproximateCreationDateTime") or now)
                if age < retry_seconds:
                    report.failed_sequence_number, report.failure = sequence_number, failed.code
                    return report
                reason = f"the bus refused the event for {int(age)} s (last error {failed.code})"
                sink.dead_letter_event(event, reason=reason, error_code=failed.code)
                report.dead_lettered.append((event.trade_key, reason))
                continue
            report.published.append(event)
        except DeadLetterFailed as failed:
            report.failed_sequence_number, report.failure = sequence_number, f"dead-letter queue: {failed}"
            return report
    return report
