"""Experiment files: what a campaign runs, checked before anything runs, resolved into scenarios.

An experiment is a TOML file (read with the standard library's ``tomllib``) or
the same structure as a dict. Every key is checked against what it may hold;
an error names the key (``sweep."cluster.scale.gpu"[2]``, ``run.policy``) and
what was expected, and names the file it came from.

Resolution turns the experiment into *scenarios*: the product of the
``[sweep]`` lists, in file order with the last key varying fastest, each a
complete set of ``simulate`` arguments. ``[[scenarios]]`` entries list
explicit points instead (each a table of the same keys); with a ``[sweep]``
too, every listed point is crossed with every combination of the sweep. Scenario k of every experiment with the
same sweep is the same point of the design, and replication r of every scenario
draws the same exogenous workload (the seed is shared: common random numbers).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..engine.constants import DEVICE_PLACEMENTS, POLICIES, TIES

SECONDS = {"": 1.0, "_hours": 3600.0, "_days": 86400.0}

TOP_KEYS = ("name", "description", "seed", "replications", "workload", "cluster", "run", "sweep", "scenarios",
            "compare", "series", "report")
WORKLOAD_SOURCES = ("generator", "params", "trace")
GENERATORS = ("modelops", "queue")
CLUSTER_SOURCES = ("preset", "file", "pools", "servers")
CLUSTER_PRESETS = ("default",)
# [run]: simulate() keywords that decide results (threads and progress do not)
RUN_KEYS = {
    "policy": str, "placement": str, "backfill": bool, "lifecycle": bool,
    # MODEL.md 12: ties of the placements on devices, and devices forced on or off (default: when needed)
    "ties": str, "devices": bool,
    "accuracy_gate": float, "fairness_gate": float, "robustness_gate": float, "max_triggered": int,
    **{f"horizon{u}": float for u in SECONDS}, **{f"warmup{u}": float for u in SECONDS},
    # MODEL.md 11.4: the autoscaler by name and its parameters (each only for the kinds that have it)
    "autoscaler": str, "autoscaler_interval": float, "idle_timeout": float, "expander": str, "target": float,
    "tolerance": float, "stabilization": float, "resource": str,
    "schedule": object, "autoscaler_function": str,
}
# [run] key -> the autoscaler parameter it sets, and the kinds that have that parameter
AUTOSCALER_KEYS = {
    "autoscaler_interval": ("interval", ("reactive", "target_utilization", "schedule", "custom")),
    "schedule": ("table", ("schedule",)),
    "autoscaler_function": ("func", ("custom",)),
    "idle_timeout": ("idle_timeout", ("reactive",)),
    "expander": ("expander", ("reactive",)),
    "target": ("target", ("target_utilization",)),
    "tolerance": ("tolerance", ("target_utilization",)),
    "stabilization": ("stabilization", ("target_utilization",)),
    "resource": ("resource", ("target_utilization",)),
}
REPLICATION_KEYS = ("min", "max", "batch", "precision")
PRECISION_KEYS = ("metrics", "relative_half_width", "confidence")
SERIES_KEYS = tuple(f"bin{u}" for u in SECONDS)
COMPARE_KEYS = ("baseline", "metrics", "confidence")
REPORT_KEYS = ("metrics",)
DEFAULT_CONFIDENCE = 0.95


class ExperimentError(ValueError):
    """An experiment that cannot run: names the file, the key and what was expected."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key = source, key
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")


# ----------------------------------------------------------------------------- values
def _type_name(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _check_type(err, key: str, value, kind):
    """``value`` as ``kind`` (bool, int, float, str), or an error naming ``key``."""
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[kind]
    if not ok:
        raise err(key, f"expected {_type_name(kind())}, got {_type_name(value)} {value!r}")
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise err(key, f"expected a finite number, got {value!r}")
    return value


def _table(err, key: str, value, allowed) -> dict:
    if not isinstance(value, dict):
        raise err(key, f"expected a table, got {_type_name(value)} {value!r}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise err(f"{key}.{unknown[0]}" if key else unknown[0],
                  f"unknown key; {'the keys here are' if key else 'top-level keys are'} {sorted(allowed)}")
    return value


# ----------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class ReplicationPlan:
    """Fixed: ``min == max`` and no precision. Precision-driven: ``min`` first, then rounds of
    ``batch`` until every metric's relative half-width is at most ``target`` (or ``max``)."""

    min: int
    max: int
    batch: int
    metrics: tuple = ()
    target: float | None = None
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def fixed(self) -> bool:
        return self.target is None

    def rounds(self):
        """The replication count after each round: min, min + batch, ..., max."""
        n = self.min
        yield n
        while n < self.max:
            n = min(n + self.batch, self.max)
            yield n


@dataclass(frozen=True)
class Scenario:
    index: int
    name: str     # s000, s001, ...: file names and the ``scenario`` column
    values: dict  # swept key (dotted name) -> value
    config: dict  # the resolved workload / cluster / run tables of this scenario

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.values.items()) or "(single scenario)"


