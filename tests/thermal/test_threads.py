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
    """GMRES of the steady field and the multigrid-CG of the flow (the potential model's: pyamg's) see 1 BLAS
    thread, whatever the caller set."""
    import pyamg.multilevel

    from twin.sim.twin import HallTwin

    gmres = _record_threads(monkeypatch, spla, "gmres")
    cg = _record_threads(monkeypatch, pyamg.multilevel.MultilevelSolver, "solve")
    twin = HallTwin(load_hall(TINY))
    state = twin.steady(twin.initial_state())
    assert np.all(np.isfinite(state.t_air_c))
    assert gmres and set(gmres) == {1}, gmres
    assert cg and set(cg) == {1}, cg
    assert blas_threads_now() == 2


def test_momentum_projection_runs_on_one_thread(two_blas_threads, monkeypatch):
    """The momentum model's pressure projections (its own multigrid's cycles) see 1 BLAS thread too."""
    from twin.sim.twin import HallTwin

    twin = HallTwin(load_hall(TINY), airflow="momentum")
    assert twin.momentum is not None and twin.momentum.pressure_mg is not None
    cycles = _record_threads(monkeypatch, twin.momentum.pressure_mg, "precondition")
    twin.step(twin.initial_state())
    assert cycles and set(cycles) == {1}, cycles


def test_threads_study_reports_numbers():
    """The benchmark times each thread count (here once each, on tiny, with no busy core)."""
    from twin.sim.bench_threads import human, threads_study

    result = threads_study(load_hall(TINY), repeats=1, load_core=False)
    assert [r["threads"] for r in result["rows"]] == [1, 2]
    assert all(len(r["times_s"]) == 1 and r["best_s"] > 0 for r in result["rows"])
    text = human(result)
    assert "1 BLAS thread" in text and "2 BLAS threads" in text and "median" in text


# --- kernel threads (map_components) ----------------------------------------------------------------------------

def test_map_components_uses_two_threads_in_order(monkeypatch):
    """With 2 kernel threads two components run at once (they meet at a barrier), results in component order."""
    import threading

    monkeypatch.setenv("TWIN_KERNEL_THREADS", "2")
    if threads.kernel_threads() < 2:
        pytest.skip("this process may use one core only")
    barrier = threading.Barrier(2, timeout=10)  # a serial run would break it (BrokenBarrierError), not hang
    seen: list[int] = []

    def step(c: int) -> int:
        seen.append(threading.get_ident())
        if c < 2:
            barrier.wait()
        return c * 10

    assert threads.map_components(step) == [0, 10, 20]
    assert threading.get_ident() not in seen


def test_map_components_serial_when_asked(monkeypatch):
    """TWIN_KERNEL_THREADS=1 runs the components in the calling thread, in order; a bad value is one clear error."""
    import threading

    monkeypatch.setenv("TWIN_KERNEL_THREADS", "1")
    order: list[tuple[int, int]] = []
    assert threads.map_components(lambda c: order.append((c, threading.get_ident())) or c) == [0, 1, 2]
    assert order == [(c, threading.get_ident()) for c in range(3)]
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("TWIN_KERNEL_THREADS", bad)
        with pytest.raises(ValueError, match="TWIN_KERNEL_THREADS"):
            threads.map_components(lambda c: c)


def test_map_components_keeps_numpy_error_state(monkeypatch):
    """The march raises on overflow (np.errstate): a component on a kernel thread must too."""
    monkeypatch.setenv("TWIN_KERNEL_THREADS", "2")

    def overflow(c: int) -> float:
        return float(np.float64(1e308) * np.float64(10.0 + c))

    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        threads.map_components(overflow)
    with np.errstate(over="ignore"):
        assert threads.map_components(overflow) == [np.inf] * 3


def test_momentum_march_same_bits_on_kernel_threads(monkeypatch):
    """The momentum march on 2 kernel threads gives the very field it gives on 1 (the components are independent)."""
    from twin.sim.twin import HallTwin

    fields = {}
    for n in ("1", "2"):
        monkeypatch.setenv("TWIN_KERNEL_THREADS", n)
        twin = HallTwin(load_hall(TINY), airflow="momentum")
        state = twin.initial_state()
        twin.solve_flow(state, twin.mover_flow_m3s(state), iterations=25, tol=1e-30)
        assert state.momentum is not None
        fields[n] = state.momentum
    for key in ("ux", "uy", "uz", "p"):
        assert np.array_equal(fields["1"][key], fields["2"][key]), key


def test_overridden_momentum_runs_serially(monkeypatch):
    """A subclass's _momentum (the validation studies swap fields during a call) is not run on kernel threads."""
    import threading

    from twin.sim.twin import HallTwin
    from twin.thermal.momentum import MomentumSolver

    monkeypatch.setenv("TWIN_KERNEL_THREADS", "2")
    twin = HallTwin(load_hall(TINY), airflow="momentum")
    assert twin.momentum is not None
    callers: list[int] = []
    original = MomentumSolver._momentum

    def recording(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        callers.append(threading.get_ident())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(twin.momentum, "_momentum", recording.__get__(twin.momentum))
    state = twin.initial_state()
    twin.solve_flow(state, twin.mover_flow_m3s(state), iterations=3, tol=1e-30)
    assert callers and set(callers) == {threading.get_ident()}
