"""Write data/reference_hall.json and data/reference_summary.json: the bus's hall view and a summary of
reference.toml at its steady state, from the real server code (views.hall_info, views.summary_body),
floats rounded to 4 decimals. Run by hand after a change of what the bus sends:

    PYTHONPATH=. python -m tests.tui.make_reference_data

They are frozen, like data/hall.json, so that the floor map's snapshots do not move when the physics is
tuned; test_reference_fixture_matches_the_server checks that their keys are still the server's.
"""

from __future__ import annotations

import json
from pathlib import Path

from twin.bus.protocol import decode_json, encode_json
from twin.bus.views import hall_info, summary_body
from twin.model.load import bundled_hall
from twin.sim.twin import HallTwin

DATA = Path(__file__).parent / "data"
CLOCK = {"speed": 10.0, "max_speed": False, "paused": False, "dt_s": 1.0, "server": "fixture", "step_ms": 40.0,
         "training": False}


def _round(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, list):
        return [_round(v) for v in x]
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def main() -> None:
    twin = HallTwin(bundled_hall("reference"), control="embedded")
    state = twin.steady()
    twin.step(state)
    hall = decode_json(encode_json(hall_info(twin)))
    hall.update(path="assets/halls/reference.toml", toml="", sha256="fixture")
    summary = decode_json(encode_json(summary_body(twin, state, clock=CLOCK)))
    for name, body in (("reference_hall.json", hall), ("reference_summary.json", summary)):
        (DATA / name).write_text(json.dumps(_round(body), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
