"""The hall's real capacity, rack by rack: how many more kW each rack can take before its power chain or
the cooling says no, which constraint binds, and what is stranded.

- **Power** (:func:`power_capacity`): the extra IT kW of one rack before a feed, PDU or UPS that supplies
  it passes ``limit`` × its rating, in normal operation and after every single power failure that moves
  load onto them (a UPS, a PDU, or the rack's own A or B feed lost: the other side then carries the
  rack). Solved with the chain's load flow (losses included), by a bracketed root search per failure.
- **Cooling** (:func:`cooling_capacity`, a sweep case on the Dask path): the extra IT kW of one rack
  before any rack inlet leaves the recommended band (or the hall has no steady state), in normal
  operation and with each of the worst single CRAH failures. Each probe is a steady solve.
- **Stranded**: per rack, power available but not coolable (power − min(power, cooling)) and cooling
  available but not powerable (cooling − min(...)); summed per row and in total. Per-rack figures are
  each for that rack alone; they do not add up to what the row could take at once.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin.model.load import HallModel
from twin.model.schema import ASHRAE_RECOMMENDED_C

if TYPE_CHECKING:
    from twin.electrical import PowerNetwork, PowerSources
    from twin.sim.state import TwinState
    from twin.sim.twin import HallTwin
    from twin.sweep.cases import Case
    from twin.sweep.worker import SweepJob

__all__ = ["CAP_KW", "capacity_cases", "cooling_capacity", "power_capacity", "stranded"]

#: Largest extra load searched per rack, kW (above it a rack counts as unbounded: "≥ 200 kW").
CAP_KW = 200.0
#: The searches stop when the bracket is this narrow, kW; the reported capacity is its safe end.
TOL_KW = 0.05


def _root(fn: Callable[[float], float], *, start_kw: float, cap_kw: float = CAP_KW, tol_kw: float = TOL_KW,
          f0: float | None = None) -> tuple[float, float | None, float | None]:
    """The largest x in [0, cap] with fn(x) ≤ 0 for an fn increasing in x (inf: infeasible), to tol_kw.

    Returns (x_ok, value at x_hi or None, x_hi or None): x_ok is a load known to satisfy the limit.
    Brackets by doubling from ``start_kw``, then regula falsi (Illinois) with bisection where fn is inf.
    """
    f_lo = fn(0.0) if f0 is None else f0
    if f_lo > 0:
        return 0.0, f_lo, 0.0
    lo = 0.0
    x = min(max(start_kw, tol_kw), cap_kw)
    while True:
        fx = fn(x)
        if fx > 0:
            hi, f_hi = x, fx
            break
        lo, f_lo = x, fx
        if x >= cap_kw:
            return cap_kw, None, None
        x = min(2.0 * x, cap_kw)
    side = 0
    while hi - lo > tol_kw:
        if math.isfinite(f_hi) and math.isfinite(f_lo) and f_hi > f_lo:
            x = lo + (hi - lo) * (-f_lo) / (f_hi - f_lo)
            x = min(max(x, lo + 0.1 * tol_kw), hi - 0.1 * tol_kw)
        else:
            x = 0.5 * (lo + hi)
        fx = fn(x)
        if fx > 0:
            hi, f_hi = x, fx
            if side == -1 and math.isfinite(f_lo):
                f_lo *= 0.5  # Illinois: halve the stale end's value so the other end moves too
            side = -1
        else:
            lo, f_lo = x, fx
            if side == 1 and math.isfinite(f_hi):
                f_hi *= 0.5
            side = 1
    return lo, f_hi, hi


# --- power ----------------------------------------------------------------------------------------

def power_capacity(hall: HallModel, *, limit: float = 0.8, it_w: np.ndarray | None = None) -> list[dict]:
    """Per rack: extra kW before a feed, PDU or UPS supplying it passes ``limit`` of its rating in normal
    operation or the worst single power failure; with the binding element and failure named."""
    from twin.electrical import PowerNetwork, PowerSources
    from twin.sweep.worker import feed_ratings_va

    if hall.spec.power is None:
        return [{"rack": r.name, "power_kw": math.inf, "power_binding": "no [power] section"} for r in hall.racks]
    net = PowerNetwork(hall)
    base_it = np.array([r.it_w for r in hall.racks]) if it_w is None else np.asarray(it_w, dtype=float)
    feed_va = feed_ratings_va(hall)
    pf = np.cos(np.arctan(net.psu_tan_phi))
    n_ups, n_racks = net.n_ups, net.n_racks
    out = []
    for r, name in enumerate(net.rack_names):
        pdus = set(int(p) for p in net.rack_pdu[r])
        partners = {int(p) for row in net.rack_pdu for p in row if pdus & {int(q) for q in row}}
        failures: list[tuple[str, PowerSources]] = [("normal operation", PowerSources())]
        for u, un in enumerate(net.ups_names):
            failures.append((f"losing {un}", PowerSources(ups_failed=np.arange(n_ups) == u)))
        for p in sorted(partners):
            sides = net.rack_pdu != p
            failures.append((f"losing {net.pdu_names[p]}", PowerSources(rack_side_live=sides)))
        for s, side in enumerate("AB"):
            sides = np.ones((n_racks, 2), dtype=bool)
            sides[r, s] = False
            failures.append((f"losing {name} feed {side}", PowerSources(rack_side_live=sides)))
        ups_r = sorted({int(net.pdu_ups[p]) for p in pdus})
        best = (math.inf, "")
        for label, sources in failures:
            chain = partial(_rack_chain_load, net, base_it, r, sources, ups_r, sorted(pdus), float(feed_va[r] * pf[r]))
            x, _, x_hi = _root(partial(_excess, chain, limit), start_kw=max(1.0, base_it[r] / 2e3))
            if x < best[0]:
                what = chain(x_hi if x_hi is not None else x)[1]
                best = (x, f"{what} at {100 * limit:.0f} % after {label}" if label != "normal operation"
                        else f"{what} at {100 * limit:.0f} % in normal operation")
        out.append({"rack": name, "power_kw": best[0],
                    "power_binding": best[1] if best[0] < CAP_KW else f"none below {CAP_KW:g} kW"})
    return out


def _excess(chain: Callable[[float], tuple[float, str]], limit: float, x_kw: float) -> float:
    """How far the highest load ÷ rating of ``chain`` at x_kw more IT is above ``limit``."""
    return chain(x_kw)[0] - limit


def _rack_chain_load(net: PowerNetwork, base_it: np.ndarray, r: int, sources: PowerSources, ups_r: list[int],
                     pdus: list[int], feed_rated_w: float, x_kw: float) -> tuple[float, str]:
    """The highest load ÷ rating among the feeds, PDUs and UPSs supplying rack r, with x_kw more IT on it."""
    from twin.electrical import solve_power

    it = base_it.copy()
    it[r] += x_kw * 1e3
    res = solve_power(net, it, sources=sources)
    items = [(float(res.ups_load_fraction[u]), net.ups_names[u]) for u in ups_r]
    items += [(float(res.pdu_load_fraction[p]), net.pdu_names[p]) for p in pdus]
    if math.isfinite(feed_rated_w):  # real power ÷ (rating × power factor) = apparent power ÷ rating
        name = net.rack_names[r]
        items += [(float(res.rack_feed_a_w[r] / feed_rated_w), f"{name} feed A"),
                  (float(res.rack_feed_b_w[r] / feed_rated_w), f"{name} feed B")]
    return max(items)


# --- cooling ----------------------------------------------------------------------------------------

def capacity_cases(hall: HallModel, crah_failures: list[str]) -> list:
    """One cooling search per rack and cooling condition (normal, then each CRAH failure given)."""
    from twin.sweep.cases import Case

    cases = []
    for cond in [None, *crah_failures]:
        for r in hall.racks:
            label = "normal" if cond is None else f"without {cond}"
            cases.append(Case(f"capacity {r.name}, {label}", kind="capacity", crahs_out=() if cond is None
                              else (cond,), extra={"rack": r.name}))
    return cases


def cooling_capacity(job: SweepJob, twin: HallTwin, start: TwinState, case: Case) -> dict:
    """The extra kW of the case's rack before any inlet leaves the recommended band (or no steady state)
    under the case's condition: steady solves in a bracketed root search."""
    from twin.sim.twin import NoSteadyState
    from twin.sweep.worker import apply_case

    rack = case.extra["rack"]
    r = twin.racks.names.index(rack)
    base_kw = float(start.rack_it_w[r]) / 1e3
    hi_c = ASHRAE_RECOMMENDED_C[1]
    seen: dict[float, tuple[float, str]] = {}

    def excess(x_kw: float) -> float:
        probe = replace(case, rack_load_kw=((rack, base_kw + x_kw),))
        state = start.copy()
        apply_case(twin, state, probe)
        try:
            state = twin.steady(state)
        except NoSteadyState:
            seen[x_kw] = (math.inf, "no steady state")
            return math.inf
        i = int(np.argmax(state.t_intake_c))
        seen[x_kw] = (float(state.t_intake_c[i]), twin.racks.names[i])
        return seen[x_kw][0] - hi_c

    x, f_hi, x_hi = _root(excess, start_kw=max(1.0, base_kw / 2))
    if x_hi is None:
        binding = f"none below {CAP_KW:g} kW"
    else:
        t_c, who = seen[x_hi]
        cond = "normal operation" if not case.crahs_out else f"without {case.crahs_out[0]}"
        binding = (f"{cond}: no steady state" if not math.isfinite(t_c)
                   else f"{cond}: rack {who} inlet {hi_c:g} °C")
    return {"rack": rack, "cooling_kw": x, "cooling_binding": binding, "probes": len(seen),
            "status": "ok", "reason": ""}


