"""A reference implementation of the fastpipesim model (MODEL.md 1-13) in SimPy.

It is written from MODEL.md alone, the way a SimPy user would write it, and serves
two purposes:

- the oracle of the tests: the compiled engine must produce exactly the same
  schedule (same nodes, same start and end times as floats);
- the speed baseline of the benchmarks.

Shape of the model: one SimPy process per pipeline arrival, one per running task,
one scheduler process, and with a lifecycle one watcher per on_drift model and one
timer per periodic model. Arrival and task processes only *record* that their event
happened and ask for a scheduling pass; the scheduler wakes up once per distinct
event time, after every event of that time has been processed, applies the recorded
events in the order MODEL.md 3 fixes, then runs one scheduling pass (MODEL.md 4).

How the "once per time, after every event of that time" wake-up works: SimPy
processes its queue in order of (time, priority, insertion number), and every
timeout has priority ``simpy.core.NORMAL``. The scheduler's wake-up is scheduled at
the current time with the lower priority ``END_OF_INSTANT`` (= NORMAL + 1), so it
comes after every arrival and completion at that time, however they were inserted.
The horizon is a stop event with a lower priority still (``HORIZON``), so events at
exactly the horizon and their pass are applied; SimPy's own ``run(until=number)``
stops *before* the events at that time, which is not the model's rule.

Times are computed with exactly the model's expressions: an arrival's timeout is
created at t = 0 with delay ``submit_time`` (SimPy adds it to now = 0), and a task's
timeout is created when it starts with delay ``duration / speed``, so SimPy computes
``start + duration / speed``. Free capacity is only ever updated by ``free -= request``
on a start and ``free += request`` on a completion, in event order.

The ML model lifecycle (MODEL.md 7) is modelled for traces when a ``models`` table is
given; see ``LifecycleModel`` below. Custom policies are not modelled here.

Elastic clusters (MODEL.md 11: node slots, boot delays, autoscalers, spot interruptions,
billing) are modelled in ``ClusterModel`` by three more kinds of process, which record
their event and ask for a pass like the others: one ``boot`` per booting node, one
``ticks`` timer for the autoscaler, one ``spot_slot`` per slot of a spot pool (its
interruption times are drawn before the run, ``interruption_times``). With every pool
static and no spot pool none of them exists and the run is that of MODEL.md 1-9.

GPUs as devices (MODEL.md 12: device shares, GPU models and specs, gangs, the nine
placements, fragmentation) are the ``ClusterModel`` methods under "GPUs as devices": a
node keeps one free share per device besides its free cpu and memory, a task's parts are
placed one after another in its turn of the pass and released together at its
completion, and after every pass the free and fragmented GPUs are recorded. Without
fractional requests, specs, replicas, study placements or random ties the run keeps the
pooled GPUs of sections 4 and 6 unless ``devices=True`` is asked for.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from heapq import heappush

import numpy as np
import pandas as pd
import simpy

__all__ = ["SimpyResult", "simulate_simpy", "POLICIES", "PLACEMENTS", "DEVICE_PLACEMENTS", "target_workload",
           "node_fragmentation"]

POLICIES = ("fifo", "priority", "sjf", "srpt", "staleness")
PLACEMENTS = ("first_fit", "best_fit", "worst_fit")

# Fit test tolerance (MODEL.md 4.3): a node fits if free >= request - FIT_TOL in every dimension.
FIT_TOL = 1e-9
DIMENSIONS = ("cpu", "gpu", "mem_gb")

# Event priorities within one time: arrivals and completions (SimPy timeouts, NORMAL)
# first, then the scheduling pass, then the horizon stop.
END_OF_INSTANT = simpy.core.NORMAL + 1
HORIZON = END_OF_INSTANT + 1

DEFAULT_SPEED = 1.0   # MODEL.md 2; price_per_hour is not used (no cost output here)
_PIPELINE_DEFAULTS = {"model_id": 0, "priority": 0}


@dataclass
class SimpyResult:
    """What a SimPy run returns.

    Attributes
    ----------
    tasks : DataFrame
        One row per task in the order of the input tasks table: pipeline_id, task, type,
        node (global node index, -1 if never started), pool (name, None if never
        started), ready, start, end (NaN where it did not happen), status
        ('completed', 'unfinished' or 'not_started').
    n_events : int
        Events applied: one per pipeline arrival (triggered pipelines included) and one
        per task completion; lifecycle triggers are not counted.
    end_time : float
        The horizon if one was given, else the time of the last applied event.
    pipelines : DataFrame
        One row per pipeline, exogenous ones in input order then triggered ones in
        submission order: pipeline_id, model_id, submit (NaN if it never arrived),
        end (NaN if not finished), outcome ('completed', 'rejected_by_<gate task type>'
        or 'unfinished'), triggered_by ('exogenous', 'on_drift' or 'periodic').
    models : DataFrame or None
        With a models table: the lifecycle metrics of each model over [warmup, end]
        (see ``LifecycleModel.metrics``), one row per model by model_id, then a row
        with model_id -1 for the total. None without a models table.
    nodes : DataFrame or None
        Elastic runs (MODEL.md 11): the node timeline, one row per node instance in
        order of request: pool, slot, node, reason ('initial', 'scale_up',
        'replacement'), requested, up, released (NaN if it did not happen),
        release_reason ('scale_down', 'interrupted' or None). None for a static run.
    node_series : DataFrame or None
        Elastic runs: time, pool, up, booting at t = 0 (before any event) and after
        every instant that changed a pool's counts.
    elastic : dict or None
        Elastic runs: the outputs of MODEL.md 11.6 (cost, node_hours_<pool>,
        nodes_up_mean_<pool>, scale_ups, scale_downs, replacements, interruptions,
        tasks_restarted, work_lost_h). The task records then have a ``restarts`` column.
    devices : DataFrame or None
        Runs on devices (MODEL.md 12.9): one row per part of every task that started (its
        last start), in task order then part order: replication, pipeline_id, task, part,
        node, devices (the device indices, ascending, joined by ','; '' without GPU).
        None on the pooled path.
    gpu_timeline : DataFrame or None
        Runs on devices: one row per scheduling pass (one per distinct event time):
        replication, time, unallocated_gpus, fragmented_gpus, frag_ratio (NaN when no GPU
        is free), after the pass.
    gpu_summary : dict or None
        Runs on devices: gpu_unallocated_pct, gpu_fragmented_pct (time averages over
        [warmup, end], % of the cluster's GPUs) and gpu_frag_ratio (fragmented /
        unallocated, of the time integrals).
    """

    tasks: pd.DataFrame
    n_events: int
    end_time: float
    pipelines: pd.DataFrame | None = None
    models: pd.DataFrame | None = None
    nodes: pd.DataFrame | None = None
    node_series: pd.DataFrame | None = None
    elastic: dict | None = None
    devices: pd.DataFrame | None = None
    gpu_timeline: pd.DataFrame | None = None
    gpu_summary: dict | None = None


def _timeout_at(env: simpy.Environment, when: float) -> simpy.Event:
    """A timeout that fires at exactly the absolute time *when* (>= now), NORMAL priority.

    ``env.timeout(when - now)`` would fire at ``now + (when - now)``, which can differ
    from *when* in the last bit; lifecycle times (crossings, phase + k * period) are
    absolute, so this pushes the event at *when* itself, as ``Environment.schedule``
    does with ``now + delay``."""
    event = env.event()
    event._ok = True
    event._value = None
    heappush(env._queue, (when, simpy.core.NORMAL, next(env._eid), event))
    return event


def _schedule_at_now(event: simpy.Event, priority: int) -> None:
    """Trigger *event* at the current time with *priority* (like ``succeed()``,
    which always uses NORMAL). The same three lines as simpy's own ``Timeout``."""
    event._ok = True
    event._value = None
    event.env.schedule(event, priority)


# ---- elastic clusters (MODEL.md 11): pools, autoscaler parameters, spot streams ------------

RELEASED, BOOTING, UP = "released", "booting", "up"   # node (slot) states, MODEL.md 11.2

# Second word of the spot streams' spawn key (MODEL.md 11.5): (replication, tag, crc32(pool), slot).
SPOT_STREAM_TAG = 0xDEC05B07
SECONDS_PER_DAY = 86400.0

# MODEL.md 11.4 defaults, written here again from the text (not imported from fastpipesim,
# so that the oracle stays independent of the package it checks).
AUTOSCALER_DEFAULTS = {
    "static": {},
    "reactive": {"interval": 10.0, "idle_timeout": 600.0, "expander": "least_waste"},
    "target_utilization": {"interval": 15.0, "target": 0.7, "tolerance": 0.1,
                           "stabilization": 300.0, "resource": "auto"},
    "schedule": {"interval": 10.0, "table": None},
    "custom": {"interval": 10.0, "func": None},
}
EXPANDERS = ("least_waste", "cheapest", "first")
HOURS_PER_WEEK = 168


def autoscaler_parameters(spec) -> dict:
    """An autoscaler as a dict ``{"kind": ..., parameters...}`` with MODEL.md 11.4's defaults.

    ``spec``: None (static), a name ('reactive', ...), a dict with a ``kind`` key, or an
    object with a ``kind`` attribute and its parameters as attributes (as
    ``fastpipesim.autoscalers`` builds them)."""
    if spec is None:
        spec = "static"
    if isinstance(spec, str):
        kind, given = spec, {}
    elif isinstance(spec, dict):
        kind, given = spec.get("kind"), {k: v for k, v in spec.items() if k != "kind"}
    else:
        kind = getattr(spec, "kind", None)
        given = {k: getattr(spec, k) for k in AUTOSCALER_DEFAULTS.get(kind, {}) if hasattr(spec, k)}
    if kind not in AUTOSCALER_DEFAULTS:
        raise ValueError(f"unknown autoscaler {kind!r}; choose one of {tuple(AUTOSCALER_DEFAULTS)}")
    unknown = set(given) - set(AUTOSCALER_DEFAULTS[kind])
    if unknown:
        raise ValueError(f"autoscaler {kind!r} has no parameter(s) {sorted(unknown)}")
    params = {"kind": kind, **AUTOSCALER_DEFAULTS[kind], **given}
    if kind != "static" and not params["interval"] > 0:
        raise ValueError("an autoscaler's interval must be > 0")
    if kind == "reactive" and params["expander"] not in EXPANDERS:
        raise ValueError(f"unknown expander {params['expander']!r}; choose one of {EXPANDERS}")
    if kind == "schedule" and params["table"] is None:
        raise ValueError("the schedule autoscaler needs a table (pool, day, hour, count)")
    if kind == "custom" and not callable(params["func"]):
        raise ValueError("the custom autoscaler needs a function desired(pool, up, booting, ready, utilization, now)")
    return params


def _cell(row, col, default):
    value = row.get(col, default)
    return default if value is None or (not isinstance(value, str) and pd.isna(value)) else value


@dataclass
class Pool:
    """One row of the cluster table with MODEL.md 11.1's defaults; ``first`` is the
    global index of its slot 0."""

    name: str
    count: int
    min_count: int
    max_count: int
    capacity: tuple
    speed: float
    price_per_hour: float
    boot_time: float
    billing_minimum: float
    spot: bool
    interruptions_per_day: float
    first: int = 0

    @classmethod
    def from_row(cls, row) -> "Pool":
        count = int(row["count"])
        spot = _cell(row, "spot", False)
        if isinstance(spot, str):
            spot = spot.strip().lower() in ("true", "1", "yes")
        return cls(name=str(row["pool"]), count=count,
                   min_count=int(_cell(row, "min_count", count)),
                   max_count=int(_cell(row, "max_count", count)),
                   capacity=tuple(float(row[d]) for d in DIMENSIONS),
                   speed=float(_cell(row, "speed", DEFAULT_SPEED)),
                   price_per_hour=float(_cell(row, "price_per_hour", 0.0)),
                   boot_time=float(_cell(row, "boot_time", 0.0)),
                   billing_minimum=float(_cell(row, "billing_minimum", 0.0)),
                   spot=bool(spot),
                   interruptions_per_day=float(_cell(row, "interruptions_per_day", 0.0)))

    @property
    def static(self) -> bool:
        return self.min_count == self.count == self.max_count

    def slots(self) -> range:
        return range(self.first, self.first + self.max_count)


