"""The solver's sparse solves run on a deliberate number of BLAS threads (twin/thermal/threads.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from tests.halls import TINY
from twin.model.load import load_hall
from twin.thermal import threads
from twin.thermal.threads import SOLVER_BLAS_THREADS, blas_threads_now, limited_blas, solver_threads


@pytest.fixture
def two_blas_threads():
    """BLAS set to 2 threads around the test, as OpenBLAS's default is on this 2-core machine."""
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads_now() < 2:
            pytest.skip("this BLAS does not take 2 threads")
        yield


def _record_threads(monkeypatch, owner, name: str) -> list[int]:
    """Wrap owner.name so that each call records the BLAS threads in force while it runs."""
    seen: list[int] = []
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        seen.append(blas_threads_now())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return seen


def test_limit_applies_inside_and_is_restored(two_blas_threads):
    """Inside limited_blas: the solver's limit (1); after it: the caller's 2 again; None leaves BLAS be."""
    assert SOLVER_BLAS_THREADS == 1
    with limited_blas():
        assert blas_threads_now() == 1
    assert blas_threads_now() == 2
    with solver_threads(None), limited_blas():
        assert blas_threads_now() == 2
    with solver_threads(2), limited_blas():
        assert blas_threads_now() == 2
    with pytest.raises(ValueError, match="≥ 1"):
        with solver_threads(0):
            pass
    assert threads._limit == SOLVER_BLAS_THREADS


def test_steady_and_flow_solves_run_on_one_thread(two_blas_threads, monkeypatch):
    """GMRES of the steady field and the AMG-CG of the flow see 1 BLAS thread, whatever the caller set."""
    import pyamg.multilevel

    from twin.sim.twin import HallTwin

    gmres = _record_threads(monkeypatch, spla, "gmres")
    amg = _record_threads(monkeypatch, pyamg.multilevel.MultilevelSolver, "solve")
    twin = HallTwin(load_hall(TINY))
    state = twin.steady(twin.initial_state())
    assert np.all(np.isfinite(state.t_air_c))
    assert gmres and set(gmres) == {1}, gmres
    assert amg and set(amg) == {1}, amg
    assert blas_threads_now() == 2


def test_momentum_projection_runs_on_one_thread(two_blas_threads, monkeypatch):
    """The momentum model's pressure projections (AMG-CG) see 1 BLAS thread too."""
    import pyamg.multilevel

    from twin.sim.twin import HallTwin

    amg = _record_threads(monkeypatch, pyamg.multilevel.MultilevelSolver, "solve")
    twin = HallTwin(load_hall(TINY), airflow="momentum")
    twin.step(twin.initial_state())
    assert amg and set(amg) == {1}, amg


def test_threads_study_reports_numbers():
    """The benchmark times each thread count (here once each, on tiny, with no busy core)."""
    from twin.sim.bench_threads import human, threads_study

    result = threads_study(load_hall(TINY), repeats=1, load_core=False)
    assert [r["threads"] for r in result["rows"]] == [1, 2]
    assert all(len(r["times_s"]) == 1 and r["best_s"] > 0 for r in result["rows"])
    text = human(result)
    assert "1 BLAS thread" in text and "2 BLAS threads" in text and "median" in text
