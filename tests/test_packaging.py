"""The wheel carries what the twin needs at run time: the bundled halls, meshes and scenarios."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from twin.model.load import ASSETS_DIR, HallError, bundled_hall_names, hall_path

REPO = Path(__file__).resolve().parents[1]


def test_bare_names_are_bundled_halls(tmp_path, monkeypatch):
    """`reference` is the bundled hall; a path, a .toml name or an existing file is taken as given."""
    monkeypatch.chdir(tmp_path)
    assert bundled_hall_names() == sorted(p.stem for p in (REPO / "assets" / "halls").glob("*.toml"))
    assert hall_path("reference") == ASSETS_DIR / "halls" / "reference.toml"
    assert hall_path("reference.toml") == Path("reference.toml")
    assert hall_path("./reference") == Path("reference")
    (tmp_path / "tiny").write_text("", encoding="utf-8")
    assert hall_path("tiny") == Path("tiny")  # a file here wins over the bundled hall


def test_an_unknown_name_lists_the_bundled_halls(tmp_path, monkeypatch):
    """A bare name that is neither a file nor a bundled hall: one line listing what is bundled."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HallError) as info:
        hall_path("refrence")
    message = str(info.value)
    assert "\n" not in message and message.startswith("refrence: no such hall file")
    assert "bundled halls: large, reference, tiny" in message


def test_cli_resolves_bundled_names(tmp_path, monkeypatch, capsys):
    """`twin validate tiny` from any folder validates the bundled hall; a typo exits 2 with the list."""
    from twin.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["validate", "tiny", "--json"]) == 0
    assert '"hall": "Tiny test hall"' in capsys.readouterr().out
    assert main(["validate", "tiyn"]) == 2
    assert "bundled halls: large, reference, tiny" in capsys.readouterr().err


def _dependency_dirs() -> list[str]:
    """Where this interpreter finds the twin's dependencies: its site-packages and any other sys.path
    folder (PYTHONPATH) that is not the repository itself."""
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dirs += [p for p in sys.path if p and Path(p).is_dir() and Path(p).resolve() != REPO
             and not Path(p).resolve().is_relative_to(Path(sysconfig.get_paths()["stdlib"]).resolve())]
    return list(dict.fromkeys(dirs))


@pytest.mark.slow
def test_wheel_ships_the_assets(tmp_path):
    """A wheel built from the repo, installed in a fresh venv (dependencies borrowed through a .pth),
    runs `twin validate reference` from a folder outside the repo with the assets it carries."""
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   cwd=REPO, env=env, check=True, timeout=120)
    (wheel,) = wheels.glob("datahall_twin-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   env=env, check=True, timeout=120)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_borrowed_dependencies.pth").write_text("\n".join(_dependency_dirs()) + "\n", encoding="utf-8")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run([str(python), "-c", "import twin.model.load as m; print(m.__file__); print(m.ASSETS_DIR)"],
                           cwd=outside, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(site), where  # the wheel's twin, not the checkout's
    assert Path(where[1]) == site / "twin" / "_assets", where
    ok = subprocess.run([str(venv / "bin" / "twin"), "validate", "reference"], cwd=outside, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(str(site / "twin" / "_assets" / "halls" / "reference.toml")) and ": ok (" in ok.stdout
    # The schema the bundled halls' `#:schema ../schemas/hall.schema.json` header points at ships beside them.
    assert (site / "twin" / "_assets" / "schemas" / "hall.schema.json").is_file()
    bad = subprocess.run([str(venv / "bin" / "twin"), "validate", "refrence"], cwd=outside, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "bundled halls: large, reference, tiny" in bad.stderr, bad.stderr
    assert time.monotonic() - started < 60
