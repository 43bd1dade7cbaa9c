"""The publisher function's configuration, from environment variables set in template.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_RETRY_SECONDS = 3600
# Lambda keeps retrying a stream record until it is 24 h old, when the stream drops it: the function
# must have dead-lettered the event well before that.
MAX_RETRY_SECONDS = 82800


class ConfigError(ValueError):
    """Names the environment variable and what is wrong with it."""


@dataclass(frozen=True)
class EventsConfig:
    bus_name: str  # OUTCOME_EVENT_BUS_NAME: the bus the events go to (name or ARN)
    dead_letter_queue_url: str  # OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL: events that cannot be published
    # OUTCOME_EVENTS_RETRY_SECONDS: how long a record whose event cannot be published is retried
    # (the stream waits meanwhile) before the event is dead-lettered and the stream moves on
    retry_seconds: int = DEFAULT_RETRY_SECONDS


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required and is not set")
    return value


def load_config(env: Mapping[str, str]) -> EventsConfig:
    raw = env.get("OUTCOME_EVENTS_RETRY_SECONDS", "").strip()
    retry = DEFAULT_RETRY_SECONDS
    if raw:
        if not raw.isascii() or not raw.isdigit():
            raise ConfigError("OUTCOME_EVENTS_RETRY_SECONDS must be a whole number of seconds")
        retry = int(raw)
        if not 60 <= retry <= MAX_RETRY_SECONDS:
            raise ConfigError(f"OUTCOME_EVENTS_RETRY_SECONDS must be 60 to {MAX_RETRY_SECONDS}, not {retry}")
    return EventsConfig(
        bus_name=_required(env, "OUTCOME_EVENT_BUS_NAME"),
        dead_letter_queue_url=_required(env, "OUTCOME_EVENTS_DEAD_LETTER_QUEUE_URL"),
        retry_seconds=retry,
    )
