"""`make test`'s second pass runs only the files its first pass listed as holding serial tests
(tests/conftest.py, ``--serial-files``): a serial test anywhere else would be silently skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.sim.runs import REPO


def _collect(*args: object) -> list[str]:
    """The test ids a real `pytest --collect-only -q ARGS` prints, run from the repository's root."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_the_listed_files_hold_every_serial_test_and_the_second_pass_finds_them_all(request, tmp_path):
    """Inside make test's first pass (``-m "not serial" --serial-files=PATH``) the reference is this very
    session: pytest's own ``-m`` deselected exactly the serial tests, so the list must name their files and
    no other (no second collection of the suite). Elsewhere (plain ``pytest``) a real
    ``pytest --collect-only -m serial --serial-files`` over the whole suite is the reference, and the second
    pass's ``-m serial @PATH`` must collect the same serial tests from the listed files only."""
    config = request.config
    plugin = config.pluginmanager.get_plugin("twin-serial-files")
    if plugin is not None and config.getoption("markexpr") == "not serial" and not config.getoption("keyword"):
        files = Path(plugin.path).read_text(encoding="utf-8").splitlines()
        assert files == plugin.files
        deselected = sorted({str(item.path.relative_to(config.rootpath)) for item in plugin.deselected})
        assert files and files == deselected  # each file once, no other
        assert "tests/bus/test_liveness.py" in files  # the STALE and pace tests are serial
        return
    listed = tmp_path / "serial-files"
    serial = _collect("-m", "serial", f"--serial-files={listed}")  # pytest's own -m over the whole suite
    files = listed.read_text(encoding="utf-8").splitlines()
    assert serial and "tests/bus/test_liveness.py" in files
    assert files == sorted({test_id.split("::")[0] for test_id in serial})  # each file once, no other
    assert _collect("-m", "serial", f"@{listed}") == serial

