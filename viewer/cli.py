"""`twin view` and `twin render`: argument parsing and wiring for twin/cli.py.

twin/cli.py calls :func:`add_parsers` with its subparsers and hands ``view`` / ``render`` to
:func:`run_view` / :func:`run_render`. User errors print one line naming what is wrong and return 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from twin.argtypes import number_in

__all__ = ["add_parsers", "run_render", "run_view"]

_DEFAULT_STATE = "tcp://127.0.0.1:5556"  # twin.bus.protocol.DEFAULT_STATE (not imported: keeps --help fast)


_ISO_DEFAULT_C = 27.0  # the top of ASHRAE's recommended band


def _iso(text: str) -> float:
    """--iso: a temperature, or 'none' (NaN: hidden). Not given at all is None: the view decides."""
    if text.strip().lower() == "none":
        return math.nan
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--iso {text!r}: give a temperature in °C like 27, or none") from None
    if not (-20.0 <= v <= 100.0):
        raise argparse.ArgumentTypeError(f"--iso {text!r}: must be within -20 … 100 °C")
    return v


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: give WIDTHxHEIGHT in pixels, e.g. 1280x960") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"--size {text!r}: each side must be within 64 … 8192 pixels")
    return w, h


_count = number_in(0, 20, integer=True, what="a whole number from 0 to 20")


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return v


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", type=Path, default=None,
                   help="a hall .toml (its steady state), a checkpoint .npz or a `twin run` output folder "
                        "(its last fields), instead of a live twin")
    p.add_argument("--connect", metavar="ENDPOINT", default=None,
                   help=f"a running twin's state endpoint (`twin serve`; default {_DEFAULT_STATE} for view)")
    p.add_argument("--commands", metavar="ENDPOINT", default=None,
                   help="its commands endpoint (default: the state port + 1, as `twin serve` binds them)")
    p.add_argument("--keys", type=Path, default=None, metavar="DIR",
                   help="CURVE key folder from `twin keys` (for a server that requires keys)")
    p.add_argument("--key-name", default="observer", help="the client key to use from --keys (default observer)")
    p.add_argument("--timeout", type=_positive, default=5.0, help="seconds to wait for the twin (default 5)")
    p.add_argument("--airflow", choices=("potential", "momentum"), default=None,
                   help="airflow model of a hall file's steady state (default: the hall's [airflow] model)")
    p.add_argument("--view", default="overview", help="overview, top or aisle-N (N from 1, west to east / "
                                                       "south to north; default overview)")
    p.add_argument("--slice-height", type=float, default=None, metavar="M",
                   help="height of the horizontal temperature slice, m (default 1.5; shown in overview and top)")
    p.add_argument("--no-slice", action="store_true", help="hide the horizontal slice")
    p.add_argument("--section", default=None, metavar="AISLE",
                   help="vertical section across aisle-N, or none (default: none in overview and top; in "
                        "aisle views, across the viewed aisle just past its far end)")
    p.add_argument("--iso", type=_iso, default=None, metavar="C",
                   help="isosurface temperature, °C, or none (default 27, the top of ASHRAE's recommended band)")
    p.add_argument("--flow", choices=("none", "arrows", "streamlines"), default="none",
                   help="draw the airflow on the slice (default none)")
    p.add_argument("--air-scale", choices=("neutral", "ashrae"), default="neutral",
                   help="colours of the air (slices, sections, exhausts): neutral, a sequential scale that does "
                        "not call a normal hot aisle a warning (default), or ashrae, the inlets' scale")
    p.add_argument("--hot", type=_count, default=3, metavar="N",
                   help="mark and name the N hottest rack inlets (default 3; 0: none)")
    p.add_argument("--aisle-sections", choices=("auto", "on", "off"), default="auto",
                   help="translucent sections along the aisles' centre planes (auto: in aisle views and the walk)")


def add_parsers(subparsers) -> None:
    """Add ``view`` and ``render`` to twin's subparsers."""
    v = subparsers.add_parser("view", help="3D window of a live twin (or of a hall/checkpoint file)")
    _add_common(v)
    v.add_argument("--size", type=_size, default=(1024, 768), help="window size, WIDTHxHEIGHT (default 1024x768)")

    r = subparsers.add_parser("render", help="off-screen render of a hall, checkpoint or live twin to PNG")
    _add_common(r)
    r.add_argument("--out", type=Path, required=True,
                   help="the PNG to write (with --walkthrough: a folder for walkthrough.mp4)")
    r.add_argument("--size", type=_size, default=None, help="image size, WIDTHxHEIGHT "
                                                            "(default 1280x960; walkthrough 1920x1080)")
    r.add_argument("--walkthrough", action="store_true",
                   help="the guided walk (cold aisles, then hot aisles, stopping at the hottest racks) as "
                        "walkthrough.mp4 with a title card (needs the video extra: imageio, imageio-ffmpeg)")
    r.add_argument("--pace", type=_positive, default=None, metavar="M/S",
                   help="walkthrough: walking pace, m/s (default 1.2)")
    r.add_argument("--frames", action="store_true", help="walkthrough: also write numbered PNG frames")
    r.add_argument("--no-video", action="store_true", help="walkthrough: PNG frames only (with --frames)")
    r.add_argument("--fps", type=_positive, default=30.0, help="walkthrough video frame rate (default 30)")


