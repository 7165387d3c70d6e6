"""Fitting a workload generator to a trace (MODEL.md 8, "Fitting", and MODEL.md 10).

:func:`fit_trace` estimates, from a :class:`~fastpipesim.trace.Trace`, a
generator that makes workloads "like this trace", optionally bigger
(``rate_scale``) or longer (``days``), and that carries the trace's load:

- arrivals (:mod:`fastpipesim.arrivals`): a non-homogeneous Poisson process with
  an hourly x weekday profile (``weekly``) or an hourly profile x one level per day
  of the trace (``daily``, for traces whose rate drifts), fitted by maximum
  likelihood on the hour bins of the observation window ``[start, start + days)``
  (by default ``[0, last arrival rounded up to an hour)``), or whole days of the
  trace resampled (``days``). ``arrivals="auto"`` picks weekly or daily by AIC.
  The generator draws arrivals on the same window (``rate_scale`` times as many).
- pipeline shapes: the distinct DAGs (the sequence of task types in task-index
  order plus the edges between task positions), each with the task names of
  its first pipeline; a generated pipeline draws its shape, ``model_id`` and
  ``priority`` together from their empirical joint frequencies.
- per task type, *classes* of tasks: if the type has few distinct resource
  requests (<= ``max_request_classes``), each with at least ``min_class_size``
  tasks, one class per request (so that, for example, GPU and CPU training keep
  their own durations); otherwise one class holding the type's requests, drawn
  at the rank of the task's duration (the request of a trace task whose
  duration has that rank: long tasks keep the requests that long tasks had, so
  the class's work ``E[request x duration]`` is the trace's). Each class has a
  duration distribution (:mod:`fastpipesim.distributions`): log-normal, gamma,
  Weibull, exponential, a mixture of log-normals, a spliced log-normal body
  with a generalized Pareto tail, or the empirical distribution, chosen by AIC
  among the candidates that keep the sample's mean and 99th percentile.
- durations within a pipeline: a Gaussian copula with one factor per pipeline
  (a pipeline-level size) and a loading per class, estimated from the
  correlation of the normal scores of durations of tasks of the same pipeline
  (a large dataset makes every step long). The classes' distributions are kept
  exactly.

What is not kept: correlations between a task's duration and its pipeline's
model, and the lifecycle (``models`` table, candidate outcomes): generated
pipelines carry no candidate outcomes.

Goodness of fit: per fitted distribution, the Kolmogorov-Smirnov statistic
and its p-value against the fitted CDF (parameters estimated from the same
data, so the p-value is optimistic, and with many thousands of tasks even a
good fit is rejected: read the statistic, the largest CDF gap). Arrivals get
a row per model: by the time-rescaling theorem, the fitted cumulative rate at
the arrival times, divided by its total, is uniform on [0, 1] under the model.
The *load* report compares, per resource, the trace's work per day with the
fitted model's expected work per day.

:class:`FitResult` holds the generator (:class:`FittedWorkload`), the
goodness-of-fit table, the candidates of every class, the load report, and can
be saved to / loaded from JSON (the PARAMS file) and drawn
(:meth:`FitResult.plot`). Typical use::

    fit = fit_trace(read_trace("traces/modelops-medium"))
    print(fit.summary())                       # KS per fitted distribution, load per day
    fit.save("params.json"); fit.plot("fit.png")
    bigger = FitResult.load("params.json").generator(rate_scale=10)
    simulate(bigger, replications=8)           # or bigger.tables(seed, r) -> a trace

For traces of the ModelOps generator itself (pipelines with ``framework`` and
``dataset_size_gb``, task names = template steps), :func:`fit_modelops`
estimates the :class:`~fastpipesim.modelops.ModelOpsWorkload` parameters
instead (step duration models ``a + b * size**e``, ``sigma``, inclusion
probabilities, Zipf exponent, size distributions).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from . import arrivals as arr
from .distributions import CANDIDATE_COLUMNS, CANDIDATES, DurationDist, fit_candidates, fit_duration  # noqa: F401
from .workload import Batch, build_arrays, type_codes

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
FORMAT = "fastpipesim-fit"
FORMAT_VERSION = 2  # 2: arrival models, heavy-tailed families, request ranks, loadings, load report; reads 1
FAMILIES = CANDIDATES
GOF_COLUMNS = ("type", "request", "distribution", "params", "n", "ks_stat", "p_value", "aic", "mean", "fitted_mean",
               "p99", "fitted_p99", "chosen")
RESOURCES = (("cpu", "core-hours"), ("gpu", "GPU-hours"), ("mem_gb", "GiB-hours"))
LOAD_COLUMNS = ("resource", "unit", "trace_per_day", "model_per_day", "rel_diff")
#: the fit report warns when the model's expected work per day differs from the trace's by more than this
LOAD_WARN = 0.05
_QUANTILES = 201  # empirical quantiles kept per class, for plots after load()
_TAIL_POINTS = 200  # largest durations kept per class, for the survival plot after load()

fit_arrivals = arr.fit_weekly  # the name this module has always exported


def _rng(seed: int, replication: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(replication),))))


def _ks(x: np.ndarray, cdf) -> tuple[float, float]:
    if len(x) < 1:
        return float("nan"), float("nan")
    # the exact p-value costs seconds beyond ~10^4 points; the asymptotic one is then accurate
    r = stats.kstest(x, cdf, method="exact" if len(x) <= 10_000 else "asymp")
    return float(r.statistic), float(r.pvalue)


# ----------------------------------------------------------------------------- the generator
@dataclass(frozen=True)
class Template:
    """A pipeline shape: task names and types in task-index order, edges between positions."""

    names: tuple
    types: tuple
    edges: tuple  # ((pred position, succ position), ...)

    def after(self) -> tuple:
        preds = [[] for _ in self.names]
        for a, b in self.edges:
            preds[b].append(self.names[a])
        return tuple(";".join(p) for p in preds)


@dataclass(frozen=True)
class TaskClass:
    """Tasks of one type that share a duration distribution; their requests and the requests' probabilities.

    ``rank_request``, if not empty, holds for the class's trace tasks sorted by
    duration the index (in ``requests``) of each one's request: a task drawn at
    duration quantile ``u`` gets the request at position ``floor(u * len)``.
    ``loading`` is the class's loading on the pipeline factor of the duration copula.
    """

    type: str
    requests: tuple  # ((cpu, gpu, mem_gb), ...)
    request_p: tuple
    duration: DurationDist
    share: float  # fraction of the type's tasks in this class
    rank_request: tuple = ()
    loading: float = 0.0

    def work(self) -> np.ndarray:
        """Expected ``request x duration`` of a task of the class: float64[3] (cpu, gpu, mem_gb) x seconds."""
        reqs = np.asarray(self.requests, dtype=np.float64).reshape(-1, 3)
        if self.rank_request:
            n = len(self.rank_request)
            part = self.duration.bin_means(np.arange(n + 1, dtype=np.float64) / n)
            return (reqs[np.asarray(self.rank_request, dtype=np.int64)] * part[:, None]).sum(axis=0)
        return (np.asarray(self.request_p, dtype=np.float64) @ reqs) * self.duration.mean()


@dataclass(frozen=True)
class FittedWorkload:
    """A workload generator fitted to a trace; same contract as :class:`ModelOpsWorkload`.

    ``generate(seed, replication)`` draws replication ``replication`` of ``seed`` from
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(replication,))))`` (MODEL.md 8), in
    this order (MODEL.md 10.4):

    1. arrivals: ``weekly``/``daily``: the number of pipelines (Poisson) and their
       times (uniforms in cumulative-rate space); ``days``: one uniform per generated
       day (how many copies) and one per copy (which day of the trace);
    2. per pipeline, its (shape, model, priority) (one uniform each);
    3. per task, a uniform for its class, one for its request and one for its
       duration (inverse CDF);
    4. only if a class has a non-zero ``loading``: per pipeline, a uniform for its
       copula factor (-> standard normal);
    5. only if a class is a smoothed empirical distribution: per task, a uniform
       for the smoothing kernel.

    Draws 4 and 5 do not exist for workloads without those features, so the
    numbers of a PARAMS file of version 1 are unchanged. Change ``rate_scale`` or
    ``days`` with :func:`dataclasses.replace`.

    Attributes
    ----------
    days : float
        Arrivals are generated on ``[start, start + days)``; the default horizon is its end.
    base_rate : float
        Pipelines per hour on average over the fitted window (before ``rate_scale``).
    hourly, weekday : tuple of float
        Relative rate per hour of day (24) and day of week (7, Monday first), mean 1.
    rate_scale : float
        Multiplies the arrival rate (``days``: the expected copies of each day).
    templates : tuple of Template
    pipeline_kinds : tuple of (template index, model_id, priority)
    pipeline_p : tuple of float
        Probability of each pipeline kind.
    classes : tuple of TaskClass
    start : float
        Seconds, a whole hour: start of the arrival window (0 unless the trace was fitted
        from a later start).
    arrivals : str
        ``weekly``, ``daily`` or ``days`` (:mod:`fastpipesim.arrivals`).
    daily : tuple of float
        ``daily``: relative rate of each calendar day of the fitted window (mean 1);
        days past it repeat the window's last week.
    day_blocks : tuple of tuple of float
        ``days``: arrival offsets (seconds) in each whole 24-hour block of the window.
    day_window : int
        ``days``: a generated day copies a block of the same weekday within this many weeks.
    """

    days: float
    base_rate: float
    hourly: tuple
    weekday: tuple
    templates: tuple
    pipeline_kinds: tuple
    pipeline_p: tuple
    classes: tuple
    rate_scale: float = 1.0
    start: float = 0.0
    arrivals: str = "weekly"
    daily: tuple = ()
    day_blocks: tuple = ()
    day_window: int = arr.DAYS_WINDOW
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        for nm in ("days", "base_rate", "rate_scale"):
            v = getattr(self, nm)
            if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{nm} must be a finite number >= 0, got {v!r}")
        arr.start_hour(self.start)
        if not self.days > 0:
            raise ValueError(f"days must be > 0, got {self.days!r}")
        for nm, n in (("hourly", 24), ("weekday", 7)):
            prof = np.asarray(getattr(self, nm), dtype=np.float64)
            if prof.shape != (n,) or not np.all(np.isfinite(prof)) or np.any(prof < 0) or prof.sum() <= 0:
                raise ValueError(f"{nm} must hold {n} finite numbers >= 0, not all 0")
            if abs(prof.mean() - 1.0) > 1e-12:  # accepted as a shape, stored with mean 1
                prof = prof / prof.mean()
            object.__setattr__(self, nm, tuple(float(x) for x in prof))
        if self.arrivals not in arr.MODELS:
            raise ValueError(f"arrivals must be one of {arr.MODELS}, got {self.arrivals!r}")
        daily = np.asarray(self.daily, dtype=np.float64)
        if self.arrivals == "daily" and (daily.ndim != 1 or len(daily) == 0 or not np.all(np.isfinite(daily))
                                         or np.any(daily < 0) or daily.sum() <= 0):
            raise ValueError("daily arrivals need 'daily': one finite level >= 0 per day, not all 0")
        object.__setattr__(self, "daily", tuple(float(x) for x in daily))
        blocks = tuple(tuple(float(x) for x in b) for b in self.day_blocks)
        if self.arrivals == "days":
            if not blocks:
                raise ValueError("'days' arrivals need 'day_blocks': the arrival offsets of each day of the trace")
            for j, b in enumerate(blocks):
                if any(not (0.0 <= x < SECONDS_PER_DAY) for x in b) or list(b) != sorted(b):
                    raise ValueError(f"day_blocks[{j}] must hold sorted offsets in [0, 86400) seconds")
        object.__setattr__(self, "day_blocks", blocks)
        if not (isinstance(self.day_window, (int, np.integer)) and self.day_window >= 0):
            raise ValueError(f"day_window must be an integer >= 0, got {self.day_window!r}")
        if not self.templates or not self.pipeline_kinds or len(self.pipeline_kinds) != len(self.pipeline_p):
            raise ValueError("a fitted workload needs templates and pipeline kinds with one probability each")
        types = {t for tpl in self.templates for t in tpl.types}
        missing = types - {c.type for c in self.classes}
        if missing:
            raise ValueError(f"task types {sorted(missing)} have no fitted class")
        for i, c in enumerate(self.classes):
            if not (math.isfinite(c.loading) and -1.0 < c.loading < 1.0):
                raise ValueError(f"classes[{i}] ({c.type}): loading must be in (-1, 1), got {c.loading!r}")
            if c.rank_request and not all(0 <= int(r) < len(c.requests) for r in c.rank_request):
                raise ValueError(f"classes[{i}] ({c.type}): rank_request must index its {len(c.requests)} requests")

    # ------------------------------------------------------------------ derived
    @property
    def default_horizon(self) -> float:
        """Seconds: ``simulate`` observes the generated period (``days``) unless told otherwise."""
        return self.start + self.days * SECONDS_PER_DAY

    def expected_pipelines(self) -> float:
        """Expected number of pipelines per replication."""
        if self.arrivals == "days":
            return self.rate_scale * float(arr.days_expected(self.day_blocks, self.days, self.day_window).sum())
        return float(self._plan["mass"].sum())

    def expected_work(self) -> dict:
        """Expected work per replication: ``{resource: request x seconds}`` for cpu, gpu and mem_gb.

        Exact from the parameters: pipelines x tasks of each type per pipeline x each
        class's ``E[request x duration]`` (:meth:`TaskClass.work`; the copula leaves
        every class's distribution as it is).
        """
        per_type = {}
        for (t, _, _), q in zip(self.pipeline_kinds, self.pipeline_p):
            for ty in self.templates[t].types:
                per_type[ty] = per_type.get(ty, 0.0) + q
        total = np.zeros(3)
        for c in self.classes:
            total += per_type.get(c.type, 0.0) * c.share * c.work()
        total *= self.expected_pipelines() / float(np.sum(self.pipeline_p))
        return {r: float(v) for (r, _), v in zip(RESOURCES, total)}

    @property
    def type_names(self) -> tuple:
        return self._plan["type_names"]

    @property
    def _plan(self) -> dict:
        plan = self._cache.get("plan")
        if plan is not None:
            return plan
        types_in_order = [t for tpl in self.templates for t in tpl.types] + [c.type for c in self.classes]
        _, type_names = type_codes(types_in_order) if types_in_order else (None, ())
        code = {n: i for i, n in enumerate(type_names)}
        _, _, _, length = arr.hour_bins(self.days)
        mass = arr.bin_mass(self.arrivals, self.days, self.start, self.rate_scale * self.base_rate, self.hourly,
                            self.weekday, self.daily) if self.arrivals != "days" else np.zeros(len(length))
        # classes of each type: cdf over classes
        class_of_type, class_cdf = {}, {}
        for i, c in enumerate(self.classes):
            class_of_type.setdefault(c.type, []).append(i)
        for t, idx in class_of_type.items():
            share = np.array([self.classes[i].share for i in idx], dtype=np.float64)
            class_cdf[t] = (np.array(idx, dtype=np.int64), _cdf(share))
        tpl_types = [np.array([code[t] for t in tpl.types], dtype=np.int64) for tpl in self.templates]
        plan = {
            "type_names": type_names,
            "code": code,
            "mass": mass,
            "cum": np.cumsum(mass),
            "bin_start": self.start + np.arange(len(mass)) * SECONDS_PER_HOUR,
            "length": length * SECONDS_PER_HOUR,
            "last": int(np.flatnonzero(mass > 0)[-1]) if np.any(mass > 0) else 0,
            "kind_cdf": _cdf(self.pipeline_p),
            "kinds": np.array(self.pipeline_kinds, dtype=np.int64).reshape(-1, 3),
            # the templates flattened (CSR), so that a replication is assembled without a loop over them
            "tpl_count": np.array([len(t.names) for t in self.templates], dtype=np.int64),
            "tpl_ptr": _ptr([len(t.names) for t in self.templates]),
            "tpl_types": np.concatenate(tpl_types),
            "tpl_names": np.array([x for t in self.templates for x in t.names], dtype=object),
            "tpl_after": np.array([x for t in self.templates for x in t.after()], dtype=object),
            "tpl_n_edges": np.array([len(t.edges) for t in self.templates], dtype=np.int64),
            "tpl_edge_ptr": _ptr([len(t.edges) for t in self.templates]),
            "tpl_edges": np.array([e for t in self.templates for e in t.edges], dtype=np.int64).reshape(-1, 2),
            "class_of_type": {code[t]: v for t, v in class_cdf.items()},
            "req": [np.array(c.requests, dtype=np.float64).reshape(-1, 3) for c in self.classes],
            "req_cdf": [_cdf(c.request_p) for c in self.classes],
            "rank_req": [np.asarray(c.rank_request, dtype=np.int64) for c in self.classes],
            "loaded": any(c.loading != 0.0 for c in self.classes),
            "smoothed": any(c.duration.smoothed for c in self.classes),
        }
        self._cache["plan"] = plan
        return plan

    # ------------------------------------------------------------------ drawing
    def _arrivals(self, rng) -> np.ndarray:
        """Draws 1 (see the class docstring): sorted submit times."""
        if self.arrivals == "days":
            return arr.draw_days(rng, self.day_blocks, self.days, self.start, self.rate_scale, self.day_window)
        plan = self._plan
        total = float(plan["mass"].sum())
        n = int(rng.poisson(total)) if total > 0 else 0
        u = np.sort(rng.random(n)) * total
        k = np.minimum(np.searchsorted(plan["cum"], u, side="right"), plan["last"])
        frac = (u - (plan["cum"][k] - plan["mass"][k])) / plan["mass"][k] if n else u
        frac = np.clip(frac, 0.0, np.nextafter(1.0, 0.0))
        submit = plan["bin_start"][k] + frac * plan["length"][k] if n else np.zeros(0)
        return np.maximum.accumulate(submit) if n else submit

    def _draw(self, seed: int, replication: int) -> dict:
        plan = self._plan
        rng = _rng(seed, replication)
        submit = self._arrivals(rng)
        n = len(submit)
        kind = plan["kinds"][_pick(plan["kind_cdf"], rng.random(n))]
        tpl = kind[:, 0]
        count = plan["tpl_count"][tpl]
        T = int(count.sum())
        task_ptr = _ptr(count)
        pipe_of_task = np.repeat(np.arange(n, dtype=np.int64), count)
        src = plan["tpl_ptr"][tpl][pipe_of_task] + np.arange(T, dtype=np.int64) - task_ptr[pipe_of_task]
        task_type = plan["tpl_types"][src]
        task_name = plan["tpl_names"][src]
        task_after = plan["tpl_after"][src]
        n_edges = plan["tpl_n_edges"][tpl]
        E = int(n_edges.sum())
        pipe_of_edge = np.repeat(np.arange(n, dtype=np.int64), n_edges)
        esrc = plan["tpl_edge_ptr"][tpl][pipe_of_edge] + np.arange(E, dtype=np.int64) - _ptr(n_edges)[pipe_of_edge]
        edge_pred = task_ptr[pipe_of_edge] + plan["tpl_edges"][esrc, 0] if E else np.zeros(0, dtype=np.int64)
        edge_succ = task_ptr[pipe_of_edge] + plan["tpl_edges"][esrc, 1] if E else np.zeros(0, dtype=np.int64)
        u_class, u_req, u_dur = rng.random(T), rng.random(T), rng.random(T)
        u_dur = np.clip(u_dur, 1e-12, 1.0 - 1e-12)
        cls = np.empty(T, dtype=np.int64)
        for code, (idx, cdf) in plan["class_of_type"].items():
            hit = task_type == code
            cls[hit] = idx[_pick(cdf, u_class[hit])]
        if plan["loaded"]:  # the pipeline factor of the copula: u -> Phi(rho z_p + sqrt(1 - rho^2) Phi^-1(u))
            z_p = special.ndtri(np.maximum(rng.random(n), 2.0 ** -53))
            for c, tc in enumerate(self.classes):
                if tc.loading != 0.0:
                    hit = np.flatnonzero(cls == c)
                    rho = tc.loading
                    x = rho * z_p[pipe_of_task[hit]] + math.sqrt(1.0 - rho * rho) * special.ndtri(u_dur[hit])
                    u_dur[hit] = np.clip(special.ndtr(x), 1e-12, 1.0 - 1e-12)
        u_smooth = rng.random(T) if plan["smoothed"] else None
        req = np.empty((T, 3))
        dur = np.empty(T)
        for c in np.unique(cls):
            hit = cls == c
            ranks = plan["rank_req"][c]
            if len(ranks):  # the request of the trace task at the duration's rank
                r = ranks[np.minimum((u_dur[hit] * len(ranks)).astype(np.int64), len(ranks) - 1)]
            else:
                r = _pick(plan["req_cdf"][c], u_req[hit])
            req[hit] = plan["req"][c][r]
            d = self.classes[c].duration
            dur[hit] = d.ppf(u_dur[hit])
            if d.smoothed:
                dur[hit] *= d.smoothing(u_smooth[hit])
        dur = np.maximum(dur, 1e-6)  # durations must be > 0 (MODEL.md 2)
        return {
            "n": n, "submit": submit, "model": kind[:, 1], "priority": kind[:, 2], "count": count,
            "type": task_type, "name": task_name, "after": task_after, "cpu": req[:, 0], "gpu": req[:, 1],
            "mem": req[:, 2], "duration": dur,
            "edge_pred": edge_pred, "edge_succ": edge_succ,
        }

    def generate(self, seed: int, replication: int = 0) -> Batch:
        """The workload of one replication as a :class:`Batch` (pipeline ids 0..n-1 in submit order)."""
        d = self._draw(seed, replication)
        arrays = build_arrays(
            pipeline_id=np.arange(d["n"], dtype=np.int64), submit=d["submit"], model=d["model"],
            priority=d["priority"], task_count=d["count"], task_type=d["type"], cpu=d["cpu"], gpu=d["gpu"],
            mem=d["mem"], duration=d["duration"], edge_pred=d["edge_pred"], edge_succ=d["edge_succ"],
        )
        return Batch(arrays=arrays, type_names=self.type_names, task_names=d["name"],
                     replications=np.array([int(replication)], dtype=np.int64))

    def batch(self, seed: int, replications) -> Batch:
        """The workloads of several replications, concatenated in the order given."""
        from .workload import concat_batches

        reps = [int(r) for r in np.atleast_1d(replications)]
        if not reps:
            raise ValueError("replications must name at least one replication")
        return concat_batches([self.generate(seed, r) for r in reps])

    def tables(self, seed: int, replication: int = 0) -> dict:
        """The same replication as :meth:`generate`, as trace tables ``{'pipelines', 'tasks'}`` (MODEL.md 2)."""
        d = self._draw(seed, replication)
        pipelines = pd.DataFrame({
            "pipeline_id": np.arange(d["n"], dtype=np.int64),
            "submit_time": d["submit"],
            "model_id": d["model"],
            "priority": d["priority"],
        })
        tasks = pd.DataFrame({
            "pipeline_id": np.repeat(np.arange(d["n"], dtype=np.int64), d["count"]),
            "task": d["name"],
            "type": np.asarray(self.type_names, dtype=object)[d["type"]],
            "cpu": d["cpu"], "gpu": d["gpu"], "mem_gb": d["mem"], "duration": d["duration"],
            "after": d["after"],
        })
        return {"pipelines": pipelines, "tasks": tasks}

    def template_frequencies(self) -> pd.DataFrame:
        """Probability of each pipeline shape, most frequent first."""
        p = np.zeros(len(self.templates))
        for (t, _, _), q in zip(self.pipeline_kinds, self.pipeline_p):
            p[t] += q
        rows = [{"template": j, "tasks": ";".join(tpl.names), "types": ";".join(tpl.types),
                 "after": "|".join(tpl.after()), "p": p[j]} for j, tpl in enumerate(self.templates)]
        return pd.DataFrame(rows).sort_values("p", ascending=False, kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        out = {
            "days": self.days, "start": self.start, "base_rate": self.base_rate, "rate_scale": self.rate_scale,
            "hourly": list(self.hourly), "weekday": list(self.weekday), "arrivals": self.arrivals,
            "templates": [{"names": list(t.names), "types": list(t.types), "edges": [list(e) for e in t.edges]}
                          for t in self.templates],
            "pipeline_kinds": [[int(x) for x in k] for k in self.pipeline_kinds],
            "pipeline_p": [float(p) for p in self.pipeline_p],
            "classes": [{"type": c.type, "share": c.share, "requests": [list(r) for r in c.requests],
                         "request_p": list(c.request_p), "duration": c.duration.to_json(),
                         "rank_request": [int(r) for r in c.rank_request], "loading": c.loading}
                        for c in self.classes],
        }
        if self.arrivals == "daily":
            out["daily"] = list(self.daily)
        if self.arrivals == "days":
            out["day_blocks"] = [list(b) for b in self.day_blocks]
            out["day_window"] = int(self.day_window)
        return out

    @classmethod
    def from_json(cls, d: dict) -> "FittedWorkload":
        return cls(
            days=float(d["days"]), start=float(d.get("start", 0.0)), base_rate=float(d["base_rate"]),
            rate_scale=float(d.get("rate_scale", 1.0)),
            hourly=tuple(d["hourly"]), weekday=tuple(d["weekday"]),
            arrivals=str(d.get("arrivals", "weekly")), daily=tuple(d.get("daily", ())),
            day_blocks=tuple(tuple(b) for b in d.get("day_blocks", ())),
            day_window=int(d.get("day_window", arr.DAYS_WINDOW)),
            templates=tuple(Template(tuple(t["names"]), tuple(t["types"]), tuple(tuple(int(x) for x in e)
                                                                                for e in t["edges"]))
                            for t in d["templates"]),
            pipeline_kinds=tuple(tuple(int(x) for x in k) for k in d["pipeline_kinds"]),
            pipeline_p=tuple(float(p) for p in d["pipeline_p"]),
            classes=tuple(TaskClass(c["type"], tuple(tuple(float(x) for x in r) for r in c["requests"]),
                                    tuple(float(p) for p in c["request_p"]), DurationDist.from_json(c["duration"]),
                                    float(c["share"]), tuple(int(r) for r in c.get("rank_request", ())),
                                    float(c.get("loading", 0.0)))
                          for c in d["classes"]),
        )


def _cdf(p) -> np.ndarray:
    c = np.cumsum(np.asarray(p, dtype=np.float64))
    return c / c[-1]


def _ptr(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]).astype(np.int64)


def _unique_rows(x: np.ndarray):
    """Sorted distinct rows of a 2-d array, the row index of each input row, and the counts
    (what ``np.unique(axis=0)`` gives, several times faster through a pandas group-by)."""
    frame = pd.DataFrame(x)
    groups = frame.groupby(list(frame.columns), sort=True)
    inverse = groups.ngroup().to_numpy(np.int64)
    counts = np.bincount(inverse, minlength=groups.ngroups)
    first = np.full(groups.ngroups, len(x), dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(len(x), dtype=np.int64))
    return x[first], inverse, counts


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).astype(np.int64)


# ----------------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted generator, its goodness of fit, the load it carries, and what the plots need.

    Attributes
    ----------
    workload : FittedWorkload
    gof : DataFrame
        One row per fitted distribution (``GOF_COLUMNS``): task type, request
        (``cpu/gpu/mem_gb`` or ``*`` for a class holding several), distribution,
        parameters (JSON text), n, KS statistic, p-value, AIC, mean and 99th
        percentile of the data and of the fit. Then one row per arrival model, with
        type ``(arrivals)``, the chosen one first (``chosen`` true).
    quantiles : dict
        Per class index: the data's quantiles at ``linspace(0, 1, 201)`` (for plots).
    hourly_counts, weekday_counts, daily_counts : arrays
        Arrivals per hour of day, day of week and calendar day of the window in the trace.
    source : str
    aic : dict
        Per class index, ``{family: AIC}`` of the parametric candidates.
    candidates : dict
        Per class index, a DataFrame of every candidate (``distributions.CANDIDATE_COLUMNS``).
    load : DataFrame
        Per resource (``LOAD_COLUMNS``): the trace's work per day and the fitted model's
        expected work per day (at rate scale 1), and their relative difference.
    tails : dict
        Per class index: its largest durations, descending (the survival plot's tail).
    """

    workload: FittedWorkload
    gof: pd.DataFrame
    quantiles: dict
    hourly_counts: np.ndarray
    weekday_counts: np.ndarray
    source: str = "<trace>"
    aic: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)
    load: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(LOAD_COLUMNS)))
    daily_counts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tails: dict = field(default_factory=dict)

    # -------------------------------------------------------------- convenience
    @property
    def base_rate(self) -> float:
        return self.workload.base_rate

    @property
    def hourly(self) -> np.ndarray:
        return np.asarray(self.workload.hourly)

    @property
    def weekday(self) -> np.ndarray:
        return np.asarray(self.workload.weekday)

    def generator(self, rate_scale: float = 1.0, days: float | None = None) -> FittedWorkload:
        """The fitted workload, ``rate_scale`` times as busy, over ``days`` (default: the trace's)."""
        kw = {"rate_scale": float(rate_scale)}
        if days is not None:
            kw["days"] = float(days)
        return dataclasses.replace(self.workload, **kw)

    def load_warnings(self) -> list[str]:
        """One line per resource whose fitted work per day is more than ``LOAD_WARN`` from the trace's."""
        out = []
        for r in self.load.itertuples():
            if math.isfinite(r.rel_diff) and abs(r.rel_diff) > LOAD_WARN:
                out.append(f"WARNING: the fitted workload's {r.resource} work is {r.model_per_day:,.1f} {r.unit} "
                           f"per day against the trace's {r.trace_per_day:,.1f} ({100 * r.rel_diff:+.1f}%): "
                           f"a workload generated from this fit does not carry the trace's {r.resource} load")
        return out

    def summary(self) -> str:
        w = self.workload
        lines = [
            f"fit of {self.source}: {int(self.hourly_counts.sum())} pipelines over {w.days:g} days, "
            f"base rate {w.base_rate:.4g} pipelines/hour ({w.arrivals} arrivals), {len(w.templates)} pipeline "
            f"shapes, {len(w.classes)} task classes",
        ]
        cols = [c for c in GOF_COLUMNS if c not in ("params", "p_value", "chosen")]
        with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 60):
            lines.append(self.gof[cols].to_string(index=False))
            loaded = [c for c in w.classes if c.loading != 0.0]
            if loaded:
                lines.append("durations within a pipeline: copula loadings " + ", ".join(
                    f"{c.type}{'' if len(c.requests) > 1 else ' [' + '/'.join(f'{v:g}' for v in c.requests[0]) + ']'}"
                    f" {c.loading:.2f}" for c in loaded))
            if len(self.load):
                lines += ["", "work per day, trace against the fitted model (rate scale 1):"]
                tab = self.load.assign(rel_diff=[f"{100 * v:+.1f}%" for v in self.load["rel_diff"]])
                lines.append(tab.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
        lines += self.load_warnings()
        return "\n".join(lines)

    # -------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        gof = self.gof.astype(object).where(self.gof.notna(), None)
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "source": self.source,
            "workload": self.workload.to_json(),
            "goodness_of_fit": gof.to_dict(orient="records"),
            "load": self.load.to_dict(orient="records"),
            "candidates": {str(k): v.astype(object).where(v.notna(), None).to_dict(orient="records")
                           for k, v in self.candidates.items()},
            "quantiles": {str(k): [float(x) for x in v] for k, v in self.quantiles.items()},
            "tails": {str(k): [float(x) for x in v] for k, v in self.tails.items()},
            "hourly_counts": [float(x) for x in self.hourly_counts],
            "weekday_counts": [float(x) for x in self.weekday_counts],
            "daily_counts": [float(x) for x in self.daily_counts],
            "aic": {str(k): v for k, v in self.aic.items()},
        }

    def save(self, path) -> Path:
        """Write the PARAMS file (JSON); returns its path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, d: dict, source: str = "<json>") -> "FitResult":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{source}: not a fastpipesim fit (PARAMS) file: 'format' is not {FORMAT!r}")
        if int(d.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"{source}: PARAMS version {d.get('version')} is newer than this fastpipesim "
                             f"reads ({FORMAT_VERSION})")
        gof = pd.DataFrame(d.get("goodness_of_fit", []), columns=list(GOF_COLUMNS))
        for c in ("n",):
            gof[c] = gof[c].astype(np.int64)
        for c in ("ks_stat", "p_value", "aic", "mean", "fitted_mean", "p99", "fitted_p99"):
            gof[c] = gof[c].astype(np.float64)
        gof["chosen"] = gof["chosen"].map(lambda v: bool(v) if v is not None and v == v else True).astype(bool)
        return cls(
            workload=FittedWorkload.from_json(d["workload"]),
            gof=gof,
            quantiles={int(k): np.asarray(v, dtype=np.float64) for k, v in d.get("quantiles", {}).items()},
            hourly_counts=np.asarray(d.get("hourly_counts", np.zeros(24)), dtype=np.float64),
            weekday_counts=np.asarray(d.get("weekday_counts", np.zeros(7)), dtype=np.float64),
            source=str(d.get("source", source)),
            aic={int(k): v for k, v in d.get("aic", {}).items()},
            candidates={int(k): pd.DataFrame(v, columns=list(CANDIDATE_COLUMNS))
                        for k, v in d.get("candidates", {}).items()},
            load=pd.DataFrame(d.get("load", []), columns=list(LOAD_COLUMNS)),
            daily_counts=np.asarray(d.get("daily_counts", []), dtype=np.float64),
            tails={int(k): np.asarray(v, dtype=np.float64) for k, v in d.get("tails", {}).items()},
        )

    @classmethod
    def load(cls, path) -> "FitResult":
        """Read a PARAMS file written by :meth:`save`."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        try:
            return cls.from_json(d, str(path))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: malformed PARAMS file ({type(e).__name__}: {e})") from None

    # -------------------------------------------------------------- plots
    def plot(self, path, max_classes: int = 12) -> Path:
        """Draw, per task class, the fitted (line) against the empirical (steps) duration CDF and,
        beside it, both survival functions on log-log axes (where tails show); then the
        arrival profiles, the daily arrivals, and the work per day of trace and fit. PNG
        (needs matplotlib; uses the Agg backend)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            import matplotlib.ticker
        except ImportError:
            raise ImportError(
                "plotting a fit needs matplotlib: pip install matplotlib (or install fastpipesim[plot])"
            ) from None
        w = self.workload
        idx = [i for i in range(len(w.classes)) if i in self.quantiles][:max_classes]
        n_panels = 2 * len(idx) + 4
        ncol = 4
        nrow = int(math.ceil(n_panels / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 3.2 * nrow), squeeze=False)
        axes = axes.ravel()
        for j, i in enumerate(idx):
            c = w.classes[i]
            q = self.quantiles[i]
            row = self.gof.iloc[i] if i < len(self.gof) else None
            req = "" if row is None or row["request"] == "*" else f" [{row['request']}]"
            ks = "" if row is None else f"\nn={int(row['n'])}, KS={row['ks_stat']:.3f}"
            lo, hi = max(q[0], 1e-9), max(q[-1], q[0] * 1.01 + 1e-9)
            x = np.geomspace(lo * 0.8, hi * 1.25, 300)
            ax = axes[2 * j]
            levels = np.linspace(0.0, 1.0, len(q))
            ax.step(q, levels, where="post", color="0.3", label="trace")
            ax.plot(x, c.duration.cdf(x), color="C1", label=c.duration.label())
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # narrow ranges: no crowded labels
            ax.set_title(f"{c.type}{req}{ks}", fontsize=9)
            ax.set_xlabel("duration (s)", fontsize=8)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=7, loc="lower right")
            ax = axes[2 * j + 1]
            n = int(row["n"]) if row is not None else len(q)
            tail = self.tails.get(i, np.zeros(0))
            # body from the stored quantiles, tail from the largest durations (rank k has survival k / n)
            sx = np.concatenate([q[:-1], tail[::-1]])
            sy = np.concatenate([1.0 - levels[:-1], (np.arange(len(tail), 0, -1) - 0.5) / max(n, 1)])
            keep = (sx > 0) & (sy > 0)
            order = np.argsort(sx[keep], kind="stable")
            ax.plot(sx[keep][order], sy[keep][order], ".", ms=2, color="0.3", label="trace")
            with np.errstate(all="ignore"):
                sf = c.duration.sf(x)
            ax.plot(x, np.where(sf > 0, sf, np.nan), color="C1", label="fit")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(max(0.5 / max(n, 1), 1e-7), 1.05)
            mean_fit = c.duration.mean()
            ax.set_title(f"survival, log-log\nmean {float(row['mean']) if row is not None else float('nan'):,.0f} s"
                         f" (fit {mean_fit:,.0f} s)", fontsize=9)
            ax.set_xlabel("duration (s)", fontsize=8)
            ax.legend(fontsize=7, loc="lower left")
        k = 2 * len(idx)
        ax = axes[k]
        hours = np.arange(24)
        emp = self.hourly_counts / max(self.hourly_counts.mean(), 1e-300)
        ax.bar(hours, emp, color="0.75", label="trace (counts / mean)")
        ax.plot(hours, w.hourly, "o-", color="C1", ms=3, label="fitted hourly")
        ax.set_title(f"arrivals by hour of day\nbase rate {w.base_rate:.3g}/h", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[k + 1]
        days = np.arange(7)
        emp = self.weekday_counts / max(self.weekday_counts.mean(), 1e-300)
        ax.bar(days, emp, color="0.75", label="trace (counts / mean)")
        ax.plot(days, w.weekday, "o-", color="C1", ms=3, label="fitted weekday")
        ax.set_xticks(days, ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"])
        ax.set_title("arrivals by day of week", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[k + 2]
        if len(self.daily_counts):
            d = np.arange(len(self.daily_counts))
            ax.bar(d, self.daily_counts, width=1.0, color="0.75", label="trace")
            expected = _daily_expected(w, len(self.daily_counts))
            ax.step(d, expected, where="mid", color="C1", label=f"fitted ({w.arrivals})")
            ax.legend(fontsize=7)
        ax.set_title("arrivals per day of the window", fontsize=9)
        ax.set_xlabel("day", fontsize=8)
        ax = axes[k + 3]
        if len(self.load):
            pos = np.arange(len(self.load))
            trace = self.load["trace_per_day"].to_numpy(np.float64)
            model = self.load["model_per_day"].to_numpy(np.float64)
            scale = np.where(trace > 0, trace, 1.0)
            ax.bar(pos - 0.2, trace / scale, 0.4, color="0.6", label="trace")
            ax.bar(pos + 0.2, model / scale, 0.4, color="C1", label="fitted model")
            ax.set_xticks(pos, [f"{r}\n{v:,.0f} {u}/day" for r, u, v in
                                zip(self.load["resource"], self.load["unit"], trace)], fontsize=7)
            ax.axhline(1.0, color="0.3", lw=0.5)
            ax.legend(fontsize=7)
        ax.set_title("work per day, relative to the trace's", fontsize=9)
        for ax in axes[k + 4:]:
            ax.axis("off")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _daily_expected(w: FittedWorkload, n_days: int) -> np.ndarray:
    """Expected arrivals per calendar day of the window under the workload's arrival model (rate scale 1)."""
    w1 = dataclasses.replace(w, rate_scale=1.0)
    if w.arrivals == "days":
        per = arr.days_expected(w.day_blocks, w.days, w.day_window)
        # 24-hour blocks from the start: spread over calendar days in proportion of hours
        h0 = arr.start_hour(w.start) % 24
        out = np.zeros(n_days + 1)
        for g, v in enumerate(per):
            out[g] += v * (24 - h0) / 24
            out[g + 1] += v * h0 / 24
        return out[:n_days]
    _, _, day, _ = arr.hour_bins(w.days, arr.start_hour(w.start))
    return np.bincount(day, weights=w1._plan["mass"], minlength=n_days)[:n_days]


