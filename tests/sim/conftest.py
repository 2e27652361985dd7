"""Runs of the tiny hall shared by the tests of this folder: the 10-min run is a real `twin run` subprocess
(tests/sim/test_cli.py checks what the process prints), the 3-h run calls the same entry point in this
process (its files and summary are checked, not the process; an interpreter start-up saved)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.sim.runs import TINY, twin_cli, twin_main_captured


@pytest.fixture(scope="session")
def run_10min(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """`twin run tiny.toml --duration 10min --out DIR --json`: (the finished process, DIR)."""
    out_dir = tmp_path_factory.mktemp("run_10min") / "out"
    proc = twin_cli("run", TINY, "--duration", "10min", "--out", out_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    return proc, out_dir


@pytest.fixture(scope="session")
def run_3h(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """A 3 h transient run of tiny, long after it has settled (within an hour): (process, DIR)."""
    out_dir = tmp_path_factory.mktemp("run_3h") / "out"
    proc = twin_main_captured("run", TINY, "--duration", "3h", "--out", out_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    return proc, out_dir
