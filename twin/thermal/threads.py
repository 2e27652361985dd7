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

Kernel threads are another matter: the momentum model's three velocity components are assembled and swept
independently (each reads the previous iterate only), by compiled kernels that release the GIL, so
:func:`map_components` runs them on a small thread pool. Those threads do not spin: a thread whose core is
taken waits in the kernel, not in a barrier, so on a loaded machine the three take as long as one after
the other and on a quiet one about two thirds of it. Each component's result is the same bits either way.
``TWIN_KERNEL_THREADS`` (default: 2, never more than the cores this process may use) sets the pool's size;
1 runs them one after the other in the calling thread.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["SOLVER_BLAS_THREADS", "blas_threads_now", "kernel_threads", "limited_blas", "map_components",
           "solver_threads"]

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


#: Kernel threads unless ``TWIN_KERNEL_THREADS`` says otherwise (three velocity components: a third thread would
#: only wait on this 2-core machine).
DEFAULT_KERNEL_THREADS = 2

_T = TypeVar("_T")
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, size, pool): a forked child builds its own


def kernel_threads() -> int:
    """Threads for the GIL-free compiled kernels: ``TWIN_KERNEL_THREADS`` (≥ 1), else 2, at most the usable cores.

    Raises:
        ValueError: ``TWIN_KERNEL_THREADS`` is not a whole number ≥ 1.
    """
    raw = os.environ.get("TWIN_KERNEL_THREADS", "").strip()
    if raw:
        try:
            wanted = int(raw)
        except ValueError:
            wanted = 0
        if wanted < 1:
            raise ValueError(f"TWIN_KERNEL_THREADS={raw!r}: expected a whole number ≥ 1 (1: no kernel threads)")
    else:
        wanted = DEFAULT_KERNEL_THREADS
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # (not on every platform)
        cores = os.cpu_count() or 1
    return max(1, min(wanted, cores))


def map_components(step: Callable[[int], _T], count: int = 3) -> list[_T]:
    """``[step(0), …, step(count - 1)]``, on :func:`kernel_threads` threads (in this thread when that is 1).

    ``step`` must not depend on the others' results or order: the components of a Jacobi step.
    """
    global _pool
    size = min(kernel_threads(), count)
    if size == 1:
        return [step(c) for c in range(count)]
    pid = os.getpid()
    if _pool is None or _pool[0] != pid or _pool[1] != size:
        # A pool made before a fork has no threads in the child: make one per process (and per size).
        _pool = (pid, size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="twin-kernel"))
    # Each task in a copy of the caller's context: numpy's error state (the march raises on overflow) lives there.
    contexts = [contextvars.copy_context() for _ in range(count)]
    return list(_pool[2].map(lambda c: contexts[c].run(step, c), range(count)))
