"""The coupled hall model: air field + racks + CRAHs, advanced by ``step`` or solved for steady state.

All that evolves lives in :class:`~twin.sim.state.TwinState` (fields, equipment, controllers, the power
chain's memory, clock), so a run can be forked, saved and resumed. :class:`HallTwin` holds what the
hall fixes: the grid, the flow network, the solvers' set-up (multigrid hierarchies, the CRAHs' basis
potentials: fixed by the geometry, so a fork or a restored checkpoint gets the same bits from them) and a
cache of the factorized transport operator, rebuilt from whichever state it is handed.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import numpy as np

from twin.control.alarms import AlarmSystem
from twin.geometry.voxel import voxelize_hall
from twin.model.load import HallError, HallModel, coarse_hall
from twin.sim.controls import HallControls
from twin.sim.fixed_point import AndersonMixer
from twin.sim.power import PowerSystem
from twin.sim.state import TwinState
from twin.thermal.airflow import AirflowSolver, AirPathError
from twin.thermal.compact import (
    COIL_AT_SETPOINT,
    COIL_NOT_COOLING,
    CrahArrays,
    RackArrays,
    coil_affine,
    coil_outlet_c,
    coil_regime,
    rack_temperature_c,
    rack_time_constant_s,
    server_airflow_m3s,
    valve_for_setpoint,
)
from twin.thermal.gridseq import prolong_momentum, prolong_temperature, restrict_temperature
from twin.thermal.momentum import FlowNotConverged, MomentumSettings, MomentumSolver, MoverJets, SolveInfo
from twin.thermal.network import build_network
from twin.thermal.steady import SteadyNotConverged, solve_steady_field
from twin.thermal.threads import limited_blas
from twin.thermal.transport import AirProperties, TransportOperator

__all__ = ["AirflowNotConverged", "HallTwin", "NoSteadyState", "TwinState"]  # TwinState lives in twin.sim.state


log = logging.getLogger(__name__)

_DEFAULT_CHW_C = 12.0  # chilled-water supply when the hall file describes no plant, °C
#: Age of the flow field, s, from which the transport's first guess uses the responses to the CRAHs'
#: injections (TransportOperator.step): computing them costs about 0.1 s on the reference hall (a hundred
#: sweeps), which pays back after about as many steps of one sweep saved each.
RESPOND_AFTER_S = 60.0


#: Momentum iterations per outer iteration of a steady solve with buoyancy, and how little the intakes
#: (racks and CRAHs) may move in such an iteration for it to count as calm, K (settled: _STEADY_SETTLED_RUN
#: calm iterations in a row).
_STEADY_FLOW_ITERATIONS = 10
#: Share of van Leer's correction a hall's momentum solve takes with [airflow] convection = "tvd": the full
#: correction keeps the buoyant row-end plumes of the aisle-pair validation hall swinging (no steady state
#: in 300 outer iterations); half of it converges in 18 (see twin.thermal.momentum's docstring).
_HALL_TVD_BLEND = 0.5
_STEADY_INTAKE_K = 0.05
#: Grid sequencing: the coarse grid's steady solve stops when its flow residuals are below this many times the
#: hall's tolerance (its intakes settled as the hall's). Its answer is only the fine grid's start, whose
#: outer iterations take the flow to _STEADY_LOOP_FLOW_TOL_FACTOR times the hall's tolerance. At 1x the
#: open-row validation hall's 0.3 m grid
#: took 96 outer iterations (its residuals stall near 1e-4) against 14 at 10x, for a fine solve 0.36 K
#: instead of 0.08 K from its converged answer (main's default: 0.47 K), in 0.65x main's time instead of 1.05x
#: (shared machine, same-run ratios; twin.thermal.momentum's docstring has the rest).
_COARSE_FLOW_TOL_FACTOR = 10.0
#: The coarse grid's cell is this many times the hall's (a nested iteration's usual 2h: 8x fewer cells).
COARSE_RATIO = 2
#: Tolerance of the temperature solves inside the momentum model's outer iterations (scaled residual per
#: row, K; the state handed out is solved again to 1e-8). With buoyancy they are _STEADY_INNER_SWEEPS sweeps
#: instead (stopping early at this tolerance); the history below is of the solves to it. 1e-4 instead of 1e-5
#: moved the aisle-pair
#: validation hall's intakes by under 0.006 K in the same 18 outer iterations with 874 Krylov iterations
#: instead of 1224 (shared machine, same day): the outer loop's own error is far larger. Back at 1e-5 since
#: the solve's preconditioner is symmetric Gauss–Seidel (twin.thermal.steady), which needs a third of the
#: iterations: where the loop stops depends on the iterates' errors at 1e-4, by up to 0.10 K (main at 1e-4
#: against 1e-5: open-row-fine 0.10 K, reference 0.075 K, contained 0.013 K, open-row and aisle-pair 0.002
#: K), so 1e-4 fixed the answer only to that; at 1e-5 the two preconditioners give the same answer within
#: 6e-4 K on all five halls, and the symmetric one at 1e-5 takes fewer iterations than the forward one at
#: 1e-4 (open-row-fine 555 against 991, reference 148 against 222). Its coarse grid now takes 15 outer
#: iterations instead of 8; keeping that grid's solves at 1e-4 (measured, not kept) gave back the 8 and 0.2 s
#: of CPU, but 608 Krylov iterations on the fine grid instead of 555 and an answer 0.11 K away: the start
#: the coarse grid hands over moves where the fine loop stops as much as the tolerance does.
_STEADY_INNER_TOL_K = 1e-5
#: With buoyancy the in-loop temperature solves are inexact: this many steps of the stationary iteration with
#: the solve's flow-ordered symmetric Gauss–Seidel (twin.thermal.steady's ``sweeps``), warm-started from the last
#: outer iteration's field, instead of BiCGSTAB to _STEADY_INNER_TOL_K (kept for the loop without buoyancy,
#: whose stopping test does not watch the intakes move; the first solve from rest and the state handed out are
#: solved to 1e-8 as before). The outer loop is a fixed point mixed by Anderson, and the sweeps' fixed point is
#: the exact field, so an unfinished solve is carried on by the next outer iteration. Measured against main
#: (shared 2-core machine, CPU of HallTwin.steady, alternated, two runs each; distance = max |intake − the fully
#: converged answer of validation/steady_speed.py|): open-row-fine 0.83x, 17 outer iterations as main, 0.189 K
#: against 0.193 K; open-row 0.87x, 16 against 17, 0.339 against 0.362 K; aisle-pair 0.94x, 19 as main, 0.052
#: against 0.066 K; contained 1.00x, 5 as main, 0.020 against 0.023 K. The sweeps leave an rms residual of
#: 1e-4 to 2e-3 K (4e-3 to 2e-2 K in the first outer iterations); the polish then needs 56 BiCGSTAB iterations
#: on open-row-fine instead of 33, against 425 sweeps in its loop instead of 555 iterations (a sweep costs about
#: half an iteration). The margin is thin and not monotonic in the count: 20 sweeps stopped aisle-pair 0.102 K
#: away, 30 stopped open-row-fine 0.195 K and open-row 0.368 K away; 10 (0.73x on open-row-fine) stopped it
#: 0.236 K away (with the mixed T as start). The rule stops where the slow drift of the flow happens to be
#: (twin.sim.twin.HallTwin.steady): the distances move by some 0.01-0.05 K with any change of the iterates.
#: Measured and not kept: BiCGSTAB capped at 10, 15 or 20 iterations (open-row-fine 0.91x/0.86x, 0.22/0.24/0.198
#: K); the sweeps or the 1e-5 solves started from the mixed temperatures instead of the last solve's (1e-5: 695
#: instead of 555 iterations on open-row-fine).
_STEADY_INNER_SWEEPS = 25
#: The last projection of each outer iteration's momentum iterations (the solver's default 1e-3 for fields handed
#: out). The iterates only feed the next temperature solve, and the state handed out is projected to 1e-3 after
#: the loop. Measured on the four validation halls (CPU of the steady solve, one run each, shared machine): the
#: same outer iterations (17, 17, 19, 5), the answers as far from the converged ones or nearer (open-row-fine
#: 0.175 against 0.193 K, open-row 0.358 against 0.362 K, aisle-pair and contained unchanged), open-row-fine in
#: 9.6 against 10.7 s: its 18 projections to 1e-3 took 53 ms each against 12 ms for one to 0.1.
_STEADY_LOOP_FINAL_RTOL = 0.1
#: The buoyant loop's stopping rule on the hall's grid: the intakes moved less than ``intake_tol_k`` in this many
#: outer iterations in a row, and the flow's scaled residuals are below this many times its tolerance (1e-4).
#: Until 2026-12-02 one calm outer iteration and the flow at 1e-4: on the open halls the flow's residuals then
#: kept the loop going for 7-9 outer iterations after the intakes had settled, while the intakes drifted away
#: from the converged answer (open-row-fine: 0.12 K off where they first settled, at the 8th outer iteration,
#: 0.196 K at the 17th, where the residuals reached 1e-4; validation/steady_speed.py's converged answer takes
#: 282). Two calm iterations in a row instead of one keep what the residual's wait also gave: no stop in a lull
#: (aisle-pair's 13th outer iteration moved 0.035 K between moves of 0.086 and 0.085 K, 0.33 K from its
#: converged answer, its momentum residual 3.9e-4 there). Measured (CPU of HallTwin.steady, two alternated
#: pairs each against the old rule, the shared 2-core machine on a noisy day; off = max over the rack intakes
#: and CRAH returns against the converged answers, intakes settled to 1e-4 K per outer iteration and the flow
#: to 1e-6, contained's to 1e-4 where its residuals stall, reference's intakes to 1e-3 K):
#:
#:     hall            fine outer iterations   CPU            off the converged answer
#:     open-row-fine   8 against 17            0.57-0.59x     0.146 against 0.196 K
#:     open-row        8 against 15            0.68-0.84x     0.326 against 0.354 K
#:     aisle-pair      20 against 19           1.05-1.06x     0.082 against 0.060 K
#:     contained       5 against 6             0.96-0.98x     0.018 against 0.013 K
#:     reference       14 against 13           1.08-1.10x     0.118 against 0.134 K
#:
#: The tests' tiny halls stop earlier too and, there, farther from their converged answer (tiny at 0.25 m with
#: k-ε: 0.034 against 0.004 K after 17 against 24 outer iterations), inside the rule's 0.05 K.
#: A factor of 10 (the coarse grid's) stopped the same five where 3 does; one calm iteration with the factor 3
#: would stop aisle-pair in that lull once its residual came under 3e-4. The rule bounds no error (the
#: answers above sit in a slow drift of the row-end plumes, twin.thermal.momentum's "Grid sequencing"), and
#: the field handed out is projected to the solver's 1e-3 as before. The coarse grid of a sequenced solve keeps
#: one calm iteration at its own 10x tolerance: its stop is the intakes' there, and the two-in-a-row rule made
#: it longer (reference 22 coarse outer iterations against 16, open-row-fine 17 against 16) for the same fine
#: outer iterations (14 and 8).
_STEADY_SETTLED_RUN = 2
#: The steady loop's momentum resolves assemble their coefficients every this many iterations and reuse them in
#: between (MomentumSolver.lagging; solves from rest and time runs assemble every iteration). Measured on
#: 2026-12-02 (the shared 2-core machine), 2 against 1: the whole command on open-row-fine 0.86-0.96x the CPU
#: (four alternated pairs), 16 coarse and 8 fine outer iterations both; HallTwin.steady, one run each: open-row
#: 0.89x, aisle-pair 0.93x, contained 0.97x, tiny 0.72x (46 outer iterations against 77); intakes within 0.025 K.
#: 3 took open-row-fine's fine loop to 10 outer iterations (slower). twin.thermal.momentum, "Cost of a steady
#: solve", has the rest.
_STEADY_REASSEMBLE_EVERY = 2
#: The buoyant loop's flow test on the hall's grid: its scaled residuals below this many times the momentum
#: solver's tolerance (the table above; validation answers that must be converged pass ``flow_tol_factor=1``).
_STEADY_LOOP_FLOW_TOL_FACTOR = 3.0
# An intake hotter than this in a steady iterate is no data hall's steady state: the iteration has run away
# (a server shuts down long before; the march would show the hall heating), °C.
_STEADY_INTAKE_MAX_C = 90.0
# The damped fan-law step of the safeguarded steady iteration (a fraction of the residual).
_GUARDED_RELAX = 0.5


class NoSteadyState(ValueError):
    """The hall has no steady state (e.g. more heat than running cooling capacity)."""


class AirflowNotConverged(NoSteadyState):
    """No steady state because the momentum airflow did not converge (not because of the heat balance, the fan
    law or the coils): a caller may retry with another flow tolerance (validation/steady_speed.py does)."""


def _flow_failure(exc: FlowNotConverged) -> AirflowNotConverged:
    """A momentum solve that failed, with the tail of its residual history (what a user needs to judge)."""
    hist = np.asarray(exc.history).reshape(-1, 2)
    first = max(len(hist) - 5, 0)
    tail = "; ".join(f"{first + k + 1}: {c:.1e} / {m:.1e}" for k, (c, m) in enumerate(hist[first:]))
    return AirflowNotConverged(f"no steady state found: the momentum airflow did not converge ({exc}); residual "
                               f"history, iteration: continuity / momentum, last {len(hist) - first} of {len(hist)}: "
                               f"{tail}")


class HallTwin:
    """A hall's physics, built once from a validated hall.

    Args:
        hall: the validated hall.
        dt_s: time step of :meth:`step`, s.
        reflow_tolerance: relative change of any server's airflow demand that triggers a new flow
            field (warm-started; below it the applied flow stays, and energy stays exact because
            every balance uses the applied flow).
        fan_update_interval_s: how often the servers' airflow law is evaluated, s of simulated time.
        control: "embedded" (the CRAHs' own sampled controllers, sensors, alarms and setpoint
            registry) or "ideal" (setpoints held exactly; for analytic checks and steady what-ifs).
        airflow: "potential" or "momentum" instead of the hall file's ``[airflow] model``.
        grid_sequencing: momentum model: start :meth:`steady` from the same hall's answer on a grid of twice
            the cell (None: the hall file's ``[airflow] grid_sequencing``).
    """

    def __init__(self, hall: HallModel, *, dt_s: float = 1.0, reflow_tolerance: float = 0.02,
                 fan_update_interval_s: float = 10.0, control: str = "ideal", airflow: str | None = None,
                 grid_sequencing: bool | None = None) -> None:
        self.hall = hall
        self.dt_s = float(dt_s)
        self.reflow_tolerance = reflow_tolerance
        self.fan_update_interval_s = fan_update_interval_s
        self.settle_interval_s = 300.0
        a = hall.spec.air
        self.air = AirProperties(a.density_kg_m3, a.cp_j_kgk, a.turbulent_diffusivity_m2s)
        self.voxels = voxelize_hall(hall)
        self.net = build_network(self.voxels)
        spec = hall.spec.airflow
        self.airflow_model = airflow or spec.model
        if self.airflow_model not in ("potential", "momentum"):
            raise ValueError(f"airflow must be 'potential' or 'momentum', got {self.airflow_model!r}")
        try:
            # The potential model re-solves its flow at every fan-law change of a live run: pyamg's hierarchy,
            # whose re-solves on large are 1.4x faster. Under the momentum model the potential flow is a side
            # solve (the sweeps' order, the divergent part) and the hierarchy's set-up was its cost: the grid
            # multigrid, set up in milliseconds (twin.thermal.airflow's docstring has the figures).
            self.airflow = AirflowSolver(self.net, multigrid="gmg" if self.airflow_model == "momentum" else "amg")
        except AirPathError as exc:
            raise HallError(f"{hall.path or '<hall>'}: {exc}") from None
        self.buoyancy = spec.buoyancy
        self.flow_refresh_s = spec.refresh_s
        self.flow_refresh_iterations = spec.refresh_iterations
        # The momentum model's turbulence mixes the heat too (eddy diffusivity on every face); the potential
        # flow has no turbulence of its own and keeps the hall's constant diffusivity.
        self.heat_mixing = spec.heat_mixing if self.airflow_model == "momentum" else "constant"
        #: Momentum model: :meth:`steady` from rest starts from the hall's steady state on a coarser grid.
        self.grid_sequencing = spec.grid_sequencing if grid_sequencing is None else grid_sequencing
        self._coarse: HallTwin | str | None = None  # the coarse grid's twin, or why there is none (built once)
        self.momentum: MomentumSolver | None = None
        if self.airflow_model == "momentum":
            # The voxels store σ² for a face of open fraction σ (the potential flow's conductance); the
            # momentum model's Borda–Carnot loss wants the open fraction itself.
            settings = MomentumSettings(buoyancy=spec.buoyancy, tol=spec.tolerance,
                                        convection=spec.convection, tvd_blend=_HALL_TVD_BLEND,
                                        turbulence_model=spec.turbulence)
            self.momentum = MomentumSolver(self.voxels.solid, [np.sqrt(o) for o in self.voxels.open_faces],
                                           self.voxels.grid.cell_m, MoverJets.from_voxels(self.voxels),
                                           settings=settings)
        self.racks = RackArrays.from_hall(hall)
        self.crahs = CrahArrays.from_hall(hall)
        plant = getattr(getattr(hall.spec, "power", None), "cooling_plant", None)
        #: Chilled-water supply temperature the plant is designed for, °C.
        self.chw_design_c = float(getattr(plant, "chw_supply_c", _DEFAULT_CHW_C))
        self.n_racks = len(self.racks.names)
        self.n_pdus = len(hall.pdus)
        nr, nc = self.n_racks, len(self.crahs.names)
        self._crah = slice(nr, nr + nc)  # columns of the CRAHs among the movers (racks, CRAHs, PDUs)
        self._check_time_step()
        if control not in ("ideal", "embedded"):
            raise ValueError(f"control must be 'ideal' or 'embedded', got {control!r}")
        #: "embedded" or "ideal": the controllers themselves are part of each state (``state.controls``).
        self.control_mode = control
        #: Embedded control: the loops run as arrays (twin.control.bank); False runs the per-object
        #: controllers instead, the reference the arrays are tested against (the same bits).
        self.vectorized_controls = True
        self.power = PowerSystem(hall) if hall.spec.power is not None else None
        # What the controllers offer to write and to fail, fixed by the hall (scenario and bus checks).
        template = HallControls(hall, AlarmSystem()) if control == "embedded" else None
        self.setpoint_names: frozenset[str] | None = frozenset(template.registry.names()) if template else None
        self.sensor_names: frozenset[str] | None = frozenset(template.sensors()) if template else None
        # The transport operator of the flow field last used (a cache: rebuilt from the state's field
        # whenever a state brings another one, so forks and restored checkpoints get the very same one).
        self._operator: TransportOperator | None = None
        self._operator_field: np.ndarray | None = None
        # Cumulative work counters, for benchmarks (not part of the state).
        self.flow_solves = 0
        self.flow_s = 0.0
        self.transport_steps = 0
        self.transport_sweeps = 0
        self.transport_s = 0.0

    # --- set-up -------------------------------------------------------------------------------

    def _check_time_step(self) -> None:
        tau = rack_time_constant_s(self.racks, self.air.rho_cp)
        if tau.size and self.dt_s > tau.min():
            name = self.racks.names[int(np.argmin(tau))]
            raise HallError(f"{self.hall.path or '<hall>'}: time step {self.dt_s:g} s exceeds rack {name}'s thermal "
                            f"time constant {tau.min():.0f} s; use a smaller --dt")

    def initial_state(self) -> TwinState:
        t0 = self.hall.spec.hall.initial_temp_c
        nr, nc = self.n_racks, len(self.crahs.names)
        it_w = self.racks.it_w.copy()
        state = TwinState(
            time_s=0.0, steps=0,
            t_air_c=np.full(self.net.n, t0), t_air_prev_c=None, t_rack_c=np.full(nr, t0),
            t_intake_c=np.full(nr, t0), rack_flow_m3s=server_airflow_m3s(self.racks, np.full(nr, t0), it_w),
            rack_it_w=it_w, rack_powered=np.ones(nr, dtype=bool), rack_heat_w=it_w.copy(),
            t_return_c=np.full(nc, t0), t_coil_c=np.full(nc, t0), crah_heat_removed_w=np.zeros(nc),
            pdu_heat_w=np.zeros(self.n_pdus),
            crah_running=np.ones(nc, dtype=bool), crah_tripped=np.zeros(nc, dtype=bool),
            crah_powered=np.ones(nc, dtype=bool), crah_fan_speed=self.crahs.fan_speed.copy(),
            crah_flow_m3s=self.crahs.flow_m3s(self.crahs.fan_speed, np.ones(nc, dtype=bool)),
            crah_valve=np.zeros(nc), crah_setpoint_c=self.crahs.supply_setpoint_c.copy(),
            t_chw_c=self.chw_design_c,
        )
        if self.control_mode == "embedded":
            state.controls = HallControls(self.hall, state.alarms, vectorized=self.vectorized_controls)
        if self.power is not None:
            state.power = self.power.new_memory(state.alarms)
            self.power.initial(state)
            # The chain's losses heat the hall from the first step.
            self.power.place_losses(state, self.crah_fan_power_w(state))
        state.stored_initial_j = self.stored_heat_j(state)
        return state

    # --- quantities ---------------------------------------------------------------------------

    def mover_flow_m3s(self, state: TwinState) -> np.ndarray:
        """Flows applied to the flow field: racks (servers), then CRAHs, m³/s."""
        return np.concatenate([state.rack_flow_m3s, state.crah_flow_m3s, np.zeros(self.n_pdus)])

    def mover_heat_w(self, state: TwinState, crah_fan_w: np.ndarray | None = None) -> np.ndarray:
        """Heat released at each mover's outlet besides what its air carries: CRAH fans, PDU losses, W.

        ``crah_fan_w``: the CRAH fans' power when the caller has it already (:meth:`crah_fan_power_w`)."""
        fan_w = self.crah_fan_power_w(state) if crah_fan_w is None else crah_fan_w
        return np.concatenate([np.zeros(self.n_racks), fan_w, state.pdu_heat_w])

    def crah_fan_power_w(self, state: TwinState) -> np.ndarray:
        return self.crahs.fan_power_w(state.crah_fan_speed, state.crah_running)

    def fan_rise_k(self, state: TwinState) -> np.ndarray:
        """How much each CRAH's fan warms the air it moves (the fan sits after the coil), K."""
        mdot_cp = self.air.rho_cp * state.crah_flow_m3s
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mdot_cp > 0, self.crah_fan_power_w(state) / mdot_cp, 0.0)

    def supply_air_c(self, state: TwinState) -> np.ndarray:
        """Air leaving each CRAH: coil outlet plus the fan's heat, °C."""
        return state.t_coil_c + self.fan_rise_k(state)

    def coil_target_c(self, state: TwinState) -> np.ndarray:
        """Coil-leaving temperature that puts the supply air (after the fan's heat) at its setpoint, °C."""
        return state.crah_setpoint_c - self.fan_rise_k(state)

    def stored_heat_j(self, state: TwinState) -> float:
        """Heat stored in the air and the racks, relative to 0 °C, J."""
        cell = self.air.rho_cp * self.net.cell_volume_m3
        return float(cell * state.t_air_c.sum() + self.racks.heat_capacity_j_per_k @ state.t_rack_c)

    def energy_balance_error(self, state: TwinState) -> float:
        """(heat in − heat removed − change of stored heat) ÷ heat in; 0 before any heat went in."""
        if state.heat_in_j <= 0:
            return 0.0
        stored = self.stored_heat_j(state) - state.stored_initial_j
        return (state.heat_in_j - state.heat_removed_j - stored) / state.heat_in_j

    def intake_c(self, t_air_c: np.ndarray) -> np.ndarray:
        """Mixed intake temperature of every mover (racks, CRAHs, PDUs), °C."""
        return self.net.intake.T @ t_air_c

    # --- flow field ---------------------------------------------------------------------------

    @property
    def current_operator(self) -> TransportOperator | None:
        """The transport operator of the latest flow field (None before the first step)."""
        return self._operator

    def operator(self, state: TwinState) -> TransportOperator:
        """The transport operator for the state's flow field, which is solved again first when the movers'
        flows changed (or, with the momentum model and buoyancy, when the field is older than its
        refresh interval)."""
        q = self.mover_flow_m3s(state)
        if (state.flow_movers_m3s is None or not np.array_equal(state.flow_movers_m3s, q)
                or self._refresh_due(state)):
            self.solve_flow(state, q)
        op = self._operator
        if op is None or op.dt_s != self.dt_s or self._operator_field is not state.face_flow_m3s:
            face, movers, phi = self._solved_flow(state)
            # Embedded control's sampled loops make the coil outlets jump each step (12-bit sensors): the
            # operator's first guess foresees the CRAHs' injections (TransportOperator.step).
            respond = np.arange(self._crah.start, self._crah.stop) if self.control_mode == "embedded" else None
            op = TransportOperator(self.net, face, movers, phi, self.air, self.dt_s,
                                   face_diffusivity_m2s=state.face_diffusivity_m2s, respond_movers=respond)
            self._operator, self._operator_field = op, face
        return op

    def _load_momentum(self, state: TwinState) -> None:
        """The momentum solver's field from the state's (at rest when the state has none)."""
        m = self.momentum
        assert m is not None
        if state.momentum is None:
            m.reset()
            return
        m.u = [state.momentum[k].copy() for k in ("ux", "uy", "uz")]
        m.p = state.momentum["p"].copy()
        # k-ε's own fields (absent for Chen–Xu, or from a state saved before k-ε existed: then k and ε start
        # again from the velocity scale).
        m.k = state.momentum["k"].copy() if "k" in state.momentum else None
        m.eps = state.momentum["eps"].copy() if "eps" in state.momentum else None

    def _store_momentum(self, state: TwinState) -> np.ndarray:
        """The momentum solver's field into the state (and its eddy diffusivity); returns its face flows."""
        m = self.momentum
        assert m is not None
        state.momentum = {"ux": m.u[0].copy(), "uy": m.u[1].copy(), "uz": m.u[2].copy(), "p": m.p.copy()}
        if m.k is not None and m.eps is not None:
            state.momentum.update(k=m.k.copy(), eps=m.eps.copy())
        # The eddy diffusivity of the field just solved: it changes whenever the flow does, and only then.
        state.face_diffusivity_m2s = m.face_diffusivity_m2s() if self.heat_mixing == "eddy" else None
        return m.face_flows_m3s()

    @staticmethod
    def _solved_flow(state: TwinState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The state's flow field (face flows, the mover flows it is for, potential), which solve_flow set."""
        face, movers, phi = state.face_flow_m3s, state.flow_movers_m3s, state.flow_phi
        if face is None or movers is None or phi is None:
            raise RuntimeError("the state has no flow field yet (solve_flow first)")
        return face, movers, phi

    def face_flows_m3s(self, state: TwinState) -> np.ndarray:
        """The state's flow through every open face, m³/s (still air before the first solve)."""
        return np.zeros(self.net.face_a.size) if state.face_flow_m3s is None else state.face_flow_m3s

    def _refresh_due(self, state: TwinState) -> bool:
        # Buoyancy moves the air as temperatures change, even with every fan steady.
        return (self.momentum is not None and self.buoyancy
                and state.time_s - state.flow_solved_s >= self.flow_refresh_s - 1e-9)

    def solve_flow(self, state: TwinState, mover_flow_m3s: np.ndarray, *, converge: bool = False,
                   iterations: int | None = None, tol: float | None = None,
                   final_rtol: float | None = None) -> SolveInfo | None:
        """Solve the state's flow field for these mover flows, starting from its last field.

        Potential flow: one warm-started multigrid-CG solve. Momentum: the potential solve too (its
        potential orders the transport sweeps, and its flow is the momentum field's divergent part), then
        the momentum iterations from the state's last field: to convergence when ``converge`` or when there
        is no field yet (FlowNotConverged if it is not reached), else ``iterations`` of them (default
        ``refresh_iterations``). ``final_rtol``: the last projection's tolerance of those iterations (None: the
        solver's 1e-3; looser only for iterates, see :meth:`MomentumSolver.resolve`).

        Returns:
            The momentum iterations' residual history and convergence; None for potential flow.
        """
        t0 = time.perf_counter()
        info: SolveInfo | None = None
        q = np.array(mover_flow_m3s, dtype=float)
        self.airflow.phi = np.zeros(self.net.n) if state.flow_phi is None else state.flow_phi.copy()
        self.airflow.phi_movers_m3s = None if state.flow_phi is None else state.flow_movers_m3s
        face = self.airflow.solve(q)
        phi = self.airflow.phi.copy()
        if self.momentum is not None:
            m = self.momentum
            fresh = state.momentum is None
            self._load_momentum(state)
            t_air = state.t_air_c if self.buoyancy else None
            if converge:
                info = m.solve(q, t_air)
            else:
                # A time run's first field is as converged as the solver's iteration limit gets it; one that
                # stops short is still a divergence-free field close to it, and the refreshes carry on.
                limit = m.settings.max_iterations if fresh else iterations
                info = m.resolve(q, t_air, iterations=limit or self.flow_refresh_iterations, tol=tol,
                                 final_rtol=final_rtol)
            face = self._store_momentum(state)
        state.face_flow_m3s, state.flow_phi, state.flow_movers_m3s = face, phi, q
        state.flow_solved_s = state.time_s
        self.flow_solves += 1
        took_s = time.perf_counter() - t0
        self.flow_s += took_s
        iterations_done = f", {info.iterations} iterations" if info is not None else ""
        log.info("flow solved at t = %.0f s (%s%s) in %.0f ms", state.time_s, self.airflow_model, iterations_done,
                 1e3 * took_s)
        return info

    def _update_server_airflow(self, state: TwinState, *, now: bool = False) -> None:
        # Server fan controllers (BMCs) adjust every few seconds, not every time step; evaluating the
        # law on that cadence also bounds how often the flow field is re-solved.
        if state.time_s < state.fan_update_due_s and not now:
            return
        state.fan_update_due_s = state.time_s + self.fan_update_interval_s
        demand = server_airflow_m3s(self.racks, state.t_intake_c, state.rack_it_w * state.rack_powered)
        applied = state.rack_flow_m3s
        change = np.abs(demand - applied)
        if not change.size or not change.any():
            return
        # Relative to the larger of the two, so that a rack starting from 0 kW gets its airflow.
        drifted = change > self.reflow_tolerance * np.maximum(demand, applied)
        # Below the tolerance the applied flow lags the law; it catches up once the last re-solve is
        # old enough, so a long run settles on the law's own fixed point (what the steady solve finds).
        settle = state.time_s - state.last_reflow_s >= self.settle_interval_s
        if drifted.any() or settle or now:
            state.rack_flow_m3s = demand
            state.last_reflow_s = state.time_s

    def _update_crah_airflow(self, state: TwinState) -> None:
        # Fans under control move a little every step; re-solving the flow for each move would cost
        # more than the physics is worth. The field follows once any unit drifts past the tolerance
        # (of its rated flow), and at once when a unit stops or starts.
        actual = self.crahs.flow_m3s(state.crah_fan_speed, state.crah_running)
        drift = np.abs(actual - state.crah_flow_m3s) > self.reflow_tolerance * self.crahs.rated_flow_m3s
        started_or_stopped = (actual > 0) != (state.crah_flow_m3s > 0)
        if np.any(drift | started_or_stopped):
            state.crah_flow_m3s = actual

    # --- time step ----------------------------------------------------------------------------

    def control(self, state: TwinState) -> None:
        """Set the actuators for the coming step.

        Embedded control: the CRAHs' own controllers (sampled, with sensors and ramps; see
        :mod:`twin.sim.controls`). Ideal control: each unit runs unless tripped or unpowered, at its
        hall-file fan speed, with its valve where the supply setpoint needs it, judged on the return
        air of the last step (a one-step lag).
        """
        if state.controls is not None:
            state.controls.update(state, self.supply_air_c(state))
            return
        state.crah_running = ~state.crah_tripped & state.crah_powered
        state.crah_valve = valve_for_setpoint(state.t_return_c, self.coil_target_c(state), state.t_chw_c,
                                              self.crahs.coil_effectiveness)

    def step(self, state: TwinState) -> TwinState:
        """Advance ``state`` by one time step (in place) and return it."""
        if self.power is not None:
            self.power.before_step(state)
        self._update_server_airflow(state)
        self.control(state)
        self._update_crah_airflow(state)
        op = self.operator(state)
        dt, rc, nr, cr = self.dt_s, self.air.rho_cp, self.n_racks, self._crah
        q = op.mover_flow_m3s
        mdot_cp_c = rc * q[cr]
        # The coil acts on the return air of the last step (explicit coupling, like a real loop's lag).
        state.t_coil_c = coil_outlet_c(state.t_return_c, state.crah_valve, state.t_chw_c,
                                       self.crahs.coil_effectiveness, self.crahs.rated_cooling_w, mdot_cp_c)
        outlet_c = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(self.n_pdus)])
        # The fans' power once a step: the controllers set the speeds above, and nothing moves them before
        # the power chain reads it below.
        crah_fan_w = self.crah_fan_power_w(state)
        mover_heat_w = self.mover_heat_w(state, crah_fan_w)
        # Linear extrapolation in time is a good first guess: it halves the sweeps in transients (the
        # operator extrapolates from the last two fields itself, without a temporary field).
        t0 = time.perf_counter()
        # The operator's responses cost about a hundred sweeps to compute and save up to one a step, so they
        # wait until the flow field has lasted RESPOND_AFTER_S (a transient re-solves it every 10-20 s). The
        # state's flow age decides, so a fork or a restored checkpoint takes the very same guesses.
        history = state.inject_history_w if state.time_s - state.flow_solved_s >= RESPOND_AFTER_S else None
        t_new, t_in = op.step(state.t_air_c, outlet_c, mover_heat_w, t_prev_c=state.t_air_prev_c,
                              inject_history_w=history)
        self.transport_s += time.perf_counter() - t0
        inject_w = np.array(op.last_inject_w, ndmin=2)  # a copy: the state owns its history
        history = state.inject_history_w
        state.inject_history_w = inject_w if history is None else np.vstack(
            [inject_w, history[:TransportOperator.RESPONSE_STEPS]])
        self.transport_steps += 1
        self.transport_sweeps += op.last_sweeps

        # Racks: exactly the heat their exhaust gave the air leaves their store.
        mdot_cp = rc * q[:nr]
        to_air_w = mdot_cp * (state.t_rack_c - t_in[:nr])
        heat_w = state.rack_heat_w
        state.t_rack_c = rack_temperature_c(state.t_rack_c, heat_w, to_air_w, self.racks.heat_capacity_j_per_k, dt)
        # CRAHs: the coil took out what the air lost between return and coil outlet.
        removed_w = mdot_cp_c * (t_in[cr] - state.t_coil_c)

        state.t_air_prev_c = state.t_air_c
        state.t_air_c = t_new
        state.t_intake_c = t_in[:nr]
        state.t_return_c = t_in[cr]
        state.crah_heat_removed_w = removed_w
        state.heat_in_j += dt * (float(heat_w.sum()) + float(mover_heat_w.sum()))
        state.heat_removed_j += dt * float(removed_w.sum())
        state.time_s += dt
        state.steps += 1
        if self.power is not None:
            self.power.after_step(state, dt, crah_fan_w)
        self._track_metrics(state)
        return state

    def _track_metrics(self, state: TwinState) -> None:
        m = state.metrics
        hottest_c = float(state.t_intake_c.max()) if state.t_intake_c.size else -math.inf
        for key, limit_c in (("t_inlet_27c_s", 27.0), ("t_inlet_32c_s", 32.0)):
            if m[key] is None and hottest_c > limit_c:
                m[key] = state.time_s
        if state.ups_soc is not None and state.ups_soc.size:
            low = float(state.ups_soc.min())
            m["min_battery_soc"] = low if m["min_battery_soc"] is None else min(m["min_battery_soc"], low)
        # Peaks over the run, every step (a summary at the end shows the end, not the worst moment).
        for name, values in self.peak_values(state).items():
            if values is None or not values.size:
                continue
            i = int(np.argmax(values))
            v = float(values[i])
            key = f"peak_{name}"
            if math.isfinite(v) and (m.get(key) is None or v > m[key]):
                m[key], m[f"{key}_index"], m[f"{key}_time_s"] = v, i, state.time_s

    @staticmethod
    def peak_values(state: TwinState) -> dict[str, np.ndarray | None]:
        """What the run's peaks are taken over, now: rack inlets (°C), running CRAHs' returns (°C; a stopped
        unit's return air is no measure of anything: −inf) and UPS loads (fraction; None without [power])."""
        power = state.power.last if state.power is not None else None
        return {"inlet": state.t_intake_c, "return": np.where(state.crah_running, state.t_return_c, -np.inf),
                "ups_load": power.ups_load_fraction if power is not None else None}

    # --- steady state -------------------------------------------------------------------------

    def steady(self, state: TwinState | None = None, *, max_outer: int | None = None,
               intake_tol_k: float = _STEADY_INTAKE_K, flow_tol_factor: float | None = None) -> TwinState:
        """The steady state for the hall's loads and settings, solved directly (not by marching).

        Outer fixed-point iterations settle what the linear solve cannot see: each CRAH's regime
        (setpoint, capacity-limited, not cooling) and the servers' airflow law. With the momentum model
        they also carry the flow: it is solved once to convergence for still, uniform air, then each outer
        iteration takes a few more momentum iterations with the latest (mixed) temperatures, as a
        segregated CFD solver's outer loop does. With buoyancy it is done when the intakes moved less than
        ``intake_tol_k`` (0.05 K) in two outer iterations in a row and the flow's residuals are below
        ``flow_tol_factor`` (by default _STEADY_LOOP_FLOW_TOL_FACTOR: 3) times its tolerance (1 for a
        reference answer, as validation/steady_speed.py's converged one); without, each flow solve is converged
        to the tolerance and the fan law and coil regimes decide.

        With buoyancy the outer iteration is a fixed point of the whole state x = (u, p, T): g(x) takes the
        momentum iterations from (u, p) with the buoyancy of T, then solves T on the new flow (inexactly: a
        few Gauss–Seidel sweeps from the last T, _STEADY_INNER_SWEEPS; the sweeps' fixed point is the exact T).
        Anderson mixing
        acts on all of x. Mixing T alone (what was done before) left the map depending on a flow state the
        mixer does not see, so its secant model was inconsistent: on the aisle-pair validation hall the
        iteration cycled and stopped 0.37 K from the converged intakes; mixing the whole state stops within
        0.05 K of them in 18 outer iterations instead of 22. On the open-row hall it cuts the outer iterations
        from 37 to 22, but there neither stops within 0.05 K (0.24 K with T alone, 0.47 K with the whole
        state): the flow still drifts by 0.002–0.005 K per outer iteration when the rule stops, and the
        converged answer takes 287 (validation/steady_speed.py, which saves that answer per hall). These
        figures were measured before Chen–Xu's L became the wall-surface distance and under the stopping rule
        before _STEADY_SETTLED_RUN; steady_speed.py re-solves them. The 0.05 K per iteration rule is no bound on
        the error. Velocities enter x in units of the first
        solve's velocity scale U_ref, pressure in U_ref², temperature in K: a kelvin and U_ref weigh about
        alike in the mixer's least squares. k and ε (k-ε) are not mixed: they follow the flow, and a mixed k
        could turn negative.

        Grid sequencing (momentum model, ``grid_sequencing``, a state without a flow field yet): the same
        solve runs first on the hall's grid with cells twice as large (8x fewer cells; its flow to 10x the
        tolerance), and its answer starts this one: the face velocities prolonged so that each fine cell gets
        its coarse parent's divergence and then projected onto this grid's open faces and movers, pressure and
        temperatures interpolated, the servers' airflow and the coils' regimes taken over (twin.thermal.gridseq).
        So the start-up solve from rest, ~400 momentum iterations here against tens on the coarse grid, never
        runs on this grid. Where no such grid fits (sizes or plenum depth not whole coarse cells, under 4 coarse
        cells along an axis, objects that the checks refuse there) or the coarse solve fails, the solve starts
        from rest as without it; ``extra["steady"]["grid_sequencing"]`` says which and why.
        """
        # Single-threaded BLAS throughout, not only inside the Krylov and AMG solves: the norms, dot products and
        # least squares (Anderson mixing) between them are BLAS calls too, and on a shared machine each one
        # with OpenBLAS's two threads waits for a core (44 ms against 0.2 ms for a 36k-cell dot product at a
        # load of 15 on 2 cores; see twin.thermal.threads).
        with limited_blas(), self._lagged_flow():
            return self._steady(state, max_outer, intake_tol_k, settled_run=_STEADY_SETTLED_RUN,
                                flow_tol_factor=(_STEADY_LOOP_FLOW_TOL_FACTOR if flow_tol_factor is None
                                                 else flow_tol_factor))

    def _steady(self, state: TwinState | None, max_outer: int | None, intake_tol_k: float, *,
                polish: bool = True, settled_run: int = 1, flow_tol_factor: float = 1.0) -> TwinState:
        """:meth:`steady`'s loop; ``polish`` False (the coarse grid of a sequenced solve, whose answer is only a
        start) skips the final temperature solve to 1e-8 and the transport operator of the state handed out."""
        if max_outer is None:
            max_outer = 60 if self.momentum is None or not self.buoyancy else 300
        state = (state or self.initial_state()).copy()
        if self.power is not None:
            self.power.place_losses(state, self.crah_fan_power_w(state))
        crahs = self.crahs
        rc, nr, cr = self.air.rho_cp, self.n_racks, self._crah
        heat_w = float(state.rack_heat_w.sum() + self.mover_heat_w(state).sum())
        state.crah_flow_m3s = crahs.flow_m3s(state.crah_fan_speed, state.crah_running)
        flow = state.crah_flow_m3s
        # What the coils could remove at most, with return air at the hottest rack exhaust possible.
        capacity_w = float(np.where(flow > 0, crahs.rated_cooling_w, 0.0).sum())
        if heat_w > capacity_w:
            raise NoSteadyState(f"no steady state: {heat_w / 1e3:,.1f} kW of heat but only {capacity_w / 1e3:,.1f} kW "
                                f"of running cooling capacity; the hall keeps heating (run it in time instead)")

        # Grid sequencing: the flow, the temperatures, the fan law and the coils' regimes from the coarse grid's
        # steady state, so that no start-up solve from rest runs on this grid.
        sequencing = (self._sequenced_start(state, max_outer, intake_tol_k)
                      if self.momentum is not None and self.grid_sequencing and state.momentum is None else None)
        warm_start = sequencing is not None and "skipped" not in sequencing
        coil_target_c = self.coil_target_c(state)

        def regime_of(t_return_c: np.ndarray, mdot_cp_c: np.ndarray) -> np.ndarray:
            return coil_regime(t_return_c, coil_target_c, state.t_chw_c, crahs.coil_effectiveness,
                               crahs.rated_cooling_w, mdot_cp_c)

        t_guess = state.t_air_c
        # Every running coil with its air at its setpoint: the start when the return air gives no coil
        # anything to cool, and the safeguard's restart below.
        all_at_setpoint = np.where(flow > 0, COIL_AT_SETPOINT, COIL_NOT_COOLING)
        regime = regime_of(state.t_return_c, rc * flow)
        if heat_w > 0 and not np.any(regime[flow > 0] != COIL_NOT_COOLING):
            # A start whose return air is below every setpoint (e.g. supply setpoints raised above the
            # initial air temperature) would give the first solve no heat sink at all: a nearly singular
            # system on which GMRES stalls through all its restarts (4,067 iterations, 2.2 s on tiny at
            # 24 °C, against 18 once a coil cools). With heat to remove, some coil must cool at a steady
            # state, so start the running ones at their setpoints; the outer iterations correct the rest.
            regime = all_at_setpoint
        mixer = AndersonMixer()
        outer = 0
        krylov_total = 0  # Krylov iterations (with buoyancy: in-loop sweeps) of all outer iterations
        t_in_prev = None
        calm = 0  # outer iterations in a row in which no intake moved by intake_tol_k or more
        # Damped by half. Undamped (relax 1.0: the momentum iterations inside are a relaxation already) was
        # measured and not kept: 13 instead of 18 outer iterations on the aisle-pair validation hall and a
        # faster drift on open-row, but on the tiny test hall the mixing then kept kicking the flow (residuals
        # stuck at 5e-4 through 300 outer iterations, no steady state).
        buoyancy_mixer = AndersonMixer(memory=4, relax=0.5)
        # Safeguard: Anderson steps and wholesale regime switches can run away when many coils sit near
        # their rating (the hall's heat near its cooling capacity). Once the fan-law residual grows twice
        # running or an intake turns unphysical, the iteration goes on damped: plain relaxed steps on the
        # fan law within its physical bounds and one coil's regime change per outer iteration, started over.
        guarded = False
        grew, res_prev = 0, None
        start_flow_m3s = state.rack_flow_m3s.copy()
        q_lo_m3s = server_airflow_m3s(self.racks, np.full(nr, -np.inf), state.rack_it_w * state.rack_powered)
        q_hi_m3s = server_airflow_m3s(self.racks, np.full(nr, np.inf), state.rack_it_w * state.rack_powered)
        flow_converged = True
        flow_info: SolveInfo | None = None  # the momentum solve's, of the latest outer iteration
        mix_state = self.momentum is not None and self.buoyancy
        # With buoyancy the intakes' settling is the stop and the flow's residuals are held to a multiple of the
        # tolerance (_STEADY_LOOP_FLOW_TOL_FACTOR); without, each flow solve is converged to the tolerance anyway.
        flow_tol_factor = flow_tol_factor if mix_state else 1.0
        settled_text = (f"{intake_tol_k:g} K in {settled_run} outer iterations in a row" if settled_run > 1
                        else f"{intake_tol_k:g} K")
        unsettled: list[str] = []  # what still moved in the last outer iteration (the message if they run out)
        u_scale_m_s = 0.0  # the velocity unit of the mixed state: the first flow solve's U_ref
        for outer in range(1, max_outer + 1):  # noqa: B007 - the count is reported after the loop
            q = self.mover_flow_m3s(state)
            # The state this outer iteration starts from (x of the fixed point), before the flow solve moves it.
            x_in = (_pack_state(state.momentum, state.t_air_c, u_scale_m_s)
                    if mix_state and state.momentum is not None and u_scale_m_s > 0 else None)
            if self.momentum is not None and (state.flow_movers_m3s is None or self.buoyancy
                                              or not np.array_equal(state.flow_movers_m3s, q)):
                try:
                    if state.momentum is None or not self.buoyancy:
                        # From rest, or (without buoyancy) from a field that only new flows moved: to tolerance.
                        flow_info = self.solve_flow(state, q, converge=True)
                    else:
                        # Buoyancy or the fan law moved: carry on from the last field, a fixed number of
                        # iterations even below tolerance (the far field still creeps there; the intakes
                        # must show that more iterations no longer move them).
                        flow_info = self.solve_flow(state, q, iterations=_STEADY_FLOW_ITERATIONS, tol=1e-30,
                                                    final_rtol=_STEADY_LOOP_FINAL_RTOL)
                except FlowNotConverged as exc:
                    raise _flow_failure(exc) from None
                history = flow_info.history if flow_info is not None else np.zeros((0, 2))
                if flow_info is not None and u_scale_m_s == 0.0:
                    u_scale_m_s = flow_info.u_ref_m_s
                flow_converged = bool(len(history) == 0
                                      or np.all(history[-1] < flow_tol_factor * self.momentum.settings.tol))
            else:
                self.operator(state)  # potential flow: solved here when the fan law changed the flows
            mdot_cp = rc * q
            with np.errstate(divide="ignore", invalid="ignore"):
                rack_rise_k = np.where(mdot_cp[:nr] > 0, state.rack_heat_w / mdot_cp[:nr], 0.0)
            coil_alpha, coil_beta = coil_affine(regime, coil_target_c, state.t_chw_c,
                                                crahs.coil_effectiveness, crahs.rated_cooling_w, mdot_cp[cr])
            no_air = np.zeros(self.n_pdus)  # PDUs blow no air: their outlet rows are inert
            alpha = np.concatenate([np.ones(nr), coil_alpha, no_air])
            beta = np.concatenate([rack_rise_k, coil_beta, no_air])
            try:
                face, _, phi = self._solved_flow(state)
                # The first solve of a start from rest to 1e-8; from the coarse grid's answer as loosely as the rest.
                inner_tol_k = (1e-8 if self.momentum is None or (t_in_prev is None and not warm_start)
                               else _STEADY_INNER_TOL_K)
                # With buoyancy (the intakes' move is the stopping test): fixed sweeps, not a solve to tolerance.
                sweeps = (_STEADY_INNER_SWEEPS if mix_state and inner_tol_k == _STEADY_INNER_TOL_K else None)
                res = solve_steady_field(self.net, face, q, phi, self.air, alpha, beta, sweeps=sweeps,
                                         mover_heat_w=self.mover_heat_w(state), t_guess_c=t_guess,
                                         face_diffusivity_m2s=state.face_diffusivity_m2s, tol_k=inner_tol_k,
                                         # The momentum field's recirculation takes 50-200 Krylov
                                         # iterations: BiCGSTAB's fixed cost per iteration beats GMRES's
                                         # growing basis there (twin.thermal.steady); the state handed out
                                         # is solved again below to 1e-8 (BiCGSTAB too, GMRES behind it).
                                         krylov="gmres" if self.momentum is None else "bicgstab")
            except SteadyNotConverged as exc:
                raise NoSteadyState(str(exc)) from None
            t_guess = res.t_air_c
            krylov_total += res.iterations
            t_in = self.intake_c(res.t_air_c)
            ret = t_in[cr]
            state.t_intake_c = t_in[:nr]
            applied = state.rack_flow_m3s
            demand = server_airflow_m3s(self.racks, state.t_intake_c, state.rack_it_w * state.rack_powered)
            residual = demand - applied
            res_max = float(np.max(np.abs(residual), initial=0.0))
            bad = _unphysical_intakes(t_in, float(np.min(np.minimum(coil_target_c, state.t_chw_c), initial=np.inf)))
            restart = False
            if bad:
                if guarded:
                    raise NoSteadyState(f"no steady state: {bad} in outer iteration {outer}, even with damped "
                                        f"steps; the servers' fan law and the coils do not settle (run it in time "
                                        f"instead)")
                guarded = restart = True  # start over, damped (below)
            elif res_prev is not None and res_max > res_prev and outer > 2:
                grew += 1
                if grew >= 2 and not guarded:
                    guarded = restart = True
            else:
                grew = 0
            res_prev = res_max
            # Potential flow solves exactly: the fan law settles to 1e-6. The momentum field is iterated: a
            # law settled to 1e-4 of each rack's airflow moves no intake by more than hundredths of a kelvin.
            flows_settled = np.allclose(demand, applied, rtol=1e-6 if self.momentum is None else 1e-4, atol=1e-12)
            new_regime = regime_of(ret, mdot_cp[cr])
            # With buoyancy the flow follows the temperatures: settled when the intakes stop moving.
            intake_move_k = (float(np.max(np.abs(t_in - t_in_prev), initial=0.0)) if t_in_prev is not None
                             else float("inf"))
            calm = calm + 1 if intake_move_k < intake_tol_k else 0
            field_settled = self.momentum is None or not self.buoyancy or calm >= settled_run
            unsettled = [what for what, done in (
                ("the server fan law", flows_settled),
                ("the coil regimes", np.array_equal(new_regime, regime)),
                (f"the intakes (by {intake_move_k:.3g} K in the last outer iteration, settled below "
                 f"{settled_text})", field_settled)) if not done]
            t_in_prev = t_in
            if not bad and flows_settled and field_settled and flow_converged and np.array_equal(new_regime, regime):
                break
            if mix_state and restart:
                # A restart starts the mixing over too: the runaway iterate and the history that led to it
                # must not steer the damped iterations (the fan law and the regimes start over below).
                buoyancy_mixer = AndersonMixer(memory=4, relax=0.5)
                calm = 0  # the calm iterations before the runaway do not count towards the settled run
                if x_in is not None and state.momentum is not None:
                    state.momentum, state.t_air_c = _unpack_state(x_in, state.momentum, u_scale_m_s)
            elif mix_state:
                # The buoyant flow and the temperatures it carries form a loop with a gain near −1 (warm
                # air rises, mixes, the plume weakens): plain alternation oscillates. Anderson mixing of
                # the whole state (after the break: the state handed out is the last solved one) damps it.
                if x_in is None or state.momentum is None:
                    state.t_air_c = res.t_air_c.copy()
                else:
                    x_out = _pack_state(state.momentum, res.t_air_c, u_scale_m_s)
                    state.momentum, state.t_air_c = _unpack_state(buoyancy_mixer.next(x_in, x_out - x_in),
                                                                  state.momentum, u_scale_m_s)
            if not guarded:
                # The servers' fan law has its own fixed point (more flow changes the inlets, which changes
                # the flow); no dead band here, and Anderson mixing for the loops whose gain is near 1.
                state.rack_flow_m3s = np.maximum(mixer.next(applied, residual), 0.0)
                regime = new_regime
            elif restart:
                # Back to the start's flows and every coil with air at its setpoint (with most at their
                # rating the first steps overshoot): damped steps take it from there.
                state.rack_flow_m3s = start_flow_m3s.copy()
                regime = all_at_setpoint
                t_guess = state.t_air_c
            else:
                state.rack_flow_m3s = np.clip(applied + _GUARDED_RELAX * residual, q_lo_m3s, q_hi_m3s)
                regime = _one_regime_change(regime, new_regime, ret, coil_target_c, state.t_chw_c, crahs,
                                            mdot_cp[cr])
        else:
            if not flow_converged:
                threshold = "tolerance" if flow_tol_factor == 1.0 else f"{flow_tol_factor:g} x the tolerance"
                raise _flow_failure(FlowNotConverged(
                    f"still above {threshold} after {max_outer} outer iterations",
                    flow_info.history if flow_info is not None else np.zeros((0, 2))))
            raise NoSteadyState(f"no steady state found: {' and '.join(unsettled) or 'the iteration'} still "
                                f"changed after {max_outer} outer iterations")
        if self.momentum is not None and polish:
            if state.momentum is not None and state.face_flow_m3s is not None:
                # The outer iterations' fields ended with a loose projection: the one handed out gets the
                # solver's own (1e-3) and closure, redone from the last iterate (the solver still holds it:
                # the state's field is the last solve's, not yet mixed).
                self.momentum.finish()
                state.face_flow_m3s = self._store_momentum(state)
            # The outer iterations solved loosely; the state handed out balances its energy to round-off.
            # BiCGSTAB here too (GMRES takes over if it stops short): on open-row-fine 121 iterations against
            # GMRES's 200 to the same 1e-8 K, intakes the same to 1e-4 K, 0.87x the steady solve's CPU time
            # (shared machine, alternated runs; aisle-pair 73 against 120 iterations, 0.94x). Preconditioned with
            # DILU's diagonals: 56 instead of 71 iterations on open-row-fine (twin.thermal.steady._dilu_diagonals;
            # only here: nothing iterates on this solve's answer).
            try:
                face, _, phi = self._solved_flow(state)
                res = solve_steady_field(self.net, face, q, phi, self.air, alpha, beta,
                                         mover_heat_w=self.mover_heat_w(state), t_guess_c=res.t_air_c,
                                         face_diffusivity_m2s=state.face_diffusivity_m2s, krylov="bicgstab",
                                         preconditioner="dilu")
            except SteadyNotConverged as exc:
                raise NoSteadyState(str(exc)) from None
            t_in = self.intake_c(res.t_air_c)
            ret = t_in[cr]
            state.t_intake_c = t_in[:nr]
            self.operator(state)
        state.t_air_c = res.t_air_c
        state.t_air_prev_c = None
        state.inject_history_w = None
        state.t_rack_c = np.where(mdot_cp[:nr] > 0, res.outlet_c[:nr], state.t_intake_c)
        state.t_return_c = ret
        state.t_coil_c = res.outlet_c[cr]
        state.crah_valve = valve_for_setpoint(ret, coil_target_c, state.t_chw_c, crahs.coil_effectiveness)
        state.crah_heat_removed_w = mdot_cp[cr] * (ret - state.t_coil_c)
        # gmres_iterations: the last solve's Krylov iterations (with the momentum model BiCGSTAB's, then GMRES's if
        # it stopped short); the key keeps its name for the readers of earlier states.
        state.extra["steady"] = {"outer_iterations": outer, "gmres_iterations": res.iterations,
                                 "krylov_iterations_total": krylov_total, "residual_k": res.residual_k}
        if sequencing is not None:
            state.extra["steady"]["grid_sequencing"] = sequencing
        return state

    def _coarse_twin(self) -> HallTwin | str:
        """The hall's twin on cells COARSE_RATIO times larger (momentum model, no sequencing of its own), or
        why there is none. Built once."""
        if self._coarse is None:
            try:
                coarse = HallTwin(coarse_hall(self.hall, COARSE_RATIO), dt_s=self.dt_s, airflow="momentum",
                                  grid_sequencing=False)
                assert coarse.momentum is not None and self.momentum is not None
                if coarse.momentum.movers.count != self.momentum.movers.count:
                    raise HallError("the coarse grid has other air movers")
                self._coarse = coarse
            except (HallError, AirPathError, ValueError) as exc:
                self._coarse = f"no coarser grid: {exc}"
        return self._coarse

    def _lagged_flow(self) -> AbstractContextManager[None]:
        """The steady solve's momentum marches with lagged coefficients (MomentumSolver.lagging, every
        _STEADY_REASSEMBLE_EVERY iterations); nothing for the potential flow."""
        return nullcontext() if self.momentum is None else self.momentum.lagging(_STEADY_REASSEMBLE_EVERY)

    def _sequenced_start(self, state: TwinState, max_outer: int, intake_tol_k: float) -> dict:
        """Solve the steady state on the coarse grid from ``state`` and carry it over into ``state`` (in place):
        the momentum field (prolonged and projected, twin.thermal.gridseq), the air temperatures, the servers'
        airflow and the racks' and CRAHs' intake temperatures (which set the coils' first regimes). Returns
        what it did for the state's ``extra["steady"]``; where no coarse grid fits or its solve fails, says
        why and leaves ``state`` as it was (the solve then starts from rest, as without sequencing)."""
        coarse = self._coarse_twin()
        if isinstance(coarse, str):
            log.info("steady solve without grid sequencing: %s", coarse)
            return {"skipped": coarse}
        assert coarse.momentum is not None and self.momentum is not None
        # The hall's solver settings as they are now, not as they were when the coarse twin was built: a caller
        # may change them between solves (tolerance, iteration limit), and the coarse solve must follow.
        coarse.momentum.settings = replace(self.momentum.settings,
                                           tol=_COARSE_FLOW_TOL_FACTOR * self.momentum.settings.tol)
        t0 = time.process_time()
        start = state.copy()
        start.t_air_c = restrict_temperature(state.t_air_c, self.momentum, coarse.momentum, COARSE_RATIO)
        start.t_air_prev_c = start.inject_history_w = None
        start.face_flow_m3s = start.flow_phi = start.flow_movers_m3s = start.face_diffusivity_m2s = None
        try:
            with coarse._lagged_flow():
                solved = coarse._steady(start, max_outer, intake_tol_k, polish=False)
        except NoSteadyState as exc:
            log.info("steady solve without grid sequencing: the coarse grid's failed (%s)", exc)
            return {"skipped": f"the coarse grid's steady solve failed: {exc}"}
        assert solved.momentum is not None
        state.rack_flow_m3s = solved.rack_flow_m3s.copy()
        state.momentum = prolong_momentum(solved.momentum, coarse.momentum, self.momentum, COARSE_RATIO,
                                          self.mover_flow_m3s(state))
        state.t_air_c = prolong_temperature(solved.t_air_c, coarse.momentum, self.momentum, COARSE_RATIO)
        state.t_intake_c = solved.t_intake_c.copy()
        state.t_return_c = solved.t_return_c.copy()
        return {"coarse_cell_m": coarse.voxels.grid.cell_m,
                "coarse_outer_iterations": solved.extra["steady"]["outer_iterations"],
                "coarse_cpu_s": round(time.process_time() - t0, 3)}


