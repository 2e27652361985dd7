"""How a sweep's cases are cut into tasks: every case once, in order, one hall variant per batch, and
batches that let the workers finish together."""

from __future__ import annotations

import heapq
import math

import pytest

from twin.sweep.bench import grid_cases
from twin.sweep.cases import Case
from twin.sweep.engine import batches


def _makespan(sizes: list[int], n_workers: int) -> int:
    """Cases done by the busiest worker when each free worker takes the next batch (Dask's queue, FIFO),
    every case costing the same."""
    busy = [0] * n_workers
    for size in sizes:
        heapq.heapreplace(busy, busy[0] + size)
    return max(busy)


@pytest.mark.parametrize("n_cases,n_workers", [(100, 2), (100, 1), (11, 2), (100, 3), (1000, 8), (5, 4)])
def test_workers_finish_within_one_case_of_each_other(n_cases, n_workers):
    """Taking batches in order, no worker runs more than one case beyond an even share (equal batches of
    16, as before, left one of two workers 52 of 100 cases), and a batch holds at most 16 cases."""
    cases = [Case(f"c{i}", kind="grid", supply_setpoint_c=18.0 + i * 1e-3) for i in range(n_cases)]
    parts = batches(cases, n_workers)
    assert [c for part in parts for c in part] == cases
    sizes = [len(p) for p in parts]
    assert max(sizes) <= 16 and min(sizes) >= 1
    assert _makespan(sizes, n_workers) <= math.ceil(n_cases / n_workers) + 1, sizes


def test_a_batch_holds_one_hall_variant():
    """Cases that change the hall (tile fractions) are never batched with others: each batch is one build."""
    grid = grid_cases(5, 4)
    tiles = [Case(f"{c.name}, tiles 0.4", kind="grid", supply_setpoint_c=c.supply_setpoint_c,
                  tile_open_fraction=(("*", 0.4),)) for c in grid]
    mixed = [c for pair in zip(grid, tiles) for c in pair]
    parts = batches(mixed, 2)
    assert all(len({c.hall_changes() for c in p}) == 1 for p in parts)
    assert sorted(c.name for p in parts for c in p) == sorted(c.name for c in mixed)
