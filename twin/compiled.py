"""Where numba may keep the machine code of the compiled kernels (transport sweeps, CRAH bank, load flow)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["numba_cache_wanted"]


def numba_cache_wanted(module_file: str) -> bool:
    """Whether numba may cache the kernels of the module at ``module_file`` on disk.

    numba writes the cache into ``__pycache__`` beside the module (or under ``NUMBA_CACHE_DIR``). Where that
    is read-only (a system-wide install, a CI image) asking for a cache makes the first call fail, so the
    kernels are then compiled in memory, once per process (about a second each).
    """
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return os.path.isdir(env) and os.access(env, os.W_OK)
    here = Path(module_file).resolve().parent
    pycache = here / "__pycache__"
    return os.access(pycache if pycache.is_dir() else here, os.W_OK)