#: Fields of the momentum state the steady iteration's Anderson mixing acts on, with the power of the
#: velocity scale that makes each dimensionless (velocities: U_ref, kinematic pressure: U_ref²).
_MIXED_FIELDS = (("ux", 1), ("uy", 1), ("uz", 1), ("p", 2))


def _pack_state(momentum: dict[str, np.ndarray] | None, t_air_c: np.ndarray, u_scale_m_s: float) -> np.ndarray:
    """The steady iteration's state x = (u/U, p/U², T) as one vector (see :meth:`HallTwin.steady`)."""
    assert momentum is not None
    parts = [momentum[name].ravel() / u_scale_m_s ** power for name, power in _MIXED_FIELDS]
    parts.append(np.asarray(t_air_c, dtype=float).ravel())
    return np.concatenate(parts)


def _unpack_state(x: np.ndarray, like: dict[str, np.ndarray], u_scale_m_s: float
                  ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The momentum fields (shaped as ``like``'s, its other fields kept) and the temperatures of a packed x."""
    out = dict(like)
    start = 0
    for name, power in _MIXED_FIELDS:
        n = like[name].size
        out[name] = (x[start:start + n] * u_scale_m_s ** power).reshape(like[name].shape)
        start += n
    return out, x[start:].copy()


def _unphysical_intakes(t_in_c: np.ndarray, coldest_c: float) -> str:
    """Why the intakes of a steady iterate cannot be a steady state ("" when they can): not finite, hotter
    than any hall runs, or colder than the coldest coil could make the air."""
    if not np.all(np.isfinite(t_in_c)):
        return "intake temperatures became infinite or NaN"
    hottest = float(np.max(t_in_c, initial=-np.inf))
    if hottest > _STEADY_INTAKE_MAX_C:
        return f"intakes rising past {_STEADY_INTAKE_MAX_C:g} °C (reached {hottest:,.1f} °C)"
    coolest = float(np.min(t_in_c, initial=np.inf))
    if coolest < coldest_c - 0.5:
        return f"intakes at {coolest:,.1f} °C, colder than any coil's setpoint or chilled water ({coldest_c:.1f} °C)"
    return ""


def _one_regime_change(regime: np.ndarray, proposed: np.ndarray, t_return_c: np.ndarray, target_c: np.ndarray,
                       t_chw_c: float, crahs: CrahArrays, mdot_cp_w_per_k: np.ndarray) -> np.ndarray:
    """``regime`` with only the proposed change that moves its coil's outlet the most: switching every coil
    at once overshoots when the hall's heat is close to the coils' capacity."""
    changed = np.flatnonzero(proposed != regime)
    if len(changed) <= 1:
        return proposed.copy()
    a_old, b_old = coil_affine(regime, target_c, t_chw_c, crahs.coil_effectiveness, crahs.rated_cooling_w,
                               mdot_cp_w_per_k)
    a_new, b_new = coil_affine(proposed, target_c, t_chw_c, crahs.coil_effectiveness, crahs.rated_cooling_w,
                               mdot_cp_w_per_k)
    shift_k = np.abs((a_new - a_old) * t_return_c + (b_new - b_old))[changed]
    out = regime.copy()
    k = changed[int(np.argmax(shift_k))]
    out[k] = proposed[k]
    return out
