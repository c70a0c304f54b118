"""Task durations learned from interval-censored polls (the model behind probes at the limit)."""

from __future__ import annotations

import random

import pytest

from pipeline.synth.durations import MIN_INTERVALS, DurationModel


def _uniform_model(seed: int = 1, n: int = 96, lo: float = 0.3, hi: float = 1.5) -> DurationModel:
    """Tasks of U(lo, hi) seconds, each inspected once at a random age, then late."""
    rng = random.Random(seed)
    model = DurationModel()
    for _ in range(n):
        duration = rng.uniform(lo, hi)
        looked = rng.uniform(0.0, hi)
        if looked < duration:  # "waiting" at that age, "success" at the late poll
            model.observe(looked, hi + 0.05)
        else:  # "success" at that age, never seen running
            model.observe(0.0, looked)
    return model


def test_no_model_before_enough_intervals() -> None:
    model = DurationModel()
    for _ in range(MIN_INTERVALS - 1):
        model.observe(0.5, 1.0)
    assert not model.ready and model.cdf(5.0) == 0.0 and model.late_age() == 0.0
    model.observe(0.5, 1.0)
    assert model.ready


def test_interval_censored_fit_recovers_the_distribution() -> None:
    model = _uniform_model()
    for age, true in ((0.6, 0.25), (0.9, 0.5), (1.2, 0.75)):
        assert model.cdf(age) == pytest.approx(true, abs=0.15)
    assert model.cdf(0.1) < 0.1 and model.cdf(1.6) == 1.0
    ages = [0.2 * k for k in range(10)]
    assert all(a <= b for a, b in zip(map(model.cdf, ages), map(model.cdf, ages[1:])))


def test_odds_are_conditional_on_the_age_a_task_was_seen_running() -> None:
    model = _uniform_model()
    fresh, seen_late = model.ended_odds(1.2, 0.0), model.ended_odds(1.2, 1.1)
    assert 0.0 <= seen_late < fresh <= 1.0
    assert model.ended_odds(1.0, 1.0) == 0.0  # no time has passed since it was seen running
    assert model.ended_odds(9.0, 8.0) == 0.5  # outlived everything seen: no knowledge either way


def test_late_age_covers_the_longest_task_seen_running() -> None:
    model = _uniform_model()
    assert model.late_age() >= 1.4
    model.observe(3.0, 3.2)  # one task proved running at 3 s
    assert model.late_age() >= 3.0 * 1.02
