"""Actuators: ramp limits in simulated time, VFD minimum speed, saved state."""

from __future__ import annotations

import numpy as np
import pytest

from twin.control.actuators import Actuator, FanVFD, Valve


def test_valve_ramps_at_its_stroke_rate():
    """A 60 s valve opens by 1/60 per second and stops at the target."""
    v = Valve(rate_per_s=1.0 / 60.0)
    v.command(0.5, 0.0)
    pos = [v.advance(float(t))[0] for t in range(0, 40)]
    assert pos == pytest.approx([min(t / 60.0, 0.5) for t in range(0, 40)])
    v.command(0.0, 40.0)
    assert v.advance(43.0)[0] == pytest.approx(0.5 - 3 / 60.0)
    v.command(2.0, 43.0)  # clipped to 1
    assert v.target[0] == 1.0


def test_separate_up_and_down_rates_vectorized():
    """Up and down ramps differ; each actuator of an array moves on its own."""
    a = Actuator(2, lo=0.0, hi=1.0, rate_up_per_s=0.1, rate_down_per_s=0.05, initial=[0.0, 1.0])
    a.command([1.0, 0.0], 0.0)
    assert a.advance(2.5) == pytest.approx([0.25, 0.875])
    assert a.advance(20.0) == pytest.approx([1.0, 0.0])


def test_vfd_minimum_speed_and_stop():
    """Running, the reference never drops below min speed; stopped, the fan ramps to 0."""
    f = FanVFD(min_speed=0.3, accel_per_s=0.05, decel_per_s=0.1)
    f.command(0.1, 0.0)
    assert f.target[0] == 0.3
    assert f.advance(2.0)[0] == pytest.approx(0.1)  # ramps through the band from standstill
    assert f.advance(10.0)[0] == pytest.approx(0.3)
    f.command(0.8, 10.0)
    assert f.advance(20.0)[0] == pytest.approx(0.8)
    f.command(0.8, 20.0, run=False)
    assert f.advance(25.0)[0] == pytest.approx(0.3)
    assert f.advance(40.0)[0] == 0.0


def test_state_round_trip():
    """Restored actuators move identically."""
    a = FanVFD(3, min_speed=0.3, initial=[0.0, 0.5, 1.0], running=True)
    a.command([0.9, 0.2, 0.5], 1.0)
    a.advance(3.0)
    b = FanVFD(3, min_speed=0.3)
    b.load_state_dict(a.state_dict())
    for t in (4.0, 7.5, 30.0):
        assert np.array_equal(a.advance(t), b.advance(t))
