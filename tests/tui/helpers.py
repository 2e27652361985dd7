"""Helpers of the console's tests: a console connected to a fake twin, waiting, reading the screen."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget

from tests.tui.fake_twin import FakeTwin
from tui.app import ConsoleApp

__all__ = ["console_for", "plain", "row_text", "until"]


def console_for(fake: FakeTwin, *, role: str = "operator") -> ConsoleApp:
    """A console connected to ``fake`` through the real bus client."""
    from twin.bus.client import TwinClient

    def client() -> TwinClient:
        return TwinClient(fake.state_endpoint, fake.commands_endpoint, role=role, name="console",
                          topics=("summary", "event", "heartbeat"), snapshot_timeout_s=0.5)

    return ConsoleApp(client, role=role, ui_interval_s=0.05)


async def until(pilot: Pilot, condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Let the app run until ``condition()`` holds; AssertionError naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await pilot.pause(0.02)


def plain(widget: Widget) -> str:
    """The text a Static shows, as plain text at the widget's width."""
    console = Console(width=max(widget.size.width, 40), record=True, file=None, color_system=None,
                      force_terminal=False)
    with console.capture() as cap:
        console.print(widget.content)
    return cap.get()


def row_text(table, key: str) -> list[str]:
    """The cells of a DataTable row, as plain strings."""
    return [getattr(c, "plain", str(c)) for c in table.get_row(key)]
