"""Published reference values of the benchmark ladder, typed in from the papers.

* Ghia, Ghia & Shin (1982), "High-Re solutions for incompressible flow using the Navier–Stokes equations
  and a multigrid method", J. Comput. Phys. 48, 387–411: Table I (u along the vertical centreline x = 0.5)
  and Table II (v along the horizontal centreline y = 0.5), lid u = 1 at y = 1, at their 17 standard
  points (129² multigrid solution, second-order). Only Re = 100 and 1000 are used here.
* de Vahl Davis (1983), "Natural convection of air in a square cavity: a bench mark numerical solution",
  Int. J. Numer. Methods Fluids 3, 249–264: Table IV (the benchmark solution, Richardson-extrapolated),
  air Pr = 0.71, hot wall x = 0, cold wall x = 1, adiabatic floor and ceiling; velocities in α/L.
* IEA Annex 20 two-dimensional test case, Nielsen (1990), "Specification of a two-dimensional test
  case", IEA Annex 20 Research Item 1.45, Aalborg University R9040: the geometry and inlet only. The
  laser-Doppler measurements (Restivo 1979, the report's figure 5; Aalborg's workbook "Laser-doppler
  measurements of the isothermal two dimensional test case") are not in this repository; see
  ``validation/benchmarks.py`` (``annex20_room``) for why.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ANNEX20", "DE_VAHL_DAVIS", "GHIA_U", "GHIA_V", "GHIA_X", "GHIA_Y"]

#: Ghia's y stations on the vertical centreline (Table I), top to bottom.
GHIA_Y = np.array([1.0, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5, 0.4531, 0.2813,
                   0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0])

#: u(y) at x = 0.5 per Reynolds number (Table I).
GHIA_U = {
    100: np.array([1.0, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581,
                   -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.0]),
    1000: np.array([1.0, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080,
                    -0.10648, -0.27805, -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.0]),
}

#: Ghia's x stations on the horizontal centreline (Table II), right to left.
GHIA_X = np.array([1.0, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5, 0.2344, 0.2266, 0.1563,
                   0.0938, 0.0781, 0.0703, 0.0625, 0.0])

#: v(x) at y = 0.5 per Reynolds number (Table II).
GHIA_V = {
    100: np.array([0.0, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454,
                   0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.0]),
    1000: np.array([0.0, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526,
                    0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.0]),
}

#: de Vahl Davis (1983) benchmark solution per Rayleigh number: mean Nusselt number; the largest horizontal
#: velocity on the vertical mid-plane and its height; the largest vertical velocity on the horizontal
#: mid-plane and its distance from the hot wall (velocities in α/L, positions in L).
DE_VAHL_DAVIS = {
    1e3: {"nu_mean": 1.118, "u_max": 3.649, "z_u_max": 0.813, "w_max": 3.697, "x_w_max": 0.178},
    1e4: {"nu_mean": 2.243, "u_max": 16.178, "z_u_max": 0.823, "w_max": 19.617, "x_w_max": 0.119},
    1e5: {"nu_mean": 4.519, "u_max": 34.73, "z_u_max": 0.855, "w_max": 68.59, "x_w_max": 0.066},
    1e6: {"nu_mean": 8.800, "u_max": 64.63, "z_u_max": 0.850, "w_max": 219.36, "x_w_max": 0.0379},
}

#: IEA Annex 20 2D room (Nielsen 1990, eqs. 1–4): height, length, inlet slot under the ceiling of one end
#: wall, outlet slot at the foot of the opposite wall, inlet velocity and Reynolds number on the slot.
ANNEX20 = {"height_m": 3.0, "length_m": 9.0, "inlet_m": 0.168, "outlet_m": 0.48, "u_in_m_s": 0.455,
           "reynolds": 5000.0}
