"""Schema of a hall's power chain (the ``[power]`` section of a hall file).

The chain, as a balanced three-phase network::

    utility (MV, short-circuit power) ─ transformer(s) ┐
                                                      ├─ LV switchboard ─┬─ UPS input cable ─ UPS A ─ cable ─ PDU ─ rack feed ─ PSU
    generator (LV, behind the ATS) ──────────────────┘                   ├─ UPS input cable ─ UPS B ─ cable ─ PDU ─ rack feed ─ PSU
                                                                          └─ cable ─ mechanical panel (CRAH fans, chillers, pumps)

A rack draws half its power through its A feed and half through its B feed while both are live, all
of it through the live one when one side's UPS is out. The mechanical panel is not behind a UPS: on a
utility loss the CRAH fans, pumps and chillers stop until the generator is online, and the chillers
then need ``restart_time_s`` before they cool again.

Defaults and their sources:

- transformer: a 2500 kVA, 11/0.4 kV dry-type (cast-resin) unit, impedance 6 %, losses near the EU
  Ecodesign limits (Regulation 548/2014, Tier 2): ≈ 21 kW load loss at rated current, ≈ 3.2 kW no-load.
  A hall too large for one unit lists several in ``[[power.transformers]]``: units of the same ratio in
  parallel between the MV bus and the LV switchboard (IEC 60076-8's conditions for parallel operation),
  which share the load in inverse proportion to their impedances; a unit ``in_service = false`` (tripped,
  or out for maintenance) carries nothing and the others carry it all.
- UPS efficiency: published curves of transformer-free double-conversion UPSs (e.g. Schneider Electric
  White Paper 108, "Making Large UPS Systems More Efficient"; vendor data sheets): ≈ 85 % at 10 % load,
  92 % at 20–25 %, 95.5 % at 50 %, 96 % at 75–100 %. Eco mode (static bypass): ≈ 99 % above 25 % load.
  Between the points the *loss* (not the efficiency) is interpolated linearly in the load, so every
  published point is reproduced exactly; below the first point the loss stays at its value there (the
  no-load loss), above the last it continues the last segment's slope.
- server PSUs: the 80 PLUS 230 V internal redundant points (CLEAResult, 80 PLUS program):
  Titanium 90/94/96/91 % at 10/20/50/100 % load, Platinum 90/94/91 % at 20/50/100 %, Gold 88/92/88 %.
- chiller COP: a fixed fraction of the Carnot COP between the evaporator (chilled-water supply minus an
  approach) and the condenser (outdoor temperature plus an approach): COP = f · T_ev / (T_cond − T_ev).
  With the defaults (f = 0.5, 3 K and 8 K) a 12 °C supply at 25 °C outdoors gives COP ≈ 5.9 and each K
  warmer chilled water saves ≈ 4 % of chiller power (the rule of thumb is 1.8 %/°F ≈ 3.2 %/K).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from twin.model.strict import StrictModel

__all__ = [
    "CoolingPlant",
    "Generator",
    "Mechanical",
    "Pdu",
    "PowerChain",
    "RackFeed",
    "Transformer",
    "Ups",
    "Utility",
    "PSU_CURVES",
    "UPS_DOUBLE_CONVERSION_CURVE",
    "UPS_ECO_CURVE",
]

#: Server PSU efficiency (80 PLUS, 230 V internal redundant): (load fractions, efficiencies).
PSU_CURVES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "titanium": ((0.10, 0.20, 0.50, 1.00), (0.90, 0.94, 0.96, 0.91)),
    "platinum": ((0.20, 0.50, 1.00), (0.90, 0.94, 0.91)),
    "gold": ((0.20, 0.50, 1.00), (0.88, 0.92, 0.88)),
}
#: Double-conversion UPS efficiency vs load fraction (see the module docstring for the source).
UPS_DOUBLE_CONVERSION_CURVE = ((0.10, 0.20, 0.25, 0.50, 0.75, 1.00), (0.85, 0.92, 0.92, 0.955, 0.96, 0.96))
#: Eco-mode (static bypass) efficiency vs load fraction.
UPS_ECO_CURVE = ((0.10, 0.25, 0.50, 1.00), (0.97, 0.985, 0.99, 0.99))


_Strict = StrictModel


def _check_curve(loads: tuple[float, ...], efficiencies: tuple[float, ...]) -> None:
    if len(loads) != len(efficiencies) or len(loads) < 2:
        raise ValueError("load and efficiency points must be lists of the same length (at least 2)")
    if any(b <= a for a, b in zip(loads, loads[1:])) or loads[0] <= 0.0 or loads[-1] > 2.0:
        raise ValueError("load points must increase, each in (0, 2]")
    if any(not (0.5 <= e < 1.0) for e in efficiencies):
        raise ValueError("efficiencies must be between 0.5 and 1 (fractions, not %)")


class Utility(_Strict):
    mv_kv: float = Field(default=11.0, ge=1.0, le=70.0, description="Utility (medium) voltage, line to line, kV.")
    sc_mva: float = Field(
        default=250.0, ge=1.0, le=10_000.0,
        description="Short-circuit power of the utility at the point of connection, MVA (sets the source impedance).",
    )
    r_over_x: float = Field(default=0.1, ge=0.0, le=10.0, description="R/X ratio of the source impedance.")


class Transformer(_Strict):
    name: str = Field(default="TR-1", description="Transformer name (one of [[power.transformers]]), e.g. TR-1.")
    in_service: bool = Field(
        default=True, description="False: tripped or out for maintenance (the units in parallel carry its load)."
    )
    rated_kva: float = Field(default=2500.0, gt=0.0, le=100_000.0, description="Rated power, kVA.")
    mv_kv: float = Field(default=11.0, ge=1.0, le=70.0, description="Rated primary (MV) voltage, kV.")
    lv_v: float = Field(default=400.0, ge=100.0, le=1000.0, description="Rated secondary (LV) voltage, line to line, V.")
    impedance_pct: float = Field(default=6.0, gt=0.5, le=20.0, description="Short-circuit impedance, % of rated.")
    load_loss_kw: float = Field(default=21.0, ge=0.0, description="Load (copper) loss at rated current, kW.")
    no_load_loss_kw: float = Field(default=3.2, ge=0.0, description="No-load (iron) loss at rated voltage, kW.")

    @model_validator(mode="after")
    def _losses_below_impedance(self) -> Transformer:
        if self.load_loss_kw / self.rated_kva * 100.0 >= self.impedance_pct:
            raise ValueError("load_loss_kw as % of rated_kva must be below impedance_pct (R < Z)")
        return self


class Generator(_Strict):
    rated_kva: float = Field(default=2500.0, gt=0.0, le=100_000.0, description="Rated power, kVA (at the LV switchboard).")
    start_delay_s: float = Field(
        default=12.0, ge=0.0, le=300.0, description="From utility loss to generator online and transferred, s (10–20 typical)."
    )
    retransfer_delay_s: float = Field(
        default=300.0, ge=0.0, le=7200.0, description="Utility stable for this long before the ATS returns to it, s."
    )


class Ups(_Strict):
    name: str = Field(description="UPS name, e.g. UPS-A.")
    rated_kva: float = Field(gt=0.0, le=20_000.0, description="Rated output, kVA (unity power factor: kW = kVA).")
    mode: Literal["double-conversion", "eco"] = Field(
        default="double-conversion", description="Operating mode: double conversion, or eco (static bypass)."
    )
    battery_kwh: float = Field(gt=0.0, le=100_000.0, description="Usable battery energy, kWh.")
    battery_max_charge_kw: float = Field(gt=0.0, le=20_000.0, description="Largest battery charging power, kW.")
    charge_efficiency: float = Field(default=0.95, gt=0.5, le=1.0, description="Charger efficiency (0–1).")
    efficiency_load: tuple[float, ...] = Field(
        default=UPS_DOUBLE_CONVERSION_CURVE[0], description="Load fractions (of rated kW) of the efficiency points."
    )
    efficiency: tuple[float, ...] = Field(
        default=UPS_DOUBLE_CONVERSION_CURVE[1], description="Double-conversion efficiency at those loads (0–1)."
    )
    eco_efficiency_load: tuple[float, ...] = Field(
        default=UPS_ECO_CURVE[0], description="Load fractions of the eco-mode efficiency points."
    )
    eco_efficiency: tuple[float, ...] = Field(default=UPS_ECO_CURVE[1], description="Eco-mode efficiency (0–1).")
    input_power_factor: float = Field(
        default=0.99, gt=0.5, le=1.0, description="Power factor of the rectifier input (double conversion)."
    )
    cable_length_m: float = Field(default=20.0, gt=0.0, le=2000.0, description="LV switchboard to UPS input cable, m.")
    cable_r_ohm_per_km: float = Field(
        default=0.01, gt=0.0, le=50.0, description="Resistance per phase of that cable (all parallel runs), Ω/km."
    )
    cable_x_ohm_per_km: float = Field(
        default=0.01, ge=0.0, le=50.0, description="Reactance per phase of that cable (all parallel runs), Ω/km."
    )

    @model_validator(mode="after")
    def _curves(self) -> Ups:
        _check_curve(self.efficiency_load, self.efficiency)
        _check_curve(self.eco_efficiency_load, self.eco_efficiency)
        return self


class Pdu(_Strict):
    name: str = Field(description="PDU name, e.g. PDU-A1.")
    ups: str = Field(description="Name of the UPS that feeds this PDU.")
    position_m: tuple[float, float] = Field(description="x, y of the cabinet's minimum corner on the hall floor, m.")
    size_m: tuple[float, float, float] = Field(default=(0.8, 0.8, 2.0), description="Cabinet size x, y, z, m.")
    rated_kva: float = Field(gt=0.0, le=5000.0, description="Rated power, kVA.")
    kind: Literal["transformer", "panel"] = Field(
        default="transformer",
        description="'transformer': with a 400/400 V isolation transformer (no-load + load losses); 'panel': none.",
    )
    impedance_pct: float = Field(default=4.0, gt=0.5, le=20.0, description="Isolation transformer impedance, % of rated.")
    load_loss_w: float = Field(default=0.0, ge=0.0, description="Isolation transformer load loss at rated current, W.")
    no_load_loss_w: float = Field(default=0.0, ge=0.0, description="Isolation transformer no-load loss, W.")
    cable_length_m: float = Field(gt=0.0, le=2000.0, description="UPS output to PDU cable length, m.")
    cable_r_ohm_per_km: float = Field(
        default=0.075, gt=0.0, le=50.0,
        description="Resistance per phase (all parallel runs), Ω/km (2 × 150 mm² Cu at 70 °C ≈ 0.075).",
    )
    cable_x_ohm_per_km: float = Field(default=0.04, ge=0.0, le=50.0, description="Reactance per phase, Ω/km.")

    @field_validator("size_m")
    @classmethod
    def _size(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (0.1 <= s <= 5.0) for s in v):
            raise ValueError("each of x, y, z must be between 0.1 and 5 m")
        return v

    @model_validator(mode="after")
    def _losses(self) -> Pdu:
        if self.kind == "panel" and (self.load_loss_w or self.no_load_loss_w):
            raise ValueError("a 'panel' PDU has no transformer: leave load_loss_w and no_load_loss_w at 0")
        if self.kind == "transformer" and self.load_loss_w / (self.rated_kva * 1e3) * 100.0 >= self.impedance_pct:
            raise ValueError("load_loss_w as % of rated_kva must be below impedance_pct (R < Z)")
        return self


class RackFeed(_Strict):
    row: str = Field(description="Name of the rack row (in [[rows]]) that these feeds supply.")
    feed_a: str = Field(description="PDU of the racks' A feeds.")
    feed_b: str = Field(description="PDU of the racks' B feeds.")
    cable_r_ohm: float = Field(
        default=0.05, gt=0.0, le=10.0, description="Resistance per phase of one rack feed cable, Ω (15 m of 6 mm² Cu ≈ 0.05)."
    )
    cable_x_ohm: float = Field(default=0.0015, ge=0.0, le=10.0, description="Reactance per phase of one rack feed cable, Ω.")
    psu: Literal["titanium", "platinum", "gold"] = Field(
        default="titanium", description="Server PSU efficiency class (80 PLUS, 230 V internal redundant)."
    )
    psu_rating_fraction: float = Field(
        default=2.0, ge=0.5, le=10.0,
        description="Installed PSU capacity ÷ the rack's IT load (2.0 for 1+1 PSUs sized for the load).",
    )
    psu_power_factor: float = Field(default=0.98, gt=0.5, le=1.0, description="Power factor of the PSUs' input.")
    rated_kva: float | None = Field(
        default=None, gt=0.0, le=500.0,
        description="Rating of each rack's A and of its B feed (breaker and cable), kVA, e.g. 22 for 32 A "
                    "three-phase at 400 V; none: only PDUs and UPSs are checked (twin capacity, twin sweep).",
    )


class Mechanical(_Strict):
    cable_length_m: float = Field(default=40.0, gt=0.0, le=2000.0, description="LV switchboard to mechanical panel cable, m.")
    cable_r_ohm_per_km: float = Field(
        default=0.025, gt=0.0, le=50.0, description="Resistance per phase (all parallel runs), Ω/km."
    )
    cable_x_ohm_per_km: float = Field(default=0.02, ge=0.0, le=50.0, description="Reactance per phase, Ω/km.")
    power_factor: float = Field(default=0.95, gt=0.5, le=1.0, description="Power factor of the mechanical loads (VFDs).")


class CoolingPlant(_Strict):
    chillers: int = Field(default=2, ge=1, le=100, description="Number of chillers.")
    rated_cooling_kw: float = Field(default=1000.0, gt=0.0, le=50_000.0, description="Cooling capacity of each chiller, kW.")
    chw_supply_c: float = Field(default=12.0, ge=4.0, le=25.0, description="Chilled-water supply temperature, °C.")
    carnot_fraction: float = Field(default=0.5, gt=0.05, le=0.9, description="Chiller COP ÷ Carnot COP.")
    evaporator_approach_k: float = Field(default=3.0, ge=0.0, le=15.0, description="Chilled-water supply − evaporating, K.")
    condenser_approach_k: float = Field(default=8.0, ge=0.0, le=30.0, description="Condensing − outdoor temperature, K.")
    cop_max: float = Field(default=12.0, gt=1.0, le=50.0, description="Upper limit of the COP (cold weather), -.")
    pump_kw: float = Field(default=30.0, ge=0.0, le=5000.0, description="Chilled-water pump power at design flow, kW.")
    outdoor_temp_c: float = Field(default=25.0, ge=-40.0, le=55.0, description="Outdoor (dry-bulb) temperature, °C.")
    restart_time_s: float = Field(
        default=600.0, ge=0.0, le=3600.0, description="Chiller restart time after its power returns, s (up to ≈ 1800)."
    )
    loop_water_m3: float = Field(
        default=40.0, gt=0.0, le=10_000.0,
        description="Water in the chilled-water loop (pipes, buffer tank), m³: its heat capacity carries the "
                    "coils while the chillers are stopped.",
    )


class PowerChain(_Strict):
    utility: Utility = Field(default=Utility(), description="Utility feed.")
    transformer: Transformer = Field(default=Transformer(), description="MV/LV transformer (one unit).")
    transformers: list[Transformer] | None = Field(
        default=None,
        description="MV/LV transformers in parallel between the MV bus and the LV switchboard, instead of "
                    "[power.transformer]: same mv_kv and lv_v, unique names, at least one in service.",
    )
    generator: Generator | None = Field(default=None, description="Standby generator behind the ATS (none: no generator).")
    ups: list[Ups] = Field(description="UPS modules (systems), e.g. UPS-A and UPS-B for a 2N design.")
    pdus: list[Pdu] = Field(description="PDUs standing in the hall.")
    rack_feeds: list[RackFeed] = Field(default=[], description="A and B feeds of every rack row.")
    mechanical: Mechanical = Field(default=Mechanical(), description="Mechanical panel (CRAH fans, chillers, pumps).")
    cooling_plant: CoolingPlant = Field(default=CoolingPlant(), description="Chillers and pumps.")

    @model_validator(mode="after")
    def _one_way_to_give_transformers(self) -> PowerChain:
        if self.transformers is None:
            return self
        if "transformer" in self.model_fields_set:
            raise ValueError("give [power.transformer] (one unit) or [[power.transformers]] (units in parallel), not both")
        if not 1 <= len(self.transformers) <= 16:
            raise ValueError(f"transformers: {len(self.transformers)} units; 1 to 16 allowed")
        return self

    @property
    def transformer_units(self) -> list[Transformer]:
        """The MV/LV transformers in parallel (one unless [[power.transformers]] lists several)."""
        return list(self.transformers) if self.transformers is not None else [self.transformer]
