"""Power chain: network → arrays → load flow → losses (see twin.electrical.solve)."""

from twin.electrical.curves import LossCurve
from twin.electrical.heat import LossLocations, loss_locations
from twin.electrical.network import S_BASE_VA, PowerNetwork
from twin.electrical.plant import chiller_cop, chiller_power_w, pump_power_w
from twin.electrical.radial import RadialForest, SweepNotConverged
from twin.electrical.solve import PowerResult, PowerSources, solve_power

__all__ = [
    "S_BASE_VA",
    "LossCurve",
    "LossLocations",
    "PowerNetwork",
    "PowerResult",
    "PowerSources",
    "RadialForest",
    "SweepNotConverged",
    "chiller_cop",
    "chiller_power_w",
    "loss_locations",
    "pump_power_w",
    "solve_power",
]
