"""Traces: a workload given as tables (MODEL.md 2), read, validated and turned into a Batch.

A trace folder holds ``pipelines`` and ``tasks`` and, optionally, ``models``,
each as ``NAME.csv`` or ``NAME.parquet``. :func:`read_trace` reads it and checks
every rule of MODEL.md 2 before anything runs; a broken rule raises
:class:`~fastpipesim.errors.InputError` naming the file, the rule and the first
offending rows. Row numbers are those of the file: in a CSV the header is line 1
and the first data row is row 2 (blank lines are skipped but counted); in a
Parquet file, and in frames given to :meth:`Trace.from_frames`, rows are
0-based positions.

Validation is vectorized (no Python loop over rows): a trace of a million
tasks is checked in about a second.

Decisions MODEL.md leaves open (kept here, in one place):

- ``after`` is a required column (MODEL.md marks ``model_id`` and ``priority``
  optional and nothing else); an empty cell means no predecessor. Names in it
  are separated by ``;``, surrounding blanks are ignored, empty names
  (``"a;;b"``, ``"a;"``) are ignored, and a name listed twice counts once.
- Task names and types are stripped of surrounding blanks; a task name may not
  be empty or contain ``;`` (it could not be named in ``after``). Task names
  are text: a task called ``NA`` or ``nan`` stays that name.
- A pipeline with no task is an error: it could never complete, and would
  stay in flight for ever (MODEL.md 7).
- ``pipeline_id`` and ``model_id`` are whole numbers >= 0 (-1 is "none" in
  the kernels); ``priority`` is any whole number. Integer columns accept
  whole-valued floats (``3.0``). A column that is present must be filled in
  every row, except the candidate outcome columns (``candidate_accuracy``,
  ``candidate_robustness``, ``candidate_fairness`` in [0, 1], ``compress_loss``
  >= 0), where an empty cell means "no candidate outcome" (NaN); a pipeline
  fills every candidate column the table has, or none. A candidate column the
  table leaves out is not modelled: its gate passes every pipeline.
- ``models``: ``model_id``, ``accuracy``, ``robustness``, ``fairness``,
  ``deployed_at``, ``drift_per_day`` and ``threshold`` are required (the
  model's state); the rule columns are optional: ``on_drift`` (default false;
  true/false/1/0/yes/no), ``period`` (default 0 = none), ``phase`` (default 0,
  any finite number), ``template_pipeline_id`` (default -1 = none; empty = -1).
  A model with a rule (``on_drift`` or ``period > 0``) needs a template that
  exists in ``pipelines``, since a triggered pipeline in a trace copies it.
  Model ids need not appear in ``pipelines`` and pipelines may name models
  that have no row (they have no lifecycle, MODEL.md 7). A present but empty
  ``models`` table is an error (remove the file for "no lifecycle").
- Extra columns of every table are kept as they were read (pipeline
  attributes, for example ``framework``); in a CSV their empty and NA-like
  cells are read as missing.
- GPUs as devices (MODEL.md 12.2): a task's ``gpu`` above 1 must be a whole
  number of devices; the optional ``replicas`` is a whole number >= 1, an
  empty cell meaning 1; the optional ``gpu_spec`` is text (GPU models separated
  by ``|``, blanks around names ignored; empty for any node), read as written.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype, is_unsigned_integer_dtype

from .engine.constants import DIMENSIONS, FIT_TOL
from .errors import MAX_ROWS_SHOWN, InputError, offending
from .workload import Batch, ModelTable, WorkloadArrays, build_arrays, group_requests, type_codes

PIPELINE_COLUMNS = ("pipeline_id", "submit_time", "model_id", "priority")
TASK_COLUMNS = ("pipeline_id", "task", "type", "cpu", "gpu", "mem_gb", "duration", "after")
MODEL_COLUMNS = (
    "model_id",
    "accuracy",
    "robustness",
    "fairness",
    "deployed_at",
    "drift_per_day",
    "threshold",
    "on_drift",
    "period",
    "phase",
    "template_pipeline_id",
)
CANDIDATE_COLUMNS = ("candidate_accuracy", "candidate_robustness", "candidate_fairness", "compress_loss")
TABLES = ("pipelines", "tasks", "models")
FORMATS = ("csv", "parquet")

_REQUIRED = {
    "pipelines": ("pipeline_id", "submit_time"),
    "tasks": TASK_COLUMNS,
    "models": ("model_id", "accuracy", "robustness", "fairness", "deployed_at", "drift_per_day", "threshold"),
}
# Text columns: read as strings with no NA values, so that an empty ``after``
# is "" and a task named "NA" keeps its name.
_TEXT_COLUMNS = {"pipelines": (), "tasks": ("task", "type", "after", "gpu_spec"), "models": ()}
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f", "")
_INT64_LIMIT = 2.0**63


# ---------------------------------------------------------------------------- the trace


class _Layout(NamedTuple):
    """What validation learns about the order of rows (T tasks, P pipelines, E edges).

    pipeline_order : int64[P]  rows of ``pipelines`` in pipeline_id order (= batch order)
    task_order : int64[T]      rows of ``tasks`` in batch order
    task_index : int64[T]      batch index of each row of ``tasks`` (inverse of task_order)
    task_count : int64[P]      tasks per pipeline, in batch order
    edge_pred, edge_succ : int64[E]  DAG edges as batch task indices, sorted, unique
    task_rows : int64[T]       row number (as in the file) of each row of ``tasks``
    files : dict               table name -> file (or table label) for messages
    """

    pipeline_order: np.ndarray
    task_order: np.ndarray
    task_index: np.ndarray
    task_count: np.ndarray
    edge_pred: np.ndarray
    edge_succ: np.ndarray
    task_rows: np.ndarray
    files: dict


@dataclass(frozen=True, eq=False)
class Trace:
    """A validated trace (MODEL.md 2).

    Attributes
    ----------
    pipelines : DataFrame
        ``pipeline_id`` (int64), ``submit_time`` (float64), ``model_id`` (int64),
        ``priority`` (int64), then any other column as read (candidate outcome
        columns as float64 with NaN for none). Rows in file order.
    tasks : DataFrame
        ``pipeline_id`` (int64), ``task``, ``type`` (str), ``cpu``, ``gpu``,
        ``mem_gb``, ``duration`` (float64), ``after`` (str, "" for none), then
        any other column. Rows in file order: :meth:`task_order` maps them to
        the batch.
    models : DataFrame or None
        ``MODEL_COLUMNS`` (``on_drift`` bool, ``template_pipeline_id`` int64
        with -1 for none), then any other column.
    source : str
        The trace folder, or a label for frames built in memory.

    Constructing a Trace validates its frames (and normalizes them: defaults
    filled, dtypes fixed); treat the frames as read-only afterwards.
    """

    pipelines: pd.DataFrame
    tasks: pd.DataFrame
    models: pd.DataFrame | None = None
    source: str = "<trace>"
    _layout: _Layout = field(default=None, init=False, repr=False)
    _cache: dict = field(default=None, init=False, repr=False)  # see _simulation_batch

    def __post_init__(self):
        files = {name: f"{self.source}:{name}" for name in TABLES}
        tables = {
            name: _Table(name, files[name], frame, None)
            for name, frame in (("pipelines", self.pipelines), ("tasks", self.tasks), ("models", self.models))
            if frame is not None
        }
        pipelines, tasks, models, layout = _validate(tables)
        object.__setattr__(self, "pipelines", pipelines)
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "_layout", layout)
        object.__setattr__(self, "_cache", {})

    @classmethod
    def from_frames(cls, pipelines, tasks, models=None, source: str = "<trace>") -> "Trace":
        """Validate DataFrames (or anything ``pd.DataFrame`` accepts) as a trace.

        Error messages name the tables ``{source}:pipelines`` etc. and give
        0-based row positions.
        """

        def frame(x):
            return None if x is None else pd.DataFrame(x)

        return cls(frame(pipelines), frame(tasks), frame(models), str(source))

    @classmethod
    def _trusted(cls, pipelines, tasks, models, source, layout) -> "Trace":
        """A Trace from frames that :func:`_validate` has just returned (no second pass)."""
        obj = object.__new__(cls)
        for name, value in (("pipelines", pipelines), ("tasks", tasks), ("models", models),
                            ("source", source), ("_layout", layout), ("_cache", {})):
            object.__setattr__(obj, name, value)
        return obj

    # -- sizes and maps

    @property
    def n_pipelines(self) -> int:
        return len(self.pipelines)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_models(self) -> int:
        return 0 if self.models is None else len(self.models)

    @property
    def files(self) -> dict:
        """Table name -> the file it was read from (or its label)."""
        return dict(self._layout.files)

    def task_order(self) -> np.ndarray:
        """int64[n_tasks]: element i is the batch (global) task index of row i of ``tasks``.

        With one replication, task records of :meth:`to_batch` map back to rows:
        ``tasks.iloc[i]`` is batch task ``task_order()[i]``.
        """
        return self._layout.task_index.copy()

    def pipeline_order(self) -> np.ndarray:
        """int64[n_pipelines]: element i is the batch pipeline index of row i of ``pipelines``."""
        out = np.empty(self.n_pipelines, dtype=np.int64)
        out[self._layout.pipeline_order] = np.arange(self.n_pipelines, dtype=np.int64)
        return out

    def model_table(self):
        """The ``models`` table as the engine reads it (rows by model_id), or None without one."""
        if self.models is None:
            return None
        m = self.models.sort_values("model_id", kind="mergesort")
        f = lambda c: m[c].to_numpy(dtype=np.float64)  # noqa: E731
        return ModelTable(
            model_id=m["model_id"].to_numpy(dtype=np.int64),
            accuracy=f("accuracy"), robustness=f("robustness"), fairness=f("fairness"),
            deployed_at=f("deployed_at"), drift_per_day=f("drift_per_day"), threshold=f("threshold"),
            on_drift=m["on_drift"].to_numpy(dtype=np.bool_), period=f("period"), phase=f("phase"),
        )

    # -- conversion

    def _simulation_batch(self) -> Batch:
        """``to_batch(0)`` with its request shapes, built once and kept.

        What ``simulate`` replays: a trace is read-only once validated, so a trace
        simulated again (under another policy, on another cluster) does not pay its
        conversion to arrays again. The arrays are shared: the engine only reads a
        workload's arrays (a run with automation rules copies them into a padded
        batch first). :meth:`to_batch` still returns a fresh batch for callers.
        """
        got = self._cache.get("batch")
        if got is None:
            b = self.to_batch(0)
            got = self._cache["batch"] = dataclasses.replace(b, shapes=group_requests(b))
        return got

    def to_batch(self, replication: int = 0) -> Batch:
        """The trace as a one-replication :class:`Batch` (pipelines in pipeline_id order).

        Tasks of a pipeline keep their table order (the task index); ``after``
        becomes DAG edges; candidate outcome columns that are absent are NaN.
        ``replication`` only labels the slice (a trace is the same in every one).
        """
        lay = self._layout
        p, t = self.pipelines, self.tasks
        po, to = lay.pipeline_order, lay.task_order

        def pcol(name):
            return p[name].to_numpy()[po] if name in p.columns else None

        def tcol(name):
            return t[name].to_numpy(dtype=np.float64)[to]

        type_code, type_names = _type_codes(t["type"], to)
        arrays = build_arrays(
            pipeline_id=pcol("pipeline_id"),
            submit=pcol("submit_time"),
            model=pcol("model_id"),
            priority=pcol("priority"),
            task_count=lay.task_count,
            task_type=type_code,
            cpu=tcol("cpu"),
            gpu=tcol("gpu"),
            mem=tcol("mem_gb"),
            duration=tcol("duration"),
            edge_pred=lay.edge_pred,
            edge_succ=lay.edge_succ,
            cand_accuracy=pcol("candidate_accuracy"),
            cand_robustness=pcol("candidate_robustness"),
            cand_fairness=pcol("candidate_fairness"),
            compress_loss=pcol("compress_loss"),
        )
        batch = Batch(
            arrays=arrays,
            type_names=type_names,
            task_names=t["task"].to_numpy(dtype=object)[to],
            replications=np.array([int(replication)], dtype=np.int64),
            checkpoint_every=(np.nan_to_num(tcol("checkpoint_every"), nan=0.0)
                              if "checkpoint_every" in t.columns else None),
            gpu_spec=t["gpu_spec"].to_numpy(dtype=object)[to] if "gpu_spec" in t.columns else None,
            replicas=t["replicas"].to_numpy(dtype=np.int64)[to] if "replicas" in t.columns else None,
        )
        table = self.model_table()
        if table is None:
            return batch
        # MODEL.md 7: a triggered pipeline is a copy of its model's template
        m = self.models.sort_values("model_id", kind="mergesort")
        template = m["template_pipeline_id"].to_numpy(dtype=np.int64)
        spid = arrays.pipeline_id
        row = np.where(template >= 0, np.searchsorted(spid, template), -1)
        return dataclasses.replace(batch, models=(table,), triggered=(_TemplateCopies(batch, row),))

    def write(self, folder, format: str = "csv") -> Path:
        """Write the tables to ``folder`` as ``NAME.csv`` or ``NAME.parquet``; returns the folder.

        Refuses (FileExistsError, before writing anything) when the folder holds
        a table that would make the written trace read back differently: the
        same table in the other format, or a ``models`` file when this trace
        has none. Files of the same name and format are overwritten.
        """
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        folder = Path(folder)
        other = "parquet" if format == "csv" else "csv"
        tables = {"pipelines": self.pipelines, "tasks": self.tasks, "models": self.models}
        clash = [folder / f"{n}.{other}" for n in TABLES] + (
            [folder / f"models.{format}"] if self.models is None else []
        )
        clash = [str(c) for c in clash if c.exists()]
        if clash:
            raise FileExistsError(
                f"{folder}: remove {clash} first; they would be read with the trace written here"
            )
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            if frame is None:
                continue
            path = folder / f"{name}.{format}"
            if format == "csv":
                frame.to_csv(path, index=False)
            else:
                from ._io import write_parquet

                write_parquet(frame, path)
        return folder

    def __repr__(self) -> str:
        models = f", {self.n_models} models" if self.models is not None else ""
        return f"Trace({self.source!r}: {self.n_pipelines} pipelines, {self.n_tasks} tasks{models})"


def _type_codes(types: pd.Series, order: np.ndarray):
    """Type codes in batch order; factorizing first keeps type_codes' work to the distinct names."""
    codes, uniq = pd.factorize(types)  # table order; fast on string columns
    codes, first = pd.factorize(codes[order])  # re-number by first appearance in batch order
    code_of_uniq, type_names = type_codes([str(x) for x in np.asarray(uniq, dtype=object)[first]])
    return code_of_uniq[codes], type_names


