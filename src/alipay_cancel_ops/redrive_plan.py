"""Which dead letters a redrive moves, decided before anything moves, and how that is shown.

A dead letter whose own reason says a redrive cannot succeed stays unless the operator asks for it
explicitly (``--include-unredrivable``, or ``--outcome-class`` naming its class): replaying it calls
Alipay again for the same answer, or fails the same way, and dead-letters it a second time.

- ``bad_message``: the body itself is wrong; the same body fails the same way.
- ``terminal``: Alipay's final answer for this trade; only a remedy that says to redrive the dead
  letter (e.g. a frozen trade once Alipay released it) makes it redrivable.
  An earlier release's terminal letter for a code cancel cannot settle but the settle flow can
  (``ACQ.TRADE_CANCEL_TIME_OUT`` and the like, ``SETTLE_CODES``; no ``alipay_facts``) is redrivable:
  replayed, the trade is queried and closed, refunded or kept (docs/upgrading.md).
- anything else (``exhausted``; ``none``: moved by the queue, no attributes): redrivable once the
  cause is fixed, unless its reason says otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from alipay_cancel.decisions.operation_codes import SETTLE_CODES
from alipay_cancel.shared.ledger_item import Op
from alipay_cancel_ops.cli_support import table_lines
from alipay_cancel_ops.queues import DeadLetterView

_CANNOT = ("cannot succeed", "rather than redriving", "reuses the bad token", "would fail the same way")
_INVITES_REDRIVE = "redrive the dead letter"


def redrive_blocker(letter: DeadLetterView) -> str | None:
    """Why redriving this dead letter cannot succeed, or None when it can (after the cause is fixed)."""
    reason = " ".join((letter.attributes.get("reason") or "").split()).lower()
    outcome = letter.outcome_class
    if outcome == "bad_message":
        return "a bad message: the same body fails the same way"
    if outcome == "terminal" and _left_by_an_earlier_release_for_the_settle_flow(letter.attributes):
        return None  # its reason said it cannot succeed: true then, not since the settle flow
    if any(marker in reason for marker in _CANNOT):
        return "its reason says a redrive cannot succeed"
    if outcome == "terminal" and _INVITES_REDRIVE not in reason:
        return "Alipay's answer is final for this trade (terminal)"
    return None


def _left_by_an_earlier_release_for_the_settle_flow(attributes: dict[str, str]) -> bool:
    """Cancel's code says the settle flow settles the trade, and the letter carries no ``alipay_facts``:
    earlier releases wrote none, the settle flow writes what its query learned (so a letter of today's
    flow naming such a code, e.g. a refund refused for a trade refunded in part, is not taken for one)."""
    codes = {attributes.get("error_code"), attributes.get("error_sub_code")}
    return "alipay_facts" not in attributes and not codes.isdisjoint(SETTLE_CODES[Op.CANCEL])


@dataclass
class RedrivePlan:
    looked_at: int = 0
    selected: list[DeadLetterView] = field(default_factory=list)
    unredrivable: list[tuple[DeadLetterView, str]] = field(default_factory=list)  # left, and why
    not_matching: int = 0  # left: outside the --trade-key / --outcome-class filters

    @property
    def selected_ids(self) -> frozenset[str]:
        return frozenset(letter.message_id for letter in self.selected)


def plan_redrive(
    letters: Iterable[DeadLetterView],
    *,
    trade_keys: frozenset[str] = frozenset(),
    outcome_classes: frozenset[str] = frozenset(),
    include_unredrivable: bool = False,
) -> RedrivePlan:
    """Every dead letter looked at is selected, left as unredrivable, or left as not matching."""
    plan = RedrivePlan()
    for letter in letters:
        plan.looked_at += 1
        if trade_keys and letter.trade_key not in trade_keys:
            plan.not_matching += 1
            continue
        if outcome_classes and letter.outcome_class not in outcome_classes:
            plan.not_matching += 1
            continue
        blocker = redrive_blocker(letter)
        # Naming the class is asking for it explicitly.
        if blocker is None or include_unredrivable or letter.outcome_class in outcome_classes:
            plan.selected.append(letter)
        else:
            plan.unredrivable.append((letter, blocker))
    return plan


def render_plan(plan: RedrivePlan, dead_letter_queue: str, *, verb: str = "redrive") -> list[str]:
    """The counts by outcome class, then each dead letter that stays behind and why."""
    found: Counter[str] = Counter()
    chosen: Counter[str] = Counter(letter.outcome_class for letter in plan.selected)
    left: Counter[str] = Counter(letter.outcome_class for letter, _ in plan.unredrivable)
    found.update(chosen)
    found.update(left)
    lines = [
        f"Dead letters in {dead_letter_queue}: looked at {plan.looked_at}, "
        f"{plan.not_matching} outside the filters"
    ]
    rows = [("outcome_class", "matching", verb, "leave (cannot succeed)")]
    rows += [(name, str(found[name]), str(chosen[name]), str(left[name])) for name in sorted(found)]
    rows.append(("total", str(sum(found.values())), str(len(plan.selected)), str(len(plan.unredrivable))))
    lines += table_lines(rows)
    if plan.unredrivable:
        lines.append(
            f"Left in the dead-letter queue ({len(plan.unredrivable)}): a redrive cannot succeed. To redrive "
            "them anyway: --include-unredrivable, or --outcome-class naming their class."
        )
        lines += [
            f"  - {letter.message_id} trade_key={letter.trade_key or '-'} {letter.outcome_class}: {why}"
            for letter, why in plan.unredrivable
        ]
    return lines