def _show(v) -> str:
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


class Experiment:
    """A checked experiment and its scenarios (see the module docstring).

    Parameters
    ----------
    data : dict
        The experiment, as ``tomllib`` reads it.
    source : str
        Where it came from, for error messages (a file path or ``<dict>``).
    base_dir : Path
        Relative paths (trace, params, cluster file) are relative to it.
    """

    def __init__(self, data: dict, source: str = "<dict>", base_dir=None):
        self.source = source
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.data = copy.deepcopy(data)
        self.text = None  # the file's text, for an experiment read from TOML
        err = self.error
        d = _table(err, "", self.data, TOP_KEYS)
        self.name = _check_type(err, "name", d.get("name", "campaign"), str)
        if not self.name or any(c in self.name for c in "/\\\0"):
            raise err("name", f"expected a name without '/' or '\\', got {self.name!r}")
        self.seed = _check_type(err, "seed", d.get("seed", 0), int)
        if self.seed < 0:
            raise err("seed", f"expected an integer >= 0, got {self.seed}")
        self.replications = self._replications(d.get("replications", 20))
        base = {
            "workload": _table(err, "workload", d.get("workload", {"generator": "modelops"}),
                               _ANY),
            "cluster": _table(err, "cluster", d.get("cluster", {}), _ANY),
            "run": _table(err, "run", d.get("run", {}), RUN_KEYS),
        }
        self.series = self._series(d.get("series"))
        sweep = _table(err, "sweep", d.get("sweep", {}), _ANY)
        self.listed = self._listed(d.get("scenarios"), base)
        self.axes = self._list_axes() + self._axes(sweep)
        self.scenarios = self._resolve(base)
        self.compare = self._compare(d.get("compare"))
        self.report_metrics = self._report(d.get("report"))
        if not self.replications.fixed:
            for m in self.replications.metrics:
                _check_metric(err, "replications.precision.metrics", m)

    def error(self, key: str, message: str) -> ExperimentError:
        return ExperimentError(self.source, key, message)

    # ------------------------------------------------------------------ parts
    def _replications(self, value) -> ReplicationPlan:
        err = self.error
        if not isinstance(value, dict):
            n = _check_type(err, "replications", value, int)
            if n < 1:
                raise err("replications", f"expected an integer >= 1, got {n}")
            return ReplicationPlan(n, n, n)
        _table(err, "replications", value, REPLICATION_KEYS)
        lo = _check_type(err, "replications.min", value.get("min", 10), int)
        hi = _check_type(err, "replications.max", value.get("max", lo), int)
        if lo < 2:
            raise err("replications.min", f"expected an integer >= 2 (an interval needs two), got {lo}")
        if hi < lo:
            raise err("replications.max", f"expected an integer >= min ({lo}), got {hi}")
        batch = _check_type(err, "replications.batch", value.get("batch", lo), int)
        if batch < 1:
            raise err("replications.batch", f"expected an integer >= 1, got {batch}")
        prec = value.get("precision")
        if prec is None:
            if hi != lo:
                raise err("replications", "max differs from min but no precision is given: give "
                                          "precision = { metrics = [...], relative_half_width = ... }")
            return ReplicationPlan(lo, hi, batch)
        _table(err, "replications.precision", prec, PRECISION_KEYS)
        metrics = prec.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            raise err("replications.precision.metrics", f"expected a non-empty list of metric names, got {metrics!r}")
        for i, m in enumerate(metrics):
            _check_type(err, f"replications.precision.metrics[{i}]", m, str)
        if "relative_half_width" not in prec:
            raise err("replications.precision.relative_half_width", "missing: the target half-width as a "
                                                                     "fraction of the mean, for example 0.02")
        target = _check_type(err, "replications.precision.relative_half_width", prec["relative_half_width"], float)
        if not target > 0:
            raise err("replications.precision.relative_half_width", f"expected a number > 0, got {target}")
        conf = _check_type(err, "replications.precision.confidence", prec.get("confidence", DEFAULT_CONFIDENCE),
                           float)
        if not 0 < conf < 1:
            raise err("replications.precision.confidence", f"expected a number in (0, 1), got {conf}")
        return ReplicationPlan(lo, hi, batch, tuple(metrics), target, conf)

    def _series(self, value):
        if value is None:
            return None
        err = self.error
        _table(err, "series", value, SERIES_KEYS)
        given = [k for k in SERIES_KEYS if k in value]
        if len(given) != 1:
            raise err("series", f"give the bin width once, as one of {list(SERIES_KEYS)}")
        k = given[0]
        width = _check_type(err, f"series.{k}", value[k], float) * SECONDS[k[len("bin"):]]
        if not width > 0:
            raise err(f"series.{k}", f"expected a number > 0, got {value[k]!r}")
        return width

    def _axes(self, sweep: dict) -> list:
        err = self.error
        axes = []
        for key, values in sweep.items():
            where = f'sweep."{key}"' if "." in key else f"sweep.{key}"
            if not isinstance(values, list):
                raise err(where, f"expected a list of values, got {_type_name(values)} {values!r}")
            if not values:
                raise err(where, "expected a non-empty list of values: an empty list sweeps nothing")
            path = _sweep_path(key)
            if path is None:
                raise err(where, f"a bare key names a [run] key ({sorted(RUN_KEYS)}); for another table "
                                 "write its dotted name, for example \"workload.days\" or \"cluster.scale.gpu\"")
            if path[0] not in ("workload", "cluster", "run"):
                raise err(where, "a dotted key starts with workload, cluster or run")
            seen = []
            for i, v in enumerate(values):
                if v in seen:
                    raise err(f"{where}[{i}]", f"{v!r} is listed twice")
                seen.append(v)
            axes.append((key, path, values))
        return axes

    def _listed(self, value, base: dict) -> list:
        """[[scenarios]]: explicit points, each a table of keys (as in [sweep]) and values; a key
        an entry leaves out keeps the value of the base tables (None if they have none)."""
        if value is None:
            return []
        err = self.error
        if not isinstance(value, list) or not value or not all(isinstance(e, dict) for e in value):
            raise err("scenarios", "expected a non-empty list of tables ([[scenarios]] entries), each with keys "
                                   "as in [sweep] and one value each")
        keys = []
        for i, entry in enumerate(value):
            if not entry:
                raise err(f"scenarios[{i}]", "an empty entry: give at least one key")
            for key, v in entry.items():
                where = f'scenarios[{i}]."{key}"' if "." in key else f"scenarios[{i}].{key}"
                path = _sweep_path(key)
                if path is None or path[0] not in ("workload", "cluster", "run"):
                    raise err(where, f"a bare key names a [run] key ({sorted(RUN_KEYS)}); for another table "
                                     "write its dotted name, for example \"cluster.scale.gpu\"")
                if isinstance(v, list) and RUN_KEYS.get(path[-1] if path[0] == "run" else None) is not object:
                    raise err(where, "one value per entry (a list of values is a [sweep])")
                if key not in keys:
                    keys.append(key)
        rows = []
        for i, entry in enumerate(value):
            rows.append({k: entry[k] if k in entry else _get_path(base, _sweep_path(k)) for k in keys})
            if rows[-1] in rows[:-1]:
                raise err(f"scenarios[{i}]", f"the same scenario as scenarios[{rows.index(rows[-1])}]")
        return rows

    def _list_axes(self) -> list:
        if not self.listed:
            return []
        axes = []
        for key in self.listed[0]:
            seen = []
            for row in self.listed:
                if row[key] not in seen:
                    seen.append(row[key])
            axes.append((key, _sweep_path(key), seen))
        return axes

    def _resolve(self, base: dict) -> list:
        err = self.error
        scenarios = []
        self.inputs = []  # (workload, cluster, run keywords) of each scenario, built by the checks
        listed_keys = list(self.listed[0]) if self.listed else []
        sweep_axes = self.axes[len(listed_keys):]
        for key, _, _ in sweep_axes:
            if key in listed_keys:
                raise err(f"sweep.{key}", "is also a key of [[scenarios]]: give it in one of the two")
        keys = [k for k, _, _ in sweep_axes]
        points = list(enumerate(self.listed)) or [(None, {})]
        combos = itertools.product(points, itertools.product(*[range(len(v)) for _, _, v in sweep_axes]))
        for index, ((i, row), combo) in enumerate(combos):
            config = copy.deepcopy(base)
            values = dict(row)
            for key, value in row.items():
                if value is not None:
                    _set_path(config, _sweep_path(key), value)
            for (key, path, options), j in zip(sweep_axes, combo):
                value = options[j]
                values[key] = value
                _set_path(config, path, value)
            where = {k: f'sweep."{k}"[{j}]' if "." in k else f"sweep.{k}[{j}]" for k, j in zip(keys, combo)}
            where.update({k: f'scenarios[{i}]."{k}"' if "." in k else f"scenarios[{i}].{k}" for k in row})
            self.inputs.append(check_config(self, config, where))
            scenarios.append(Scenario(index, f"s{index:03d}", values, config))
        if not scenarios:
            raise err("sweep", "the sweep makes no scenario")
        return scenarios

    def _compare(self, value):
        if value is None:
            return None
        err = self.error
        _table(err, "compare", value, COMPARE_KEYS)
        baseline = value.get("baseline")
        if not isinstance(baseline, dict) or not baseline:
            raise err("compare.baseline", f"expected a table of swept keys and values, for example "
                                          f"{{ policy = \"fifo\" }}, got {baseline!r}")
        axes = [k for k, _, _ in self.axes]
        for k, v in baseline.items():
            if k not in axes:
                raise err(f"compare.baseline.{k}", f"not a swept key; the swept keys are {axes}")
        matches = [s for s in self.scenarios if all(s.values[k] == v for k, v in baseline.items())]
        if not matches:
            raise err("compare.baseline", f"{baseline} matches no scenario; the swept values are "
                                          + "; ".join(f"{k}: {v}" for k, _, v in self.axes))
        metrics = value.get("metrics")
        if metrics is not None:
            if not isinstance(metrics, list) or not metrics:
                raise err("compare.metrics", f"expected a non-empty list of metric names, got {metrics!r}")
            for i, m in enumerate(metrics):
                _check_metric(err, f"compare.metrics[{i}]", _check_type(err, f"compare.metrics[{i}]", m, str))
        conf = _check_type(err, "compare.confidence", value.get("confidence", DEFAULT_CONFIDENCE), float)
        if not 0 < conf < 1:
            raise err("compare.confidence", f"expected a number in (0, 1), got {conf}")
        return {"baseline": dict(baseline), "metrics": None if metrics is None else tuple(metrics),
                "confidence": conf}

    def _report(self, value):
        if value is None:
            return None
        err = self.error
        _table(err, "report", value, REPORT_KEYS)
        metrics = value.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            raise err("report.metrics", f"expected a non-empty list of metric names, got {metrics!r}")
        for i, m in enumerate(metrics):
            _check_metric(err, f"report.metrics[{i}]", _check_type(err, f"report.metrics[{i}]", m, str))
        return tuple(metrics)

    # ------------------------------------------------------------------ derived
    @property
    def axis_names(self) -> list:
        return [k for k, _, _ in self.axes]

    def baseline_of(self, scenario: Scenario):
        """The baseline scenario paired with ``scenario`` (same values of the other axes), or None."""
        if self.compare is None:
            return None
        base = self.compare["baseline"]
        if all(scenario.values[k] == v for k, v in base.items()):
            return None  # a baseline itself
        for s in self.scenarios:
            if all(s.values[k] == v for k, v in base.items()) and all(
                    s.values[k] == scenario.values[k] for k in scenario.values if k not in base):
                return s
        return None

    def resolved(self) -> dict:
        """Everything that decides the results, as JSON-able data (what the hash covers)."""
        plan = dataclasses.asdict(self.replications)
        plan["metrics"] = list(plan["metrics"])
        return {
            "name": self.name,
            "seed": self.seed,
            "replications": plan,
            "series_bin": self.series,
            "axes": [[k, v] for k, _, v in self.axes],
            "scenarios": [{"scenario": s.name, "values": s.values, "config": s.config,
                           "files": _file_digests(self, s.config, self.inputs[s.index][2])}
                          for s in self.scenarios],
            "compare": self.compare and {**self.compare, "metrics": self.compare["metrics"] and
                                         list(self.compare["metrics"])},
            "report": self.report_metrics and list(self.report_metrics),
        }

    def digest(self) -> str:
        text = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p


