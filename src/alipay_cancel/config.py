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
from typing import Any
from urllib.parse import urlsplit

from alipay_cancel.alipay.endpoint import EXAMPLE as EXAMPLE_ENDPOINT
from alipay_cancel.alipay.endpoint import validate_endpoint
from alipay_cancel.decisions.retry_policy import MAX_HORIZON_SECONDS, RetrySchedule, schedule_problems
from alipay_cancel.shared.sqs_limits import SQS_MAX_RETENTION_SECONDS, SQS_MAX_VISIBILITY_SECONDS
from alipay_cancel.shared.trade import PaidTradePolicy, app_id_problem


class ConfigError(ValueError):
    """Names the environment variable and what is wrong with it."""


@dataclass(frozen=True)
class Config:
    """The function's configuration, parsed once from the environment (``load_config``)."""

    secret_id: str  # ALIPAY_SECRET_ID (required): ARN or name of the default app's signing secret
    default_app_id: str  # ALIPAY_DEFAULT_APP_ID (required): the app ALIPAY_SECRET_ID signs for
    results_table: str  # RESULTS_TABLE_NAME (required)
    dead_letter_queue_url: str  # DEAD_LETTER_QUEUE_URL (required)
    cancel_queue_url: str  # CANCEL_QUEUE_URL (required): for ChangeMessageVisibility on retries
    alipay_endpoint: str = EXAMPLE_ENDPOINT  # ALIPAY_ENDPOINT
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
    # The apps this deployment serves besides the default one (a message for another app is a bad
    # message); app X's secret is named <prefix>X. () = the default app only.
    further_app_ids: tuple[str, ...] = ()  # ALIPAY_FURTHER_APP_IDS: comma-separated
    app_secret_prefix: str = ""  # ALIPAY_APP_SECRET_PREFIX: a folder, e.g. alipay-cancel/prod/apps/
    # Which merchant an app_auth_token belongs to (Alipay's answer) is remembered this long per container.
    token_owner_max_age_seconds: int = 3600  # TOKEN_OWNER_MAX_AGE_SECONDS
    # How long a message can live: re-enqueues of a kept message stop at the queue's retention.
    queue_retention_seconds: int = 1_209_600  # CANCEL_QUEUE_RETENTION_SECONDS
    # A paid trade is refunded or kept (a message's if_paid overrides it; docs/settle.md).
    paid_trade_policy: PaidTradePolicy = PaidTradePolicy.REFUND  # PAID_TRADE_POLICY

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


# The optional numbers: variable → (Config field, whose default applies when unset, minimum, maximum),
# in the order they are read; the bounds are why, in short:
_FLOATS = {
    # > 0; longer than a minute is never a healthy connect
    "ALIPAY_CONNECT_TIMEOUT_SECONDS": ("connect_timeout", 0.0, 60.0),
    "ALIPAY_READ_TIMEOUT_SECONDS": ("read_timeout", 0.0, 900.0),  # > 0; Lambda runs at most 900 s
}
_INTS = {
    # a signed answer older (or newer) than this is not believed; under 30 s a normal clock skew
    # would refuse good answers, over an hour a replay window is wide open
    "ALIPAY_RESPONSE_MAX_AGE_SECONDS": ("response_max_age_seconds", 30, 3600),
    "MAX_CONCURRENCY": ("max_concurrency", 1, 100),
    "MAX_RECEIVE_COUNT": ("max_receive_count", 1, 1000),  # SQS redrive maxReceiveCount range
    # a week: half the queue's 14-day retention
    "RETRY_HORIZON_SECONDS": ("retry_horizon_seconds", 1, MAX_HORIZON_SECONDS),
    # SQS visibility timeout range (at least a second: the template's minimum)
    "RETRY_BASE_SECONDS": ("retry_base_seconds", 1, SQS_MAX_VISIBILITY_SECONDS),
    "RETRY_MAX_SECONDS": ("retry_max_seconds", 1, SQS_MAX_VISIBILITY_SECONDS),
    "RETRY_SLOW_BASE_SECONDS": ("retry_slow_base_seconds", 1, SQS_MAX_VISIBILITY_SECONDS),
    # 0 = re-read on every use; a day is plenty for rotation
    "SECRET_MAX_AGE_SECONDS": ("secret_max_age_seconds", 0, 86400),
    # 0 = ask Alipay for every message; a token's merchant never changes, a day bounds the memory of it
    "TOKEN_OWNER_MAX_AGE_SECONDS": ("token_owner_max_age_seconds", 0, 86400),
    # SQS MessageRetentionPeriod range
    "CANCEL_QUEUE_RETENTION_SECONDS": ("queue_retention_seconds", 60, SQS_MAX_RETENTION_SECONDS),
}
# A folder of Secrets Manager secret names, two to eight levels ending in "/" (the app id is appended):
# a one-level prefix such as "prod/" would name far more than this deployment's apps.
_SECRET_PREFIX_RE = re.compile(r"([A-Za-z0-9_+=.@-]{1,64}/){2,8}")
# The IAM grant has one slot per further app (template.yaml): CloudFormation cannot loop over a list.
MAX_FURTHER_APPS = 10
_INT_RE = re.compile(r"[0-9]+")
_FLOAT_RE = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")


