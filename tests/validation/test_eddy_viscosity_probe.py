"""validation/eddy_viscosity_probe.py: its regions and means (the CFD and twin fields it reads need a solver)."""

from __future__ import annotations

import numpy as np

from validation.eddy_viscosity_probe import region_masks, region_means


def _grid():
    h = 0.15
    return (np.arange(48) + 0.5) * h, (np.arange(40) + 0.5) * h, (np.arange(23) + 0.5) * h - 0.45


def test_plenum_and_room_split_the_hall_and_the_aisle_is_inside_the_room():
    masks = region_masks(*_grid())
    assert not (masks["plenum"] & masks["room"]).any()
    assert (masks["plenum"] | masks["room"]).all()  # no cell centre lies on z = 0
    for name in ("cold aisle, z 0-1 m", "cold aisle, z 1-2.1 m", "beyond the far row end", "above the racks"):
        assert masks[name].any() and not (masks[name] & ~masks["room"]).any(), name
    # 2.4 m x 1.2 m of aisle, 1 m and 1.1 m high, on 0.15 m cells (the 1 m line falls inside a cell: 7 layers)
    assert masks["cold aisle, z 0-1 m"].sum() == 16 * 8 * 7


def test_region_means_skip_solids_and_average_a_linear_field_exactly():
    x, y, z = _grid()
    zz = np.broadcast_to(z, (x.size, y.size, z.size)).copy()
    nut = zz.copy()
    nut[0, 0, :] = np.nan  # a solid column
    means = region_means({"nut": nut, "z": zz}, region_masks(x, y, z))
    aisle = means["cold aisle, z 0-1 m"]
    assert aisle["nut"] == aisle["z"] == np.mean(z[(z > 0) & (z < 1.0)])
    # the solid column is left out of both fields alike (a cell counts only where every field is finite)
    assert means["room"]["nut"] == means["room"]["z"]
