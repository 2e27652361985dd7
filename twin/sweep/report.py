"""What a sweep leaves behind: ``cases.parquet`` (one row per case, units in the column metadata), a
summary with a one-line verdict (``--json`` prints it), and ``report.html``: one self-contained page
(inline SVG, no scripts, no network) with the verdict, the worst cases first, a chart of every case's
hottest inlet and a floor plan per case coloured by rack inlet.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Set
from pathlib import Path
from typing import TypeGuard

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from twin.model.load import Box, HallModel
from twin.model.schema import ASHRAE_RECOMMENDED_C

__all__ = ["SEVERITY", "read_rows", "summarize", "unit_of", "worst_first", "write_html", "write_parquet"]

#: Order of case statuses, worst first.
SEVERITY = {"error": 0, "fail": 1, "warn": 2, "ok": 3}

_KIND_TITLE = {"crah": "N-1 cooling", "ups": "N-1 power", "pdu": "N-1 power", "feed": "N-1 power",
               "grid": "sweep", "list": "sweep", "base": "base", "capacity": "capacity"}


def unit_of(column: str) -> str:
    """The unit of a results column, from its name's suffix (the project's naming rule)."""
    for suffix, unit in (("_c", "°C"), ("_s", "s"), ("_kw", "kW"), ("_w", "W"), ("_fraction", "1"),
                         ("_soc", "1"), ("_m3s", "m³/s")):
        if column.endswith(suffix):
            return unit
    if column.startswith(("racks_", "n_")):
        return "count"
    return ""


def write_parquet(rows: list[dict], path: Path, *, meta: dict | None = None) -> Path:
    """One row per case; each column's unit in its field metadata (``unit``), the sweep's options in the
    schema metadata (``twin.sweep``, JSON)."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    fields, arrays = [], []
    for name in columns:
        values = [r.get(name) for r in rows]
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, list):
            typ = pa.list_(pa.float64())
        elif isinstance(sample, bool):
            typ = pa.bool_()
        elif isinstance(sample, int) and all(v is None or isinstance(v, int) for v in values):
            typ = pa.int64()
        elif isinstance(sample, (int, float)):
            typ = pa.float64()
            values = [None if v is None else float(v) for v in values]
        else:
            typ = pa.string()
            values = [None if v is None else str(v) for v in values]
        fields.append(pa.field(name, typ, metadata={b"unit": unit_of(name).encode()}))
        arrays.append(pa.array(values, type=typ))
    schema = pa.schema(fields, metadata={b"twin.sweep": json.dumps(meta or {}).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp)
    tmp.replace(path)  # a kill leaves the old file or the new one
    return path


def read_rows(path: Path) -> list[dict]:
    """The rows of a cases.parquet (to resume a sweep)."""
    table = pq.read_table(path)
    return table.to_pylist()


def worst_first(rows: list[dict]) -> list[dict]:
    """Cases by severity (errors, fails, warnings, ok), then hottest inlet, then highest load."""
    def key(r: dict) -> tuple:
        inlet = r.get("max_inlet_c")
        load = r.get("worst_load_fraction")
        return (_severity(r.get("status")), -(inlet if _num(inlet) else -1e9),
                -(load if _num(load) else -1e9))
    return sorted(rows, key=key)


def _severity(status: object) -> int:
    """A status's rank in :data:`SEVERITY` (0, the worst, for a missing or unknown one)."""
    return SEVERITY.get(status, 0) if isinstance(status, str) else 0


def _num(v: object) -> TypeGuard[float]:
    """A finite number (bools excluded)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def summarize(rows: list[dict], *, title: str, meta: dict | None = None) -> dict:
    """Counts by status, the worst cases, and one verdict line per study part (N-1 cooling, N-1 power,
    sweep), e.g. "N-1 cooling: fails: without CRAH-03, rack D12 reaches 29.1 °C"."""
    counts = {s: sum(1 for r in rows if r.get("status") == s) for s in SEVERITY}
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("kind") != "base":
            kind = r.get("kind")
            groups.setdefault(_KIND_TITLE.get(kind, "sweep") if isinstance(kind, str) else "sweep", []).append(r)
    if not groups:
        groups = {"base": rows}
    verdicts = [_verdict(name, group) for name, group in groups.items()]
    worst = worst_first(rows)
    keys = ("case", "status", "reason", "max_inlet_c", "max_inlet_rack", "worst_load_name", "worst_load_fraction",
            "time_to_27c_s", "time_to_32c_s", "peak_inlet_c", "min_battery_soc")
    return {"title": title, "cases": len(rows), "counts": counts, "verdict": " · ".join(verdicts),
            "verdicts": verdicts, "worst": [{k: _clean(r.get(k)) for k in keys if k in r} for r in worst[:10]],
            **(meta or {})}


def _clean(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _verdict(name: str, group: list[dict]) -> str:
    bad = [r for r in group if r.get("status") in ("error", "fail")]
    if bad:
        w = worst_first(bad)[0]
        more = f" (and {len(bad) - 1} more of {len(group)} cases)" if len(bad) > 1 else ""
        return f"{name}: fails: {w['case']}, {w.get('reason') or w.get('status')}{more}"
    warn = [r for r in group if r.get("status") == "warn"]
    w = worst_first(group)[0]
    hottest = (f"hottest inlet {w['max_inlet_c']:.1f} °C ({w['max_inlet_rack']}, {w['case']})"
               if _num(w.get("max_inlet_c")) else "")
    if warn:
        return f"{name}: passes with warnings: {worst_first(warn)[0]['case']}, {worst_first(warn)[0]['reason']}"
    return f"{name}: passes ({len(group)} cases): {hottest}"


# --- report.html ----------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}.verdict{font-size:1.15em;padding:.6em;border-left:6px solid #888;background:#f4f4f4}
.fail,.error{border-color:#c0392b}.ok{border-color:#27ae60}.warn{border-color:#e67e22}
table{border-collapse:collapse;font-size:.85em}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.s-error,.s-fail{color:#c0392b;font-weight:bold}.s-warn{color:#d35400}.s-ok{color:#27ae60}
.plans{display:flex;flex-wrap:wrap;gap:1em}.plan{font-size:.8em}"""


def _colour(t_c: float, lo_c: float, hi_c: float) -> str:
    """Blue (cool) → green → red (hot) on the recommended band; dark red above it."""
    if not math.isfinite(t_c):
        return "#999"
    if t_c > hi_c:
        return "#7b0000"
    x = min(max((t_c - lo_c) / (hi_c - lo_c), 0.0), 1.0)
    r = int(255 * min(1.0, 2 * x))
    g = int(255 * min(1.0, 2 * (1 - x)) * 0.8)
    b = int(255 * max(0.0, 1 - 2 * x))
    return f"#{r:02x}{g:02x}{b:02x}"


def floor_plan_svg(hall: HallModel, inlet_c: list[float] | None, *, width_px: int = 320,
                   failed: Set[str] = frozenset()) -> str:
    """The hall from above: racks coloured by inlet (°C), CRAHs grey (crossed out when failed)."""
    sx, sy = hall.spec.hall.size_m[0], hall.spec.hall.size_m[1]
    scale = width_px / sx
    h_px = sy * scale
    lo_c, hi_c = ASHRAE_RECOMMENDED_C
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{h_px:.0f}" '
             f'viewBox="0 0 {width_px} {h_px:.0f}"><rect width="100%" height="100%" fill="#fafafa" stroke="#444"/>']

    def rect(box: Box, fill: str, title: str, stroke: str = "#333") -> tuple[float, float, float, float]:
        x0, y0 = box.lo[0] * scale, (sy - box.hi[1]) * scale  # north up
        w, h = (box.hi[0] - box.lo[0]) * scale, (box.hi[1] - box.lo[1]) * scale
        parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="0.5"><title>{html.escape(title)}</title></rect>')
        return x0, y0, w, h

    for c in hall.crahs:
        x0, y0, w, h = rect(c.box, "#bbb", c.name + (" (out)" if c.name in failed else ""))
        if c.name in failed:
            parts.append(f'<path d="M{x0:.1f},{y0:.1f}l{w:.1f},{h:.1f}M{x0 + w:.1f},{y0:.1f}l{-w:.1f},{h:.1f}" '
                         f'stroke="#c0392b" stroke-width="2"/>')
    for i, r in enumerate(hall.racks):
        t = inlet_c[i] if inlet_c is not None and i < len(inlet_c) and inlet_c[i] is not None else math.nan
        rect(r.box, _colour(t, lo_c, hi_c), f"{r.name}: {t:.1f} °C")
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart_svg(rows: list[dict], *, width_px: int = 900) -> str:
    """Hottest rack inlet of every case (worst first), with the recommended limit."""
    vals: list[tuple[str, float, object]] = []
    for r in rows:
        v = r.get("max_inlet_c")
        if _num(v):
            vals.append((r["case"], v, r.get("status")))
    if not vals:
        return ""
    lo_c, hi_c = ASHRAE_RECOMMENDED_C
    top = max(max(v for _, v, _ in vals), hi_c) + 1.0
    bottom = min(min(v for _, v, _ in vals), lo_c) - 1.0
    bar_h, left = 14, 260
    h_px = bar_h * len(vals) + 30
    xs = (width_px - left - 20) / (top - bottom)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{h_px}" font-size="10">']
    for k, (name, v, status) in enumerate(vals):
        y = 20 + k * bar_h
        colour = ({"fail": "#c0392b", "warn": "#e67e22", "error": "#7f8c8d"}.get(status, "#2e86c1")
                  if isinstance(status, str) else "#2e86c1")
        parts.append(f'<text x="{left - 4}" y="{y + 10}" text-anchor="end">{html.escape(name[:45])}</text>'
                     f'<rect x="{left}" y="{y + 1}" width="{(v - bottom) * xs:.1f}" height="{bar_h - 3}" '
                     f'fill="{colour}"><title>{v:.2f} °C</title></rect>'
                     f'<text x="{left + (v - bottom) * xs + 3:.1f}" y="{y + 10}">{v:.1f}</text>')
    x27 = left + (hi_c - bottom) * xs
    parts.append(f'<line x1="{x27:.1f}" y1="12" x2="{x27:.1f}" y2="{h_px}" stroke="#c0392b" stroke-dasharray="4"/>'
                 f'<text x="{x27:.1f}" y="10" text-anchor="middle">{hi_c:g} °C</text></svg>')
    return "".join(parts)


