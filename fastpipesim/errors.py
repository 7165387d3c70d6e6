"""Errors for bad input: they name the file, the rule and the first offending rows."""
from __future__ import annotations

from typing import Iterable

import pandas as pd

MAX_ROWS_SHOWN = 5


class InputError(ValueError):
    """Input that breaks a rule of MODEL.md 2 (a trace, a cluster table, parameters).

    Attributes
    ----------
    source : str
        The file (or table name when the data did not come from a file).
    rule : str
        The rule that is broken, in plain words.
    rows : list[int]
        Row numbers of the first offending rows, counted as in the file: the
        first data row under the header is row 2 (so an editor's line number
        points at it), or 0-based positions when the table did not come from a file.
    detail : str
        The offending rows rendered as text, or other detail.
    """

    def __init__(self, source: str, rule: str, rows: Iterable[int] = (), detail: str = ""):
        self.source = str(source)
        self.rule = rule
        self.rows = [int(r) for r in rows]
        self.detail = detail
        msg = f"{self.source}: {rule}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = len(self.rows) - MAX_ROWS_SHOWN
            msg += f" (rows {shown}{f' and {more} more' if more > 0 else ''})"
        if detail:
            msg += "\n" + detail
        super().__init__(msg)


def offending(
    source: str,
    rule: str,
    frame: pd.DataFrame,
    mask,
    *,
    row_base: int = 2,
    row_numbers=None,
    note: str = "",
) -> InputError:
    """An :class:`InputError` for the rows of ``frame`` where ``mask`` is true.

    ``row_base`` is the file row number of the frame's first row (2 for a CSV
    with a header line); rows are positional. ``row_numbers``, when given,
    is the row number of every row of ``frame`` (for files whose blank lines
    were dropped) and overrides ``row_base``. ``note`` is printed above the rows.
    """
    import numpy as np

    pos = np.flatnonzero(np.asarray(mask))
    rows = pos + row_base if row_numbers is None else np.asarray(row_numbers)[pos]
    shown = frame.iloc[pos[:MAX_ROWS_SHOWN]].copy()
    shown.index = rows[:MAX_ROWS_SHOWN]
    shown.index.name = "row"
    detail = shown.to_string()
    if note:
        detail = note + "\n" + detail
    return InputError(source, rule, rows, detail)
