"""The chaos run's checks of what the settle flow promises (docs/settle.md), on the run's end state:

- every settled trade was settled by a verified answer that says so, and the emulator's truth agrees
  (closed, refunded, kept: still paid, unknown);
- money moves at most once: no trade is refunded beyond what was paid, this service sends one refund
  request per trade (its number, its amount), a recorded refund is the emulator's, ``money_moved`` is
  never claimed for a trade the emulator did not refund, and nothing moves for ``keep``;
- no dead letter for a trade a call could have settled: Alipay's final word (``terminal``) only for a
  finished or frozen trade, or what the plan made unsettleable (a sticky terminal code, a trade
  refunded in part by someone else).

Each check returns a ``CheckResult`` (``local.chaos.checks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alipay_cancel.alipay.amounts import amount_as_cents
from alipay_cancel.decisions.refund_request import REQUEST_NUMBER_PREFIX, request_number
from local.accounting.messages import Snapshot
from local.accounting.outcome_labels import CLOSED, FAILED, KEPT, NOT_FOUND, REFUNDED
from local.chaos.checks import MAX_LISTED, CheckResult, record_ids, trade_of
from local.chaos.plan import ChaosPlan
from local.chaos.wiretap import Exchange

# The query's answers that settle a trade as each state (TRADE_CLOSED: refunded or closed, by payment).
_QUERY_SETTLES = {
    (CLOSED, "TRADE_CLOSED"),
    (REFUNDED, "TRADE_CLOSED"),
    (KEPT, "TRADE_SUCCESS"),
    (KEPT, "TRADE_FINISHED"),
}
_CANCEL_SETTLES = {"close": CLOSED, "refund": REFUNDED, None: NOT_FOUND}
# What the emulator's trade is when the ledger says the trade is settled so.
_EMULATOR_STATES = {
    CLOSED: {"closed"},
    REFUNDED: {"refunded"},
    KEPT: {"paid", "finished", "frozen"},
}
# No call settles these: Alipay's final word on the trade.
_UNSETTLEABLE_STATES = {"finished", "frozen"}


def settles(status: str, exchange: Exchange) -> bool:
    """Whether this exchange is a verified answer that settles a trade as ``status``."""
    if exchange.signature != "valid" or exchange.status is None:
        return False
    if status == NOT_FOUND and exchange.op == "query":  # Alipay's signed "no such trade"
        return "ACQ.TRADE_NOT_EXIST" in (exchange.code, exchange.sub_code)
    if not exchange.signed_success:
        return False
    if exchange.op == "cancel":
        return _CANCEL_SETTLES.get(exchange.action) == status
    if exchange.op == "query":
        return (status, exchange.trade_status) in _QUERY_SETTLES
    if exchange.op == "close":
        return status == CLOSED
    if exchange.op == "refund":
        return status == REFUNDED and exchange.fund_change == "Y"
    return exchange.op == "refund_query" and status == REFUNDED and exchange.refund_status == "REFUND_SUCCESS"


def check_settlements(snapshot: Snapshot, exchanges: Sequence[Exchange], plan: ChaosPlan) -> CheckResult:
    """Every settled item (CLOSED, REFUNDED, KEPT, NOT_FOUND): its ``alipay_trace_id`` names an exchange
    for that very trade that the wire tap saw answered, correctly signed (verified independently),
    with what settles it so; and the emulator's trade is in that state (or unknown, for NOT_FOUND)."""
    result = CheckResult("every settled trade: a verified answer says so, and Alipay's truth agrees")
    by_trace = {ex.trace_id: ex for ex in exchanges if ex.trace_id}
    verified: dict[str, int] = {}
    for key, record in snapshot.results.items():
        status = str(record.get("status"))
        if status not in (CLOSED, REFUNDED, KEPT, NOT_FOUND):
            continue
        trace = record.get("alipay_trace_id")
        ex = by_trace.get(str(trace)) if trace else None
        if ex is None:
            result.violations.append(
                f"trade {key}: {status} with trace id {trace!r} that no wire exchange had"
            )
        elif not ex.trade_ids & record_ids(key, record):
            result.violations.append(
                f"trade {key}: {status} from the answer to a request for {sorted(ex.trade_ids)}"
            )
        elif not settles(status, ex):
            result.violations.append(
                f"trade {key}: {status} from a {ex.op or '?'} answer that does not say so (status "
                f"{ex.status}, signature {ex.signature}, code {ex.code}/{ex.sub_code}, action {ex.action}, "
                f"trade_status {ex.trade_status}, fund_change {ex.fund_change}, refund_status "
                f"{ex.refund_status})"
            )
        else:
            verified[f"{status} by {ex.op}"] = verified.get(f"{status} by {ex.op}", 0) + 1
        trade = trade_of(snapshot, key)
        if status == NOT_FOUND:
            if trade is not None or key not in plan.unknown_keys:
                state = trade.get("state") if trade else "unknown, not planned so"
                result.violations.append(f"trade {key}: NOT_FOUND but the emulator has it {state}")
        elif trade is None:
            result.violations.append(f"trade {key}: {status} but the emulator has no such trade")
        elif trade.get("state") not in _EMULATOR_STATES[status]:
            result.violations.append(f"trade {key}: {status} but the emulator has it {trade.get('state')}")
        elif status == KEPT and key not in plan.keep_keys:
            result.violations.append(f"trade {key}: KEPT, but its message did not say if_paid keep")
    result.violations[:] = result.violations[:MAX_LISTED] + (
        [f"... and {len(result.violations) - MAX_LISTED} more"] if len(result.violations) > MAX_LISTED else []
    )
    result.facts = {
        "settled trades": sum(verified.values()),
        "settled by (state by the answer's operation)": dict(sorted(verified.items())),
    }
    return result


