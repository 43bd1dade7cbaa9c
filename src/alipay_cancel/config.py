"""Configuration from environment variables (set in template.yaml), parsed and validated once.

Rules: required variables must be set and non-empty; optional ones that are unset or empty take the
default. Numbers are plain decimals (no exponents, underscores or unicode digits) within bounds.
``ALIPAY_ENDPOINT`` is an ``https://`` origin, or ``http://`` to a loopback host only (local
emulator); there is deliberately no option to turn TLS verification off. Every problem found is
reported in one ``ConfigError`` whose message starts with the first offending variable's name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from alipay_cancel.alipay.endpoint import EXAMPLE as EXAMPLE_ENDPOINT
from alipay_cancel.alipay.endpoint import validate_endpoint
from alipay_cancel.decisions.retry_policy import MAX_HORIZON_SECONDS, RetrySchedule, schedule_problems
from alipay_cancel.pipeline.trade_identity import app_id_problem


class ConfigError(ValueError):
    """Names the environment variable and what is wrong with it."""


@dataclass(frozen=True)
class Config:
    secret_id: str  # ALIPAY_SECRET_ID (required): ARN or name of the default app's signing secret
    default_app_id: str  # ALIPAY_DEFAULT_APP_ID (required): the app ALIPAY_SECRET_ID signs for
    results_table: str  # RESULTS_TABLE_NAME (required)
    idempotency_table: str  # IDEMPOTENCY_TABLE_NAME (required)
    dead_letter_queue_url: str  # DEAD_LETTER_QUEUE_URL (required)
    cancel_queue_url: str  # CANCEL_QUEUE_URL (required): for ChangeMessageVisibility on retries
    alipay_endpoint: str = "https://openapi.alipay.com"  # ALIPAY_ENDPOINT
    connect_timeout: float = 3.0  # ALIPAY_CONNECT_TIMEOUT_SECONDS
    read_timeout: float = 10.0  # ALIPAY_READ_TIMEOUT_SECONDS
    response_max_age_seconds: int = 300  # ALIPAY_RESPONSE_MAX_AGE_SECONDS: alipay-timestamp freshness
    max_concurrency: int = 10  # MAX_CONCURRENCY: parallel cancels within one invocation
    max_receive_count: int = 60  # MAX_RECEIVE_COUNT: must equal the queue's redrive maxReceiveCount
    retry_horizon_seconds: int = 86400  # RETRY_HORIZON_SECONDS: retry Alipay failures this long
    retry_base_seconds: int = 30  # RETRY_BASE_SECONDS
    retry_max_seconds: int = 3600  # RETRY_MAX_SECONDS (SQS caps visibility at 43200)
    retry_slow_base_seconds: int = 900  # RETRY_SLOW_BASE_SECONDS: merchant balance and the like
    secret_max_age_seconds: int = 300  # SECRET_MAX_AGE_SECONDS: signing-material cache per container
    idempotency_expiry_seconds: int = 2419200  # IDEMPOTENCY_EXPIRY_SECONDS: >= queue + DLQ retention
    # Further apps' secrets are named <prefix><app_id>; "" = the default app only.
    app_secret_prefix: str = ""  # ALIPAY_APP_SECRET_PREFIX
    # How long a message can live: re-enqueues of a kept message stop at the queue's retention, and a
    # success is remembered at least as long as queue + dead-letter retention.
    queue_retention_seconds: int = 1_209_600  # CANCEL_QUEUE_RETENTION_SECONDS
    dead_letter_retention_seconds: int = 1_209_600  # DEAD_LETTER_RETENTION_SECONDS

    @property
    def retry_schedule(self) -> RetrySchedule:
        """The retry settings for ``retry_policy.next_step``."""
        return RetrySchedule(
            horizon_seconds=self.retry_horizon_seconds,
            base_seconds=self.retry_base_seconds,
            max_seconds=self.retry_max_seconds,
            slow_base_seconds=self.retry_slow_base_seconds,
            max_receive_count=self.max_receive_count,
        )


# (name, minimum, maximum) for the numeric variables; the bounds are why, in short:
_FLOATS = {
    "ALIPAY_CONNECT_TIMEOUT_SECONDS": (0.0, 60.0),  # > 0; longer than a minute is never a healthy connect
    "ALIPAY_READ_TIMEOUT_SECONDS": (0.0, 900.0),  # > 0; Lambda runs at most 900 s
}
_INTS = {
    # a signed answer older (or newer) than this is not believed; under 30 s a normal clock skew
    # would refuse good answers, over an hour a replay window is wide open
    "ALIPAY_RESPONSE_MAX_AGE_SECONDS": (30, 3600),
    "MAX_CONCURRENCY": (1, 100),
    "MAX_RECEIVE_COUNT": (1, 1000),  # SQS redrive maxReceiveCount range
    "RETRY_HORIZON_SECONDS": (1, MAX_HORIZON_SECONDS),  # a week: half the queue's 14-day retention
    "RETRY_BASE_SECONDS": (0, 43200),  # SQS visibility timeout range; 0: no backoff (tests only)
    "RETRY_MAX_SECONDS": (0, 43200),
    "RETRY_SLOW_BASE_SECONDS": (0, 43200),
    "SECRET_MAX_AGE_SECONDS": (0, 86400),  # 0 = re-read on every use; a day is plenty for rotation
    "IDEMPOTENCY_EXPIRY_SECONDS": (1, 31_536_000),  # up to a year
    "CANCEL_QUEUE_RETENTION_SECONDS": (60, 1_209_600),  # SQS MessageRetentionPeriod range
    "DEAD_LETTER_RETENTION_SECONDS": (60, 1_209_600),
}
DEFAULT_IDEMPOTENCY_EXPIRY = 2_419_200  # 28 days: both queues' longest retention
# Secrets Manager secret names: letters, digits and /_+=.@- (the app id is appended to the prefix).
_SECRET_PREFIX_RE = re.compile(r"[A-Za-z0-9/_+=.@-]{1,480}")
_INT_RE = re.compile(r"[0-9]+")
_FLOAT_RE = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")


def load_config(environ: Mapping[str, str]) -> Config:
    """Raise ``ConfigError`` naming the first missing or invalid variable (and any others)."""
    problems: list[str] = []

    def required(name: str) -> str:
        value = environ.get(name)
        if value is None:
            problems.append(f"{name} is required but not set")
            return ""
        value = value.strip()
        if not value:
            problems.append(f"{name} is required but empty")
        elif any(c.isspace() or not c.isprintable() for c in value):
            problems.append(f"{name} must not contain whitespace or control characters")
        return value

    def optional(name: str) -> str | None:
        value = environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def integer(name: str, default: int) -> int:
        text = optional(name)
        if text is None:
            return default
        low, high = _INTS[name]
        if not _INT_RE.fullmatch(text):
            problems.append(f"{name} must be a whole number of {_unit(name)} between {low} and {high}")
            return default
        number = int(text)
        if not low <= number <= high:
            problems.append(f"{name} is {number}; it must be between {low} and {high}")
            return default
        return number

    def seconds(name: str, default: float) -> float:
        text = optional(name)
        if text is None:
            return default
        low, high = _FLOATS[name]
        number = float(text) if _FLOAT_RE.fullmatch(text) else math.nan
        if math.isnan(number):
            problems.append(f"{name} must be a number of seconds, e.g. 3 or 2.5")
            return default
        if not low < number <= high:
            problems.append(f"{name} is {text}; it must be more than {low:g} and at most {high:g} seconds")
            return default
        return number

    secret_id = required("ALIPAY_SECRET_ID")
    default_app_id = required("ALIPAY_DEFAULT_APP_ID")
    if default_app_id and (problem := app_id_problem(default_app_id)) is not None:
        problems.append(f"ALIPAY_DEFAULT_APP_ID {problem}")
    app_secret_prefix = optional("ALIPAY_APP_SECRET_PREFIX") or ""
    if app_secret_prefix and not _SECRET_PREFIX_RE.fullmatch(app_secret_prefix):
        problems.append(
            "ALIPAY_APP_SECRET_PREFIX must be the start of a Secrets Manager secret name "
            "(letters, digits and /_+=.@-), e.g. alipay-cancel/prod/apps/"
        )
    results_table = required("RESULTS_TABLE_NAME")
    idempotency_table = required("IDEMPOTENCY_TABLE_NAME")
    dead_letter_queue_url = _queue_url("DEAD_LETTER_QUEUE_URL", required("DEAD_LETTER_QUEUE_URL"), problems)
    cancel_queue_url = _queue_url("CANCEL_QUEUE_URL", required("CANCEL_QUEUE_URL"), problems)
    endpoint = _endpoint(optional("ALIPAY_ENDPOINT"), problems)
    connect_timeout = seconds("ALIPAY_CONNECT_TIMEOUT_SECONDS", 3.0)
    read_timeout = seconds("ALIPAY_READ_TIMEOUT_SECONDS", 10.0)
    response_max_age = integer("ALIPAY_RESPONSE_MAX_AGE_SECONDS", 300)
    max_concurrency = integer("MAX_CONCURRENCY", 10)
    max_receive_count = integer("MAX_RECEIVE_COUNT", 60)
    retry_horizon = integer("RETRY_HORIZON_SECONDS", 86400)
    retry_base = integer("RETRY_BASE_SECONDS", 30)
    retry_max = integer("RETRY_MAX_SECONDS", 3600)
    retry_slow_base = integer("RETRY_SLOW_BASE_SECONDS", 900)
    secret_max_age = integer("SECRET_MAX_AGE_SECONDS", 300)
    idempotency_expiry = integer("IDEMPOTENCY_EXPIRY_SECONDS", DEFAULT_IDEMPOTENCY_EXPIRY)
    queue_retention = integer("CANCEL_QUEUE_RETENTION_SECONDS", 1_209_600)
    dead_letter_retention = integer("DEAD_LETTER_RETENTION_SECONDS", 1_209_600)
    if not problems:  # the schedule as a whole, once every number is valid on its own
        problems += schedule_problems(
            RetrySchedule(retry_horizon, retry_base, retry_max, retry_slow_base, max_receive_count)
        )
    if not problems and retry_horizon >= queue_retention:
        problems.append(
            f"RETRY_HORIZON_SECONDS ({retry_horizon}) must be shorter than CANCEL_QUEUE_RETENTION_SECONDS "
            f"({queue_retention}): the queue would drop messages still being retried"
        )
    # A message lives up to the queue's retention, then the dead-letter queue's before a redrive: a
    # success forgotten sooner lets a late duplicate or a redrive cancel the trade again.
    lifetime = queue_retention + dead_letter_retention
    if idempotency_expiry < lifetime:
        problems.append(
            f"IDEMPOTENCY_EXPIRY_SECONDS ({idempotency_expiry}) is shorter than a message can live: "
            f"CANCEL_QUEUE_RETENTION_SECONDS ({queue_retention}) + DEAD_LETTER_RETENTION_SECONDS "
            f"({dead_letter_retention}) = {lifetime}; a duplicate arriving later would cancel again. "
            f"Set it (template parameter IdempotencyExpirySeconds) to at least {lifetime}"
        )

    if problems:
        raise ConfigError("; ".join(problems))
    return Config(
        secret_id=secret_id,
        default_app_id=default_app_id,
        results_table=results_table,
        idempotency_table=idempotency_table,
        dead_letter_queue_url=dead_letter_queue_url,
        cancel_queue_url=cancel_queue_url,
        alipay_endpoint=endpoint,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        response_max_age_seconds=response_max_age,
        max_concurrency=max_concurrency,
        max_receive_count=max_receive_count,
        retry_horizon_seconds=retry_horizon,
        retry_base_seconds=retry_base,
        retry_max_seconds=retry_max,
        retry_slow_base_seconds=retry_slow_base,
        secret_max_age_seconds=secret_max_age,
        idempotency_expiry_seconds=idempotency_expiry,
        app_secret_prefix=app_secret_prefix,
        queue_retention_seconds=queue_retention,
        dead_letter_retention_seconds=dead_letter_retention,
    )


def _unit(name: str) -> str:
    return "seconds" if name.endswith("_SECONDS") else "items" if name == "MAX_CONCURRENCY" else "receives"


def _queue_url(name: str, value: str, problems: list[str]) -> str:
    if not value:
        return value  # already reported as missing
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or not parts.path.strip("/"):
        problems.append(
            f"{name} must be an SQS queue URL like https://sqs.<region>.amazonaws.com/<account>/<queue>"
        )
    return value


def _endpoint(value: str | None, problems: list[str]) -> str:
    if value is None:
        return EXAMPLE_ENDPOINT
    try:
        return validate_endpoint(value)
    except ValueError as exc:
        problems.append(f"ALIPAY_ENDPOINT {exc}")
        return EXAMPLE_ENDPOINT
