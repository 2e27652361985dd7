"""Agreement with pandapower (Newton-Raphson) on the same networks: bus voltages within 1e-4 pu and
total branch losses within 0.5 % (the sweep is exact for radial networks: both agree to round-off)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.electrical.conftest import mech_w, nominal_it_w
from twin.electrical import PowerSources, solve_power

pp_ref = pytest.importorskip("twin.electrical.pandapower_ref")
pytest.importorskip("pandapower")

SOURCES = {
    "utility": PowerSources(),
    "eco": PowerSources(ups_eco=np.ones(2, dtype=bool)),
    "generator": PowerSources(utility_available=False, generator_online=True, ats_on_generator=True),
    "ups-a-off": PowerSources(ups_output_on=np.array([False, True])),
}


def _our_losses_w(net, res, pn) -> float:
    """Our losses on the branches that the pandapower net holds (lines and transformers, by name)."""
    index = {name: i for i, name in enumerate(net.branch_names)}
    names = [*pn.line.name, *pn.trafo.name]
    return float(sum(res.branch_loss_w[index[n]] for n in names))


@pytest.mark.parametrize("state", list(SOURCES))
def test_agrees_with_pandapower(net, rng, state):
    """Downstream (every live UPS's tree) and upstream networks: |V| within 1e-4 pu, losses within 0.5 %."""
    it = nominal_it_w(net) * rng.uniform(0.5, 1.2, net.n_racks)
    sources = SOURCES[state]
    res = solve_power(net, it, sources=sources, **mech_w(net))
    for build in (lambda: pp_ref.pandapower_downstream(net, res), lambda: pp_ref.pandapower_upstream(net, res, sources)):
        pn, bus = build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp_ref.run(pn)
        ours, theirs = pp_ref.voltage_pairs(net, res, pn, bus)
        assert np.abs(ours - theirs).max() < 1e-4
        assert np.abs(ours - theirs).max() < 1e-8  # in fact: to the sweep's tolerance
        pp_loss = pp_ref.pandapower_losses_w(pn)
        assert pp_loss > 0
        assert abs(_our_losses_w(net, res, pn) - pp_loss) < 0.005 * pp_loss
        assert abs(_our_losses_w(net, res, pn) - pp_loss) < 1e-6 * pp_loss
