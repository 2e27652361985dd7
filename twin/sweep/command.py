"""``twin sweep`` and ``twin capacity``: the command-line wiring (options → cases → cluster → outputs)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from twin.argtypes import number_in
from twin.model.load import HallModel
from twin.sweep.cases import N1_SETS, Case, CasesError, load_cases, n_minus_1
from twin.sweep.engine import DEFAULT_CLUSTER_TIMEOUT_S, run_sweep
from twin.sweep.worker import DEFAULT_LOAD_LIMIT, SweepJob

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["add_parsers", "job_for", "plan_sweep", "sweep_command"]


# The sweep's own ranges: a load limit is a fraction of a rating; workers are processes.
_fraction = number_in(0.1, 1.0, what="a fraction like 0.8", note="a fraction of the rating")
_workers = number_in(1, 256, integer=True, what="a whole number of worker processes")


def add_common(p: argparse.ArgumentParser, duration_type: Callable[[str], float]) -> None:
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run on an existing Dask cluster (default: a local cluster, one worker per core)")
    p.add_argument("--workers", type=_workers, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--airflow", choices=("potential", "momentum"), default=None,
                   help="airflow model (default: the hall file's [airflow] model, else potential)")
    p.add_argument("--load-limit", type=_fraction, default=DEFAULT_LOAD_LIMIT,
                   help=f"fraction of a UPS, PDU or feed rating above which a load is flagged "
                        f"(default {DEFAULT_LOAD_LIMIT:g})")
    p.add_argument("--case-timeout", type=duration_type, default=None, metavar="S",
                   help="wall-clock limit of one case (e.g. 60, 2min; for twin capacity one rack's search under one "
                        "cooling condition; the worker's one-time hall build is not counted): a case past it is "
                        "reported as an error with that reason and the sweep goes on")
    p.add_argument("--cluster-timeout", type=duration_type, default=DEFAULT_CLUSTER_TIMEOUT_S, metavar="S",
                   help=f"give up when the Dask cluster has had no worker (or no scheduler) for this long: the "
                        f"finished cases are kept in --out for --resume (default {DEFAULT_CLUSTER_TIMEOUT_S:g} s)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default out/<hall>-sweep)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")


def add_parsers(sub: argparse._SubParsersAction, hall_help: str, duration_type: Callable[[str], float]) -> None:
    s = sub.add_parser("sweep", help="what-if and N-1 sweeps on Dask: cases.parquet, report.html")
    s.add_argument("hall", help=hall_help)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--n-1", dest="n_1", choices=N1_SETS,
                      help="every single failure of that kind (CRAH out; UPS, PDU or one rack feed lost)")
    what.add_argument("--cases", type=Path, help="a cases file (TOML): a grid or a list of what-ifs")
    s.add_argument("--steady", action="store_true", help="solve each case's steady state (default for --n-1)")
    s.add_argument("--duration", type=duration_type, default=None,
                   help="run each case in time for this long, from normal operation's steady state (or --from)")
    s.add_argument("--dt", type=duration_type, default=1.0, help="time step of transient cases (default 1s)")
    s.add_argument("--control", choices=("ideal", "embedded"), default="ideal",
                   help="ideal: setpoints held exactly (default); embedded: the units' own controllers")
    s.add_argument("--from", dest="from_checkpoint", type=Path, default=None, metavar="CHECKPOINT.npz",
                   help="start every case from this checkpoint's state (a fork of a running twin)")
    s.add_argument("--resume", action="store_true", help="keep the finished cases in --out and run the rest")
    add_common(s, duration_type)

    from twin.sweep.capacity import add_parser as add_capacity_parser

    add_capacity_parser(sub, hall_help, duration_type)


def job_for(hall: HallModel, *, airflow: str | None, control: str = "ideal", dt_s: float = 1.0,
            checkpoint: Path | None = None, load_limit: float = DEFAULT_LOAD_LIMIT,
            case_timeout_s: float | None = None) -> SweepJob:
    from twin.sim.checkpoint import hall_sha256

    key = hall_sha256(hall)
    if checkpoint is not None:
        key += ":" + hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    return SweepJob(hall=hall, key=key, airflow=airflow, control=control, dt_s=dt_s,
                    checkpoint=None if checkpoint is None else str(checkpoint.resolve()), load_limit=load_limit,
                    case_timeout_s=case_timeout_s)


def _checkpoint_options(path: Path) -> tuple[str, float, str]:
    from twin.sim.checkpoint import read_checkpoint_meta

    meta = read_checkpoint_meta(path)
    return meta.get("control", "ideal"), float(meta.get("dt_s", 1.0)), meta.get("airflow", "potential")


class _Progress:
    """A rich bar over cases on stderr when it is a terminal; also writes the finished rows to
    cases.parquet every few seconds, so a kill or Ctrl-C keeps them."""

    def __init__(self, total: int, done: int, *, write: Callable[[], None], show: bool) -> None:
        self.write = write
        self.last_write = time.monotonic()
        self.bar = None
        if show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("cases"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.fields[info]}"), console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("cases", total=total, completed=done, info="")

    def __call__(self, row: dict) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, info=f"{row['case']}: {row.get('status')}")
        if time.monotonic() - self.last_write > 5.0:
            self.write()
            self.last_write = time.monotonic()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_and_write(hall: HallModel, hall_path: Path, job: SweepJob, cases: list[Case], *, out_dir: Path,
                  title: str, scheduler: str | None, workers: int | None, resume: bool, as_json: bool,
                  mode: str, extra_meta: dict | None = None,
                  after: Callable[[list[dict], dict], str] | None = None,
                  client: Client | None = None,
                  cluster_timeout_s: float = DEFAULT_CLUSTER_TIMEOUT_S) -> tuple[dict, list[dict], bool]:
    """Run the cases (minus those finished in ``out_dir`` when resuming) and write the outputs.
    ``client``: an open Dask client to run on (kept open; a live twin's what-ifs reuse one)."""
    # Imported here: pyarrow is ~0.05 s of every command's start-up (the parser imports this module).
    from twin.sweep.report import read_rows, summarize, write_html, write_parquet

    parquet = out_dir / "cases.parquet"
    names = {c.name for c in cases}
    kept: list[dict] = []
    if resume and parquet.is_file():
        kept = [r for r in read_rows(parquet) if r.get("case") in names and r.get("status") != "error"]
    done_names = {r["case"] for r in kept}
    todo = [c for c in cases if c.name not in done_names]
    meta = {"hall": hall.name, "hall_file": str(hall_path), "mode": mode, "load_limit": job.load_limit,
            "airflow": job.airflow or hall.spec.airflow.model, "from_checkpoint": job.checkpoint,
            "case_timeout_s": job.case_timeout_s,
            **(extra_meta or {})}
    finished: list[dict] = list(kept)
    order = {c.name: i for i, c in enumerate(cases)}

    def write() -> None:
        write_parquet(sorted(finished, key=lambda r: order.get(r["case"], 0)), parquet, meta=meta)

    progress = _Progress(len(cases), len(kept), write=write,
                         show=not as_json and sys.stderr.isatty())

    def on_row(row: dict) -> None:
        finished.append(row)
        progress(row)

    t0 = time.perf_counter()
    try:
        run = run_sweep(job, todo, scheduler=scheduler, n_workers=workers, on_row=on_row,
                        client=client, cluster_timeout_s=cluster_timeout_s) if todo else None
    finally:
        progress.stop()
    wall_s = time.perf_counter() - t0
    rows = sorted(finished, key=lambda r: order.get(r["case"], 0))
    meta.update(workers=run.workers if run else 0, scheduler=run.scheduler if run else "", wall_s=round(wall_s, 3),
                resumed=len(kept))
    write()
    interrupted = bool(run and run.interrupted)
    summary = summarize(rows, title=title, meta=meta)
    extra_html = ""
    if after is not None:
        extra_html = after(rows, summary)
    summary["interrupted"] = interrupted
    summary["pending"] = run.pending if run else []
    summary["lost"] = run.lost if run else ""
    summary["outputs"] = [str(parquet), str(write_html(out_dir / "report.html", hall, rows, summary,
                                                       extra_html=extra_html))]
    return summary, rows, interrupted


def plan_sweep(hall: HallModel, *, n_1: str | None = None, cases_file: Path | None = None,
               duration_s: float | None = None, steady: bool = False, control: str = "ideal", dt_s: float = 1.0,
               airflow: str | None = None, checkpoint: Path | None = None,
               load_limit: float = DEFAULT_LOAD_LIMIT,
               case_timeout_s: float | None = None) -> tuple[SweepJob, list[Case], str, str]:
    """The job, the cases, the title and the mode ("steady" or "transient") of a sweep: an N-1 set
    (``n_1``) or a cases file, from the hall or from a checkpoint. `twin sweep` and the bus's ``whatif``
    (a fork of the live state, written as a checkpoint) both plan here, so they run the same cases the
    same way. CasesError for a set or file the hall cannot answer."""
    if checkpoint is not None:
        # A fork goes on as the run it came from: its control mode, time step and airflow model.
        control, dt_s, airflow = _checkpoint_options(checkpoint)
    if n_1:
        cases = n_minus_1(hall, n_1, duration_s=duration_s)
        title = f"N-1 ({n_1}) of {hall.name}"
    elif cases_file is not None:
        cases = load_cases(cases_file, hall, duration_s=duration_s, steady=steady or None)
        title = f"Sweep {cases_file.name} of {hall.name}"
    else:
        raise CasesError("a sweep needs an N-1 set or a cases file")
    if control == "embedded" and any(c.steady for c in cases):
        control = "ideal" if checkpoint is None else control
    mode = "steady" if all(c.steady for c in cases) else "transient"
    job = job_for(hall, airflow=airflow, control=control, dt_s=dt_s, checkpoint=checkpoint, load_limit=load_limit,
                  case_timeout_s=case_timeout_s)
    return job, cases, title, mode


def sweep_command(hall: HallModel, args: argparse.Namespace) -> int:
    if args.resume and args.out is None:
        args.out = Path("out") / f"{args.hall.stem}-sweep"
    out_dir = args.out or Path("out") / f"{args.hall.stem}-sweep"
    if args.steady and args.duration is not None:
        print("twin sweep: error: --steady and --duration exclude each other", file=sys.stderr)
        return 2
    job, cases, title, mode = plan_sweep(hall, n_1=args.n_1, cases_file=args.cases, duration_s=args.duration,
                                         steady=args.steady, control=args.control, dt_s=args.dt,
                                         airflow=args.airflow, checkpoint=args.from_checkpoint,
                                         load_limit=args.load_limit, case_timeout_s=args.case_timeout)
    summary, rows, interrupted = run_and_write(hall, args.hall, job, cases, out_dir=out_dir, title=title,
                                               scheduler=args.scheduler, workers=args.workers,
                                               resume=args.resume, as_json=args.json, mode=mode,
                                               cluster_timeout_s=args.cluster_timeout)
    if args.json:
        print(json.dumps(summary))
    else:
        print(human(summary))
    if summary["lost"]:
        print(lost_line("twin sweep", summary), file=sys.stderr)
        return 1
    if interrupted:
        return 130
    return 0


def lost_line(command: str, summary: dict) -> str:
    """One line for a sweep its cluster could not finish: why, what is kept where, how to go on."""
    kept = summary["cases"]  # the summary counts the finished cases; the rest are pending
    total = kept + len(summary["pending"])
    return (f"{command}: error: {summary['lost']}; {kept} of {total} cases finished and are kept in "
            f"{summary['outputs'][0]}; run the same command with --resume (on a cluster with workers) for the "
            f"other {len(summary['pending'])}")


def human(s: dict) -> str:
    c = s["counts"]
    lines = [f"{s['title']}: {s['cases']} cases ({c['fail']} fail, {c['warn']} warn, {c['error']} error, "
             f"{c['ok']} ok) on {s['workers']} workers in {s['wall_s']:.1f} s"
             + (f", {s['resumed']} kept from before" if s.get("resumed") else "")]
    lines += [f"  {v}" for v in s["verdicts"]]
    if s.get("interrupted"):
        lines.append(f"  interrupted: {len(s['pending'])} cases not run (--resume runs them)")
    lines.append("  outputs:")
    lines += [f"    {p}" for p in s["outputs"]]
    return "\n".join(lines)


__all__ += ["CasesError", "human", "lost_line", "run_and_write"]


def capacity_command(hall: HallModel, args: argparse.Namespace) -> int:
    from twin.sweep.capacity import capacity_command as run

    return run(hall, args)