class _Any:
    """Any key is allowed at this level (checked later by check_config)."""

    def __contains__(self, key):
        return True

    def __iter__(self):
        return iter(())


_ANY = _Any()


def _sweep_path(key: str):
    if "." in key:
        return tuple(key.split("."))
    if key in RUN_KEYS:
        return ("run", key)
    return None


def _get_path(config: dict, path: tuple):
    node = config
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return copy.deepcopy(node)


def _set_path(config: dict, path: tuple, value):
    node = config
    for p in path[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        node = nxt
    node[path[-1]] = value


# ----------------------------------------------------------------------------- checks
def check_config(exp: Experiment, config: dict, where: dict | None = None) -> tuple:
    """Check one scenario's workload / cluster / run tables, naming the key (or the sweep entry
    that set it) in an error; returns what ``simulate`` is called with: (workload, cluster,
    keywords). Files are read here."""
    where = where or {}

    def err(key, message):
        for swept, label in where.items():  # an error in (or about) a swept value names the sweep entry
            path = ".".join(_sweep_path(swept) or ())
            if key == path or key.startswith(path + ".") or path.startswith(key + "."):
                return exp.error(label, f"{message} (as {key})")
        return exp.error(key, message)

    workload = build_workload(exp, config["workload"], err)
    cluster = build_cluster(exp, config["cluster"], err)
    if cluster is None:  # [cluster] servers = c: a queue's own cluster of c one-job servers
        if not hasattr(workload, "cluster"):
            raise err("cluster.servers", "servers goes with generator = \"queue\"; give a preset, file or pools")
        cluster = workload.cluster(int(config["cluster"]["servers"]))
    kwargs = run_kwargs(config["run"], err, exp)
    scaler = kwargs.get("autoscaler")
    if getattr(scaler, "kind", None) == "schedule":  # its pools are the cluster's
        from ..errors import InputError

        try:
            scaler.counts_by_hour(cluster.pool_names)
        except InputError as e:
            raise err("run.schedule", str(e)) from None
    _check_fits(err, workload, cluster)
    return workload, cluster, kwargs


def _check_fits(err, workload, cluster) -> None:
    """Every task request of the workload fits some node of the cluster (MODEL.md 2), checked
    before anything runs where the requests are known without generating the workload."""
    import numpy as np

    from ..engine.constants import FIT_TOL
    from ..trace import Trace, check_fits

    if cluster is None:
        return
    if isinstance(workload, Trace):
        try:
            check_fits(workload, cluster)
        except ValueError as e:
            raise err("cluster", str(e)) from None
        return
    plan = getattr(workload, "_plan", None)
    req = getattr(plan, "shape_req", None)
    if req is None and all(hasattr(workload, k) for k in ("cpu", "gpu", "mem_gb")):
        req = np.array([[workload.cpu, workload.gpu, workload.mem_gb]], dtype=np.float64)
    if req is None:
        return
    nodes = cluster.nodes()
    cap = nodes.pool_node_capacity[nodes.pool_count > 0]
    fits = (cap[None, :, :] >= np.asarray(req)[:, None, :] - FIT_TOL).all(axis=2).any(axis=1)
    if not fits.all():
        bad = np.asarray(req)[~fits][0]
        raise err("cluster", f"a task request of the workload (cpu {bad[0]:g}, gpu {bad[1]:g}, mem_gb {bad[2]:g}) "
                             "fits no node of any pool of this cluster")


def _one_source(err, table: dict, sources, where: str, default=None):
    given = [k for k in sources if k in table]
    if len(given) > 1:
        raise err(f"{where}.{given[1]}", f"give one of {list(sources)}, not both {given[0]} and {given[1]}")
    if not given:
        if default is None:
            raise err(where, f"missing: give one of {list(sources)}")
        return default, None
    return given[0], table[given[0]]


_WORKLOAD_CACHE: dict = {}


def build_workload(exp: Experiment, table: dict, err=None):
    """The workload object of a [workload] table (ModelOpsWorkload, QueueWorkload, a fitted
    workload, or a Trace)."""
    err = err or exp.error
    kind, source = _one_source(err, table, WORKLOAD_SOURCES, "workload", default="generator")
    fields = {k: v for k, v in table.items() if k not in WORKLOAD_SOURCES}
    if kind == "generator":
        name = source if source is not None else "modelops"
        _check_type(err, "workload.generator", name, str)
        if name not in GENERATORS:
            raise err("workload.generator", f"expected one of {list(GENERATORS)}, got {name!r}")
        if name == "modelops":
            return _modelops(err, fields)
        return _dataclass_from(err, _queue_class(), fields, "workload")
    path = exp.path(_check_type(err, f"workload.{kind}", source, str))
    if kind == "params":
        unknown = [k for k in fields if k not in ("rate_scale", "days")]
        if unknown:
            raise err(f"workload.{unknown[0]}", "a fitted workload (params) takes only rate_scale and days")
        if not path.is_file():
            raise err("workload.params", f"file not found: {path}")
        from ..fit import FitResult

        rate_scale = _check_type(err, "workload.rate_scale", fields.get("rate_scale", 1.0), float)
        days = fields.get("days")
        if days is not None:
            days = _check_type(err, "workload.days", days, float)
        if not rate_scale > 0:
            raise err("workload.rate_scale", f"expected a number > 0, got {rate_scale}")
        try:
            return FitResult.load(path).generator(rate_scale=rate_scale, days=days)
        except ValueError as e:
            raise err("workload.params", str(e)) from None
    if fields:
        raise err(f"workload.{next(iter(fields))}", "a trace takes no other workload key")
    if not path.is_dir():
        raise err("workload.trace", f"trace folder not found: {path}")
    key = ("trace", str(path.resolve()))
    if key not in _WORKLOAD_CACHE:  # one read per process, whatever the number of scenarios
        from ..trace import read_trace

        try:
            _WORKLOAD_CACHE[key] = read_trace(path)
        except ValueError as e:
            raise err("workload.trace", str(e)) from None
    return _WORKLOAD_CACHE[key]


def _queue_class():
    from ..queueing import QueueWorkload

    return QueueWorkload


def _modelops(err, fields: dict):
    from ..modelops import ModelOpsWorkload

    fields = dict(fields)
    rate_scale = fields.pop("rate_scale", None)
    rules = fields.get("model_rules")
    if isinstance(rules, dict):  # TOML table keys are strings: model ids
        try:
            fields["model_rules"] = {int(k): v for k, v in rules.items()}
        except ValueError:
            raise err("workload.model_rules", f"expected model ids (integers) as keys, got {list(rules)}") from None
    if "template" in fields:
        raise err("workload.template", "the template is not set from an experiment file; build the "
                                       "workload in Python and use Campaign(...) with a dict instead")
    w = _dataclass_from(err, ModelOpsWorkload, fields, "workload")
    if rate_scale is not None:
        rate_scale = _check_type(err, "workload.rate_scale", rate_scale, float)
        if not rate_scale > 0:
            raise err("workload.rate_scale", f"expected a number > 0, got {rate_scale}")
        w = dataclasses.replace(w, base_rate=w.base_rate * rate_scale)
    return w


def _dataclass_from(err, cls, fields: dict, where: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in fields.items():
        if k not in known:
            raise err(f"{where}.{k}", f"not a {cls.__name__} field; the fields are {sorted(known)}")
        default = known[k].default
        if isinstance(default, bool):
            _check_type(err, f"{where}.{k}", v, bool)
        elif isinstance(default, int) and not isinstance(default, bool):
            _check_type(err, f"{where}.{k}", v, int)
        elif isinstance(default, float):
            _check_type(err, f"{where}.{k}", v, float)
        elif isinstance(default, str):
            _check_type(err, f"{where}.{k}", v, str)
        elif isinstance(default, tuple) and not isinstance(v, list) \
                and not (isinstance(v, dict) and k in ("model_rules", "gpu_share")):  # tables of the workload
            raise err(f"{where}.{k}", f"expected a list, got {_type_name(v)} {v!r}")
    try:
        return cls(**fields)
    except (ValueError, TypeError) as e:
        msg = str(e)
        name = next((k for k in fields if msg.startswith(k) or f" {k} " in f" {msg} "), None)
        raise err(f"{where}.{name}" if name else where, msg) from None


def build_cluster(exp: Experiment, table: dict, err=None):
    """The Cluster of a [cluster] table."""
    from ..cluster import Cluster, default_cluster, read_cluster

    err = err or exp.error
    _table(err, "cluster", table, CLUSTER_SOURCES + ("scale",))
    kind, source = _one_source(err, table, CLUSTER_SOURCES, "cluster", default="preset")
    if kind == "preset":
        name = "default" if source is None else _check_type(err, "cluster.preset", source, str)
        if name not in CLUSTER_PRESETS:
            raise err("cluster.preset", f"expected one of {list(CLUSTER_PRESETS)}, got {name!r}")
        cluster = default_cluster()
    elif kind == "file":
        path = exp.path(_check_type(err, "cluster.file", source, str))
        if not path.is_file():
            raise err("cluster.file", f"file not found: {path}")
        try:
            cluster = read_cluster(path)
        except ValueError as e:
            raise err("cluster.file", str(e)) from None
    elif kind == "pools":
        if not isinstance(source, list) or not source or not all(isinstance(p, dict) for p in source):
            raise err("cluster.pools", "expected a list of tables, one per pool: "
                                       "[{ pool = \"gpu\", count = 3, cpu = 48, gpu = 4, mem_gb = 192 }]")
        try:
            cluster = Cluster.from_pools(source, source=f"{exp.source}: cluster.pools")
        except ValueError as e:
            raise err("cluster.pools", str(e)) from None
    else:  # servers: a queue of identical one-job servers
        servers = _check_type(err, "cluster.servers", source, int)
        if servers < 1:
            raise err("cluster.servers", f"expected an integer >= 1, got {servers}")
        return None  # the workload makes its own cluster (QueueWorkload.cluster)
    scale = table.get("scale")
    if scale is not None:
        if not isinstance(scale, dict) or not scale:
            raise err("cluster.scale", f"expected a table of pool names and node counts, got {scale!r}")
        for pool, n in scale.items():
            n = _check_type(err, f"cluster.scale.{pool}", n, int)
            if pool not in cluster.pool_names:
                raise err(f"cluster.scale.{pool}", f"no pool of that name; the pools are {cluster.pool_names}")
            if n < 0:
                raise err(f"cluster.scale.{pool}", f"expected a node count >= 0, got {n}")
        try:
            cluster = cluster.scaled(**{k: int(v) for k, v in scale.items()})
        except ValueError as e:
            raise err("cluster.scale", str(e)) from None
    return cluster


def run_kwargs(table: dict, err, exp: Experiment | None = None) -> dict:
    """The simulate() keywords of a [run] table (horizon and warmup in seconds).

    ``policy`` is a built-in policy's name or a function reference, ``"keys.py:my_key"``
    (a file beside the experiment) or ``"package.module:my_key"``: a key function as
    :func:`fastpipesim.custom_policy` takes it. ``autoscaler = "schedule"`` takes
    ``schedule`` (a CSV file or a list of tables with pool, day, hour, count);
    ``autoscaler = "custom"`` takes ``autoscaler_function`` (a reference to
    ``desired(pool, up, booting, ready, utilization, now)``).
    """
    base_dir = exp.base_dir if exp is not None else Path.cwd()
    out = {}
    for k, v in table.items():
        if k not in RUN_KEYS:
            raise err(f"run.{k}", f"unknown key; the keys here are {sorted(RUN_KEYS)}")
        if RUN_KEYS[k] is object:  # schedule: a file or a list of tables
            if not (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(r, dict) for r in v))):
                raise err(f"run.{k}", "expected a CSV file or a list of tables "
                                      "[{ pool = \"gpu\", day = -1, hour = 8, count = 4 }, ...], "
                                      f"got {_type_name(v)} {v!r}")
            out[k] = str(exp.path(v)) if isinstance(v, str) and exp is not None else v
            continue
        out[k] = _check_type(err, f"run.{k}", v, RUN_KEYS[k])
    if "policy" in out:
        out["policy"] = _policy(err, out["policy"], base_dir)
    if "placement" in out and out["placement"] not in DEVICE_PLACEMENTS:
        raise err("run.placement", f"expected one of {list(DEVICE_PLACEMENTS)}, got {out['placement']!r}")
    if "ties" in out and out["ties"] not in TIES:
        raise err("run.ties", f"expected one of {list(TIES)}, got {out['ties']!r}")
    for gate in ("accuracy_gate", "fairness_gate", "robustness_gate"):
        if gate in out and not 0.0 <= out[gate] <= 1.0:
            raise err(f"run.{gate}", f"expected a number in [0, 1], got {out[gate]}")
    if "max_triggered" in out and out["max_triggered"] < 0:
        raise err("run.max_triggered", f"expected an integer >= 0, got {out['max_triggered']}")
    for name in ("horizon", "warmup"):
        given = [k for k in out if k == name or k.startswith(name + "_")]
        if len(given) > 1:
            raise err(f"run.{given[1]}", f"give {name} once (as {name}, {name}_hours or {name}_days)")
        if given:
            k = given[0]
            seconds = out.pop(k) * SECONDS[k[len(name):]]
            if name == "horizon" and not seconds > 0:
                raise err(f"run.{k}", "expected a number > 0")
            if name == "warmup" and seconds < 0:
                raise err(f"run.{k}", "expected a number >= 0")
            out[name] = seconds
    _autoscaler_kwarg(out, err, base_dir)
    return out


