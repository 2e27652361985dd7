"""Probe the row ends of aisle-pair: air temperature and horizontal velocity, CFD vs the momentum model.

Usage: ``python validation/row_end_probe.py`` (steady momentum solve; CFD: results/aisle-pair/fields.npz).

Prints T at z = 0.3 / 1.0 / 1.8 / 2.5 m (CFD|twin, °C) and (u_x, u_y) at 1.0 m (m/s) at a few points in
the cold aisle, beyond the row ends and in the hot aisle: where the hot air that warms the end racks'
intakes comes from, and how far into the cold aisle it reaches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# Run as `python validation/row_end_probe.py`, so its own directory is on the path: the twin's steady
# fields come from the tile-column probe's reader, not from a second copy of it.
from tile_column_probe import read_fields, twin_fields

HERE = Path(__file__).resolve().parent
HEIGHTS_M = (0.3, 1.0, 1.8, 2.5)
POINTS = [  # x, y (m), what
    (4.725, 2.475, "cold aisle at A04 front"),
    (4.725, 3.0, "cold aisle middle, far end"),
    (4.975, 3.0, "beyond row end, aisle axis"),
    (4.975, 1.8, "beyond A04 end, rack line"),
    (4.975, 0.9, "beyond A04, hot aisle"),
    (4.975, 4.2, "beyond B04 end, rack line"),
    (2.525, 2.475, "cold aisle at A01 front"),
    (2.275, 1.8, "before A01 end, rack line"),
    (2.275, 3.0, "before row start, aisle axis"),
]


def _nearest(centres: np.ndarray, value: float) -> int:
    return int(np.argmin(np.abs(centres - value)))


def main() -> int:
    twin = twin_fields(HERE / "halls" / "aisle-pair.toml")
    t_twin, u_twin = twin["t_c"], twin["velocity_m_s"]
    cfd = read_fields(HERE / "results" / "aisle-pair" / "fields.npz")
    t_cfd, u_cfd = cfd["t_c"], cfd["velocity_m_s"]
    x, y, z = twin["x_m"], twin["y_m"], twin["z_m"]
    ks = [_nearest(z, h) for h in HEIGHTS_M]
    print(f"T (°C, CFD|twin) at z = {' / '.join(f'{h:g}' for h in HEIGHTS_M)} m; (u_x, u_y) at 1.0 m, CFD | twin")
    for xv, yv, what in POINTS:
        i, j = _nearest(x, xv), _nearest(y, yv)
        temps = " ".join(f"{t_cfd[i, j, k]:5.1f}|{t_twin[i, j, k]:5.1f}" for k in ks)
        print(f"  {what:30s} ({x[i]:.2f}, {y[j]:.2f}) {temps}   "
              f"{np.round(u_cfd[i, j, ks[1], :2], 2)} | {np.round(u_twin[i, j, ks[1], :2], 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
