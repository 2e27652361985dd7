"""The power view: the chain from the utility to the PDUs, as a tree.

Sources first (utility and transformer, generator behind the ATS), then each UPS with its mode, load,
efficiency and battery, and under it the PDUs it feeds, then the mechanical load (cooling plant).
The hall's topology (which PDU hangs on which UPS) comes from the snapshot's hall description; the
figures from each summary.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from rich.tree import Tree
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.format import MISSING, fmt_pct, fmt_power, num
from tui.model import TwinData, rows
from tui.palette import ALARM, DIM, WARNING
from tui.widgets.view import View

__all__ = ["PowerView", "power_tree"]


def _kv(t: Text, label: str, value: str, style: str = "") -> None:
    t.append(f"  {label} ", style=DIM)
    t.append(value, style=style)


def power_tree(data: TwinData) -> Group | Text:
    """The chain as rich renderables (a few source lines and a tree of UPSs and PDUs)."""
    s = data.summary or {}
    topo = (data.hall or {}).get("power")
    if not topo or "ups" not in s:
        if data.summary is None:
            return Text("waiting for the twin's first state…", style=DIM)
        return Text("This hall has no power chain (its file has no [power] section): IT and cooling "
                    "power only, in the header.", style=DIM)
    kpi = s.get("hall") or {}
    src = s.get("sources") or {}

    utility = Text("Utility", style="bold")
    ok = kpi.get("utility_ok")
    utility.append("  ")
    utility.append("ok" if ok else "LOST", style="" if ok else ALARM)
    _kv(utility, "draw", fmt_power(src.get("utility_w")))
    _kv(utility, "transformer", fmt_pct(src.get("transformer_load_fraction")))
    _kv(utility, "loss", fmt_power(src.get("transformer_loss_w")))

    lines: list = [utility]
    if topo.get("has_generator"):
        gen = Text("Generator", style="bold")
        online = bool(src.get("generator_online"))
        gen.append("  ")
        gen.append("online" if online else "standby", style=WARNING if online else "")
        _kv(gen, "output", fmt_power(src.get("generator_w")))
        lines.append(gen)

    ats = Text("ATS", style="bold")
    on_gen = bool(src.get("ats_on_generator"))
    ats.append("  on generator" if on_gen else "  on utility", style=WARNING if on_gen else "")
    tree = Tree(ats, guide_style=DIM)

    ups_rows = rows(s.get("ups"))
    pdu_rows = {p["name"]: p for p in rows(s.get("pdus"))}
    pdu_ups = dict(zip(topo.get("pdus") or [], topo.get("pdu_ups") or []))
    kwh = dict(zip(topo.get("ups") or [], topo.get("battery_kwh") or []))
    for u in ups_rows:
        mode = str(u.get("mode") or MISSING)
        label = Text(str(u["name"]), style="bold")
        label.append("  ")
        label.append(mode.replace("_", " "), style=ALARM if mode == "off" else WARNING if mode == "on_battery" else "")
        load = num(u.get("load_fraction"))
        _kv(label, "load", fmt_pct(load), WARNING if load is not None and load > 0.9 else "")
        _kv(label, "out", fmt_power(u.get("output_w")))
        _kv(label, "η", fmt_pct(u.get("efficiency"), 1))
        soc = num(u.get("soc"))
        _kv(label, "battery", fmt_pct(soc),
            ALARM if soc is not None and soc < 0.2 else WARNING if soc is not None and soc < 0.5 else "")
        if u["name"] in kwh:
            label.append(f" of {kwh[u['name']]:g} kWh", style=DIM)
        bw = num(u.get("battery_w"))
        if bw is not None and abs(bw) > 1.0:
            _kv(label, "discharging" if bw > 0 else "charging", fmt_power(abs(bw)), WARNING if bw > 0 else "")
        branch = tree.add(label)
        for pdu_name, ups_name in pdu_ups.items():
            if ups_name != u["name"]:
                continue
            p = pdu_rows.get(pdu_name, {})
            pl = Text(pdu_name, style="bold")
            pload = num(p.get("load_fraction"))
            _kv(pl, "input", fmt_power(p.get("input_w")))
            _kv(pl, "load", fmt_pct(pload), WARNING if pload is not None and pload > 0.8 else "")
            _kv(pl, "loss", fmt_power(p.get("loss_w")))
            branch.add(pl)
    mech = Text("Mechanical", style="bold")
    _kv(mech, "cooling plant", fmt_power(src.get("mechanical_w")))
    tree.add(mech)
    return Group(*lines, tree)


class PowerView(View):
    """The power chain as a tree."""

    TITLE = "POWER"
    DEFAULT_CSS = """
    PowerView > VerticalScroll {
        height: 1fr;
        padding: 0 1;
    }
    PowerView #power-tree {
        width: auto;
        min-width: 100%;
    }
    """

    def compose(self):
        yield self.title_widget()
        with VerticalScroll(id="power-scroll"):
            yield Static("", id="power-tree")

    def on_mount(self) -> None:
        self.set_title("utility → transformer → ATS → UPS → PDU → racks")

    def focus_main(self) -> None:
        self.query_one("#power-scroll").focus()

    def show(self, data: TwinData) -> None:
        super().show(data)
        self.query_one("#power-tree", Static).update(power_tree(data))
