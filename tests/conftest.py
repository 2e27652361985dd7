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
