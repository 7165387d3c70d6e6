"""Autoscalers of elastic clusters (MODEL.md 11.4): their parameters, checked.

These objects only hold and check parameters; the rules themselves live in the
event loop (``engine/elastic.py``) and in the SimPy oracle. ``simulate(...,
autoscaler=...)`` takes a name or one of these objects.

>>> Reactive(interval=10, idle_timeout=600, expander="least_waste").kind
'reactive'
>>> autoscaler_from("target_utilization").interval
15.0

For the kernel each autoscaler gives an integer code (``engine.constants.AUTOSCALER_*``)
and a float64 vector of its parameters in the order ``constants.AUTOSCALER_PARAMETERS``
(codes stored as floats, NaN where the kind has no such parameter); a schedule adds its
table as ``counts_by_hour`` and a custom one its function.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import pandas as pd

from .engine.constants import (
    AUTOSCALER_CUSTOM,
    AUTOSCALER_PARAMETERS,
    AUTOSCALER_REACTIVE,
    AUTOSCALER_SCHEDULE,
    AUTOSCALER_STATIC,
    AUTOSCALER_TARGET_UTILIZATION,
    AUTOSCALERS,
    DIMENSIONS,
    EXPANDERS,
    HOURS_PER_WEEK,
    RESOURCE_AUTO,
)
from .errors import InputError

__all__ = ["Autoscaler", "Static", "Reactive", "TargetUtilization", "Schedule", "Custom",
           "autoscaler_from", "build_autoscaler", "RESOURCES"]

RESOURCES = ("auto",) + DIMENSIONS

# Defaults of MODEL.md 11.4, with where they come from.
CLUSTER_AUTOSCALER_SCAN_INTERVAL = 10.0   # s, the Kubernetes cluster autoscaler's --scan-interval
HPA_SYNC_PERIOD = 15.0                    # s, the Horizontal Pod Autoscaler's sync period
SCALE_DOWN_UNNEEDED_TIME = 600.0          # s, the cluster autoscaler's --scale-down-unneeded-time
HPA_TOLERANCE = 0.1                       # the HPA's default tolerance
HPA_STABILIZATION = 300.0                 # s, the HPA's default scale-down stabilization window
# The HPA has no default target; 0.7 is a middle value between headroom and cost
# (the Kubernetes walkthrough uses 0.5). Set it per experiment.
DEFAULT_TARGET_UTILIZATION = 0.7


def _source(kind: str) -> str:
    return f"autoscaler {kind!r}"


def _positive(kind: str, name: str, value) -> float:
    value = _number(kind, name, value)
    if not value > 0:
        raise InputError(_source(kind), f"{name} must be > 0, got {value}")
    return value


def _non_negative(kind: str, name: str, value) -> float:
    value = _number(kind, name, value)
    if not value >= 0:
        raise InputError(_source(kind), f"{name} must be >= 0, got {value}")
    return value


def _number(kind: str, name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(_source(kind), f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise InputError(_source(kind), f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class Autoscaler:
    """Base of the autoscalers: ``kind`` (MODEL.md 11.4 name) and ``code`` (kernel)."""

    kind: ClassVar[str] = "static"
    code: ClassVar[int] = AUTOSCALER_STATIC

    def kernel_parameters(self) -> np.ndarray:
        """float64[N_AUTOSCALER_PARAMETERS], NaN where this kind has no such parameter."""
        out = np.full(len(AUTOSCALER_PARAMETERS), np.nan)
        for i, name in enumerate(AUTOSCALER_PARAMETERS):
            if hasattr(self, name):
                value = getattr(self, name)
                if name == "expander":
                    value = EXPANDERS.index(value)
                elif name == "resource":
                    value = RESOURCE_AUTO if value == "auto" else DIMENSIONS.index(value)
                out[i] = float(value)
        return out


@dataclass(frozen=True)
class Static(Autoscaler):
    """No autoscaling and no ticks (the default): pools keep their nodes, except that an
    interrupted spot node is replaced down to min_count (MODEL.md 11.5)."""


@dataclass(frozen=True)
class Reactive(Autoscaler):
    """The Kubernetes cluster autoscaler's behaviour (MODEL.md 11.4 reactive).

    Every ``interval`` s: nodes for the ready tasks that fit no up or booting node,
    pools chosen by ``expander`` ('least_waste', 'cheapest', 'first'), up to max_count;
    an up node idle for ``idle_timeout`` s is released, down to min_count."""

    interval: float = CLUSTER_AUTOSCALER_SCAN_INTERVAL
    idle_timeout: float = SCALE_DOWN_UNNEEDED_TIME
    expander: str = "least_waste"
    kind: ClassVar[str] = "reactive"
    code: ClassVar[int] = AUTOSCALER_REACTIVE

    def __post_init__(self):
        object.__setattr__(self, "interval", _positive(self.kind, "interval", self.interval))
        object.__setattr__(self, "idle_timeout", _non_negative(self.kind, "idle_timeout", self.idle_timeout))
        if self.expander not in EXPANDERS:
            raise InputError(_source(self.kind), f"unknown expander {self.expander!r}; choose one of {EXPANDERS}")


@dataclass(frozen=True)
class TargetUtilization(Autoscaler):
    """The Horizontal Pod Autoscaler's rule per pool (MODEL.md 11.4 target_utilization):
    desired = ceil(n * u / target) outside a ``tolerance`` band, scale-down to the
    largest recommendation of the last ``stabilization`` s. ``resource``: 'auto' (gpu
    if the pool's node has GPUs, else cpu), 'cpu', 'gpu' or 'mem_gb'."""

    interval: float = HPA_SYNC_PERIOD
    target: float = DEFAULT_TARGET_UTILIZATION
    tolerance: float = HPA_TOLERANCE
    stabilization: float = HPA_STABILIZATION
    resource: str = "auto"
    kind: ClassVar[str] = "target_utilization"
    code: ClassVar[int] = AUTOSCALER_TARGET_UTILIZATION

    def __post_init__(self):
        object.__setattr__(self, "interval", _positive(self.kind, "interval", self.interval))
        target = _positive(self.kind, "target", self.target)
        if target > 1:
            raise InputError(_source(self.kind), f"target is a utilization in (0, 1], got {target}")
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "tolerance", _non_negative(self.kind, "tolerance", self.tolerance))
        object.__setattr__(self, "stabilization", _non_negative(self.kind, "stabilization", self.stabilization))
        if self.resource not in RESOURCES:
            raise InputError(_source(self.kind), f"unknown resource {self.resource!r}; choose one of {RESOURCES}")