def _fmt(v: object, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def write_html(path: Path, hall: HallModel, rows: list[dict], summary: dict, *, extra_html: str = "",
               plans: int = 60) -> Path:
    """report.html: verdict, table of the worst cases first, chart, floor plans (the worst ``plans``)."""
    worst = worst_first(rows)
    status = "fail" if summary["counts"].get("fail") or summary["counts"].get("error") else (
        "warn" if summary["counts"].get("warn") else "ok")
    cols = [("case", "case", None), ("status", "status", None), ("max_inlet_c", "hottest inlet °C", 2),
            ("max_inlet_rack", "rack", None), ("worst_load_name", "highest load", None),
            ("worst_load_fraction", "of rating", 2), ("time_to_27c_s", "to 27 °C s", 0),
            ("time_to_32c_s", "to 32 °C s", 0), ("peak_inlet_c", "peak inlet °C", 2),
            ("min_battery_soc", "battery min", 3), ("reason", "reason", None)]
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in cols)
    body = []
    for r in worst:
        cells = []
        for key, _, digits in cols:
            v = r.get(key)
            cls = f' class="s-{v}"' if key == "status" else ""
            if key == "worst_load_fraction" and _num(v):
                cells.append(f"<td>{100 * v:.0f} %</td>")
            else:
                cells.append(f"<td{cls}>{_fmt(v, digits or 0) if digits is not None else _fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    plan_html = []
    for r in [r for r in worst if r.get("rack_inlet_c")][:plans]:
        failed = set(filter(None, str(r.get("crahs_out") or "").split(",")))
        plan_html.append(f'<div class="plan"><div><b>{html.escape(r["case"])}</b> '
                         f'<span class="s-{r.get("status")}">{r.get("status")}</span></div>'
                         f'{floor_plan_svg(hall, r.get("rack_inlet_c"), failed=failed)}</div>')
    meta = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in summary.items()
                   if k in ("hall", "mode", "cases", "workers", "scheduler", "wall_s", "from_checkpoint",
                            "load_limit", "airflow"))
    verdicts = "".join(f"<div>{html.escape(v)}</div>" for v in summary["verdicts"])
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(summary['title'])}</title><style>{_CSS}</style></head><body>
<h1>{html.escape(summary['title'])}</h1>
<div class="verdict {status}">{verdicts}</div>
<ul>{meta}</ul>
{extra_html}
<h2>Cases, worst first</h2><table><tr>{head}</tr>{''.join(body)}</table>
<h2>Hottest rack inlet per case</h2>{_bar_chart_svg(worst)}
<h2>Floor plans (rack inlet: blue {ASHRAE_RECOMMENDED_C[0]:g} °C → red {ASHRAE_RECOMMENDED_C[1]:g} °C,
dark red above; north up; failed CRAHs crossed)</h2><div class="plans">{''.join(plan_html)}</div>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def inlet_matrix(rows: list[dict]) -> np.ndarray:
    """Rack inlets of every case as an array (cases × racks), NaN where a case has none."""
    n = max((len(r.get("rack_inlet_c") or []) for r in rows), default=0)
    out = np.full((len(rows), n), np.nan)
    for i, r in enumerate(rows):
        v = r.get("rack_inlet_c") or []
        out[i, :len(v)] = v
    return out
