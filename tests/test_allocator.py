"""twin.allocator: freed memory is reused by the process instead of being mapped afresh (glibc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# In a fresh interpreter: 64 blocks of 1 MiB, every page written, dropped, then made again; prints the page
# faults the second round took (a page the process still holds is reused without one).
_ROUNDS = """
import resource, sys
import numpy as np
if sys.argv[1] == "reuse":
    from twin.allocator import reuse_freed_memory
    assert reuse_freed_memory()
blocks = [np.ones(131072) for _ in range(64)]
del blocks
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
blocks = [np.ones(131072) for _ in range(64)]
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_round_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _ROUNDS, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_blocks_are_reused_without_page_faults():
    """With glibc's own thresholds the 64 MiB made again are mapped afresh (a page fault per 4 KiB page); with
    reuse_freed_memory the process keeps them and the second round takes almost none."""
    pages = 64 * 2**20 // 4096
    assert _second_round_faults("default") > pages // 2
    assert _second_round_faults("reuse") < pages // 50
