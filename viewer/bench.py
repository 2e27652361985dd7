"""Benchmark of the viewer: `python -m viewer.bench [HALL] [--frames N] [--live-s S] [--json]`.

Two figures, both off screen (no display needed), on assets/halls/reference.toml by default:

1. **fps with everything updating**: every frame writes a new state into the scene (rack inlet
   colours, the horizontal slice, the isosurface, the HUD; the two states alternate so each frame
   really changes) and renders it. This is the worst case of the live window, where fields arrive
   at 2 Hz and most frames only re-render; the render-only rate is reported beside it.
2. **publication → first rendered frame**: a real `twin serve` (a separate process, paced at real
   time, as in use) publishes; the viewer ticks as its timer would and records, for every summary
   and fields message, the wall time from the server's ``wall_time`` stamp to the end of the first
   render that shows it (same host, same clock).

Benchmarks are not tests: this prints numbers, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from viewer.offscreen import use_offscreen

__all__ = ["bench_fps", "bench_latency", "main"]

REFERENCE = Path(__file__).resolve().parents[1] / "assets" / "halls" / "reference.toml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))] if v else float("nan")


def bench_fps(hall_path: Path, *, frames: int = 60, window_size: tuple[int, int] = (1280, 960)) -> dict:
    """Frames per second off screen with rack colours, slice, isosurface and HUD updated every frame."""
    use_offscreen(force=True)
    import numpy as np

    from viewer.app import LiveViewer
    from viewer.sources import open_file

    view_a = open_file(hall_path)

    class _Shifted:
        """The same state 3 K warmer (fields and inlets): a second state to alternate with."""

        def __init__(self, base, dt_k: float) -> None:
            self.hall, self.status = base.hall, "offline"
            s = json.loads(json.dumps(base.summary))
            s["racks"]["t_inlet_c"] = [t + dt_k for t in s["racks"]["t_inlet_c"]]
            s["clock"]["time_s"] = 1.0
            self.summary = s
            body, arrays = base.fields
            self.fields = (body, {**arrays, "t_c": (arrays["t_c"] + np.float32(dt_k)).astype(arrays["t_c"].dtype)})

    view_b = _Shifted(view_a, 3.0)
    app = LiveViewer(view_a, off_screen=True, window_size=window_size)
    scene, stage, plotter = app.scene, app.stage, app.plotter
    app.render()  # the first frame builds GPU resources: not part of the rate
    # Render only (the camera still; what most frames of the live window do between field messages).
    t0 = time.perf_counter()
    for _ in range(frames):
        plotter.render()
    render_only_s = (time.perf_counter() - t0) / frames
    # Everything updating, every frame.
    update_s, draw_s = [], []
    t0 = time.perf_counter()
    for i in range(frames):
        t1 = time.perf_counter()
        scene.update(view_b if i % 2 == 0 else view_a)
        stage.refresh()
        t2 = time.perf_counter()
        plotter.render()
        t3 = time.perf_counter()
        update_s.append(t2 - t1)
        draw_s.append(t3 - t2)
    total_s = time.perf_counter() - t0
    out = {
        "hall": scene.hall.name, "window": f"{window_size[0]}x{window_size[1]}",
        "render_window": plotter.render_window.GetClassName(),
        "cells": int(np.prod(scene.grid["shape_xyz"])), "racks": len(scene.rack_names),
        "iso_triangles": int(scene.meshes["iso"].n_cells), "frames": frames,
        "fps_updating": frames / total_s, "update_ms": 1e3 * statistics.median(update_s),
        "render_ms": 1e3 * statistics.median(draw_s), "fps_render_only": 1.0 / render_only_s,
    }
    app.close()
    return out


def bench_latency(hall_path: Path, *, duration_s: float = 15.0, window_size: tuple[int, int] = (1280, 960),
                  poll_ms: int = 50) -> dict:
    """Publication → first rendered frame, against a `twin serve` process paced at real time."""
    use_offscreen(force=True)
    from twin.bus.client import TwinClient
    from viewer.app import LiveViewer
    from viewer.sources import connect

    class _StampedClient(TwinClient):
        """Keeps the publication stamp of the newest message of each kind (measurement only)."""

        stamp: dict[str, float] = {}

        def _apply(self, msg, changed):  # noqa: ANN001
            super()._apply(msg, changed)
            if msg.kind in ("summary", "fields"):
                self.stamp[msg.kind] = msg.header.get("wall_time")

    p_state, p_cmd = _free_port(), _free_port()
    state, commands = f"tcp://127.0.0.1:{p_state}", f"tcp://127.0.0.1:{p_cmd}"
    out_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"viewer-bench-{os.getpid()}"
    cmd = [sys.executable, "-m", "twin.cli", "serve", str(hall_path), "--state", state, "--commands", commands,
           "--speed", "1", "--out", str(out_dir)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = connect(state, commands, timeout_s=60.0, client_class=_StampedClient)
        client.stamp = {}  # per instance
        app = LiveViewer(client, off_screen=True, window_size=window_size)
        lat: dict[str, list[float]] = {"summary": [], "fields": []}
        tick_s = []
        t_end = time.monotonic() + duration_s
        while time.monotonic() < t_end:
            t0 = time.perf_counter()
            before = dict(client.stamp)
            changed = app.tick()
            now = time.time()
            tick_s.append(time.perf_counter() - t0)
            for kind in ("summary", "fields"):
                if kind in changed and client.stamp.get(kind) and client.stamp.get(kind) != before.get(kind):
                    lat[kind].append(now - client.stamp[kind])
            # The window's timer fires every poll_ms; a tick that ran long delays the next one.
            time.sleep(max(0.0, poll_ms / 1e3 - (time.perf_counter() - t0)))
        app.close()
        client.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            server.kill()
    res = {"duration_s": duration_s, "poll_ms": poll_ms, "ticks": len(tick_s),
           "tick_ms_median": 1e3 * statistics.median(tick_s), "tick_ms_max": 1e3 * max(tick_s)}
    for kind, v in lat.items():
        res[f"{kind}_n"] = len(v)
        res[f"{kind}_to_frame_ms_median"] = 1e3 * statistics.median(v) if v else None
        res[f"{kind}_to_frame_ms_p95"] = 1e3 * _pct(v, 95) if v else None
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewer.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("hall", nargs="?", type=Path, default=REFERENCE)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--live-s", type=float, default=15.0, help="seconds of the live latency run (0: skip)")
    p.add_argument("--size", default="1280x960", help="window size WIDTHxHEIGHT (default 1280x960)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    res = {"fps": bench_fps(args.hall, frames=args.frames, window_size=size)}
    if args.live_s > 0:
        res["latency"] = bench_latency(args.hall, duration_s=args.live_s, window_size=size)
    if args.json:
        print(json.dumps(res))
        return 0
    f = res["fps"]
    print(f"{f['hall']}: {f['cells']:,} cells, {f['racks']} racks, {f['window']} off screen ({f['render_window']})")
    print(f"  updating every frame (racks, slice, isosurface of {f['iso_triangles']:,} triangles, HUD): "
          f"{f['fps_updating']:.1f} fps (update {f['update_ms']:.1f} ms + render {f['render_ms']:.1f} ms)")
    print(f"  render only: {f['fps_render_only']:.1f} fps")
    if "latency" in res:
        r = res["latency"]
        for kind in ("summary", "fields"):
            if r[f"{kind}_n"]:
                print(f"  {kind}: publication → first frame median {r[f'{kind}_to_frame_ms_median']:.0f} ms, "
                      f"p95 {r[f'{kind}_to_frame_ms_p95']:.0f} ms ({r[f'{kind}_n']} messages)")
            else:
                print(f"  {kind}: none received")
        print(f"  timer tick: median {r['tick_ms_median']:.1f} ms, max {r['tick_ms_max']:.0f} ms "
              f"(the window is unresponsive for at most a tick)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