def interruption_times(seed: int, replication: int, pool: str, slot: int, per_day: float,
                       horizon: float) -> list:
    """MODEL.md 11.5: the interruption times of one slot of a spot pool, up to the horizon.

    T_i = T_(i-1) + (-86400 * ln(1 - U_i)) / L, left to right, with the C library's log
    (``math.log``) on scalars: NumPy's array log may differ in the last bit."""
    if per_day == 0.0:
        return []
    key = (int(replication), SPOT_STREAM_TAG, zlib.crc32(pool.encode("utf-8")), int(slot))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))
    times, t = [], 0.0
    while True:
        t = t + (-SECONDS_PER_DAY * math.log(1.0 - rng.random())) / per_day
        if t > horizon:
            return times
        times.append(t)


def checkpointed_work(progress: float, remaining: float, every: float) -> float:
    """MODEL.md 11.5: m * every for the largest whole m >= 0 with m * every <= progress and
    m * every < remaining (0 without checkpoints). floor() gives m up to one rounding
    step; the two loops settle it on the float products themselves."""
    if not every > 0.0:
        return 0.0
    m = math.floor(progress / every)
    while m > 0 and (m * every > progress or m * every >= remaining):
        m -= 1
    while (m + 1) * every <= progress and (m + 1) * every < remaining:
        m += 1
    return m * every


def _fits(free, req) -> bool:
    return free[0] >= req[0] - FIT_TOL and free[1] >= req[1] - FIT_TOL and free[2] >= req[2] - FIT_TOL


def _schedule_table(table, pools) -> dict:
    """MODEL.md 11.4 schedule: pool row -> sorted [(day * 24 + hour, count)]."""
    frame = pd.DataFrame(table)
    names = {q.name: i for i, q in enumerate(pools)}
    rows = {}
    for r in frame.itertuples(index=False):
        if str(r.pool) not in names:
            raise ValueError(f"schedule: unknown pool {r.pool!r}")
        day, hour, count = int(r.day), int(r.hour), int(r.count)
        if not (-1 <= day <= 6 and 0 <= hour <= 23 and count >= 0):
            raise ValueError(f"schedule: bad row {tuple(r)}")
        for d in (range(7) if day == -1 else [day]):
            rows.setdefault(names[str(r.pool)], {})
            key = d * 24 + hour
            if key in rows[names[str(r.pool)]]:
                raise ValueError(f"schedule: pool {r.pool!r} has two rows for day {d} hour {hour}")
            rows[names[str(r.pool)]][key] = count
    return {q: sorted(by_key.items()) for q, by_key in rows.items()}


# ---- GPUs as devices (MODEL.md 12): constants, specs, shapes, fragmentation ---------------

# Written again from MODEL.md 12, not imported from fastpipesim (the oracle stays independent).
STUDY_PLACEMENTS = ("random", "dot_product", "gpu_clustering", "gpu_packing", "gpu_best_fit", "fgd")
DEVICE_PLACEMENTS = PLACEMENTS + STUDY_PLACEMENTS
TIES = ("index", "random")
PLACEMENT_STREAM_TAG = 0x9F1ACE   # MODEL.md 12.6: spawn_key=(replication, tag)
STUDY_MAX_CPU = 128.0             # MODEL.md 12.5: S_cpu = max(128, largest node cpu)
STUDY_MAX_GPU = 8.0               # S_gpu = max(8, most devices of a node)
TARGET_COVERAGE_PERCENT = 95      # MODEL.md 12.7: shapes kept until they cover 95% of the parts
SNAP_TOL = 1e-9                   # MODEL.md 12.1: a share within this of 0 or 1 is set to it
NO_MODEL = ""                     # gpu_model of a node without one (never named by a spec)
# the outputs of MODEL.md 12.9
DEVICE_RECORD_COLUMNS = ["replication", "pipeline_id", "task", "part", "node", "devices"]
GPU_TIMELINE_COLUMNS = ["replication", "time", "unallocated_gpus", "fragmented_gpus", "frag_ratio"]


def spec_names(value):
    """MODEL.md 12.2: the GPU models a spec allows (a tuple of names), or None for any node.

    Names are split on '|', stripped of surrounding blanks, and empty names dropped; they
    are then compared by exact text."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    names = tuple(s.strip() for s in str(value).split("|") if s.strip() != "")
    return names or None


def spec_text(names) -> str:
    """A spec as text for grouping shapes and for the spec-text order of MODEL.md 12.7."""
    return "" if names is None else "|".join(names)


def gpu_kind(g: float) -> tuple:
    """(per-device share, devices) of a GPU amount: (0, 0), a fraction (g, 1), whole k (1, k)."""
    if g <= 0.0:
        return 0.0, 0
    if g < 1.0:
        return g, 1
    return 1.0, int(g)


def snap(f: float) -> float:
    """MODEL.md 12.1: a share within 1e-9 of 1 is 1, within 1e-9 of 0 is 0."""
    if abs(f - 1.0) <= SNAP_TOL:
        return 1.0
    if abs(f) <= SNAP_TOL:
        return 0.0
    return f


def free_gpu(shares) -> float:
    """g_free (MODEL.md 12.1): the shares summed in ascending order of value."""
    total = 0.0
    for f in sorted(shares):
        total += f
    return total


def gpu_class(g: float):
    """The gpu_clustering class of a GPU request (MODEL.md 12.5): 'share' or k (whole GPUs)."""
    return "share" if g < 1.0 else int(g)


def study_int(x: float) -> int:
    """[x] of MODEL.md 12.5: the study's integer part with the tolerance, floor(x + 1e-9)."""
    return math.floor(x + 1e-9)


@dataclass
class Shape:
    """A target shape (MODEL.md 12.7): cpu, per-device share, devices, spec names, probability."""

    cpu: float
    share: float
    devices: int
    spec: tuple | None
    p: float


def target_workload(tasks: pd.DataFrame, coverage_percent: float = TARGET_COVERAGE_PERCENT) -> pd.DataFrame:
    """MODEL.md 12.7: the target workload of a tasks table, every part counted once.

    Returns cpu, gpu, gpu_spec (text, '' for none), count, p in target order: shapes
    grouped by exact (cpu, gpu, spec), ordered by count, cpu, per-device share, devices,
    spec text (all descending), kept until their cumulative count reaches
    95 * total / 100 (the first shape that reaches it is kept)."""
    counts = {}
    specs = tasks["gpu_spec"] if "gpu_spec" in tasks.columns else [None] * len(tasks)
    reps = tasks["replicas"] if "replicas" in tasks.columns else [1] * len(tasks)
    for c, g, s, r in zip(tasks["cpu"], tasks["gpu"], specs, reps):
        key = (float(c), float(g), spec_text(spec_names(s)))
        counts[key] = counts.get(key, 0) + (1 if pd.isna(r) else int(r))
    total = sum(counts.values())
    order = sorted(counts, key=lambda k: (counts[k], k[0], *gpu_kind(k[1]), k[2]), reverse=True)
    expected = coverage_percent * total / 100
    kept, cum = [], 0
    for key in order:
        kept.append(key)
        cum += counts[key]
        if cum >= expected:
            break
    return pd.DataFrame({"cpu": [k[0] for k in kept], "gpu": [k[1] for k in kept],
                         "gpu_spec": [k[2] for k in kept],
                         "count": np.array([counts[k] for k in kept], dtype=np.int64),
                         "p": [(counts[k] / total) / (cum / total) for k in kept]})


def target_shapes(target: pd.DataFrame) -> list:
    """The Shapes of a target table (cpu, gpu, p, optional gpu_spec), in its row order."""
    specs = target["gpu_spec"] if "gpu_spec" in target.columns else [None] * len(target)
    return [Shape(float(c), *gpu_kind(float(g)), spec_names(s), float(p))
            for c, g, s, p in zip(target["cpu"], target["gpu"], specs, target["p"])]


def node_fragmentation(free_cpu: float, shares, model: str, shapes) -> float:
    """F_n of MODEL.md 12.7: sum over target shapes, in order, of p_t * phi_t(n).

    With the shares sorted descending v_1 >= .. >= v_G, R_j = v_G + .. + v_(j+1)
    (smallest first). phi = R_0 if t asks no GPU, its spec excludes the node's model or
    the node's free cpu < t's cpu - 1e-9; else, with j the shares >= t's share - 1e-9,
    R_j if j >= t's devices, else R_0."""
    v = sorted(shares, reverse=True)
    r0 = free_gpu(shares)
    total = 0.0
    for t in shapes:
        phi = r0
        if not (t.devices == 0 or (t.spec is not None and model not in t.spec)
                or free_cpu < t.cpu - FIT_TOL):
            j = sum(1 for x in v if x >= t.share - FIT_TOL)
            if j >= t.devices:
                phi = 0.0
                for x in reversed(v[j:]):
                    phi += x
        total += t.p * phi
    return total


def resolve_devices(tasks: pd.DataFrame, placement: str, ties: str, devices) -> bool:
    """Whether a run takes the device path of MODEL.md 12.

    ``devices=None``: when the workload needs it (a GPU request that is not a whole number, a gpu_spec,
    replicas > 1), or the placement is one of the study's, or ties are random (the
    pooled path of sections 4 and 6 has index ties only). True: always. False: the pooled
    path, an error if the run needs devices."""
    gpu = [float(g) for g in tasks["gpu"]]
    needs = [name for name, hit in (
        ("a fractional gpu request", any(g != math.floor(g) for g in gpu)),   # 1.5: the input error of 12.2
        ("a gpu_spec", "gpu_spec" in tasks.columns
         and any(spec_names(s) is not None for s in tasks["gpu_spec"])),
        ("replicas > 1", "replicas" in tasks.columns and any(not pd.isna(r) and int(r) > 1
                                                               for r in tasks["replicas"])),
        (f"placement {placement!r}", placement in STUDY_PLACEMENTS),
        ("ties='random'", ties == "random")) if hit]
    if devices is None:
        return bool(needs)
    if not devices and needs:
        raise ValueError(f"devices=False, but the run needs GPUs as devices (MODEL.md 12): {needs[0]}")
    return bool(devices)


