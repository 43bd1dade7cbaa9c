"""One SQS record through the pipeline: parse, idempotent cancel, classify, route (DESIGN.md "Outcomes").

Decisions come from ``outcomes.classify`` and ``retry_policy``; this module only carries them out.
A record is acknowledged (``handle`` returns) only when everything it needs is durably done: its
results item written and, when it needs one, its dead letter sent. Otherwise ``handle`` raises and the
batch processor reports it in ``batchItemFailures``: nothing is lost.

The last allowed receive is different: failing it there would let the queue's redrive policy move the
message to the dead-letter queue with no reason. So on that receive an AWS failure (idempotency store,
results write) still ends in a dead letter whose reason says what failed and what to do, and the message
is acknowledged once that dead letter is sent. Only if the dead letter cannot be sent either is the
message left to the redrive.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from dataclasses import dataclass, replace

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from alipay_cancel import observability as obs
from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.responses import AlipayFailure, CancelOutcome, CancelSuccess
from alipay_cancel.config import Config
from alipay_cancel.decisions.classification import Decision, OutcomeClass, RetryDelay, classify
from alipay_cancel.decisions.retry_policy import is_last_attempt, visibility_timeout
from alipay_cancel.pipeline.messages import BadMessage, CancelRequest, parse_message
from alipay_cancel.signing.registry import SigningRegistry
from alipay_cancel.signing.secret import SecretUnavailable
from alipay_cancel.stores.dead_letters import DeadLetter, DeadLetterSender
from alipay_cancel.stores.idempotency import (
    CancelNotSucceeded,
    IdempotencyStoreFailed,
    IdempotentCanceller,
    IdempotentResult,
)
from alipay_cancel.stores.results import ResultRecord, ResultsStore, Status
from alipay_cancel.stores.visibility import VisibilityScheduler

logger = obs.logger

SIGNING_SETUP_REMEDY = (
    "Fix the signing secret (ALIPAY_SECRET_ID): it must be readable by the function and hold the JSON "
    "fields app_id, private_key and alipay_public_key (or the three certificates). Messages are retried."
)
BAD_MESSAGE_REMEDY = (
    "Fix the producer; if the payment still needs cancelling, send a corrected message "
    "(redriving this one unchanged would fail the same way)."
)

IDEMPOTENCY_STORE_REMEDY = (
    "Check the idempotency table (IDEMPOTENCY_TABLE_NAME: throttling, capacity, permissions), then redrive "
    "this dead letter: Alipay is called again."
)
REPEATED_CANCEL = (
    "It answers a repeated cancel of a cancelled payment with the same success, which is then recorded."
)
# For a success that could not be recorded: the idempotency store remembers it, so a redrive replays it.
REPLAYED_SUCCESS_REDRIVE = (
    "Check the trade's result record; if it is not SUCCEEDED, redrive this dead letter: the remembered "
    "success is recorded without calling Alipay again."
)

LOW_TIME_REMEDY = (
    "Nothing is wrong with the message. If this repeats, the function's Timeout is too short for "
    "ALIPAY_CONNECT_TIMEOUT_SECONDS + ALIPAY_READ_TIMEOUT_SECONDS, or batches wait too long for a worker "
    "(raise MAX_CONCURRENCY or lower the batch size). Redrive this dead letter."
)
# Kept free after an Alipay call for what follows it: the results write, a dead letter or visibility
# change, and the idempotency store's update, each a DynamoDB/SQS round trip with botocore's retries.
SAFETY_MARGIN_MS = 2000
# A record left untried for lack of time comes back this soon: nothing failed, so no backoff is due,
# but not at once either, so that a function whose timeout can never fit a call does not spin.
LOW_TIME_RETRY_SECONDS = 5

# What ``handle`` returns for a duplicate acknowledged while another delivery cancels the same trade.
DUPLICATE_IN_FLIGHT = "duplicate_in_flight"
DUPLICATE_IN_FLIGHT_REMEDY = (
    "Check the trade's result record: if it is SUCCEEDED there is nothing to do (a redrive would make no "
    "Alipay call); otherwise redrive this dead letter."
)


# The invocation's Lambda context, for the record being handled. A context variable, not an attribute:
# in-process drivers run several invocations at once on one service, and each record runs in its own
# copy of the context (concurrent_batch).
_lambda_context: contextvars.ContextVar[LambdaContext | None] = contextvars.ContextVar(
    "alipay_cancel_lambda_context", default=None
)


class RecordNotAcknowledged(Exception):
    """The record stays on the queue: it is reported in batchItemFailures and delivered again."""


@dataclass(frozen=True)
class _Received:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    def dead_letter(
        self,
        outcome_class: str,
        reason: str,
        trade_key: str | None,
        *,
        error_code: str | None = None,
        error_sub_code: str | None = None,
        alipay_trace_id: str | None = None,
    ) -> DeadLetter:
        """This delivery's dead letter: its body unchanged, its message id and receive count."""
        return DeadLetter(
            body=self.body,
            reason=reason,
            source_message_id=self.message_id,
            outcome_class=outcome_class,
            error_code=error_code,
            error_sub_code=error_sub_code,
            alipay_trace_id=alipay_trace_id,
            trade_key=trade_key,
            attempts=self.receive_count,
        )


