"""speed_same_day.py: the twin against OpenFOAM within one sitting (the benchmark itself needs OpenFOAM and ten
minutes; here its arithmetic and its refusals)."""

from __future__ import annotations

import statistics

import pytest

import validation.speed_same_day as ssd


def test_summary_is_the_cfd_time_over_each_twin_run():
    """The ratio of each twin run, their median and range, and the target read off the median."""
    twin = [5.5, 5.7, 6.2, 5.6, 5.9, 5.8]
    day = ssd.SameDay("open-row-fine", 556.9, 557.0, 1700, True, {"mean": 0.96}, twin, 1.0, 1.0)
    got = day.summary()
    ratios = [556.9 / t for t in twin]
    assert got["ratio_median"] == round(statistics.median(ratios), 1)
    assert (got["ratio_min"], got["ratio_max"]) == (round(min(ratios), 1), round(max(ratios), 1))
    assert got["twin_cpu_median_s"] == round(statistics.median(twin), 2)
    assert got["target_met_by_median"] == (statistics.median(ratios) >= ssd.TARGET)
    faster = ssd.SameDay("open-row-fine", 556.9, 557.0, 1700, True, {}, [t / 2 for t in twin], 1.0, 1.0)
    assert faster.summary()["target_met_by_median"] and not got["target_met_by_median"]
    assert "wall_ratio_median" not in got  # a sitting recorded before elapsed times were
    walls = [5.1, 5.0, 5.6, 5.2]
    timed = ssd.SameDay("open-row-fine", 556.9, 557.0, 1700, True, {}, twin[:4], 1.0, 1.0, twin_wall_s=walls)
    elapsed = sorted(557.0 / t for t in walls)
    assert timed.summary()["wall_ratio_median"] == round(statistics.median(elapsed), 1)
    assert (timed.summary()["wall_ratio_min"], timed.summary()["wall_ratio_max"]) == (round(elapsed[0], 1),
                                                                                     round(elapsed[-1], 1))


def test_without_openfoam_it_says_so_in_one_line_and_runs_nothing(monkeypatch, capsys):
    monkeypatch.setattr(ssd.shutil, "which", lambda name: None)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the twin ran without a CFD to compare with")

    monkeypatch.setattr(ssd, "same_day", must_not_run)
    with pytest.raises(SystemExit) as exc:
        ssd.main(["open-row-fine"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ssd.SOLVER in err and "install.sh" in err


@pytest.mark.parametrize(("argv", "says"), [(["no-such-hall"], "open-row-fine"), (["open-row", "--twin-runs", "0"],
                                                                                   "at least 1")])
def test_bad_arguments_get_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        ssd.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err


def test_the_report_quotes_the_committed_sitting_and_nothing_where_there_is_none():
    """validation/run.py's note on the speed target's hall carries the committed sitting's figures (from its
    JSON, not retyped); a hall without one gets no note."""
    import json

    from validation.run import ROOT, same_day_note

    d = json.loads((ROOT / "validation" / "results" / "open-row-fine" / "same_day.json").read_text())
    text = "".join(same_day_note("open-row-fine"))
    assert f"{d['ratio_median']:.0f}× by the median" in text and f"{d['cfd_cpu_s']:.1f} s" in text
    assert ("byte for byte" in text) == d["cfd_reproduced"]
    assert same_day_note("contained") == []
