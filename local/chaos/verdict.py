"""The chaos run's verdict: every check of ``local.chaos.checks`` and ``local.chaos.settle_checks`` run
over what the run gathered (``Evidence``), and the summary they go into."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from local.accounting.messages import Snapshot
from local.aws.esm_driver import DriveResult
from local.chaos.aws_faults import AwsFaultStats, FailedCall
from local.chaos.checks import (
    check_accounted,
    check_drained,
    check_ledger,
    check_no_cancel_after_success,
    check_no_secrets,
    check_rotation,
    receipts_hit_by_aws_faults,
)
from local.chaos.conductor import ROTATION_GRACE_SECONDS
from local.chaos.events import ChaosEvents
from local.chaos.plan import ChaosPlan
from local.chaos.settle_checks import check_dead_letters_unsettleable, check_money, check_settlements
from local.chaos.summary import (
    RunState,
    build_summary,
    check_crashes,
    check_robustness,
    crash_summary,
    unfinished_messages,
)
from local.chaos.wiretap import Exchange
from local.lambda_runtime.lambda_environment import PoolStats


@dataclass
class Evidence:
    """What the run gathered, once the pipeline drained and the stack is down."""

    plan: ChaosPlan
    state: RunState
    snapshot: Snapshot
    exchanges: list[Exchange]
    pending_faults: dict[str, Any]  # the emulator's planned faults no call took
    drive: DriveResult  # the last drive (its stats count the whole run)
    pool_stats: PoolStats
    moto_stats: dict[str, Any]
    tap_kills: Counter[str]
    aws_stats: AwsFaultStats
    failed_calls: list[FailedCall]
    log_lines: list[str]
    events: ChaosEvents
    max_receive_count: int
    read_timeout: float  # the function's Alipay read timeout
    private_keys: list[str]  # every private key of the run, in every form: none may appear anywhere


def verdict(e: Evidence, *, fault_rate: float, aws_fault_rate: float, crash_rate: float) -> dict[str, Any]:
    """The summary: the checks (with ``violations_total``), the faults taken, crashes, outcome events
    and the messages the function did not finish."""
    state, snapshot, exchanges, plan = e.state, e.snapshot, e.exchanges, e.plan
    hit_receipts = merge_receipts(receipts_hit_by_aws_faults(e.failed_calls), e.drive.stats.killed_receipts)
    redriven = crash_redriven(snapshot, hit_receipts, e.max_receive_count)
    redriven_keys = {m.trade_key for m in state.enqueued if m.message_id in redriven and m.trade_key}
    checks = [
        check_accounted(state.enqueued, snapshot, state.bad_message_ids, hit_receipts, redriven),
        check_settlements(snapshot, exchanges, plan),
        check_money(snapshot, plan),
        check_dead_letters_unsettleable(snapshot, plan),
        check_no_cancel_after_success(snapshot, exchanges),
        check_drained(e.drive.drained, snapshot, redriven_keys),
        check_ledger(
            snapshot,
            exchanges,
            now=time.time(),
            # The tap sees a request once its connection is made and the request sent; from then the
            # client waits for the answer's first byte at most the read timeout (requests' per-read
            # timeout): an unanswered call is over for its holder by then. (Connect + read bounds a
            # call from its start; counted from the tap it flags a duplicate that claimed the trade
            # a second after the holder gave up, a holder gone for good.)
            call_limit_seconds=e.read_timeout,
            crash_redriven_keys=redriven_keys,
        ),
        check_no_secrets(e.log_lines, snapshot, e.private_keys, plan.tokens),
        check_rotation(exchanges, state.rotated_at, state.retire_at, state.probes),
        e.events.check(),
    ]
    stats = e.drive.stats
    crashes = crash_summary(stats, e.pool_stats.kills, e.tap_kills, e.moto_stats, e.pool_stats.cold_starts)
    checks += [check_robustness(stats), check_crashes(crashes, crash_rate, len(state.enqueued))]
    summary = build_summary(
        plan,
        state,
        snapshot,
        exchanges,
        e.pending_faults,
        e.aws_stats,
        checks,
        fault_rate,
        aws_fault_rate,
        ROTATION_GRACE_SECONDS,
    )
    summary["crashes"] = crashes
    summary["outcome_events"] = e.events.summary()
    summary["unfinished_messages"] = unfinished_messages(state.enqueued, snapshot, e.log_lines)
    return summary


def crash_redriven(snapshot: Snapshot, killed: dict[str, set[int]], max_receive_count: int) -> set[str]:
    """Messages the queue's redrive moved because their last allowed delivery died with its
    environment or was hit by an injected AWS failure that reached the function (e.g. its dead-letter
    send failed): the function could not dead-letter them with a reason, as on AWS. ``killed``:
    message id -> receive counts hit by a crash or an injected AWS failure."""
    return {
        d.message_id
        for d in snapshot.dead_letters
        if not d.reason.strip() and max_receive_count in killed.get(d.message_id, set())
    }


def merge_receipts(*maps: dict[str, set[int]]) -> dict[str, set[int]]:
    """message id -> receive counts hit by an injected AWS error or a crash (the message was rightly
    retried on the next receipt)."""
    out: dict[str, set[int]] = {}
    for mapping in maps:
        for message_id, counts in mapping.items():
            out.setdefault(message_id, set()).update(counts)
    return out
