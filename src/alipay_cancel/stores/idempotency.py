"""At most one successful Alipay cancel per trade, through Powertools idempotency (DynamoDB).

Keyed on the trade key (not the SQS message id): a duplicate message, or a second message for the same
trade, finds the stored success and replays it without calling Alipay. Only a verified success is
remembered: any other outcome raises ``CancelNotSucceeded`` inside the idempotent function, so
Powertools deletes its in-progress record and a later delivery (a retry, or a dead letter redriven
after the cause was fixed) really calls Alipay again. Two deliveries in flight at once: the second
gets ``IdempotencyAlreadyInProgressError`` (Powertools) and is retried later by the caller. Any other
failure of the store raises ``IdempotencyStoreFailed``, carrying what Alipay answered if the call was made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    IdempotentHookFunction,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import BaseError as PowertoolsIdempotencyError
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from alipay_cancel.alipay.responses import CancelOutcome, CancelSuccess
from alipay_cancel.decisions.classification import Decision, OutcomeClass
from alipay_cancel.pipeline.messages import CancelRequest

_REPLAYED = "_replayed"

# The pipeline's one Alipay attempt (including any refresh-and-retry): returns what happened and its
# classification.
CancelAttempt = Callable[[CancelRequest], tuple[CancelOutcome, Decision]]


class CancelNotSucceeded(Exception):
    """Raised inside the idempotent function so Powertools forgets the attempt. Carries the outcome."""

    def __init__(self, outcome: CancelOutcome, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.outcome = outcome
        self.decision = decision


class IdempotencyStoreFailed(Exception):
    """The idempotency store (DynamoDB) failed. ``attempt`` is what Alipay answered when the call was
    made before the store failed (Powertools could not save the success or delete the in-progress record
    after a failure); None when Alipay was not called."""

    def __init__(self, error: Exception, attempt: tuple[CancelOutcome, Decision] | None) -> None:
        super().__init__(str(error))
        self.attempt = attempt


@dataclasses.dataclass(frozen=True)
class IdempotentResult:
    success: CancelSuccess
    replayed: bool  # True: a stored success was returned, Alipay was not called


def _mark_replayed(response: Any, _record: DataRecord) -> Any:
    if isinstance(response, dict):
        return {**response, _REPLAYED: True}
    return response


class IdempotentCanceller:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        expires_after_seconds: int,
        attempt: CancelAttempt,
    ) -> None:
        self._attempt = attempt
        self._config = IdempotencyConfig(
            event_key_jmespath="trade_key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            response_hook=cast(IdempotentHookFunction, _mark_replayed),
        )
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        # Powertools configures the store lazily on first use and that is not thread-safe (it flags
        # itself configured before compiling the key expression): configure it here, single-threaded,
        # with the very function name Powertools would use.
        method = self._cancel_once
        self._persistence.configure(self._config, f"{method.__module__}.{method.__qualname__}")
        self._idempotent = idempotent_function(
            method,
            data_keyword_argument="trade",
            persistence_store=self._persistence,
            config=self._config,
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """In-progress records then expire when the invocation would time out."""
        self._config.register_lambda_context(context)

    def cancel(self, request: CancelRequest) -> IdempotentResult:
        """Raises ``CancelNotSucceeded`` for any outcome but a success, Powertools'
        ``IdempotencyAlreadyInProgressError`` as it comes, and ``IdempotencyStoreFailed`` for any other
        idempotency error."""
        attempts: list[tuple[CancelOutcome, Decision]] = []  # what this delivery's call saw, if made
        try:
            response = self._idempotent(
                trade={"trade_key": request.trade_key}, request=request, attempts=attempts
            )
        except IdempotencyAlreadyInProgressError:
            raise
        except PowertoolsIdempotencyError as error:
            raise IdempotencyStoreFailed(error, attempts[-1] if attempts else None) from error
        replayed = bool(response.pop(_REPLAYED, False))
        known = {f.name for f in dataclasses.fields(CancelSuccess)}  # tolerate older stored replies
        success = CancelSuccess(**{k: v for k, v in response.items() if k in known})
        return IdempotentResult(success=success, replayed=replayed)

    def _cancel_once(
        self,
        *,
        trade: dict[str, str],
        request: CancelRequest,
        attempts: list[tuple[CancelOutcome, Decision]],
    ) -> dict[str, Any]:
        # Only ``trade`` is the idempotency key; ``attempts`` lets ``cancel`` tell what Alipay said
        # even when Powertools then fails to store it.
        outcome, decision = self._attempt(request)
        attempts.append((outcome, decision))
        if isinstance(outcome, CancelSuccess) and decision.outcome is OutcomeClass.SUCCEEDED:
            return dataclasses.asdict(outcome)
        raise CancelNotSucceeded(outcome, decision)
