"""Account for every message a local run enqueued, and render the run's summary.

A message is accounted for when its trade has a ``SUCCEEDED`` or ``FAILED`` record and/or a dead
letter carries it (matched by the ``source_message_id`` attribute, or by its own message id when the
queue's redrive moved it) with a reason. Everything else is a violation, and so are: a dead letter
without a reason, a dead letter whose body is not byte-for-byte an enqueued body, a ``RETRYING``
record left after the queue drained, and a ``SUCCEEDED`` record for a trade the emulator did not
actually cancel. A dead letter without a reason is excused only for messages in ``crash_redriven``:
their last allowed delivery died with its execution environment, so the queue's redrive, not the
function, moved them (as on AWS), and their trade's record may stay ``RETRYING``. Runs that know
what each scenario should end as (``Enqueued.expect``) also get the surprises listed. The chaos run
builds on ``collect``/``account`` and adds its own checks.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from alipay_cancel_ops.masking import shown_body
from local.alipay_gateway.admin_client import GatewayAdmin

TERMINAL_STATUSES = ("SUCCEEDED", "FAILED")
CANCELLED_TRADE_STATES = ("closed", "refunded")


@dataclass(frozen=True)
class Enqueued:
    """One message a run put on the queue."""

    message_id: str
    body: str
    trade_key: str | None  # None for messages with no usable id
    scenario: str
    # Acceptable final outcomes, as ``outcome_label`` strings ("SUCCEEDED/close", "FAILED/ACQ.X",
    # "DEAD/bad_message"); empty = anything accounted is fine.
    expect: frozenset[str] = frozenset()


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


def outcome_label(record: Mapping[str, Any] | None, dead_letter: DeadLetterSeen | None) -> str:
    """One short label per message: what the record says, else what the dead letter says."""
    if record is not None and record.get("status") == "SUCCEEDED":
        return f"SUCCEEDED/{record.get('action') or 'none'}"
    if record is not None and record.get("status") == "FAILED":
        if record.get("outcome_class") == "terminal":  # Alipay said no: its code says why
            # The business code: sub_code in the seed's envelope shape (code 40004), code in v3's.
            return f"FAILED/{record.get('error_sub_code') or record.get('error_code') or 'terminal'}"
        return f"FAILED/{record.get('outcome_class')}"
    if dead_letter is not None:
        return f"DEAD/{dead_letter.attributes.get('outcome_class') or 'redriven'}"
    if record is not None:
        return f"{record.get('status')}/{record.get('outcome_class')}"
    return "MISSING"


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
        final_record = record is not None and record.get("status") in TERMINAL_STATUSES
        reasoned_letter = found is not None and (
            bool(found.reason.strip()) or found.message_id in crash_redriven
        )
        accounted = final_record or reasoned_letter
        label = outcome_label(record, found)
        result.outcomes.append(MessageOutcome(message, record, found, label, accounted))
        if not accounted and still_queued is not None:
            result.in_flight.append(result.outcomes[-1])
        elif not accounted:
            result.violations.append(
                f"message {message.message_id} ({message.scenario}, trade {message.trade_key}) is "
                f"unaccounted for: record {record.get('status') if record else 'none'}, dead letter "
                f"{'without reason' if found else 'none'}"
            )
        elif message.expect and label not in message.expect:
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
        if record.get("status") == "RETRYING" and still_queued is None and key not in crashed_keys:
            result.violations.append(f"trade {key} is still RETRYING after the queue drained")
        if record.get("status") == "SUCCEEDED" and record.get("action"):
            trade = snapshot.trades.get(key) or next(
                (t for t in snapshot.trades.values() if key in (t.get("trade_no"), t.get("out_trade_no"))),
                None,
            )
            if trade is not None and trade.get("state") not in CANCELLED_TRADE_STATES:
                result.violations.append(
                    f"trade {key} recorded SUCCEEDED ({record.get('action')}) but the emulator has it "
                    f"{trade.get('state')}"
                )
    return result


# --- the summary -------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip()]
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells[1:]
    ]
    return lines


def _in_flight_lines(in_flight: Sequence[MessageOutcome], deadline_seconds: float | None) -> list[str]:
    when = f"the {deadline_seconds:g}s deadline" if deadline_seconds is not None else "the end of the run"
    lines = [f"  Still in flight at {when} ({len(in_flight)}; on the queue, being retried, not lost):"]
    for o in in_flight:
        record = o.record or {}
        last = record.get("error_sub_code") or record.get("error_code") or record.get("error_message") or ""
        lines.append(
            f"    - {o.message.scenario} (trade {o.message.trade_key or '-'}): record "
            f"{record.get('status') or 'none yet'}, attempts {record.get('attempts', 0)}"
            + (f", last error {_one_line(str(last), 60)}" if last else "")
        )
    return lines


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_summary(
    enqueued: Sequence[Enqueued],
    snapshot: Snapshot,
    accounting: Accounting,
    *,
    elapsed_seconds: float,
    drained: bool,
    extra: Mapping[str, Any] | None = None,
    max_trade_rows: int = 80,
    deadline_seconds: float | None = None,
) -> str:
    out: list[str] = []
    out.append("=" * 78)
    stopped = "drained" if drained else "NOT drained"
    if not drained and deadline_seconds is not None:
        stopped = f"NOT drained: the {deadline_seconds:g}s deadline was reached"
    out.append(
        f"SUMMARY  {len(enqueued)} messages, {len({m.trade_key for m in enqueued if m.trade_key})} trades, "
        f"elapsed {elapsed_seconds:.1f}s, queue {stopped}"
    )
    for key, value in (extra or {}).items():
        out.append(f"  {key}: {value}")

    out.append("")
    out.append("Results by status (DynamoDB records):")
    statuses = Counter(str(r.get("status")) for r in snapshot.results.values())
    out += _table(sorted(statuses.items()), ["status", "records"])

    out.append("")
    out.append("Results by action / error (DynamoDB records):")
    actions = Counter(
        (
            str(r.get("status")),
            str(r.get("action") or ("-" if r.get("status") == "SUCCEEDED" else "")),
            str(r.get("error_code") or ""),
            str(r.get("error_sub_code") or ""),
            str(r.get("outcome_class")),
        )
        for r in snapshot.results.values()
    )
    out += _table(
        [(*k, n) for k, n in sorted(actions.items())],
        ["status", "action", "error_code", "sub_code", "outcome", "records"],
    )

    out.append("")
    out.append("Messages by scenario -> outcome:")
    per_scenario = Counter((o.message.scenario, o.label) for o in accounting.outcomes)
    out += _table(
        [(s, label, n) for (s, label), n in sorted(per_scenario.items())], ["scenario", "outcome", "n"]
    )

    out.append("")
    out.append(f"Dead letters ({len(snapshot.dead_letters)}):")
    scenario_of = {m.message_id: m.scenario for m in enqueued}
    for letter in sorted(
        snapshot.dead_letters, key=lambda d: (d.attributes.get("trade_key") or "", d.message_id)
    ):
        src = letter.source_message_id or letter.message_id
        a = letter.attributes
        out.append(
            f"  - [{scenario_of.get(src, '?')}] trade {a.get('trade_key') or '-'}  "
            f"class {a.get('outcome_class') or '-'}  "
            f"code {a.get('error_code') or '-'}/{a.get('error_sub_code') or '-'}"
            f"  attempts {a.get('attempts') or '-'}"
        )
        reason = textwrap.wrap(" ".join(letter.reason.split()), 100) or ["(NO REASON)"]
        out.append(f"      reason: {reason[0]}")
        out += [f"              {line}" for line in reason[1:]]
        out.append(f"      body:   {_one_line(shown_body(letter.body).describe(hint=False), 100)}")

    out.append("")
    out.append("Cancel calls per trade (the emulator's counts; requests include rejected/faulted calls):")
    per_trade = dict(snapshot.counts.get("per_trade", {}))
    scenario_by_trade: dict[str, str] = {}
    messages_by_trade: Counter[str] = Counter()
    for m in enqueued:
        if m.trade_key:
            scenario_by_trade.setdefault(m.trade_key, m.scenario)
            messages_by_trade[m.trade_key] += 1
    rows = []
    for key in sorted(set(per_trade) | set(scenario_by_trade)):
        counts = per_trade.get(key, {"requests": 0, "cancel_calls": 0})
        record = snapshot.results.get(key) or {}
        rows.append(
            (
                key,
                scenario_by_trade.get(key, "?"),
                messages_by_trade.get(key, 0),
                counts.get("requests", 0),
                counts.get("cancel_calls", 0),
                record.get("attempts", "-"),
                outcome_label(record or None, None) if record else "-",
            )
        )
    header = ["trade", "scenario", "msgs", "requests", "cancel_calls", "attempts", "final"]
    out += _table(rows[:max_trade_rows], header)
    if len(rows) > max_trade_rows:
        out.append(f"  ... {len(rows) - max_trade_rows} more trades")
    dist = Counter(r[4] for r in rows)
    out.append(
        "  cancel calls per trade: "
        + ", ".join(
            f"{calls} call{'s' if calls != 1 else ''}: {n} trades" for calls, n in sorted(dist.items())
        )
    )
    out.append(
        f"  totals: {snapshot.counts.get('total_requests', 0)} requests, "
        f"{snapshot.counts.get('cancel_calls', 0)} reached cancel, "
        f"{snapshot.counts.get('rejected_requests', 0)} rejected by the gateway"
    )

    out.append("")
    accounted = sum(1 for o in accounting.outcomes if o.accounted)
    out.append(f"Accounting: {accounted}/{len(accounting.outcomes)} messages accounted for")
    if accounting.in_flight:
        out += _in_flight_lines(accounting.in_flight, deadline_seconds)
    for v in accounting.violations:
        out.append(f"  VIOLATION: {v}")
    for s in accounting.surprises:
        out.append(f"  UNEXPECTED: {s}")
    if accounting.ok and drained:
        out.append("RESULT: OK")
    elif not accounting.violations and not accounting.surprises and accounting.in_flight:
        out.append(
            f"RESULT: INCOMPLETE: stopped at the deadline with {len(accounting.in_flight)} message(s) still "
            "in flight (not lost: still on the queue); run again with a larger --deadline"
        )
    else:
        out.append("RESULT: FAILED")
    out.append("=" * 78)
    return "\n".join(out)
