"""Shared fixtures: a seeded random generator, and floating-point errors that raise (no silent NaNs)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _raise_on_float_errors():
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


# --- pytest-xdist workers (`make test`: TEST_WORKERS, two by default) ------------------------------------------

#: Wider-scoped fixtures cheap enough to compute once on each worker: tests using them stay free to go to
#: either worker (tiny.toml loaded or solved in about a second, a power network, a key pair).
_CHEAP_SHARED_FIXTURES = frozenset({"tiny_hall", "tiny_view", "net", "keys"})
_WIDTH = {"session": 0, "package": 1, "module": 2, "class": 3}


# tryfirst: xdist's own hook of the same name reads the xdist_group marks into the test ids, so the marks
# must be there before it runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, tests sharing an expensive module-, package- or session-scoped fixture
    (a steady solve of reference.toml, three scenario runs, a Dask cluster, a 3 h run) go to one worker,
    so that it is computed once, not once per worker. Other tests are spread one by one. Serial tests
    (``-m serial``, the second pass) are left alone.

    On an xdist worker, slow-marked tests are then moved to the front, keeping the order otherwise. xdist
    hands out the groups largest first and then the single tests in this order, so a long test no longer
    starts near the end while the other worker runs out of work (longest first: the two workers finish
    within a short test). Without xdist the order stays the collection's: moving a test away from its
    module's or package's neighbours would set up their shared fixtures twice."""
    for item in items:
        if item.get_closest_marker("serial") or item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = [(_WIDTH[defs[-1].scope], name, defs[-1].baseid) for name in item.fixturenames
                  if name not in _CHEAP_SHARED_FIXTURES and (defs := info.name2fixturedefs.get(name))
                  and defs[-1].scope in _WIDTH and defs[-1].baseid]  # ours, not a plugin's
        if shared:  # the widest one decides (a package's Dask cluster before a module's hall)
            _, name, baseid = min(shared)
            # baseid: the module defining the fixture, or the folder of its conftest.py
            item.add_marker(pytest.mark.xdist_group(f"{baseid}::{name}"))
    if hasattr(config, "workerinput"):  # an xdist worker: the controller schedules from its order
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep theirs
