"""Where the viewer's data comes from: a live twin on the bus, or a hall file or checkpoint read offline.

Both give an object with ``hall``, ``summary`` and ``fields`` as the bus carries them, so the viewer
has one drawing path; the solver is reached only through :mod:`twin.bus` (client or offline view).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from twin.bus import protocol as P
from twin.model.load import HallModel, parse_hall

__all__ = ["ViewerError", "commands_endpoint_for", "connect", "hall_from_view", "open_file"]


class ViewerError(ValueError):
    """A user error (bad endpoint, no twin answering, unknown view): one line, exit status 2."""


def commands_endpoint_for(state_endpoint: str) -> str:
    """The bus's :func:`twin.bus.protocol.commands_endpoint_for`, its refusal a :class:`ViewerError`."""
    try:
        return P.commands_endpoint_for(state_endpoint)
    except ValueError as exc:
        raise ViewerError(str(exc)) from None


def connect(state: str, commands: str | None = None, *, keys_dir: Path | None = None, key_name: str = "observer",
            timeout_s: float = 5.0, topics: tuple[str, ...] = ("summary", "fields", "event", "heartbeat"),
            client_class=None):
    """A live :class:`~twin.bus.client.TwinClient` holding its first snapshot (ViewerError if none came).

    ``client_class``: a TwinClient subclass (the benchmark's, which keeps publication stamps).
    """
    from twin.bus.client import TwinClient

    TwinClient = client_class or TwinClient  # noqa: N806

    keys = None
    if keys_dir is not None:
        from twin.bus.security import load_client_keys

        keys = load_client_keys(Path(keys_dir) / f"{key_name}.key_secret", Path(keys_dir) / "server.key")
    commands = commands or commands_endpoint_for(state)
    try:
        client = TwinClient(state, commands, role="observer", name="viewer", keys=keys, topics=topics)
    except Exception as exc:  # zmq.ZMQError: a malformed endpoint
        raise ViewerError(f"--connect {state} / --commands {commands}: {exc}") from None
    if not client.connect(timeout_s):
        client.close()
        hint = ("start one with `twin serve HALL`, or, if it was started with --keys, pass --keys DIR "
                "(the folder `twin keys` made) and --key-name NAME" if keys is None else
                f"start one with `twin serve HALL`, or check that the key {key_name!r} is listed in the "
                f"server's clients folder and that DIR/server.key is the server's")
        raise ViewerError(f"no twin answered at {state} (commands {commands}) within {timeout_s:g} s; {hint}")
    if client.hall is None or not client.hall.get("toml"):
        client.close()
        raise ViewerError(f"the twin at {state} sent no hall file text: the viewer needs it to draw the hall")
    return client


def open_file(path: Path, *, airflow: str | None = None):
    """The offline view of a hall ``.toml`` (its steady state with ``airflow``'s model, default the
    hall's), a checkpoint ``.npz`` (its saved state) or a `twin run` output folder (its last field
    snapshot, see :func:`twin.bus.offline.run_view`)."""
    from twin.bus.offline import offline_view

    path = Path(path)
    if not path.exists():
        raise ViewerError(f"{path}: no such file (give a hall .toml, a checkpoint .npz or a `twin run` folder)")
    if path.is_dir():
        from twin.bus.offline import is_run_folder, run_view

        if not is_run_folder(path):
            raise ViewerError(f"{path}: a folder without summary.json is not the output of `twin run`")
        return run_view(path)
    if path.suffix not in (".toml", ".npz"):
        raise ViewerError(f"{path}: not a hall .toml, a checkpoint .npz or a `twin run` folder")
    return offline_view(path, airflow=airflow if path.suffix == ".toml" else None)


def hall_from_view(view) -> HallModel:
    """The hall model from the hall file text the twin sent (so meshes and aisles match the server's)."""
    info = view.hall or {}
    text = info.get("toml")
    if not text:
        raise ViewerError("the twin sent no hall file text: the viewer needs it to draw the hall")
    source = Path(info["path"]) if info.get("path") else None
    return parse_hall(tomllib.loads(text), source=source)
