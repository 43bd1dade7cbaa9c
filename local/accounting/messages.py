"""Account for every message a local run enqueued (``local.accounting.run_summary`` renders the result).

A message is accounted for when its trade's ledger item is in a final state (``CLOSED``, ``REFUNDED``,
``KEPT``, ``NOT_FOUND``, ``FAILED``; an earlier release's ``SUCCEEDED``) and/or a dead letter carries
it (matched by the ``source_message_id`` attribute, or by its own message id when the queue's redrive
moved it) with a reason. Everything else is a violation, and so are: a dead letter without a reason, a dead
letter whose body is not byte-for-byte an enqueued body, a ``RETRYING`` item left after the queue
drained, and a ``CLOSED``, ``REFUNDED`` or ``KEPT`` item for a trade the emulator did not close,
refund or leave paid. A
dead letter without a reason is excused only for messages in ``crash_redriven``: their last allowed
delivery died with its execution environment, so the queue's redrive, not the function, moved them
(as on AWS), and their trade's item may stay ``RETRYING``. Runs that know
what each scenario should end as (``Enqueued.expect``) also get the surprises listed; an outcome a
message did not expect is still expected when the run's planned faults explain it (``faulted_calls``:
its trade ran out of retries and every call it got met a fault). The chaos run builds on
``collect``/``account`` and adds its own checks. State names come from
``local.accounting.outcome_labels``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from alipay_cancel_ops.masking import shown_body
from local.accounting.outcome_labels import EMULATOR_STATE, EXHAUSTED, RETRYING, is_final, outcome_label
from local.alipay_gateway.admin_client import GatewayAdmin


@dataclass(frozen=True)
class Enqueued:
    """One message a run put on the queue."""

    message_id: str
    body: str
    trade_key: str | None  # None for messages with no usable id
    scenario: str
    # Acceptable final outcomes, as ``outcome_labels.outcome_label`` strings ("CLOSED", "FAILED/ACQ.X",
    # "DEAD/bad_message"); empty = anything accounted is fine.
    expect: frozenset[str] = frozenset()
    # Faults planned for the first calls to its trade: when the emulator saw no more calls than this,
    # every call met one, and running out of retries ("exhausted") is what the faults made expected.
    faulted_calls: int = 0


@dataclass(frozen=True)
class DeadLetterSeen:
    message_id: str
    body: str
    attributes: Mapping[str, str]

    @property
    def reason(self) -> str:
        return self.attributes.get("reason", "")

    @property
    def source_message_id(self) -> str | None:
        return self.attributes.get("source_message_id")


@dataclass(frozen=True)
class Snapshot:
    """The end state of a run: results records, dead letters, the emulator's trades and counts."""

    results: Mapping[str, Mapping[str, Any]]  # trade_key -> item (plain Python values)
    dead_letters: Sequence[DeadLetterSeen]
    trades: Mapping[str, Mapping[str, Any]]  # emulator trade key -> trade
    counts: Mapping[str, Any]  # emulator /__admin/counts


@dataclass(frozen=True)
class MessageOutcome:
    message: Enqueued
    record: Mapping[str, Any] | None
    dead_letter: DeadLetterSeen | None
    label: str
    accounted: bool
    expected: bool = True  # the label is one the message expects (or it expects nothing in particular)
    why: str = ""  # why an outcome outside ``expect`` is expected all the same


