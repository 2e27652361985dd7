"""How the C allocator (glibc's malloc) hands memory to the solvers' numpy temporaries.

The solvers make and drop whole-grid arrays all the time: a 130k-cell hall's field is 1 MB, the steady loop's
mixed state 5 MB, and a momentum iteration makes dozens of such temporaries. glibc serves a block above its
mmap threshold with a fresh mmap and gives it back to the kernel when it is freed; it also returns the top of
its heap to the kernel whenever more than the trim threshold lies free there. Both thresholds start at 128 KiB
and adapt upwards only as blocks come back, so a solve keeps mapping new pages, and the kernel zeroes each one
on its first touch: on open-row-fine's steady solve (`twin run ... --steady --airflow momentum`) 210-260k page
faults and 0.6-0.8 s of system time, about 6 % of the run's CPU.

:func:`reuse_freed_memory` sets both thresholds once, at start-up: blocks up to 32 MiB (glibc's largest mmap
threshold) come from the heap, and freed memory stays in the process for reuse unless more than 1 GiB of it
lies free. Measured on that run (shared 2-core machine): 105k page faults and 0.3 s of system time; the peak
resident memory is the same (680 MB), since what is kept is what the solve had in use before. It changes no
number the solvers compute. Elsewhere than on glibc (musl, macOS) it does nothing. Only commands that end
(`twin run`, `bench`, ...) set it: a process that stays up (`serve`, `up`, `console`, `view`) would otherwise keep
the memory of its largest peak (a steady what-if) for good (measured: 640 MB freed in 8 MB blocks stays resident).

It also keeps every thread on the one arena (glibc's ``M_ARENA_MAX`` 1). The momentum model's compiled kernels run
on kernel threads (twin.thermal.threads) and allocate their work arrays there; glibc gives each such thread an
arena of its own, whose memory the main thread's next arrays cannot reuse, so each arena grows by the pages it
maps afresh. On one arena, open-row-fine's steady command took 87-89k page faults instead of 95-99k and 5.38-5.60
against 5.48-5.69 s of CPU (three alternated pairs, MALLOC_ARENA_MAX=1 against unset); a kernel thread's
allocations are few per call (its work arrays), so the arena's lock costs nothing measurable.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["ARENAS", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "reuse_freed_memory"]

#: Blocks larger than this are mapped on their own (glibc's maximum: 32 MiB on 64-bit systems).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free memory at the top of the heap beyond this goes back to the kernel.
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
#: malloc arenas for all threads together.
ARENAS = 1

# mallopt's parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def reuse_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds and its arena count (see the module docstring); True if the C library
    took all three."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that name, or one without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either disables glibc's adaptive thresholds, so set both.
    thresholds = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                        TRIM_THRESHOLD_BYTES))
    return thresholds and bool(mallopt(_M_ARENA_MAX, ARENAS))