@dataclass(frozen=True)
class Schedule(Autoscaler):
    """Node counts by hour of week (MODEL.md 11.4 schedule).

    ``table``: a DataFrame, a list of dicts or a CSV path with columns ``pool``, ``day``
    (0 = Monday .. 6, or -1 for every day), ``hour`` (0-23), ``count``: the pool's count
    from that hour on, the week wrapping around."""

    table: object = None
    interval: float = CLUSTER_AUTOSCALER_SCAN_INTERVAL
    kind: ClassVar[str] = "schedule"
    code: ClassVar[int] = AUTOSCALER_SCHEDULE
    rows: pd.DataFrame = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "interval", _positive(self.kind, "interval", self.interval))
        object.__setattr__(self, "rows", _schedule_rows(self.table))

    def counts_by_hour(self, pool_names) -> np.ndarray:
        """int64[Q, 168]: each pool's count at each hour of week (before clipping to
        [min_count, max_count]), -1 for a pool without rows (left alone)."""
        names = list(pool_names)
        unknown = sorted(set(self.rows["pool"]) - set(names))
        if unknown:
            raise InputError(_source(self.kind), f"unknown pool(s) {unknown}; the cluster's pools are {names}")
        out = np.full((len(names), HOURS_PER_WEEK), -1, dtype=np.int64)
        for q, name in enumerate(names):
            mine = self.rows[self.rows["pool"] == name]
            if mine.empty:
                continue
            keys, counts = mine["key"].to_numpy(), mine["count"].to_numpy()
            last = counts[-1]   # the week wraps: before the first row, the last row holds
            j = 0
            for how in range(HOURS_PER_WEEK):
                while j < len(keys) and keys[j] <= how:
                    last = counts[j]
                    j += 1
                out[q, how] = last
        return out