def _options(args: argparse.Namespace, aisles, hall=None) -> tuple[object, set[str]]:
    """SceneOptions from the flags, and the names of those the user set (view presets keep them)."""
    from viewer.scene import SceneOptions
    from viewer.sources import ViewerError

    common = {"flow": args.flow, "air_scale": args.air_scale, "hot_racks": args.hot}
    if args.iso is None:  # not given: 27 °C, except where the view says otherwise (the walk)
        opts, explicit = SceneOptions(iso_c=_ISO_DEFAULT_C, **common), {"flow"}
    else:
        opts = SceneOptions(iso_c=None if math.isnan(args.iso) else args.iso, **common)
        explicit = {"iso_c", "flow"}
    if args.aisle_sections != "auto":
        opts.aisle_sections = args.aisle_sections == "on"
        explicit.add("aisle_sections")
    if args.slice_height is not None and hall is not None:
        lo_m, hi_m = -hall.plenum_depth_m, hall.spec.hall.size_m[2]
        if not lo_m < args.slice_height < hi_m:
            raise ViewerError(f"--slice-height {args.slice_height:g} m: must lie inside the room, between "
                              f"{lo_m:g} m (plenum floor) and {hi_m:g} m (ceiling)")
    if args.slice_height is not None:
        opts.slice_height_m = args.slice_height
        opts.show_slice = True
        explicit |= {"show_slice", "slice_height_m"}
    if args.no_slice:
        opts.show_slice = False
        explicit.add("show_slice")
    if args.section is not None:
        explicit.add("vslice_aisle")
        if args.section.lower() != "none":
            names = [a.name for a in aisles]
            if args.section not in names:
                raise ViewerError(f"--section {args.section!r}: use one of {', '.join(names) or '(no aisles)'} "
                                  f"or none")
            opts.vslice_aisle = names.index(args.section)
    return opts, explicit


def _open(args: argparse.Namespace, *, live_default: bool):
    """(view, hall) from the source file or the live twin."""
    from viewer.sources import ViewerError, connect, hall_from_view, open_file

    if args.source is not None and args.connect is not None:
        raise ViewerError("give a file or --connect, not both")
    if args.source is not None:
        view = open_file(args.source, airflow=args.airflow)
    elif args.connect is not None or live_default:
        view = connect(args.connect or _DEFAULT_STATE, args.commands, keys_dir=args.keys, key_name=args.key_name,
                       timeout_s=args.timeout)
    else:
        raise ViewerError("give a hall .toml, a checkpoint .npz, a `twin run` folder or --connect ENDPOINT")
    return view, hall_from_view(view)


def _run(command: str, fn, args: argparse.Namespace) -> int:
    """Run ``fn(args)``, turning user errors into one line and exit status 2 (3: no steady state)."""
    from twin.bus.offline import NoSteadyView
    from twin.bus.security import SecurityError
    from twin.model.load import HallError
    from viewer.sources import ViewerError

    try:
        return fn(args)
    except NoSteadyView as exc:
        print(f"twin {command}: error: {exc}", file=sys.stderr)
        return 3
    except (ViewerError, HallError, SecurityError, OSError) as exc:
        print(f"twin {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_render(args: argparse.Namespace) -> int:
    """`twin render`: one view to a PNG, or the walkthrough's frames."""
    from viewer.offscreen import use_offscreen

    use_offscreen(force=True)  # before pyvista makes its first window

    def go(args: argparse.Namespace) -> int:
        from viewer.cameras import view_defaults
        from viewer.render import DEFAULT_SIZE, render_image, render_walkthrough
        from viewer.scene import find_aisles
        from viewer.sources import ViewerError

        if not args.walkthrough and args.out.suffix.lower() != ".png":  # before minutes of solving
            raise ViewerError(f"--out {args.out}: give a .png file name (or --walkthrough and a folder)")
        view, hall = _open(args, live_default=False)
        try:
            aisles = find_aisles(hall)
            opts, explicit = _options(args, aisles, hall)
            if args.walkthrough:
                view_defaults("walk", aisles, opts, explicit=explicit, hall=hall)

                def progress(i: int, n: int) -> None:
                    if sys.stderr.isatty():
                        print(f"\rtwin render: frame {i}/{n}", end="" if i < n else "\n", file=sys.stderr)

                paths = render_walkthrough(view, hall, args.out, options=opts, fps=args.fps, pace_m_s=args.pace,
                                           window_size=args.size or (1920, 1080), frames=args.frames,
                                           video=not args.no_video, progress=progress)
                frames = [p for p in paths if p.name.startswith("frame-")]
                said = [f"{len(frames)} frames to {args.out}/frame-*.png"] if frames else []
                if paths and paths[-1].suffix == ".mp4":
                    said.append(str(paths[-1]))
                print("wrote " + " and ".join(said))
            else:
                view_defaults(args.view, aisles, opts, explicit=explicit)
                path = render_image(view, hall, args.out, view_name=args.view, options=opts,
                                    window_size=args.size or DEFAULT_SIZE)
                print(f"wrote {path}")
        finally:
            close = getattr(view, "close", None)
            if close is not None:
                close()
        return 0

    return _run("render", go, args)


def run_view(args: argparse.Namespace) -> int:
    """`twin view`: the live window (a file's state when a file is given)."""
    from viewer.offscreen import has_display

    def go(args: argparse.Namespace) -> int:
        from viewer.sources import ViewerError

        if not has_display():
            raise ViewerError("no display (DISPLAY/WAYLAND_DISPLAY unset): use `twin render … --out FILE.png` "
                              "for off-screen pictures")
        from viewer.app import LiveViewer
        from viewer.cameras import named_pose
        from viewer.scene import find_aisles

        view, hall = _open(args, live_default=True)
        try:
            aisles = find_aisles(hall)
            opts, explicit = _options(args, aisles, hall)
            try:
                named_pose(args.view, hall, aisles)
            except ValueError as exc:
                raise ViewerError(str(exc)) from None
            app = LiveViewer(view, options=opts, view=args.view, window_size=args.size, explicit=explicit)
            app.run()
        finally:
            close = getattr(view, "close", None)
            if close is not None:
                close()
        return 0

    return _run("view", go, args)
