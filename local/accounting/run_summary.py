"""The summary a local run prints (``make demo``): results by status and action, every message's
outcome by scenario with whether it was expected, every dead letter with its reason, the calls each
trade cost at the emulator, and the verdict. Bodies are shown through the operator tools' masking."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from alipay_cancel_ops.masking import shown_body
from local.accounting.messages import Accounting, Enqueued, MessageOutcome, Snapshot
from local.accounting.outcome_labels import SETTLED_STATUSES, outcome_label


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip()]
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells[1:]
    ]
    return lines


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict(outcome: MessageOutcome) -> str:
    """The "expected" column: yes, yes and why (planned faults), or NO."""
    if not outcome.accounted:
        return "-"
    if not outcome.expected:
        return "NO"
    return f"yes: {outcome.why}" if outcome.why else "yes"


def unfinished_line(accounting: Accounting, depth: Any, deadline_seconds: float) -> str:
    """The deadline's one line: the unfinished messages, and what the queue still holds (it counts
    every copy on it: duplicates of a trade that already ended are there too)."""
    return (
        f"Deadline reached: --deadline {deadline_seconds:g}s passed before the queue drained: "
        f"{len(accounting.in_flight)} message(s) unfinished, listed below; not lost, only unfinished "
        f"(the queue still holds {depth.total} copies: {depth.visible} visible, {depth.in_flight} in "
        f"flight, {depth.delayed} delayed)."
    )


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


def _records(snapshot: Snapshot) -> list[str]:
    out = ["Results by status (DynamoDB records):"]
    statuses = Counter(str(r.get("status")) for r in snapshot.results.values())
    out += _table(sorted(statuses.items()), ["status", "records"])
    out += ["", "Results by action / error (DynamoDB records):"]
    actions = Counter(
        (
            str(r.get("status")),
            str(r.get("action") or ("-" if r.get("status") in SETTLED_STATUSES else "")),
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
    return out


def _dead_letters(snapshot: Snapshot, accounting: Accounting) -> list[str]:
    out = [f"Dead letters ({len(snapshot.dead_letters)}):"]
    by_message = {o.message.message_id: o for o in accounting.outcomes}
    for letter in sorted(
        snapshot.dead_letters, key=lambda d: (d.attributes.get("trade_key") or "", d.message_id)
    ):
        outcome = by_message.get(letter.source_message_id or letter.message_id)
        a = letter.attributes
        scenario, seen = (outcome.message.scenario, verdict(outcome)) if outcome else ("?", "?")
        out.append(
            f"  - [{scenario}] expected {seen}  trade {a.get('trade_key') or '-'}  "
            f"class {a.get('outcome_class') or '-'}  code {a.get('error_code') or '-'}/"
            f"{a.get('error_sub_code') or '-'}  attempts {a.get('attempts') or '-'}"
        )
        reason = textwrap.wrap(" ".join(letter.reason.split()), 100) or ["(NO REASON)"]
        out.append(f"      reason: {reason[0]}")
        out += [f"              {line}" for line in reason[1:]]
        out.append(f"      body:   {_one_line(shown_body(letter.body).describe(hint=False), 100)}")
    return out


def _calls_per_trade(enqueued: Sequence[Enqueued], snapshot: Snapshot, max_rows: int) -> list[str]:
    out = ["Cancel calls per trade (the emulator's counts; requests include rejected/faulted calls):"]
    per_trade = dict(snapshot.counts.get("per_trade", {}))
    scenario_by_trade: dict[str, str] = {}
    messages_by_trade: Counter[str] = Counter()
    faults_by_trade: dict[str, int] = {}
    for m in enqueued:
        if m.trade_key:
            scenario_by_trade.setdefault(m.trade_key, m.scenario)
            messages_by_trade[m.trade_key] += 1
            faults_by_trade[m.trade_key] = m.faulted_calls
    rows = []
    for key in sorted(set(per_trade) | set(scenario_by_trade)):
        counts = per_trade.get(key, {"requests": 0, "cancel_calls": 0})
        record = snapshot.results.get(key) or {}
        rows.append(
            (
                key,
                scenario_by_trade.get(key, "?"),
                messages_by_trade.get(key, 0),
                faults_by_trade.get(key, 0),
                counts.get("requests", 0),
                counts.get("cancel_calls", 0),
                _settle_calls(counts),
                record.get("attempts", "-"),
                outcome_label(record, None) if record else "-",
            )
        )
    header = [
        "trade",
        "scenario",
        "msgs",
        "faults planned",
        "requests",
        "cancel_calls",
        "settle calls",
        "attempts",
        "final",
    ]
    out += _table(rows[:max_rows], header)
    if len(rows) > max_rows:
        out.append(f"  ... {len(rows) - max_rows} more trades")
    dist = Counter(r[5] for r in rows)
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
    return out


def _settle_calls(counts: Mapping[str, Any]) -> str:
    """The settle flow's calls the emulator counted for a trade, e.g. ``query 1, refund 1``."""
    ops = ("query", "close", "refund", "refund_query")
    return ", ".join(f"{op} {counts[f'{op}_calls']}" for op in ops if counts.get(f"{op}_calls")) or "-"


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
    sections: Sequence[Sequence[str]] = (),
) -> str:
    """``sections``: further parts of the run's story (the demo's outcome events and scheduled
    cancels), each printed as given before the accounting and the verdict."""
    out: list[str] = ["=" * 78]
    stopped = "drained" if drained else "NOT drained"
    if not drained and deadline_seconds is not None:
        stopped = f"NOT drained: the {deadline_seconds:g}s deadline was reached"
    out.append(
        f"SUMMARY  {len(enqueued)} messages, {len({m.trade_key for m in enqueued if m.trade_key})} trades, "
        f"elapsed {elapsed_seconds:.1f}s, queue {stopped}"
    )
    out += [f"  {key}: {value}" for key, value in (extra or {}).items()]
    out += ["", *_records(snapshot)]
    out += ["", "Messages by scenario -> outcome (expected: what the scenario should end as):"]
    per_scenario = Counter((o.message.scenario, o.label, verdict(o)) for o in accounting.outcomes)
    out += _table(
        [(s, label, seen, n) for (s, label, seen), n in sorted(per_scenario.items())],
        ["scenario", "outcome", "expected", "n"],
    )
    explained = sum(1 for o in accounting.outcomes if o.why)
    if explained:
        out.append(
            f"  {explained} message(s) ran out of retries because the faults planned for their trade met "
            "every call it got before the retry horizon (on a slower machine fewer calls fit in it)"
        )
    out += ["", *_dead_letters(snapshot, accounting)]
    out += ["", *_calls_per_trade(enqueued, snapshot, max_trade_rows)]
    for section in sections:
        out += ["", *section]
    accounted = sum(1 for o in accounting.outcomes if o.accounted)
    out += ["", f"Accounting: {accounted}/{len(accounting.outcomes)} messages accounted for"]
    if accounting.in_flight:
        out += _in_flight_lines(accounting.in_flight, deadline_seconds)
    out += [f"  VIOLATION: {v}" for v in accounting.violations]
    out += [f"  UNEXPECTED: {s}" for s in accounting.surprises]
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
