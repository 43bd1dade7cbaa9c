"""retry_policy: bounds, growth, slow vs normal, reproducibility, last attempt."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.decisions.classification import RetryDelay
from alipay_cancel.decisions.retry_policy import (
    MAX_HORIZON_SECONDS,
    UNBOUNDED,
    GiveUp,
    RetrySchedule,
    fewest_receives_within_horizon,
    is_last_attempt,
    jitter_bounds,
    message_age_seconds,
    next_step,
    receives_within_horizon,
    schedule_problems,
    visibility_timeout,
)
from alipay_cancel.shared.sqs_limits import SQS_MAX_RETENTION_SECONDS, SQS_MAX_VISIBILITY_SECONDS

DEFAULTS = {"base_seconds": 30, "max_seconds": 3600, "slow_base_seconds": 900}


def delays(count: int, delay: RetryDelay, seed: int = 1, **overrides: int) -> list[int]:
    rng = random.Random(seed)
    params = {**DEFAULTS, **overrides}
    return [visibility_timeout(count, delay, rng=rng, **params) for _ in range(200)]


@pytest.mark.parametrize(
    ("count", "upper"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, 1920), (8, 3600), (50, 3600)],
)
def test_normal_grows_exponentially_to_the_cap(count: int, upper: int) -> None:
    assert jitter_bounds(count, RetryDelay.NORMAL, **DEFAULTS)[1] == upper
    drawn = delays(count, RetryDelay.NORMAL)
    assert all(upper / 2 - 1 <= d <= upper for d in drawn)
    assert len(set(drawn)) > 10  # jittered, not constant


@pytest.mark.parametrize(("count", "upper"), [(1, 900), (2, 1800), (3, 3600), (9, 3600)])
def test_slow_starts_from_slow_base(count: int, upper: int) -> None:
    assert jitter_bounds(count, RetryDelay.SLOW, **DEFAULTS)[1] == upper
    assert all(upper / 2 - 1 <= d <= upper for d in delays(count, RetryDelay.SLOW))


@pytest.mark.parametrize("count", range(1, 12))
def test_slow_is_never_shorter_than_normal(count: int) -> None:
    slow = jitter_bounds(count, RetryDelay.SLOW, **DEFAULTS)[1]
    normal = jitter_bounds(count, RetryDelay.NORMAL, **DEFAULTS)[1]
    assert slow >= normal
    if normal < DEFAULTS["max_seconds"]:
        assert slow > normal
        assert min(delays(count, RetryDelay.SLOW)) > max(delays(count, RetryDelay.NORMAL)) / 2


def test_slow_base_below_normal_base_still_not_faster() -> None:
    upper = jitter_bounds(1, RetryDelay.SLOW, base_seconds=60, max_seconds=600, slow_base_seconds=10)[1]
    assert upper == 60


def test_capped_by_sqs_limit_even_if_configured_higher() -> None:
    upper = jitter_bounds(30, RetryDelay.SLOW, base_seconds=30, max_seconds=10**9, slow_base_seconds=900)[1]
    assert upper == SQS_MAX_VISIBILITY_SECONDS
    drawn = delays(30, RetryDelay.SLOW, max_seconds=10**9)
    assert max(drawn) <= SQS_MAX_VISIBILITY_SECONDS


def test_zero_and_negative_inputs_stay_at_or_above_zero() -> None:
    assert visibility_timeout(1, RetryDelay.NORMAL, base_seconds=0, max_seconds=0, slow_base_seconds=0) == 0
    assert (
        visibility_timeout(0, RetryDelay.NORMAL, base_seconds=-5, max_seconds=-1, slow_base_seconds=-3) == 0
    )
    assert jitter_bounds(-3, RetryDelay.NORMAL, **DEFAULTS)[1] == 30  # counts below 1 count as 1


def test_huge_receive_count_is_fast_and_capped() -> None:
    assert jitter_bounds(10**9, RetryDelay.NORMAL, **DEFAULTS)[1] == 3600


def test_seeded_rng_is_deterministic() -> None:
    assert delays(4, RetryDelay.NORMAL, seed=7) == delays(4, RetryDelay.NORMAL, seed=7)
    assert delays(4, RetryDelay.NORMAL, seed=7) != delays(4, RetryDelay.NORMAL, seed=8)


def test_default_rng_works_without_seed() -> None:
    value = visibility_timeout(3, RetryDelay.NORMAL, **DEFAULTS)
    assert 60 <= value <= 120


@settings(max_examples=500, deadline=None)
@given(
    count=st.integers(min_value=-10, max_value=10_000),
    delay=st.sampled_from(RetryDelay),
    base=st.integers(min_value=-100, max_value=100_000),
    cap=st.integers(min_value=-100, max_value=100_000),
    slow=st.integers(min_value=-100, max_value=100_000),
    seed=st.integers(),
)
def test_always_within_bounds(
    count: int, delay: RetryDelay, base: int, cap: int, slow: int, seed: int
) -> None:
    params = {"base_seconds": base, "max_seconds": cap, "slow_base_seconds": slow}
    value = visibility_timeout(count, delay, rng=random.Random(seed), **params)
    upper = jitter_bounds(count, delay, **params)[1]
    assert isinstance(value, int)
    assert 0 <= value <= upper <= SQS_MAX_VISIBILITY_SECONDS
    assert value <= max(cap, 0)
    assert value >= upper // 2
    # the bound never shrinks as receives go up
    assert jitter_bounds(count + 1, delay, **params)[1] >= upper


@pytest.mark.parametrize(
    ("count", "maximum", "last"),
    [(1, 8, False), (7, 8, False), (8, 8, True), (9, 8, True), (1, 1, True), (1, 0, True), (0, 5, False)],
)
def test_is_last_attempt(count: int, maximum: int, last: bool) -> None:
    assert is_last_attempt(count, maximum) is last


# ------------------------------------------------------------------------------------------ horizon

DAY = 86400
SCHEDULE = RetrySchedule(horizon_seconds=DAY, max_receive_count=60, **DEFAULTS)


def test_the_horizon_leaves_the_redriven_message_a_week_in_the_dead_letter_queue() -> None:
    assert MAX_HORIZON_SECONDS == 7 * DAY
    assert SQS_MAX_RETENTION_SECONDS - MAX_HORIZON_SECONDS >= 7 * DAY


@pytest.mark.parametrize(
    ("receive_count", "age", "delay", "expected"),
    [
        (1, 0, RetryDelay.NORMAL, (15, 30, None)),  # first failure: the usual backoff
        (8, 3000, RetryDelay.NORMAL, (1800, 3600, None)),  # at the cap
        (3, 600, RetryDelay.SLOW, (1800, 3600, None)),  # slow class, same horizon
        (40, DAY - 100, RetryDelay.NORMAL, (100, 100, None)),  # shortened: the last try at the horizon
        (40, DAY - 0.5, RetryDelay.NORMAL, (1, 1, None)),
        (41, DAY, RetryDelay.NORMAL, (0, 0, GiveUp.HORIZON)),  # reached: give up
        (9, DAY + 5000, RetryDelay.SLOW, (0, 0, GiveUp.HORIZON)),  # e.g. held back by a broken config
        (60, 10, RetryDelay.NORMAL, (0, 0, GiveUp.RECEIVES)),  # the queue's last allowed receive
        (61, DAY * 2, RetryDelay.NORMAL, (0, 0, GiveUp.RECEIVES)),
    ],
)
def test_next_step(
    receive_count: int, age: float, delay: RetryDelay, expected: tuple[int, int, GiveUp | None]
) -> None:
    low, high, give_up = expected
    steps = [
        next_step(SCHEDULE, receive_count=receive_count, age_seconds=age, delay=delay, rng=random.Random(s))
        for s in range(50)
    ]
    assert {step.give_up for step in steps} == {give_up}
    assert all(step.retry is (give_up is None) for step in steps)
    assert all(low <= step.visibility_seconds <= high for step in steps)


@pytest.mark.parametrize(
    ("horizon", "base", "cap", "most", "fewest"),
    [
        (DAY, 30, 3600, 55, 31),  # the defaults: 31 to 55 tries over a day
        (3600, 30, 3600, 9, 8),
        (12 * 3600, 30, 3600, 31, 19),
        (7 * DAY, 30, 3600, 343, 175),
        (7 * DAY, 30, 43200, 39, 25),
        (15, 1, 2, 17, 9),  # the demo's
        (1, 30, 3600, 2, 2),
        (30, 30, 3600, 3, 2),
    ],
)
def test_receives_within_horizon(horizon: int, base: int, cap: int, most: int, fewest: int) -> None:
    schedule = RetrySchedule(horizon, base, cap, 900, 1000)
    assert receives_within_horizon(schedule) == most
    assert fewest_receives_within_horizon(schedule) == fewest
    # The slow class waits longer, so it never needs more receives.
    assert receives_within_horizon(schedule, RetryDelay.SLOW) <= most


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    horizon=st.integers(min_value=1, max_value=3 * DAY),
    base=st.integers(min_value=1, max_value=4000),
    cap=st.integers(min_value=2, max_value=43200),
    delay=st.sampled_from(RetryDelay),
    seed=st.integers(),
)
def test_following_the_schedule_never_takes_more_receives_than_computed(
    horizon: int, base: int, cap: int, delay: RetryDelay, seed: int
) -> None:
    """A message that fails every time, retried as next_step says, gives up at the horizon within
    receives_within_horizon receives, and never before the horizon."""
    schedule = RetrySchedule(horizon, base, max(cap, base), 2 * base, 10**6)
    rng = random.Random(seed)
    age, receives = 0.0, 1
    while True:
        step = next_step(schedule, receive_count=receives, age_seconds=age, delay=delay, rng=rng)
        if not step.retry:
            break
        age += step.visibility_seconds
        receives += 1
    assert step.give_up is GiveUp.HORIZON
    assert age >= horizon
    assert receives <= receives_within_horizon(schedule, delay)
    assert receives >= fewest_receives_within_horizon(schedule, delay)


def test_jitter_floor_is_half_the_ceiling() -> None:
    assert jitter_bounds(1, RetryDelay.NORMAL, **DEFAULTS)[0] == 15
    assert jitter_bounds(20, RetryDelay.SLOW, **DEFAULTS)[0] == 1800
    drawn = delays(1, RetryDelay.NORMAL, base_seconds=1, max_seconds=2)
    assert (
        min(drawn)
        >= jitter_bounds(1, RetryDelay.NORMAL, base_seconds=1, max_seconds=2, slow_base_seconds=2)[0]
    )


@pytest.mark.parametrize(
    ("sent", "now", "age"),
    [
        ("1700000000000", 1700000060.5, 60.5),
        (1700000000000, 1700000000.0, 0.0),
        ("1700000100000", 1700000000.0, 0.0),  # sent "later" than now (clock skew): not negative
        (None, 1700000000.0, 0.0),  # unknown: the receive count still bounds the retries
        ("", 1700000000.0, 0.0),
        ("soon", 1700000000.0, 0.0),
    ],
)
def test_message_age(sent: str | int | None, now: float, age: float) -> None:
    assert message_age_seconds(sent, now) == pytest.approx(age)


@pytest.mark.parametrize(
    ("schedule", "fragments"),
    [
        (SCHEDULE, []),
        (RetrySchedule(DAY, 30, 3600, 900, 54), ["MAX_RECEIVE_COUNT (54) is too small"]),
        (RetrySchedule(DAY, 600, 60, 900, 1000), ["RETRY_MAX_SECONDS (60) must be at least RETRY_BASE"]),
        (RetrySchedule(DAY, 1, 1, 1, 1000), ["RETRY_MAX_SECONDS (1) must be at least 2"]),
        (RetrySchedule(10, 1, 2, 2, 12), []),
        (RetrySchedule(DAY, 0, 0, 0, 4), []),  # no backoff (tests): the receive limit alone ends it
    ],
)
def test_schedule_problems(schedule: RetrySchedule, fragments: list[str]) -> None:
    problems = schedule_problems(schedule)
    assert len(problems) == len(fragments)
    for problem, fragment in zip(problems, fragments, strict=True):
        assert fragment in problem
    if problems and "too small" in problems[0]:
        assert "up to 55 receives" in problems[0] and "at least 55" in problems[0]


def test_a_cap_that_never_grows_is_unbounded() -> None:
    assert receives_within_horizon(RetrySchedule(DAY, 1, 1, 1, 10)) == UNBOUNDED
