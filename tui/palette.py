"""Colours of the console, after ISA-101: calm greys for what is normal, colour only for what is not.

An operator scanning a screen of grey numbers sees the one amber or red value at once; a screen where
everything is coloured hides it. So normal values, running units and "ok" statuses are plain text,
and colour is kept for: abnormal values (amber), alarms by priority (red for critical, amber for high,
yellow for medium), a lost connection (amber) and the training banner (magenta, which no alarm uses).
"""

from __future__ import annotations

from textual.theme import Theme

__all__ = [
    "ALARM",
    "DIM",
    "ISA101_THEME",
    "NORMAL",
    "PRIORITY_STYLE",
    "STATUS_STYLE",
    "TRAINING",
    "WARNING",
]

#: Plain text: normal values.
NORMAL = ""
#: Secondary text: units, labels, read-only entries.
DIM = "#8a8a8a"
#: An abnormal value that needs a look (outside the recommended band, on battery, a refused command).
WARNING = "bold #e5a50a"
#: An alarm-level condition (outside the allowable band, a trip, a critical alarm).
ALARM = "bold #ff5f5f"
#: The training banner: a colour no process state uses.
TRAINING = "bold #ffffff on #8b3a8b"

#: Alarm priorities (ISA-18.2) → style; acknowledged alarms are drawn without colour.
PRIORITY_STYLE = {"critical": ALARM, "high": WARNING, "medium": "bold #d7d75f", "low": "#87afd7"}

#: Reply statuses → style: accepted commands stay plain, refusals are amber, local failures red.
STATUS_STYLE = {
    "sent": DIM,
    "ok": NORMAL,
    "clamped": WARNING,
    "out_of_range": WARNING,
    "not_writable": WARNING,
    "denied": WARNING,
    "interlock": WARNING,
    "invalid": WARNING,
    "unsent": ALARM,
    "timeout": ALARM,
}

ISA101_THEME = Theme(
    name="isa101",
    primary="#6c7a89",  # grey-blue: cursor, focus, footer keys; never used for process state
    secondary="#7a7a7a",
    accent="#8d99a6",
    warning="#e5a50a",
    error="#ff5f5f",
    success="#9e9e9e",  # success is normal, and normal is grey
    foreground="#d0d0d0",
    background="#262626",
    surface="#2e2e2e",
    panel="#3a3a3a",
    dark=True,
)
