"""Off-screen rendering without an X server, and the fixed look every render shares.

VTK picks its OpenGL window class when the first render window is created, from the environment
variable ``VTK_DEFAULT_OPENGL_WINDOW``; pyvista reads ``PYVISTA_OFF_SCREEN`` when it is imported. So
:func:`use_offscreen` must run before pyvista is imported (or at least before the first Plotter): the
render and bench code paths and the tests' conftest call it first thing.
"""

from __future__ import annotations

import os

__all__ = ["EGL_WINDOW", "OSMESA_WINDOW", "has_display", "make_theme", "use_offscreen"]

#: Mesa's EGL (libegl1 + libgl1-mesa-dri): hardware or llvmpipe, no X server.
EGL_WINDOW = "vtkEGLRenderWindow"
#: Mesa's OSMesa (libosmesa6): pure software; the fallback where EGL is missing.
OSMESA_WINDOW = "vtkOSOpenGLRenderWindow"


def has_display() -> bool:
    """Whether an on-screen window can be opened (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def use_offscreen(*, force: bool = False) -> None:
    """Render off screen when there is no display (or when ``force``): EGL unless the user chose.

    Only sets variables the user has not set, so ``VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow``
    in the environment selects OSMesa instead of EGL.
    """
    if force or not has_display():
        os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", _default_window())
        try:  # pyvista may already be imported (its own OFF_SCREEN flag was read at import)
            import sys

            pv = sys.modules.get("pyvista")
            if pv is not None:
                pv.OFF_SCREEN = True
        except Exception:  # pragma: no cover - best effort only
            pass


def _default_window() -> str:
    """EGL where Mesa's EGL library is installed, else OSMesa."""
    import ctypes.util

    return EGL_WINDOW if ctypes.util.find_library("EGL") else OSMESA_WINDOW


def make_theme():
    """The one look of every view: white background, fixed fonts and lighting, no anti-aliasing.

    Fixed so that off-screen renders are reproducible and can be compared with stored images; nothing
    here depends on the user's pyvista configuration.
    """
    import pyvista as pv

    theme = pv.themes.DocumentTheme()
    theme.background = "white"
    theme.font.color = "black"
    theme.font.family = "arial"
    theme.font.size = 12
    theme.font.title_size = 12
    theme.font.label_size = 11
    theme.window_size = [1024, 768]
    theme.anti_aliasing = None
    theme.multi_samples = 0  # MSAA costs a software (llvmpipe) renderer more than all the geometry
    theme.smooth_shading = False
    theme.lighting = True
    theme.allow_empty_mesh = True  # the isosurface is empty when no air is above its temperature
    theme.nan_color = "lightgrey"
    theme.show_scalar_bar = False
    return theme
