"""`twin bench HALL --bus`: the bus's figures, measured with a real `twin serve` process and real clients.

Reports the solver's real-time factor with no client and with three clients attached (each takes
summaries, fields and events), the summary rate and latency (end of the step that made a state →
receipt by a client), field frames per second and MB/s per client, and the time a late joiner needs
to hold the full state. The server runs as fast as it can (``--speed max``) at its default publish
rates, so that the solver's pace is what the clients could slow down.

It also runs `twin bench` on the same hall (same dt and control, no outputs), once before the server
starts and once after it stops, and reports the serve loop with three clients against the mean of the
two (``serve_bench_ratio``): what publishing costs the live twin. On a shared machine only such ratios,
measured in one run, mean anything.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.bus.client import TwinClient

__all__ = ["bench_bus"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Follower:
    """What one following client saw."""

    summaries: int = 0
    fields: int = 0
    field_bytes: int = 0
    latency_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    dropped: int | None = None


def _rtf(probe: TwinClient, seconds: float) -> float:
    w0, t0 = time.monotonic(), probe.ping().result["time_s"]
    time.sleep(seconds)
    w1, t1 = time.monotonic(), probe.ping().result["time_s"]
    return (t1 - t0) / (w1 - w0)


def _bench_rtf(twin_exe: Path, hall_path: Path, duration: str) -> float:
    """The real-time factor `twin bench` reports for ``duration`` of ``hall_path`` (its own process)."""
    # --no-power-check: only the run's pace is wanted here, not the seconds of the pandapower comparison.
    out = subprocess.run([str(twin_exe), "bench", str(hall_path), "--duration", duration, "--no-power-check",
                          "--json"],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["rtf"])


def bench_bus(hall_path: Path, *, seconds: float = 10.0, clients: int = 3, out_dir: Path | None = None,
              bench_duration: str = "2min") -> dict:
    """Run the measurements (about 3 × ``seconds`` of wall time, plus two `twin bench` runs of
    ``bench_duration`` simulated) and return the figures."""
    state_ep, commands_ep = f"tcp://127.0.0.1:{_free_port()}", f"tcp://127.0.0.1:{_free_port()}"
    twin_exe = Path(sys.executable).with_name("twin")
    rtf_bench = [_bench_rtf(twin_exe, hall_path, bench_duration)]
    out_dir = out_dir or Path("out") / "bench-bus"
    proc = subprocess.Popen([str(twin_exe), "serve", str(hall_path), "--speed", "max", "--state", state_ep,
                             "--commands", commands_ep, "--out", str(out_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        probe = TwinClient(state_ep, commands_ep, role="observer", name="bench-probe", topics=("heartbeat",))
        if not probe.connect(120.0):
            said = proc.stderr.read() if proc.stderr is not None and proc.poll() is not None else ""
            raise RuntimeError(f"the server did not answer: {said}")
        _rtf(probe, 1.0)  # warm-up: the first flow solves and caches
        rtf_alone = _rtf(probe, seconds)

        stop = threading.Event()
        stats: list[_Follower] = []

        def follow(k: int) -> None:
            c = TwinClient(state_ep, commands_ep, role="observer", name=f"bench-{k}")
            s = _Follower()
            try:
                c.connect(30.0)
                c.latency_s.clear()
                t0 = time.monotonic()
                while not stop.is_set():
                    changed = c.poll(0.05)
                    s.summaries += "summary" in changed
                    if "fields" in changed and c.fields is not None:
                        s.fields += 1
                        s.field_bytes += sum(a.nbytes for a in c.fields[1].values())
                s.wall_s = time.monotonic() - t0
                s.latency_s = list(c.latency_s)
                s.dropped = c.dropped
            finally:
                c.close()
                stats.append(s)

        threads = [threading.Thread(target=follow, args=(k,), daemon=True) for k in range(clients)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        rtf_clients = _rtf(probe, seconds)
        stop.set()
        for t in threads:
            t.join(30)

        joins = []
        for _ in range(5):
            t0 = time.monotonic()
            with TwinClient(state_ep, commands_ep, role="observer", name="bench-late") as late:
                if late.connect(30.0):
                    joins.append(time.monotonic() - t0)
        probe.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    rtf_bench.append(_bench_rtf(twin_exe, hall_path, bench_duration))
    bench_mean = statistics.mean(rtf_bench)

    # Each client's summary count includes a few per poll that only differ in seq; rates are per wall s.
    lat = np.array([x for s in stats for x in s.latency_s]) * 1e3
    summary_hz = statistics.mean(s.summaries / s.wall_s for s in stats) if stats else None
    fields_hz = statistics.mean(s.fields / s.wall_s for s in stats) if stats else None
    field_mb_s = statistics.mean(s.field_bytes / s.wall_s / 1e6 for s in stats) if stats else None
    return {
        "hall": str(hall_path),
        "rtf_no_clients": rtf_alone,
        f"rtf_{clients}_clients": rtf_clients,
        "rtf_ratio": rtf_clients / rtf_alone if rtf_alone else None,
        "rtf_bench": rtf_bench,  # `twin bench` before the server started and after it stopped
        "serve_bench_ratio": rtf_clients / bench_mean if bench_mean else None,
        "summary_hz_per_client": summary_hz,
        "summary_latency_ms": {"median": float(np.median(lat)) if lat.size else None,
                               "p95": float(np.percentile(lat, 95)) if lat.size else None,
                               "max": float(lat.max()) if lat.size else None, "samples": int(lat.size)},
        "fields_hz_per_client": fields_hz,
        "fields_mb_s_per_client": field_mb_s,
        "dropped_per_client": [s.dropped for s in stats],
        "late_join_s": {"median": statistics.median(joins) if joins else None, "max": max(joins) if joins else None,
                        "samples": len(joins)},
    }


def human(r: dict) -> str:
    n = next(k for k in r if k.startswith("rtf_") and k.endswith("_clients") and k != "rtf_no_clients")
    lat = r["summary_latency_ms"]
    return "\n".join([
        f"bus on {r['hall']} (twin serve --speed max, summaries 10 Hz, fields 2 Hz):",
        f"  real-time factor: {r['rtf_no_clients']:.1f} with no client, {r[n]:.1f} with {n.split('_')[1]} clients "
        f"(ratio {r['rtf_ratio']:.3f})",
        f"  against `twin bench` on the same hall ({r['rtf_bench'][0]:.1f} before, {r['rtf_bench'][1]:.1f} after): "
        f"serve with {n.split('_')[1]} clients / bench = {r['serve_bench_ratio']:.3f}",
        f"  summaries: {r['summary_hz_per_client']:.1f} Hz per client; latency step → client median "
        f"{lat['median']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms ({lat['samples']} states)",
        f"  fields: {r['fields_hz_per_client']:.2f} frames/s, {r['fields_mb_s_per_client']:.2f} MB/s per client",
        f"  late joiner holds the full state after {1e3 * r['late_join_s']['median']:.0f} ms "
        f"(median of {r['late_join_s']['samples']}, max {1e3 * r['late_join_s']['max']:.0f} ms)",
    ])
