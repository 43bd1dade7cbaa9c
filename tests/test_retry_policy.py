"""retry_policy: bounds, growth, slow vs normal, reproducibility, last attempt."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alipay_cancel.decisions.classification import RetryDelay
from alipay_cancel.decisions.retry_policy import (
    SQS_MAX_VISIBILITY_SECONDS,
    is_last_attempt,
    upper_bound,
    visibility_timeout,
)

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
    assert upper_bound(count, RetryDelay.NORMAL, **DEFAULTS) == upper
    drawn = delays(count, RetryDelay.NORMAL)
    assert all(upper / 2 - 1 <= d <= upper for d in drawn)
    assert len(set(drawn)) > 10  # jittered, not constant


@pytest.mark.parametrize(("count", "upper"), [(1, 900), (2, 1800), (3, 3600), (9, 3600)])
def test_slow_starts_from_slow_base(count: int, upper: int) -> None:
    assert upper_bound(count, RetryDelay.SLOW, **DEFAULTS) == upper
    assert all(upper / 2 - 1 <= d <= upper for d in delays(count, RetryDelay.SLOW))


@pytest.mark.parametrize("count", range(1, 12))
def test_slow_is_never_shorter_than_normal(count: int) -> None:
    slow = upper_bound(count, RetryDelay.SLOW, **DEFAULTS)
    normal = upper_bound(count, RetryDelay.NORMAL, **DEFAULTS)
    assert slow >= normal
    if normal < DEFAULTS["max_seconds"]:
        assert slow > normal
        assert min(delays(count, RetryDelay.SLOW)) > max(delays(count, RetryDelay.NORMAL)) / 2


def test_slow_base_below_normal_base_still_not_faster() -> None:
    upper = upper_bound(1, RetryDelay.SLOW, base_seconds=60, max_seconds=600, slow_base_seconds=10)
    assert upper == 60


def test_capped_by_sqs_limit_even_if_configured_higher() -> None:
    upper = upper_bound(30, RetryDelay.SLOW, base_seconds=30, max_seconds=10**9, slow_base_seconds=900)
    assert upper == SQS_MAX_VISIBILITY_SECONDS
    drawn = delays(30, RetryDelay.SLOW, max_seconds=10**9)
    assert max(drawn) <= SQS_MAX_VISIBILITY_SECONDS


def test_zero_and_negative_inputs_stay_at_or_above_zero() -> None:
    assert visibility_timeout(1, RetryDelay.NORMAL, base_seconds=0, max_seconds=0, slow_base_seconds=0) == 0
    assert (
        visibility_timeout(0, RetryDelay.NORMAL, base_seconds=-5, max_seconds=-1, slow_base_seconds=-3) == 0
    )
    assert upper_bound(-3, RetryDelay.NORMAL, **DEFAULTS) == 30  # counts below 1 count as 1


def test_huge_receive_count_is_fast_and_capped() -> None:
    assert upper_bound(10**9, RetryDelay.NORMAL, **DEFAULTS) == 3600


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
    upper = upper_bound(count, delay, **params)
    assert isinstance(value, int)
    assert 0 <= value <= upper <= SQS_MAX_VISIBILITY_SECONDS
    assert value <= max(cap, 0)
    assert value >= upper // 2
    # the bound never shrinks as receives go up
    assert upper_bound(count + 1, delay, **params) >= upper


@pytest.mark.parametrize(
    ("count", "maximum", "last"),
    [(1, 8, False), (7, 8, False), (8, 8, True), (9, 8, True), (1, 1, True), (1, 0, True), (0, 5, False)],
)
def test_is_last_attempt(count: int, maximum: int, last: bool) -> None:
    assert is_last_attempt(count, maximum) is last