def stranded(racks: list[dict], hall: HallModel) -> dict:
    """Per rack usable = min(power, cooling); stranded power and cooling per row and in total, kW."""
    row_of = {r.name: r.row for r in hall.racks}
    rows: dict[str, dict] = {}
    for r in racks:
        p, c = r["power_kw"], r["cooling_kw"]
        usable = min(p, c)
        r["usable_kw"] = usable
        r["stranded_power_kw"] = p - usable if math.isfinite(p) else 0.0
        r["stranded_cooling_kw"] = c - usable if math.isfinite(c) else 0.0
        if p == c:
            r["binding"], r["bound_by"] = f"{r['power_binding']}; {r['cooling_binding']}", "both"
        else:
            r["binding"] = r["power_binding"] if p < c else r["cooling_binding"]
            r["bound_by"] = "power" if p < c else "cooling"
        agg = rows.setdefault(row_of[r["rack"]], {"row": row_of[r["rack"]], "racks": 0, "usable_kw": 0.0,
                                                  "stranded_power_kw": 0.0, "stranded_cooling_kw": 0.0})
        agg["racks"] += 1
        for k in ("usable_kw", "stranded_power_kw", "stranded_cooling_kw"):
            agg[k] += r[k] if math.isfinite(r[k]) else 0.0
    total = {k: sum(a[k] for a in rows.values()) for k in ("usable_kw", "stranded_power_kw", "stranded_cooling_kw")}
    return {"rows": list(rows.values()), "total": total}


