"""Helpers shared by the GPU job-log importers (alibaba-gpu-2020, helios, philly).

Private: the importers' module docstrings say what each mapping means; this
module only counts dropped rows, finds files and turns times into seconds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..trace import Trace


class Drops:
    """Dropped source rows, one entry per reason (``ImportResult.dropped``)."""

    def __init__(self):
        self._rows = []

    def add(self, reason: str, mask, frame: pd.DataFrame, id_column: str | None = None) -> np.ndarray:
        """Count the rows of ``frame`` where ``mask`` holds under ``reason``; return ``~mask``."""
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if n:
            first = frame.loc[mask].iloc[0]
            if id_column is not None and id_column in frame.columns:
                example = f"{id_column}={first[id_column]}"
            else:
                example = ", ".join(f"{k}={v}" for k, v in first.items())
            self._rows.append({"reason": reason, "rows": n, "example": example[:300]})
        return ~mask

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=["reason", "rows", "example"])

    def total(self) -> int:
        return int(sum(r["rows"] for r in self._rows))


def files_of(sources) -> list[Path]:
    """The files named by ``sources``: a file stands for itself, a folder for its files."""
    if not sources:
        raise ValueError("give at least one source file or folder")
    out = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def seconds(values: pd.Series) -> pd.Series:
    """Times as float seconds: numbers stay numbers (epoch or trace seconds);
    text is parsed as a date-time (naive wall clock, e.g. ``2020-04-01 08:00:00``)
    and given as seconds since 1970-01-01. Unparseable or empty cells are NaN."""
    s = pd.Series(values)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce")
        text = s.notna() & num.isna()
        if not text.any():
            return num.astype(np.float64)
        t = pd.to_datetime(s.where(text), errors="coerce", format="ISO8601")
        if t[text].isna().any():  # some other layout: let pandas guess row by row
            t = t.fillna(pd.to_datetime(s.where(text & t.isna()), errors="coerce", format="mixed"))
        sec = (t - pd.Timestamp("1970-01-01")).dt.total_seconds()
        return num.where(~text, sec).astype(np.float64)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return (s - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return pd.to_numeric(s, errors="coerce").astype(np.float64)


def member(values, pool) -> np.ndarray:
    """bool mask: which of ``values`` are in ``pool`` (text; fast for Arrow strings too)."""
    pool = pd.unique(np.asarray(pool, dtype=object))
    return pd.Index(pool).get_indexer(np.asarray(values, dtype=object)) >= 0


def numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(pd.Series(values), errors="coerce").astype(np.float64)


def peak_concurrency(start, end, amount) -> float:
    """Largest total ``amount`` in use at one time over intervals [start, end)."""
    start, end, amount = (np.asarray(x, dtype=np.float64) for x in (start, end, amount))
    if len(start) == 0:
        return 0.0
    t = np.concatenate([start, end])
    d = np.concatenate([amount, -amount])
    # at equal times, releases come first (an interval is half-open)
    order = np.lexsort((d, t))
    return float(max(np.cumsum(d[order]).max(), 0.0))


def jobs_in_submit_order(submit: pd.Series, ok) -> tuple[np.ndarray, float]:
    """Rows of the jobs kept (``ok``) in submit order (stable), and the time origin.

    The origin is the first kept submit time, so pipelines start at t = 0.
    """
    keep = np.flatnonzero(ok)
    order = keep[np.argsort(submit.to_numpy()[keep], kind="stable")]
    origin = float(submit.iloc[order[0]]) if len(order) else 0.0
    return order, origin


def build_trace(pipelines: pd.DataFrame, tasks: pd.DataFrame, source: str) -> Trace:
    return Trace.from_frames(pipelines.reset_index(drop=True), tasks.reset_index(drop=True), source=source)


def task_names(pipeline_id: np.ndarray, base: str = "job") -> np.ndarray:
    """``base`` for a pipeline's only task, ``base.0``, ``base.1``... when it has several.

    ``pipeline_id`` must be grouped (the tasks of a pipeline are consecutive).
    """
    pid = np.asarray(pipeline_id)
    if len(pid) == 0:
        return np.zeros(0, dtype=object)
    start = np.concatenate([[True], pid[1:] != pid[:-1]])
    grp = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    k = np.arange(len(pid)) - first[grp]
    size = np.diff(np.concatenate([first, [len(pid)]]))[grp]
    idx = pd.Series(k).astype(str).to_numpy(dtype=object)
    return np.where(size == 1, base, base + "." + idx).astype(object)
