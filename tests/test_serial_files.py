"""`make test`'s second pass runs only the files its first pass listed as holding serial tests
(tests/conftest.py, ``--serial-files``): a serial test anywhere else would be silently skipped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.sim.runs import REPO


def _collect(*args: object) -> list[str]:
    """The test ids a real `pytest --collect-only -q ARGS` prints, run from the repository's root."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.mark.slow  # collects the whole suite
def test_the_listed_files_hold_every_serial_test_and_the_second_pass_finds_them_all(tmp_path):
    listed = tmp_path / "serial-files"
    serial = _collect("-m", "serial", f"--serial-files={listed}")  # pytest's own -m over the whole suite
    files = listed.read_text(encoding="utf-8").splitlines()
    assert serial and "tests/bus/test_liveness.py" in files  # the STALE and pace tests are serial
    assert files == sorted({test_id.split("::")[0] for test_id in serial})  # each file once, no other
    # The second pass as make test runs it: the same tests, from the listed files only.
    assert _collect("-m", "serial", f"@{listed}") == serial