# --- the command ------------------------------------------------------------------------------------

def add_parser(sub: argparse._SubParsersAction, hall_help: str, duration_type: Callable[[str], float]) -> None:
    from twin.sweep.command import add_common

    c = sub.add_parser("capacity", help="extra kW per rack before power or cooling says no; stranded capacity")
    c.add_argument("hall", help=hall_help)
    c.add_argument("--crah-failures", default="3", metavar="N|all",
                   help="how many of the worst single CRAH failures (by hottest inlet, from an N-1 sweep) each "
                        "rack's cooling is checked under (default 3; each costs a root search per rack)")
    c.add_argument("--resume", action="store_true",
                   help="keep the racks' searches finished in --out (after Ctrl-C or a lost cluster) and run the rest")
    add_common(c, duration_type)


def _crah_failures(text: str, n: int) -> int:
    if text == "all":
        return n
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"--crah-failures {text!r}: give a whole number or all") from None
    if v < 0:
        raise ValueError(f"--crah-failures {text!r}: must be 0 or more")
    return min(v, n)


def capacity_command(hall: HallModel, args: argparse.Namespace) -> int:
    from twin.sweep.cases import n_minus_1
    from twin.sweep.command import job_for, run_and_write
    from twin.sweep.engine import run_sweep

    try:
        k = _crah_failures(args.crah_failures, len(hall.crahs))
    except ValueError as exc:
        print(f"twin capacity: error: {exc}", file=sys.stderr)
        return 2
    out_dir = args.out or Path("out") / f"{args.hall.stem}-capacity"
    job = job_for(hall, airflow=args.airflow, load_limit=args.load_limit, case_timeout_s=args.case_timeout)
    # The worst single cooling failures, from an N-1 sweep on the same cluster.
    n1_run = run_sweep(job, n_minus_1(hall, "crah"), scheduler=args.scheduler, n_workers=args.workers,
                       cluster_timeout_s=args.cluster_timeout)
    if n1_run.lost:
        print(f"twin capacity: error: {n1_run.lost}, during the N-1 sweep that ranks the CRAH failures (nothing "
              f"to keep yet); run the command again on a cluster with workers", file=sys.stderr)
        return 1
    n1 = n1_run.rows
    ranked = sorted((r for r in n1 if r["kind"] == "crah"),
                    key=lambda r: (r["status"] != "error", -(r.get("max_inlet_c") or 0.0)))
    worst = [r["crahs_out"] for r in ranked[:k]]
    already = [r for r in ranked[:k] if r["status"] == "error" or r.get("max_inlet_c", 0.0) > ASHRAE_RECOMMENDED_C[1]]
    searched = [c for c in worst if c not in {r["crahs_out"] for r in already}]
    cases = capacity_cases(hall, searched)
    rack_of = {c.name: c.extra["rack"] for c in cases}
    power = {p["rack"]: p for p in power_capacity(hall, limit=args.load_limit)}
    result: dict = {}

    def after(rows: list[dict], summary: dict) -> str:
        per_rack = {r.name: {"rack": r.name, "row": r.row, "it_kw": r.it_w / 1e3, **power[r.name],
                             "cooling_kw": math.inf, "cooling_binding": ""} for r in hall.racks}
        for a in already:  # the hall already fails without this unit: no cooling margin under N-1
            why = a.get("reason") or "already outside the band"
            for p in per_rack.values():
                p.update(cooling_kw=0.0, cooling_binding=f"without {a['crahs_out']}: {why}")
        for row in rows:
            if row.get("kind") != "capacity":
                continue
            # An error row (a search that raised, timed out or lost its worker) holds only the case's inputs.
            p = per_rack[rack_of[row["case"]]]
            if row.get("status") == "error":
                p.update(cooling_kw=0.0, cooling_binding=f"{row['case']}: {row.get('reason')}")
            elif row["cooling_kw"] < p["cooling_kw"]:
                p.update(cooling_kw=row["cooling_kw"], cooling_binding=row["cooling_binding"])
        racks = list(per_rack.values())
        agg = stranded(racks, hall)
        result.update(racks=racks, **agg)
        summary["capacity"] = {"rows": agg["rows"], "total": agg["total"],
                               "crah_failures_checked": worst}
        t = agg["total"]
        summary["verdicts"].insert(0, f"capacity: {t['usable_kw']:,.1f} kW usable over {len(racks)} racks (each "
                                      f"alone); stranded {t['stranded_power_kw']:,.1f} kW of power (not coolable) "
                                      f"and {t['stranded_cooling_kw']:,.1f} kW of cooling (not powerable)")
        summary["verdict"] = " · ".join(summary["verdicts"])
        from twin.sweep.report import write_parquet

        write_parquet([{k: v for k, v in r.items()} for r in racks], out_dir / "capacity.parquet",
                      meta={"hall": hall.name, "load_limit": args.load_limit, "crah_failures": worst})
        return capacity_html(racks, agg)

    summary, rows, interrupted = run_and_write(
        hall, args.hall, job, cases, out_dir=out_dir, title=f"Capacity of {hall.name}", scheduler=args.scheduler,
        workers=args.workers, resume=args.resume, as_json=args.json, mode="capacity",
        extra_meta={"crah_failures": worst}, after=after, cluster_timeout_s=args.cluster_timeout)
    summary["outputs"].insert(1, str(out_dir / "capacity.parquet"))
    if args.json:
        summary["racks"] = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                            for r in result.get("racks", [])]
        print(json.dumps(summary))
    else:
        print(capacity_human(summary, result))
    if summary["lost"]:
        from twin.sweep.command import lost_line

        print(lost_line("twin capacity", summary), file=sys.stderr)
        return 1
    return 130 if interrupted else 0


