"""The compiled backward/forward sweep against its plain numpy form, on the bundled halls' networks."""

from __future__ import annotations

import numpy as np
import pytest

from twin.electrical import PowerNetwork, RadialForest, SweepNotConverged
from twin.electrical.network import S_BASE_VA


def _forests(net: PowerNetwork) -> dict[str, tuple[RadialForest, int]]:
    return {"downstream": (net.down, net.n_ups), "utility": (net.up_utility.forest, 1),
            "generator": (net.up_generator.forest, 1)}


@pytest.mark.parametrize("which", ["downstream", "utility", "generator"])
def test_the_compiled_sweep_gives_the_plain_sweeps_answer(net, which):
    forest, n_roots = _forests(net)[which]
    rng = np.random.default_rng(11)
    scale = 1.0 if which == "downstream" else 5.0  # the upstream feeds the whole hall
    for trial in range(20):
        s_pu = (rng.random(forest.n_bus) * 2e4 + 1j * rng.random(forest.n_bus) * 5e3) * scale / S_BASE_VA
        s_pu[forest.roots] = 0.0
        v_root = np.full(n_roots, 1.0 + 0.01j * rng.random())
        start = None if trial % 2 else v_root[forest.tree_of] * (0.99 + 0.001j)  # cold and warm starts
        fast = forest.sweep(v_root, s_pu, v_start=start)
        plain = forest.sweep_reference(v_root, s_pu, v_start=start)
        assert fast[3] == plain[3]  # the same iterations
        for a, b in zip(fast[:3], plain[:3], strict=True):
            # The same arithmetic in the same order: the same bits on a CPU whose numpy multiplies complex
            # arrays with fused multiply-adds (as the compiled form does), round-off elsewhere.
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
        # The answer is a load flow: each branch carries the loads below it, each bus has its drop.
        v, j, i_load, _ = fast
        assert np.allclose(forest.path @ i_load, j, rtol=0, atol=1e-12)
        assert np.allclose(v, v_root[forest.tree_of] - forest.path_t @ (forest.z_pu * j), rtol=0, atol=1e-9)


def test_a_load_that_makes_the_voltages_nan_never_converges(net):
    # A NaN change is no convergence (the plain form's max over the changes is NaN too).
    forest = net.down
    s_pu = np.full(forest.n_bus, np.nan + 0j)
    with pytest.raises(SweepNotConverged):
        forest.sweep(np.ones(net.n_ups, dtype=complex), s_pu, max_iter=5)