class ClusterModel:
    """The cluster, its pending work, and the processes that drive them.

    Tasks are numbered by their row in the tasks table; every per-task list below is
    indexed that way. Pipelines are numbered by their row in the pipelines table.
    """

    def __init__(self, env: simpy.Environment, pipelines, tasks, cluster, policy, placement, backfill,
                 elastic: dict | None = None, gpu: dict | None = None):
        self.env = env
        self.policy = policy
        self.placement = placement
        self.backfill = backfill
        self._load_pipelines(pipelines)
        self._load_tasks(tasks)
        self._load_cluster(cluster)

        n = len(self.duration)
        self.ready_time = [math.nan] * n
        self.start_time = [math.nan] * n
        self.end_time = [math.nan] * n
        self.node_of = [-1] * n
        self.waiting_for = [len(p) for p in self.predecessors]  # predecessors not yet completed
        self.ready = set()       # ready tasks that have not started
        self.started = [False] * n      # running or completed (an interrupted task is not)
        self.cancelled = [False] * n
        # MODEL.md 11.5: work left (reference seconds), attempt number, restarts
        self.remaining = list(self.duration)
        self.attempt = [0] * n
        self.restarts = [0] * n
        self.ever_started = [False] * n

        n_p = len(self.pipeline_id)
        self.arrival_time = [math.nan] * n_p   # when the pipeline arrived (was submitted)
        self.finish_time = [math.nan] * n_p    # when it completed or, if rejected, finished
        self.tasks_left = [len(ts) for ts in self.pipeline_tasks]  # tasks not completed

        # MODEL.md 12: GPUs as devices (None: the pooled GPUs of sections 4 and 6)
        self.devices = gpu is not None
        if self.devices:
            kind = ((elastic or {}).get("autoscaler") or {}).get("kind")
            if self.elastic and kind == "reactive":
                raise NotImplementedError("the reactive autoscaler (MODEL.md 11.4) with GPUs as devices "
                                          "(MODEL.md 12): its walk and scale-up options are defined on "
                                          "pooled capacity only; the oracle does not model them on devices")
            self._load_devices(tasks, cluster, gpu)

        # Events of the current time, recorded by the processes, applied by the scheduler.
        self.arrived = []        # pipeline rows
        self.ended = []          # task rows
        self.n_events = 0
        self.last_event_time = 0.0
        self.instant_has_event = False   # False if the instant holds only skipped interruption times

        self.wakeup = env.event()
        env.process(self.scheduler())
        for p in range(len(self.pipeline_id)):
            env.process(self.pipeline_arrival(p))
        if self.elastic:
            self._start_elastic(elastic or {})

    # ---- input -------------------------------------------------------------------------

    def _load_pipelines(self, pipelines: pd.DataFrame) -> None:
        for col in ("pipeline_id", "submit_time"):
            if col not in pipelines.columns:
                raise ValueError(f"pipelines: missing column {col!r}")
        pid = [int(x) for x in pipelines["pipeline_id"]]
        if len(set(pid)) != len(pid):
            raise ValueError("pipelines: duplicate pipeline_id")
        self.pipeline_id = pid
        self.submit_time = [float(x) for x in pipelines["submit_time"]]
        for col, default in _PIPELINE_DEFAULTS.items():
            values = pipelines[col] if col in pipelines.columns else [default] * len(pid)
            setattr(self, col, [default if pd.isna(x) else int(x) for x in values])
        self.row_of_pipeline = {p: i for i, p in enumerate(pid)}

    def _load_tasks(self, tasks: pd.DataFrame) -> None:
        for col in ("pipeline_id", "task", "type", "cpu", "gpu", "mem_gb", "duration"):
            if col not in tasks.columns:
                raise ValueError(f"tasks: missing column {col!r}")
        self.task_pipeline_id = [int(x) for x in tasks["pipeline_id"]]
        self.task_name = [str(x) for x in tasks["task"]]
        self.task_type = [str(x) for x in tasks["type"]]
        self.request = list(zip(*(map(float, tasks[d]) for d in DIMENSIONS)))
        self.duration = [float(x) for x in tasks["duration"]]
        after = tasks["after"] if "after" in tasks.columns else [""] * len(self.duration)
        # MODEL.md 11.5: NaN or 0 means no checkpoint
        every = tasks["checkpoint_every"] if "checkpoint_every" in tasks.columns else [0.0] * len(self.duration)
        self.checkpoint_every = [0.0 if pd.isna(x) else float(x) for x in every]

        n_pipelines = len(self.pipeline_id)
        self.pipeline_tasks = [[] for _ in range(n_pipelines)]   # task rows, in task-index order
        self.task_pipeline = []                                   # pipeline row of each task
        self.task_index = []
        by_name = [{} for _ in range(n_pipelines)]
        for t, pid in enumerate(self.task_pipeline_id):
            if pid not in self.row_of_pipeline:
                raise ValueError(f"tasks: row {t} has unknown pipeline_id {pid}")
            p = self.row_of_pipeline[pid]
            if self.task_name[t] in by_name[p]:
                raise ValueError(f"tasks: duplicate task {self.task_name[t]!r} in pipeline {pid}")
            by_name[p][self.task_name[t]] = t
            self.task_pipeline.append(p)
            self.task_index.append(len(self.pipeline_tasks[p]))
            self.pipeline_tasks[p].append(t)

        self.predecessors = [[] for _ in self.duration]
        self.successors = [[] for _ in self.duration]
        for t, names in enumerate(after):
            if names is None or (isinstance(names, float) and math.isnan(names)):
                continue
            for name in dict.fromkeys(s.strip() for s in str(names).split(";") if s.strip()):
                pred = by_name[self.task_pipeline[t]].get(name)
                if pred is None:
                    raise ValueError(f"tasks: row {t} is after unknown task {name!r}")
                self.predecessors[t].append(pred)
                self.successors[pred].append(t)
        self.roots = [[t for t in ts if not self.predecessors[t]] for ts in self.pipeline_tasks]

    def _load_cluster(self, cluster: pd.DataFrame) -> None:
        """Pools, then one node per slot (MODEL.md 11.2): ``max_count`` slots per pool in an
        elastic run, ``count`` nodes otherwise (then max_count = count)."""
        self.pools = [Pool.from_row(row) for _, row in cluster.iterrows()]
        self.elastic = any(not q.static or q.spot for q in self.pools)
        self.capacity, self.node_speed, self.node_pool, self.node_pool_index = [], [], [], []
        self.node_state = []
        for qi, q in enumerate(self.pools):
            q.first = len(self.capacity)
            for j in range(q.max_count if self.elastic else q.count):
                self.capacity.append(q.capacity)
                self.node_speed.append(q.speed)
                self.node_pool.append(q.name)
                self.node_pool_index.append(qi)
                self.node_state.append(UP if j < q.count else RELEASED)
        self.free = [list(cap) for cap in self.capacity]
        self.running_on = [set() for _ in self.capacity]   # tasks running on each node
        self.idle_since = [0.0] * len(self.capacity)

    # ---- processes ---------------------------------------------------------------------

    def pipeline_arrival(self, p: int):
        """A pipeline arrives at its submit time."""
        yield self.env.timeout(self.submit_time[p])
        self.arrived.append(p)
        self.request_pass()

    def run_task(self, t: int, speed: float, attempt: int):
        """A task holds its node(s) for remaining work / speed, then completes (its remaining
        work is its duration unless an interruption saved a checkpoint, MODEL.md 11.5; a
        gang's speed is its slowest node's, MODEL.md 12.8)."""
        yield self.env.timeout(self.remaining[t] / speed)
        if self.attempt[t] != attempt:
            return   # this attempt was interrupted: it never completes, and wakes nobody
        self.ended.append(t)
        self.request_pass()

    def request_pass(self, event: bool = True) -> None:
        """Ask for one scheduling pass at the current time, after all its events.

        ``event=False``: an interruption time, which is an event only if its slot is up
        when it is applied (MODEL.md 11.3); ``apply_interruptions`` decides."""
        self.instant_has_event = self.instant_has_event or event
        if not self.wakeup.triggered:
            _schedule_at_now(self.wakeup, END_OF_INSTANT)

    def scheduler(self):
        """Once per event time: apply that time's events in model order, then one pass."""
        while True:
            yield self.wakeup
            self.wakeup = self.env.event()
            self.apply_events()
            if self.instant_has_event:
                self.scheduling_pass()
                if self.devices:
                    self.record_gpu_state(self.env.now)
            self.instant_has_event = False

    # ---- state changes -------------------------------------------------------------------

    def apply_events(self) -> None:
        """MODEL.md 3: completions by (pipeline_id, task index), then spot interruptions
        and boot completions by node index (elastic runs), then lifecycle triggers (only
        in LifecycleModel), then the autoscaler tick (elastic runs), then arrivals by
        pipeline_id."""
        now = self.env.now
        self.ended.sort(key=lambda t: (self.task_pipeline_id[t], self.task_index[t]))
        for t in self.ended:
            self.complete(t, now)
        if self.elastic:
            self.apply_interruptions(now)
            self.apply_boot_completions(now)
        self.apply_triggers(now)
        if self.elastic and self.tick_due:
            self.tick_due = False
            self.autoscaler_tick(now)
        self.arrived.sort(key=lambda p: self.pipeline_id[p])
        for p in self.arrived:
            self.arrive(p, now)
        self.n_events += len(self.ended) + len(self.arrived)
        if self.instant_has_event:
            self.last_event_time = now
        self.ended.clear()
        self.arrived.clear()
        if self.elastic:
            self.record_node_counts(now)

    def apply_triggers(self, now: float) -> None:
        """Lifecycle triggers of this time (none without a lifecycle)."""

    def arrive(self, p: int, now: float) -> None:
        self.arrival_time[p] = now
        if self.tasks_left[p] == 0:
            self.finish_time[p] = now
        for t in self.roots[p]:
            self.make_ready(t, now)

    def complete(self, t: int, now: float) -> None:
        if self.devices:
            for node, devs in self.parts[t]:   # MODEL.md 12.8: released in part order
                self.release_part(t, node, devs)
                self.running_on[node].discard(t)
        else:
            node = self.node_of[t]
            free, req = self.free[node], self.request[t]
            free[0] += req[0]
            free[1] += req[1]
            free[2] += req[2]
            running = self.running_on[node]
            running.discard(t)
            if not running:
                self.idle_since[node] = now   # MODEL.md 11.2 (read by the reactive autoscaler only)
        self.end_time[t] = now
        p = self.task_pipeline[t]
        self.tasks_left[p] -= 1
        if self.tasks_left[p] == 0:
            self.finish_time[p] = now
        for s in self.successors[t]:
            self.waiting_for[s] -= 1
            if self.waiting_for[s] == 0 and not self.cancelled[s]:
                self.make_ready(s, now)

    def make_ready(self, t: int, now: float) -> None:
        self.ready_time[t] = now
        self.ready.add(t)

    def start(self, t: int, node: int) -> None:
        free, req = self.free[node], self.request[t]
        free[0] -= req[0]
        free[1] -= req[1]
        free[2] -= req[2]
        self.start_time[t] = self.env.now
        self.node_of[t] = node
        self.started[t] = True
        self.ever_started[t] = True
        self.ready.discard(t)
        self.running_on[node].add(t)
        self.env.process(self.run_task(t, self.node_speed[node], self.attempt[t]))

    # ---- the scheduling pass (MODEL.md 4-6) ----------------------------------------------

    def policy_keys(self) -> dict:
        """MODEL.md 5: each ready task's key, computed once at the start of the pass."""
        if self.policy == "fifo":
            return {t: self.ready_time[t] for t in self.ready}
        if self.policy == "priority":
            return {t: -self.priority[self.task_pipeline[t]] for t in self.ready}
        if self.policy == "sjf":
            return {t: self.remaining[t] for t in self.ready}   # = duration without interruptions
        if self.policy == "staleness":
            return {t: self.staleness_key(t, self.env.now) for t in self.ready}
        # srpt: a plain left-to-right sum, in task-index order, of the durations of the
        # pipeline's tasks not started at the start of the pass.
        remaining = {}
        for t in self.ready:
            p = self.task_pipeline[t]
            if p not in remaining:
                total = 0.0
                for u in self.pipeline_tasks[p]:
                    if not self.started[u]:
                        total += self.remaining[u]
                remaining[p] = total
        return {t: remaining[self.task_pipeline[t]] for t in self.ready}

    def staleness_key(self, t: int, now: float) -> float:
        """MODEL.md 7: without lifecycle state every key is +infinity."""
        return math.inf

    def scheduling_pass(self) -> None:
        if not self.ready:
            return
        key = self.policy_keys()
        order = sorted(self.ready, key=lambda t: (key[t], self.ready_time[t],
                                                  self.task_pipeline_id[t], self.task_index[t]))
        for t in order:
            if self.devices:
                parts = self.place_parts(t)
                if parts is not None:
                    self.start_parts(t, parts)
                    continue
            else:
                node = self.place(t)
                if node >= 0:
                    self.start(t, node)
                    continue
            if not self.backfill:
                break  # strict order: nothing may overtake a blocked task

    def place(self, t: int) -> int:
        """MODEL.md 6: the chosen node among the up nodes that fit, or -1 if none fits."""
        return self.choose_node(self.request[t], self.free, self.is_up)

    def is_up(self, node: int) -> bool:
        return self.node_state[node] == UP

    def choose_node(self, req, free_of, candidate) -> int:
        """MODEL.md 6 over the nodes for which ``candidate(node)`` holds, with the free
        capacities ``free_of[node]`` (the real ones, or the reactive autoscaler's copy)."""
        r0, r1, r2 = req
        chosen, chosen_score = -1, 0.0
        for node in range(len(self.capacity)):
            if not candidate(node):
                continue
            free = free_of[node]
            if free[0] >= r0 - FIT_TOL and free[1] >= r1 - FIT_TOL and free[2] >= r2 - FIT_TOL:
                if self.placement == "first_fit":
                    return node
                score = self.leftover_score(node, (r0, r1, r2), free)
                if (chosen < 0
                        or (self.placement == "best_fit" and score < chosen_score)
                        or (self.placement == "worst_fit" and score > chosen_score)):
                    chosen, chosen_score = node, score
        return chosen

    def leftover_score(self, node: int, req, free) -> float:
        """Sum over dimensions with capacity > 0 of (free - request) / capacity, in
        the order cpu, gpu, mem_gb."""
        cap = self.capacity[node]
        score = 0.0
        for d in range(3):
            if cap[d] > 0:
                score += (free[d] - req[d]) / cap[d]
        return score

    # ---- GPUs as devices (MODEL.md 12) ---------------------------------------------------

    def _load_devices(self, tasks: pd.DataFrame, cluster: pd.DataFrame, gpu: dict) -> None:
        """Devices and GPU models of the nodes (12.1), specs and replicas of the tasks (12.2),
        their placement slots (12.6) and the target workload (12.7)."""
        self.ties = gpu["ties"]
        self.seed, self.replication = int(gpu["seed"]), int(gpu["replication"])
        self.gpu_warmup = float(gpu["warmup"])
        n = len(self.duration)
        for t, (_, g, _) in enumerate(self.request):
            if g > 1.0 and g != math.floor(g):
                raise ValueError(f"tasks: row {t} asks gpu {g}: above 1, a GPU request must be a whole "
                                 "number of devices (MODEL.md 12.2)")
        specs = tasks["gpu_spec"] if "gpu_spec" in tasks.columns else [None] * n
        self.spec = [spec_names(x) for x in specs]
        reps = tasks["replicas"] if "replicas" in tasks.columns else [1] * n
        self.replicas = []
        for t, r in enumerate(reps):
            r = 1.0 if pd.isna(r) else float(r)
            if r < 1 or r != math.floor(r):
                raise ValueError(f"tasks: row {t} has replicas {r}: a whole number >= 1 (MODEL.md 12.2)")
            self.replicas.append(int(r))
        pool_model = []
        for _, row in cluster.iterrows():
            model = _cell(row, "gpu_model", NO_MODEL)
            pool_model.append(str(model).strip() if float(row["gpu"]) > 0 else NO_MODEL)
        self.n_dev, self.gpu_model = [], []
        for node, cap in enumerate(self.capacity):
            if cap[1] != math.floor(cap[1]):
                raise ValueError(f"cluster: pool {self.node_pool[node]!r} has gpu {cap[1]}: a node's gpu is "
                                 "its number of devices, a whole number (MODEL.md 12.1)")
            self.n_dev.append(int(cap[1]))
            self.gpu_model.append(pool_model[self.node_pool_index[node]])
        self.dev = [[1.0] * g for g in self.n_dev]              # free share of each device
        self.gpu_classes = [{} for _ in self.capacity]          # class -> GPU parts running (gpu_clustering)
        self.s_cpu = max(STUDY_MAX_CPU, max(cap[0] for cap in self.capacity))
        self.s_gpu = max(STUDY_MAX_GPU, float(max(self.n_dev)))
        for t in range(n):
            room = sum(self.fits_empty(t, node) for node in range(len(self.capacity)))
            if room < self.replicas[t]:
                raise ValueError(f"tasks: row {t} (pipeline {self.task_pipeline_id[t]}, task "
                                 f"{self.task_name[t]!r}) fits {room} empty node(s) of the cluster, fewer "
                                 f"than its replicas {self.replicas[t]} (MODEL.md 12.2)")
        # slots (12.6): the tasks in batch order, (pipeline_id, task index), replicas slots each
        self.first_slot = [0] * n
        self.n_slots = 0
        for t in sorted(range(n), key=lambda u: (self.task_pipeline_id[u], self.task_index[u])):
            self.first_slot[t] = self.n_slots
            self.n_slots += self.replicas[t]
        self.draws = np.empty((0, 2))
        target = gpu["target"]
        self.target = target_workload(tasks) if target is None else pd.DataFrame(target)
        self.shapes = target_shapes(self.target)
        self.parts = [[] for _ in range(n)]   # (node, devices) of each part of the last start
        self.speed_of = [math.nan] * n        # speed of the last start (a gang's slowest node)
        self.gpu_rows = []                    # the GPU timeline: (time, unallocated, fragmented, ratio)
        self.gpu_initial = self.gpu_state()   # before the first pass (the empty cluster)

    def fits_empty(self, t: int, node: int) -> bool:
        """A part of task t fits the node when it is empty (12.2's input rule)."""
        c, g, m = self.request[t]
        cap = self.capacity[node]
        _, k = gpu_kind(g)
        return (self.spec_allows(t, node) and cap[0] >= c - FIT_TOL and cap[2] >= m - FIT_TOL
                and self.n_dev[node] >= k)

    def spec_allows(self, t: int, node: int) -> bool:
        model = self.gpu_model[node]
        return self.spec[t] is None or (model != NO_MODEL and model in self.spec[t])

    def slot_draws(self, slot: int) -> tuple:
        """(u1, u2) of a part slot: row ``slot`` of ``rng.random((n_slots, 2))`` (12.6). The rows
        of a longer draw start with those of a shorter one, so the copies that the lifecycle
        rules submit (slots after the workload's) extend the same table."""
        if slot >= len(self.draws):
            rows = max(slot + 1, self.n_slots, 2 * len(self.draws))
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                self.seed, spawn_key=(self.replication, PLACEMENT_STREAM_TAG))))
            self.draws = rng.random((rows, 2))
        return float(self.draws[slot, 0]), float(self.draws[slot, 1])

    def part_fits(self, t: int, node: int) -> bool:
        """The fit test of MODEL.md 12.3 on the node's current state."""
        c, g, m = self.request[t]
        free = self.free[node]
        if not (self.spec_allows(t, node) and free[0] >= c - FIT_TOL and free[2] >= m - FIT_TOL):
            return False
        if g <= 0.0:
            return True
        if g < 1.0:
            return any(f >= g - FIT_TOL for f in self.dev[node])
        return sum(f == 1.0 for f in self.dev[node]) >= int(g)

    def candidates(self, t: int, node: int) -> list:
        """Devices a fraction could take on the node (f >= g - 1e-9), in index order."""
        g = self.request[t][1]
        return [d for d, f in enumerate(self.dev[node]) if f >= g - FIT_TOL]

    def tightest(self, t: int, node: int) -> int:
        dev = self.dev[node]
        return min(self.candidates(t, node), key=lambda d: (dev[d], d))

    def fragmentation(self, node: int, free_cpu: float | None = None, shares=None) -> float:
        return node_fragmentation(self.free[node][0] if free_cpu is None else free_cpu,
                                  self.dev[node] if shares is None else shares, self.gpu_model[node],
                                  self.shapes)

    def fgd_score(self, t: int, node: int, devs) -> int:
        """[100 / (1 + exp(-(F_before - F_after)))] with the part on ``devs`` of the node (12.5)."""
        c, g, _ = self.request[t]
        share, _ = gpu_kind(g)
        after = list(self.dev[node])
        for d in devs:
            after[d] = snap(after[d] - share)
        before = self.fragmentation(node)
        later = self.fragmentation(node, self.free[node][0] - c, after)
        return study_int((1.0 / (1.0 + math.exp(-(before - later)))) * 100.0)

    def fgd_choice(self, t: int, node: int) -> tuple:
        """(score, devices) of fgd on the node: a fraction tries every candidate and keeps the
        highest score, ties to the lowest device index."""
        g = self.request[t][1]
        if 0.0 < g < 1.0:
            best = None
            for d in self.candidates(t, node):
                score = self.fgd_score(t, node, (d,))
                if best is None or score > best[0]:
                    best = (score, (d,))
            return best
        devs = self.whole_devices(t, node)
        return self.fgd_score(t, node, devs), devs

    def whole_devices(self, t: int, node: int) -> tuple:
        """A whole k: the k wholly free devices of lowest index (12.4); () without GPU."""
        g = self.request[t][1]
        if g < 1.0:
            return ()
        return tuple(d for d, f in enumerate(self.dev[node]) if f == 1.0)[:int(g)]

    def part_score(self, t: int, node: int):
        """The node's score for a part of task t (MODEL.md 12.5; the highest wins)."""
        c, g, m = self.request[t]
        free = self.free[node]
        C, F = free[0], free[1]      # free[1] is g_free(node), kept up to date
        G, W = self.n_dev[node], sum(f == 1.0 for f in self.dev[node])
        _, k = gpu_kind(g)
        rule = self.placement
        if rule == "first_fit":
            return 0
        if rule == "best_fit":
            return -self.leftover_score(node, (c, g, m), free)
        if rule == "worst_fit":
            return self.leftover_score(node, (c, g, m), free)
        if rule == "dot_product":
            return study_int(100.0 * (1.0 - ((C / self.s_cpu) * (c / self.s_cpu)
                                             + (F / self.s_gpu) * (g / self.s_gpu)) / 2.0))
        if rule == "gpu_best_fit":
            return study_int((1.0 - (0.5 * (C - c) / self.s_cpu + 0.5 * (F - g) / self.s_gpu)) * 100.0)
        if rule == "gpu_packing":
            if k == 0:
                return 0
            if W == G:
                return max(33 - W, W)
            if g >= 1.0:
                return max(50 - k, 33)
            f = self.dev[node][self.tightest(t, node)]
            return 49 if f == 1.0 else max(100 - study_int(100.0 * f) // 10, 50)
        if rule == "gpu_clustering":
            if k == 0:
                return 0
            base = study_int(25.0 * (self.s_gpu - F) / self.s_gpu)
            running = self.gpu_classes[node]
            total, same = sum(running.values()), running.get(gpu_class(g), 0)
            if total == 0:
                return base + 25
            if same == total:
                return base + 75
            return base + (50 if same > 0 else 0)
        if rule == "fgd":
            return self.fgd_choice(t, node)[0]
        raise ValueError(f"no score for placement {rule!r}")

    def devices_taken(self, t: int, node: int, u2: float) -> tuple:
        """MODEL.md 12.4: the devices a part of task t takes on the chosen node."""
        g = self.request[t][1]
        if not 0.0 < g < 1.0:
            return self.whole_devices(t, node)
        cands, dev, rule = self.candidates(t, node), self.dev[node], self.placement
        if rule == "first_fit":
            return (cands[0],)
        if rule == "worst_fit":
            return (min(cands, key=lambda d: (-dev[d], d)),)
        if rule == "random":
            return (cands[math.floor(u2 * len(cands))],)
        if rule == "fgd":
            return self.fgd_choice(t, node)[1]
        return (self.tightest(t, node),)

    def choose_part_node(self, t: int, slot: int, held) -> tuple | None:
        """(node, devices) for one part of task t with its slot's draws, among the up nodes
        where it fits that hold no earlier part of its gang; None if there is none."""
        fitting = [n for n in range(len(self.capacity))
                   if self.is_up(n) and n not in held and self.part_fits(t, n)]
        if not fitting:
            return None
        u1, u2 = self.slot_draws(slot)
        if self.placement == "random":
            node = fitting[math.floor(u1 * len(fitting))]
        else:
            scores = [self.part_score(t, n) for n in fitting]
            best = max(scores)
            tied = [n for n, s in zip(fitting, scores) if s == best]
            node = tied[0] if self.ties == "index" else tied[math.floor(u1 * len(tied))]
        return node, self.devices_taken(t, node, u2)

    def take_part(self, t: int, node: int, devs) -> None:
        c, g, m = self.request[t]
        share, k = gpu_kind(g)
        free, dev = self.free[node], self.dev[node]
        free[0] -= c
        free[2] -= m
        for d in devs:
            dev[d] = snap(dev[d] - share)
        free[1] = free_gpu(dev)
        if k:
            cls = gpu_class(g)
            self.gpu_classes[node][cls] = self.gpu_classes[node].get(cls, 0) + 1

    def release_part(self, t: int, node: int, devs) -> None:
        c, g, m = self.request[t]
        share, k = gpu_kind(g)
        free, dev = self.free[node], self.dev[node]
        free[0] += c
        free[2] += m
        for d in devs:
            dev[d] = snap(dev[d] + share)
        free[1] = free_gpu(dev)
        if k:
            cls = gpu_class(g)
            self.gpu_classes[node][cls] -= 1
            if self.gpu_classes[node][cls] == 0:
                del self.gpu_classes[node][cls]

    def place_parts(self, t: int) -> list | None:
        """MODEL.md 12.8: the parts of task t, part 0 first, each taking its request at once;
        if one finds no node the earlier parts' nodes get back their exact previous state
        and None is returned (the gang does not fit)."""
        saved, parts = [], []
        for j in range(self.replicas[t]):
            choice = self.choose_part_node(t, self.first_slot[t] + j, {node for node, _ in parts})
            if choice is None:
                for node, free, dev, classes in saved:
                    self.free[node], self.dev[node], self.gpu_classes[node] = free, dev, classes
                return None
            node, devs = choice
            saved.append((node, list(self.free[node]), list(self.dev[node]), dict(self.gpu_classes[node])))
            self.take_part(t, node, devs)
            parts.append((node, devs))
        return parts

    def start_parts(self, t: int, parts: list) -> None:
        """Every part starts now; the task ends at now + remaining / its slowest node's speed."""
        self.parts[t] = parts
        self.start_time[t] = self.env.now
        self.node_of[t] = parts[0][0]
        self.started[t] = True
        self.ever_started[t] = True
        self.ready.discard(t)
        for node, _ in parts:
            self.running_on[node].add(t)
        speed = min(self.node_speed[node] for node, _ in parts)
        self.speed_of[t] = speed
        self.env.process(self.run_task(t, speed, self.attempt[t]))

    def gpu_state(self) -> tuple:
        """(unallocated, fragmented, all GPUs) of the up nodes, summed in node index order (12.7)."""
        free = frag = 0.0
        up = 0
        for node in range(len(self.capacity)):
            if self.is_up(node):
                free += self.free[node][1]
                frag += self.fragmentation(node)
                up += self.n_dev[node]
        return free, frag, up

    def record_gpu_state(self, now: float) -> None:
        free, frag, up = self.gpu_state()
        self.gpu_rows.append((now, free, frag, frag / free if free > 0 else math.nan, up))

    def gpu_outputs(self, end: float) -> tuple:
        """MODEL.md 12.9: the device records, the GPU timeline and the summary's gpu_* values.

        The state after a pass holds until the next pass (between two passes nothing
        changes); before the first pass the cluster is empty. Time averages over
        [warmup, end], as % of the cluster's GPUs; the ratio is fragmented / unallocated."""
        rows = []
        for t in range(len(self.duration)):
            if self.ever_started[t]:
                for j, (node, devs) in enumerate(self.parts[t]):
                    rows.append((self.replication, self.task_pipeline_id[t], self.task_name[t], j, node,
                                 ",".join(str(d) for d in sorted(devs))))
        records = pd.DataFrame(rows, columns=DEVICE_RECORD_COLUMNS)
        timeline = pd.DataFrame([(self.replication, *r[:4]) for r in self.gpu_rows],
                                columns=GPU_TIMELINE_COLUMNS)
        lo_w = self.gpu_warmup
        free_int = frag_int = up_int = 0.0
        times = [0.0] + [r[0] for r in self.gpu_rows] + [end]
        values = [self.gpu_initial] + [(r[1], r[2], r[4]) for r in self.gpu_rows]
        for a, b, (free, frag, up) in zip(times[:-1], times[1:], values):
            lo, hi = max(a, lo_w), min(b, end)
            if hi > lo:
                free_int += free * (hi - lo)
                frag_int += frag * (hi - lo)
                up_int += up * (hi - lo)
        span, n_gpus = end - lo_w, float(sum(self.n_dev))
        summary = dict.fromkeys(("gpu_unallocated_pct", "gpu_fragmented_pct", "gpu_frag_ratio"), math.nan)
        if not self.elastic and span > 0 and n_gpus > 0:
            summary["gpu_unallocated_pct"] = 100.0 * (free_int / span) / n_gpus
            summary["gpu_fragmented_pct"] = 100.0 * (frag_int / span) / n_gpus
        elif self.elastic and up_int > 0:
            # an elastic cluster's GPUs are those of its up nodes, integrated over time (as the
            # elastic utilization of MODEL.md 11.6 divides by capacity x up_seconds): the choice
            # made here, where MODEL.md 12.9 says "the cluster's GPUs"
            summary["gpu_unallocated_pct"] = 100.0 * free_int / up_int
            summary["gpu_fragmented_pct"] = 100.0 * frag_int / up_int
        if span > 0 and free_int > 0:
            summary["gpu_frag_ratio"] = frag_int / free_int
        return records, timeline, summary

    # ---- elastic clusters (MODEL.md 11) ----------------------------------------------------

    def _start_elastic(self, params: dict) -> None:
        """Node instances of t = 0, the autoscaler's ticks and the spot slots' processes."""
        self.autoscaler = autoscaler_parameters(params.get("autoscaler"))
        self.warmup = float(params.get("warmup", 0.0))
        self.horizon = params.get("horizon")   # known whenever a node can be released
        self.instance_of = [-1] * len(self.capacity)   # current instance of each slot
        self.instances = []                            # the node timeline, in order of request
        self.interrupt_due = []                        # slots whose interruption time is now
        self.booted = []                               # slots whose boot completes now
        self.tick_due = False
        self.counts = dict.fromkeys(("scale_ups", "scale_downs", "replacements", "interruptions",
                                     "tasks_restarted"), 0)
        self.work_lost = 0.0
        self.billed_seconds = [0.0] * len(self.pools)
        self.up_seconds = [0.0] * len(self.pools)
        self.recommendations = [[] for _ in self.pools]   # target_utilization: (tick time, rec)
        self.schedule_rows = (_schedule_table(self.autoscaler["table"], self.pools)
                              if self.autoscaler["kind"] == "schedule" else {})
        for q in self.pools:
            for node in q.slots():
                if self.node_state[node] == UP:
                    self.instance_of[node] = len(self.instances)
                    self.instances.append({"pool": q.name, "slot": node - q.first, "node": node,
                                           "reason": "initial", "requested": 0.0, "up": 0.0,
                                           "released": math.nan, "release_reason": None})
        self.series = []
        self.last_counts = [None] * len(self.pools)
        self.record_node_counts(0.0)
        if self.autoscaler["kind"] != "static":
            self.env.process(self.ticks(float(self.autoscaler["interval"])))
        seed, replication = int(params.get("seed", 0)), int(params.get("replication", 0))
        for q in self.pools:
            if q.spot and q.interruptions_per_day > 0:
                for node in q.slots():
                    times = interruption_times(seed, replication, q.name, node - q.first,
                                               q.interruptions_per_day, self.horizon)
                    self.env.process(self.spot_slot(node, times))

    def ticks(self, interval: float):
        """The autoscaler's ticks at k * interval (the product, not a running sum)."""
        k = 0
        while True:
            yield _timeout_at(self.env, k * interval)
            self.tick_due = True
            self.request_pass()
            k += 1

    def boot(self, node: int, boot_time: float):
        """A booting node is up boot_time after its request (it is never released while booting)."""
        yield self.env.timeout(boot_time)
        self.booted.append(node)
        self.request_pass()

    def spot_slot(self, node: int, times: list):
        """The slot's interruption times; whether one fires is decided when it is applied."""
        for when in times:
            yield _timeout_at(self.env, when)
            self.interrupt_due.append(node)
            self.request_pass(event=False)

    # -- nodes

    def requested(self, qi: int) -> int:
        return sum(self.node_state[n] != RELEASED for n in self.pools[qi].slots())

    def request_node(self, qi: int, now: float, reason: str) -> None:
        """A new instance on the pool's lowest released slot (MODEL.md 11.2)."""
        q = self.pools[qi]
        node = next(n for n in q.slots() if self.node_state[n] == RELEASED)
        self.free[node] = list(self.capacity[node])
        self.running_on[node] = set()
        if self.devices:   # a new instance's devices are all wholly free, with no GPU part
            self.dev[node] = [1.0] * self.n_dev[node]
            self.gpu_classes[node] = {}
        self.instance_of[node] = len(self.instances)
        inst = {"pool": q.name, "slot": node - q.first, "node": node, "reason": reason,
                "requested": now, "up": math.nan, "released": math.nan, "release_reason": None}
        self.instances.append(inst)
        if now >= self.warmup and reason != "initial":
            self.counts["scale_ups" if reason == "scale_up" else "replacements"] += 1
        if q.boot_time == 0.0:
            self.node_state[node] = UP
            inst["up"] = now
            self.idle_since[node] = now
        else:
            self.node_state[node] = BOOTING
            self.env.process(self.boot(node, q.boot_time))

    def release(self, node: int, now: float, reason: str) -> None:
        inst = self.instances[self.instance_of[node]]
        inst["released"] = now
        inst["release_reason"] = reason
        self.node_state[node] = RELEASED
        self.instance_of[node] = -1
        if reason == "scale_down" and now >= self.warmup:
            self.counts["scale_downs"] += 1
        self.add_billing(inst, self.horizon)

    def add_billing(self, inst: dict, end: float) -> None:
        """MODEL.md 11.6: the instance's billed and up seconds within [warmup, end]."""
        qi = self.node_pool_index[inst["node"]]
        r, e = inst["requested"], inst["released"]
        if math.isnan(e):
            e = math.inf
        hi = min(max(e, r + self.pools[qi].billing_minimum), end)
        lo = max(r, self.warmup)
        self.billed_seconds[qi] += hi - lo if hi > lo else 0.0
        if not math.isnan(inst["up"]):
            hi, lo = min(e, end), max(inst["up"], self.warmup)
            self.up_seconds[qi] += hi - lo if hi > lo else 0.0

    def scale_down(self, qi: int, target: int, now: float) -> None:
        """Release idle up nodes, highest index first, until ``target`` are requested."""
        for node in reversed(self.pools[qi].slots()):
            if self.requested(qi) <= target:
                return
            if self.node_state[node] == UP and not self.running_on[node]:
                self.release(node, now, "scale_down")

    def scale_to(self, qi: int, target: int, now: float) -> None:
        """schedule and custom: request up to ``target``, or scale down to it."""
        q = self.pools[qi]
        target = min(max(target, q.min_count), q.max_count)
        n = self.requested(qi)
        for _ in range(target - n):
            self.request_node(qi, now, "scale_up")
        if target < n:
            self.scale_down(qi, target, now)

    # -- events

    def apply_boot_completions(self, now: float) -> None:
        for node in sorted(self.booted):
            self.node_state[node] = UP
            self.instances[self.instance_of[node]]["up"] = now
            self.idle_since[node] = now
        self.booted.clear()

    def apply_interruptions(self, now: float) -> None:
        """MODEL.md 11.5, by node index; a time whose slot is not up is skipped (no event)."""
        for node in sorted(self.interrupt_due):
            if self.node_state[node] == UP:
                self.instant_has_event = True
                self.interrupt(node, now)
        self.interrupt_due.clear()

    def interrupt(self, node: int, now: float) -> None:
        qi = self.node_pool_index[node]
        if now >= self.warmup:
            self.counts["interruptions"] += 1
        self.release(node, now, "interrupted")
        victims = sorted(self.running_on[node], key=lambda t: (self.task_pipeline_id[t], self.task_index[t]))
        self.running_on[node] = set()
        for t in victims:
            if self.devices:
                self.end_gang_elsewhere(t, node, now)
            speed = self.speed_of[t] if self.devices else self.node_speed[node]
            progress = (now - self.start_time[t]) * speed
            saved = checkpointed_work(progress, self.remaining[t], self.checkpoint_every[t])
            self.remaining[t] = self.remaining[t] - saved
            if now >= self.warmup:
                self.work_lost += progress - saved
            self.attempt[t] += 1   # the running attempt will never complete
            self.started[t] = False
            self.interrupted(t, now)
        while self.requested(qi) < self.pools[qi].min_count:
            self.request_node(qi, now, "replacement")

    def end_gang_elsewhere(self, t: int, node: int, now: float) -> None:
        """An interruption of one node of a gang interrupts the whole task: its parts on the other
        (up) nodes release their requests now, in part order. A node that this leaves with no
        running task is idle since now (the choice made here, where MODEL.md 11.2 names only
        completions: the node's last task left it now)."""
        for other, devs in self.parts[t]:
            if other != node:
                self.release_part(t, other, devs)
                self.running_on[other].discard(t)
                if not self.running_on[other]:
                    self.idle_since[other] = now

    def interrupted(self, t: int, now: float) -> None:
        """An interrupted task is ready again at ``now`` (LifecycleModel may cancel it)."""
        self.restarts[t] += 1
        if now >= self.warmup:
            self.counts["tasks_restarted"] += 1
        self.make_ready(t, now)

    # -- the autoscaler tick (MODEL.md 11.4)

    def autoscaler_tick(self, now: float) -> None:
        kind = self.autoscaler["kind"]
        if kind == "reactive":
            self.reactive_tick(now)
        elif kind == "target_utilization":
            for qi in range(len(self.pools)):
                self.target_utilization_tick(qi, now)
        elif kind == "schedule":
            how = math.floor(now / 3600.0) % HOURS_PER_WEEK
            for qi, rows in sorted(self.schedule_rows.items()):
                earlier = [count for key, count in rows if key <= how]
                self.scale_to(qi, earlier[-1] if earlier else rows[-1][1], now)
        elif kind == "custom":
            for qi, q in enumerate(self.pools):
                up = sum(self.node_state[n] == UP for n in q.slots())
                booting = sum(self.node_state[n] == BOOTING for n in q.slots())
                if self.devices:   # a part fits an empty node of the pool (MODEL.md 12.3)
                    ready = sum(self.fits_empty(t, q.first) for t in self.ready)
                else:
                    ready = sum(_fits(q.capacity, self.request[t]) for t in self.ready)
                u = self.utilization(qi, "auto")
                desired = self.autoscaler["func"](qi, up, booting, ready, 0.0 if u is None else u, now)
                self.scale_to(qi, int(desired), now)

    def reactive_tick(self, now: float) -> None:
        # (a) pending tasks: the pass order, placed on a copy of up and booting nodes' free capacity
        key = self.policy_keys()
        order = sorted(self.ready, key=lambda t: (key[t], self.ready_time[t],
                                                  self.task_pipeline_id[t], self.task_index[t]))
        free = [list(f) for f in self.free]   # a booting node's free is its capacity (set at request)
        pending, needed = [], set()
        for t in order:
            node = self.choose_node(self.request[t], free, lambda n: self.node_state[n] != RELEASED)
            if node < 0:
                pending.append(t)
                continue
            needed.add(node)
            for d in range(3):
                free[node][d] -= self.request[t][d]
        # (b) scale-up: one option per pool with room, one chosen by the expander, repeat
        while pending:
            options = []
            for qi, q in enumerate(self.pools):
                room = q.max_count - self.requested(qi)
                if room <= 0:
                    continue
                opened, placed = [], []
                for t in pending:
                    req = self.request[t]
                    if not _fits(q.capacity, req):
                        continue
                    target = next((f for f in opened if _fits(f, req)), None)
                    if target is None:
                        if len(opened) == room:
                            continue
                        target = list(q.capacity)
                        opened.append(target)
                    for d in range(3):
                        target[d] -= req[d]
                    placed.append(t)
                if placed:
                    options.append((qi, opened, placed))
            if not options:
                break
            qi, opened, placed = self.expand(options)
            for _ in opened:
                self.request_node(qi, now, "scale_up")
            placed = set(placed)
            pending = [t for t in pending if t not in placed]
        # (c) scale-down: idle, not needed, idle long enough; highest index first, to min_count
        timeout = float(self.autoscaler["idle_timeout"])
        for qi, q in enumerate(self.pools):
            for node in reversed(q.slots()):
                if self.requested(qi) <= q.min_count:
                    break
                if (self.node_state[node] == UP and not self.running_on[node] and node not in needed
                        and now - self.idle_since[node] >= timeout):
                    self.release(node, now, "scale_down")

    def expand(self, options: list):
        """The expander's option; options come in pool order, so a strict < keeps ties on
        the lowest pool index."""
        expander = self.autoscaler["expander"]
        if expander == "first":
            return options[0]
        best, best_score = None, 0.0
        for qi, opened, placed in options:
            if expander == "cheapest":
                score = len(opened) * self.pools[qi].price_per_hour
            else:
                score = self.waste(self.pools[qi].capacity, opened)
            if best is None or score < best_score:
                best, best_score = (qi, opened, placed), score
        return best

    @staticmethod
    def waste(capacity, opened) -> float:
        """least_waste: the mean over dimensions with capacity of the option's idle fraction."""
        total, dims = 0.0, 0
        for d in range(3):
            if capacity[d] > 0:
                idle = 0.0
                for f in opened:
                    idle += f[d]
                total += idle / (len(opened) * capacity[d])
                dims += 1
        return total / dims if dims else 0.0   # a node with no capacity at all wastes nothing

    def utilization(self, qi: int, resource: str):
        """u of MODEL.md 11.4 target_utilization, or None where the rule leaves the pool alone."""
        q = self.pools[qi]
        if resource == "auto":
            d = 1 if q.capacity[1] > 0 else 0 if q.capacity[0] > 0 else 2
        else:
            d = DIMENSIONS.index(resource)
        c, n = q.capacity[d], self.requested(qi)
        if n == 0 or c == 0:
            return None
        allocated = 0.0
        for node in q.slots():
            if self.node_state[node] == UP:
                allocated += c - self.free[node][d]
        return allocated / (n * c)

    def target_utilization_tick(self, qi: int, now: float) -> None:
        q, a = self.pools[qi], self.autoscaler
        n = self.requested(qi)
        u = self.utilization(qi, a["resource"])
        rec = n
        if u is not None:
            ratio = u / a["target"]
            if abs(ratio - 1.0) > a["tolerance"]:
                rec = min(max(math.ceil(n * ratio), q.min_count), q.max_count)
        self.recommendations[qi].append((now, rec))
        stab = max(r for tau, r in self.recommendations[qi] if now - tau <= a["stabilization"])
        if rec > n:
            for _ in range(rec - n):
                self.request_node(qi, now, "scale_up")
        elif stab < n:
            self.scale_down(qi, stab, now)

    # -- outputs (MODEL.md 11.6)

    def record_node_counts(self, now: float) -> None:
        for qi, q in enumerate(self.pools):
            counts = (sum(self.node_state[n] == UP for n in q.slots()),
                      sum(self.node_state[n] == BOOTING for n in q.slots()))
            if counts != self.last_counts[qi]:
                self.series.append((now, q.name, *counts))
                self.last_counts[qi] = counts

    def elastic_outputs(self, end: float) -> tuple:
        """Bill the instances still requested (node index order), then the outputs."""
        for node in range(len(self.capacity)):
            if self.instance_of[node] >= 0:
                self.add_billing(self.instances[self.instance_of[node]], end)
        span = end - self.warmup
        out = {"cost": 0.0}
        for qi, q in enumerate(self.pools):
            out["cost"] += q.price_per_hour * self.billed_seconds[qi] / 3600.0
        for qi, q in enumerate(self.pools):
            out[f"node_hours_{q.name}"] = self.billed_seconds[qi] / 3600.0
            out[f"nodes_up_mean_{q.name}"] = self.up_seconds[qi] / span if span > 0 else math.nan
        out.update(self.counts)
        out["work_lost_h"] = self.work_lost / 3600.0
        nodes = pd.DataFrame(self.instances, columns=["pool", "slot", "node", "reason", "requested", "up",
                                                      "released", "release_reason"])
        series = pd.DataFrame(self.series, columns=["time", "pool", "up", "booting"])
        return out, nodes, series

    # ---- results -------------------------------------------------------------------------

    def task_records(self) -> pd.DataFrame:
        # cancelled before unfinished: an interrupted task of a rejected pipeline had started
        status = ["completed" if not math.isnan(e) else "cancelled" if c else "unfinished" if s
                  else "not_started"
                  for e, s, c in zip(self.end_time, self.ever_started, self.cancelled)]
        records = pd.DataFrame({
            "pipeline_id": np.array(self.task_pipeline_id, dtype=np.int64),
            "task": self.task_name,
            "type": self.task_type,
            "node": np.array(self.node_of, dtype=np.int64),
            "pool": pd.Series([self.node_pool[n] if n >= 0 else None for n in self.node_of], dtype=object),
            "ready": np.array(self.ready_time, dtype=np.float64),
            "start": np.array(self.start_time, dtype=np.float64),
            "end": np.array(self.end_time, dtype=np.float64),
            "status": status,
        })
        if self.elastic:
            records["restarts"] = np.array(self.restarts, dtype=np.int64)
        return records

    def outcome(self, p: int) -> str:
        return "unfinished" if math.isnan(self.finish_time[p]) else "completed"

    def triggered_by(self, p: int) -> str:
        return "exogenous"

    def pipeline_records(self) -> pd.DataFrame:
        rows = range(len(self.pipeline_id))
        return pd.DataFrame({
            "pipeline_id": np.array(self.pipeline_id, dtype=np.int64),
            "model_id": np.array(self.model_id, dtype=np.int64),
            "submit": np.array(self.arrival_time, dtype=np.float64),
            "end": np.array(self.finish_time, dtype=np.float64),
            "outcome": [self.outcome(p) for p in rows],
            "triggered_by": [self.triggered_by(p) for p in rows],
        })


# ---- the ML model lifecycle (MODEL.md 7) ----------------------------------------------------

# Gate thresholds (MODEL.md 7). A gate rejects when the candidate value is strictly below
# its threshold, and candidate values are in [0, 1], so 0.0 disables a gate.
DEFAULT_ACCURACY_GATE = 0.0
DEFAULT_FAIRNESS_GATE = 0.0
DEFAULT_ROBUSTNESS_GATE = 0.0
DAY = 86400.0

MODEL_COLUMNS = ("model_id", "accuracy", "robustness", "fairness", "deployed_at",
                 "drift_per_day", "threshold", "on_drift", "period", "phase",
                 "template_pipeline_id")
CANDIDATE_COLUMNS = ("candidate_accuracy", "candidate_robustness", "candidate_fairness")
# gate task type -> (candidate index in (accuracy, robustness, fairness), gate parameter)
GATES = {"evaluate": (0, "accuracy_gate"), "bias_check": (2, "fairness_gate"),
         "robustness_check": (1, "robustness_gate")}


def crossing_time(a0: float, td: float, drift: float, threshold: float) -> float:
    """MODEL.md 7: when a(t) = a0 * exp(-drift * (t - td) / 86400) reaches the threshold.

    td if a0 <= threshold (whatever the drift), never (+inf) if drift is 0, else
    td + 86400 * ln(a0 / threshold) / drift. Not clipped to t = 0 here (the trigger is:
    ``max(crossing, 0)``); the metrics use the unclipped time."""
    if a0 <= threshold:
        return td
    if drift == 0.0 or threshold <= 0.0:
        return math.inf
    return td + 86400 * math.log(a0 / threshold) / drift


def _as_bool(x) -> bool:
    """on_drift from a DataFrame: a bool, a number, or a string such as 'true' / 'False'
    (as read from a CSV). NaN is False."""
    if isinstance(x, str):
        value = x.strip().lower()
        if value not in ("true", "false", "1", "0", "yes", "no", ""):
            raise ValueError(f"models: on_drift must be true or false, got {x!r}")
        return value in ("true", "1", "yes")
    return False if pd.isna(x) else bool(x)


class LifecycleModel(ClusterModel):
    """ClusterModel plus the model lifecycle of MODEL.md 7, for traces.

    Models are numbered by their row in the models table (``mi``); ``self.model_row``
    maps a model_id to it. Processes: one ``drift_watch`` per on_drift model (it wakes
    the scheduler at the crossing time and is re-armed by every deploy) and one
    ``periodic`` per model with a period. As for arrivals and completions, the processes
    only ask for a pass; the scheduler applies every trigger of the time in
    ``apply_triggers``, from the state left by that time's completions, so a deploy at
    the same time as an old crossing cancels it.

    Decisions where MODEL.md 7 leaves room (each is also where the code does it):

    - Trigger order at one time: by model_id first, then for one model the on_drift rule
      before the periodic one. The on_drift retraining after a stale model's pipeline
      finishes is an on_drift trigger of the trigger phase (not applied inside the
      completion), so it is numbered with the other triggers of that time, by model_id.
    - A triggered pipeline is in flight from its trigger; an exogenous one from its
      arrival. At one time triggers come before arrivals, so an exogenous pipeline
      arriving at a trigger's time does not suppress it.
    - Crossing: a0 <= threshold gives td even if drift is 0; threshold <= 0 < a0 never
      crosses; drift must be >= 0. The trigger fires at max(crossing, 0); the metrics
      use the unclipped crossing for the time below threshold.
    - Candidates: every one of candidate_accuracy / _robustness / _fairness that the
      table has, or none (a partial row is an error); a column the table leaves out
      is NaN, which passes its gate; compress_loss NaN is 0; compress never takes the
      candidate accuracy below 0 (accuracy stays in [0, 1]). A copy gets the template's
      candidate as given, not as changed by the template's own compress.
    - A pipeline of a model without lifecycle state has no effects and is in no
      model's in-flight count. A copy belongs to the triggering model (whatever the
      template's model_id) and keeps the template's priority.
    - Effects apply in completion order: a deploy that is not downstream of a gate and
      completes before (or at the same time with a lower task index than) the failing
      gate has already deployed; "a rejected pipeline never deploys" holds for DAGs
      where deploy is after the gates.
    - Outcome names are rejected_by_<gate task type> (evaluate, bias_check,
      robustness_check); the first failing gate names it.
    - A periodic model needs a horizon (its timer never stops); a model with a rule
      needs a template_pipeline_id that exists; a lifecycle model's pipelines need tasks.
    """

    def __init__(self, env, pipelines, tasks, cluster, policy, placement, backfill,
                 models, gates, warmup, elastic=None, gpu=None):
        self.gate_value = gates
        self.warmup = warmup
        super().__init__(env, pipelines, tasks, cluster, policy, placement, backfill, elastic, gpu)
        self._load_candidates(pipelines)
        self._load_models(models)
        n_p = len(self.pipeline_id)
        self.trigger_rule = ["exogenous"] * n_p
        self.rejected_by = [None] * n_p         # gate task type, once rejected
        self.running = [0] * n_p                # tasks of the pipeline running now
        self.next_pipeline_id = max(self.pipeline_id) + 1
        self.finished_now = set()               # model rows with a pipeline finished at this time
        self.periodic_due = []                  # model rows whose periodic time is now
        self.log = []                           # (time, model row, what, detail) for the metrics
        for mi in range(len(self.m_id)):
            if self.on_drift[mi]:
                env.process(self.drift_watch(mi))
            if self.period[mi] > 0:
                env.process(self.periodic(mi))

    # ---- input ---------------------------------------------------------------------------

    def _load_candidates(self, pipelines: pd.DataFrame) -> None:
        n_p = len(self.pipeline_id)
        cols = [pipelines[c] if c in pipelines.columns else [math.nan] * n_p
                for c in CANDIDATE_COLUMNS]
        loss = pipelines["compress_loss"] if "compress_loss" in pipelines.columns else [math.nan] * n_p
        self.template_candidate = []   # as given (what a copy gets); None = no candidates
        given = [c in pipelines.columns for c in CANDIDATE_COLUMNS]
        for row, values in enumerate(zip(*cols)):
            # a column the table leaves out stays NaN: its gate passes (NaN < gate is false)
            present = [not pd.isna(v) for v, g in zip(values, given) if g]
            if any(present) and not all(present):
                raise ValueError(f"pipelines: row {row} (pipeline_id {self.pipeline_id[row]}) "
                                 f"has some but not all of {CANDIDATE_COLUMNS}")
            self.template_candidate.append([float(v) for v in values] if present and all(present) else None)
        self.compress_loss = [0.0 if pd.isna(x) else float(x) for x in loss]
        # the pipeline's own candidate, changed by compress
        self.candidate = [None if c is None else list(c) for c in self.template_candidate]

    def _load_models(self, models: pd.DataFrame) -> None:
        for col in MODEL_COLUMNS:
            if col not in models.columns:
                raise ValueError(f"models: missing column {col!r}")
        self.m_id = [int(x) for x in models["model_id"]]
        if len(set(self.m_id)) != len(self.m_id):
            raise ValueError("models: duplicate model_id")
        self.model_row = {m: i for i, m in enumerate(self.m_id)}
        self.threshold = [float(x) for x in models["threshold"]]
        self.drift = [float(x) for x in models["drift_per_day"]]
        self.on_drift = [_as_bool(x) for x in models["on_drift"]]
        self.period = [0.0 if pd.isna(x) else float(x) for x in models["period"]]
        self.phase = [0.0 if pd.isna(x) else float(x) for x in models["phase"]]
        self.template = []
        for mi, tp in enumerate(models["template_pipeline_id"]):
            needed = self.on_drift[mi] or self.period[mi] > 0
            if pd.isna(tp):
                if needed:
                    raise ValueError(f"models: model {self.m_id[mi]} has a rule but no template_pipeline_id")
                self.template.append(-1)
                continue
            if int(tp) not in self.row_of_pipeline:
                raise ValueError(f"models: model {self.m_id[mi]} has unknown template_pipeline_id {int(tp)}")
            self.template.append(self.row_of_pipeline[int(tp)])
        for col in ("accuracy", "robustness", "fairness", "deployed_at", "drift_per_day", "threshold"):
            bad = [self.m_id[i] for i, x in enumerate(models[col]) if not math.isfinite(float(x))]
            if bad:
                raise ValueError(f"models: {col} must be a finite number (model_id {bad[0]})")
        for mi in range(len(self.m_id)):
            if self.drift[mi] < 0 or not math.isfinite(self.drift[mi]) or self.period[mi] < 0:
                raise ValueError(f"models: model {self.m_id[mi]} has a negative or non-finite drift or period")
        # deployed state: [accuracy, robustness, fairness], td; crossing (unclipped)
        self.state = [[float(a), float(r), float(f)] for a, r, f in
                      zip(models["accuracy"], models["robustness"], models["fairness"])]
        self.deployed_at = [float(x) for x in models["deployed_at"]]
        self.initial_state = [(s[0], td) for s, td in zip(self.state, self.deployed_at)]
        self.crossing = [crossing_time(s[0], td, d, thr) for s, td, d, thr in
                         zip(self.state, self.deployed_at, self.drift, self.threshold)]
        self.stale = [False] * len(self.m_id)
        self.redeployed = [self.env.event() for _ in self.m_id]
        self.in_flight = [0] * len(self.m_id)
        for p, ts in enumerate(self.pipeline_tasks):
            if not ts and self.model_id[p] in self.model_row:
                raise ValueError(f"pipelines: pipeline {self.pipeline_id[p]} has no tasks")

    def lifecycle_row(self, p: int) -> int:
        """The model row of pipeline p, or -1 if its model has no lifecycle state."""
        return self.model_row.get(self.model_id[p], -1)

    # ---- processes -----------------------------------------------------------------------

    def drift_watch(self, mi: int):
        """Wake the scheduler when model mi crosses its threshold (MODEL.md 7 on_drift).

        Armed from the initial state (a crossing before 0 fires at 0) and re-armed after
        every deploy. A crossing equal to the deploy time is applied by the deploy's own
        instant (``apply_triggers`` checks the state), so it is armed only if later."""
        first = True
        while True:
            redeployed = self.redeployed[mi]
            when = max(self.crossing[mi], 0.0)
            if math.isfinite(when) and (first or when > self.env.now):
                wake = _timeout_at(self.env, when)
                fired = yield wake | redeployed
                if wake in fired and max(self.crossing[mi], 0.0) == self.env.now and not self.stale[mi]:
                    self.request_pass()
            first = False
            yield redeployed

    def periodic(self, mi: int):
        """Wake the scheduler at phase + k * period, k = 0, 1, ... (times >= 0)."""
        period, phase = self.period[mi], self.phase[mi]
        k = max(0, math.ceil(-phase / period))
        while k > 0 and phase + (k - 1) * period >= 0:
            k -= 1
        while True:
            when = phase + k * period
            if when >= 0:
                yield _timeout_at(self.env, when)
                self.periodic_due.append(mi)
                self.request_pass()
            k += 1

    # ---- state changes -------------------------------------------------------------------

    def apply_triggers(self, now: float) -> None:
        """MODEL.md 3/7: triggers by model_id; for one model the on_drift rule (crossing,
        or a stale model's pipeline having finished) before the periodic one."""
        due = set(self.periodic_due)
        for mi in sorted(range(len(self.m_id)), key=lambda i: self.m_id[i]):
            if self.on_drift[mi]:
                if not self.stale[mi] and max(self.crossing[mi], 0.0) == now:
                    self.stale[mi] = True
                    if self.in_flight[mi] == 0:
                        self.submit(mi, now, "on_drift")
                elif self.stale[mi] and mi in self.finished_now and self.in_flight[mi] == 0:
                    self.submit(mi, now, "on_drift")
            if mi in due and self.in_flight[mi] == 0:
                self.submit(mi, now, "periodic")
        self.periodic_due.clear()
        self.finished_now.clear()

    def submit(self, mi: int, now: float, rule: str) -> None:
        """A triggered pipeline: a copy of the model's template, numbered after the largest
        pipeline_id, submitted now (its arrival is applied with this time's arrivals)."""
        tp = self.template[mi]
        p = len(self.pipeline_id)
        pid = self.next_pipeline_id
        self.next_pipeline_id += 1
        self.pipeline_id.append(pid)
        self.row_of_pipeline[pid] = p
        self.submit_time.append(now)
        self.model_id.append(self.m_id[mi])
        self.priority.append(self.priority[tp])
        self.template_candidate.append(self.template_candidate[tp])
        self.candidate.append(None if self.template_candidate[tp] is None
                              else list(self.template_candidate[tp]))
        self.compress_loss.append(self.compress_loss[tp])
        self.arrival_time.append(math.nan)
        self.finish_time.append(math.nan)
        self.tasks_left.append(len(self.pipeline_tasks[tp]))
        self.trigger_rule.append(rule)
        self.rejected_by.append(None)
        self.running.append(0)
        first = len(self.duration)
        new_row = {u: first + i for i, u in enumerate(self.pipeline_tasks[tp])}
        for u in self.pipeline_tasks[tp]:
            self.task_pipeline_id.append(pid)
            self.task_name.append(self.task_name[u])
            self.task_type.append(self.task_type[u])
            self.request.append(self.request[u])
            self.duration.append(self.duration[u])
            self.task_pipeline.append(p)
            self.task_index.append(self.task_index[u])
            self.predecessors.append([new_row[v] for v in self.predecessors[u]])
            self.successors.append([new_row[v] for v in self.successors[u]])
            self.waiting_for.append(len(self.predecessors[u]))
            self.remaining.append(self.duration[u])
            self.checkpoint_every.append(self.checkpoint_every[u])
            if self.devices:   # a copy's parts take the next slots (MODEL.md 12.6: batch order)
                self.spec.append(self.spec[u])
                self.replicas.append(self.replicas[u])
                self.first_slot.append(self.n_slots)
                self.n_slots += self.replicas[u]
                self.parts.append([])
                self.speed_of.append(math.nan)
            for lst, value in ((self.ready_time, math.nan), (self.start_time, math.nan),
                               (self.end_time, math.nan), (self.node_of, -1),
                               (self.started, False), (self.cancelled, False),
                               (self.attempt, 0), (self.restarts, 0), (self.ever_started, False)):
                lst.append(value)
        self.pipeline_tasks.append(list(new_row.values()))
        self.roots.append([new_row[u] for u in self.roots[tp]])
        self.in_flight[mi] += 1
        self.log.append((now, mi, "submitted", rule))
        self.arrived.append(p)

    def arrive(self, p: int, now: float) -> None:
        mi = self.lifecycle_row(p)
        if mi >= 0 and self.trigger_rule[p] == "exogenous":
            self.in_flight[mi] += 1   # a triggered pipeline is in flight since its trigger
        super().arrive(p, now)

    def start(self, t: int, node: int) -> None:
        super().start(t, node)
        self.running[self.task_pipeline[t]] += 1

    def start_parts(self, t: int, parts: list) -> None:
        super().start_parts(t, parts)
        self.running[self.task_pipeline[t]] += 1

    def complete(self, t: int, now: float) -> None:
        p = self.task_pipeline[t]
        self.running[p] -= 1
        super().complete(t, now)
        mi = self.lifecycle_row(p)
        if mi < 0:
            return
        if self.rejected_by[p] is None and self.candidate[p] is not None:
            self.lifecycle_effect(t, p, mi, now)
        if self.rejected_by[p] is not None and self.running[p] == 0:
            self.finish_time[p] = now   # a rejected pipeline ends with its last running task
        if self.finish_time[p] == now:  # finished by this completion (nothing of p follows)
            self.in_flight[mi] -= 1
            self.finished_now.add(mi)

    def lifecycle_effect(self, t: int, p: int, mi: int, now: float) -> None:
        """MODEL.md 7: the effect of task t of pipeline p (not rejected, with candidates)."""
        kind, cand = self.task_type[t], self.candidate[p]
        if kind in GATES:
            index, gate = GATES[kind]
            if cand[index] < self.gate_value[gate]:
                self.reject(p, kind, mi, now)
        elif kind == "compress":
            cand[0] = max(cand[0] - self.compress_loss[p], 0.0)  # accuracy stays >= 0
        elif kind == "deploy":
            self.state[mi] = list(cand)
            self.deployed_at[mi] = now
            self.crossing[mi] = crossing_time(cand[0], now, self.drift[mi], self.threshold[mi])
            self.stale[mi] = False
            self.log.append((now, mi, "deploy", tuple(cand)))
            self.redeployed[mi].succeed()
            self.redeployed[mi] = self.env.event()

    def reject(self, p: int, gate: str, mi: int, now: float) -> None:
        self.rejected_by[p] = gate
        self.log.append((now, mi, "rejected", gate))
        for u in self.pipeline_tasks[p]:
            if not self.started[u]:
                self.cancelled[u] = True
                self.ready.discard(u)
                self.tasks_left[p] -= 1   # a cancelled task will never complete

    def interrupted(self, t: int, now: float) -> None:
        """MODEL.md 11.5: an interrupted task of a rejected pipeline is cancelled, and its
        pipeline finishes now if it was the last running one (in the interruption phase,
        so this instant's triggers see it)."""
        p = self.task_pipeline[t]
        self.running[p] -= 1
        if self.rejected_by[p] is None:
            super().interrupted(t, now)
            return
        self.cancelled[t] = True
        self.tasks_left[p] -= 1
        if self.running[p] == 0:
            self.finish_time[p] = now
            mi = self.lifecycle_row(p)
            self.in_flight[mi] -= 1
            self.finished_now.add(mi)

    def staleness_key(self, t: int, now: float) -> float:
        mi = self.lifecycle_row(self.task_pipeline[t])
        if mi < 0:
            return math.inf
        a0, td = self.state[mi][0], self.deployed_at[mi]
        return -(self.threshold[mi] - a0 * math.exp(-self.drift[mi] * (now - td) / 86400))

    # ---- results -------------------------------------------------------------------------

    def outcome(self, p: int) -> str:
        """A rejection is the outcome from the gate on, even if a task of the pipeline is
        still running at the horizon (its ``end`` is then NaN)."""
        if self.rejected_by[p] is not None:
            return f"rejected_by_{self.rejected_by[p]}"
        return "unfinished" if math.isnan(self.finish_time[p]) else "completed"

    def triggered_by(self, p: int) -> str:
        return self.trigger_rule[p]

    def metrics(self, end: float) -> pd.DataFrame:
        """Per model over [warmup, end] (MODEL.md 7), then a total row (model_id -1).

        The deployed accuracy is piecewise: one segment per deployment (the initial state
        first), a(t) = a0 * exp(-drift * (t - td) / 86400) until the next deploy.

        - mean_accuracy: the integral of a(t) over [warmup, end] / (end - warmup); on a
          segment clipped to [s, e] the integral is
          a0 / k * (exp(-k (s - td)) - exp(-k (e - td))), k = drift / 86400
          (a0 * (e - s) if drift is 0);
        - frac_below: the time at or after each segment's crossing (crossing_time, not
          clipped: it is where a(t) reaches the threshold), / (end - warmup);
        - deployments, rejected_<gate task type>, submitted_on_drift, submitted_periodic:
          events whose time is in [warmup, end] (a rejection counts at the gate's
          completion);
        - crossing_to_deploy: mean of (next deploy - crossing) over the segments whose
          crossing, clipped to t >= 0 as the trigger is, lies in [warmup, end] and comes
          before a next deploy that happens by end; crossings not followed by a deploy
          are left out (censored). NaN if there is none. Any model counts, with or
          without on_drift.
        The total row: mean_accuracy and frac_below averaged over the models, counts
        summed, crossing_to_deploy the mean over every model's pairs.
        """
        lo, span = self.warmup, end - self.warmup
        n_m = len(self.m_id)
        counts = [{"deployments": 0, "rejected_evaluate": 0, "rejected_bias_check": 0,
                   "rejected_robustness_check": 0, "submitted_on_drift": 0,
                   "submitted_periodic": 0} for _ in range(n_m)]
        segments = [[(-math.inf, a0, td)] for a0, td in self.initial_state]  # (start, a0, td)
        for time, mi, what, detail in self.log:
            inside = lo <= time <= end
            if what == "deploy":
                segments[mi].append((time, detail[0], time))
                counts[mi]["deployments"] += inside
            else:
                counts[mi][f"{what}_{detail}"] += inside
        rows, all_delays = [], []
        for mi in sorted(range(n_m), key=lambda i: self.m_id[i]):
            drift, k = self.drift[mi], self.drift[mi] / DAY
            integral = below = 0.0
            delays = []
            seg = segments[mi]
            for j, (s, a0, td) in enumerate(seg):
                nxt = seg[j + 1][0] if j + 1 < len(seg) else math.inf
                c = crossing_time(a0, td, drift, self.threshold[mi])
                if lo <= max(c, 0.0) <= end and c <= nxt <= end:
                    delays.append(nxt - max(c, 0.0))
                s, e = max(s, lo), min(nxt, end)
                if e <= s:
                    continue
                if k == 0.0:
                    integral += a0 * (e - s)
                else:
                    integral += a0 / k * (math.exp(-k * (s - td)) - math.exp(-k * (e - td)))
                below += max(0.0, e - max(s, c))
            all_delays += delays
            rows.append({"model_id": self.m_id[mi],
                         "mean_accuracy": integral / span if span > 0 else math.nan,
                         "frac_below": below / span if span > 0 else math.nan,
                         **counts[mi],
                         "crossing_to_deploy": _sum_in_order(delays) / len(delays) if delays else math.nan})
        total = {"model_id": -1}
        for key in ("mean_accuracy", "frac_below"):
            total[key] = float(np.mean([r[key] for r in rows])) if rows else math.nan
        for key in (counts[0] if counts else {}):
            total[key] = sum(r[key] for r in rows)
        total["crossing_to_deploy"] = float(np.mean(all_delays)) if all_delays else math.nan
        rows.append(total)
        return pd.DataFrame(rows)


def _sum_in_order(values) -> float:
    """Left-to-right float sum (in event order), not NumPy's pairwise nor Python 3.12's compensated sum."""
    total = 0.0
    for v in values:
        total += v
    return total


def simulate_simpy(pipelines: pd.DataFrame, tasks: pd.DataFrame, cluster: pd.DataFrame,
                   policy: str = "fifo", placement: str = "first_fit", backfill: bool = True,
                   horizon: float | None = None, models: pd.DataFrame | None = None,
                   accuracy_gate: float = DEFAULT_ACCURACY_GATE,
                   fairness_gate: float = DEFAULT_FAIRNESS_GATE,
                   robustness_gate: float = DEFAULT_ROBUSTNESS_GATE,
                   warmup: float = 0.0, autoscaler=None, seed: int = 0,
                   replication: int = 0, ties: str = "index", target: pd.DataFrame | None = None,
                   devices: bool | None = None) -> SimpyResult:
    """Run the model of MODEL.md 1-7 on a trace and a cluster with SimPy.

    Parameters
    ----------
    pipelines : DataFrame
        pipeline_id, submit_time, and optionally model_id, priority (default 0).
    tasks : DataFrame
        pipeline_id, task, type, cpu, gpu, mem_gb, duration, after (';'-separated
        names of the same pipeline's tasks; '' or NaN for none). A task's index is its
        position among its pipeline's rows.
    cluster : DataFrame
        One row per pool: pool, count, cpu, gpu, mem_gb, speed (default 1.0). Nodes
        are numbered globally, the first pool's nodes first.
    policy : {'fifo', 'priority', 'sjf', 'srpt', 'staleness'}
    placement : {'first_fit', 'best_fit', 'worst_fit', 'random', 'dot_product', 'gpu_clustering',
                 'gpu_packing', 'gpu_best_fit', 'fgd'}
        The last six (MODEL.md 12.5) run on devices.
    backfill : bool
        If False, a task that fits nowhere ends the pass.
    horizon : float, optional
        Events after it are not applied (events exactly at it are, with their pass);
        tasks running at it are 'unfinished'. Required if a model has a period.
    models : DataFrame, optional
        The lifecycle state of MODEL.md 2/7: model_id, accuracy, robustness, fairness,
        deployed_at, drift_per_day, threshold, on_drift, period, phase,
        template_pipeline_id (NaN allowed for a model without rules). The pipelines
        may then carry candidate_accuracy, candidate_robustness, candidate_fairness
        (all three or none) and compress_loss (NaN: none). Without it there is no
        lifecycle and the run is that of MODEL.md 1-6.
    accuracy_gate, fairness_gate, robustness_gate : float
        Gate thresholds of evaluate, bias_check, robustness_check: reject when the
        candidate value is < the gate. The default 0.0 disables a gate.
    warmup : float
        Start of the window [warmup, end] of the lifecycle metrics and of MODEL.md 11.6's
        outputs.
    autoscaler : None, str, dict or object
        MODEL.md 11.4: 'static' (None), 'reactive', 'target_utilization', 'schedule',
        'custom', or a dict ``{"kind": ..., parameters}`` or an object with ``kind`` and
        parameter attributes (see ``autoscaler_parameters``). It acts only in an elastic
        run: some pool not static (min_count = count = max_count) or spot; the cluster
        may then have the columns of MODEL.md 11.1.
    seed, replication : int
        Key of the spot pools' interruption streams (MODEL.md 11.5) and of the placement
        stream (MODEL.md 12.6).
    ties : {'index', 'random'}
        MODEL.md 12.5: score ties go to the lowest node index, or to a random tied node.
    target : DataFrame, optional
        The target workload of MODEL.md 12.7 (cpu, gpu, p, optional gpu_spec); computed
        from the tasks table unless given.
    devices : bool, optional
        GPUs as devices (MODEL.md 12). None: when the run needs it (see
        ``resolve_devices``); True: always, with the outputs ``devices``,
        ``gpu_timeline`` and ``gpu_summary``; False: the pooled GPUs of sections 4 and 6
        (an error if the run needs devices). With whole GPU requests only and first, best
        or worst fit both give the same schedule (MODEL.md 12.10).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {POLICIES}")
    if placement not in DEVICE_PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of {DEVICE_PLACEMENTS}")
    if ties not in TIES:
        raise ValueError(f"unknown ties {ties!r}; choose one of {TIES}")
    gpu = None
    if resolve_devices(tasks, placement, ties, devices):
        gpu = {"ties": ties, "target": target, "seed": seed, "replication": replication,
               "warmup": float(warmup)}
    env = simpy.Environment()
    if horizon is not None:
        horizon = float(horizon)
        if not horizon >= 0:
            raise ValueError(f"horizon must be >= 0, got {horizon}")
    params = autoscaler_parameters(autoscaler)
    pools = [Pool.from_row(row) for _, row in cluster.iterrows()]
    if (any(not q.static or q.spot for q in pools) and horizon is None
            and (params["kind"] != "static" or any(q.spot for q in pools))):
        raise ValueError("an elastic run with an autoscaler or a spot pool never runs out of events: "
                         "give a horizon (MODEL.md 11)")
    elastic = {"autoscaler": params, "seed": seed, "replication": replication, "horizon": horizon,
               "warmup": float(warmup)}
    if models is None:
        model = ClusterModel(env, pipelines, tasks, cluster, policy, placement, bool(backfill), elastic, gpu)
    else:
        if horizon is None and "period" in models.columns and (models["period"].fillna(0) > 0).any():
            raise ValueError("a model with a period submits pipelines forever: give a horizon")
        gates = {"accuracy_gate": float(accuracy_gate), "fairness_gate": float(fairness_gate),
                 "robustness_gate": float(robustness_gate)}
        model = LifecycleModel(env, pipelines, tasks, cluster, policy, placement, bool(backfill),
                               models, gates, float(warmup), elastic, gpu)
    if horizon is None:
        env.run()
        end_time = model.last_event_time
    else:
        stop = env.event()
        stop._ok, stop._value = True, None
        env.schedule(stop, HORIZON, horizon)  # now is 0, so it fires at exactly `horizon`
        env.run(until=stop)
        end_time = horizon
    metrics = model.metrics(end_time) if models is not None else None
    outputs = nodes = series = None
    if model.elastic:
        outputs, nodes, series = model.elastic_outputs(end_time)
    records = timeline = gpu_summary = None
    if model.devices:
        records, timeline, gpu_summary = model.gpu_outputs(end_time)
    return SimpyResult(tasks=model.task_records(), n_events=model.n_events, end_time=end_time,
                       pipelines=model.pipeline_records(), models=metrics, nodes=nodes,
                       node_series=series, elastic=outputs, devices=records, gpu_timeline=timeline,
                       gpu_summary=gpu_summary)
