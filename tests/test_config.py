"""load_config: every variable, its default, its bounds, and errors that name it."""

from __future__ import annotations

import dataclasses

import pytest

from alipay_cancel.config import Config, ConfigError, load_config

REQUIRED = {
    "ALIPAY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:alipay-AbCdEf",
    "ALIPAY_DEFAULT_APP_ID": "2021000000000001",
    "RESULTS_TABLE_NAME": "CancelResults",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cancel-dlq",
    "CANCEL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cancel",
}


def load(**env: str) -> Config:
    return load_config({**REQUIRED, **env})


def _template_minimums() -> dict[str, int]:
    from tests.template_support import sam_template

    parameters = sam_template()["Parameters"]
    names = {
        "RETRY_BASE_SECONDS": "RetryBaseSeconds",
        "RETRY_SLOW_BASE_SECONDS": "RetrySlowBaseSeconds",
        "RETRY_MAX_SECONDS": "RetryMaxSeconds",
    }
    return {env: int(parameters[p]["MinValue"]) for env, p in names.items()}


TEMPLATE_MINIMUMS = _template_minimums()


def error(**env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(**env)
    return str(info.value)


def test_minimal_environment_gives_documented_defaults() -> None:
    config = load()
    assert config == Config(
        secret_id=REQUIRED["ALIPAY_SECRET_ID"],
        default_app_id="2021000000000001",
        results_table="CancelResults",
        dead_letter_queue_url=REQUIRED["DEAD_LETTER_QUEUE_URL"],
        cancel_queue_url=REQUIRED["CANCEL_QUEUE_URL"],
    )
    assert config.alipay_endpoint == "https://openapi.alipay.com"
    assert (config.connect_timeout, config.read_timeout) == (3.0, 10.0)
    assert (config.max_concurrency, config.max_receive_count) == (10, 60)
    assert config.retry_horizon_seconds == 86400  # a day
    assert (config.retry_base_seconds, config.retry_max_seconds, config.retry_slow_base_seconds) == (
        30,
        3600,
        900,
    )
    assert config.secret_max_age_seconds == 300
    assert config.app_secret_prefix == ""  # the default app only
    assert config.queue_retention_seconds == 1209600


def test_every_variable_is_read() -> None:
    config = load(
        ALIPAY_ENDPOINT="https://openapi-sandbox.dl.alipaydev.com/",
        ALIPAY_CONNECT_TIMEOUT_SECONDS="1.5",
        ALIPAY_READ_TIMEOUT_SECONDS="20",
        ALIPAY_RESPONSE_MAX_AGE_SECONDS="120",
        MAX_CONCURRENCY="25",
        MAX_RECEIVE_COUNT="12",
        RETRY_HORIZON_SECONDS="3600",
        RETRY_BASE_SECONDS="5",
        RETRY_MAX_SECONDS="43200",
        RETRY_SLOW_BASE_SECONDS="1800",
        SECRET_MAX_AGE_SECONDS="60",
        CANCEL_QUEUE_RETENTION_SECONDS="7200",
        ALIPAY_APP_SECRET_PREFIX="alipay-cancel/prod/apps/",
    )
    assert config.alipay_endpoint == "https://openapi-sandbox.dl.alipaydev.com"
    assert config.connect_timeout == 1.5 and config.read_timeout == 20.0
    assert config.response_max_age_seconds == 120
    assert config.max_concurrency == 25 and config.max_receive_count == 12
    assert config.retry_horizon_seconds == 3600
    assert config.retry_base_seconds == 5 and config.retry_max_seconds == 43200
    assert config.retry_slow_base_seconds == 1800
    assert config.secret_max_age_seconds == 60
    assert config.queue_retention_seconds == 7200
    assert config.app_secret_prefix == "alipay-cancel/prod/apps/"
    assert config.default_app_id == "2021000000000001"


@pytest.mark.parametrize("value", ["20 21", "../x", "a" * 33, "2021/1"])
def test_default_app_id_must_be_an_app_id(value: str) -> None:
    assert error(ALIPAY_DEFAULT_APP_ID=value).startswith("ALIPAY_DEFAULT_APP_ID")


@pytest.mark.parametrize("value", ["apps/*", "apps prefix/", "apps/\\x"])
def test_app_secret_prefix_must_be_a_secret_name_start(value: str) -> None:
    assert error(ALIPAY_APP_SECRET_PREFIX=value).startswith("ALIPAY_APP_SECRET_PREFIX")


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_variable_missing_is_named(name: str) -> None:
    env = dict(REQUIRED)
    del env[name]
    with pytest.raises(ConfigError) as info:
        load_config(env)
    assert str(info.value).startswith(name)
    assert "required" in str(info.value)


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", ["", "   "])
def test_required_variable_empty_is_named(name: str, value: str) -> None:
    message = error(**{name: value})
    assert message.startswith(name) and "empty" in message


@pytest.mark.parametrize("name", ["ALIPAY_SECRET_ID", "RESULTS_TABLE_NAME", "ALIPAY_DEFAULT_APP_ID"])
def test_names_with_whitespace_are_rejected(name: str) -> None:
    assert error(**{name: "Cancel Results"}).startswith(name)


def test_surrounding_whitespace_is_trimmed() -> None:
    assert load(RESULTS_TABLE_NAME="  CancelResults\n").results_table == "CancelResults"
    assert load(MAX_CONCURRENCY=" 7 ").max_concurrency == 7


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"MAX_CONCURRENCY": "0"})
    message = str(info.value)
    for name in [*REQUIRED, "MAX_CONCURRENCY"]:
        assert name in message
    assert message.startswith("ALIPAY_SECRET_ID")


