"""A reference implementation of the fastpipesim model (MODEL.md 1-6, 9) in SimPy.

It is written from MODEL.md alone, the way a SimPy user would write it, and serves
two purposes:

- the oracle of the tests: the compiled engine must produce exactly the same
  schedule (same nodes, same start and end times as floats);
- the speed baseline of the benchmarks.

Shape of the model: one SimPy process per pipeline arrival, one per running task,
and one scheduler process. Arrival and task processes only *record* that their event
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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from heapq import heappush

import numpy as np
import pandas as pd
import simpy

__all__ = ["SimpyResult", "simulate_simpy", "POLICIES", "PLACEMENTS"]

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
        Events applied: one per pipeline arrival and one per task completion.
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
    """

    tasks: pd.DataFrame
    n_events: int
    end_time: float
    pipelines: pd.DataFrame | None = None
    models: pd.DataFrame | None = None


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


class ClusterModel:
    """The cluster, its pending work, and the processes that drive them.

    Tasks are numbered by their row in the tasks table; every per-task list below is
    indexed that way. Pipelines are numbered by their row in the pipelines table.
    """

    def __init__(self, env: simpy.Environment, pipelines, tasks, cluster, policy, placement, backfill):
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
        self.started = [False] * n
        self.cancelled = [False] * n

        n_p = len(self.pipeline_id)
        self.arrival_time = [math.nan] * n_p   # when the pipeline arrived (was submitted)
        self.finish_time = [math.nan] * n_p    # when it completed or, if rejected, finished
        self.tasks_left = [len(ts) for ts in self.pipeline_tasks]  # tasks not completed

        # Events of the current time, recorded by the processes, applied by the scheduler.
        self.arrived = []        # pipeline rows
        self.ended = []          # task rows
        self.n_events = 0
        self.last_event_time = 0.0

        self.wakeup = env.event()
        env.process(self.scheduler())
        for p in range(len(self.pipeline_id)):
            env.process(self.pipeline_arrival(p))

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
        self.capacity, self.node_speed, self.node_pool = [], [], []
        for _, pool in cluster.iterrows():
            cap = tuple(float(pool[d]) for d in DIMENSIONS)
            speed = pool.get("speed", math.nan)
            speed = DEFAULT_SPEED if pd.isna(speed) else float(speed)
            for _ in range(int(pool["count"])):
                self.capacity.append(cap)
                self.node_speed.append(speed)
                self.node_pool.append(str(pool["pool"]))
        self.free = [list(cap) for cap in self.capacity]

    # ---- processes ---------------------------------------------------------------------

    def pipeline_arrival(self, p: int):
        """A pipeline arrives at its submit time."""
        yield self.env.timeout(self.submit_time[p])
        self.arrived.append(p)
        self.request_pass()

    def run_task(self, t: int, node: int):
        """A task holds its node for duration / speed, then completes."""
        yield self.env.timeout(self.duration[t] / self.node_speed[node])
        self.ended.append(t)
        self.request_pass()

    def request_pass(self) -> None:
        """Ask for one scheduling pass at the current time, after all its events."""
        if not self.wakeup.triggered:
            _schedule_at_now(self.wakeup, END_OF_INSTANT)

    def scheduler(self):
        """Once per event time: apply that time's events in model order, then one pass."""
        while True:
            yield self.wakeup
            self.wakeup = self.env.event()
            self.apply_events()
            self.scheduling_pass()

    # ---- state changes -------------------------------------------------------------------

    def apply_events(self) -> None:
        """MODEL.md 3: completions by (pipeline_id, task index), then lifecycle triggers
        (only in LifecycleModel), then arrivals by pipeline_id."""
        now = self.env.now
        self.ended.sort(key=lambda t: (self.task_pipeline_id[t], self.task_index[t]))
        for t in self.ended:
            self.complete(t, now)
        self.apply_triggers(now)
        self.arrived.sort(key=lambda p: self.pipeline_id[p])
        for p in self.arrived:
            self.arrive(p, now)
        self.n_events += len(self.ended) + len(self.arrived)
        self.last_event_time = now
        self.ended.clear()
        self.arrived.clear()

    def apply_triggers(self, now: float) -> None:
        """Lifecycle triggers of this time (none without a lifecycle)."""

    def arrive(self, p: int, now: float) -> None:
        self.arrival_time[p] = now
        if self.tasks_left[p] == 0:
            self.finish_time[p] = now
        for t in self.roots[p]:
            self.make_ready(t, now)

    def complete(self, t: int, now: float) -> None:
        free, req = self.free[self.node_of[t]], self.request[t]
        free[0] += req[0]
        free[1] += req[1]
        free[2] += req[2]
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
        self.ready.discard(t)
        self.env.process(self.run_task(t, node))

    # ---- the scheduling pass (MODEL.md 4-6) ----------------------------------------------

    def policy_keys(self) -> dict:
        """MODEL.md 5: each ready task's key, computed once at the start of the pass."""
        if self.policy == "fifo":
            return {t: self.ready_time[t] for t in self.ready}
        if self.policy == "priority":
            return {t: -self.priority[self.task_pipeline[t]] for t in self.ready}
        if self.policy == "sjf":
            return {t: self.duration[t] for t in self.ready}
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
                        total += self.duration[u]
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
            node = self.place(t)
            if node >= 0:
                self.start(t, node)
            elif not self.backfill:
                break  # strict order: nothing may overtake a blocked task

    def place(self, t: int) -> int:
        """MODEL.md 6: the chosen node among those that fit, or -1 if none fits."""
        r0, r1, r2 = self.request[t]
        chosen, chosen_score = -1, 0.0
        for node, free in enumerate(self.free):
            if free[0] >= r0 - FIT_TOL and free[1] >= r1 - FIT_TOL and free[2] >= r2 - FIT_TOL:
                if self.placement == "first_fit":
                    return node
                score = self.leftover_score(node, (r0, r1, r2))
                if (chosen < 0
                        or (self.placement == "best_fit" and score < chosen_score)
                        or (self.placement == "worst_fit" and score > chosen_score)):
                    chosen, chosen_score = node, score
        return chosen

    def leftover_score(self, node: int, req) -> float:
        """Sum over dimensions with capacity > 0 of (free - request) / capacity, in
        the order cpu, gpu, mem_gb."""
        cap, free = self.capacity[node], self.free[node]
        score = 0.0
        for d in range(3):
            if cap[d] > 0:
                score += (free[d] - req[d]) / cap[d]
        return score

    # ---- results -------------------------------------------------------------------------

    def task_records(self) -> pd.DataFrame:
        status = ["completed" if not math.isnan(e) else "unfinished" if s
                  else "cancelled" if c else "not_started"
                  for e, s, c in zip(self.end_time, self.started, self.cancelled)]
        return pd.DataFrame({
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


def simulate_simpy(pipelines: pd.DataFrame, tasks: pd.DataFrame, cluster: pd.DataFrame,
                   policy: str = "fifo", placement: str = "first_fit", backfill: bool = True,
                   horizon: float | None = None) -> SimpyResult:
    """Run the model of MODEL.md 1-6 on a trace and a cluster with SimPy.

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
    policy : {'fifo', 'priority', 'sjf', 'srpt'}
    placement : {'first_fit', 'best_fit', 'worst_fit'}
    backfill : bool
        If False, a task that fits nowhere ends the pass.
    horizon : float, optional
        Events after it are not applied (events exactly at it are, with their pass);
        tasks running at it are 'unfinished'.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {POLICIES}")
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of {PLACEMENTS}")
    env = simpy.Environment()
    model = ClusterModel(env, pipelines, tasks, cluster, policy, placement, bool(backfill))
    if horizon is None:
        env.run()
        end_time = model.last_event_time
    else:
        horizon = float(horizon)
        if not horizon >= 0:
            raise ValueError(f"horizon must be >= 0, got {horizon}")
        stop = env.event()
        stop._ok, stop._value = True, None
        env.schedule(stop, HORIZON, horizon)  # now is 0, so it fires at exactly `horizon`
        env.run(until=stop)
        end_time = horizon
    return SimpyResult(tasks=model.task_records(), n_events=model.n_events, end_time=end_time)