# ----------------------------------------------------------------------------- fitting
def _normal_scores(x: np.ndarray) -> np.ndarray:
    """Normal scores of durations: Phi^-1 of the mid-rank (ties share one score)."""
    return special.ndtri((stats.rankdata(x, method="average") - 0.5) / len(x))


def fit_loadings(pipeline: np.ndarray, task_class: np.ndarray, z: np.ndarray, n_classes: int) -> np.ndarray:
    """Loadings of each class on a one-factor Gaussian copula of the durations within a pipeline.

    Under the copula, the normal scores of two tasks of classes a and b of one
    pipeline have correlation ``rho_a * rho_b``. Per pipeline, each pair of classes
    contributes the product of its classes' mean scores (or, within one class, the
    mean product over pairs of its tasks), so that every pipeline weighs alike,
    however many tasks it has; the loadings are then the weighted least-squares
    rank-one fit of those correlations, in [0, 0.99]. A class never in a pipeline
    with another task has loading 0 (nothing to estimate it from).
    """
    if len(z) == 0:
        return np.zeros(n_classes)
    P = int(pipeline.max()) + 1
    n = np.zeros((P, n_classes))
    s = np.zeros((P, n_classes))
    q = np.zeros((P, n_classes))
    np.add.at(n, (pipeline, task_class), 1.0)
    np.add.at(s, (pipeline, task_class), z)
    np.add.at(q, (pipeline, task_class), z * z)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, 0.0)
        within = np.where(n > 1, (s * s - q) / (n * (n - 1)), 0.0)
    has = n > 0
    corr = np.zeros((n_classes, n_classes))
    wts = np.zeros((n_classes, n_classes))
    for a in range(n_classes):
        both = has[:, a, None] & has
        both[:, a] = n[:, a] > 1
        wts[a] = both.sum(axis=0)
        prod = mean[:, a, None] * mean
        prod[:, a] = within[:, a]
        corr[a] = np.where(wts[a] > 0, (prod * both).sum(axis=0) / np.maximum(wts[a], 1), 0.0)
    iu = np.triu_indices(n_classes)
    w_, c_ = wts[iu], corr[iu]
    live = w_ > 0
    rho = np.zeros(n_classes)
    if not live.any():
        return rho
    seen = np.zeros(n_classes, dtype=bool)
    seen[iu[0][live]] = True
    seen[iu[1][live]] = True

    def resid(r):
        return np.sqrt(w_[live]) * (c_[live] - r[iu[0][live]] * r[iu[1][live]])

    fit = optimize.least_squares(resid, np.where(seen, 0.3, 0.0), bounds=(0.0, 0.99))
    rho = np.where(seen, fit.x, 0.0)
    rho[rho < 1e-3] = 0.0  # numerically nothing: no copula draw for it
    return rho


