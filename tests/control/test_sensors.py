"""Sensors: ADC quantization, noise, lag, failures and the valid flag, saved state."""

from __future__ import annotations

import numpy as np
import pytest

from twin.control.sensors import SensorArray


def test_12bit_adc_step_on_its_range():
    """Readings sit on the grid lo + k·(hi − lo)/4095 and within half a step of the true value."""
    s = SensorArray(1, lo=0.0, hi=60.0, bits=12, seed=1)
    step = 60.0 / 4095
    assert s.step == pytest.approx(step)
    true = np.linspace(10.0, 11.0, 2001)
    reads = np.array([s.read(float(k), x)[0] for k, x in enumerate(true)])
    codes = reads / step
    assert np.allclose(codes, np.round(codes), atol=1e-9)
    assert np.max(np.abs(reads - true)) <= step / 2 + 1e-12
    diffs = np.unique(np.round(np.diff(reads) / step, 9))
    assert set(diffs) <= {0.0, 1.0}  # a slow ramp moves one code at a time
    assert len(np.unique(reads)) == pytest.approx(1.0 / step, abs=2)


def test_resolution_grid_and_saturation():
    """A 0.1 K resolution rounds to 0.1 K; values beyond the range saturate at the rails."""
    s = SensorArray(3, lo=-40.0, hi=85.0, resolution=0.1, seed=1)
    r = s.read(0.0, [21.349, 21.351, 200.0])
    assert r == pytest.approx([21.3, 21.4, 85.0])
    assert list(s.valid) == [True, True, False]  # at the rail: implausible


def test_noise_sigma_measured_from_samples(rng):
    """The standard deviation of readings matches noise_sigma (plus the ADC's step²/12)."""
    s = SensorArray(50, lo=0.0, hi=60.0, bits=12, noise_sigma=0.2, seed=rng)
    reads = np.array([s.read(float(k), 25.0) for k in range(400)])
    expected = np.sqrt(0.2**2 + s.step**2 / 12)
    assert reads.std() == pytest.approx(expected, rel=0.02)
    assert reads.mean() == pytest.approx(25.0, abs=0.01)


def test_first_order_lag():
    """After one time constant a step has reached 1 − 1/e of its size, at any read spacing."""
    for dt in (1.0, 5.0):
        s = SensorArray(1, lo=0.0, hi=100.0, bits=None, tau_s=20.0)
        s.read(0.0, 20.0)
        t = 0.0
        while t < 20.0:
            t += dt
            r = s.read(t, 30.0)[0]
        assert r == pytest.approx(20.0 + 10.0 * (1 - np.exp(-1.0)), rel=1e-12)


def test_stuck_open_noisy_failures_and_valid_flag():
    """stuck keeps the last value (and stays valid); open reads lo and is invalid; repair restores."""
    s = SensorArray(3, lo=0.0, hi=60.0, bits=12, noise_sigma=0.05, max_rate_per_s=2.0, seed=3)
    s.set_failure("stuck", at_s=10.0, index=0)
    s.set_failure("open", at_s=10.0, index=1)
    s.set_failure("noisy", at_s=10.0, index=2)
    before = None
    for k in range(10):
        before = s.read(float(k), 20.0 + 0.5 * k)
        assert s.valid.all()
    assert s.failure(9.0) == ["ok", "ok", "ok"]
    assert s.failure(10.0) == ["stuck", "open", "noisy"]
    reads, valid = [], []
    for k in range(10, 60):
        reads.append(s.read(float(k), 20.0 + 0.5 * k))
        valid.append(s.valid.copy())
    reads, valid = np.array(reads), np.array(valid)
    assert np.all(reads[:, 0] == before[0]) and valid[:, 0].all()
    assert np.all(reads[:, 1] == 0.0) and not valid[:, 1].any()
    # noisy: σ = 10 × 0.05 = 0.5 on top of a 0.5 K/s ramp; rate check flags some samples
    resid = reads[:, 2] - (20.0 + 0.5 * np.arange(10, 60))
    assert 0.3 < resid.std() < 0.8
    s.set_failure("ok", at_s=60.0, index=[0, 1, 2])
    s.read(60.0, 50.0)
    r = s.read(61.0, 50.0)
    assert r == pytest.approx(50.0, abs=0.3) and s.valid.all()


def test_rate_of_change_check():
    """A jump faster than max_rate_per_s marks the reading invalid for that sample."""
    s = SensorArray(1, lo=0.0, hi=60.0, bits=None, max_rate_per_s=1.0)
    s.read(0.0, 20.0)
    s.read(1.0, 20.9)
    assert s.valid[0]
    s.read(2.0, 25.0)
    assert not s.valid[0]
    s.read(3.0, 25.5)
    assert s.valid[0]


def test_frozen_check_catches_a_stuck_noisy_sensor():
    """With frozen_s set, a noisy sensor that stops changing is flagged."""
    s = SensorArray(1, lo=0.0, hi=60.0, bits=12, noise_sigma=0.1, frozen_s=10.0, seed=5)
    s.set_failure("stuck", at_s=20.0)
    flags = []
    for k in range(60):
        s.read(float(k), 22.0)
        flags.append(bool(s.valid[0]))
    assert all(flags[:20]) and not any(flags[31:])


def test_state_round_trip_includes_rng():
    """A sensor restored from its state reads exactly the same noisy values afterwards."""
    kw = dict(lo=0.0, hi=60.0, bits=12, noise_sigma=0.1, tau_s=5.0, max_rate_per_s=2.0, seed=11)
    a = SensorArray(4, **kw)
    for k in range(20):
        a.read(float(k), 22.0 + k * 0.1)
    a.set_failure("stuck", at_s=25.0, index=2)
    b = SensorArray(4, **{**kw, "seed": 999})
    d = a.state_dict()
    np.savez(f := __import__("io").BytesIO(), **d)
    f.seek(0)
    b.load_state_dict(dict(np.load(f)))
    for k in range(20, 40):
        ra, rb = a.read(float(k), 24.0), b.read(float(k), 24.0)
        assert np.array_equal(ra, rb) and np.array_equal(a.valid, b.valid)


def test_a_sensor_never_failed_reads_as_one_whose_failure_lies_ahead(rng):
    """A sensor that was never given a failure skips the failure handling; it must read exactly as the
    same sensor whose failure is scheduled after the run (which takes the full path), and as soon as that
    failure starts the two differ (the open one reads the bottom of its range and is flagged)."""
    kw = dict(lo=0.0, hi=60.0, bits=12, noise_sigma=0.05, tau_s=10.0, max_rate_per_s=2.0, seed=7)
    plain, scheduled = SensorArray(4, **kw), SensorArray(4, **kw)
    scheduled.set_failure("open", at_s=200.0, index=2)
    true = 20.0 + np.cumsum(rng.normal(0.0, 0.05, (200, 4)), axis=0)
    for k in range(200):
        a, b = plain.read(float(k), true[k]), scheduled.read(float(k), true[k])
        assert np.array_equal(a, b) and np.array_equal(plain.valid, scheduled.valid)
    a, b = plain.read(200.0, true[-1]), scheduled.read(200.0, true[-1])
    assert b[2] == 0.0 and not scheduled.valid[2] and plain.valid[2] and a[2] > 19.0
    assert np.array_equal(np.delete(a, 2), np.delete(b, 2))
