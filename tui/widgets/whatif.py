"""The what-if view: the answers of N-1 what-ifs run from the live twin, worst case first.

A what-if (the bus's ``whatif`` command, engineers only) forks the running twin and solves every single
failure of one kind on the server's cluster; its result arrives as an event. The view shows the latest
one: its verdict on top (red when a case fails), then one row per case, worst first, with the hottest
rack's inlet and the most loaded UPS, PDU or feed; while one runs, a line says so. ``w`` starts one (a
key of the app's, from any view: it checks the role first and says why not); ``[`` and ``]`` step
through earlier results.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.format import MISSING, fmt_clock, fmt_duration, fmt_num, fmt_pct, inlet_style, num
from tui.model import TwinData, whatif_mode
from tui.palette import ALARM, DIM, NORMAL, WARNING
from tui.widgets.tables import sync_rows
from tui.widgets.view import View

__all__ = ["WhatIfView"]

#: A case's status as the view shows it: label and style (failures red, warnings amber, ok plain).
_STATUS = {"error": ("ERROR", ALARM), "fail": ("FAIL", ALARM), "warn": ("WARN", WARNING), "ok": ("ok", NORMAL)}

_CASE_W = 22
_LOAD_W = 14


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class WhatIfView(View):
    """The latest what-if's verdict and cases (earlier ones one key away)."""

    TITLE = "WHAT-IF"
    DEFAULT_CSS = """
    WhatIfView > #whatif-verdict {
        height: auto;
        max-height: 4;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    WhatIfView > #whatif-running {
        height: auto;
        padding: 0 1;
    }
    WhatIfView > DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("left_square_bracket", "older", "Earlier result", show=False),
        Binding("right_square_bracket", "newer", "Later result", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.back = 0  # 0: the latest finished what-if; 1: the one before; …

    def compose(self):
        yield self.title_widget()
        yield Static("", id="whatif-running")
        yield Static("", id="whatif-verdict")
        table = DataTable(id="whatif-table", cursor_type="row", cursor_foreground_priority="renderable")
        # What an engineer scans first: the outcome, which failure, the hottest rack and how hot, the
        # most loaded part of the power chain; the reason (long) and the solve time scroll into view.
        table.add_column("Status", key="status", width=6)
        table.add_column("Case", key="case", width=_CASE_W)
        table.add_column("Worst rack", key="rack", width=10)
        table.add_column("Inlet", key="inlet", width=7)
        table.add_column("Worst load", key="load_name", width=_LOAD_W)
        table.add_column("Load", key="load", width=5)
        table.add_column("Reason", key="reason")
        table.add_column("Solve", key="elapsed")
        yield table

    def on_mount(self) -> None:
        self._draw()

    def focus_main(self) -> None:
        self.query_one(DataTable).focus()

    def show(self, data: TwinData) -> None:
        super().show(data)
        self._draw()

    # --- keys -----------------------------------------------------------------------------------

    def action_older(self) -> None:
        if self.back + 1 < len(self.data.whatifs_finished):
            self.back += 1
            self._draw()

    def action_newer(self) -> None:
        if self.back > 0:
            self.back -= 1
            self._draw()

    # --- drawing --------------------------------------------------------------------------------

    def _draw(self) -> None:
        finished = self.data.whatifs_finished
        self.back = min(self.back, max(0, len(finished) - 1))
        shown = finished[-1 - self.back] if finished else None
        running = self.data.whatif_running
        self._title(shown, len(finished))
        run_line = Text()
        if running is not None:
            run_line.append("RUNNING ", style=WARNING)
            run_line.append(f"N-1 {running.get('set')}, {running.get('cases_total')} cases, "
                            f"{whatif_mode(num(running.get('duration_s')))}, from the twin at "
                            f"{fmt_clock(running.get('fork_time_s'))}; the result comes here when done",
                            style=DIM)
        self.query_one("#whatif-running", Static).update(run_line)
        self.query_one("#whatif-running", Static).display = running is not None
        self.query_one("#whatif-verdict", Static).update(self._verdict(shown))
        rows = worst_rows(shown)
        ashrae = (self.data.hall or {}).get("ashrae")
        sync_rows(self.query_one(DataTable), [(f"{shown and shown.get('id')}:{r.get('case')}",
                                               self._cells(r, ashrae)) for r in rows])

    def _title(self, shown: dict | None, n: int) -> None:
        keys = "w new" if self.app_role() == "engineer" else "w new (engineers only)"
        if shown is None:
            self.set_title("no results yet", keys)
            return
        which = "latest" if self.back == 0 else f"{self.back} before the latest"
        elapsed = num(shown.get("elapsed_s"))
        took = f", {shown.get('cases_total')} cases in {fmt_duration(elapsed)}" if elapsed is not None else ""
        self.set_title(f"N-1 {shown.get('set')} at {fmt_clock(shown.get('fork_time_s'))}{took} ({which} of {n})",
                       keys + ("  [ ] earlier/later" if n > 1 else ""))

    def app_role(self) -> str:
        return str(getattr(self.app, "role", "observer"))

    @staticmethod
    def _verdict(w: dict | None) -> Text:
        """The verdict, one line per part of the study (cooling, power), then where the report is."""
        if w is None:
            return Text("What would happen now if one unit failed? An engineer's what-if forks the live twin "
                        "and solves every single failure of a kind (CRAHs, UPSs, PDUs, feeds) on the cluster.",
                        style=DIM)
        t = Text()
        if w.get("state") == "failed":
            t.append("could not run: ", style=ALARM)
            t.append(str(w.get("reason") or MISSING))
            return t
        parts = [p for p in str(w.get("verdict") or MISSING).split(" · ") if p]
        for i, part in enumerate(parts):
            style = ALARM if ": fails:" in part else WARNING if "with warnings" in part else NORMAL
            t.append(("\n" if i else "") + part, style=style)
        if w.get("report"):
            t.append(f"\nreport {w['report']}", style=DIM)
        return t

    @staticmethod
    def _cells(r: dict, ashrae: dict | None) -> list:
        label, style = _STATUS.get(str(r.get("status")), (str(r.get("status")), WARNING))
        inlet = num(r.get("max_inlet_c"))
        load = num(r.get("worst_load_fraction"))
        load_style = ALARM if load is not None and load > 1.0 else WARNING if r.get("status") == "warn" else NORMAL
        elapsed = num(r.get("elapsed_s"))
        return [
            Text(label, style=style),
            Text(_fit(str(r.get("case") or MISSING), _CASE_W)),
            Text(str(r.get("max_inlet_rack") or MISSING)),
            Text(f"{fmt_num(inlet)} °C" if inlet is not None else MISSING, style=inlet_style(inlet, ashrae)),
            Text(_fit(str(r.get("worst_load_name") or MISSING), _LOAD_W)),
            Text(fmt_pct(load), style=load_style if load is not None else DIM),
            Text(str(r.get("reason") or ""), style=DIM),
            Text(f"{elapsed:.1f} s" if elapsed is not None else MISSING, style=DIM),
        ]


def worst_rows(w: dict | None) -> list[dict]:
    """A what-if's case rows in the server's order: worst first (errors, failures, warnings, then by
    hottest inlet and highest load, as in its report.html)."""
    return [r for r in (w or {}).get("rows") or [] if isinstance(r, dict)]