def load_config(environ: Mapping[str, str]) -> Config:
    """Raise ``ConfigError`` naming the first missing or invalid variable (and any others).

    An optional variable that is unset or empty takes its field's default in ``Config`` (the one
    place each default is written)."""
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

    def integer(name: str, default: int, low: int, high: int) -> int:
        text = optional(name)
        if text is None:
            return default
        if not _INT_RE.fullmatch(text):
            problems.append(f"{name} must be a whole number of {_unit(name)} between {low} and {high}")
            return default
        number = int(text)
        if not low <= number <= high:
            problems.append(f"{name} is {number}; it must be between {low} and {high}")
            return default
        return number

    def seconds(name: str, default: float, low: float, high: float) -> float:
        text = optional(name)
        if text is None:
            return default
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
            "ALIPAY_APP_SECRET_PREFIX must be a folder of Secrets Manager secret names, two to eight "
            "levels ending in '/' (letters, digits and _+=.@- between the slashes), e.g. "
            "alipay-cancel/prod/apps/"
        )
    further_app_ids = _further_app_ids(optional("ALIPAY_FURTHER_APP_IDS"), default_app_id, problems)
    if further_app_ids and not app_secret_prefix:
        problems.append(
            "ALIPAY_FURTHER_APP_IDS needs ALIPAY_APP_SECRET_PREFIX (template parameter AppSecretPrefix): "
            "the folder of those apps' secrets"
        )
    results_table = required("RESULTS_TABLE_NAME")
    dead_letter_queue_url = _queue_url("DEAD_LETTER_QUEUE_URL", required("DEAD_LETTER_QUEUE_URL"), problems)
    cancel_queue_url = _queue_url("CANCEL_QUEUE_URL", required("CANCEL_QUEUE_URL"), problems)
    endpoint = _endpoint(optional("ALIPAY_ENDPOINT"), problems)
    policy = optional("PAID_TRADE_POLICY") or Config.paid_trade_policy.value
    if policy not in PaidTradePolicy.__members__.values():
        problems.append("PAID_TRADE_POLICY must be refund or keep")
        policy = Config.paid_trade_policy.value
    # Each unset number takes its Config field's default: the one place that value is written.
    numbers: dict[str, Any] = {
        f: seconds(name, getattr(Config, f), low, high) for name, (f, low, high) in _FLOATS.items()
    }
    numbers |= {f: integer(name, getattr(Config, f), low, high) for name, (f, low, high) in _INTS.items()}
    config = Config(
        secret_id=secret_id,
        default_app_id=default_app_id,
        results_table=results_table,
        dead_letter_queue_url=dead_letter_queue_url,
        cancel_queue_url=cancel_queue_url,
        alipay_endpoint=endpoint,
        further_app_ids=further_app_ids,
        app_secret_prefix=app_secret_prefix,
        paid_trade_policy=PaidTradePolicy(policy),
        **numbers,
    )
    horizon, queue_retention = config.retry_horizon_seconds, config.queue_retention_seconds
    if not problems:  # the schedule as a whole, once every number is valid on its own
        problems += schedule_problems(config.retry_schedule)
    if not problems and horizon >= queue_retention:
        problems.append(
            f"RETRY_HORIZON_SECONDS ({horizon}) must be shorter than CANCEL_QUEUE_RETENTION_SECONDS "
            f"({queue_retention}): the queue would drop messages still being retried"
        )

    if problems:
        raise ConfigError("; ".join(problems))
    return config


def _unit(name: str) -> str:
    return "seconds" if name.endswith("_SECONDS") else "items" if name == "MAX_CONCURRENCY" else "receives"


def _further_app_ids(value: str | None, default_app_id: str, problems: list[str]) -> tuple[str, ...]:
    """The comma-separated app ids, each valid, none twice, not the default app, at most the slots."""
    if value is None:
        return ()
    ids = tuple(value.split(","))
    for position, app_id in enumerate(ids, start=1):
        if (problem := app_id_problem(app_id)) is not None:
            problems.append(f"ALIPAY_FURTHER_APP_IDS: app id {position} {problem}")
            return ()
    if len(set(ids)) != len(ids):
        problems.append("ALIPAY_FURTHER_APP_IDS names an app more than once")
    elif default_app_id in ids:
        problems.append("ALIPAY_FURTHER_APP_IDS names the default app (ALIPAY_DEFAULT_APP_ID): list it once")
    elif len(ids) > MAX_FURTHER_APPS:
        problems.append(
            f"ALIPAY_FURTHER_APP_IDS names {len(ids)} apps; at most {MAX_FURTHER_APPS} (one stack's IAM "
            "grant has that many slots): deploy another stack for the others"
        )
    else:
        return ids
    return ()


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
        return Config.alipay_endpoint
    try:
        return validate_endpoint(value)
    except ValueError as exc:
        problems.append(f"ALIPAY_ENDPOINT {exc}")
        return Config.alipay_endpoint
