"""Embedded controllers of the twin: sampled controllers, sensors, actuators, setpoints and alarms.

Pure numerics (numpy and the standard library; the ASHRAE ranges come from the hall schema): no I/O,
no sockets, no imports of ``twin.sim``.
The simulation drives it; see :mod:`twin.control.base` for the hooks and when they are called.
"""

from twin.control.actuators import Actuator, FanVFD, Valve
from twin.control.alarms import (
    ASHRAE_ALLOWABLE_C,
    ASHRAE_RECOMMENDED_C,
    AlarmSystem,
    LevelAlarm,
    RackInletAlarms,
    define_battery_low,
    define_crah_trip,
    define_generator_failed,
    define_sensor_failed,
    define_ups_on_battery,
)
from twin.control.base import Controller
from twin.control.crah import (
    CrahFanController,
    CrahSupplyController,
    last_running_interlock,
    register_crah_setpoints,
)
from twin.control.pid import PID
from twin.control.power import BatteryChargeController, GeneratorATSController, charge_power_w
from twin.control.registry import Role, SetpointRegistry, WriteResult, attribute
from twin.control.sensors import SensorArray

__all__ = [
    "ASHRAE_ALLOWABLE_C",
    "ASHRAE_RECOMMENDED_C",
    "PID",
    "Actuator",
    "AlarmSystem",
    "BatteryChargeController",
    "Controller",
    "CrahFanController",
    "CrahSupplyController",
    "FanVFD",
    "GeneratorATSController",
    "LevelAlarm",
    "RackInletAlarms",
    "Role",
    "SensorArray",
    "SetpointRegistry",
    "Valve",
    "WriteResult",
    "attribute",
    "charge_power_w",
    "define_battery_low",
    "define_crah_trip",
    "define_generator_failed",
    "define_sensor_failed",
    "define_ups_on_battery",
    "last_running_interlock",
    "register_crah_setpoints",
]