def _policy(err, name: str, base_dir: Path):
    """A built-in policy's name, or a PolicyRef for a function reference (checked, not compiled)."""
    from .functions import FunctionError, PolicyRef, is_ref, parse_ref

    if is_ref(name):
        try:
            ref = PolicyRef(parse_ref(name, base_dir))
            ref.check()
        except FunctionError as e:
            raise err("run.policy", str(e)) from None
        return ref
    if name not in POLICIES or name == "custom":
        raise err("run.policy", f"expected one of {[p for p in POLICIES if p != 'custom']} or a key function "
                                f"as 'file.py:function', got {name!r}")
    return name


AUTOSCALER_KINDS = ("static", "reactive", "target_utilization", "schedule", "custom")


def _autoscaler_kwarg(out: dict, err, base_dir: Path) -> None:
    """[run] autoscaler = "reactive" with its parameters (autoscaler_interval, idle_timeout, ...)
    -> simulate's ``autoscaler`` object, checked. A custom autoscaler stays a reference
    (AutoscalerRef), built where it runs."""
    from ..autoscalers import build_autoscaler
    from ..errors import InputError
    from .functions import AutoscalerRef, FunctionError, parse_ref

    given = {k: out.pop(k) for k in list(out) if k in AUTOSCALER_KEYS}
    kind = out.get("autoscaler")
    if kind is None:
        if given:
            k = next(iter(given))
            raise err(f"run.{k}", f"an autoscaler parameter needs run.autoscaler (one of {list(AUTOSCALER_KINDS)})")
        return
    if kind not in AUTOSCALER_KINDS:
        raise err("run.autoscaler", f"expected one of {list(AUTOSCALER_KINDS)}, got {kind!r}")
    for k in given:
        name, kinds = AUTOSCALER_KEYS[k]
        if kind not in kinds:
            raise err(f"run.{k}", f"the {kind!r} autoscaler has no such parameter; it goes with {list(kinds)}")
    need = {"schedule": "schedule", "custom": "autoscaler_function"}.get(kind)
    if need is not None and need not in given:
        raise err(f"run.{need}", f"missing: the {kind!r} autoscaler needs it")
    params = {AUTOSCALER_KEYS[k][0]: v for k, v in given.items()}
    if kind == "custom":
        try:
            ref = parse_ref(params.pop("func"), base_dir)
            scaler = AutoscalerRef(ref, tuple(sorted(params.items())))
            scaler.build()  # checks the function's arguments (compiled only when it runs)
        except (FunctionError, InputError) as e:
            raise err("run.autoscaler_function", str(e)) from None
        out["autoscaler"] = scaler
        return
    try:
        out["autoscaler"] = build_autoscaler(kind, params)
    except (InputError, ValueError) as e:
        raise err("run.schedule" if kind == "schedule" else "run.autoscaler", str(e)) from None


