"""Is a transient CFD run's time average meaningful? Spin-up, spread and standard error of the intakes.

Usage::

    python validation/transient_stats.py validation/results/aisle-pair-transient       # after the run
    python validation/transient_stats.py /tmp/cfd-validation/aisle-pair-transient      # while it runs
    python validation/transient_stats.py DIR --spin-up-s 120 --batch-s 30 --json

Reads ``samples.csv`` (every written sample's rack intakes and CRAH returns, spin-up included, from
``run_cfd.py --transient``) and, for each series, reports over the averaging window (t > spin-up):

- the mean, the samples' standard deviation and range (how much the flow swings);
- the standard error of the mean by **batch means**: the window cut into batches of ``batch_s`` (a few
  air-change times, so that the batch means are nearly independent), SE = sd(batch means)/√batches. The
  samples themselves are strongly correlated (1 s apart in a flow that turns over in ≈ 30 s), so
  sd/√samples would understate it; the lag-1 autocorrelation of the batch means is printed to show
  whether the batches were long enough (near 0: yes);
- the spin-up check: the difference between the means of the window's first and second halves, and
  the drift of the running mean over the window's last half, both against the standard error. A
  spin-up that was too short shows as a half-to-half difference of several standard errors with a
  consistent sign across racks (the room still warming or cooling).

A window's means are the same as ``racks.csv``'s intakes when the fields' average is taken over the
same samples (they average the same cells linearly), which this script checks when ``racks.csv`` is
there.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["WindowStats", "batch_means_se", "read_samples", "window_stats"]


@dataclass(frozen=True)
class WindowStats:
    """One series over the averaging window (°C for means and bounds, K for spreads and errors)."""

    name: str
    samples: int
    mean_c: float
    sd_k: float
    min_c: float
    max_c: float
    se_k: float
    batches: int
    batch_lag1: float
    half_difference_k: float
    running_mean_drift_k: float


def read_samples(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``samples.csv`` (or the folder holding it): sample times (s) and one array per column."""
    path = Path(path)
    if path.is_dir():
        path = path / "samples.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no samples")
    times = np.array([float(r["time_s"]) for r in rows])
    cols = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "time_s"}
    return times, cols


def batch_means_se(values: np.ndarray, batch_len: int) -> tuple[float, int, float]:
    """(standard error of the mean, number of batches, lag-1 autocorrelation of the batch means).

    Whole batches only, taken from the end of the series (the end is the best settled part); fewer than
    two batches gives NaN.
    """
    nb = len(values) // batch_len
    if nb < 2:
        return float("nan"), nb, float("nan")
    means = values[len(values) - nb * batch_len:].reshape(nb, batch_len).mean(axis=1)
    se = float(means.std(ddof=1) / np.sqrt(nb))
    d = means - means.mean()
    lag1 = float(np.dot(d[:-1], d[1:]) / np.dot(d, d)) if nb > 2 and np.dot(d, d) > 0 else float("nan")
    return se, nb, lag1


def window_stats(times_s: np.ndarray, values: np.ndarray, *, name: str, spin_up_s: float,
                 batch_s: float) -> WindowStats:
    """Statistics of one series over the samples after ``spin_up_s`` (see the module docstring)."""
    win = times_s > spin_up_s + 1e-9
    v = values[win]
    if len(v) < 2:
        raise ValueError(f"{name}: {len(v)} samples after the spin-up of {spin_up_s:g} s")
    dt_s = float(np.median(np.diff(times_s[win]))) if len(v) > 1 else 1.0
    batch_len = max(int(round(batch_s / dt_s)), 1)
    se, nb, lag1 = batch_means_se(v, batch_len)
    half = len(v) // 2
    running = np.cumsum(v) / np.arange(1, len(v) + 1)
    return WindowStats(
        name=name, samples=len(v), mean_c=float(v.mean()), sd_k=float(v.std(ddof=1)), min_c=float(v.min()),
        max_c=float(v.max()), se_k=se, batches=nb, batch_lag1=lag1,
        half_difference_k=float(v[half:].mean() - v[:half].mean()),
        running_mean_drift_k=float(running[-1] - running[half - 1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a results folder or a running case folder with samples.csv")
    p.add_argument("--spin-up-s", type=float, default=None,
                   help="start of the averaging window (default: meta.json's spin_up_s, else 120)")
    p.add_argument("--batch-s", type=float, default=60.0, help="batch length for the standard error, s")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args(argv)
    meta_path = a.folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    spin_up_s = a.spin_up_s if a.spin_up_s is not None else float(meta.get("spin_up_s", 120.0))
    try:
        times, cols = read_samples(a.folder)
        stats = [window_stats(times, v, name=k, spin_up_s=spin_up_s, batch_s=a.batch_s) for k, v in cols.items()]
    except (OSError, ValueError, KeyError) as exc:
        print(f"transient_stats: error: {exc}", file=sys.stderr)
        return 1
    field_mean = {}
    if (a.folder / "racks.csv").is_file():
        from validation.compare import read_racks

        field_mean = {f"in.{rack}": t_c for rack, t_c in read_racks(a.folder).items()}
    if a.json:
        print(json.dumps({"spin_up_s": spin_up_s, "batch_s": a.batch_s, "last_sample_s": float(times[-1]),
                          "series": [asdict(s) for s in stats]}, indent=1))
        return 0
    print(f"{a.folder}: samples to t = {times[-1]:g} s, window t > {spin_up_s:g} s, batches of {a.batch_s:g} s")
    print(f"  {'series':14s} {'mean °C':>8s} {'sd K':>6s} {'min–max °C':>13s} {'SE K':>6s} {'batches':>7s} "
          f"{'lag1':>5s} {'half diff K':>11s} {'drift K':>8s}" + ("  racks.csv" if field_mean else ""))
    for s in stats:
        print(f"  {s.name:14s} {s.mean_c:8.2f} {s.sd_k:6.2f} {s.min_c:6.2f}–{s.max_c:6.2f} {s.se_k:6.3f} "
              f"{s.batches:7d} {s.batch_lag1:5.2f} {s.half_difference_k:+11.2f} {s.running_mean_drift_k:+8.3f}"
              + (f"  {field_mean[s.name]:.3f}" if s.name in field_mean else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
