"""Fitting a workload generator to a trace (MODEL.md 8, "Fitting").

:func:`fit_trace` estimates, from a :class:`~fastpipesim.trace.Trace`, a
generator that makes workloads "like this trace", optionally bigger
(``rate_scale``) or longer (``days``):

- arrivals: a non-homogeneous Poisson process with rate
  ``base_rate * hourly[hour of day] * weekday[day of week]`` (profiles of mean 1,
  time 0 a Monday 00:00, as in MODEL.md 8), fitted by maximum likelihood
  (a Poisson log-linear model on the hour bins of the observation window
  ``[start, start + days)``, by default ``[0, last arrival rounded up to an
  hour)``, solved by iterative proportional fitting, so that partial weeks are
  handled). An hour or weekday that the window never covers gets 1. The
  generator draws arrivals on the same window (``rate_scale`` times as many).
- pipeline shapes: the distinct DAGs (the sequence of task types in task-index
  order plus the edges between task positions), each with the task names of
  its first pipeline; a generated pipeline draws its shape, ``model_id`` and
  ``priority`` together from their empirical joint frequencies.
- per task type, *classes* of tasks: if the type has few distinct resource
  requests (<= ``max_request_classes``), each with at least ``min_class_size``
  tasks, one class per request (so that, for example, GPU and CPU training keep
  their own durations); otherwise one class holding the empirical distribution
  of the type's requests. Each class has a duration distribution, chosen among
  log-normal, gamma, Weibull and exponential (location 0) by AIC, fitted with
  scipy.stats (closed-form maximum likelihood for log-normal and exponential).

What is not kept: correlations between the durations of the tasks of one
pipeline (a large dataset makes every step longer), between a task's
duration and its pipeline's model, and the lifecycle (``models`` table,
candidate outcomes): generated pipelines carry no candidate outcomes.

Goodness of fit: per fitted distribution, the Kolmogorov-Smirnov statistic
and its p-value against the fitted CDF (parameters estimated from the same
data, so the p-value is optimistic, and with many thousands of tasks even a
good fit is rejected: read the statistic, the largest CDF gap). Arrivals get
a row too: by the time-rescaling theorem, the fitted cumulative rate at the
arrival times, divided by its total, is uniform on [0, 1] under the model.

:class:`FitResult` holds the generator (:class:`FittedWorkload`), the
goodness-of-fit table, and can be saved to / loaded from JSON (the PARAMS file)
and drawn (:meth:`FitResult.plot`). Typical use::

    fit = fit_trace(read_trace("traces/modelops-medium"))
    print(fit.summary())                       # KS per fitted distribution
    fit.save("params.json"); fit.plot("fit.png")
    bigger = FitResult.load("params.json").generator(rate_scale=10)
    simulate(bigger, replications=8)           # or bigger.tables(seed, r) -> a trace

For traces of the ModelOps generator itself (pipelines with ``framework`` and
``dataset_size_gb``, task names = template steps), :func:`fit_modelops`
estimates the :class:`~fastpipesim.modelops.ModelOpsWorkload` parameters
instead (step duration models ``a + b * size**e``, ``sigma``, inclusion
probabilities, Zipf exponent, size distributions), which keeps the
correlation between the steps of a pipeline that :func:`fit_trace` loses.
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

from .workload import Batch, build_arrays, type_codes

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
FORMAT = "fastpipesim-fit"
FORMAT_VERSION = 1

#: candidate duration families: name -> (scipy distribution, number of free parameters)
FAMILIES = {
    "lognorm": (stats.lognorm, 2),
    "gamma": (stats.gamma, 2),
    "weibull_min": (stats.weibull_min, 2),
    "expon": (stats.expon, 1),
}
GOF_COLUMNS = ("type", "request", "distribution", "params", "n", "ks_stat", "p_value", "aic", "mean", "fitted_mean")
_QUANTILES = 201  # empirical quantiles kept per class, for plots after load()


def _rng(seed: int, replication: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(replication),))))


# ----------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class DurationDist:
    """A duration distribution: a scipy.stats family with location 0, or a constant.

    ``params`` are scipy's keyword parameters (``s``/``a``/``c`` shape and
    ``scale``), or ``{"value": x}`` for ``family == "constant"``.
    """

    family: str
    params: dict

    def _frozen(self):
        dist, _ = FAMILIES[self.family]
        return dist(**self.params, loc=0.0)

    def cdf(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self.family == "constant":
            return (x >= self.params["value"]).astype(np.float64)
        return self._frozen().cdf(x)

    def ppf(self, u):
        u = np.asarray(u, dtype=np.float64)
        if self.family == "constant":
            return np.full(u.shape, float(self.params["value"]))
        return self._frozen().ppf(u)

    def mean(self) -> float:
        if self.family == "constant":
            return float(self.params["value"])
        return float(self._frozen().mean())

    def to_json(self) -> dict:
        return {"family": self.family, "params": {k: float(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "DurationDist":
        fam = d["family"]
        if fam != "constant" and fam not in FAMILIES:
            raise ValueError(f"unknown duration family {fam!r}; expected one of {sorted(FAMILIES)} or 'constant'")
        return cls(fam, {k: float(v) for k, v in d["params"].items()})


def _fit_family(name: str, x: np.ndarray, logx: np.ndarray) -> dict:
    """Maximum-likelihood parameters (location 0) of one family."""
    if name == "lognorm":
        return {"s": float(np.std(logx)), "scale": float(np.exp(np.mean(logx)))}
    if name == "expon":
        return {"scale": float(np.mean(x))}
    if name == "gamma":
        # profile likelihood: log(a) - digamma(a) = log(mean x) - mean(log x), scale = mean / a
        m = float(np.mean(x))
        rhs = math.log(m) - float(np.mean(logx))
        if not rhs > 0:
            raise ValueError("no spread")
        a = optimize.brentq(lambda la: la - special.digamma(math.exp(la)) - rhs, -30.0, 30.0)
        a = math.exp(a)
        return {"a": a, "scale": m / a}
    # Weibull: the shape c solves 1/c + mean(log x) - sum(x^c log x) / sum(x^c) = 0 (monotone in c);
    # computed on log x centred (x / geometric mean), so x^c cannot overflow for c in range
    z = logx - float(np.mean(logx))

    def score(lc):
        c = math.exp(lc)
        w = np.exp(c * (z - z.max()))
        return 1.0 / c - float(np.sum(w * z) / np.sum(w))

    c = math.exp(optimize.brentq(score, -12.0, 8.0))
    scale = math.exp(float(np.mean(logx)) + z.max() + math.log(float(np.mean(np.exp(c * (z - z.max()))))) / c)
    return {"c": c, "scale": scale}


def fit_duration(x, families=tuple(FAMILIES)) -> tuple[DurationDist, dict]:
    """Fit each family by maximum likelihood (location 0) and keep the one with the lowest AIC.

    Returns ``(best, {family: aic})``. Every fit is exact maximum likelihood on all
    the data: closed form for log-normal and exponential, a one-dimensional root
    for the gamma and Weibull shapes. One value, or all values equal, gives a
    constant (no AIC).
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no durations to fit")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("durations must be finite and > 0")
    if len(x) < 2 or np.ptp(x) <= 1e-12 * np.max(x):
        return DurationDist("constant", {"value": float(np.mean(x))}), {}
    logx = np.log(x)
    aics, fits = {}, {}
    for name in families:
        dist, k = FAMILIES[name]
        try:
            params = _fit_family(name, x, logx)
            with np.errstate(all="ignore"):
                ll = float(np.sum(dist.logpdf(x, **params, loc=0.0)))
        except (ValueError, ArithmeticError):  # no root in the bracket (degenerate data): drop the family
            continue
        if not math.isfinite(ll) or not all(math.isfinite(v) and v > 0 for v in params.values()):
            continue
        aics[name] = 2 * k - 2 * ll
        fits[name] = params
    if not fits:  # pragma: no cover - log-normal always fits data with spread
        raise ValueError("no duration family could be fitted")
    best = min(aics, key=aics.get)
    return DurationDist(best, fits[best]), aics