def _kw(v: float) -> str:
    return "∞" if not math.isfinite(v) else f"{v:,.2f}"


def capacity_human(summary: dict, result: dict) -> str:
    lines = [f"{summary['title']}: {summary['verdicts'][0]}"]
    lines.append(f"  {'rack':<8}{'power kW':>10}{'cooling kW':>12}  binding")
    for r in result.get("racks", []):
        lines.append(f"  {r['rack']:<8}{_kw(r['power_kw']):>10}{_kw(r['cooling_kw']):>12}  {r['bound_by']}: "
                     f"{r['binding']}")
    for a in result.get("rows", []):
        lines.append(f"  row {a['row']}: usable {a['usable_kw']:,.1f} kW, stranded power {a['stranded_power_kw']:,.1f}"
                     f" kW, stranded cooling {a['stranded_cooling_kw']:,.1f} kW")
    lines.append("  outputs:")
    lines += [f"    {p}" for p in summary["outputs"]]
    return "\n".join(lines)


def capacity_html(racks: list[dict], agg: dict) -> str:
    import html as h

    head = ("<h2>Capacity per rack (each rack alone)</h2><table><tr><th>rack</th><th>row</th><th>IT kW</th>"
            "<th>power kW</th><th>cooling kW</th><th>usable kW</th><th>bound by</th><th>binding</th></tr>")
    body = "".join(f"<tr><td>{h.escape(r['rack'])}</td><td>{h.escape(r['row'])}</td><td>{r['it_kw']:.1f}</td>"
                   f"<td>{_kw(r['power_kw'])}</td><td>{_kw(r['cooling_kw'])}</td><td>{_kw(r['usable_kw'])}</td>"
                   f"<td>{r['bound_by']}</td><td>{h.escape(r['binding'])}</td></tr>"
                   for r in sorted(racks, key=lambda r: r["usable_kw"]))
    rows = "".join(f"<tr><td>{h.escape(a['row'])}</td><td>{a['racks']}</td><td>{a['usable_kw']:,.1f}</td>"
                   f"<td>{a['stranded_power_kw']:,.1f}</td><td>{a['stranded_cooling_kw']:,.1f}</td></tr>"
                   for a in agg["rows"])
    t = agg["total"]
    return (head + body + "</table><h2>Stranded capacity per row, kW</h2><table><tr><th>row</th><th>racks</th>"
            "<th>usable</th><th>power not coolable</th><th>cooling not powerable</th></tr>" + rows
            + f"<tr><th>total</th><th></th><th>{t['usable_kw']:,.1f}</th><th>{t['stranded_power_kw']:,.1f}</th>"
              f"<th>{t['stranded_cooling_kw']:,.1f}</th></tr></table>")


__all__ += ["add_parser", "capacity_command"]