@dataclass
class Accounting:
    outcomes: list[MessageOutcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)
    # The run stopped (a deadline) before these finished; they were still on the queue.
    in_flight: list[MessageOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.surprises


# --- collecting the end state ------------------------------------------------------------------


def scan_table(ddb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` (consistent read), as plain Python values."""
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += [{k: deserializer.deserialize(v) for k, v in raw.items()} for raw in page.get("Items", [])]
    return items


def scan_results(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {str(item["trade_key"]): item for item in scan_table(ddb, table)}


def read_dead_letters(sqs: Any, dlq_url: str) -> list[DeadLetterSeen]:
    """Every message on the dead-letter queue, left in place (hidden for a while by the receive)."""
    seen: dict[str, DeadLetterSeen] = {}
    empty_receives = 0
    while empty_receives < 2:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=300,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            empty_receives += 1
            continue
        empty_receives = 0
        for m in messages:
            attrs = {k: str(v.get("StringValue", "")) for k, v in (m.get("MessageAttributes") or {}).items()}
            seen[m["MessageId"]] = DeadLetterSeen(m["MessageId"], m["Body"], attrs)
    return list(seen.values())


def collect(sqs: Any, ddb: Any, admin: GatewayAdmin, *, results_table: str, dlq_url: str) -> Snapshot:
    trades = {str(t.get("scoped_key") or t["key"]): t for t in admin.trades()}  # one per (app, merchant, id)
    return Snapshot(
        results=scan_results(ddb, results_table),
        dead_letters=read_dead_letters(sqs, dlq_url),
        trades=trades,
        counts=admin.counts(),
    )


# --- accounting --------------------------------------------------------------------------------


def account(
    enqueued: Iterable[Enqueued],
    snapshot: Snapshot,
    crash_redriven: Collection[str] = (),
    *,
    still_queued: int | None = None,
) -> Accounting:
    """``still_queued``: the run stopped before the queue drained, with this many messages still on it
    (visible, in flight or delayed). Unfinished messages are then *in flight*, not violations, as long
    as the queue still holds at least that many; any beyond are missing (a violation).
    ``crash_redriven``: see the module docstring."""
    messages = list(enqueued)
    result = Accounting()
    by_source: dict[str, DeadLetterSeen] = {}
    for letter in snapshot.dead_letters:
        # The handler's dead letters name their source; the queue's own redrive keeps the id.
        by_source[letter.source_message_id or letter.message_id] = letter
    bodies = Counter(m.body for m in messages)

    for letter in snapshot.dead_letters:
        if not letter.reason.strip() and letter.message_id not in crash_redriven:
            result.violations.append(
                f"dead letter {letter.message_id} has no reason (moved by the queue's redrive, not by the "
                f"function): {shown_body(letter.body).describe(hint=False)[:120]}"
            )
        if letter.body not in bodies:
            result.violations.append(
                f"dead letter {letter.message_id} body is not an enqueued body byte for byte: "
                f"{shown_body(letter.body).describe(hint=False)[:120]}"
            )

    for message in messages:
        record = snapshot.results.get(message.trade_key) if message.trade_key else None
        found = by_source.get(message.message_id)
        reasoned_letter = found is not None and (
            bool(found.reason.strip()) or found.message_id in crash_redriven
        )
        accounted = is_final(record) or reasoned_letter
        label = outcome_label(record, None if found is None else found.attributes.get("outcome_class", ""))
        expected, why = _expected(message, label, snapshot)
        result.outcomes.append(MessageOutcome(message, record, found, label, accounted, expected, why))
        if not accounted and still_queued is not None:
            result.in_flight.append(result.outcomes[-1])
        elif not accounted:
            result.violations.append(
                f"message {message.message_id} ({message.scenario}, trade {message.trade_key}) is "
                f"unaccounted for: record {record.get('status') if record else 'none'}, dead letter "
                f"{'without reason' if found else 'none'}"
            )
        elif not expected:
            result.surprises.append(
                f"{message.scenario} (trade {message.trade_key}): ended {label}, expected "
                f"{' or '.join(sorted(message.expect))}"
            )

    if still_queued is not None and len(result.in_flight) > still_queued:
        result.violations.append(
            f"{len(result.in_flight)} messages did not finish but only {still_queued} are still on the "
            f"queue: at least {len(result.in_flight) - still_queued} missing"
        )
    # A crash on the last allowed delivery leaves the record as the previous delivery wrote it.
    crashed_keys = {m.trade_key for m in messages if m.message_id in crash_redriven and m.trade_key}
    for key, record in snapshot.results.items():
        if record.get("status") == RETRYING and still_queued is None and key not in crashed_keys:
            result.violations.append(f"trade {key} is still {RETRYING} after the queue drained")
        expected = EMULATOR_STATE.get(str(record.get("status")))
        if expected is not None:
            trade = snapshot.trades.get(key) or next(
                (t for t in snapshot.trades.values() if key in (t.get("trade_no"), t.get("out_trade_no"))),
                None,
            )
            if trade is not None and trade.get("state") not in expected:
                result.violations.append(
                    f"trade {key} recorded {record.get('status')} but the emulator has it "
                    f"{trade.get('state')}"
                )
    return result


def _expected(message: Enqueued, label: str, snapshot: Snapshot) -> tuple[bool, str]:
    """Whether ``label`` is what ``message`` expects, and why when it is expected only because the
    planned faults met every call its trade got (retries ran out before a clean answer came)."""
    if not message.expect or label in message.expect:
        return True, ""
    if label in EXHAUSTED and message.faulted_calls and message.trade_key:
        calls = snapshot.counts.get("per_trade", {}).get(message.trade_key, {}).get("requests", 0)
        if 0 < calls <= message.faulted_calls:
            return True, f"faults on all {calls} of its calls"
    return False, ""
