"""At most one successful Alipay cancel per trade key, through Powertools idempotency (DynamoDB).

``run(trade_key, attempt, remember)`` calls ``attempt`` unless a success for the trade is stored, in
which case that success is replayed without calling it. Which results are successes worth remembering
is the caller's ``remember`` (this module knows nothing of Alipay's answers): anything else is not
stored, so a later delivery (a retry, or a dead letter redriven after a fix) really calls again.

The record's key is ``IDEMPOTENCY_KEY_PREFIX#md5(trade_key)``: explicit and stable. Powertools' default
prefix is the Lambda function's name plus the decorated function's module and qualname, so renaming
either would silently forget every stored success and let duplicates cancel again. Successes that
releases before this key stored under Powertools' default key are found through ``earlier``
(``legacy_idempotency``) before the attempt runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    IdempotentHookFunction,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import BaseError as PowertoolsIdempotencyError
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer
from aws_lambda_powertools.utilities.typing import LambdaContext

from alipay_cancel.alipay.responses import CancelSuccess

# Never change it: stored successes are found by it (a new prefix forgets them all).
IDEMPOTENCY_KEY_PREFIX = "alipay-cancel#trade-cancel#v1"

R = TypeVar("R")

# Where an earlier release may have stored the trade's success (``legacy_idempotency``): None, or it.
EarlierSuccess = Callable[[str], CancelSuccess | None]


def key_hash(trade_key: str) -> str:
    """The hash part of the trade's record key: Powertools' md5 of the JSON of the key it extracts."""
    return hashlib.md5(json.dumps(trade_key, sort_keys=True).encode()).hexdigest()  # noqa: S324 - a key


# Named tuples, not dataclasses: created at every cold start, and five times cheaper to create.
class Fresh(NamedTuple, Generic[R]):
    """``attempt`` ran now; ``result`` is what it returned (remembered or not)."""

    result: R


class Remembered(NamedTuple):
    """A stored success for this trade: ``attempt`` did not run."""

    success: CancelSuccess


class Busy:  # no fields: a plain class (a named tuple without fields would be falsy)
    """Another delivery holds the trade's in-progress record (it is calling Alipay now, or crashed)."""


class IdempotencyStoreFailed(Exception):
    """The store (DynamoDB) failed. ``result`` is what ``attempt`` returned when it ran before the store
    failed (saving the success or deleting the in-progress record); None when it did not run."""

    def __init__(self, error: Exception, result: object | None) -> None:
        super().__init__(str(error))
        self.result = result


class EarlierInProgress(Exception):
    """Raised by ``earlier``: an earlier release holds the trade's in-progress record (during an
    upgrade it may be calling Alipay now), so this delivery waits like any duplicate in flight."""


class _EarlierReadFailed(Exception):
    """Reading an earlier release's record failed: Alipay must not be called (it may have succeeded)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error) or type(error).__name__)
        self.error = error


class _NotRemembered(Exception):
    """Raised inside the idempotent function so Powertools deletes the in-progress record."""

    def __init__(self, result: object) -> None:
        super().__init__("not a success")
        self.result = result


_SUCCESS_FIELDS = frozenset(f.name for f in dataclasses.fields(CancelSuccess))


def stored_success(data: dict[str, Any]) -> CancelSuccess:
    """A CancelSuccess from its stored fields, ignoring fields an older version stored."""
    return CancelSuccess(**{k: v for k, v in data.items() if k in _SUCCESS_FIELDS})


class _SuccessSerializer(BaseIdempotencySerializer):
    """Stores a CancelSuccess as its fields; rebuilds it with ``stored_success``."""

    def to_dict(self, data: Any) -> dict[str, Any]:
        return dataclasses.asdict(data)

    def from_dict(self, data: dict[str, Any]) -> Any:
        return stored_success(data)


def _mark_replayed(response: Any, _record: DataRecord) -> Any:
    return Remembered(response)


class OnceOnly:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        expires_after_seconds: int,
        earlier: EarlierSuccess | None = None,
    ) -> None:
        self._earlier = earlier
        self._config = IdempotencyConfig(
            event_key_jmespath="trade_key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            response_hook=cast(IdempotentHookFunction, _mark_replayed),
        )
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        # Powertools configures the store lazily on first use, which is not thread-safe (it flags itself
        # configured before compiling the key expression): configure it here, single-threaded.
        self._persistence.configure(self._config, key_prefix=IDEMPOTENCY_KEY_PREFIX)
        self._idempotent = idempotent_function(
            self._call,
            data_keyword_argument="trade",
            persistence_store=self._persistence,
            config=self._config,
            output_serializer=_SuccessSerializer(),
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """In-progress records then expire when the invocation would time out."""
        self._config.register_lambda_context(context)

    def run(
        self,
        trade_key: str,
        attempt: Callable[[], R],
        remember: Callable[[R], CancelSuccess | None],
    ) -> Fresh[R] | Remembered | Busy:
        """Raises ``IdempotencyStoreFailed`` when the store fails; never for what ``attempt`` returns."""
        ran: list[R] = []  # what this delivery's attempt returned, if it ran
        try:
            response = self._idempotent(
                trade={"trade_key": trade_key},
                attempt=attempt,
                remember=remember,
                ran=ran,
                earlier=self._earlier,
            )
        except IdempotencyAlreadyInProgressError:
            return Busy()
        except _NotRemembered as forgotten:
            return Fresh(cast(R, forgotten.result))
        except EarlierInProgress:
            return Busy()
        except _EarlierReadFailed as failed:
            raise IdempotencyStoreFailed(failed.error, None) from failed.error
        except PowertoolsIdempotencyError as error:
            # Powertools wraps our own exception when deleting the in-progress record fails.
            raise IdempotencyStoreFailed(error, ran[-1] if ran else None) from error
        if isinstance(response, Remembered):
            return response
        if not ran:  # an earlier release's success: the attempt did not run
            return Remembered(cast(CancelSuccess, response))
        return Fresh(ran[-1])

    @staticmethod
    def _call(
        *,
        trade: dict[str, str],
        attempt: Callable[[], Any],
        remember: Callable[[Any], CancelSuccess | None],
        ran: list[Any],
        earlier: EarlierSuccess | None,
    ) -> CancelSuccess:
        # Only ``trade`` is the idempotency key; ``ran`` lets ``run`` tell what the attempt returned
        # even when Powertools then fails to store it.
        if earlier is not None:  # inside the claim: concurrent duplicates still make one call at most
            try:
                found = earlier(trade["trade_key"])
            except EarlierInProgress:
                raise
            except Exception as error:  # routed as a store failure, never lost
                raise _EarlierReadFailed(error) from error
            if found is not None:
                return found  # remembered under the current key from now on
        result = attempt()
        ran.append(result)
        success = remember(result)
        if success is None:
            raise _NotRemembered(result)
        return success
