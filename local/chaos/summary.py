"""What ``make chaos`` reports: the state of the run the checks need (``RunState``), the messages the
function did not finish, the faults that were taken, and the summary (a dict, written as JSON with
``--json``) with its text rendering. The run itself: ``local.chaos``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from local.accounting.messages import Enqueued, Snapshot
from local.accounting.outcome_labels import FAILED, FINAL_STATUSES, RETRYING
from local.alipay_gateway.faults import FAULT_KINDS
from local.aws.esm_driver import DriverStats
from local.chaos.aws_faults import LEDGER_WRITE_FAULT_EVERY, AwsFaultStats
from local.chaos.checks import CheckResult
from local.chaos.plan import ChaosPlan
from local.chaos.wiretap import Exchange


@dataclass
class RunState:
    """What happens during the run that the checks need to know."""

    rotated_at: float | None = None
    retire_at: float | None = None
    probes: dict[str, str] = field(default_factory=dict)  # key -> what a probe cancel signed with it got
    late_sent: int = 0
    late_done: bool = False
    shape_switches: int = 0
    enqueued: list[Enqueued] = field(default_factory=list)
    bad_message_ids: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def unfinished_messages(
    enqueued: list[Enqueued], snapshot: Snapshot, log_lines: list[str]
) -> list[dict[str, Any]]:
    """Messages that did not end properly: moved by the queue's redrive (no reason attribute), or
    with no final ledger state and no dead letter, or whose trade is still RETRYING. Each with what the
    function last logged for its trade, and whether it logged an AWS infrastructure failure for it (the
    function's lines about a failed AWS call carry the call's ``error``)."""
    letters = {d.source_message_id or d.message_id: d for d in snapshot.dead_letters}
    said_by_key: dict[str, list[str]] = {}
    aws_failed_keys: set[str] = set()
    for line in log_lines:
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        key = entry.get("trade_key")
        if isinstance(key, str):
            said_by_key.setdefault(key, []).append(
                f"receive {entry.get('receive_count')}: {entry.get('message')}"
                + (f" ({entry['error']})" if entry.get("error") else "")
            )
            if entry.get("error"):
                aws_failed_keys.add(key)
    out = []
    for m in enqueued:
        letter = letters.get(m.message_id)
        record = snapshot.results.get(m.trade_key or "")
        status = record.get("status") if record else None
        reasonless = letter is not None and not letter.reason.strip()
        vanished = letter is None and status not in FINAL_STATUSES
        if not (reasonless or vanished or status == RETRYING):
            continue
        said = said_by_key.get(m.trade_key or "", [])
        out.append(
            {
                "message_id": m.message_id,
                "trade_key": m.trade_key,
                "scenario": m.scenario,
                "record_status": status,
                "dead_letter": "without reason (queue redrive)"
                if reasonless
                else ("yes" if letter else "none"),
                "infra_failure_logged": (m.trade_key or "") in aws_failed_keys,
                "function_said": said[-5:],
            }
        )
    return out


def consumed_faults(plan: ChaosPlan, pending: dict[str, Any]) -> tuple[Counter[str], Counter[str], int]:
    """(injected by label, injected by kind, planned but never taken). A planned fault still pending
    in the emulator at the end was not injected."""
    left: dict[str, list[dict[str, Any]]] = {k: list(v) for k, v in pending.get("faults", {}).items()}
    by_label: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    not_taken = 0
    for fault in plan.faults:
        entries = left.get(fault.trade, [])
        match = next(
            (
                e
                for e in entries
                if e.get("kind") == fault.kind
                and (e.get("http_status") or None) == (fault.params.get("http_status") or None)
                and (e.get("code") or None) == (fault.params.get("code") or None)
                and int(e.get("latency_ms") or 0) == int(fault.params.get("latency_ms") or 0)
                and bool(e.get("signed", True)) == bool(fault.params.get("signed", True))
            ),
            None,
        )
        if match is not None:
            entries.remove(match)
            not_taken += 1
            continue
        by_label[fault.label] += 1
        by_kind[fault.kind] += 1
    return by_label, by_kind, not_taken


def crash_summary(
    stats: Any,
    pool_kills: Counter[str],
    tap_kills: Counter[str],
    moto_stats: dict[str, Any],
    cold_starts: int,
) -> dict[str, Any]:
    """What the crash faults did. Kills by point: the kills asked for at each point (the store's rules
    that acted, the wire tap's kills); an environment hit at two points at once dies once, under the
    first reason (``environments ended by reason``: the pool's record)."""
    by_point: dict[str, int] = {}
    for rule in moto_stats.get("rules", []):
        if rule["name"].startswith("at the timeout"):
            continue
        by_point[rule["name"]] = int(rule["acted"])
    for point, n in tap_kills.items():
        by_point[point] = int(n)
    killed = int(stats.crashes) + int(stats.timeouts)
    return {
        "invocations": stats.invocations,
        "invocations killed": killed,
        "share of invocations killed": round(killed / max(1, stats.invocations), 4),
        "killed at the function timeout": stats.timeouts,
        "kills by point": by_point,
        "environments ended by reason": dict(sorted(pool_kills.items())),
        "cold starts (environments started)": cold_starts,
        "store-side rules (matched / acted)": {
            r["name"]: f"{r['matched']} / {r['acted']}" for r in moto_stats.get("rules", [])
        },
        "held store writes (timeout rule) acted": sum(
            r["acted"] for r in moto_stats.get("rules", []) if r["name"].startswith("at the timeout")
        ),
    }


def check_robustness(stats: DriverStats) -> CheckResult:
    robustness = CheckResult("no exception escaped the handler")
    if stats.handler_errors or stats.invalid_responses:
        robustness.violations += [e for e in stats.errors if e.startswith(("error", "init_error"))][:10] or [
            f"{stats.handler_errors} handler errors, {stats.invalid_responses} invalid responses"
        ]
    robustness.facts = {
        "invocations": stats.invocations,
        "records received": stats.records_received,
        "batch item failures (retried)": stats.item_failures_reported,
        "largest batch": stats.max_batch,
        "invocations killed at the function timeout (records redelivered)": stats.timeouts,
    }
    return robustness


def check_crashes(crashes: dict[str, Any], crash_rate: float, enqueued: int) -> CheckResult:
    """The crash faults were injected as planned (``crashes``: ``crash_summary``'s)."""
    check = CheckResult("crash faults were injected as planned")
    if crash_rate > 0 and enqueued >= 1000 and crashes["share of invocations killed"] < 0.05:
        check.violations.append(
            f"only {crashes['share of invocations killed']:.1%} of invocations were killed (need >= 5%)"
        )
    if crash_rate > 0 and enqueued >= 100:
        missing = [point for point, n in crashes["kills by point"].items() if not n]
        check.violations += [f"no kill at: {point}" for point in missing]
    check.facts = {"invocations killed": crashes["invocations killed"]}
    return check


def build_summary(
    plan: ChaosPlan,
    state: RunState,
    snapshot: Snapshot,
    exchanges: list[Exchange],
    pending_faults: dict[str, Any],
    aws: AwsFaultStats,
    checks: list[CheckResult],
    fault_rate: float,
    aws_fault_rate: float,
    grace_seconds: float,
) -> dict[str, Any]:
    by_label, by_kind, not_taken = consumed_faults(plan, pending_faults)
    forever = set(plan.forever_failing)
    forever_calls = sum(1 for ex in exchanges if ex.trade_ids & forever)
    by_kind["http_5xx"] += forever_calls
    by_label["http_5xx 503 (never recovers)"] = forever_calls
    total_calls = len(exchanges)
    injected = sum(by_kind.values())
    share = injected / total_calls if total_calls else 0.0
    refused = Counter(ex.code for ex in exchanges if ex.status == 401)

    coverage = CheckResult("fault coverage (the run proved what it claims)")
    missing = sorted(FAULT_KINDS - {k for k, n in by_kind.items() if n})
    if missing and len(state.enqueued) >= 100:
        coverage.violations.append(f"fault kinds never injected: {', '.join(missing)}")
    if share < fault_rate - 0.05:
        coverage.violations.append(f"only {share:.1%} of Alipay calls faulted (asked for {fault_rate:.0%})")
    if aws_fault_rate > 0 and len(state.enqueued) >= 100:
        for service in ("dynamodb", "sqs"):
            calls = sum(n for name, n in aws.calls.items() if name.startswith(service + "."))
            # Only when several were to be expected: a small run may draw none by chance.
            if calls * aws_fault_rate >= 8 and not any(s == service for (s, *_rest) in aws.injected):
                coverage.violations.append(f"no {service} fault was injected ({calls} calls)")
        if not any("Throttl" in code or "Throughput" in code for (*_r, code) in aws.injected):
            coverage.violations.append("no throttling error was injected")
        for kind in LEDGER_WRITE_FAULT_EVERY:
            if not any(level == f"ledger {kind}" for (_s, _o, level, _c) in aws.injected):
                coverage.violations.append(f"no AWS fault was injected on the ledger's {kind}")
    coverage.facts = {
        "faulted share of Alipay calls": f"{share:.1%}",
        "planned faults never taken": not_taken,
    }
    checks = [*checks, coverage]

    trades_by_key: dict[str, int] = Counter(m.trade_key for m in plan.messages if m.trade_key and not m.bad)
    dup_trades = {k: n for k, n in trades_by_key.items() if n > 1}
    modes = Counter(
        m.scenario.rsplit(", ", 1)[-1].rstrip("]") for m in plan.messages if "[dup x" in m.scenario
    )
    statuses = Counter(str(r.get("status")) for r in snapshot.results.values())
    outcome_classes = Counter(
        f"{r.get('status')}/{r.get('outcome_class')}" for r in snapshot.results.values()
    )

    failed_codes = Counter(
        str(r.get("error_sub_code") or r.get("error_code") or r.get("outcome_class"))
        for r in snapshot.results.values()
        if r.get("status") == FAILED
    )
    letters = Counter(
        str(d.attributes.get("outcome_class") or "no reason (queue redrive)") for d in snapshot.dead_letters
    )
    violations = {c.name: c.violations for c in checks}
    return {
        "messages": {
            "enqueued": len(state.enqueued),
            "good": len(state.enqueued) - len(state.bad_message_ids),
            "bad": len(state.bad_message_ids),
            "trades": len(trades_by_key),
            "late duplicates sent": state.late_sent,
        },
        "duplicates": {
            "trades sent more than once": len(dup_trades),
            "share of trades": f"{len(dup_trades) / max(1, len(trades_by_key)):.1%}",
            "extra copies": sum(n - 1 for n in dup_trades.values()),
            "messages by mode": dict(sorted(modes.items())),
        },
        "alipay_faults": {
            "cancel requests on the wire": total_calls,
            "faults injected": injected,
            "faulted share": round(share, 4),
            "by kind": dict(sorted((k, v) for k, v in by_kind.items() if v)),
            "by variant": dict(sorted((k, v) for k, v in by_label.items() if v)),
            "refused by the gateway (401)": dict(sorted((str(k), v) for k, v in refused.items())),
            "error shape switches (envelope <-> v3)": state.shape_switches,
        },
        "aws_faults": {
            "api calls by the function": aws.total_calls,
            "faults injected": aws.total_injected,
            "share of api calls": round(aws.total_injected / max(1, aws.total_calls), 4),
            "errors the function received (not absorbed by SDK retries)": aws.received_by_caller,
            "by code": aws.by_code(),
            "by operation": aws.by_operation(),
            "on the ledger's claim / final write (every n-th of each environment)": {
                kind: sum(n for (_s, _o, level, _c), n in aws.injected.items() if level == f"ledger {kind}")
                for kind in LEDGER_WRITE_FAULT_EVERY
            },
        },
        "key_rotation": {
            "rotated_at": state.rotated_at,
            "old key retired at": state.retire_at,
            "grace seconds": grace_seconds,
            "probe cancels after the grace": dict(state.probes),
        },
        "outcomes": {
            "trades by state": dict(sorted(statuses.items())),
            "trades by state/outcome_class": dict(sorted(outcome_classes.items())),
            "FAILED by code": dict(sorted(failed_codes.items())),
            "dead letters": len(snapshot.dead_letters),
            "dead letters by outcome_class": dict(sorted(letters.items())),
        },
        "checks": {c.name: {"ok": c.ok, "violations": len(c.violations), **c.facts} for c in checks},
        "violations": violations,
        "violations_total": sum(len(v) for v in violations.values()),
    }


def _rows(title: str, mapping: dict[str, Any], indent: int = 2) -> list[str]:
    lines = [title]
    width = max((len(str(k)) for k in mapping), default=0)
    for k, v in mapping.items():
        if isinstance(v, dict):
            lines += _rows(f"{' ' * indent}{k}:", v, indent + 2)
        else:
            lines.append(f"{' ' * indent}{str(k).ljust(width)}  {v}")
    return lines


def render(summary: dict[str, Any]) -> str:
    out = [
        "=" * 100,
        f"CHAOS SUMMARY  {summary['run']['messages']} messages, seed {summary['run']['seed']}, "
        f"{summary['run']['elapsed_seconds']}s",
    ]
    sections = (
        "messages",
        "duplicates",
        "alipay_faults",
        "aws_faults",
        "crashes",
        "key_rotation",
        "outcomes",
        "outcome_events",
    )
    for section in sections:
        if section in summary:
            out += ["", *_rows(section.replace("_", " ").upper(), summary[section])]
    out += ["", "CHECKS"]
    for name, check in summary["checks"].items():
        verdict = "ok" if check["ok"] else f"VIOLATED ({check['violations']})"
        out.append(f"  [{verdict}] {name}")
        for k, v in check.items():
            if k not in ("ok", "violations"):
                out.append(f"        {k}: {v}")
    if summary.get("unfinished_messages"):
        out += ["", "MESSAGES THE FUNCTION DID NOT FINISH (and what it last logged for their trade)"]
        for r in summary["unfinished_messages"]:
            out.append(
                f"  - trade {r['trade_key']} ({r['scenario']}): record {r['record_status']}, "
                f"dead letter {r['dead_letter']}"
            )
            out += [f"      {said}" for said in r["function_said"]]
    if summary["violations_total"]:
        out += ["", "VIOLATIONS"]
        for name, found in summary["violations"].items():
            for v in found:
                out.append(f"  - [{name}] {v}")
    out += ["", f"violations: {summary['violations_total']}", f"RESULT: {summary['result']}", "=" * 100]
    return "\n".join(out)
