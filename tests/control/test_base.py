"""Controller base: sample instants, phase, zero-order hold, saved schedule, RNG state helpers."""

from __future__ import annotations

import numpy as np
import pytest

from twin.control.base import Controller, rng_from_state, rng_state_array


class Counter(Controller):
    def __init__(self, **kw):
        super().__init__("counter", **kw)
        self.samples = []

    def sample(self, time_s, inputs):
        self.samples.append(time_s)
        return {"n": len(self.samples), "x": inputs["x"]}


def test_samples_at_phase_plus_k_period_and_holds_between():
    """A 2.5 s controller with phase 1 s samples at 1, 3.5, 6, … on a 0.5 s step; outputs are held."""
    c = Counter(period_s=2.5, phase_s=1.0)
    outs = [c.step(0.5 * k, {"x": k}) for k in range(0, 20)]
    assert c.samples == [1.0, 3.5, 6.0, 8.5]
    assert outs[0] == {} and outs[2] == {"n": 1, "x": 2} and outs[6] == {"n": 1, "x": 2}
    assert outs[7] == {"n": 2, "x": 7}


def test_coarse_steps_sample_at_the_first_step_after_the_instant():
    """When the step does not divide the period, a sample runs at the first step at or after its instant."""
    c = Counter(period_s=2.0)
    for k in range(0, 8):
        c.step(1.5 * k, {"x": k})
    assert c.samples == [0.0, 3.0, 4.5, 6.0, 9.0, 10.5]
    assert c.next_sample_s == 12.0


def test_float_sums_do_not_skip_samples():
    """0.1-s steps accumulated in floating point still hit every 0.3-s instant."""
    c = Counter(period_s=0.3)
    t = 0.0
    for _ in range(31):
        c.step(t, {"x": 0})
        t += 0.1
    assert len(c.samples) == 11


def test_due_sample_needs_inputs_and_schedule_round_trips():
    """A due sample without inputs is an error; the schedule and held outputs are restored exactly."""
    c = Counter(period_s=1.0)
    with pytest.raises(ValueError):
        c.step(0.0)
    c.step(0.0, {"x": 1.5})
    d = Counter(period_s=1.0)
    d.load_state_dict(c.state_dict())
    assert d.step(0.5) == {"n": 1, "x": 1.5} and d.next_sample_s == 1.0


def test_rng_state_array_round_trip():
    """A generator rebuilt from its saved 6-number state draws the same numbers."""
    rng = np.random.default_rng(42)
    rng.standard_normal(7)
    rng.integers(0, 10, 3, dtype=np.uint32)
    other = rng_from_state(rng_state_array(rng))
    assert np.array_equal(rng.standard_normal(100), other.standard_normal(100))
    with pytest.raises(TypeError):
        rng_state_array(np.random.Generator(np.random.MT19937(1)))
