"""Refreshing a DataTable in place, so that live data does not reset the operator's cursor.

Rebuilding a table on every update moves the cursor back to the top several times a second, which
makes selecting a row on a live screen impossible. :func:`sync_rows` updates cells where the rows are
the same as before and rebuilds only when the set or the order of rows changed, keeping the cursor on
the row (by key) it was on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

__all__ = ["cursor_key", "sync_rows"]


def cursor_key(table: DataTable) -> str | None:
    """The key of the row under the cursor (None for an empty table)."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except (CellDoesNotExist, RowDoesNotExist):
        return None


def sync_rows(table: DataTable, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Make ``table`` show ``rows`` ((key, cells) in display order), keeping the cursor's row."""
    keys = [k for k, _ in rows]
    current = [r.key.value for r in table.ordered_rows]
    columns = [c.key for c in table.ordered_columns]
    if keys == current:
        # A column of fixed width needs no re-measuring: measuring (every cell of the column, whenever one
        # gets narrower) cost the UI thread enough to answer keys a second late with 200 racks.
        auto = {c.key: c.auto_width for c in table.ordered_columns}
        for key, cells in rows:
            for col, value in zip(columns, cells):
                if table.get_cell(key, col) != value:
                    table.update_cell(key, col, value, update_width=auto[col])
        return
    selected = cursor_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)