# ---------------------------------------------------------------------------- reading


def read_trace(folder) -> Trace:
    """Read and validate a trace folder (MODEL.md 2).

    The folder holds ``pipelines`` and ``tasks`` and optionally ``models``, each
    as ``.csv`` or ``.parquet`` (both for one table is ambiguous, an error).
    Raises :class:`InputError` for any broken rule.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(str(folder), "trace folder not found")
    if not folder.is_dir():
        raise InputError(str(folder), "a trace is a folder holding pipelines.csv and tasks.csv (or .parquet)")
    tables = {}
    for name in TABLES:
        found = [folder / f"{name}.{ext}" for ext in FORMATS if (folder / f"{name}.{ext}").is_file()]
        if len(found) > 1:
            raise InputError(
                str(folder),
                f"ambiguous table {name!r}: both {found[0].name} and {found[1].name} exist; keep one",
            )
        if not found:
            if name == "models":
                continue
            raise InputError(str(folder), f"missing table {name!r}: expected {name}.csv or {name}.parquet")
        tables[name] = _read_table(name, found[0])
    pipelines, tasks, models, layout = _validate(tables)
    return Trace._trusted(pipelines, tasks, models, str(folder), layout)


def _read_table(name: str, path: Path) -> "_Table":
    if path.suffix == ".parquet":
        from ._io import read_parquet

        try:
            frame = read_parquet(path)
        except InputError:
            raise
        except Exception as exc:  # a malformed file ends in a clear error, not a traceback
            raise InputError(str(path), f"cannot be read as Parquet: {exc}") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return _Table(name, str(path), frame.reset_index(drop=True), None)
    return _read_csv(name, path)


def _read_csv(name: str, path: Path) -> "_Table":
    from pandas._libs.parsers import STR_NA_VALUES

    options = dict(encoding="utf-8-sig", skipinitialspace=True)
    try:
        header = pd.read_csv(path, nrows=0, **options).columns
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, **options)
        names = [str(c).strip() for c in first.iloc[0]]
        dup = sorted({c for c in names if c and names.count(c) > 1})
        if dup:  # pandas would rename the second one "name.1" and keep going
            raise InputError(str(path), f"duplicate column name(s) {dup}")
        text = set(_TEXT_COLUMNS[name])
        na = sorted(STR_NA_VALUES)
        frame = pd.read_csv(
            path,
            dtype={c: str for c in header if str(c).strip() in text},
            keep_default_na=False,
            na_values={c: ([] if str(c).strip() in text else na) for c in header},
            skip_blank_lines=False,  # keep them so positions stay file rows; dropped below
            low_memory=False,
            **options,
        )
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"is not UTF-8 text: {exc}") from None
    except Exception as exc:  # pandas' parser errors name the line
        raise InputError(str(path), f"cannot be read as CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = np.ones(len(frame), dtype=bool)
    for c in frame.columns:
        s = frame[c]
        empty = _isna(s)
        if not is_numeric_dtype(s.dtype) and not is_bool_dtype(s.dtype):
            empty |= (s.astype(str) == "").to_numpy()
        blank &= empty
    rows = np.flatnonzero(~blank) + 2
    if blank.any():
        frame = frame[~blank].reset_index(drop=True)
    return _Table(name, str(path), frame, rows)


# ---------------------------------------------------------------------------- validation


class _Table:
    """A table as read, with its file name and the row number of each row, for messages."""

    def __init__(self, name: str, file: str, frame: pd.DataFrame, rows):
        if not isinstance(frame, pd.DataFrame):
            raise InputError(file, f"the {name} table must be a DataFrame, got {type(frame).__name__}")
        self.name = name
        self.file = file
        self.raw = frame.reset_index(drop=True)
        self.raw.columns = [str(c) for c in self.raw.columns]
        n = len(frame)
        self.rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self):
        return len(self.raw)

    def fail(self, rule: str, mask, note: str = "") -> InputError:
        return offending(self.file, rule, self.raw, mask, row_numbers=self.rows, note=note)

    def check_columns(self):
        if len(self.raw) == 0:
            raise InputError(self.file, f"the {self.name} table has no rows")
        dup = sorted({c for c in self.raw.columns if list(self.raw.columns).count(c) > 1})
        if dup:
            raise InputError(self.file, f"duplicate column name(s) {dup}")
        missing = [c for c in _REQUIRED[self.name] if c not in self.raw.columns]
        if missing:
            raise InputError(
                self.file,
                f"missing required column(s) {missing}; the {self.name} table needs "
                f"{list(_REQUIRED[self.name])}, found {list(self.raw.columns)}",
            )

    def number(self, col, *, integer=False, default=None, lo=None, lo_open=False, hi=None,
               allow_missing=False) -> np.ndarray:
        """The column as float64 (or int64), checked; ``default`` fills an absent column."""
        n = len(self.raw)
        if col not in self.raw.columns:
            return np.full(n, default, dtype=np.int64 if integer else np.float64)
        s = self.raw[col]
        missing = _isna(s) if allow_missing else np.zeros(n, dtype=bool)
        if integer:
            v, bad = _integers(s)
            bad &= ~missing
            if bad.any():
                raise self.fail(f"column {col!r} must hold a whole number in every row", bad)
            if missing.any():
                v[missing] = default
        else:
            v, bad = _floats(s)
            bad &= ~missing
            if bad.any():
                word = "a number" if not allow_missing else "a number or nothing"
                raise self.fail(f"column {col!r} must hold {word} in every row", bad)
            inf = np.isinf(v)
            if inf.any():
                raise self.fail(f"column {col!r} must be finite", inf)
        with np.errstate(invalid="ignore"):
            if lo is not None:
                low = (v <= lo) if lo_open else (v < lo)
                if low.any():
                    raise self.fail(f"column {col!r} must be {'>' if lo_open else '>='} {lo}", low)
            if hi is not None:
                high = v > hi
                if high.any():
                    raise self.fail(f"column {col!r} must be <= {hi}", high)
        return v

    def text(self, col) -> tuple[pd.Series, np.ndarray]:
        """The column as stripped strings ("" where missing) and the missing mask."""
        s = self.raw[col]
        missing = _isna(s)
        s = s.astype(str).str.strip()
        if missing.any():
            s = s.where(~missing, "")
        return s, missing

    def flags(self, col, default: bool) -> np.ndarray:
        if col not in self.raw.columns:
            return np.full(len(self.raw), default)
        s = self.raw[col]
        if is_bool_dtype(s.dtype) and not s.isna().any():
            return s.to_numpy(dtype=bool)
        if is_numeric_dtype(s.dtype):
            v, bad = _floats(s)
            bad |= ~np.isin(v, (0.0, 1.0))
            if bad.any():
                raise self.fail(f"column {col!r} must be true or false", bad)
            return v == 1.0
        word = s.astype(str).str.strip().str.lower()
        missing = _isna(s)
        true = word.isin(_TRUE).to_numpy() & ~missing
        false = word.isin(_FALSE).to_numpy() | missing
        bad = ~(true | false)
        if bad.any():
            raise self.fail(f"column {col!r} must be true or false ({'/'.join(_TRUE[:3])} or "
                            f"{'/'.join(_FALSE[:3])}, empty = false)", bad)
        return true


def _floats(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and the mask of rows holding no number (missing or not numeric)."""
    if is_bool_dtype(s.dtype) or s.dtype.kind == "c":
        return np.full(len(s), np.nan), np.ones(len(s), dtype=bool)
    if not is_numeric_dtype(s.dtype):
        try:
            s = pd.to_numeric(s, errors="coerce")
        except (TypeError, ValueError):  # cells that are lists, dicts...: take them one by one
            s = pd.Series([_one_float(x) for x in s], dtype=np.float64)
    try:
        v = np.array(s.to_numpy(dtype=np.float64, na_value=np.nan))  # a writable copy
    except (TypeError, ValueError):
        v = np.array([_one_float(x) for x in s], dtype=np.float64)
    return v, np.isnan(v)


