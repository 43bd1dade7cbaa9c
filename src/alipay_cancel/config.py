"""Configuration from environment variables (set in template.yaml), parsed and validated once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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


def load_config(environ: Mapping[str, str]) -> Config:
    """Raise ``ConfigError`` naming the first missing or invalid variable."""
    raise NotImplementedError
