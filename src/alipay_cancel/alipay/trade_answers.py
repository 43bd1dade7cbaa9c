"""How each trade operation reads a verified, fresh success: which fields it keeps (with their caps),
how the answer is bound to the request (``success_checks``), and which typed success it becomes.

Each reader is built per call from what was sent. A field that fails its cap is MALFORMED; an answer
for another trade or naming none of our ids is NOT_OUR_ANSWER; both are retried, never a success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alipay_cancel.alipay.amounts import amount_as_cents
from alipay_cancel.alipay.responses import (
    CancelSuccess,
    CloseSuccess,
    FailureKind,
    QuerySuccess,
    RefundQuerySuccess,
    RefundStatus,
    RefundSuccess,
    TradeStatus,
)
from alipay_cancel.alipay.success_checks import (
    ACTIONS,
    CANCEL_FIELDS,
    FLAG,
    ID,
    TIME,
    AnswerMeta,
    Problem,
    TextField,
    amount_problem,
    binding_problem,
    contradiction_problem,
    text_problem,
)
from alipay_cancel.alipay.trade_ref import TradeRef

_IDS = {"out_trade_no": ID, "trade_no": ID}
QUERY_TEXT = {**_IDS, "trade_status": TextField(32), "send_pay_date": TIME}
QUERY_AMOUNTS = ("total_amount", "buyer_pay_amount", "receipt_amount")
REFUND_TEXT = {**_IDS, "fund_change": FLAG, "gmt_refund_pay": TIME}
REFUND_AMOUNTS = ("refund_fee", "send_back_fee")
REFUND_QUERY_TEXT = {**_IDS, "out_request_no": ID, "refund_status": TextField(32), "gmt_refund_pay": TIME}
REFUND_QUERY_AMOUNTS = ("refund_amount", "total_amount")


def _malformed(meta: AnswerMeta, problem: str) -> Problem:
    return Problem(FailureKind.MALFORMED, f"HTTP {meta.http_status}: {problem}")


def _not_ours(meta: AnswerMeta, problem: str) -> Problem:
    return Problem(FailureKind.NOT_OUR_ANSWER, f"HTTP {meta.http_status}: {problem}")


Values = dict[str, str | None]


def _fields(
    payload: Mapping[str, Any], text: Mapping[str, TextField], amounts: tuple[str, ...]
) -> tuple[str | None, Values]:
    problem, values = text_problem(payload, text)
    if problem is None:
        problem, money = amount_problem(payload, amounts)
        values.update(money)
    return problem, values


@dataclass(frozen=True)
class SentIds:
    """The trade ids a request sent (None: not sent)."""

    trade_no: str | None
    out_trade_no: str | None

    @classmethod
    def of(cls, ref: TradeRef) -> SentIds:
        return cls(ref.trade_no or None, ref.out_trade_no or None)

    def read(
        self,
        payload: Mapping[str, Any],
        meta: AnswerMeta,
        text: Mapping[str, TextField],
        amounts: tuple[str, ...],
        verb: str,
        check: Callable[[Values], str | None] = lambda values: None,
    ) -> Values | Problem:
        """The fields, sane (``text``, ``amounts`` and the operation's own ``check``) and naming our
        ids (``verb``: what we did to the trade, for the message); else why not."""
        problem, values = _fields(payload, text, amounts)
        problem = problem or check(values)
        if problem is not None:
            return _malformed(meta, problem)
        problem = binding_problem(values, self.trade_no, self.out_trade_no, verb)
        return _not_ours(meta, problem) if problem is not None else values


def _cancel_check(values: Values) -> str | None:
    if values["action"] not in (None, *ACTIONS):
        return "success field action is neither close nor refund"
    return None


def _query_check(values: Values) -> str | None:
    if (values["trade_status"] or "") not in TradeStatus.__members__:
        # Absent or a value Alipay does not document: acting on a guess could move money.
        return "success field trade_status is not one of Alipay's four trade states"
    return None


def _refund_check(values: Values) -> str | None:
    fund_change, refund_fee = values["fund_change"], values["refund_fee"]
    if fund_change not in (None, "Y", "N"):
        return "success field fund_change is neither Y nor N"
    if refund_fee is None:
        return "success field refund_fee (refunded so far) is missing"
    if fund_change == "Y" and amount_as_cents(refund_fee) == 0:
        return "success says money moved (fund_change Y) but refund_fee is 0.00"
    return None


@dataclass(frozen=True)
class CancelReader:
    sent: SentIds
    envelope_key: str = "alipay_trade_cancel_response"

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> CancelSuccess | Problem:
        values = self.sent.read(payload, meta, CANCEL_FIELDS, (), "cancelled", _cancel_check)
        if isinstance(values, Problem):
            return values
        return CancelSuccess(
            action=values["action"],
            gmt_refund_pay=values["gmt_refund_pay"],
            out_trade_no=values["out_trade_no"],
            refund_settlement_id=values["refund_settlement_id"],
            retry_flag=values["retry_flag"],
            trade_no=values["trade_no"],
            **meta._asdict(),
        )


@dataclass(frozen=True)
class QueryReader:
    sent: SentIds
    envelope_key: str = "alipay_trade_query_response"

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> QuerySuccess | Problem:
        values = self.sent.read(payload, meta, QUERY_TEXT, QUERY_AMOUNTS, "queried", _query_check)
        if isinstance(values, Problem):
            return values
        return QuerySuccess(
            trade_status=TradeStatus(str(values["trade_status"])),
            out_trade_no=values["out_trade_no"],
            trade_no=values["trade_no"],
            total_amount=values["total_amount"],
            buyer_pay_amount=values["buyer_pay_amount"],
            receipt_amount=values["receipt_amount"],
            send_pay_date=values["send_pay_date"],
            **meta._asdict(),
        )


@dataclass(frozen=True)
class CloseReader:
    sent: SentIds
    envelope_key: str = "alipay_trade_close_response"

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> CloseSuccess | Problem:
        values = self.sent.read(payload, meta, _IDS, (), "closed")
        if isinstance(values, Problem):
            return values
        return CloseSuccess(
            out_trade_no=values["out_trade_no"], trade_no=values["trade_no"], **meta._asdict()
        )


@dataclass(frozen=True)
class RefundReader:
    sent: SentIds
    envelope_key: str = "alipay_trade_refund_response"

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> RefundSuccess | Problem:
        values = self.sent.read(payload, meta, REFUND_TEXT, REFUND_AMOUNTS, "refunded", _refund_check)
        if isinstance(values, Problem):
            return values
        return RefundSuccess(
            fund_change=values["fund_change"],
            refund_fee=str(values["refund_fee"]),
            out_trade_no=values["out_trade_no"],
            trade_no=values["trade_no"],
            gmt_refund_pay=values["gmt_refund_pay"],
            send_back_fee=values["send_back_fee"],
            **meta._asdict(),
        )


@dataclass(frozen=True)
class RefundQueryReader:
    """``REFUND_SUCCESS`` must name our ``out_request_no`` and one of our trade ids, with the amount.
    An answer without ``refund_status`` is ``NOT_REFUNDED`` (Alipay: not received, or failed) as long
    as nothing in it contradicts our request: Alipay's "no such refund" may carry only the ids or
    nothing at all (unconfirmed), and believing it wrongly costs only a repeat of the same refund,
    which cannot move money twice."""

    sent: SentIds
    out_request_no: str
    envelope_key: str = "alipay_trade_fastpay_refund_query_response"

    def read(self, payload: Mapping[str, Any], meta: AnswerMeta) -> RefundQuerySuccess | Problem:
        if payload.get("refund_status") in (None, ""):
            return self._not_refunded(payload, meta)
        values = self.sent.read(
            payload, meta, REFUND_QUERY_TEXT, REFUND_QUERY_AMOUNTS, "queried", self._check
        )
        if isinstance(values, Problem):
            return values
        if values["out_request_no"] != self.out_request_no:
            return _not_ours(meta, "signed REFUND_SUCCESS does not name the out_request_no we queried")
        return self._success(RefundStatus.REFUND_SUCCESS, values, meta)

    def _check(self, values: Values) -> str | None:
        if values["refund_status"] != RefundStatus.REFUND_SUCCESS.value:
            return "success field refund_status is not REFUND_SUCCESS (nor absent)"
        if values["refund_amount"] is None:
            return "signed REFUND_SUCCESS has no refund_amount"
        return None

    def _not_refunded(self, payload: Mapping[str, Any], meta: AnswerMeta) -> RefundQuerySuccess | Problem:
        problem, values = _fields(payload, REFUND_QUERY_TEXT, REFUND_QUERY_AMOUNTS)
        if problem is not None:
            return _malformed(meta, problem)
        echoed = values["out_request_no"]
        if echoed is not None and echoed != self.out_request_no:
            return _not_ours(meta, "signed answer names a different out_request_no than the one queried")
        problem = contradiction_problem(values, self.sent.trade_no, self.sent.out_trade_no, "queried")
        if problem is not None:
            return _not_ours(meta, problem)
        return self._success(RefundStatus.NOT_REFUNDED, values, meta)

    @staticmethod
    def _success(status: RefundStatus, values: Values, meta: AnswerMeta) -> RefundQuerySuccess:
        return RefundQuerySuccess(
            refund_status=status,
            out_request_no=values["out_request_no"],
            refund_amount=values["refund_amount"],
            total_amount=values["total_amount"],
            out_trade_no=values["out_trade_no"],
            trade_no=values["trade_no"],
            gmt_refund_pay=values["gmt_refund_pay"],
            **meta._asdict(),
        )
