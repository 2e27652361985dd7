"""The append-only audit log of commands: one JSON object per line, written before the reply is sent.

Every command lands here, accepted or not (a malformed message too, as far as it could be read), so
that an operator's change and its outcome can be traced after the fact. Each line is flushed to the
operating system at once: a killed server leaves every line it answered for.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections import deque
from pathlib import Path
from typing import Any

from twin.bus.protocol import encode_json

__all__ = ["AuditLog", "read_audit"]


class AuditLog:
    """Appends audit records to ``path`` (JSON lines) and keeps the latest ``tail`` in memory."""

    def __init__(self, path: Path | None, *, tail: int = 200) -> None:
        self.path = Path(path) if path is not None else None
        self.tail: deque[dict[str, Any]] = deque(maxlen=tail)
        self.count = 0  # records appended by this log object (a version number for the tail)
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tail.extend(read_audit(self.path, last_bytes=_TAIL_BYTES)[-tail:])
            # Append mode: a resumed server adds to the history, it never rewrites it.
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the server
            if self._file.tell() > 0 and not _ends_with_newline(self.path):
                self._file.write(b"\n")  # a crash tore the last line: start ours on a line of its own

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        rec = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"), **record}
        line = encode_json(rec) + b"\n"
        if self._file is not None:
            self._file.write(line)  # unbuffered: one write per line, in the OS when this returns
        self.tail.append(json.loads(line))
        self.count += 1
        return self.tail[-1]

    def close(self) -> None:
        if self._file is not None:
            try:
                os.fsync(self._file.fileno())
            except OSError:
                pass
            self._file.close()
            self._file = None


_TAIL_BYTES = 1 << 20  # how much of an old log a starting server reads for its tail


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_audit(path: Path, *, last_bytes: int | None = None) -> list[dict[str, Any]]:
    """Every complete line of an audit log (a torn line after a crash is skipped); with ``last_bytes``,
    only the lines in that much of the file's end."""
    out: list[dict[str, Any]] = []
    try:
        with open(path, "rb") as f:
            if last_bytes is not None:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - last_bytes))
                data = f.read()
                if size > last_bytes:
                    data = data[data.find(b"\n") + 1:]  # drop the partial first line
            else:
                data = f.read()
    except FileNotFoundError:
        return out
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return out
