"""The learning-rate schedule every training script shares."""

import pytest

from training.schedule import scheduled_lr


def test_warmup_rises_linearly_from_a_fiftieth_to_the_peak():
    assert scheduled_lr(1e-3, 0, 600, 60, annealing=False) == pytest.approx(2e-5)
    assert scheduled_lr(1e-3, 30, 600, 60, annealing=False) == pytest.approx((2e-5 + 1e-3) / 2)
    assert scheduled_lr(1e-3, 60, 600, 60, annealing=False) == pytest.approx(1e-3)
    assert scheduled_lr(1e-3, 500, 600, 60, annealing=False) == pytest.approx(1e-3)


def test_annealing_starts_after_the_warmup_and_ends_at_a_fiftieth():
    assert scheduled_lr(1e-3, 60, 600, 60, annealing=True) == pytest.approx(1e-3)
    assert scheduled_lr(1e-3, 330, 600, 60, annealing=True) == pytest.approx((1e-3 + 2e-5) / 2)
    assert scheduled_lr(1e-3, 600, 600, 60, annealing=True) == pytest.approx(2e-5)
    assert scheduled_lr(1e-3, 900, 600, 60, annealing=True) == pytest.approx(2e-5)


def test_without_warmup_annealing_is_the_plain_cosine():
    assert scheduled_lr(1e-3, 0, 600, 0, annealing=True) == pytest.approx(1e-3)
    assert scheduled_lr(1e-3, 300, 600, 0, annealing=True) == pytest.approx((1e-3 + 2e-5) / 2)
