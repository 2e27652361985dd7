"""twin.allocator: freed memory is reused by the process instead of being mapped afresh (glibc), also across
threads."""

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


# In a fresh interpreter: two threads alive together (each has allocated: each has its arena), the first writes 64
# blocks of 1 MiB and drops them, then the second makes them; prints the page faults of the second's round (on
# one arena it reuses the first one's pages). "thresholds" sets only the two thresholds (the control), "reuse"
# calls reuse_freed_memory. (Threads one after the other would not do: a new thread takes an exited one's arena.)
_THREADS = """
import ctypes, ctypes.util, resource, sys, threading
import numpy as np
if sys.argv[1] == "reuse":
    from twin.allocator import reuse_freed_memory
    assert reuse_freed_memory()
else:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    assert libc.mallopt(-3, 32 * 1024 * 1024) and libc.mallopt(-1, 1024 * 1024 * 1024)
both_started, first_done = threading.Barrier(2), threading.Event()
out = []
def first():
    np.ones(16)
    both_started.wait()
    blocks = [np.ones(131072) for _ in range(64)]
    del blocks
    first_done.set()
def second():
    np.ones(16)
    both_started.wait()
    first_done.wait()
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    blocks = [np.ones(131072) for _ in range(64)]
    out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
threads = [threading.Thread(target=f) for f in (first, second)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(out[0])
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_one_thread_reuses_what_another_freed():
    """With the thresholds alone, a second thread's arrays come from an arena of its own and its 64 MiB are
    mapped afresh; on reuse_freed_memory's one arena it takes the pages the first thread freed."""
    pages = 64 * 2**20 // 4096

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _THREADS, mode], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.split()[-1])

    assert faults("thresholds") > pages // 2
    assert faults("reuse") < pages // 50