class CancelService:
    def __init__(
        self,
        config: Config,
        *,
        results: ResultsStore,
        dead_letters: DeadLetterSender,
        visibility: VisibilityScheduler,
        signing: SigningRegistry,
        idempotency_dynamodb_client: object,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._results = results
        self._dead_letters = dead_letters
        self._visibility = visibility
        self._signing = signing  # per app: its secret and its client
        self._rng = rng or random.Random()  # jitter, not security
        self._rng_lock = threading.Lock()
        self._setup_problem: str | None = None
        # One Alipay call can take up to connect + read timeout; it is only started with that much time
        # left in the invocation, plus the margin for recording its outcome.
        self._call_budget_ms = int((config.connect_timeout + config.read_timeout) * 1000) + SAFETY_MARGIN_MS
        self._canceller = IdempotentCanceller(
            idempotency_dynamodb_client,
            config.idempotency_table,
            config.idempotency_expiry_seconds,
            self._attempt,
        )

    # ---- per invocation -------------------------------------------------------------------------

    def begin_invocation(self, context: LambdaContext) -> None:
        """Register the context (idempotency in-progress expiry) and make sure the signing material
        is usable. A problem with it does not raise: good records are then retried one by one (each
        counted in the ConfigurationError metric) while bad messages can still be dead-lettered."""
        self._signing.begin_invocation()
        self._canceller.register_lambda_context(context)
        try:
            self._signing.client(None)  # the default app; further apps are checked per record
        except (SecretUnavailable, ValueError) as problem:
            self._setup_problem = str(problem)
            logger.error("configuration error: signing setup unusable", extra={"problem": str(problem)})
        else:
            self._setup_problem = None

    # ---- per record -----------------------------------------------------------------------------

    def handle(self, record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
        """Returns the outcome class of an acknowledged record; raises to leave it on the queue.
        Powertools' batch processor passes ``lambda_context`` (it looks for the parameter's name)."""
        _lambda_context.set(lambda_context)
        logger.thread_safe_clear_keys()
        received = _Received(
            message_id=record.message_id,
            receipt_handle=record.receipt_handle,
            body=record.body,
            receive_count=_receive_count(record),
        )
        logger.thread_safe_append_keys(message_id=received.message_id, receive_count=received.receive_count)
        try:
            request = parse_message(received.body, default_app_id=self._signing.default_app_id)
        except BadMessage as bad:
            return self._bad_message(received, bad)
        logger.thread_safe_append_keys(trade_key=request.trade_key)

        setup_problem = self._signing_problem(request)
        if setup_problem is not None:
            return self._not_succeeded(received, request, None, setup_problem)
        remaining = self._remaining_ms()
        if remaining is not None and remaining < self._call_budget_ms:
            return self._too_little_time(received, request, remaining)
        try:
            result = self._canceller.cancel(request)
        except CancelNotSucceeded as failed:
            return self._not_succeeded(received, request, failed.outcome, failed.decision)
        except IdempotencyAlreadyInProgressError:
            return self._duplicate_in_flight(received, request)
        except IdempotencyStoreFailed as failed:
            return self._idempotency_store_failed(received, request, failed)
        return self._succeeded(received, request, result)

    # ---- routes ---------------------------------------------------------------------------------

    def _succeeded(self, received: _Received, request: CancelRequest, result: IdempotentResult) -> str:
        success = result.success
        if success.trace_id:
            logger.thread_safe_append_keys(alipay_trace_id=success.trace_id)
        action = success.action or "none"  # none: Alipay found no trade to close or refund
        record = ResultRecord(
            trade_key=request.trade_key,
            status=Status.SUCCEEDED,
            outcome_class=OutcomeClass.SUCCEEDED.value,
            message_id=received.message_id,
            count_attempt=not result.replayed,
            out_trade_no=success.out_trade_no or request.out_trade_no,
            trade_no=success.trade_no or request.trade_no,
            action=action,
            gmt_refund_pay=success.gmt_refund_pay,
            refund_settlement_id=success.refund_settlement_id,
            retry_flag=success.retry_flag,
            alipay_trace_id=success.trace_id,
        )
        # Sent only if the success cannot be recorded on the last allowed receive (_finish).
        letter = received.dead_letter(
            "exhausted",
            _sentence(f"Alipay cancelled the payment (action {action})", REPLAYED_SUCCESS_REDRIVE),
            request.trade_key,
            alipay_trace_id=success.trace_id,
        )
        if not self._finish(received, record, letter, send_letter=False):
            obs.count_outcome("exhausted")
            return "exhausted"
        obs.count_outcome(OutcomeClass.SUCCEEDED.value)
        logger.info("cancel succeeded", extra={"action": action, "replayed": result.replayed})
        return OutcomeClass.SUCCEEDED.value

    def _not_succeeded(
        self,
        received: _Received,
        request: CancelRequest,
        outcome: CancelOutcome | None,
        decision: Decision,
        *,
        count_attempt: bool = True,
    ) -> str:
        trace_id = outcome.trace_id if outcome is not None else None
        if trace_id:
            logger.thread_safe_append_keys(alipay_trace_id=trace_id)
        error_code = decision.code or (outcome.code if isinstance(outcome, AlipayFailure) else None)
        error_sub_code = decision.sub_code or (
            outcome.sub_code if isinstance(outcome, AlipayFailure) else None
        )
        alipay_fields = _alipay_fields(outcome, request)
        if decision.outcome is OutcomeClass.CONFIG_ERROR:
            obs.add_count(obs.CONFIGURATION_ERROR_METRIC)
            logger.error(
                "configuration error: the message will be retried",
                extra={"reason": decision.reason, "remedy": decision.remedy, "error_code": error_code},
            )

        def record(status: Status, outcome_class: str, message: str) -> ResultRecord:
            return ResultRecord(
                trade_key=request.trade_key,
                status=status,
                outcome_class=outcome_class,
                message_id=received.message_id,
                count_attempt=count_attempt,
                error_code=error_code,
                error_sub_code=error_sub_code,
                error_message=message,
                remedy=decision.remedy,
                alipay_trace_id=trace_id,
                out_trade_no=alipay_fields.get("out_trade_no"),
                trade_no=alipay_fields.get("trade_no"),
                action=alipay_fields.get("action"),
                gmt_refund_pay=alipay_fields.get("gmt_refund_pay"),
                refund_settlement_id=alipay_fields.get("refund_settlement_id"),
                retry_flag=alipay_fields.get("retry_flag"),
            )

        def dead_letter(outcome_class: str, reason: str) -> DeadLetter:
            return received.dead_letter(
                outcome_class,
                reason,
                request.trade_key,
                error_code=error_code,
                error_sub_code=error_sub_code,
                alipay_trace_id=trace_id,
            )

        if decision.outcome is OutcomeClass.TERMINAL:
            self._finish(
                received,
                record(Status.FAILED, OutcomeClass.TERMINAL.value, decision.reason),
                dead_letter(OutcomeClass.TERMINAL.value, _sentence(decision.reason, decision.remedy)),
            )
            obs.count_outcome(OutcomeClass.TERMINAL.value)
            logger.warning(
                "cancel failed for good; dead-lettered",
                extra={"reason": decision.reason, "error_code": error_code, "error_sub_code": error_sub_code},
            )
            return OutcomeClass.TERMINAL.value

        # retry or config_error
        if self._last_receive(received):
            reason = _sentence(
                f"Gave up after {received.receive_count} deliveries. Last error: {decision.reason}",
                decision.remedy or "Redrive this dead letter once the cause is fixed.",
            )
            self._finish(
                received,
                record(Status.FAILED, "exhausted", decision.reason),
                dead_letter("exhausted", reason),
            )
            obs.count_outcome("exhausted")
            logger.warning("retries exhausted; dead-lettered", extra={"reason": decision.reason})
            return "exhausted"

        self._write(record(Status.RETRYING, decision.outcome.value, decision.reason))
        seconds = self._backoff(received.receive_count, decision.delay or RetryDelay.NORMAL)
        self._delay(received, seconds)
        obs.count_outcome(decision.outcome.value)
        logger.info(
            "cancel will be retried",
            extra={"reason": decision.reason, "delay": seconds, "error_code": error_code},
        )
        raise RecordNotAcknowledged(decision.reason)

    def _duplicate_in_flight(self, received: _Received, request: CancelRequest) -> str:
        """The trade's idempotency record is in progress: normally another delivery is calling Alipay
        now and owns the trade's outcome. Before the last receive this message looks again shortly (it
        then replays the stored success, or calls Alipay itself if the other attempt failed).

        On the last receive it is dead-lettered with a reason and acknowledged, never just dropped: the
        in-progress record is not always another live delivery's (SQS may hand the same message over
        twice, and a stale record left by a failed idempotency cleanup can outlive a short retry), so
        only the dead letter guarantees this message is not lost. If the send fails, the queue's redrive
        still moves it. A stale record expires with its invocation's timeout, which is why
        ``_idempotency_store_failed`` never shortens the visibility timeout."""
        if self._last_receive(received):
            obs.add_count(obs.DUPLICATE_IN_FLIGHT_METRIC)
            self._send(
                received.dead_letter(
                    "exhausted",
                    _sentence(
                        f"Gave up after {received.receive_count} deliveries: each time, a cancel of the "
                        "same trade was already in progress (another delivery of it, usually)",
                        DUPLICATE_IN_FLIGHT_REMEDY,
                    ),
                    request.trade_key,
                )
            )
            logger.info("cancel for this trade still in progress on the last allowed receive; dead-lettered")
            return DUPLICATE_IN_FLIGHT
        seconds = self._backoff(1, RetryDelay.NORMAL)
        logger.info("cancel already in progress for this trade; retrying later", extra={"delay": seconds})
        self._delay(received, seconds)
        raise RecordNotAcknowledged("cancel for this trade already in progress")

    def _idempotency_store_failed(
        self, received: _Received, request: CancelRequest, failed: IdempotencyStoreFailed
    ) -> str:
        """The idempotency store (DynamoDB) failed before or after this delivery's Alipay call.

        Before the last receive the message is retried with the queue's own visibility timeout (not a
        shorter backoff): a failed cleanup may have left an in-progress record, which expires with this
        invocation's timeout, before the message is visible again (see ``_duplicate_in_flight``).
        On the last receive it ends with a dead letter that says what happened: the Alipay outcome is
        routed as usual when the call was made, and a success that the store could not remember is not
        recorded as SUCCEEDED (a later duplicate would then cancel again after a recorded success)."""
        obs.add_count(obs.INFRASTRUCTURE_ERROR_METRIC)
        if not self._last_receive(received):
            logger.warning("idempotency store failed; message will be retried", extra={"error": str(failed)})
            raise RecordNotAcknowledged("idempotency store failed") from failed
        logger.warning(
            "idempotency store failed on the last allowed receive",
            extra={"error": str(failed), "alipay_called": failed.attempt is not None},
        )
        if failed.attempt is None:
            decision = Decision(
                outcome=OutcomeClass.RETRY,
                reason=f"The idempotency store failed before Alipay was called ({failed})",
                remedy=IDEMPOTENCY_STORE_REMEDY,
                delay=RetryDelay.NORMAL,
            )
            return self._not_succeeded(received, request, None, decision, count_attempt=False)
        outcome, decision = failed.attempt
        if isinstance(outcome, CancelSuccess) and decision.outcome is OutcomeClass.SUCCEEDED:
            decision = Decision(
                outcome=OutcomeClass.RETRY,
                reason=(
                    f"Alipay cancelled the payment (action {outcome.action or 'none'}), "
                    f"but the idempotency store could not remember it ({failed}), so it is not recorded "
                    "as SUCCEEDED"
                ),
                remedy=f"{IDEMPOTENCY_STORE_REMEDY} {REPEATED_CANCEL}",
                delay=RetryDelay.NORMAL,
            )
        return self._not_succeeded(received, request, outcome, decision)

    def _too_little_time(self, received: _Received, request: CancelRequest, remaining_ms: int) -> str:
        """Not enough time left to call Alipay and record the outcome: leave the record untried.

        Not counted as an attempt and no results write (nothing happened to the trade). It comes back
        after a short visibility timeout (LOW_TIME_RETRY_SECONDS) rather than the queue's own (minutes):
        nothing failed, so another invocation should try it soon. Every receive counts towards the
        redrive policy, though, so on the last one it is dead-lettered with a reason (and recorded
        FAILED) instead of letting the redrive move it silently."""
        obs.add_count(obs.LOW_TIME_DEFERRED_METRIC)
        reason = (
            f"Not enough time left in the invocation to call Alipay ({remaining_ms} ms left, "
            f"{self._call_budget_ms} ms needed); not tried"
        )
        if self._last_receive(received):
            decision = Decision(
                outcome=OutcomeClass.RETRY, reason=reason, remedy=LOW_TIME_REMEDY, delay=RetryDelay.NORMAL
            )
            return self._not_succeeded(received, request, None, decision, count_attempt=False)
        seconds = min(LOW_TIME_RETRY_SECONDS, self._config.retry_max_seconds)
        self._delay(received, seconds)
        logger.warning(
            "not enough invocation time left to call Alipay; retrying soon",
            extra={"remaining_ms": remaining_ms, "needed_ms": self._call_budget_ms, "delay": seconds},
        )
        raise RecordNotAcknowledged("not enough invocation time left to call Alipay")

    def _bad_message(self, received: _Received, bad: BadMessage) -> str:
        record = None
        if bad.trade_key:
            logger.thread_safe_append_keys(trade_key=bad.trade_key)
            record = ResultRecord(
                trade_key=bad.trade_key,
                status=Status.FAILED,
                outcome_class="bad_message",
                message_id=received.message_id,
                count_attempt=False,
                error_message=bad.reason,
                remedy=BAD_MESSAGE_REMEDY,
            )
        letter = received.dead_letter(
            "bad_message",
            _sentence(f"Bad message, not retried: {bad.reason}", BAD_MESSAGE_REMEDY),
            bad.trade_key,
        )
        self._finish(received, record, letter)
        obs.count_outcome("bad_message")
        logger.warning("bad message dead-lettered", extra={"reason": bad.reason})
        return "bad_message"

    # ---- Alipay ---------------------------------------------------------------------------------

    def _attempt(self, request: CancelRequest) -> tuple[CancelOutcome, Decision]:
        """One cancel; after a signature problem, one secret refresh and one more cancel."""
        try:
            client = self._signing.client(request.app_id)
        except SecretUnavailable as problem:  # became unreadable since handle() checked it: retried
            raise RecordNotAcknowledged(str(problem)) from None
        outcome = self._timed_cancel(client, request)
        decision = classify(outcome)
        if not decision.refresh_secret:
            return outcome, decision
        try:
            fresh = self._signing.refresh(request.app_id, client)
        except SecretUnavailable as problem:
            logger.error("signing secret refresh failed", extra={"problem": str(problem)})
            return outcome, decision
        if fresh is None:
            logger.info("signing secret already refreshed in this invocation; not retrying now")
            return outcome, decision
        remaining = self._remaining_ms()
        if remaining is not None and remaining < self._call_budget_ms:
            logger.info("signing secret refreshed; too little time left to retry the cancel now")
            return outcome, decision
        logger.info("signing secret refreshed after a signature problem; retrying the cancel once")
        outcome = self._timed_cancel(fresh, request)
        return outcome, classify(outcome)

    def _timed_cancel(self, client: AlipayClient, request: CancelRequest) -> CancelOutcome:
        started = time.perf_counter()
        outcome = client.cancel(request)
        obs.add_latency((time.perf_counter() - started) * 1000.0)
        return outcome

    def _signing_problem(self, request: CancelRequest) -> Decision | None:
        """A configuration error when the request's app cannot sign (no key material in the reason)."""
        if request.app_id is None:
            if self._setup_problem is None:  # checked once per invocation in begin_invocation
                return None
            reason, remedy = self._setup_problem, SIGNING_SETUP_REMEDY
        else:
            try:
                self._signing.client(request.app_id)
            except SecretUnavailable as problem:
                reason, remedy = str(problem), self._signing.remedy_for(request.app_id)
            else:
                return None
        return Decision(
            outcome=OutcomeClass.CONFIG_ERROR, reason=reason, remedy=remedy, delay=RetryDelay.NORMAL
        )

    # ---- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _remaining_ms() -> int | None:
        """Milliseconds left in this record's invocation; None without a Lambda context."""
        context = _lambda_context.get()
        if context is None:
            return None
        return int(context.get_remaining_time_in_millis())

    def _last_receive(self, received: _Received) -> bool:
        return is_last_attempt(received.receive_count, self._config.max_receive_count)

    def _finish(
        self,
        received: _Received,
        record: ResultRecord | None,
        letter: DeadLetter,
        *,
        send_letter: bool = True,
    ) -> bool:
        """Make the record's ending durable: write its final result, then send its dead letter
        (``send_letter``; a success has one only for the case below). True when the result was written.

        Record first, then the dead letter: if the send fails the message comes back and the write
        repeats harmlessly; the other order could leave duplicate dead letters. Failures raise (the
        message is retried), except a failed write on the last allowed receive: the dead letter is then
        sent anyway, saying the result was not recorded, the write is tried once more, and False is
        returned. Only if that send fails too is the message left to the queue's redrive."""
        if record is not None:
            try:
                self._write(record)
            except Exception as error:
                if not self._last_receive(received):
                    raise
                self._dead_letter_unrecorded(received, record, letter, error)
                return False
        if send_letter:
            self._send(letter)
        return True

    def _dead_letter_unrecorded(
        self, received: _Received, record: ResultRecord, letter: DeadLetter, error: Exception
    ) -> None:
        note = (
            f"The {record.status.value} result could not be recorded on the last allowed delivery "
            f"({_aws_error(error)}); the trade's result record may be missing or out of date."
        )
        # If this send fails too, it raises: the message is left to the queue's redrive.
        what = letter.reason[:1].upper() + letter.reason[1:]
        self._send(replace(letter, reason=f"{note} {what}"))
        logger.warning(
            "result not recorded on the last allowed receive; dead-lettered with the reason",
            extra={"status": record.status, "outcome_class": letter.outcome_class},
        )
        try:  # once more, best effort: the dead letter already says what to check
            self._results.write(record)
        except Exception as again:  # noqa: BLE001 - the message is dead-lettered with a reason either way
            logger.warning("results write failed again after the dead letter", extra={"error": str(again)})

    def _send(self, letter: DeadLetter) -> None:
        try:
            self._dead_letters.send(letter)
        except Exception as error:
            obs.add_count(obs.INFRASTRUCTURE_ERROR_METRIC)
            logger.warning(
                "dead letter send failed; message left on the queue",
                extra={"error": str(error), "outcome_class": letter.outcome_class},
            )
            raise

    def _write(self, record: ResultRecord) -> None:
        try:
            written = self._results.write(record)
        except Exception as error:
            obs.add_count(obs.INFRASTRUCTURE_ERROR_METRIC)
            logger.warning("results write failed", extra={"error": str(error)})
            raise
        if not written:
            logger.info(
                "trade already SUCCEEDED; results item left unchanged", extra={"status": record.status}
            )

    def _backoff(self, receive_count: int, delay: RetryDelay) -> int:
        with self._rng_lock:  # random.Random is not documented as thread-safe
            return visibility_timeout(
                receive_count,
                delay,
                base_seconds=self._config.retry_base_seconds,
                max_seconds=self._config.retry_max_seconds,
                slow_base_seconds=self._config.retry_slow_base_seconds,
                rng=self._rng,
            )

    def _delay(self, received: _Received, seconds: int) -> None:
        try:
            self._visibility.delay(received.receipt_handle, seconds)
        except Exception as error:  # noqa: BLE001 - the queue's own visibility timeout still applies
            logger.warning("could not set the retry delay", extra={"error": str(error), "delay": seconds})


def _receive_count(record: SQSRecord) -> int:
    try:
        return max(1, int(record.attributes.approximate_receive_count))
    except (KeyError, TypeError, ValueError):
        return 1


def _alipay_fields(outcome: CancelOutcome | None, request: CancelRequest) -> dict[str, str | None]:
    fields: dict[str, str | None] = {"out_trade_no": request.out_trade_no, "trade_no": request.trade_no}
    if isinstance(outcome, CancelSuccess):  # success with retry_flag Y
        fields.update(
            out_trade_no=outcome.out_trade_no or request.out_trade_no,
            trade_no=outcome.trade_no or request.trade_no,
            action=outcome.action,
            gmt_refund_pay=outcome.gmt_refund_pay,
            refund_settlement_id=outcome.refund_settlement_id,
            retry_flag=outcome.retry_flag,
        )
    return fields


def _sentence(what: str, remedy: str | None) -> str:
    what = what.strip()
    if what and what[-1] not in ".!?":
        what += "."
    return f"{what} {remedy}".strip() if remedy else what


def _aws_error(error: Exception) -> str:
    """What failed, readable, for a dead letter's reason. botocore's text names the error code and the
    operation (e.g. "An error occurred (ThrottlingException) when calling the UpdateItem operation ...")."""
    return str(error) or type(error).__name__