@pytest.mark.parametrize("name", ["DEAD_LETTER_QUEUE_URL", "CANCEL_QUEUE_URL"])
@pytest.mark.parametrize("value", ["cancel-queue", "ftp://sqs/1/q", "https://sqs.us-east-1.amazonaws.com"])
def test_queue_urls_must_be_urls(name: str, value: str) -> None:
    assert error(**{name: value}).startswith(name)


def test_local_queue_urls_are_fine() -> None:
    url = "http://127.0.0.1:4566/123456789012/cancel"
    assert load(CANCEL_QUEUE_URL=url).cancel_queue_url == url
    docker = "http://host.docker.internal:4566/123456789012/cancel"
    assert load(DEAD_LETTER_QUEUE_URL=docker).dead_letter_queue_url == docker


# ------------------------------------------------------------------ ALIPAY_ENDPOINT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://openapi.alipay.com", "https://openapi.alipay.com"),
        ("https://openapi.alipay.com/", "https://openapi.alipay.com"),
        ("https://gw.example.com:8443", "https://gw.example.com:8443"),
        ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
        ("http://127.5.0.1:8089", "http://127.5.0.1:8089"),
        ("http://localhost:8089", "http://localhost:8089"),
        ("http://[::1]:8089", "http://[::1]:8089"),
        ("", "https://openapi.alipay.com"),
    ],
)
def test_endpoint_accepted(value: str, expected: str) -> None:
    assert load(ALIPAY_ENDPOINT=value).alipay_endpoint == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("http://openapi.alipay.com", "plain http://"),
        ("http://10.0.0.5:8089", "plain http://"),
        ("http://host.docker.internal:8089", "plain http://"),
        ("http://localhost.evil.com", "plain http://"),
        ("ftp://openapi.alipay.com", "https://"),
        ("openapi.alipay.com", "https://"),
        ("https://", "https://"),
        ("https://user:pw@openapi.alipay.com", "credentials"),
        ("https://openapi.alipay.com?verify=false", "query"),
        ("https://openapi.alipay.com/gateway.do", "gateway.do"),
        ("https://openapi.alipay.com:99999", "not a valid URL"),
    ],
)
def test_endpoint_rejected(value: str, fragment: str) -> None:
    message = error(ALIPAY_ENDPOINT=value)
    assert message.startswith("ALIPAY_ENDPOINT")
    assert fragment in message


def test_no_option_disables_tls_verification() -> None:
    fields = {f.name for f in dataclasses.fields(Config)}
    assert not any("verify" in f or "tls" in f or "insecure" in f for f in fields)


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "ALIPAY_CONNECT_TIMEOUT_SECONDS",
            ["0.1", "3", "60", ".5"],
            ["0", "0.0", "61", "-1", "nan", "inf", "1e1", "x"],
        ),
        ("ALIPAY_READ_TIMEOUT_SECONDS", ["0.5", "10", "900"], ["0", "901", "-3", "NaN", "Infinity", "ten"]),
        ("ALIPAY_RESPONSE_MAX_AGE_SECONDS", ["30", "300", "3600"], ["29", "3601", "0", "-1", "5m", "2.5"]),
        ("MAX_CONCURRENCY", ["1", "100"], ["0", "101", "-1", "2.5", "1e2", "1_0", "٣", "many"]),
        ("MAX_RECEIVE_COUNT", ["2", "1000"], ["0", "1001", "-5", "8.0"]),
        ("RETRY_HORIZON_SECONDS", ["1", "86400", "604800"], ["0", "604801", "-1", "1d"]),
        ("RETRY_BASE_SECONDS", ["1", "30", "3600"], ["0", "-1", "43201", "30s"]),
        ("RETRY_MAX_SECONDS", ["30", "43200"], ["43201", "-1", "1h"]),
        ("RETRY_SLOW_BASE_SECONDS", ["1", "900", "43200"], ["0", "43201", "-900"]),
        ("SECRET_MAX_AGE_SECONDS", ["0", "300", "86400"], ["86401", "-1", "5m"]),
        ("CANCEL_QUEUE_RETENTION_SECONDS", ["60", "1209600"], ["59", "1209601", "14d"]),
    ],
)
def test_number_bounds(name: str, good: list[str], bad: list[str]) -> None:
    field = {
        "ALIPAY_CONNECT_TIMEOUT_SECONDS": "connect_timeout",
        "ALIPAY_READ_TIMEOUT_SECONDS": "read_timeout",
        "ALIPAY_RESPONSE_MAX_AGE_SECONDS": "response_max_age_seconds",
        "MAX_CONCURRENCY": "max_concurrency",
        "MAX_RECEIVE_COUNT": "max_receive_count",
        "RETRY_HORIZON_SECONDS": "retry_horizon_seconds",
        "RETRY_BASE_SECONDS": "retry_base_seconds",
        "RETRY_MAX_SECONDS": "retry_max_seconds",
        "RETRY_SLOW_BASE_SECONDS": "retry_slow_base_seconds",
        "SECRET_MAX_AGE_SECONDS": "secret_max_age_seconds",
        "CANCEL_QUEUE_RETENTION_SECONDS": "queue_retention_seconds",
    }[name]
    # Each number alone: a short horizon and a roomy receive limit keep the schedule consistent.
    roomy = {"RETRY_HORIZON_SECONDS": "1", "MAX_RECEIVE_COUNT": "1000"}
    for value in good:
        config = load(**{**roomy, name: value})
        assert getattr(config, field) == float(value)
    for value in bad:
        message = error(**{**roomy, name: value})
        assert message.startswith(name), (value, message)


