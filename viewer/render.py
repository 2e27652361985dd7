"""Off-screen renders: one view to a PNG, or the walkthrough as numbered PNG frames (and a video).

For reports and CI: no display is needed (:func:`viewer.offscreen.use_offscreen` chooses EGL, or
OSMesa). The picture is the live window's, drawn by the same :class:`viewer.stage.Stage`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from viewer.offscreen import make_theme, use_offscreen

__all__ = ["DEFAULT_SIZE", "make_stage", "render_image", "render_walkthrough"]

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


def render_walkthrough(view, hall, out_dir: Path, *, options=None, step_m: float = 0.5, fps: float = 10.0,
                       window_size: tuple[int, int] = (960, 720), video: bool | None = None,
                       progress=None) -> list[Path]:
    """The walk through every aisle as ``frame-00000.png`` … in ``out_dir``, and ``walkthrough.mp4``
    when imageio-ffmpeg is installed (``video=None``: when it is; True: required). Returns the paths
    written, the video last."""
    from viewer.cameras import walkthrough_poses
    from viewer.scene import SceneOptions, find_aisles
    from viewer.sources import ViewerError

    options = options or SceneOptions(show_slice=False)
    poses = walkthrough_poses(find_aisles(hall), hall, step_m=step_m)
    if not poses:
        raise ViewerError(f"{hall.name}: no aisles to walk through (the hall has no rows with room beside them)")
    has_ffmpeg = all(importlib.util.find_spec(m) is not None for m in ("imageio", "imageio_ffmpeg"))
    if video and not has_ffmpeg:
        raise ViewerError("a video needs imageio and imageio-ffmpeg: pip install imageio imageio-ffmpeg "
                          "(the PNG frames need neither)")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ViewerError(f"--out {out_dir}: is a file; the walkthrough needs a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("frame-*.png"):  # a shorter walk must not leave frames of a longer one
        old.unlink()
    writer = None
    if video if video is not None else has_ffmpeg:
        import imageio.v2 as imageio

        writer = imageio.get_writer(out_dir / "walkthrough.mp4", fps=fps, macro_block_size=8)
    stage, plotter = make_stage(view, hall, options, window_size=window_size)
    paths = []
    try:
        for i, pose in enumerate(poses):
            stage.set_camera(pose)
            path = out_dir / f"frame-{i:05d}.png"
            img = stage.screenshot(path)
            paths.append(path)
            if writer is not None:
                writer.append_data(img)
            if progress is not None:
                progress(i + 1, len(poses))
    finally:
        plotter.close()
        if writer is not None:
            writer.close()
    if writer is not None:
        paths.append(out_dir / "walkthrough.mp4")
    return paths
