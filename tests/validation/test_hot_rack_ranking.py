"""validation.compare.hot_rack_ranking: does the twin name the racks the CFD finds hottest, whatever its level."""

from __future__ import annotations

import pytest

from validation.compare import hot_rack_ranking, read_cfd, references


def _cfd(hall: str) -> dict[str, float]:
    return read_cfd(references(hall)["steady"])[0]


def test_a_common_offset_keeps_the_ranking_and_a_reversed_order_inverts_it():
    """aisle-pair's committed CFD intakes: the CFD against itself 2.5 K cooler ranks alike (ρ = 1, its two
    hottest shared); against its mirror image (hottest coolest) ρ = −1 and none shared."""
    cfd = _cfd("aisle-pair")
    cooler = {r: t - 2.5 for r, t in cfd.items()}
    same = hot_rack_ranking(cooler, cfd)
    assert same["spearman"] == pytest.approx(1.0) and same["hot_shared"] == same["n_hot"] == 2
    assert same["hottest_cfd"] == same["hottest_twin"] == max(cfd, key=cfd.get)
    mirrored = {r: -t for r, t in cfd.items()}
    flipped = hot_rack_ranking(mirrored, cfd)
    assert flipped["spearman"] == pytest.approx(-1.0) and flipped["hot_shared"] == 0
    assert flipped["hottest_twin"] == min(cfd, key=cfd.get)


def test_one_swapped_pair_lowers_the_correlation_as_spearman_s_formula_says():
    """Eight distinct values with the hottest two swapped: ρ = 1 − 6 Σd² / (n (n² − 1)) = 1 − 12/504."""
    cfd = {f"R{i}": float(i) for i in range(8)}
    twin = dict(cfd, R7=6.0, R6=7.0)
    rank = hot_rack_ranking(twin, cfd)
    assert rank["spearman"] == pytest.approx(1 - 12 / 504, abs=1e-3)
    assert rank["hot_shared"] == 2 and rank["hottest_cfd"] == "R7" and rank["hottest_twin"] == "R6"
    assert rank["cfd_margin_k"] == pytest.approx(1.0)