def check_money(snapshot: Snapshot, plan: ChaosPlan) -> CheckResult:
    """Money moves at most once, only as the policy says, and the ledger says what moved."""
    result = CheckResult("money: never refunded beyond the payment, one request per trade, nothing for keep")
    per_trade: Mapping[str, Mapping[str, Any]] = snapshot.counts.get("per_trade", {})
    ours_total = 0
    for name, trade in snapshot.trades.items():
        total, refunded = (
            amount_as_cents(str(trade["total_amount"])),
            amount_as_cents(str(trade["refund_fee"])),
        )
        if refunded > total:
            result.violations.append(
                f"trade {name}: refunded {trade['refund_fee']} of {trade['total_amount']}"
            )
        ours = [no for no in trade.get("refunds", {}) if no.startswith(REQUEST_NUMBER_PREFIX)]
        ours_total += len(ours)
        if len(ours) > 1:
            result.violations.append(f"trade {name}: {len(ours)} refund requests of this service")
    for key, record in snapshot.results.items():
        trade = trade_of(snapshot, key)
        number = record.get("out_request_no")
        if number is not None and number != request_number(key):
            result.violations.append(f"trade {key}: refund request {number} is not the one its key derives")
        refunds: Mapping[str, str] = trade.get("refunds", {}) if trade else {}
        if number in refunds and refunds[str(number)] != record.get("refund_request_amount"):
            result.violations.append(
                f"trade {key}: refund request of {record.get('refund_request_amount')}, Alipay refunded "
                f"{refunds[str(number)]} under it"
            )
        if record.get("status") == REFUNDED and record.get("refund_amount") is not None:
            if refunds.get(str(number)) != record.get("refund_amount"):
                result.violations.append(
                    f"trade {key}: REFUNDED {record.get('refund_amount')} by request {number}, which Alipay "
                    f"has as {refunds.get(str(number))}"
                )
        if record.get("money_moved") is True and (trade is None or trade.get("state") != "refunded"):
            result.violations.append(
                f"trade {key}: money_moved, but the emulator has it "
                f"{trade.get('state') if trade else 'unknown'}"
            )
    kept = 0
    for key in sorted(plan.keep_keys):
        record, trade, counts = (
            snapshot.results.get(key) or {},
            trade_of(snapshot, key),
            per_trade.get(key, {}),
        )
        moved = int(counts.get("cancel_calls", 0)) + int(counts.get("refund_calls", 0))
        if moved or (trade is not None and trade.get("refund_fee") != "0.00") or record.get("money_moved"):
            result.violations.append(
                f"trade {key} (if_paid keep): {counts.get('cancel_calls', 0)} cancel and "
                f"{counts.get('refund_calls', 0)} refund calls, refunded "
                f"{trade.get('refund_fee') if trade else '?'}"
            )
        kept += record.get("status") == KEPT
    result.violations[:] = result.violations[:MAX_LISTED]
    result.facts = {
        "refund requests of this service at the emulator": ours_total,
        "trades with money_moved": sum(1 for r in snapshot.results.values() if r.get("money_moved") is True),
        "keep trades (if_paid keep)": len(plan.keep_keys),
        "keep trades recorded KEPT": kept,
    }
    return result


def check_dead_letters_unsettleable(snapshot: Snapshot, plan: ChaosPlan) -> CheckResult:
    """A trade is FAILED on Alipay's final word (``terminal``) only when no call can settle it: finished
    or frozen at the emulator, or unsettleable by the plan's making; and never when Alipay has it
    closed or refunded."""
    result = CheckResult("no dead letter for a trade a call could have settled")
    terminal = 0
    for key, record in snapshot.results.items():
        if record.get("status") != FAILED or record.get("outcome_class") != "terminal":
            continue
        terminal += 1
        trade = trade_of(snapshot, key)
        state = trade.get("state") if trade else None
        if state in ("closed", "refunded"):
            result.violations.append(f"trade {key}: FAILED (terminal) but Alipay has it {state}")
        elif state not in _UNSETTLEABLE_STATES and key not in plan.unsettleable:
            result.violations.append(
                f"trade {key}: FAILED (terminal, {record.get('error_sub_code') or record.get('error_code')}) "
                f"although a call could settle it (the emulator has it {state})"
            )
    result.violations[:] = result.violations[:MAX_LISTED]
    result.facts = {"trades FAILED on Alipay's final word": terminal}
    return result
