"""validation/tile_flows.py: a hall without CFD tile flows is refused in one line."""

from __future__ import annotations

import pytest

from validation.tile_flows import main


def test_a_hall_without_cfd_tile_flows_is_one_line_naming_the_halls_that_have_them(capsys):
    """open-row has no raised floor, so its CFD results hold no tiles.csv: exit 2 with one line that names the
    missing file and the halls that can be asked for, not a FileNotFoundError traceback."""
    with pytest.raises(SystemExit) as exc:
        main(["open-row"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "open-row" in err[0] and "tiles.csv" in err[0] and "aisle-pair" in err[0], err
