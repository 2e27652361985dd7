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


# --- the files holding serial tests (`make test`'s second pass) -----------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--serial-files", metavar="PATH",
                     help="write the files that hold tests marked serial to PATH, one a line, for a second pass "
                          "`pytest -m serial @PATH` that collects those files only (make test)")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("serial_files", None)
    if path:
        config.pluginmanager.register(_SerialFiles(path), "twin-serial-files")


class _SerialFiles:
    """Writes the files holding serial tests, as seen after every plugin's collection hooks (the first pass's
    ``-m "not serial"`` included), so the second pass need not collect all the suite again to find them.
    Without serial tests the file is empty and ``pytest -m serial @PATH`` collects the whole suite, which
    finds none: nothing is silently skipped."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.files: list[str] = []
        self.deselected: list[pytest.Item] = []  # by -m and -k, as pytest reports them (tests/test_serial_files.py)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]):
        import os

        collected = list(items)  # before -m deselects the serial ones
        yield
        self.files = sorted({str(item.path.relative_to(config.rootpath)) for item in collected
                             if any(True for _ in item.iter_markers("serial"))})  # what `-m serial` matches
        tmp = f"{self.path}.{os.getpid()}"  # every xdist worker writes the same list: replace, never mix
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(name + "\n" for name in self.files)
        os.replace(tmp, self.path)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += items


# --- timeline of a run (TEST_TIMELINE=DIR) ---------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """With TEST_TIMELINE=DIR set, each process (an xdist worker or a plain run) appends one line per test to
    DIR/<worker>.tsv: wall-clock start and end (setup and teardown included) and the test id. It shows
    whether a worker sits idle while the other finishes a long group at the end of the parallel pass."""
    import os
    import time

    out = os.environ.get("TEST_TIMELINE")
    start_s = time.time()
    yield
    if out:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"{worker}.tsv"), "a") as f:
            f.write(f"{start_s:.3f}\t{time.time():.3f}\t{item.nodeid}\n")
