"""The invariants a chaos run must hold, each checked on the run's end state and its evidence.

Inputs: what was enqueued, the end state (results table, dead letters, emulator trades and counts:
``local.accounting.messages.Snapshot``), the wire tap's record of every Alipay exchange, the captured
function log, and what the run knows about its own plan (seeded/unknown trades, key rotation times).

Each check returns ``(name, violations, facts)``: violations are sentences naming the message/trade;
facts are numbers for the summary.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.accounting.messages import Enqueued, Snapshot, account
from local.accounting.outcome_labels import RETRYING, SETTLED_STATUSES
from local.chaos.aws_faults import FailedCall
from local.chaos.wiretap import NOT_SENT, Exchange

PEM_PRIVATE_MARKER = re.compile(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----")
MAX_LISTED = 25  # violations listed per check (all are counted)


@dataclass
class CheckResult:
    name: str
    violations: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def iso_to_epoch(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def trade_of(snapshot: Snapshot, key: str) -> Mapping[str, Any] | None:
    trade = snapshot.trades.get(key)
    if trade is not None:
        return trade
    key = key.split(" ")[-1]  # a results key scoped by merchant ("merchant:M <id>"): the id
    return next(
        (t for t in snapshot.trades.values() if key in (t.get("trade_no"), t.get("out_trade_no"))), None
    )


def record_ids(key: str, record: Mapping[str, Any]) -> set[str]:
    return {str(v) for v in (key, record.get("out_trade_no"), record.get("trade_no")) if v}


def exchanges_by_id(exchanges: Iterable[Exchange]) -> dict[str, list[Exchange]]:
    by_id: dict[str, list[Exchange]] = defaultdict(list)
    for ex in exchanges:
        for ident in ex.trade_ids:
            by_id[ident].append(ex)
    return by_id


# --- 1. every message accounted for -------------------------------------------------------------


def receipts_hit_by_aws_faults(failed_calls: Iterable[FailedCall]) -> dict[str, set[int]]:
    """message id -> the receive counts during which an injected AWS error reached the function
    (the injector's own record, with the message id and receive count the function was logging)."""
    hit: dict[str, set[int]] = defaultdict(set)
    for call in failed_calls:
        message_id, receive = call.context.get("message_id"), call.context.get("receive_count")
        if isinstance(message_id, str) and isinstance(receive, int):
            hit[message_id].add(receive)
    return dict(hit)


def check_accounted(
    enqueued: Sequence[Enqueued],
    snapshot: Snapshot,
    bad_message_ids: set[str],
    aws_fault_receipts: Mapping[str, Collection[int]] | None = None,
    crash_redriven: Collection[str] = (),
) -> CheckResult:
    """local.accounting.messages's rules (a final ledger state and/or a dead letter with a reason; dead
    letters byte for byte; no RETRYING left), plus: every bad message was dead-lettered by the
    function itself on its first receipt, with a reason and outcome_class bad_message.

    A bad message dead-lettered on receipt N > 1 is fine only if every earlier receipt was hit by an
    injected AWS error or a crash of its environment (``aws_fault_receipts``: message id -> receive
    counts), e.g. the dead-letter
    send or the bad_message record write failed, so the message was rightly retried."""
    result = CheckResult("every message accounted for")
    accounting = account(enqueued, snapshot, crash_redriven)
    result.violations += accounting.violations
    letters_by_source = {d.source_message_id: d for d in snapshot.dead_letters if d.source_message_id}
    faulted = aws_fault_receipts or {}
    first_receipt = 0
    after_aws_faults = 0
    for m in enqueued:
        if m.message_id not in bad_message_ids:
            continue
        letter = letters_by_source.get(m.message_id)
        if letter is None:
            result.violations.append(
                f"bad message {m.message_id} ({m.scenario}) has no dead letter from the function"
            )
            continue
        if letter.attributes.get("outcome_class") != "bad_message":
            result.violations.append(
                f"bad message {m.message_id} ({m.scenario}) dead-lettered as "
                f"{letter.attributes.get('outcome_class')!r}, not bad_message"
            )
        attempts = letter.attributes.get("attempts")
        if attempts == "1":
            first_receipt += 1
            continue
        earlier = set(range(1, int(attempts))) if attempts and attempts.isdigit() else set()
        unexplained = sorted(earlier - set(faulted.get(m.message_id, ())))
        if earlier and not unexplained:
            after_aws_faults += 1
            continue
        result.violations.append(
            f"bad message {m.message_id} ({m.scenario}) dead-lettered on receipt {attempts}, not the "
            f"first"
            + (f"; no injected AWS failure or crash hit receipt(s) {unexplained}" if unexplained else "")
        )
    labels = Counter(o.label for o in accounting.outcomes)
    result.facts = {
        "messages": len(enqueued),
        "accounted": sum(1 for o in accounting.outcomes if o.accounted),
        "bad messages dead-lettered on first receipt": f"{first_receipt}/{len(bad_message_ids)}",
        "bad messages dead-lettered later, every earlier receipt hit by an injected AWS failure or a crash": (
            after_aws_faults
        ),
        "outcomes by message": dict(sorted(labels.items())),
        "moved by the queue's redrive after a crash or AWS failure on the last allowed receive": sum(
            1 for d in snapshot.dead_letters if not d.reason.strip() and d.message_id in crash_redriven
        ),
    }
    return result


# --- 2. settled trades, money, and dead letters: local/chaos/settle_checks.py ------------------


# --- 3. nothing sent after a recorded settlement -----------------------------------------------


def check_no_cancel_after_success(
    snapshot: Snapshot, exchanges: Sequence[Exchange], slack_seconds: float = 0.001
) -> CheckResult:
    """For every settled item, no request naming that trade reached Alipay after the state was written
    (``finished_at``, ms precision, same clock as the wire tap). Also: the wire tap saw exactly the
    requests the emulator counted for each trade, so the evidence is complete."""
    result = CheckResult("no Alipay call after a final success")
    by_id = exchanges_by_id(exchanges)
    later_total = 0
    for key, record in snapshot.results.items():
        if record.get("status") not in SETTLED_STATUSES or not record.get("finished_at"):
            continue
        written = iso_to_epoch(str(record["finished_at"]))
        seen: dict[int, Exchange] = {}
        for ident in record_ids(key, record):
            for ex in by_id.get(ident, []):
                seen[ex.seq] = ex
        later = [ex for ex in seen.values() if ex.received_at > written + slack_seconds]
        if later:
            later_total += len(later)
            first = min(later, key=lambda e: e.received_at)
            result.violations.append(
                f"trade {key}: {len(later)} request(s) after it was settled "
                f"(first {first.received_at - written:.3f}s later)"
            )
    # Completeness: per trade, wire-tap requests == emulator requests (it counts rejected ones too).
    per_trade: Mapping[str, Mapping[str, int]] = snapshot.counts.get("per_trade", {})
    mismatched = 0
    for key, counts in per_trade.items():
        trade = snapshot.trades.get(key) or {}
        ids = {str(i) for i in (key, trade.get("trade_no"), trade.get("out_trade_no")) if i}
        on_wire = {
            ex.seq for i in ids for ex in by_id.get(i, []) if not (ex.failure or "").startswith(NOT_SENT)
        }
        if len(on_wire) != int(counts.get("requests", 0)):
            mismatched += 1
            if mismatched <= MAX_LISTED:
                result.violations.append(
                    f"trade {key}: the emulator counted {counts.get('requests')} requests, the wire tap "
                    f"saw {len(on_wire)} (evidence incomplete)"
                )
    total_wire = sum(1 for ex in exchanges if not (ex.failure or "").startswith(NOT_SENT))
    if total_wire != int(snapshot.counts.get("total_requests", -1)):
        result.violations.append(
            f"the emulator counted {snapshot.counts.get('total_requests')} cancel requests in all, the wire "
            f"tap saw {total_wire}"
        )
    result.facts = {
        "requests after a settled state was written": later_total,
        "trades whose request count differs between emulator and wire tap": mismatched,
        "cancel requests on the wire": total_wire,
    }
    return result


# --- 4. nothing left in flight ------------------------------------------------------------------


def check_drained(
    drained: bool, snapshot: Snapshot, crash_redriven_keys: Collection[str] = ()
) -> CheckResult:
    """``crash_redriven_keys``: trades whose message the queue's redrive moved after its last allowed
    delivery died with its environment: their item stays as that delivery left it (on AWS too);
    counted, not a violation."""
    result = CheckResult("every RETRYING trade finished when the queue drained")
    if not drained:
        result.violations.append("the queue did not drain before the deadline")
    all_retrying = [k for k, r in snapshot.results.items() if r.get("status") == RETRYING]
    retrying = [k for k in all_retrying if k not in crash_redriven_keys]
    for key in retrying[:MAX_LISTED]:
        result.violations.append(f"trade {key} is still RETRYING")
    if len(retrying) > MAX_LISTED:
        result.violations.append(f"... and {len(retrying) - MAX_LISTED} more RETRYING trades")
    result.facts = {
        "RETRYING trades left": len(retrying),
        "RETRYING after a crash on the last allowed receive (message redriven by the queue)": (
            len(all_retrying) - len(retrying)
        ),
    }
    return result


# --- 4b. the ledger's own invariants ------------------------------------------------------------


def check_ledger(
    snapshot: Snapshot,
    exchanges: Sequence[Exchange],
    *,
    now: float,
    call_limit_seconds: float,
    crash_redriven_keys: Collection[str] = (),
) -> CheckResult:
    """The ledger's invariants, item by item:

    - every counted call is in the history or is the one pending:
      ``len(history) + history_dropped + (1 if pending) == attempts``;
    - the calls the ledger counts are the calls Alipay saw, up to the ones that may never have reached
      it: a holder that died between its claim (or step) and the send leaves its call pending, and the
      next delivery records it as ``unknown``; a call that came back with no answer at all (an
      ``error`` without a trace id: a connection that could not be made, on a loaded machine a connect
      timeout, or a read timeout) may or may not have reached Alipay. So, per trade,
      ``seen <= attempts <= seen + unknown + unanswered``, where ``unknown`` counts the history's
      unknown entries and a pending call left behind; and ``attempts == seen`` whenever there is no
      such call at all;
    - at most one live lease per trade: no two of a trade's calls were ever in flight at once for their
      holders (a call is over for its holder when the answer came back, or at the client's own bound,
      ``call_limit_seconds``, after which it gives up), and none is left live at the end;
    - a pending call left behind only where no delivery was left to resume it (the message was
      redriven by the queue after its last allowed delivery died)."""
    result = CheckResult("the ledger's invariants hold")
    per_trade: Mapping[str, Mapping[str, int]] = snapshot.counts.get("per_trade", {})
    ids_owned: Counter[str] = Counter(key.split(" ")[-1] for key in snapshot.results)
    exact = bounded = not_comparable = unknown_calls = 0
    for key, record in snapshot.results.items():
        history = record.get("history") or []
        dropped = int(record.get("history_dropped") or 0)
        pending = 1 if record.get("pending") else 0
        attempts = int(record.get("attempts") or 0)
        if len(history) + dropped + pending != attempts:
            result.violations.append(
                f"trade {key}: {len(history)} history entries, {dropped} dropped and {pending} pending, "
                f"but {attempts} calls counted"
            )
        until = record.get("lease_until")
        if record.get("lease_holder") and isinstance(until, int) and until >= now * 1000:
            result.violations.append(f"trade {key}: a lease still live after the run (until {until})")
        if pending and key not in crash_redriven_keys:
            result.violations.append(f"trade {key}: a call left pending that no later delivery resumed")
        unknown = sum(1 for h in history if h.get("result") == "unknown") + pending
        unanswered = sum(1 for h in history if h.get("result") == "error" and not h.get("trace_id"))
        unknown_calls += unknown
        label = key if key in per_trade else key.split(" ")[-1]
        if label not in per_trade or (label != key and ids_owned[label] > 1):
            not_comparable += 1  # the emulator scopes this trade otherwise (another merchant shares its id)
            continue
        seen = int(per_trade[label].get("requests", 0))
        maybe_unsent = unknown + unanswered
        if not seen <= attempts <= seen + maybe_unsent or (maybe_unsent == 0 and attempts != seen):
            result.violations.append(
                f"trade {key}: the ledger counts {attempts} calls ({unknown} unknown, {unanswered} without "
                f"an answer), Alipay saw {seen}"
            )
        elif attempts == seen:
            exact += 1
        else:
            bounded += 1
    overlaps = _overlapping_calls(exchanges, ids_owned, call_limit_seconds)
    result.violations += overlaps[:MAX_LISTED]
    result.facts = {
        "trades whose counted calls equal the calls Alipay saw": exact,
        "trades with calls counted that may not have reached Alipay (a holder died before the send, or "
        "no answer came back)": bounded,
        "calls recorded as sent with the answer unknown (resumed), or left pending": unknown_calls,
        "trades the emulator scopes otherwise (not compared)": not_comparable,
        "calls of one trade in flight at once for their holders (two live leases)": len(overlaps),
    }
    return result


def _overlapping_calls(
    exchanges: Sequence[Exchange], ids_owned: Mapping[str, int], call_limit_seconds: float
) -> list[str]:
    """Two calls for one trade in flight at once for their holders: the later one reached the wire tap
    before the earlier one was over (answered, or given up by the client at its bound). Ids several
    trades share (merchants' own out_trade_no) are left out: the tap cannot tell their scopes apart."""
    found = []
    for ident, calls in exchanges_by_id(exchanges).items():
        if ids_owned.get(ident, 0) > 1 or ident.startswith("PROBE"):
            continue
        sent = sorted(
            (ex for ex in calls if not (ex.failure or "").startswith(NOT_SENT)), key=lambda e: e.received_at
        )
        for earlier, later in itertools.pairwise(sent):
            over = earlier.received_at + call_limit_seconds
            if earlier.answered_at is not None:
                over = min(over, earlier.answered_at)
            if later.received_at < over:
                found.append(
                    f"trade {ident}: a call reached Alipay {over - later.received_at:.3f}s before the "
                    "previous one was over"
                )
    return found


# --- 5. no secrets in logs, records or dead-letter attributes -----------------------------------


def watched_fragments(secrets: Iterable[str]) -> set[str]:
    """PEM blocks line by line (any 40+ char base64 line of the body is distinctive) and the base64
    body as one line; other values whole (if 8+ characters)."""
    out: set[str] = set()
    for value in secrets:
        if not value:
            continue
        if "-----BEGIN" in value:
            lines = [ln.strip() for ln in value.splitlines() if ln.strip() and not ln.startswith("-----")]
            out.update(ln for ln in lines if len(ln) >= 40)
            out.add("".join(lines))
        elif len(value) >= 8:
            out.add(value)
    return out


def find_secrets(texts: Iterable[tuple[str, str]], fragments: set[str]) -> list[str]:
    """``texts``: (where, text). Descriptions of every place a fragment or a PEM private-key marker
    shows up (never the fragment itself)."""
    found = []
    for where, text in texts:
        variants = {text, text.replace("\\n", "\n").replace("\\/", "/")}
        if any(PEM_PRIVATE_MARKER.search(v) for v in variants):
            found.append(f"{where}: a PEM private key marker")
            continue
        for fragment in fragments:
            if any(fragment in v for v in variants):
                found.append(f"{where}: a watched secret ({len(fragment)} chars)")
                break
    return found


def check_no_secrets(
    log_lines: Sequence[str], snapshot: Snapshot, secrets: Iterable[str], tokens: Iterable[str]
) -> CheckResult:
    result = CheckResult("no key material or token in logs, records or dead-letter attributes")
    fragments = watched_fragments([*secrets, *tokens])
    texts: list[tuple[str, str]] = [(f"log line {i + 1}", line) for i, line in enumerate(log_lines)]
    texts += [(f"results record {k}", json.dumps(r, default=str)) for k, r in snapshot.results.items()]
    # Dead-letter bodies are the original messages byte for byte (they may carry the message's own
    # token by design); their attributes are the function's words and must not.
    texts += [
        (f"dead letter {d.message_id} attributes", json.dumps(dict(d.attributes)))
        for d in snapshot.dead_letters
    ]
    found = find_secrets(texts, fragments)
    result.violations += found[:MAX_LISTED]
    if len(found) > MAX_LISTED:
        result.violations.append(f"... and {len(found) - MAX_LISTED} more")
    result.facts = {
        "log lines scanned": len(log_lines),
        "records scanned": len(snapshot.results),
        "dead letters scanned": len(snapshot.dead_letters),
        "secret fragments watched": len(fragments),
    }
    return result


# --- 6. key rotation ----------------------------------------------------------------------------


def check_rotation(
    exchanges: Sequence[Exchange],
    rotated_at: float | None,
    retire_at: float | None,
    probes: Mapping[str, str],
    margin: float = 0.5,
) -> CheckResult:
    """Requests signed with the old app key are accepted until the grace period ends and refused
    (401 invalid-signature) after it; requests signed with the new key are never refused for their
    signature; the function did move to the new key. ``probes``: what one cancel signed with each
    key got after the grace ('accepted' / 'refused: ...'): old refused, new accepted."""
    result = CheckResult("app key rotation with grace")
    if rotated_at is None or retire_at is None:
        result.violations.append("the app key was never rotated")
        return result
    if "invalid-signature" not in probes.get("old", ""):
        result.violations.append(
            f"a cancel signed with the retired key after the grace got {probes.get('old')!r}"
        )
    if probes.get("new") != "accepted":
        result.violations.append(
            f"a cancel signed with the new key after the grace got {probes.get('new')!r}"
        )
    exchanges = [ex for ex in exchanges if not any(i.startswith("PROBE") for i in ex.trade_ids)]
    old_after = [ex for ex in exchanges if ex.signer == "old" and ex.received_at > retire_at + margin]
    # Accepted: the emulator answered, and not with the signature refusal (it checks the signature before
    # anything else). No answer at all (the caller killed, or the tap's wait for the emulator ended on a
    # loaded machine) says nothing either way.
    old_after_accepted = [
        ex
        for ex in old_after
        if ex.status is not None and not (ex.status == 401 and ex.code == "invalid-signature")
    ]
    old_in_grace = [
        ex for ex in exchanges if ex.signer == "old" and rotated_at <= ex.received_at < retire_at - margin
    ]
    old_in_grace_refused = [ex for ex in old_in_grace if ex.status == 401 and ex.code == "invalid-signature"]
    new = [ex for ex in exchanges if ex.signer == "new"]
    new_refused = [ex for ex in new if ex.status == 401 and ex.code == "invalid-signature"]
    # A request cut short by a killed caller never reached the emulator: its signature is moot.
    unsigned = [ex for ex in exchanges if ex.signer == "" and not (ex.failure or "").startswith(NOT_SENT)]
    if old_after_accepted:
        result.violations.append(
            f"{len(old_after_accepted)} requests signed with the retired key were accepted: "
            + "; ".join(
                f"#{ex.seq} {ex.op} {ex.received_at - retire_at:.2f}s after, HTTP {ex.status} {ex.code or ''}"
                for ex in old_after_accepted[:MAX_LISTED]
            )
        )
    if old_in_grace_refused:
        result.violations.append(
            f"{len(old_in_grace_refused)} old-key requests were refused during the grace period"
        )
    if new_refused:
        result.violations.append(f"{len(new_refused)} requests signed with the new key were refused")
    if not new:
        result.violations.append("the function never signed with the new key")
    if unsigned:
        result.violations.append(f"{len(unsigned)} requests carried no signature from either app key")
    result.facts = {
        "requests signed with the old key during the grace period": len(old_in_grace),
        "requests signed with the old key after it retired (all refused)": len(old_after),
        "requests signed with the new key": len(new),
        "new-key requests after the grace period": sum(1 for ex in new if ex.received_at > retire_at),
    }
    return result