def _ks(x: np.ndarray, cdf) -> tuple[float, float]:
    if len(x) < 1:
        return float("nan"), float("nan")
    # the exact p-value costs seconds beyond ~10^4 points; the asymptotic one is then accurate
    r = stats.kstest(x, cdf, method="exact" if len(x) <= 10_000 else "asymp")
    return float(r.statistic), float(r.pvalue)


# ----------------------------------------------------------------------------- arrivals
def _bins(days: float, start_hour: int = 0):
    """Hour bins of ``[start, start + days)``: (hour of day, day of week, length in hours) of each."""
    hours = days * 24.0
    n = int(math.ceil(hours - 1e-9))
    k = np.arange(n)
    g = k + int(start_hour)  # hours since time 0 (a Monday 00:00)
    return g % 24, (g // 24) % 7, np.minimum(hours - k, 1.0)


def _start_hour(start: float) -> int:
    h = float(start) / SECONDS_PER_HOUR
    if not (math.isfinite(h) and h >= 0 and abs(h - round(h)) < 1e-9):
        raise ValueError(f"start must be a whole number of hours (in seconds, >= 0), got {start!r}")
    return int(round(h))


def fit_arrivals(submit, days: float, iterations: int = 100, start: float = 0.0):
    """Maximum-likelihood ``(base_rate per hour, hourly[24], weekday[7])`` of the NHPP on
    ``[start, start + days)`` (``start`` in seconds, a whole hour; arrivals outside are ignored).

    The model is Poisson with mean ``base * hourly[h] * weekday[d] * length`` per
    hour bin; profiles are normalized to mean 1 (unobserved hours / weekdays
    get 1 first).
    """
    h0 = _start_hour(start)
    submit = np.asarray(submit, dtype=np.float64)
    submit = submit[(submit >= start) & (submit < start + days * SECONDS_PER_DAY)]
    hod, dow, length = _bins(days, h0)
    counts = np.bincount(np.minimum(((submit - start) // SECONDS_PER_HOUR).astype(np.int64), len(length) - 1),
                         minlength=len(length)).astype(np.float64)
    n_h = np.bincount(hod, weights=counts, minlength=24)
    n_d = np.bincount(dow, weights=counts, minlength=7)
    seen_h = np.bincount(hod, weights=length, minlength=24) > 0
    seen_d = np.bincount(dow, weights=length, minlength=7) > 0
    h, w = np.ones(24), np.ones(7)
    for _ in range(iterations):  # IPF: exact after one step when the window is whole weeks
        eh = np.bincount(hod, weights=w[dow] * length, minlength=24)
        h_new = np.where(seen_h, n_h / np.where(eh > 0, eh, 1.0), 1.0)
        ed = np.bincount(dow, weights=h_new[hod] * length, minlength=7)
        w_new = np.where(seen_d, n_d / np.where(ed > 0, ed, 1.0), 1.0)
        done = np.allclose(h_new, h, rtol=1e-10, atol=1e-12) and np.allclose(w_new, w, rtol=1e-10, atol=1e-12)
        h, w = h_new, w_new
        if done:
            break
    # unobserved entries: 1 relative to the observed ones' mean, then mean 1 overall
    for prof, seen in ((h, seen_h), (w, seen_d)):
        if seen.any() and prof[seen].mean() > 0:
            prof[seen] /= prof[seen].mean()
        prof[~seen] = 1.0
        prof /= prof.mean() if prof.mean() > 0 else 1.0
    expo = float(np.sum(h[hod] * w[dow] * length))
    base = len(submit) / expo if expo > 0 else 0.0
    if base == 0.0:  # no arrivals: flat profiles
        h, w = np.ones(24), np.ones(7)
    return base, h, w


def _cum_rate(t: np.ndarray, days: float, hourly, weekday, start: float = 0.0) -> np.ndarray:
    """Integrated relative rate (hourly * weekday, in hours) from ``start`` to t."""
    hod, dow, length = _bins(days, _start_hour(start))
    mass = np.asarray(hourly)[hod] * np.asarray(weekday)[dow] * length
    cum = np.concatenate([[0.0], np.cumsum(mass)])
    rel = (np.asarray(t, dtype=np.float64) - start) / SECONDS_PER_HOUR
    k = np.clip(np.floor(rel).astype(np.int64), 0, len(mass) - 1)
    frac = np.clip(rel - k, 0.0, length[k])
    return cum[k] + mass[k] / length[k] * frac


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
    """Tasks of one type that share a duration distribution; their requests and the requests' probabilities."""

    type: str
    requests: tuple  # ((cpu, gpu, mem_gb), ...)
    request_p: tuple
    duration: DurationDist
    share: float  # fraction of the type's tasks in this class


@dataclass(frozen=True)
class FittedWorkload:
    """A workload generator fitted to a trace; same contract as :class:`ModelOpsWorkload`.

    ``generate(seed, replication)`` draws replication ``replication`` of ``seed`` from
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(replication,))))`` (MODEL.md 8), in
    this order: the number of pipelines (Poisson), their arrival times (uniforms in
    cumulative-rate space), their (shape, model, priority) (one uniform each), then
    per task a uniform for its class, one for its request and one for its duration
    (inverse CDF). Change ``rate_scale`` or ``days`` with :func:`dataclasses.replace`.

    Attributes
    ----------
    days : float
        Arrivals are generated on ``[start, start + days)``; the default horizon is its end.
    base_rate : float
        Pipelines per hour on average over a week (before ``rate_scale``).
    hourly, weekday : tuple of float
        Relative rate per hour of day (24) and day of week (7, Monday first), mean 1.
    rate_scale : float
        Multiplies the arrival rate.
    templates : tuple of Template
    pipeline_kinds : tuple of (template index, model_id, priority)
    pipeline_p : tuple of float
        Probability of each pipeline kind.
    classes : tuple of TaskClass
    start : float
        Seconds, a whole hour: start of the arrival window (0 unless the trace was fitted
        from a later start).
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
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        for nm in ("days", "base_rate", "rate_scale"):
            v = getattr(self, nm)
            if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{nm} must be a finite number >= 0, got {v!r}")
        _start_hour(self.start)
        if not self.days > 0:
            raise ValueError(f"days must be > 0, got {self.days!r}")
        for nm, n in (("hourly", 24), ("weekday", 7)):
            prof = np.asarray(getattr(self, nm), dtype=np.float64)
            if prof.shape != (n,) or not np.all(np.isfinite(prof)) or np.any(prof < 0) or prof.sum() <= 0:
                raise ValueError(f"{nm} must hold {n} finite numbers >= 0, not all 0")
            if abs(prof.mean() - 1.0) > 1e-12:  # accepted as a shape, stored with mean 1
                prof = prof / prof.mean()
            object.__setattr__(self, nm, tuple(float(x) for x in prof))
        if not self.templates or not self.pipeline_kinds or len(self.pipeline_kinds) != len(self.pipeline_p):
            raise ValueError("a fitted workload needs templates and pipeline kinds with one probability each")
        types = {t for tpl in self.templates for t in tpl.types}
        missing = types - {c.type for c in self.classes}
        if missing:
            raise ValueError(f"task types {sorted(missing)} have no fitted class")

    # ------------------------------------------------------------------ derived
    @property
    def default_horizon(self) -> float:
        """Seconds: ``simulate`` observes the generated period (``days``) unless told otherwise."""
        return self.start + self.days * SECONDS_PER_DAY

    def expected_pipelines(self) -> float:
        """Expected number of pipelines per replication."""
        return float(self._plan["mass"].sum())

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
        hod, dow, length = _bins(self.days, _start_hour(self.start))
        rate = self.rate_scale * self.base_rate
        mass = rate * np.asarray(self.hourly)[hod] * np.asarray(self.weekday)[dow] * length
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
        }
        self._cache["plan"] = plan
        return plan

    # ------------------------------------------------------------------ drawing
    def _draw(self, seed: int, replication: int) -> dict:
        plan = self._plan
        rng = _rng(seed, replication)
        total = float(plan["mass"].sum())
        n = int(rng.poisson(total)) if total > 0 else 0
        u = np.sort(rng.random(n)) * total
        k = np.minimum(np.searchsorted(plan["cum"], u, side="right"), plan["last"])
        frac = (u - (plan["cum"][k] - plan["mass"][k])) / plan["mass"][k] if n else u
        frac = np.clip(frac, 0.0, np.nextafter(1.0, 0.0))
        submit = plan["bin_start"][k] + frac * plan["length"][k] if n else np.zeros(0)
        if n:
            submit = np.maximum.accumulate(submit)
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
        req = np.empty((T, 3))
        dur = np.empty(T)
        for c in np.unique(cls):
            hit = cls == c
            req[hit] = plan["req"][c][_pick(plan["req_cdf"][c], u_req[hit])]
            dur[hit] = self.classes[c].duration.ppf(u_dur[hit])
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
        return {
            "days": self.days, "start": self.start, "base_rate": self.base_rate, "rate_scale": self.rate_scale,
            "hourly": list(self.hourly), "weekday": list(self.weekday),
            "templates": [{"names": list(t.names), "types": list(t.types), "edges": [list(e) for e in t.edges]}
                          for t in self.templates],
            "pipeline_kinds": [[int(x) for x in k] for k in self.pipeline_kinds],
            "pipeline_p": [float(p) for p in self.pipeline_p],
            "classes": [{"type": c.type, "share": c.share, "requests": [list(r) for r in c.requests],
                         "request_p": list(c.request_p), "duration": c.duration.to_json()} for c in self.classes],
        }

    @classmethod
    def from_json(cls, d: dict) -> "FittedWorkload":
        return cls(
            days=float(d["days"]), start=float(d.get("start", 0.0)), base_rate=float(d["base_rate"]),
            rate_scale=float(d.get("rate_scale", 1.0)),
            hourly=tuple(d["hourly"]), weekday=tuple(d["weekday"]),
            templates=tuple(Template(tuple(t["names"]), tuple(t["types"]), tuple(tuple(int(x) for x in e)
                                                                                for e in t["edges"]))
                            for t in d["templates"]),
            pipeline_kinds=tuple(tuple(int(x) for x in k) for k in d["pipeline_kinds"]),
            pipeline_p=tuple(float(p) for p in d["pipeline_p"]),
            classes=tuple(TaskClass(c["type"], tuple(tuple(float(x) for x in r) for r in c["requests"]),
                                    tuple(float(p) for p in c["request_p"]), DurationDist.from_json(c["duration"]),
                                    float(c["share"])) for c in d["classes"]),
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
    """A fitted generator, its goodness of fit, and what the plots need.

    Attributes
    ----------
    workload : FittedWorkload
    gof : DataFrame
        One row per fitted distribution (``GOF_COLUMNS``): task type, request
        (``cpu/gpu/mem_gb`` or ``*`` for a class holding several), distribution,
        parameters (JSON text), n, KS statistic, p-value, AIC, mean of the data and
        of the fit. The arrival process has a row with type ``(arrivals)``.
    quantiles : dict
        Per class index: the data's quantiles at ``linspace(0, 1, 201)`` (for plots).
    hourly_counts, weekday_counts : arrays
        Arrivals per hour of day and day of week in the trace.
    source : str
    """

    workload: FittedWorkload
    gof: pd.DataFrame
    quantiles: dict
    hourly_counts: np.ndarray
    weekday_counts: np.ndarray
    source: str = "<trace>"
    aic: dict = field(default_factory=dict)  # class index -> {family: AIC}

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

    def summary(self) -> str:
        w = self.workload
        lines = [
            f"fit of {self.source}: {int(self.hourly_counts.sum())} pipelines over {w.days:g} days, "
            f"base rate {w.base_rate:.4g} pipelines/hour, {len(w.templates)} pipeline shapes, "
            f"{len(w.classes)} task classes",
        ]
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
            lines.append(self.gof.to_string(index=False))
        return "\n".join(lines)

    # -------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        gof = self.gof.astype(object).where(self.gof.notna(), None)
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "source": self.source,
            "workload": self.workload.to_json(),
            "goodness_of_fit": gof.to_dict(orient="records"),
            "quantiles": {str(k): [float(x) for x in v] for k, v in self.quantiles.items()},
            "hourly_counts": [float(x) for x in self.hourly_counts],
            "weekday_counts": [float(x) for x in self.weekday_counts],
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
        for c in ("ks_stat", "p_value", "aic", "mean", "fitted_mean"):
            gof[c] = gof[c].astype(np.float64)
        return cls(
            workload=FittedWorkload.from_json(d["workload"]),
            gof=gof,
            quantiles={int(k): np.asarray(v, dtype=np.float64) for k, v in d.get("quantiles", {}).items()},
            hourly_counts=np.asarray(d.get("hourly_counts", np.zeros(24)), dtype=np.float64),
            weekday_counts=np.asarray(d.get("weekday_counts", np.zeros(7)), dtype=np.float64),
            source=str(d.get("source", source)),
            aic={int(k): v for k, v in d.get("aic", {}).items()},
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
    def plot(self, path, max_panels: int = 24) -> Path:
        """Draw fitted (line) against empirical (steps) duration CDFs per task class, and the
        arrival profiles, to a PNG (needs matplotlib; uses the Agg backend)."""
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
        idx = [i for i in range(len(w.classes)) if i in self.quantiles][:max_panels]
        n_panels = len(idx) + 2
        ncol = min(4, n_panels)
        nrow = int(math.ceil(n_panels / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 3.2 * nrow), squeeze=False)
        axes = axes.ravel()
        for ax, i in zip(axes, idx):
            c = w.classes[i]
            q = self.quantiles[i]
            levels = np.linspace(0.0, 1.0, len(q))
            ax.step(q, levels, where="post", color="0.3", label="trace")
            lo, hi = max(q[0], 1e-9), max(q[-1], q[0] * 1.01 + 1e-9)
            x = np.geomspace(lo * 0.8, hi * 1.25, 300)
            ax.plot(x, c.duration.cdf(x), color="C1", label=c.duration.family)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # narrow ranges: no crowded labels
            row = self.gof.iloc[i] if i < len(self.gof) else None
            req = "" if row is None or row["request"] == "*" else f" [{row['request']}]"
            ks = "" if row is None else f"\nn={int(row['n'])}, KS={row['ks_stat']:.3f}"
            ax.set_title(f"{c.type}{req}{ks}", fontsize=9)
            ax.set_xlabel("duration (s)", fontsize=8)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=7, loc="lower right")
        ax = axes[len(idx)]
        hours = np.arange(24)
        emp = self.hourly_counts / max(self.hourly_counts.mean(), 1e-300)
        ax.bar(hours, emp, color="0.75", label="trace (counts / mean)")
        ax.plot(hours, w.hourly, "o-", color="C1", ms=3, label="fitted hourly")
        ax.set_title(f"arrivals by hour of day\nbase rate {w.base_rate:.3g}/h", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[len(idx) + 1]
        days = np.arange(7)
        emp = self.weekday_counts / max(self.weekday_counts.mean(), 1e-300)
        ax.bar(days, emp, color="0.75", label="trace (counts / mean)")
        ax.plot(days, w.weekday, "o-", color="C1", ms=3, label="fitted weekday")
        ax.set_xticks(days, ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"])
        ax.set_title("arrivals by day of week", fontsize=9)
        ax.legend(fontsize=7)
        for ax in axes[n_panels:]:
            ax.axis("off")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


# ----------------------------------------------------------------------------- fitting
def fit_trace(
    trace,
    *,
    days: float | None = None,
    start: float | str = 0.0,
    by_request: bool = True,
    max_request_classes: int = 8,
    min_class_size: int = 50,
    families=tuple(FAMILIES),
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
        Candidate duration families (keys of :data:`FAMILIES`).
    """
    for f in families:
        if f not in FAMILIES:
            raise ValueError(f"unknown duration family {f!r}; choose among {sorted(FAMILIES)}")
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
    _start_hour(start)
    if days is None:
        days = max(1.0, math.ceil((float(submit.max()) - start) / SECONDS_PER_HOUR + 1e-9)) / 24.0
    days = float(days)
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"days must be > 0, got {days}")
    inside = (submit >= start) & (submit < start + days * SECONDS_PER_DAY)
    base, hourly, weekday = fit_arrivals(submit[inside], days, start=start)
    hod = ((submit[inside] // SECONDS_PER_HOUR) % 24).astype(np.int64)
    dow = ((submit[inside] // SECONDS_PER_DAY) % 7).astype(np.int64)

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
    classes, quantiles, aic_of, rows = [], {}, {}, []
    req_all = np.stack([a.cpu, a.gpu, a.mem], axis=1)
    levels = np.linspace(0.0, 1.0, _QUANTILES)
    for code in np.unique(a.task_type):
        tname = type_names[code]
        hit = np.flatnonzero(a.task_type == code)
        reqs, inv, cnt = _unique_rows(req_all[hit])
        split = by_request and 1 < len(reqs) <= max_request_classes and cnt.min() >= min_class_size
        groups = [(hit[inv == r], reqs[r:r + 1], np.ones(1)) for r in range(len(reqs))] if split \
            else [(hit, reqs, cnt / cnt.sum())]
        for members, rq, rp in groups:
            x = a.duration[members]
            dist, aics = fit_duration(x, families)
            ks, pv = _ks(x, dist.cdf)
            i = len(classes)
            classes.append(TaskClass(tname, tuple(tuple(float(v) for v in r) for r in rq), tuple(float(v) for v in rp),
                                     dist, len(members) / len(hit)))
            quantiles[i] = np.quantile(x, levels)
            aic_of[i] = {k: float(v) for k, v in aics.items()}
            rows.append({
                "type": tname,
                "request": "/".join(f"{v:g}" for v in rq[0]) if len(rq) == 1 else "*",
                "distribution": dist.family,
                "params": json.dumps({k: float(f"{v:.6g}") for k, v in dist.params.items()}),
                "n": int(len(x)),
                "ks_stat": ks,
                "p_value": pv,
                "aic": float(aics[dist.family]) if dist.family in aics else float("nan"),
                "mean": float(np.mean(x)),
                "fitted_mean": dist.mean(),
            })
    # arrivals, by time rescaling
    if inside.sum() > 0 and base > 0:
        lam = _cum_rate(submit[inside], days, hourly, weekday, start)
        total = float(_cum_rate(np.array([start + days * SECONDS_PER_DAY]), days, hourly, weekday, start)[0])
        ks, pv = _ks(np.clip(lam / total, 0.0, 1.0), stats.uniform.cdf)
    else:
        ks = pv = float("nan")
    rows.append({"type": "(arrivals)", "request": "", "distribution": "nhpp hourly x weekday",
                 "params": json.dumps({"base_rate_per_hour": float(f"{base:.6g}")}), "n": int(inside.sum()),
                 "ks_stat": ks, "p_value": pv, "aic": float("nan"),
                 "mean": float("nan"), "fitted_mean": float("nan")})

    workload = FittedWorkload(
        days=days, start=start, base_rate=float(base), hourly=tuple(hourly), weekday=tuple(weekday),
        templates=tuple(templates),
        pipeline_kinds=tuple(tuple(int(v) for v in k) for k in kinds),
        pipeline_p=tuple(float(c) / P for c in kind_count),
        classes=tuple(classes),
    )
    return FitResult(
        workload=workload,
        gof=pd.DataFrame(rows, columns=list(GOF_COLUMNS)),
        quantiles=quantiles,
        hourly_counts=np.bincount(hod, minlength=24).astype(np.float64),
        weekday_counts=np.bincount(dow, minlength=7).astype(np.float64),
        source=str(trace.source),
        aic=aic_of,
    )


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
