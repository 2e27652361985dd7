"""Networks of the bundled halls with a [power] section, and a typical load on them."""

from __future__ import annotations

import numpy as np
import pytest

from twin.electrical import PowerNetwork
from twin.model import bundled_hall


@pytest.fixture(scope="module", params=["tiny", "reference"])
def net(request) -> PowerNetwork:
    return PowerNetwork(bundled_hall(request.param))


def nominal_it_w(net: PowerNetwork) -> np.ndarray:
    return np.array([r.it_w for r in net.hall.racks])


def mech_w(net: PowerNetwork) -> dict[str, float]:
    """Mechanical loads in proportion to the IT load (fans 4 %, chillers 18 %, pumps 3 %)."""
    it = nominal_it_w(net).sum()
    return {"crah_fan_w": np.full(len(net.crah_names), 0.04 * it / len(net.crah_names)),
            "chiller_w": 0.18 * it, "pump_w": 0.03 * it}
