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


# --- two pytest-xdist workers (`make test`) -----------------------------------------------------------

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
    (``-m serial``, the second pass) are left alone."""
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


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the order it collects is the controller's work queue
        config.pluginmanager.register(_CostlyUnitsFirst(), "costly-units-first")


class _CostlyUnitsFirst:
    # trylast: after pytest's own reordering (parametrized wider-scoped fixtures), which could undo this one,
    # and after the grouping above (a plugin object, since a module holds one hook function of a name).
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        _costly_units_first(items)


def _costly_units_first(items: list[pytest.Item]) -> None:
    """Order the work units (an xdist group, or a single test) so that the slow ones are handed out first.

    With ``--no-loadscope-reorder`` (Makefile) xdist hands out units in the order the workers collected them.
    A long unit handed out last (the three scenario runs, a Dask cluster's module, a loaded-machine test)
    kept one worker busy for a minute while the other sat idle at the end; longest first is the classic
    cure for that. Costs are not known before the run, so the ``slow`` mark stands for them: groups with a
    slow test first (they also share an expensive fixture), then single slow tests, then the rest, each
    kind in collection order (a stable sort, so a module's tests stay together)."""
    def unit(item: pytest.Item) -> str:
        group = item.get_closest_marker("xdist_group")
        return f"group:{group.args[0]}" if group is not None and group.args else item.nodeid

    slow_units = {unit(item) for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        u = unit(item)
        if u not in slow_units:
            return 2
        return 0 if u.startswith("group:") else 1

    items.sort(key=rank)
