"""The bus's view of a twin without a server: for renders of a hall file or a checkpoint.

:class:`OfflineView` holds exactly what a :class:`twin.bus.client.TwinClient` holds after its snapshot
(``hall``, ``summary``, ``fields``), built from the same functions the server publishes with, so a
viewer draws a file and a live twin through one code path and never touches the solver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.bus import protocol as P
from twin.bus.views import field_arrays, hall_info, summary_body
from twin.model.load import HallError

__all__ = ["NoSteadyView", "OfflineView", "offline_view"]


class NoSteadyView(HallError):
    """A hall file whose steady state does not exist (more heat than cooling): nothing to draw."""


@dataclass
class OfflineView:
    hall: dict
    summary: dict
    fields: tuple[dict, dict[str, np.ndarray]]
    status: str = "offline"


def offline_view(source: str | Path, *, hall_path: str | Path | None = None, precision: str = "float32",
                 control: str = "embedded", airflow: str | None = None) -> OfflineView:
    """The view of a hall file (its steady state) or of a checkpoint (its saved state).

    ``source``: a hall ``.toml`` or a checkpoint ``.npz``; for a checkpoint the hall file is the one
    it names, unless ``hall_path`` is given. ``airflow``: the model of a hall's steady state (default:
    the hall file's); a checkpoint keeps its own. User errors raise :class:`HallError` (one line; a bad
    checkpoint too) or :class:`NoSteadyView`, so that callers need nothing from the solver's packages.
    """
    from twin.sim.checkpoint import CheckpointError
    from twin.sim.twin import NoSteadyState

    try:
        return _offline_view(Path(source), hall_path=hall_path, precision=precision, control=control,
                             airflow=airflow)
    except CheckpointError as exc:
        raise HallError(str(exc)) from None
    except NoSteadyState as exc:
        raise NoSteadyView(f"{source}: {exc}") from None


def _offline_view(source: Path, *, hall_path, precision: str, control: str, airflow: str | None) -> OfflineView:
    from twin.model.load import load_hall
    from twin.sim.checkpoint import load_checkpoint, read_checkpoint_meta
    from twin.sim.twin import HallTwin

    if source.suffix == ".npz":
        meta = read_checkpoint_meta(source)
        hall = load_hall(hall_path or meta["hall_path"])
        twin = HallTwin(hall, dt_s=float(meta["dt_s"]), control=meta.get("control", control),
                        airflow=meta.get("airflow", "potential"))
        state = load_checkpoint(source, twin)
    else:
        hall = load_hall(source)
        twin = HallTwin(hall, control=control, airflow=airflow)
        state = twin.steady(twin.initial_state())
        if twin.power is not None:
            # The plant and the load flow for this state (chillers at their COP, pumps, the chain's
            # losses), so that cooling power and PUE are the steady state's, not the fans' alone.
            twin.power.after_step(state, twin.dt_s, twin.crah_fan_power_w(state))
    twin.operator(state)  # the flow field of the state
    clock = {"speed": None, "max_speed": False, "paused": True, "dt_s": twin.dt_s, "server": None,
             "step_ms": None, "training": False}
    summary = P.decode_json(P.encode_json(summary_body(twin, state, clock=clock)))
    body, arrays = field_arrays(twin, state, precision=precision)
    return OfflineView(hall=P.decode_json(P.encode_json(hall_info(twin))), summary=summary,
                       fields=(P.decode_json(P.encode_json(body)), arrays))