# The summary columns a metric name may be (Results.summary): fixed names, and
# per pool / task type names checked by their pattern (pools and types vary).
_PATTERNS = ("util_", "wait_mean_", "node_hours_", "nodes_up_mean_")


def _check_metric(err, key: str, name: str) -> None:
    from ..engine.summary import REP_METRICS
    from ..results import LIFECYCLE_SUMMARY

    from ..engine.constants import ELASTIC_ACCUMULATORS

    fixed = (set(REP_METRICS) | set(LIFECYCLE_SUMMARY.values()) | {"cost", "end_time", "events", "work_lost_h"}
             | set(ELASTIC_ACCUMULATORS[:-1]))
    if name in fixed or any(name.startswith(p) and len(name) > len(p) for p in _PATTERNS):
        return
    raise err(key, f"unknown metric {name!r}; metrics are the columns of Results.summary, such as "
                   f"{sorted(fixed)[:12]} ..., util_<pool>_<cpu|gpu|mem_gb>, wait_mean_<task type>")


def _file_digests(exp: Experiment, config: dict, kwargs: dict) -> dict:
    """Digests of the files a scenario reads, so that a changed file is a changed experiment
    (a function's file: the text read when the experiment was checked, which is what runs)."""
    from .functions import referenced_files

    out = {ref.path: ref.digest for ref in referenced_files(kwargs)}
    w, c = config["workload"], config["cluster"]
    files = []
    if "params" in w:
        files.append(exp.path(w["params"]))
    if "trace" in w:
        folder = exp.path(w["trace"])
        files += sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if "file" in c:
        files.append(exp.path(c["file"]))
    r = config["run"]
    if isinstance(r.get("schedule"), str):
        files.append(exp.path(r["schedule"]))
    for f in files:
        out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else None
    return out


def load_toml(path) -> Experiment:
    """Read and check an experiment file."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise ExperimentError(str(path), "", "experiment file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ExperimentError(str(path), "", f"not valid TOML: {e}") from None
    exp = Experiment(data, source=str(path), base_dir=path.parent)
    exp.text = text
    return exp