def _isna(s: pd.Series) -> np.ndarray:
    """The missing-value mask as a writable array (pandas may hand out read-only views)."""
    return np.array(s.isna().to_numpy(), dtype=bool)


def _one_float(x) -> float:
    try:
        return float(x) if not isinstance(x, (bool, np.bool_)) else np.nan
    except (TypeError, ValueError, OverflowError):
        return np.nan


def _integers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """int64 values and the mask of rows that hold no whole number in int64 range."""
    if is_integer_dtype(s.dtype) and not is_bool_dtype(s.dtype):
        bad = _isna(s)
        if is_unsigned_integer_dtype(s.dtype):
            big = (s > np.iinfo(np.int64).max).to_numpy(dtype=bool, na_value=False)
            bad |= big
            s = s.where(~big, 0)
        return np.array(s.to_numpy(dtype=np.int64, na_value=0)), bad
    f, bad = _floats(s)
    with np.errstate(invalid="ignore"):
        bad |= ~np.isfinite(f) | (f != np.floor(f)) | (np.abs(f) >= _INT64_LIMIT)
    return np.where(bad, 0.0, f).astype(np.int64), bad


def _validate(tables: dict) -> tuple:
    """Check the tables against MODEL.md 2; return normalized frames and the layout."""
    pt, tt, mt = tables["pipelines"], tables["tasks"], tables.get("models")
    files = {name: t.file for name, t in tables.items()}

    # --- pipelines
    pt.check_columns()
    pid = pt.number("pipeline_id", integer=True, lo=0)
    cols = {
        "pipeline_id": pid,
        "submit_time": pt.number("submit_time", lo=0),
        "model_id": pt.number("model_id", integer=True, default=0, lo=0),
        "priority": pt.number("priority", integer=True, default=0),
    }
    for c in CANDIDATE_COLUMNS:
        if c in pt.raw.columns:
            hi = None if c == "compress_loss" else 1
            cols[c] = pt.number(c, lo=0, hi=hi, allow_missing=True)
    # a candidate fills every candidate column the table has, or none (a column the
    # table leaves out is not modelled: its gate passes)
    given = [c for c in CANDIDATE_COLUMNS[:3] if c in cols]
    if given:
        present = np.array([np.isfinite(cols[c]) for c in given])
        partial = present.any(axis=0) & ~present.all(axis=0)
        if partial.any():
            raise pt.fail(f"a pipeline's candidate outcome fills all of {', '.join(given)} or none of them",
                          partial)
    n_p = len(pt)
    p_order = np.argsort(pid, kind="stable")
    spid = pid[p_order]
    dup = _repeated(p_order, spid)
    if dup is not None:
        raise pt.fail("duplicate pipeline_id", dup)
    pipelines = _frame(pt.raw, cols, PIPELINE_COLUMNS)

    # --- tasks: columns
    tt.check_columns()
    n_t = len(tt)
    tpid = tt.number("pipeline_id", integer=True)
    name, missing = tt.text("task")
    bad = missing | (name == "").to_numpy()
    if bad.any():
        raise tt.fail("column 'task' must hold a task name in every row", bad)
    bad = name.str.contains(";", regex=False).to_numpy(dtype=bool)
    if bad.any():
        raise tt.fail("a task name must not contain ';' (it separates the names in 'after')", bad)
    ttype, missing = tt.text("type")
    bad = missing | (ttype == "").to_numpy()
    if bad.any():
        raise tt.fail("column 'type' must hold a task type in every row", bad)
    after, _ = tt.text("after")
    tcols = {"pipeline_id": tpid, "task": name, "type": ttype}
    for c in ("cpu", "gpu", "mem_gb"):
        tcols[c] = tt.number(c, lo=0)
    tcols["duration"] = tt.number("duration", lo=0, lo_open=True)
    tcols["after"] = after
    if "checkpoint_every" in tt.raw.columns:
        # MODEL.md 11.5: reference seconds of progress between checkpoints; NaN, empty or 0 for none
        tcols["checkpoint_every"] = tt.number("checkpoint_every", lo=0, allow_missing=True)
    if "replicas" in tt.raw.columns:
        # MODEL.md 12.2: the parts of a gang, a whole number >= 1; an empty cell is 1
        tcols["replicas"] = tt.number("replicas", integer=True, default=1, lo=1, allow_missing=True)
    if "gpu_spec" in tt.raw.columns:
        # MODEL.md 12.2: the GPU models a task may run on, "A|B"; empty for any node
        spec, _ = tt.text("gpu_spec")
        tcols["gpu_spec"] = spec.to_numpy(dtype=object)
    gpu = tcols["gpu"]
    bad = (gpu > 1.0) & (gpu != np.floor(gpu))
    if bad.any():
        raise tt.fail("column 'gpu' above 1 must be a whole number of devices (MODEL.md 12.2: a fraction of "
                      "one device or whole devices)", bad)
    tasks = _frame(tt.raw, tcols, TASK_COLUMNS)

    # --- tasks: pipelines
    k = np.searchsorted(spid, tpid)
    kc = np.minimum(k, n_p - 1)
    unknown = spid[kc] != tpid
    if unknown.any():
        raise tt.fail(f"pipeline_id not found in {Path(pt.file).name}", unknown)
    rank = kc  # batch index of each task's pipeline
    task_count = np.bincount(rank, minlength=n_p).astype(np.int64)
    if (task_count == 0).any():
        empty = np.zeros(n_p, dtype=bool)
        empty[p_order[task_count == 0]] = True
        raise pt.fail("pipeline has no tasks (it could never complete)", empty)
    t_order = np.argsort(rank, kind="stable")
    t_index = np.empty(n_t, dtype=np.int64)
    t_index[t_order] = np.arange(n_t, dtype=np.int64)

    # --- task names: unique within a pipeline
    name_code, name_uniq = pd.factorize(name)
    n_names = max(len(name_uniq), 1)
    key = rank.astype(np.int64) * n_names + name_code
    k_order = np.argsort(key, kind="stable")
    skey = key[k_order]
    dup = _repeated(k_order, skey)
    if dup is not None:
        raise tt.fail("duplicate task name within a pipeline", dup)

    # --- after -> edges (split the distinct 'after' strings only, then gather per row)
    succ_row, tok, tokens = _after_tokens(after)
    tok_code = name_uniq.get_indexer(tokens)[tok]  # look up each distinct name once
    ekey = rank[succ_row] * n_names + tok_code
    j = np.minimum(np.searchsorted(skey, ekey), n_t - 1)
    found = (tok_code >= 0) & (skey[j] == ekey)
    if not found.all():
        miss = np.flatnonzero(~found)
        mask = np.zeros(n_t, dtype=bool)
        mask[succ_row[miss]] = True
        note = "\n".join(
            f"pipeline {tpid[r]}: task {name.iat[r]!r} lists {tokens[tok[e]]!r} in 'after', "
            f"but pipeline {tpid[r]} has no task of that name"
            for e, r in zip(miss[:MAX_ROWS_SHOWN], succ_row[miss[:MAX_ROWS_SHOWN]])
        )
        raise tt.fail("unknown task name in 'after'", mask, note)
    pred_row = k_order[j]
    self_loop = pred_row == succ_row
    if self_loop.any():
        mask = np.zeros(n_t, dtype=bool)
        mask[succ_row[self_loop]] = True
        raise tt.fail("a task lists itself in 'after'", mask)
    edge = np.sort(t_index[pred_row] * n_t + t_index[succ_row])
    edge = edge[np.concatenate([edge[:1] == edge[:1], edge[1:] != edge[:-1]])]  # sort-based unique
    edge_pred, edge_succ = edge // n_t, edge % n_t
    _check_acyclic(tt, edge_pred, edge_succ, t_order, tpid, name)

    # --- models
    models = None
    if mt is not None:
        models = _validate_models(mt, spid)

    layout = _Layout(
        pipeline_order=p_order,
        task_order=t_order,
        task_index=t_index,
        task_count=task_count,
        edge_pred=edge_pred,
        edge_succ=edge_succ,
        task_rows=tt.rows,
        files=files,
    )
    return pipelines, tasks, models, layout


