"""Where the bundled halls, meshes and scenarios are: the wheel's copy, else the checkout's."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["ASSETS_DIR"]


def _assets_dir() -> Path:
    """The bundled halls, meshes and scenarios: ``twin/_assets`` in an installed wheel (setup.py maps
    the repository's ``assets/`` there), else the checkout's ``assets/`` (editable installs, PYTHONPATH)."""
    installed = resources.files("twin") / "_assets"
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "assets"


ASSETS_DIR = _assets_dir()
