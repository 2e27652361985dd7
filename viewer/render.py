"""Off-screen renders: one view to a PNG, or the walkthrough as numbered PNG frames (and a video).

For reports and CI: no display is needed (:func:`viewer.offscreen.use_offscreen` chooses EGL, or
OSMesa). The picture is the live window's, drawn by the same :class:`viewer.stage.Stage`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from viewer.offscreen import make_theme, use_offscreen

__all__ = ["DEFAULT_SIZE", "make_stage", "render_image", "render_walkthrough", "still_frame"]

DEFAULT_SIZE = (1280, 960)


def make_stage(view, hall, options, *, window_size: tuple[int, int] = DEFAULT_SIZE):
    """An off-screen plotter with the scene of ``view`` on it: (stage, plotter)."""
    use_offscreen(force=True)
    import pyvista as pv

    from viewer.scene import build_scene
    from viewer.stage import Stage

    plotter = pv.Plotter(off_screen=True, theme=make_theme(), window_size=list(window_size))
    scene = build_scene(hall, view, options)
    stage = Stage(scene, plotter)
    stage.set_hud(getattr(view, "status", "offline"))
    return stage, plotter


def render_image(view, hall, out: Path, *, view_name: str = "overview", options=None,
                 window_size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """Render one named view (overview, top, aisle-N) of ``view`` to the PNG ``out``."""
    from viewer.cameras import named_pose
    from viewer.scene import SceneOptions, find_aisles
    from viewer.sources import ViewerError

    options = options or SceneOptions()
    aisles = find_aisles(hall)
    try:
        pose = named_pose(view_name, hall, aisles, aspect=window_size[0] / window_size[1])
    except ValueError as exc:
        raise ViewerError(str(exc)) from None
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ViewerError(f"--out {out}: give a .png file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage, plotter = make_stage(view, hall, options, window_size=window_size)
    try:
        stage.view_name = view_name
        stage.refresh()
        stage.set_camera(pose)
        stage.screenshot(out)
    finally:
        plotter.close()
    return out


TITLE_S = 2.5  # the title card's length in the video
WALK_SIZE = (1920, 1080)  # the video: full HD
WALK_FPS = 30.0


def title_text(view, hall, tour) -> str:
    """The title card: the hall, the state's time and what the walk shows."""
    from viewer.hud import format_sim_time

    clock = (getattr(view, "summary", None) or {}).get("clock") or {}
    t = clock.get("time_s")
    status = getattr(view, "status", "offline")
    when = f"t = {format_sim_time(t)}" + (" (steady state)" if status == "offline" and not t else "")
    cold = sum(1 for name in {n for _, n in tour.stops if n.startswith("aisle")})
    racks = [n for _, n in tour.stops if n.startswith("rack ")]
    lines = [hall.name, when, f"a guided walk through {cold} aisle{'s' if cold != 1 else ''}, cold aisles first"]
    if racks:
        lines.append(f"stopping at the hottest inlets: {', '.join(r[5:] for r in racks)}")
    return "\n".join(lines)


def still_frame(tour) -> int:
    """The walk's still (README, thumbnails): two seconds into the first aisle, looking down it."""
    first = next((f for f, what in tour.stops if what.startswith("aisle")), 0)
    return min(first + int(2 * tour.fps), len(tour) - 1)


def render_walkthrough(view, hall, out_dir: Path, *, options=None, fps: float = WALK_FPS,
                       pace_m_s: float | None = None, window_size: tuple[int, int] = WALK_SIZE,
                       frames: bool = False, video: bool = True, progress=None) -> list[Path]:
    """The guided walk (:func:`viewer.tour.guided_tour`) as ``walkthrough.mp4`` in ``out_dir``: a title
    card, then one frame per pose, with the HUD, caption and minimap; and ``walkthrough.png``, its still
    (:func:`still_frame`). ``frames``: also numbered PNGs. Returns the paths written, the video last."""
    from viewer.scene import SceneOptions, find_aisles
    from viewer.sources import ViewerError
    from viewer.tour import WALK_PACE_M_S, guided_tour

    options = options or SceneOptions(show_slice=False)
    has_ffmpeg = all(importlib.util.find_spec(m) is not None for m in ("imageio", "imageio_ffmpeg"))
    if video and not has_ffmpeg:
        raise ViewerError("the walkthrough video needs imageio and imageio-ffmpeg: pip install 'datahall-twin[video]' "
                          "(or --frames --no-video for PNG frames only)")
    if not (video or frames):
        raise ViewerError("--no-video without --frames would write nothing")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ViewerError(f"--out {out_dir}: is a file; the walkthrough needs a folder")
    aisles = find_aisles(hall)
    if not aisles:
        raise ViewerError(f"{hall.name}: no aisles to walk through (the hall has no rows with room beside them)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("frame-*.png"):  # a shorter walk must not leave frames of a longer one
        old.unlink()
    stage, plotter = make_stage(view, hall, options, window_size=window_size)
    tour = guided_tour(hall, aisles, stage.scene.hot, fps=fps, pace_m_s=pace_m_s or WALK_PACE_M_S)
    stage.view_name = "walk"
    stage.minimap.show_route(tour.path_xy)
    stage.refresh()
    writer = None
    if video:
        import imageio.v2 as imageio

        # H.264 in yuv420p (what every player opens) wants even sides; 1920x1080 is.
        writer = imageio.get_writer(out_dir / "walkthrough.mp4", fps=fps, codec="libx264", quality=7,
                                    macro_block_size=2, pixelformat="yuv420p")
    paths: list[Path] = []
    still = still_frame(tour)
    n_title = int(round(TITLE_S * fps)) if video else 0
    total = n_title + len(tour)
    try:
        if n_title:
            stage.set_camera(tour.poses[0])
            stage.show_title(title_text(view, hall, tour))
            img = stage.screenshot()
            for i in range(n_title):
                writer.append_data(img)
                if progress is not None:
                    progress(i + 1, total)
            stage.show_title(None)
        for i in range(len(tour)):
            stage.show_tour_frame(tour, i)
            path = out_dir / f"frame-{i:05d}.png" if frames else None
            img = stage.screenshot(path)
            if path is not None:
                paths.append(path)
            if i == still:
                stage.plotter.screenshot(out_dir / "walkthrough.png")
                paths.append(out_dir / "walkthrough.png")
            if writer is not None:
                writer.append_data(img)
            if progress is not None:
                progress(n_title + i + 1, total)
    finally:
        plotter.close()
        if writer is not None:
            writer.close()
    if writer is not None:
        paths.append(out_dir / "walkthrough.mp4")
    return paths