def _frame(raw: pd.DataFrame, cols: dict, fixed: tuple) -> pd.DataFrame:
    """The ``fixed`` columns first, then the table's other columns in their order.

    ``cols`` holds the normalized columns; the others are kept as read.
    """
    out = {c: cols[c] for c in fixed}
    out.update({c: cols.get(c, raw[c]) for c in raw.columns if c not in out})
    return pd.DataFrame(out)  # Series share raw's RangeIndex


def _after_tokens(after: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``after`` into (row, name) pairs, vectorized: returns ``row``, ``tok`` and
    ``tokens``, where ``tokens[tok[e]]`` is the e-th name and ``row[e]`` its row.

    Traces repeat the same ``after`` strings (the same template in many
    pipelines), so only the distinct strings are split, with one join/split in
    C; the tokens are then gathered for every row with index arithmetic.
    """
    code, uniq = pd.factorize(after)
    uniq = pd.Series(uniq, dtype=object)
    n_tok = uniq.str.count(";").to_numpy(dtype=np.int64) + 1
    joined = ";".join(uniq.tolist())
    tokens = np.array(joined.split(";"), dtype=object)
    if re.search(r"\s", joined):
        tokens = pd.Series(tokens, dtype=object).str.strip().to_numpy(dtype=object)
    tok_ptr = np.concatenate([[0], np.cumsum(n_tok)])
    count = n_tok[code]
    row = np.repeat(np.arange(len(after), dtype=np.int64), count)
    first = np.cumsum(count) - count
    tok = np.repeat(tok_ptr[code] - first, count) + np.arange(int(count.sum()), dtype=np.int64)
    keep = tokens[tok] != ""
    # a name listed twice in one row is one edge; edges are deduplicated later
    return row[keep], tok[keep], tokens


def _check_acyclic(tt: _Table, edge_pred, edge_succ, t_order, tpid, name):
    """Raise if the DAG edges (batch indices) contain a cycle; name the tasks in it."""
    if len(edge_pred) == 0 or (edge_pred < edge_succ).all():
        return  # every edge goes forward in the table: no cycle is possible
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n_t = len(t_order)
    graph = csr_matrix((np.ones(len(edge_pred), dtype=np.int8), (edge_pred, edge_succ)), shape=(n_t, n_t))
    _, label = connected_components(graph, directed=True, connection="strong")
    size = np.bincount(label)
    in_cycle = size[label] > 1  # batch order; a strongly connected set of > 1 task holds a cycle
    if not in_cycle.any():
        return
    mask = np.zeros(n_t, dtype=bool)
    mask[t_order[in_cycle]] = True
    comps = pd.unique(label[in_cycle])
    lines = []
    for c in comps[:MAX_ROWS_SHOWN]:
        rows = t_order[np.flatnonzero(label == c)]
        names = ", ".join(repr(name.iat[r]) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
        lines.append(f"pipeline {tpid[rows[0]]}: tasks {names} depend on each other in a cycle")
    if len(comps) > MAX_ROWS_SHOWN:
        lines.append(f"and {len(comps) - MAX_ROWS_SHOWN} more cycles")
    raise tt.fail("cycle in 'after' (the tasks of a pipeline must form a DAG)", mask, "\n".join(lines))


def _repeated(order: np.ndarray, sorted_keys: np.ndarray):
    """Rows whose key another row shares (``sorted_keys = keys[order]``), as a mask; None if none."""
    same = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    if not len(same):
        return None
    mask = np.zeros(len(order), dtype=bool)
    mask[order[same]] = mask[order[same + 1]] = True
    return mask


def _validate_models(mt: _Table, spid: np.ndarray) -> pd.DataFrame:
    mt.check_columns()
    mid = mt.number("model_id", integer=True, lo=0)
    cols = {"model_id": mid}
    for c in ("accuracy", "robustness", "fairness"):
        cols[c] = mt.number(c, lo=0, hi=1)
    cols["deployed_at"] = mt.number("deployed_at")
    cols["drift_per_day"] = mt.number("drift_per_day", lo=0)
    cols["threshold"] = mt.number("threshold", lo=0, hi=1)
    cols["on_drift"] = mt.flags("on_drift", False)
    cols["period"] = mt.number("period", lo=0, default=0.0)
    cols["phase"] = mt.number("phase", default=0.0)
    template = mt.number("template_pipeline_id", integer=True, default=-1, lo=-1, allow_missing=True)
    cols["template_pipeline_id"] = template
    dup = pd.Series(mid).duplicated(keep=False).to_numpy()
    if dup.any():
        raise mt.fail("duplicate model_id", dup)
    has = template >= 0
    k = np.minimum(np.searchsorted(spid, template), len(spid) - 1)
    unknown = has & (spid[k] != template)
    if unknown.any():
        raise mt.fail("template_pipeline_id not found in pipelines", unknown)
    rule = cols["on_drift"] | (cols["period"] > 0)
    orphan = rule & ~has
    if orphan.any():
        raise mt.fail(
            "a model with an automation rule (on_drift true or period > 0) needs a template_pipeline_id "
            "(a triggered pipeline copies it)",
            orphan,
        )
    return _frame(mt.raw, cols, MODEL_COLUMNS)


class _TemplateCopies:
    """``counts -> Batch``: counts[m] copies of model row m's template pipeline (MODEL.md 7).

    A copy keeps the template's tasks, durations, priority and candidate
    outcomes as given in the trace.
    """

    def __init__(self, batch: Batch, template_index: np.ndarray):
        self.batch = batch
        self.template_index = template_index

    def __call__(self, counts) -> Batch:
        from .lifecycle import select_pipelines

        counts = np.asarray(counts, dtype=np.int64)
        if np.any(counts[self.template_index < 0] > 0):
            raise ValueError("a model without a template_pipeline_id cannot submit pipelines")
        index = np.repeat(self.template_index, counts)
        return select_pipelines(self.batch, index, int(self.batch.replications[0]))


# ---------------------------------------------------------------------------- fit check


def check_fits(workload, cluster) -> None:
    """Raise :class:`InputError` if some task's request fits on no node of any pool.

    A node fits a task if its capacity is at least the request minus 1e-9 in
    cpu, gpu and mem_gb (MODEL.md 4.3); pools with no nodes do not count.
    ``workload`` is a :class:`Trace` (the error names the tasks file and its
    rows), a :class:`Batch` or :class:`WorkloadArrays` (the error names the
    replication, pipeline_id and task, and gives batch task indices as rows).
    """
    pools = cluster.pools
    # an elastic pool can run a task if it may have a node (MODEL.md 11.1)
    pools = pools[pools["max_count" if cluster.is_elastic else "count"] > 0]
    cap = pools[list(DIMENSIONS)].to_numpy(np.float64)
    if isinstance(workload, Trace):
        req = workload.tasks[list(DIMENSIONS)].to_numpy(np.float64)
    else:
        arrays = workload.arrays if isinstance(workload, Batch) else workload
        if not isinstance(arrays, WorkloadArrays):
            kind = type(workload).__name__
            raise TypeError(f"check_fits takes a Trace, Batch or WorkloadArrays, not {kind}")
        req = np.stack([arrays.cpu, arrays.gpu, arrays.mem], axis=1)
    fits = np.zeros(len(req), dtype=bool)
    need = req - FIT_TOL
    for q in range(len(cap)):  # a handful of pools; vectorized over tasks
        fits |= (cap[q] >= need).all(axis=1)
    if fits.all():
        return
    largest = "; ".join(
        f"{p}: cpu {c:g}, gpu {g:g}, mem_gb {m:g}" for p, (c, g, m) in zip(pools["pool"], cap)
    )
    rule = (f"task request fits on no node of any pool of {cluster.source} "
            "(the task could never run)")
    note = f"node capacity per pool: {largest or 'no pool has nodes'}"
    if isinstance(workload, Trace):
        raise offending(workload.files["tasks"], rule, workload.tasks, ~fits,
                        row_numbers=workload._layout.task_rows, note=note)
    bad = np.flatnonzero(~fits)
    pipe = arrays.task_pipeline[bad]
    shown = {}
    if isinstance(workload, Batch):
        rep = np.searchsorted(arrays.rep_task_ptr, bad, side="right") - 1
        shown["replication"] = workload.replications[rep]
    shown["pipeline_id"] = arrays.pipeline_id[pipe]
    if isinstance(workload, Batch):
        shown["task"] = workload.task_names[bad]
        shown["type"] = np.asarray(workload.type_names, dtype=object)[arrays.task_type[bad]]
    shown.update(cpu=arrays.cpu[bad], gpu=arrays.gpu[bad], mem_gb=arrays.mem[bad])
    frame = pd.DataFrame(shown)
    raise offending("<batch>", rule, frame, np.ones(len(bad), dtype=bool), row_numbers=bad,
                    note=note + "\n(rows are batch task indices)")
