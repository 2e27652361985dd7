"""How many BLAS threads the solver's sparse solves use: one, by default, set deliberately.

The steady solve (GMRES with a 200-vector Krylov basis) and the AMG-preconditioned CG of the flow solves
spend their BLAS time in level-1/2 kernels on vectors of 10⁵–10⁶ entries. OpenBLAS splits those over
every core it sees; on a machine where another process already holds a core (a second twin, a test run,
a colleague) its threads wait for each other and the solve gets slower, not faster. Measured on the
2-core development machine with one core loaded, `twin run assets/halls/reference.toml --steady`:
10.7–10.9 s with OpenBLAS's default (2 threads) against 8.4–9.0 s with 1 (set-up and solve, as the
summary's wall_s: 7.3–7.4 s against 4.8–5.5 s). `twin bench HALL --threads-study` repeats the comparison.

:func:`limited_blas` wraps those solves (threadpoolctl, so it works whatever the environment variables
say); :func:`solver_threads` changes the limit for a block of code (the benchmark's 1 and 2 threads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["SOLVER_BLAS_THREADS", "blas_threads_now", "limited_blas", "solver_threads"]

#: BLAS threads of the solver's sparse solves unless :func:`solver_threads` says otherwise.
SOLVER_BLAS_THREADS = 1

_limit: int | None = SOLVER_BLAS_THREADS
_controller: ThreadpoolController | None = None


def _blas() -> ThreadpoolController:
    global _controller
    if _controller is None:  # finding the loaded BLAS libraries costs milliseconds: once per process
        _controller = ThreadpoolController()
    return _controller


@contextmanager
def limited_blas() -> Iterator[None]:
    """Run the enclosed solve with the solver's BLAS thread limit (restored afterwards)."""
    if _limit is None:
        yield
        return
    with _blas().limit(limits=_limit, user_api="blas"):
        yield


@contextmanager
def solver_threads(limit: int | None) -> Iterator[None]:
    """Within the block, the solver's solves use ``limit`` BLAS threads (None: whatever BLAS chooses)."""
    global _limit
    if limit is not None and limit < 1:
        raise ValueError(f"BLAS threads must be ≥ 1 or None, got {limit}")
    previous, _limit = _limit, limit
    try:
        yield
    finally:
        _limit = previous


def blas_threads_now() -> int:
    """The largest thread count of the BLAS libraries loaded in this process, as of now."""
    return max((info["num_threads"] for info in _blas().info() if info["user_api"] == "blas"), default=1)
