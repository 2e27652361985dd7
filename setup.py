"""Packaging beyond pyproject.toml: the top-level assets/ folder ships inside the wheel as twin/_assets.

assets/ stays where the repository's layout puts it (the source of truth, edited in place); setuptools
maps the package ``twin._assets`` onto it, so a wheel carries the bundled halls, meshes and scenarios
the JSON Schemas and the Grafana dashboard (and the scripts that made them) and :data:`twin.model.load.ASSETS_DIR` finds them through
importlib.resources. pyproject.toml cannot add a mapped package to the packages it finds, hence this file.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

ASSET_KINDS = sorted(p.name for p in Path(__file__).parent.joinpath("assets").iterdir() if p.is_dir())

setup(
    packages=[*find_namespace_packages(include=["twin*", "viewer*", "tui*"]),
              "twin._assets", *(f"twin._assets.{kind}" for kind in ASSET_KINDS)],
    package_dir={"twin._assets": "assets"},
    package_data={"tui": ["*.tcss"], **{f"twin._assets.{kind}": ["*.toml", "*.glb", "*.json"] for kind in ASSET_KINDS}},
)