def fit_trace(
    trace,
    *,
    days: float | None = None,
    start: float | str = 0.0,
    by_request: bool = True,
    max_request_classes: int = 8,
    min_class_size: int = 50,
    families=CANDIDATES,
    arrivals: str = "auto",
    smoothing=0.0,
    correlation: bool = True,
) -> FitResult:
    """Fit a :class:`FittedWorkload` to a trace (see the module docstring).

    Parameters
    ----------
    trace : Trace
    days : float, optional
        Length of the observation window ``[start, start + days)`` in days; default:
        up to the last submit time, rounded up to a whole hour.
    start : float or "first"
        Start of the observation window in seconds (a whole hour; default 0, the
        trace's time 0). ``"first"``: the hour of the first arrival, for traces whose
        clock starts long before their first pipeline (the empty lead-in would
        otherwise lower the rate and bend the profiles). Generation then covers the
        same window.
    by_request : bool
        Split a task type into one class per distinct request when it has at most
        ``max_request_classes`` of them, each with at least ``min_class_size`` tasks.
    families : sequence of str
        Candidate duration families (:data:`distributions.CANDIDATES`).
    arrivals : str
        ``auto`` (weekly or daily, by AIC), ``weekly``, ``daily`` or ``days``.
    smoothing : float or "auto"
        Log-space bandwidth of the empirical distribution's kernel (0: plain resampling).
    correlation : bool
        Fit the copula of durations within a pipeline (else loadings 0: independent tasks).
    """
    for f in families:
        if f not in CANDIDATES:
            raise ValueError(f"unknown duration family {f!r}; choose among {list(CANDIDATES)}")
    if arrivals != "auto" and arrivals not in arr.MODELS:
        raise ValueError(f"arrivals must be 'auto' or one of {arr.MODELS}, got {arrivals!r}")
    if trace.n_pipelines == 0:
        raise ValueError(f"{trace.source}: a trace without pipelines cannot be fitted")
    b = trace.to_batch()
    a = b.arrays
    submit = a.submit
    if isinstance(start, str):
        if start != "first":
            raise ValueError(f"start must be seconds or 'first', got {start!r}")
        start = math.floor(float(submit.min()) / SECONDS_PER_HOUR) * SECONDS_PER_HOUR
    start = float(start)
    arr.start_hour(start)
    if days is None:
        days = max(1.0, math.ceil((float(submit.max()) - start) / SECONDS_PER_HOUR + 1e-9)) / 24.0
    days = float(days)
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"days must be > 0, got {days}")
    inside = (submit >= start) & (submit < start + days * SECONDS_PER_DAY)
    arrival_fit, arrival_rows = _fit_arrival_models(submit[inside], days, start, arrivals)
    hod = ((submit[inside] // SECONDS_PER_HOUR) % 24).astype(np.int64)
    dow = ((submit[inside] // SECONDS_PER_DAY) % 7).astype(np.int64)
    cal = (submit[inside] // SECONDS_PER_DAY - start // SECONDS_PER_DAY).astype(np.int64)

    # ---- pipeline shapes
    type_names = b.type_names
    P, T = a.n_pipelines, a.n_tasks
    edge_pred = np.repeat(np.arange(T, dtype=np.int64), np.diff(a.succ_ptr))
    local = np.arange(T, dtype=np.int64) - a.task_ptr[a.task_pipeline]
    lp, ls = local[edge_pred], local[a.succ]
    types32, lp32, ls32 = a.task_type.astype(np.int32), lp.astype(np.int32), ls.astype(np.int32)
    tp, sp = a.task_ptr, a.succ_ptr
    key_of, templates, tpl = {}, [], np.empty(P, dtype=np.int64)
    for p in range(P):
        s, e = tp[p], tp[p + 1]
        es, ee = sp[s], sp[e]
        key = b"|".join((types32[s:e].tobytes(), lp32[es:ee].tobytes(), ls32[es:ee].tobytes()))
        j = key_of.get(key)
        if j is None:
            j = key_of[key] = len(templates)
            templates.append(Template(
                tuple(str(x) for x in b.task_names[s:e]),
                tuple(type_names[c] for c in a.task_type[s:e]),
                tuple((int(x), int(y)) for x, y in zip(lp[es:ee], ls[es:ee])),
            ))
        tpl[p] = j
    kinds, _, kind_count = _unique_rows(np.stack([tpl, a.model, a.priority], axis=1))

    # ---- task classes
    classes, quantiles, tails, aic_of, cands, rows = [], {}, {}, {}, {}, []
    task_class = np.empty(T, dtype=np.int64)
    scores = np.zeros(T)
    req_all = np.stack([a.cpu, a.gpu, a.mem], axis=1)
    levels = np.linspace(0.0, 1.0, _QUANTILES)
    for code in np.unique(a.task_type):
        tname = type_names[code]
        hit = np.flatnonzero(a.task_type == code)
        reqs, inv, cnt = _unique_rows(req_all[hit])
        split = by_request and 1 < len(reqs) <= max_request_classes and cnt.min() >= min_class_size
        groups = [(hit[inv == r], reqs[r:r + 1], np.ones(1), None) for r in range(len(reqs))] if split \
            else [(hit, reqs, cnt / cnt.sum(), inv)]
        for members, rq, rp, req_idx in groups:
            x = a.duration[members]
            coupled = req_idx is not None and len(rq) > 1
            dist, cand = fit_candidates(x, families, smoothing, req_all[members] if coupled else None)
            ks, pv = _ks(x, dist.cdf)
            i = len(classes)
            task_class[members] = i
            scores[members] = _normal_scores(x)
            # the request at each duration rank (stable: ties keep the trace's order)
            rank_request = () if not coupled else \
                tuple(int(r) for r in req_idx[np.argsort(x, kind="stable")])
            classes.append(TaskClass(tname, tuple(tuple(float(v) for v in r) for r in rq), tuple(float(v) for v in rp),
                                     dist, len(members) / len(hit), rank_request))
            quantiles[i] = np.quantile(x, levels)
            tails[i] = np.sort(x)[::-1][:_TAIL_POINTS]
            cands[i] = cand
            aic_of[i] = {r.family: float(r.aic) for r in cand.itertuples() if math.isfinite(r.aic)}
            chosen = cand[cand["chosen"]].iloc[0]
            rows.append({
                "type": tname,
                "request": "/".join(f"{v:g}" for v in rq[0]) if len(rq) == 1 else "*",
                "distribution": dist.label(),
                "params": json.dumps({k: float(f"{v:.6g}") for k, v in dist.params.items()
                                      if not isinstance(v, (tuple, list))}),
                "n": int(len(x)),
                "ks_stat": ks,
                "p_value": pv,
                "aic": float(chosen["aic"]),
                "mean": float(np.mean(x)),
                "fitted_mean": dist.mean(),
                "p99": float(np.quantile(x, 0.99)),
                "fitted_p99": float(chosen["p99"]),
                "chosen": True,
            })
    if correlation and len(classes) > 0:
        rho = fit_loadings(a.task_pipeline, task_class, scores, len(classes))
        classes = [dataclasses.replace(c, loading=float(r)) for c, r in zip(classes, rho)]

    base, hourly, weekday = arrival_fit["weekly"]
    model = arrival_fit["chosen"]
    if model == "daily":
        base, hourly, daily = arrival_fit["daily"]
    workload = FittedWorkload(
        days=days, start=start, base_rate=float(base), hourly=tuple(hourly), weekday=tuple(weekday),
        templates=tuple(templates),
        pipeline_kinds=tuple(tuple(int(v) for v in k) for k in kinds),
        pipeline_p=tuple(float(c) / P for c in kind_count),
        classes=tuple(classes),
        arrivals=model,
        daily=tuple(daily) if model == "daily" else (),
        day_blocks=arrival_fit["days"] if model == "days" else (),
    )
    # ---- the load: the trace's work per day against the model's expected work per day
    in_window = np.repeat(inside, np.diff(a.task_ptr))
    model_work = workload.expected_work()
    load_rows = []
    for (res, unit), col in zip(RESOURCES, (a.cpu, a.gpu, a.mem)):
        trace_day = float(np.sum(col[in_window] * a.duration[in_window])) / SECONDS_PER_HOUR / days
        model_day = model_work[res] / SECONDS_PER_HOUR / days
        rel = model_day / trace_day - 1.0 if trace_day > 0 else (0.0 if model_day == 0 else math.inf)
        load_rows.append({"resource": res, "unit": unit, "trace_per_day": trace_day, "model_per_day": model_day,
                          "rel_diff": rel})
    return FitResult(
        workload=workload,
        gof=pd.DataFrame(rows + arrival_rows, columns=list(GOF_COLUMNS)),
        quantiles=quantiles,
        hourly_counts=np.bincount(hod, minlength=24).astype(np.float64),
        weekday_counts=np.bincount(dow, minlength=7).astype(np.float64),
        source=str(trace.source),
        aic=aic_of,
        candidates=cands,
        load=pd.DataFrame(load_rows, columns=list(LOAD_COLUMNS)),
        daily_counts=np.bincount(cal, minlength=int(arr.hour_bins(days, arr.start_hour(start))[2].max()) + 1
                                 ).astype(np.float64),
        tails=tails,
    )


def _fit_arrival_models(submit: np.ndarray, days: float, start: float, choice: str):
    """Every arrival model fitted, the chosen one's name, and one goodness-of-fit row per model (chosen first)."""
    hod, dow, day, length = arr.hour_bins(days, arr.start_hour(start))
    _, counts = arr._counts(submit, days, start)
    weekly = arr.fit_weekly(submit, days, start=start)
    daily = arr.fit_daily(submit, days, start=start)
    blocks = arr.day_blocks(submit, days, start)
    n = len(submit)
    out = {"weekly": weekly, "daily": daily, "days": blocks}
    stats_of = {}
    for name, (base, h, prof) in (("weekly", weekly), ("daily", daily)):
        mass = arr.bin_mass(name, days, start, base, h, prof, prof)
        k = 1 + int(np.sum(np.bincount(hod, weights=length, minlength=24) > 0)) - 1 + \
            (int(np.sum(np.bincount(dow, weights=length, minlength=7) > 0)) if name == "weekly" else len(prof)) - 1
        cum = arr.poisson_cum(submit, mass, start, days)
        stats_of[name] = (arr.poisson_aic(counts, mass, k), *arr.rescaled_ks(submit, cum, float(mass.sum())),
                          f"base_rate_per_hour {base:.6g}")
    per = arr.days_expected(blocks, days)
    stats_of["days"] = (float("nan"), *arr.rescaled_ks(submit, arr.days_cum(submit, blocks, days, start),
                                                       float(per.sum())),
                        f"{len(blocks)} days, same weekday within {arr.DAYS_WINDOW} weeks")
    if choice == "auto":
        # daily only when it earns its extra levels: with a week or less the two models are one
        choice = "daily" if stats_of["daily"][0] < stats_of["weekly"][0] - 2.0 else "weekly"
    out["chosen"] = choice
    label = {"weekly": "nhpp hourly x weekday", "daily": "nhpp hourly x daily", "days": "resampled days"}
    rows = []
    for name in sorted(stats_of, key=lambda m: m != choice):
        aic, ks, pv, note = stats_of[name]
        rows.append({"type": "(arrivals)", "request": "", "distribution": label[name],
                     "params": json.dumps({"note": note}), "n": n, "ks_stat": ks, "p_value": pv, "aic": aic,
                     "mean": float("nan"), "fitted_mean": float("nan"), "p99": float("nan"),
                     "fitted_p99": float("nan"), "chosen": name == choice})
    return out, rows


def load_params(path) -> FitResult:
    """Read a PARAMS file (see :meth:`FitResult.load`)."""
    return FitResult.load(path)


# ----------------------------------------------------------------------------- ModelOps parameters
def fit_modelops(trace, base=None, *, days: float | None = None):
    """Estimate :class:`~fastpipesim.modelops.ModelOpsWorkload` parameters from a ModelOps-like trace.

    For traces written by ``ModelOpsWorkload.tables`` (or shaped like them): the
    pipelines carry ``framework`` and ``dataset_size_gb``, task names are the
    steps of ``base.template`` (default: ``ModelOpsWorkload()``). Unlike
    :func:`fit_trace`, this keeps the generator's structure (durations that grow
    with the dataset, so that the steps of one pipeline are correlated).

    Estimated: ``days``, ``base_rate``, ``hourly``, ``weekday`` (as in
    :func:`fit_arrivals`); per step, the inclusion probability ``p`` and
    ``a``, ``b``, ``e``, ``sigma`` (maximum likelihood under the log-normal
    model: least squares on log durations, with the base template's framework
    factors held fixed, since they and ``a``, ``b`` are only identified up to a
    common factor); ``n_models`` and ``zipf_s`` (model ids taken as popularity
    ranks, as the generator numbers them); ``framework_mix``, ``priority_mix``,
    ``size_median_gb`` and ``size_sigma`` from the ``models`` table when it has
    ``framework``, ``priority`` and ``base_dataset_size_gb`` columns (else from
    the pipelines, popularity-weighted); ``size_factor_sigma`` from the
    pipelines' sizes around their model's base size. Everything else (lifecycle,
    candidate outcomes, requests) is kept from ``base``.

    Returns ``(workload, steps)``: the fitted ModelOpsWorkload and a DataFrame
    with one row per step (name, n, p, a, b, e, sigma, rmse of log duration).
    """
    from .modelops import ModelOpsWorkload

    base = ModelOpsWorkload() if base is None else base
    p_tab, t_tab = trace.pipelines, trace.tasks
    missing = [c for c in ("framework", "dataset_size_gb") if c not in p_tab.columns]
    if missing:
        raise ValueError(f"{trace.source}: fit_modelops needs the pipeline columns {missing} "
                         "(use fit_trace for other traces)")
    steps = {st.name: st for st in base.template}
    unknown = sorted(set(t_tab["task"]) - set(steps))
    if unknown:
        raise ValueError(f"{trace.source}: task names {unknown[:5]} are not steps of the base template "
                         f"{list(steps)} (use fit_trace for other traces)")
    unknown_fw = sorted(set(p_tab["framework"].astype(str)) - set(base.frameworks))
    if unknown_fw:
        raise ValueError(f"{trace.source}: frameworks {unknown_fw} are not among {base.frameworks}")
    submit = p_tab["submit_time"].to_numpy(np.float64)
    if days is None:
        days = max(1.0, math.ceil(float(submit.max()) / SECONDS_PER_HOUR + 1e-9)) / 24.0
    rate, hourly, weekday = fit_arrivals(submit[submit < days * SECONDS_PER_DAY], days)
    n_p = len(p_tab)

    # per step: inclusion and the duration model
    size = p_tab.set_index("pipeline_id")["dataset_size_gb"].astype(np.float64)
    fw = p_tab.set_index("pipeline_id")["framework"].astype(str)
    new_steps, rows = [], []
    for st in base.template:
        hit = t_tab[t_tab["task"] == st.name]
        n = len(hit)
        p = n / n_p if st.p < 1.0 else st.p  # a step the base always includes stays included
        if n < 3:
            new_steps.append(dataclasses.replace(st, p=p))
            rows.append({"step": st.name, "n": n, "p": p, "a": st.a, "b": st.b, "e": st.e, "sigma": st.sigma,
                         "rmse_log": float("nan")})
            continue
        pid = hit["pipeline_id"].to_numpy()
        s = size.reindex(pid).to_numpy(np.float64)
        factor = np.array([dict(st.factor_by_framework).get(f, 1.0) for f in fw.reindex(pid)])
        y = np.log(hit["duration"].to_numpy(np.float64) / factor)
        a, b, e, sigma, rmse = _fit_step(y, s)
        new_steps.append(dataclasses.replace(st, p=p, a=a, b=b, e=e, sigma=sigma))
        rows.append({"step": st.name, "n": n, "p": p, "a": a, "b": b, "e": e, "sigma": sigma, "rmse_log": rmse})

    # models
    models = trace.models
    mid = p_tab["model_id"].to_numpy(np.int64)
    n_models = max(int(mid.max()) + 1, 0 if models is None else len(models))
    counts = np.bincount(mid, minlength=n_models).astype(np.float64)
    zipf_s = _fit_zipf(counts)
    kw = {}
    have = models is not None and {"framework", "priority", "base_dataset_size_gb"} <= set(models.columns)
    src = models if have else p_tab.drop_duplicates("model_id")
    fw_counts = src["framework"].astype(str).value_counts()
    kw["framework_mix"] = tuple(float(fw_counts.get(f, 0)) / len(src) for f in base.frameworks)
    pr_counts = src["priority"].value_counts()
    mix = np.array([float(pr_counts.get(c, 0)) for c in base.priority_classes])
    if mix.sum() == len(src) and mix.sum() > 0:
        kw["priority_mix"] = tuple(mix / mix.sum())
    if have:
        log_base = np.log(models["base_dataset_size_gb"].to_numpy(np.float64))
        kw["size_median_gb"] = float(np.exp(np.mean(log_base)))
        kw["size_sigma"] = float(np.std(log_base))
        base_of = models.set_index("model_id")["base_dataset_size_gb"].astype(np.float64)
        ratio = np.log(p_tab["dataset_size_gb"].to_numpy(np.float64) / base_of.reindex(mid).to_numpy())
        if np.isfinite(ratio).all() and len(ratio) > 1:
            kw["size_factor_sigma"] = float(np.std(ratio))
    workload = dataclasses.replace(
        base, template=tuple(new_steps), days=float(days), base_rate=float(rate), hourly=tuple(hourly),
        weekday=tuple(weekday), n_models=int(n_models), zipf_s=float(zipf_s), **kw,
    )
    return workload, pd.DataFrame(rows)


def _fit_step(y: np.ndarray, s: np.ndarray):
    """(a, b, e, sigma, rmse) of ``exp(y) = (a + b * s**e) * LogNormal(mean 1, sigma)``.

    Maximum likelihood: least squares of ``y - log(a' + b' s**e)``, sigma the residuals'
    standard deviation, then ``a = a' exp(sigma^2 / 2)`` (same for b), since the
    log-normal factor has mean 1.
    """
    scale = float(np.exp(np.median(y)))
    yy = y - math.log(scale)
    ms = float(np.median(s))

    def resid(x):
        a_, b_, e_ = x
        return yy - np.log(a_ + b_ * (s / ms) ** e_ + 1e-300)

    best = None
    for x0 in ((0.5, 0.5, 1.0), (0.9, 0.1, 1.0), (0.1, 0.9, 0.7)):
        r = optimize.least_squares(resid, x0, bounds=([0.0, 0.0, 0.0], [np.inf, np.inf, 4.0]), method="trf")
        if best is None or r.cost < best.cost:
            best = r
    a_, b_, e_ = best.x
    res = resid(best.x)
    sigma = float(np.sqrt(np.mean(res ** 2)))
    inflate = math.exp(0.5 * sigma * sigma)
    a = float(a_ * scale * inflate)
    b = float(b_ * scale * inflate / ms ** e_)
    return a, b, float(e_), sigma, sigma


def _fit_zipf(counts: np.ndarray) -> float:
    """Maximum-likelihood exponent s of P(rank i) proportional to 1/(i+1)**s, i = 0..len-1."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0 or len(counts) < 2:
        return 0.0
    logr = np.log(np.arange(1, len(counts) + 1, dtype=np.float64))

    def nll(s):
        return s * float(counts @ logr) + counts.sum() * float(special.logsumexp(-s * logr))

    r = optimize.minimize_scalar(nll, bounds=(0.0, 10.0), method="bounded", options={"xatol": 1e-8})
    return float(r.x)
