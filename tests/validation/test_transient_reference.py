"""The transient CFD reference: its statistics (validation/transient_stats.py), which reference the ≤ 1 K
check uses (validation/compare.py), and the committed time-averaged results themselves."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from validation.compare import (
    RESULTS,
    SETTLED_RANGE_K,
    check_reference,
    hall_names,
    read_cfd,
    read_means,
    references,
)
from validation.transient_stats import batch_means_se, read_samples, window_stats

TRANSIENT = RESULTS / "aisle-pair-transient"


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """An AR(1) series x_i = φ x_{i-1} + e_i started in its stationary distribution."""
    e = rng.normal(0.0, sigma, n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_batch_means_se_matches_the_ar1_variance_of_the_mean(rng):
    """Batch means give an AR(1) mean's standard error, σ_x/√n·√((1+φ)/(1−φ)), not the naive σ_x/√n."""
    phi, sigma, n = 0.9, 0.3, 40_000
    var_x = sigma**2 / (1 - phi**2)
    exact = np.sqrt(var_x / n * (1 + phi) / (1 - phi))
    estimates = [batch_means_se(_ar1(rng, n, phi, sigma), 1000)[0] for _ in range(8)]
    # each estimate has 40 batches (≈ 11 % scatter); their mean is within 10 % of the exact value
    assert abs(np.mean(estimates) / exact - 1) < 0.10
    naive = np.sqrt(var_x / n)
    assert np.mean(estimates) > 3 * naive  # correlated samples: the naive error would be 4.4x too small


def test_window_stats_sees_a_drifting_spin_up():
    """A series still rising through the window shows a half-to-half difference of slope × half length."""
    t = np.arange(1.0, 721.0)
    rising = 20.0 + 0.002 * t  # 2 mK/s: a room still warming
    s = window_stats(t, rising, name="in.X", spin_up_s=120.0, batch_s=60.0)
    assert s.samples == 600 and s.batches == 10
    assert s.half_difference_k == pytest.approx(0.002 * 300, rel=1e-9)
    assert s.mean_c == pytest.approx(20.0 + 0.002 * 420.5, rel=1e-12)
    flat = window_stats(t, np.full_like(t, 21.0), name="in.Y", spin_up_s=120.0, batch_s=60.0)
    assert flat.half_difference_k == 0.0 and flat.se_k == 0.0 and flat.sd_k == 0.0


def _steady_only(tmp_path: Path, hall: str) -> Path:
    results = tmp_path / "results"
    shutil.copytree(RESULTS / hall, results / hall)
    return results


def test_converged_and_settled_steady_runs_are_their_own_reference():
    """open-row converged; contained hit the iteration cap but its intakes settled within 0.5 K."""
    for hall in ("open-row", "contained"):
        metas = {k: read_cfd(d)[1] for k, d in references(hall).items()}
        kind, reason = check_reference(metas)
        assert kind == "steady", (hall, reason)
    contained = read_cfd("contained")[1]
    assert not contained["converged"] and contained["intake_range_last_half_k"] <= SETTLED_RANGE_K


def test_an_unsettled_steady_run_defers_to_the_transient_average(tmp_path):
    """aisle-pair's SIMPLE intakes wander by more than 0.5 K (2.7 K): without a transient run its mean is
    provisional, with one the time average is the check's reference."""
    results = _steady_only(tmp_path, "aisle-pair")
    refs = references("aisle-pair", results)
    assert list(refs) == ["steady"]
    kind, reason = check_reference({k: read_cfd(d)[1] for k, d in refs.items()})
    assert kind == "steady" and "provisional" in reason
    transient = results / "aisle-pair-transient"
    transient.mkdir()
    (transient / "racks.csv").write_text((RESULTS / "aisle-pair" / "racks.csv").read_text())
    (transient / "meta.json").write_text(json.dumps({"solver": "buoyantBoussinesqPimpleFoam"}))
    refs = references("aisle-pair", results)
    assert list(refs) == ["steady", "transient"]
    kind, reason = check_reference({k: read_cfd(d)[1] for k, d in refs.items()})
    wander_k = read_cfd(results / "aisle-pair")[1]["intake_range_last_half_k"]
    assert wander_k > SETTLED_RANGE_K
    assert kind == "transient" and f"{wander_k:.2f} K" in reason
    assert hall_names(results) == ["aisle-pair"]  # the transient folder is a reference, not a hall


needs_transient = pytest.mark.skipif(not (TRANSIENT / "samples.csv").is_file(),
                                     reason="no committed transient results for aisle-pair")


@needs_transient
def test_transient_intakes_are_the_mean_of_the_sampled_intakes():
    """racks.csv's intakes (from the time-averaged field) equal the mean of the sampled intakes over the
    window: the intake is a linear average of cells, so the two orders of averaging must agree."""
    meta = json.loads((TRANSIENT / "meta.json").read_text())
    times, cols = read_samples(TRANSIENT)
    window = times > meta["spin_up_s"] + 1e-9
    assert window.sum() == meta["samples_averaged"]
    with open(TRANSIENT / "racks.csv", newline="") as f:
        for row in csv.DictReader(f):
            assert cols[f"in.{row['rack']}"][window].mean() == pytest.approx(float(row["t_intake_c"]), abs=2e-3)


@needs_transient
def test_transient_reference_is_averaged_long_enough():
    """The averaging window is ≥ 10 air changes of the room and every intake's mean is known to a
    standard error under a fifth of the 1 K target; the energy balance of the averaged state closes."""
    meta = json.loads((TRANSIENT / "meta.json").read_text())
    assert meta["solver"] == "buoyantBoussinesqPimpleFoam" and meta["averaged_over_s"] >= 300
    times, cols = read_samples(TRANSIENT)
    for name, values in cols.items():
        s = window_stats(times, values, name=name, spin_up_s=meta["spin_up_s"], batch_s=60.0)
        assert s.batches >= 5 and s.se_k < 0.2, s
    assert abs(meta["energy_balance_error"]) < 0.02


def test_a_results_folders_means_are_its_racks_intakes_and_its_crahs_returns(tmp_path):
    """read_means: ``in.<rack>`` from racks.csv and ``ret.<crah>`` from crahs.csv, as the files say; a folder
    without crahs.csv gives the intakes alone."""
    means = read_means("aisle-pair-transient")
    with open(TRANSIENT / "racks.csv", newline="") as f:
        racks = {f"in.{r['rack']}": float(r["t_intake_c"]) for r in csv.DictReader(f)}
    with open(TRANSIENT / "crahs.csv", newline="") as f:
        crahs = {f"ret.{r['crah']}": float(r["t_return_c"]) for r in csv.DictReader(f)}
    assert means == {**racks, **crahs} and len(crahs) == 2
    shutil.copy(TRANSIENT / "racks.csv", tmp_path / "racks.csv")
    assert read_means(tmp_path) == racks
