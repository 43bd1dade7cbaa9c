"""retry_policy: bounds, growth, slow vs normal, the receives a horizon takes, schedule problems."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.decisions.classification import RetryDelay
from alipay_cancel.decisions.retry_policy import (
    MAX_HORIZON_SECONDS,
    UNBOUNDED,
    RetrySchedule,
    jitter_bounds,
    receives_within_horizon,
    schedule_problems,
    visibility_timeout,
)
from alipay_cancel.shared.sqs_limits import SQS_MAX_RETENTION_SECONDS, SQS_MAX_VISIBILITY_SECONDS
from tests.fixtures.retries import fewest_receives, most_receives_one_by_one

DEFAULTS = {"base_seconds": 30, "max_seconds": 3600, "slow_base_seconds": 900}


def delays(count: int, delay: RetryDelay, seed: int = 1, **overrides: int) -> list[int]:
    rng = random.Random(seed)
    params = {**DEFAULTS, **overrides}
    return [visibility_timeout(count, delay, jitter=rng.random(), **params) for _ in range(200)]


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
    zero = {"base_seconds": 0, "max_seconds": 0, "slow_base_seconds": 0}
    assert visibility_timeout(1, RetryDelay.NORMAL, jitter=0.9, **zero) == 0
    negative = {"base_seconds": -5, "max_seconds": -1, "slow_base_seconds": -3}
    assert visibility_timeout(0, RetryDelay.NORMAL, jitter=0.9, **negative) == 0
    assert jitter_bounds(-3, RetryDelay.NORMAL, **DEFAULTS)[1] == 30  # counts below 1 count as 1


def test_huge_receive_count_is_fast_and_capped() -> None:
    assert jitter_bounds(10**9, RetryDelay.NORMAL, **DEFAULTS)[1] == 3600


def test_seeded_rng_is_deterministic() -> None:
    assert delays(4, RetryDelay.NORMAL, seed=7) == delays(4, RetryDelay.NORMAL, seed=7)
    assert delays(4, RetryDelay.NORMAL, seed=7) != delays(4, RetryDelay.NORMAL, seed=8)


@pytest.mark.parametrize(("jitter", "expected"), [(0.0, 60), (0.5, 90), (0.999999, 120)])
def test_the_jitter_draw_places_the_delay_between_half_the_bound_and_the_bound(
    jitter: float, expected: int
) -> None:
    assert visibility_timeout(3, RetryDelay.NORMAL, jitter=jitter, **DEFAULTS) == expected


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
    value = visibility_timeout(count, delay, jitter=random.Random(seed).random(), **params)
    upper = jitter_bounds(count, delay, **params)[1]
    assert isinstance(value, int)
    assert 0 <= value <= upper <= SQS_MAX_VISIBILITY_SECONDS
    assert value <= max(cap, 0)
    assert value >= upper // 2
    # the bound never shrinks as receives go up
    assert jitter_bounds(count + 1, delay, **params)[1] >= upper


# ------------------------------------------------------------------------------------------ horizon

DAY = 86400
SCHEDULE = RetrySchedule(horizon_seconds=DAY, max_receive_count=60, **DEFAULTS)


def test_the_horizon_leaves_the_redriven_message_a_week_in_the_dead_letter_queue() -> None:
    assert MAX_HORIZON_SECONDS == 7 * DAY
    assert SQS_MAX_RETENTION_SECONDS - MAX_HORIZON_SECONDS >= 7 * DAY


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
    assert fewest_receives(schedule) == fewest
    # The slow class waits longer, so it never needs more receives.
    assert receives_within_horizon(schedule, RetryDelay.SLOW) <= most


def test_jitter_floor_is_half_the_ceiling() -> None:
    assert jitter_bounds(1, RetryDelay.NORMAL, **DEFAULTS)[0] == 15
    assert jitter_bounds(20, RetryDelay.SLOW, **DEFAULTS)[0] == 1800
    drawn = delays(1, RetryDelay.NORMAL, base_seconds=1, max_seconds=2)
    assert (
        min(drawn)
        >= jitter_bounds(1, RetryDelay.NORMAL, base_seconds=1, max_seconds=2, slow_base_seconds=2)[0]
    )


@pytest.mark.parametrize(
    ("schedule", "fragments"),
    [
        (SCHEDULE, []),
        (RetrySchedule(DAY, 30, 3600, 900, 54), ["MAX_RECEIVE_COUNT (54) is too small"]),
        (RetrySchedule(DAY, 600, 60, 900, 1000), ["RETRY_MAX_SECONDS (60) must be at least RETRY_BASE"]),
        (RetrySchedule(DAY, 1, 1, 1, 1000), ["RETRY_MAX_SECONDS (1) must be at least 2"]),
        (RetrySchedule(10, 1, 2, 2, 12), []),
        (RetrySchedule(2, 1, 2, 1, 4), []),  # the shortest the configuration accepts (the tests' own)
    ],
)
def test_schedule_problems(schedule: RetrySchedule, fragments: list[str]) -> None:
    problems = schedule_problems(schedule)
    assert len(problems) == len(fragments)
    for problem, fragment in zip(problems, fragments, strict=True):
        assert fragment in problem
    if problems and "too small" in problems[0]:
        assert "up to 55 receives" in problems[0] and "at least 55" in problems[0]


def test_receives_within_horizon_agrees_with_counting_one_receive_at_a_time() -> None:
    """Both retry classes, across horizons, bases, caps and slow bases: the shortcut over the capped
    tail gives what counting every receive gives."""
    for horizon in (1, 30, 3600, DAY):
        for base in (1, 30):
            # A day of second-long delays is 86400 receives to count: short caps are met in the hour.
            for cap in (2, 60, 3600, 43200) if horizon < DAY else (3600, 43200):
                for slow in (1, 2, 60, 900, 3600):  # 2 and 60: twice a base, where the classes meet
                    schedule = RetrySchedule(horizon, base, cap, slow, 1000)
                    for delay in RetryDelay:
                        expected = most_receives_one_by_one(schedule, delay)
                        assert receives_within_horizon(schedule, delay) == expected, (schedule, delay)


def test_a_zero_base_never_waits_however_many_receives() -> None:
    for count in (1, 2, 10):
        assert jitter_bounds(
            count, RetryDelay.NORMAL, base_seconds=0, max_seconds=3600, slow_base_seconds=0
        ) == (0, 0)


def test_a_horizon_needing_hundreds_of_receives_is_a_receive_limit_problem() -> None:
    """Hundreds of receives is a large number, not an unbounded one: the problem names the limit to set."""
    (problem,) = schedule_problems(RetrySchedule(7 * DAY, 30, 3600, 900, 342))
    assert problem.startswith("MAX_RECEIVE_COUNT (342) is too small")
    assert "up to 343 receives" in problem and "at least 343" in problem


def test_a_cap_that_never_grows_is_unbounded() -> None:
    assert receives_within_horizon(RetrySchedule(DAY, 1, 1, 1, 10)) == UNBOUNDED
