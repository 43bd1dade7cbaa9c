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


class ConfigError(ValueError):
    """Names the environment variable and what is wrong with it."""


@dataclass(frozen=True)
class Config:
    secret_id: str  # ALIPAY_SECRET_ID (required): ARN or name of the signing-material secret
    results_table: str  # RESULTS_TABLE_NAME (required)
    idempotency_table: str  # IDEMPOTENCY_TABLE_NAME (required)
    dead_letter_queue_url: str  # DEAD_LETTER_QUEUE_URL (required)
    cancel_queue_url: str  # CANCEL_QUEUE_URL (required): for ChangeMessageVisibility on retries
    alipay_endpoint: str = "https://openapi.alipay.com"  # ALIPAY_ENDPOINT
    connect_timeout: float = 3.0  # ALIPAY_CONNECT_TIMEOUT_SECONDS
    read_timeout: float = 10.0  # ALIPAY_READ_TIMEOUT_SECONDS
    max_concurrency: int = 10  # MAX_CONCURRENCY: parallel cancels within one invocation
    max_receive_count: int = 8  # MAX_RECEIVE_COUNT: must equal the queue's redrive maxReceiveCount
    retry_base_seconds: int = 30  # RETRY_BASE_SECONDS
    retry_max_seconds: int = 3600  # RETRY_MAX_SECONDS (SQS caps visibility at 43200)
    retry_slow_base_seconds: int = 900  # RETRY_SLOW_BASE_SECONDS: merchant balance and the like
    secret_max_age_seconds: int = 300  # SECRET_MAX_AGE_SECONDS: signing-material cache per container
    idempotency_expiry_seconds: int = 604800  # IDEMPOTENCY_EXPIRY_SECONDS
    # A message kept past its last receive while our configuration is broken is re-enqueued only while
    # it is younger than the queue's MessageRetentionPeriod.
    queue_retention_seconds: int = 1_209_600  # CANCEL_QUEUE_RETENTION_SECONDS


# (name, minimum, maximum) for the numeric variables; the bounds are why, in short:
_FLOATS = {
    "ALIPAY_CONNECT_TIMEOUT_SECONDS": (0.0, 60.0),  # > 0; longer than a minute is never a healthy connect
    "ALIPAY_READ_TIMEOUT_SECONDS": (0.0, 900.0),  # > 0; Lambda runs at most 900 s
}
_INTS = {
    "MAX_CONCURRENCY": (1, 100),
    "MAX_RECEIVE_COUNT": (1, 1000),  # SQS redrive maxReceiveCount range
    "RETRY_BASE_SECONDS": (0, 43200),  # SQS visibility timeout range
    "RETRY_MAX_SECONDS": (0, 43200),
    "RETRY_SLOW_BASE_SECONDS": (0, 43200),
    "SECRET_MAX_AGE_SECONDS": (0, 86400),  # 0 = re-read on every use; a day is plenty for rotation
    "IDEMPOTENCY_EXPIRY_SECONDS": (1, 31_536_000),  # up to a year
    "CANCEL_QUEUE_RETENTION_SECONDS": (60, 1_209_600),  # SQS MessageRetentionPeriod range
}
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
    results_table = required("RESULTS_TABLE_NAME")
    idempotency_table = required("IDEMPOTENCY_TABLE_NAME")
    dead_letter_queue_url = _queue_url("DEAD_LETTER_QUEUE_URL", required("DEAD_LETTER_QUEUE_URL"), problems)
    cancel_queue_url = _queue_url("CANCEL_QUEUE_URL", required("CANCEL_QUEUE_URL"), problems)
    endpoint = _endpoint(optional("ALIPAY_ENDPOINT"), problems)
    connect_timeout = seconds("ALIPAY_CONNECT_TIMEOUT_SECONDS", 3.0)
    read_timeout = seconds("ALIPAY_READ_TIMEOUT_SECONDS", 10.0)
    max_concurrency = integer("MAX_CONCURRENCY", 10)
    max_receive_count = integer("MAX_RECEIVE_COUNT", 8)
    retry_base = integer("RETRY_BASE_SECONDS", 30)
    retry_max = integer("RETRY_MAX_SECONDS", 3600)
    retry_slow_base = integer("RETRY_SLOW_BASE_SECONDS", 900)
    secret_max_age = integer("SECRET_MAX_AGE_SECONDS", 300)
    idempotency_expiry = integer("IDEMPOTENCY_EXPIRY_SECONDS", 604800)
    queue_retention = integer("CANCEL_QUEUE_RETENTION_SECONDS", 1_209_600)
    if retry_max < retry_base:
        problems.append(f"RETRY_MAX_SECONDS ({retry_max}) must be at least RETRY_BASE_SECONDS ({retry_base})")

    if problems:
        raise ConfigError("; ".join(problems))
    return Config(
        secret_id=secret_id,
        results_table=results_table,
        idempotency_table=idempotency_table,
        dead_letter_queue_url=dead_letter_queue_url,
        cancel_queue_url=cancel_queue_url,
        alipay_endpoint=endpoint,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_concurrency=max_concurrency,
        max_receive_count=max_receive_count,
        retry_base_seconds=retry_base,
        retry_max_seconds=retry_max,
        retry_slow_base_seconds=retry_slow_base,
        secret_max_age_seconds=secret_max_age,
        idempotency_expiry_seconds=idempotency_expiry,
        queue_retention_seconds=queue_retention,
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