def test_a_horizon_past_a_week_is_refused_naming_the_week_in_seconds() -> None:
    message = error(RETRY_HORIZON_SECONDS="604801", MAX_RECEIVE_COUNT="1000")
    assert message.startswith("RETRY_HORIZON_SECONDS is 604801; it must be between 1 and 604800"), message
    assert "604800." not in message


def test_retry_max_must_not_be_below_base() -> None:
    message = error(RETRY_BASE_SECONDS="600", RETRY_MAX_SECONDS="60")
    assert message.startswith("RETRY_MAX_SECONDS")
    assert "RETRY_BASE_SECONDS" in message


@pytest.mark.parametrize(
    ("horizon", "base", "cap", "receives", "needed"),
    [
        ("86400", "30", "3600", "54", 55),  # the defaults need 55: one short is refused
        ("604800", "30", "3600", "60", 343),  # a week of hourly retries
        ("604800", "30", "43200", "38", 39),  # ... or of 12-hourly ones
        ("3600", "30", "3600", "8", 9),  # an hour: the old 8 receives are one short
        ("60", "10", "3600", "4", 5),
    ],
)
def test_receive_limit_too_small_for_the_horizon_is_refused_with_the_number_needed(
    horizon: str, base: str, cap: str, receives: str, needed: int
) -> None:
    env = {"RETRY_HORIZON_SECONDS": horizon, "RETRY_BASE_SECONDS": base, "RETRY_MAX_SECONDS": cap}
    message = error(MAX_RECEIVE_COUNT=receives, **env)
    assert message.startswith("MAX_RECEIVE_COUNT")
    assert f"RETRY_HORIZON_SECONDS ({horizon})" in message
    assert f"at least {needed}" in message
    assert load(MAX_RECEIVE_COUNT=str(needed), **env).max_receive_count == needed


def test_a_cap_below_two_seconds_would_retry_at_once_forever() -> None:
    message = error(RETRY_BASE_SECONDS="1", RETRY_MAX_SECONDS="1", MAX_RECEIVE_COUNT="1000")
    assert message.startswith("RETRY_MAX_SECONDS") and "forever" in message


def test_no_backoff_at_all_is_refused_as_the_template_refuses_it() -> None:
    """The template's minimum is 1 s for every retry delay; the function holds the same line."""
    for name in ("RETRY_BASE_SECONDS", "RETRY_SLOW_BASE_SECONDS", "RETRY_MAX_SECONDS"):
        assert error(**{name: "0"}).startswith(name)
        assert TEMPLATE_MINIMUMS[name] == 1


def test_the_horizon_must_end_before_the_queue_drops_the_message() -> None:
    message = error(
        RETRY_HORIZON_SECONDS="600", CANCEL_QUEUE_RETENTION_SECONDS="600", MAX_RECEIVE_COUNT="100"
    )
    assert message.startswith(
        "RETRY_HORIZON_SECONDS (600) must be shorter than CANCEL_QUEUE_RETENTION_SECONDS"
    )


def test_retry_schedule_carries_the_settings() -> None:
    schedule = load(RETRY_HORIZON_SECONDS="7200", MAX_RECEIVE_COUNT="20").retry_schedule
    assert (schedule.horizon_seconds, schedule.base_seconds, schedule.max_seconds) == (7200, 30, 3600)
    assert (schedule.slow_base_seconds, schedule.max_receive_count) == (900, 20)


def test_secret_values_are_not_echoed_in_errors() -> None:
    # a number variable set to something secret-looking: the message names the variable, not the value
    message = error(MAX_CONCURRENCY="sk-live-abcdef")
    assert "sk-live" not in message