def _schedule_rows(table) -> pd.DataFrame:
    """The table checked, day -1 expanded: pool, key (day * 24 + hour), count, by pool and key."""
    kind = "schedule"
    if table is None:
        raise InputError(_source(kind), "needs a table with columns pool, day, hour, count")
    source = _source(kind)
    if isinstance(table, (str, bytes)) or hasattr(table, "__fspath__"):
        source = str(table)
        try:
            table = pd.read_csv(table, skipinitialspace=True)
        except Exception as exc:
            raise InputError(source, f"cannot be read as a table: {exc}") from None
    frame = pd.DataFrame(table)
    missing = [c for c in ("pool", "day", "hour", "count") if c not in frame.columns]
    if missing:
        raise InputError(source, f"missing column(s) {missing}; a schedule has columns pool, day, hour, count")
    if frame.empty:
        raise InputError(source, "the schedule has no rows")
    values = {}
    for col, lo, hi in (("day", -1, 6), ("hour", 0, 23), ("count", 0, None)):
        a = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(a) | (a != np.round(a)) | (a < lo) | ((a > hi) if hi is not None else False)
        if bad.any():
            rows = np.flatnonzero(bad)
            rule = f"column {col!r} must be a whole number in [{lo}, {hi}]" if hi is not None \
                else f"column {col!r} must be a whole number >= {lo}"
            raise InputError(source, rule, rows, frame.iloc[rows[:5]].to_string())
        values[col] = a.astype(np.int64)
    records = []
    for i, name in enumerate(frame["pool"].astype(str)):
        days = range(7) if values["day"][i] == -1 else [values["day"][i]]
        for d in days:
            records.append((name, d * 24 + values["hour"][i], values["count"][i], i))
    rows = pd.DataFrame(records, columns=["pool", "key", "count", "row"])
    dup = rows.duplicated(["pool", "key"], keep=False)
    if dup.any():
        first = rows[dup].iloc[0]
        raise InputError(source, f"pool {first['pool']!r} has two rows for day {first['key'] // 24} "
                                 f"hour {first['key'] % 24}", sorted(set(rows.loc[dup, "row"])))
    return rows.sort_values(["pool", "key"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Custom(Autoscaler):
    """A user's rule (MODEL.md 11.4 custom): ``func(pool, up, booting, ready, utilization,
    now)`` -> the pool's desired number of nodes (a whole number, clipped to
    [min_count, max_count]), called once per pool per tick. Arguments: pool index, its
    up and booting nodes, ready tasks that fit an empty node of the pool, the
    utilization of ``TargetUtilization`` with resource 'auto' (0.0 for a pool with no
    requested node), the time. The engine compiles it (like ``custom_policy``)."""

    func: Callable = None
    interval: float = CLUSTER_AUTOSCALER_SCAN_INTERVAL
    name: str | None = None
    kind: ClassVar[str] = "custom"
    code: ClassVar[int] = AUTOSCALER_CUSTOM

    def __post_init__(self):
        object.__setattr__(self, "interval", _positive(self.kind, "interval", self.interval))
        if not callable(self.func):
            raise InputError(_source(self.kind), "needs a function desired(pool, up, booting, ready, "
                                                 "utilization, now)")
        try:
            params = inspect.signature(self.func).parameters.values()
        except (TypeError, ValueError):
            return   # a builtin or compiled function: its arity is checked when it is compiled
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
        if not varargs and len(positional) != 6:
            raise InputError(_source(self.kind), f"the function must take 6 arguments (pool, up, booting, "
                                                 f"ready, utilization, now), it takes {len(positional)}")

    def compiled(self):
        """The function compiled for the event loop (once per object): a C callback of
        ``engine.elastic.CUSTOM_AUTOSCALER_SIGNATURE``, so that the loop itself stays cached."""
        got = _COMPILED.get(id(self))
        if got is None or got[0] is not self:
            from numba import cfunc, njit

            from .engine.elastic import CUSTOM_AUTOSCALER_SIGNATURE

            user = njit(self.func)

            def desired(pool, up, booting, ready, utilization, now):
                return int(user(pool, up, booting, ready, utilization, now))

            got = _COMPILED[id(self)] = (self, cfunc(CUSTOM_AUTOSCALER_SIGNATURE)(desired))
        return got[1]


_COMPILED: dict = {}   # id(Custom) -> (the object, its compiled function)


_BY_NAME = {cls.kind: cls for cls in (Static, Reactive, TargetUtilization, Schedule, Custom)}
assert tuple(_BY_NAME) == AUTOSCALERS and all(cls.code == AUTOSCALERS.index(k) for k, cls in _BY_NAME.items())


def autoscaler_from(spec=None) -> Autoscaler:
    """An autoscaler from ``None`` (static), a name with its default parameters
    ('static', 'reactive', 'target_utilization'), or an ``Autoscaler`` (returned as is).
    'schedule' and 'custom' need their table or function: build them directly."""
    if spec is None:
        return Static()
    if isinstance(spec, Autoscaler):
        return spec
    if isinstance(spec, str):
        if spec not in _BY_NAME:
            raise InputError("autoscaler", f"unknown autoscaler {spec!r}; choose one of {AUTOSCALERS}")
        if spec in ("schedule", "custom"):
            raise InputError("autoscaler", f"{spec!r} needs parameters: use fastpipesim.autoscalers."
                                           f"{_BY_NAME[spec].__name__}(...)")
        return _BY_NAME[spec]()
    raise TypeError(f"an autoscaler is a name or a fastpipesim.autoscalers object, not {type(spec).__name__}")


def build_autoscaler(kind: str, params: dict) -> Autoscaler:
    """An autoscaler from its name and parameters given by name (the command line's and the
    experiment files' form): ``build_autoscaler("reactive", {"idle_timeout": 300})``. A
    parameter the kind does not have is an error naming the kinds that have it; ``schedule``
    takes its ``table`` (a CSV path); ``custom`` needs a function and is built in Python."""
    if kind not in _BY_NAME or kind == "custom":
        names = [k for k in AUTOSCALERS if k != "custom"]
        raise InputError("autoscaler", f"unknown autoscaler {kind!r}; choose one of {names} (a custom one is "
                                       "built in Python: fastpipesim.autoscalers.Custom)")
    cls = _BY_NAME[kind]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    for name in params:
        if name not in fields:
            have = [k for k, c in _BY_NAME.items() if name in {f.name for f in dataclasses.fields(c) if f.init}]
            raise InputError("autoscaler", f"the {kind!r} autoscaler has no parameter {name!r}"
                                           + (f"; it goes with {have}" if have else ""))
    return cls(**params)
