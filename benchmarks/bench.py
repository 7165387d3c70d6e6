#!/usr/bin/env python
"""Speed, compile time and memory of fastpipesim, side by side with the SimPy model.

    python benchmarks/bench.py                  # full run, a few minutes
    python benchmarks/bench.py --quick          # under a minute, smaller sizes, no cold compile
    python benchmarks/bench.py --out bench.json # also write every figure as JSON
    python benchmarks/bench.py --markdown       # the table as Markdown (benchmarks/README.md)
    python benchmarks/bench.py --update-readme  # rewrite the figures block of benchmarks/README.md
    python benchmarks/bench.py --sections a,c   # only some sections

Sections (benchmarks/README.md says what each figure means):

a. the default ModelOps experiment: SimPy events/s against the engine on the same
   replications, single thread, with the schedules checked to be identical;
b. replications per second with 1 thread and with all threads;
c. a single M/M/1 queue of 1M jobs;
d. an overloaded cluster (a ready queue of 100k+ tasks on 1,000 nodes, backfill);
e. cold compile, warm start and import time (subprocesses);
f. memory: peak RSS of 100 vs 1000 replications without records, and per task with records;
g. reading and validating a 1M-task trace (CSV, Parquet);
h. the ML model lifecycle: its cost against the same workload with it off, automated
   retraining (on_drift), the staleness policy, and the SimPy model with the lifecycle.

Every timing is repeated and its median reported; engine and SimPy timings are
interleaved, so that a change of machine load during the run hits both. Everything
is seeded: two runs simulate the same workloads.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import importlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import fastpipesim as fps  # noqa: E402
from fastpipesim.engine.constants import STANDARD_TYPES  # noqa: E402
from fastpipesim.modelops import ModelOpsWorkload  # noqa: E402
from fastpipesim.workload import Batch, build_arrays  # noqa: E402

from benchmarks.simpy_model import simulate_simpy  # noqa: E402

DAY = 86400.0
HORIZON = 7 * DAY       # the default experiment: a week, observed to the end
SEED = 1                # the CLI's default seed
README = Path(__file__).resolve().parent / "README.md"
BEGIN_MARK = "<!-- bench:begin -->"
END_MARK = "<!-- bench:end -->"

# Targets of the issue.
TARGET_SIMPY_RATIO = 100.0       # engine / SimPy events per second, default workload, one thread
TARGET_THREAD_RATIO = 1.7        # replications/s with 2 threads / with 1
TARGET_QUEUE_RATE = 2e6          # events/s, single queue of 1M jobs, one thread
TARGET_WARM_START = 3.0          # seconds, `fastpipesim run` on a warm cache
TARGET_OVERLOAD_QUEUE = 100_000  # ready tasks the overloaded case must reach
TARGET_LIFECYCLE_COST = 30.0     # %: throughput the lifecycle may cost on the default workload
# issue 11: speed close to the machine's limit
TARGET_E2E_RATIO = 150.0         # simulate(ModelOpsWorkload()) / SimPy, one thread; also the DAG trace
TARGET_QUEUE_KERNEL = 15e6       # events/s, single queue, kernel only
TARGET_QUEUE_SIMULATE = 10e6     # events/s, single queue, through simulate
TARGET_COLD_RUN = 10.0           # s, first `fastpipesim run` on an empty cache, compile included
TARGET_IMPORT_OVER = 0.2         # s, import fastpipesim minus import numba, pandas
TARGET_ON_DRIFT = 0.8            # on_drift / no rules, events/s
TARGET_STALENESS = 1.15          # staleness / fifo, time per replication
TARGET_OVERLOAD_RATIO = 0.8      # overloaded / uncongested, events/s
TARGET_SCALE = 0.8               # events/s at 16M jobs / at 1M
TARGET_BYTES_PER_TASK = 160.0    # peak memory of simulate without records, per task


@dataclass(frozen=True)
class Sizes:
    """How big and how often: the full run and --quick."""

    repeats: int              # repetitions of every in-process timing (median reported)
    simpy_reps: int           # replications of the default workload run by both simulators
    simpy_repeats: int
    thread_reps: int          # replications per run in the thread-scaling section
    queue_jobs: int
    over_tasks: int           # overloaded case: tasks on over_nodes nodes
    over_nodes: int
    simpy_over: tuple         # smaller overloaded case run by both: (tasks, nodes)
    simpy_over_repeats: int
    subprocess_repeats: int   # warm start / import time
    cold_compile: bool
    mem_reps: tuple           # replications without records: (fewer, more)
    record_reps: int          # replications with records, for memory per task
    min_seconds: float        # an engine timing loops until it lasts at least this
    lifecycle_reps: int = 16  # replications per call in section h's throughput timings
    simpy_rules_reps: int = 2  # replications of the on_drift trace run by both simulators
    dag_pipelines: int = 12_000  # section j's DAG trace (5 tasks each)
    scale_jobs: int = 16_000_000  # section j: the M/M/8 queue whose events/s is compared with 1M jobs


FULL = Sizes(repeats=5, simpy_reps=4, simpy_repeats=3, thread_reps=128, queue_jobs=1_000_000,
             over_tasks=250_000, over_nodes=1000, simpy_over=(2000, 20), simpy_over_repeats=3,
             subprocess_repeats=3, cold_compile=True, mem_reps=(100, 1000), record_reps=100,
             min_seconds=0.3)
QUICK = Sizes(repeats=3, simpy_reps=2, simpy_repeats=2, thread_reps=16, queue_jobs=1_000_000,
              over_tasks=250_000, over_nodes=1000, simpy_over=(1000, 10), simpy_over_repeats=1,
              subprocess_repeats=1, cold_compile=False, mem_reps=(100, 300), record_reps=20,
              min_seconds=0.1, lifecycle_reps=4, simpy_rules_reps=1, dag_pipelines=3000, scale_jobs=4_000_000)


# ----------------------------------------------------------------------------- report rows

@dataclass
class Row:
    section: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    ok: bool | None = None
    note: str = ""


@dataclass
class Report:
    rows: list = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    def add(self, section, name, value, unit, target="", ok=None, note=""):
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            value = float(value)
        else:
            value = None
        self.rows.append(Row(section, name, value, unit, target, ok, note))


def fmt_value(v, unit):
    if v is None:
        return "n/a"
    if unit == "events/s":
        return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v:,.0f} /s"
    if unit == "x":
        return f"{v:,.0f}x" if v >= 1000 else f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"
    if unit == "s":
        return f"{v:.2f} s" if v < 100 else f"{v:.0f} s"
    if unit == "reps/s":
        return f"{v:.1f} /s"
    if unit == "MiB":
        return f"{v:,.0f} MiB"
    if unit == "B/task":
        return f"{v:,.0f} B"
    if unit == "tasks":
        return f"{v:,.0f}"
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "ms":
        return f"{v:.2f} ms"
    if unit == "%":
        return f"{v:.1f}%"
    if unit == "cores":
        return f"{v:.2f}"
    if unit == "bool":
        return "yes" if v else "NO"
    return f"{v:g} {unit}".strip()


def _cells(r: Row):
    met = "" if r.ok is None else ("yes" if r.ok else "NO")
    name = r.name + (f" ({r.note})" if r.note else "")
    return [r.section, name, fmt_value(r.value, r.unit), r.target, met]


HEADER = ["", "Figure", "Value", "Target", "Met"]


def format_text(report: Report) -> str:
    rows = [_cells(r) for r in report.rows]
    widths = [max(len(x) for x in col) for col in zip(HEADER, *rows)]
    right = {2}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(HEADER), line(["-" * w for w in widths])]
    prev = None
    for r, cells in zip(report.rows, rows):
        if prev is not None and r.section != prev:
            out.append("")
        prev = r.section
        out.append(line(cells))
    return "\n".join(x.rstrip() for x in out)


def format_markdown(report: Report) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---", "---", "---:", "---", "---"]) + "|"]
    for r in report.rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    return "\n".join(out)


# ----------------------------------------------------------------------------- machine

def machine_info() -> dict:
    model = "unknown"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    commit, dirty = "unknown", None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        st = subprocess.run(["git", "status", "--porcelain", "--", "fastpipesim"], cwd=ROOT,
                            capture_output=True, text=True, timeout=10).stdout
        dirty = bool(st.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    import numba
    import simpy

    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model,
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "simpy": simpy.__version__,
        "commit": commit,
        "package_uncommitted_changes": dirty,
        "loadavg_start": os.getloadavg()[0],
    }


def describe_machine(m: dict) -> str:
    busy = m.get("loadavg_start", 0.0) > 0.5 or m.get("loadavg_end", 0.0) > 1.5
    s = (f"{m['date_utc']}, {m['cpu_model']}, {m['cores']} cores, Python {m['python']}, "
         f"numba {m['numba']}, simpy {m['simpy']}, commit {m['commit']}"
         + (" (package with uncommitted changes)" if m.get("package_uncommitted_changes") else "")
         + f". Load average {m['loadavg_start']:.1f} at the start, {m.get('loadavg_end', float('nan')):.1f}"
           " at the end")
    if busy:
        s += (": other processes were running, so absolute figures are low and thread scaling "
              "is understated; the ratios measured side by side are the figures to read")
    return s + "."


# ----------------------------------------------------------------------------- timing helpers

class Clock:
    """Accumulated seconds of named functions while inside the block (single thread only).

    ``spec`` is ``[(module name, attribute, slot)]``: each attribute of the module
    is replaced by a wrapper that adds its time to ``seconds[slot]``, whatever
    arguments it is called with, so the calls timed are exactly those the code
    under test makes (a function another module imported by name is wrapped in
    that module). A slot stays 0 if the function is no longer called.
    """

    def __init__(self, spec):
        self.spec = spec

    def __enter__(self):
        self._saved = []
        self.seconds = {slot: 0.0 for _, _, slot in self.spec}
        self.calls = {slot: 0 for _, _, slot in self.spec}
        for mod_name, name, slot in self.spec:
            # the module, not a function of the same name that fastpipesim exports
            mod = importlib.import_module(mod_name)
            f = getattr(mod, name, None)
            if f is None:
                continue
            self._saved.append((mod, name, f))

            def timed(*args, _f=f, _slot=slot, **kw):
                t = time.perf_counter()
                try:
                    return _f(*args, **kw)
                finally:
                    self.seconds[_slot] += time.perf_counter() - t
                    self.calls[_slot] += 1

            setattr(mod, name, timed)
        return self

    def __exit__(self, *exc):
        for mod, name, f in reversed(self._saved):
            setattr(mod, name, f)
        return False


class KernelClock(Clock):
    """Time the compiled kernels inside ``simulate``: ``seconds`` is ``{"kernel": s, "summary": s}``."""

    # the event loop is the general one or, for jobs (one-task pipelines), the lean one (engine/jobs.py)
    NAMES = (("run_replication_nb", "kernel"), ("run_jobs_nb", "kernel"),
             ("summarize_replication_nb", "summary"))

    def __init__(self):
        super().__init__([("fastpipesim.simulate", name, slot) for name, slot in self.NAMES])


def timed_engine(run, min_seconds):
    """Run ``run()`` (one simulate on one thread) in a loop lasting at least ``min_seconds``.

    Returns per-call seconds: wall, kernel, summary, and the last Results.
    """
    n = 0
    wall = 0.0
    with KernelClock() as clock:
        while True:
            t = time.perf_counter()
            res = run()
            wall += time.perf_counter() - t
            n += 1
            if wall >= min_seconds:
                break
    k = clock.seconds["kernel"] / n or None
    s = clock.seconds["summary"] / n or None
    return wall / n, k, s, res


def med(xs):
    xs = [x for x in xs if x is not None]
    return median(xs) if xs else None


def rate(events, seconds):
    return events / seconds if seconds else None


def ratio(a, b):
    return a / b if a and b else None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- workloads

def _single_task_batch(submit, cpu, gpu, mem, duration, type_name="job"):
    """A batch of one-task pipelines ("jobs"), one replication."""
    n = len(submit)
    empty = np.zeros(0, np.int64)
    arrays = build_arrays(
        pipeline_id=np.arange(n, dtype=np.int64), submit=submit, model=np.zeros(n, np.int64),
        priority=np.zeros(n, np.int64), task_count=np.ones(n, np.int64),
        task_type=np.full(n, len(STANDARD_TYPES), np.int64), cpu=cpu, gpu=gpu, mem=mem,
        duration=duration, edge_pred=empty, edge_succ=empty,
    )
    return Batch(arrays=arrays, type_names=STANDARD_TYPES + (type_name,),
                 task_names=np.full(n, type_name, dtype=object), replications=np.array([0], np.int64))


def single_task_tables(batch: Batch) -> dict:
    """The SimPy model's input tables for a batch of one-task pipelines."""
    wa = batch.arrays
    n = wa.n_pipelines
    return {
        "pipelines": pd.DataFrame({"pipeline_id": wa.pipeline_id, "submit_time": wa.submit}),
        "tasks": pd.DataFrame({"pipeline_id": wa.pipeline_id, "task": batch.task_names,
                               "type": np.full(n, batch.type_names[-1], dtype=object), "cpu": wa.cpu,
                               "gpu": wa.gpu, "mem_gb": wa.mem, "duration": wa.duration,
                               "after": np.full(n, "", dtype=object)}),
    }


def single_queue(n_jobs: int, rho: float = 0.9, seed: int = SEED):
    """M/M/1 at utilization rho: (workload or None, batch, cluster of one node)."""
    try:
        from fastpipesim.queueing import QueueWorkload

        wl = QueueWorkload(rate=rho, service_mean=1.0, service="exp", n_jobs=int(n_jobs))
        return wl, wl.generate(seed, 0), wl.cluster(1)
    except ImportError:  # queueing.py not there yet: the same queue by hand
        rng = np.random.default_rng(seed)
        submit = np.cumsum(rng.standard_exponential(n_jobs) / rho)
        dur = rng.standard_exponential(n_jobs)
        one = np.ones(n_jobs)
        batch = _single_task_batch(submit, one, 0 * one, 0 * one, dur)
        cl = fps.Cluster.from_pools([{"pool": "server", "count": 1, "cpu": 1.0, "gpu": 0.0, "mem_gb": 0.0}])
        return None, batch, cl


# Request shapes of the overloaded case (cpu, gpu, mem_gb) and their shares:
# small CPU jobs, medium CPU jobs, single-GPU and multi-GPU training.
OVER_SHAPES = np.array([(1, 0, 4), (2, 0, 8), (4, 0, 16), (8, 0, 32), (8, 1, 40), (16, 2, 96)],
                       dtype=np.float64)
OVER_SHARES = np.array([0.30, 0.20, 0.20, 0.10, 0.15, 0.05])
OVER_NODE = {"cpu": 32.0, "gpu": 4.0, "mem_gb": 256.0}


def overloaded(n_tasks: int, n_nodes: int, load: float, seed: int = SEED, mean_duration: float = 600.0):
    """One-task pipelines of several request shapes arriving at ``load`` x the cluster's capacity.

    Poisson arrivals at ``load`` times the rate the busiest resource (cpu or gpu) of
    ``n_nodes`` nodes can serve, log-normal durations (mean 600 s, cv ~0.9). At load
    2 the ready queue grows at about the service rate until arrivals stop, so its
    peak is about half the tasks. The same draws at another load give the same tasks
    with arrivals stretched: an uncongested run of the same work.
    """
    rng = np.random.default_rng(seed)
    shape = rng.choice(len(OVER_SHAPES), n_tasks, p=OVER_SHARES)
    req = OVER_SHAPES[shape]
    sigma = 0.8
    dur = rng.lognormal(math.log(mean_duration) - 0.5 * sigma ** 2, sigma, n_tasks)
    gaps = rng.standard_exponential(n_tasks)
    per_task = max((req[:, 0] * dur).mean() / (OVER_NODE["cpu"] * n_nodes),
                   (req[:, 1] * dur).mean() / (OVER_NODE["gpu"] * n_nodes))  # node-seconds of the binding dim
    submit = np.cumsum(gaps * per_task / load)
    batch = _single_task_batch(submit, req[:, 0], req[:, 1], req[:, 2], dur)
    cluster = fps.Cluster.from_pools(
        [{"pool": "node", "count": int(n_nodes), **OVER_NODE, "speed": 1.0, "price_per_hour": 0.0}],
        source=f"overloaded({n_nodes} nodes)")
    return batch, cluster


def peak_ready_queue(ready, start) -> int:
    """Largest number of ready, not started tasks after a scheduling pass (from task records)."""
    ready = np.asarray(ready, np.float64)
    start = np.asarray(start, np.float64)
    ready = ready[np.isfinite(ready)]
    start = start[np.isfinite(start)]
    t = np.concatenate([ready, start])
    d = np.concatenate([np.ones(len(ready), np.int64), -np.ones(len(start), np.int64)])
    order = np.argsort(t, kind="stable")
    t, c = t[order], np.cumsum(d[order])
    last_of_time = np.r_[t[1:] != t[:-1], True]  # the queue as the pass at that time leaves it
    return int(c[last_of_time].max()) if len(c) else 0


def same_schedule(engine_tasks: pd.DataFrame, simpy_tasks: pd.DataFrame) -> bool:
    """Identical start and end times (as floats) and nodes, task by task."""
    if len(engine_tasks) != len(simpy_tasks):
        return False
    ok = True
    for col in ("start", "end"):
        ok &= np.array_equal(engine_tasks[col].to_numpy(np.float64), simpy_tasks[col].to_numpy(np.float64),
                             equal_nan=True)
    ok &= np.array_equal(engine_tasks["node"].to_numpy(np.int64), simpy_tasks["node"].to_numpy(np.int64))
    return bool(ok)


# ----------------------------------------------------------------------------- a. default workload

def bench_default(sz: Sizes, rep: Report):
    sec = "a. default workload"
    log(f"[{sec}] {sz.simpy_reps} replications, SimPy x{sz.simpy_repeats}, engine x{sz.repeats}")
    wl = ModelOpsWorkload()
    cl = fps.default_cluster()
    reps = list(range(sz.simpy_reps))
    # the scheduling model of MODEL.md 1-6, which the SimPy model runs without a models
    # table: the lifecycle off (section h measures it on, against SimPy with it too)
    kw = dict(policy="fifo", placement="first_fit", backfill=True, horizon=HORIZON)
    ekw = dict(kw, lifecycle=False)
    batch = wl.batch(SEED, reps)
    tables = [wl.tables(SEED, r) for r in reps]  # built outside SimPy's timing
    fps.simulate(batch, cl, threads=1, progress=False, **ekw)  # compile or load the kernels

    def run_simpy():
        return [simulate_simpy(tb["pipelines"], tb["tasks"], cl.pools, **kw) for tb in tables]

    def run_batch():
        res = fps.simulate(batch, cl, threads=1, progress=False, **ekw)
        res.summary
        return res

    def run_e2e():
        res = fps.simulate(ModelOpsWorkload(), cl, replications=len(reps), seed=SEED, threads=1,
                           progress=False, **ekw)
        res.summary
        return res

    simpy_s, wall_b, kern, summ, wall_e = [], [], [], [], []
    simpy_out = None
    for i in range(max(sz.repeats, sz.simpy_repeats)):
        if i < sz.simpy_repeats:
            t = time.perf_counter()
            simpy_out = run_simpy()
            simpy_s.append(time.perf_counter() - t)
        if i < sz.repeats:
            w, k, s, res = timed_engine(run_batch, sz.min_seconds)
            wall_b.append(w)
            kern.append(k)
            summ.append(s)
            w, _, _, res_e = timed_engine(run_e2e, sz.min_seconds)
            wall_e.append(w)
    events = res.n_events
    simpy_events = sum(o.n_events for o in simpy_out)

    # like for like: the same schedule, task by task, and the same event count
    rec = fps.simulate(batch, cl, threads=1, progress=False, record_tasks=True, **ekw).tasks
    agree = all(same_schedule(rec[rec["replication"] == r].reset_index(drop=True), o.tasks)
                for r, o in zip(reps, simpy_out))
    agree = agree and events == simpy_events == res_e.n_events

    r_simpy = rate(simpy_events, med(simpy_s))
    r_kern = rate(events, med(kern))
    r_batch = rate(events, med(wall_b))
    r_e2e = rate(events, med(wall_e))
    n_tasks = batch.arrays.n_tasks
    note = f"{len(reps)} reps, {events:,} events, {n_tasks:,} tasks"
    rep.add(sec, "SimPy model", r_simpy, "events/s", note=note)
    rep.add(sec, "engine, kernel only", r_kern, "events/s")
    rep.add(sec, "engine, simulate(Batch)", r_batch, "events/s", note="+ request shapes, summaries")
    rep.add(sec, "engine, simulate(ModelOpsWorkload())", r_e2e, "events/s", note="+ generation")
    for name, r, tgt in (("kernel", r_kern, TARGET_SIMPY_RATIO), ("simulate(Batch)", r_batch, TARGET_SIMPY_RATIO),
                         ("simulate(ModelOpsWorkload())", r_e2e, TARGET_E2E_RATIO)):
        x = ratio(r, r_simpy)
        rep.add(sec, f"ratio engine/SimPy, {name}", x, "x", target=f">= {tgt:g}x",
                ok=None if x is None else x >= tgt)
    rep.add(sec, "same schedule as SimPy (start, end, node of every task)", agree, "bool", ok=agree)
    rep.raw["default"] = {
        "replications": reps, "events": events, "simpy_events": simpy_events, "tasks": n_tasks,
        "simpy_seconds": simpy_s, "engine_kernel_seconds": kern, "engine_summary_seconds": summ,
        "engine_simulate_batch_seconds": wall_b, "engine_end_to_end_seconds": wall_e,
        "simpy_events_per_s": r_simpy, "kernel_events_per_s": r_kern,
        "simulate_batch_events_per_s": r_batch, "end_to_end_events_per_s": r_e2e,
        "ratio_kernel": ratio(r_kern, r_simpy), "ratio_simulate_batch": ratio(r_batch, r_simpy),
        "ratio_end_to_end": ratio(r_e2e, r_simpy), "same_schedule": agree,
    }


# ----------------------------------------------------------------------------- b. threads

_SPIN = []


def parallel_ceiling(n_threads: int) -> float:
    """Speedup of a trivially parallel compiled loop on ``n_threads`` threads, right now.

    The most any code can gain from threads on this machine at this moment: about
    ``n_threads`` on an idle machine, less when other processes hold cores. The
    engine's speedup is read against it.
    """
    import threading

    if not _SPIN:
        from numba import njit

        @njit(nogil=True)
        def spin(n):
            s = 0.0
            for i in range(n):
                s += (i % 7) * 1e-9
            return s

        spin(10)
        _SPIN.append(spin)
    spin = _SPIN[0]
    n = 30_000_000
    t = time.perf_counter()
    spin(n)
    one = time.perf_counter() - t
    threads = [threading.Thread(target=spin, args=(n,)) for _ in range(n_threads)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return n_threads * one / (time.perf_counter() - t)


def bench_threads(sz: Sizes, rep: Report):
    sec = "b. threads"
    from fastpipesim.simulate import default_threads

    n_all = default_threads()
    counts = sorted({1, 2, n_all})
    R = sz.thread_reps
    log(f"[{sec}] {R} replications with threads {counts}, x{sz.repeats}")
    wl = ModelOpsWorkload()
    cl = fps.default_cluster()
    kw = dict(horizon=HORIZON, progress=False, lifecycle=False)  # as section a (h: the lifecycle)
    batch = wl.batch(SEED, range(R))
    fps.simulate(batch, cl, threads=max(counts), **kw)  # warm the pool path too

    e2e = {n: [] for n in counts}
    kern = {n: [] for n in counts}
    cores = {n: [] for n in counts}  # CPU seconds of this process per wall second: the cores it got
    ceiling = {n: [] for n in counts if n > 1}
    for i in range(sz.repeats):
        for n in ceiling:  # measured between the engine's runs, under the same load
            ceiling[n].append(parallel_ceiling(n))
        # alternate the order, so that a load change does not favour one thread count
        for n in (counts if i % 2 == 0 else counts[::-1]):
            t, c = time.perf_counter(), time.process_time()
            fps.simulate(wl, cl, replications=R, seed=SEED, threads=n, **kw).summary
            e2e[n].append(time.perf_counter() - t)
            t = time.perf_counter()
            fps.simulate(batch, cl, threads=n, **kw).summary
            kern[n].append(time.perf_counter() - t)
            cores[n].append((time.process_time() - c) / (e2e[n][-1] + kern[n][-1]))
    events = fps.simulate(batch, cl, threads=max(counts), **kw).n_events
    raw = {"replications": R, "events": events, "threads": counts, "end_to_end_seconds": e2e,
           "simulate_batch_seconds": kern, "cores_used": cores}
    for label, d in (("simulate(ModelOpsWorkload())", e2e), ("simulate(Batch)", kern)):
        for n in counts:
            rep.add(sec, f"{label}, {n} thread{'s' if n > 1 else ''}", R / med(d[n]), "reps/s",
                    note=f"{R} reps" if n == 1 and label.startswith("simulate(M") else "")
        for n in counts:
            if n == 1:
                continue
            x = med(d[1]) / med(d[n])
            tgt = f">= {TARGET_THREAD_RATIO:g}x" if n == 2 else ""
            rep.add(sec, f"{label}, {n} threads / 1 thread", x, "x", target=tgt,
                    ok=(x >= TARGET_THREAD_RATIO) if n == 2 else None)
            raw[f"speedup_{'end_to_end' if 'Model' in label else 'simulate_batch'}_{n}"] = x
    for n in counts:
        if n > 1:
            rep.add(sec, f"CPU time / wall time of the {n}-thread runs", med(cores[n]), "cores",
                    note=f"{n} means the threads got {n} cores; less: the machine was busy")
            rep.add(sec, f"ceiling: a trivially parallel loop, {n} threads / 1 thread", med(ceiling[n]), "x",
                    note="what this machine gave any code at the time")
            raw[f"parallel_ceiling_{n}"] = ceiling[n]
    # Amdahl: the compiled kernels run on the pool, the rest (generation, request shapes,
    # the summary DataFrame) in the calling thread; a load-independent view of the scaling
    for label, run in (("simulate(ModelOpsWorkload())",
                        lambda: fps.simulate(wl, cl, replications=R, seed=SEED, threads=1, **kw).summary),
                       ("simulate(Batch)", lambda: fps.simulate(batch, cl, threads=1, **kw).summary)):
        with KernelClock() as clock:
            t = time.perf_counter()
            run()
            total = time.perf_counter() - t
        par = clock.seconds["kernel"] + clock.seconds["summary"]
        if par > 0:
            for n in counts:
                if n > 1:
                    est = total / (total - par + par / n)
                    rep.add(sec, f"{label}, Amdahl estimate for {n} threads, no overlap", est, "x",
                            note=f"{1 - par / total:.0%} of the 1-thread time outside the kernels")
                    raw[f"amdahl_{'end_to_end' if 'Model' in label else 'simulate_batch'}_{n}"] = est
    # events/s over many replications: the fixed cost of a call (request shapes, the
    # summary DataFrame) is spread thin, unlike in section a's few replications
    simpy_rate = rep.raw.get("default", {}).get("simpy_events_per_s")
    for n in (1, max(counts)):
        r = rate(events, med(e2e[n]))
        rep.add(sec, f"simulate(ModelOpsWorkload()), {n} thread{'s' if n > 1 else ''}", r, "events/s",
                note=f"{events:,} events")
        if simpy_rate:
            x = ratio(r, simpy_rate)
            tgt = f">= {TARGET_SIMPY_RATIO:g}x" if n == 1 else ""
            rep.add(sec, f"  ratio to SimPy (section a), {n} thread{'s' if n > 1 else ''}", x, "x",
                    target=tgt,
                    ok=(x >= TARGET_SIMPY_RATIO) if n == 1 else None)
        raw[f"end_to_end_events_per_s_{n}"] = r
    if n_all < 2:
        rep.add(sec, "only one core available: no thread scaling to measure", None, "")
    rep.raw["threads"] = raw


# ----------------------------------------------------------------------------- c. single queue

def bench_queue(sz: Sizes, rep: Report):
    sec = "c. single queue"
    n = sz.queue_jobs
    log(f"[{sec}] M/M/1, {n:,} jobs, x{sz.repeats}")
    gen_s = []
    wl, batch, cl = None, None, None
    for _ in range(sz.repeats):
        t = time.perf_counter()
        wl, batch, cl = single_queue(n)
        gen_s.append(time.perf_counter() - t)
    kw = dict(threads=1, progress=False)
    small = single_queue(1000)
    fps.simulate(small[1], small[2], **kw)
    wall, kern, summ = [], [], []
    for _ in range(sz.repeats):
        w, k, s, res = timed_engine(lambda: _summarized(fps.simulate(batch, cl, **kw)), 0.0)
        wall.append(w)
        kern.append(k)
        summ.append(s)
    events = res.n_events
    r_kern = rate(events, med(kern))
    r_batch = rate(events, med(wall))
    r_e2e = rate(events, med(wall) + med(gen_s))
    src = "QueueWorkload" if wl is not None else "build_arrays"
    rep.add(sec, "kernel only", r_kern, "events/s", target=f">= {TARGET_QUEUE_KERNEL / 1e6:g} M/s",
            ok=None if r_kern is None else r_kern >= TARGET_QUEUE_KERNEL,
            note=f"{n:,} jobs, {events:,} events, rho 0.9, one node")
    rep.add(sec, "simulate(Batch)", r_batch, "events/s", target=f">= {TARGET_QUEUE_SIMULATE / 1e6:g} M/s",
            ok=r_batch >= TARGET_QUEUE_SIMULATE, note="+ summaries")
    rep.add(sec, f"generation ({src}) + simulate", r_e2e, "events/s")
    rep.add(sec, "time in the summary kernel", med(summ), "s")
    rep.add(sec, "time generating the jobs", med(gen_s), "s")
    rep.raw["queue"] = {"jobs": n, "events": events, "kernel_seconds": kern, "summary_seconds": summ,
                        "simulate_batch_seconds": wall, "generation_seconds": gen_s,
                        "kernel_events_per_s": r_kern, "simulate_batch_events_per_s": r_batch,
                        "end_to_end_events_per_s": r_e2e, "source": src}


def _summarized(res):
    res.summary
    return res


# ----------------------------------------------------------------------------- d. overloaded cluster

def bench_overloaded(sz: Sizes, rep: Report):
    sec = "d. overloaded cluster"
    N, nodes = sz.over_tasks, sz.over_nodes
    log(f"[{sec}] {N:,} tasks on {nodes} nodes at load 2 and 0.5, x{sz.repeats}; SimPy {sz.simpy_over}")
    kw = dict(policy="fifo", placement="first_fit", backfill=True)
    hot, cl = overloaded(N, nodes, load=2.0)
    cold, _ = overloaded(N, nodes, load=0.5)
    warm_b, warm_cl = overloaded(200, 4, load=2.0)
    fps.simulate(warm_b, warm_cl, threads=1, progress=False, **kw)

    def runner(b, c):
        return lambda: _summarized(fps.simulate(b, c, threads=1, progress=False, **kw))

    w_hot, k_hot, w_cold, k_cold = [], [], [], []
    for _ in range(sz.repeats):
        w, k, _, res_hot = timed_engine(runner(hot, cl), 0.0)
        w_hot.append(w)
        k_hot.append(k)
        w, k, _, res_cold = timed_engine(runner(cold, cl), 0.0)
        w_cold.append(w)
        k_cold.append(k)
    events = res_hot.n_events
    rec = fps.simulate(hot, cl, threads=1, progress=False, record_tasks=True, **kw).tasks
    peak = peak_ready_queue(rec["ready"], rec["start"])
    mean_q = float(res_hot.summary["queue_length_mean"].iloc[0])
    n_shapes = len(OVER_SHAPES)

    r_hot_k, r_hot_b = rate(events, med(k_hot)), rate(events, med(w_hot))
    r_cold_k, r_cold_b = rate(res_cold.n_events, med(k_cold)), rate(res_cold.n_events, med(w_cold))
    rep.add(sec, "peak ready queue", peak, "tasks", target=f">= {TARGET_OVERLOAD_QUEUE:,}",
            ok=peak >= TARGET_OVERLOAD_QUEUE,
            note=f"{N:,} tasks, {nodes} nodes, {n_shapes} request shapes, load 2")
    rep.add(sec, "mean ready queue (time average)", mean_q, "tasks")
    rep.add(sec, "overloaded, kernel only", r_hot_k, "events/s")
    rep.add(sec, "overloaded, simulate(Batch)", r_hot_b, "events/s")
    rep.add(sec, "same tasks uncongested (load 0.5), kernel only", r_cold_k, "events/s")
    rep.add(sec, "same tasks uncongested (load 0.5), simulate(Batch)", r_cold_b, "events/s")
    for name, x in (("kernel only", ratio(r_hot_k, r_cold_k)), ("simulate(Batch)", ratio(r_hot_b, r_cold_b))):
        rep.add(sec, f"overloaded / uncongested, {name}", x, "x", target=f">= {TARGET_OVERLOAD_RATIO:g}x",
                ok=None if x is None else x >= TARGET_OVERLOAD_RATIO)

    # the SimPy model on a smaller overloaded case, and the engine on the same one
    n_small, nodes_small = sz.simpy_over
    sb, scl = overloaded(n_small, nodes_small, load=2.0)
    tb = single_task_tables(sb)
    s_s, s_k, s_w = [], [], []
    for i in range(max(sz.simpy_over_repeats, sz.repeats)):
        if i < sz.simpy_over_repeats:
            t = time.perf_counter()
            sp = simulate_simpy(tb["pipelines"], tb["tasks"], scl.pools, **kw)
            s_s.append(time.perf_counter() - t)
        if i < sz.repeats:
            w, k, _, res_small = timed_engine(runner(sb, scl), sz.min_seconds)
            s_w.append(w)
            s_k.append(k)
    rec_small = fps.simulate(sb, scl, threads=1, progress=False, record_tasks=True, **kw).tasks
    agree = same_schedule(rec_small, sp.tasks) and sp.n_events == res_small.n_events
    peak_small = peak_ready_queue(rec_small["ready"], rec_small["start"])
    r_sp = rate(sp.n_events, med(s_s))
    r_sk, r_sb = rate(res_small.n_events, med(s_k)), rate(res_small.n_events, med(s_w))
    rep.add(sec, "small overloaded case, SimPy model", r_sp, "events/s",
            note=f"{n_small:,} tasks, {nodes_small} nodes, peak queue {peak_small:,}")
    rep.add(sec, "small overloaded case, engine kernel only", r_sk, "events/s")
    rep.add(sec, "small overloaded case, ratio engine/SimPy, kernel only", ratio(r_sk, r_sp), "x")
    rep.add(sec, "small overloaded case, ratio engine/SimPy, simulate(Batch)", ratio(r_sb, r_sp), "x")
    rep.add(sec, "large overloaded engine (simulate) / small overloaded SimPy", ratio(r_hot_b, r_sp), "x")
    rep.add(sec, "small case: same schedule as SimPy", agree, "bool", ok=agree)
    rep.raw["overloaded"] = {
        "tasks": N, "nodes": nodes, "shapes": OVER_SHAPES.tolist(), "shares": OVER_SHARES.tolist(),
        "events": events, "peak_ready_queue": peak, "mean_ready_queue": mean_q,
        "overloaded_kernel_seconds": k_hot, "overloaded_simulate_seconds": w_hot,
        "uncongested_kernel_seconds": k_cold, "uncongested_simulate_seconds": w_cold,
        "overloaded_kernel_events_per_s": r_hot_k, "overloaded_simulate_events_per_s": r_hot_b,
        "uncongested_kernel_events_per_s": r_cold_k, "uncongested_simulate_events_per_s": r_cold_b,
        "small": {"tasks": n_small, "nodes": nodes_small, "events": sp.n_events,
                  "peak_ready_queue": peak_small,
                  "simpy_seconds": s_s, "engine_kernel_seconds": s_k, "engine_simulate_seconds": s_w,
                  "simpy_events_per_s": r_sp, "engine_kernel_events_per_s": r_sk,
                  "engine_simulate_events_per_s": r_sb, "same_schedule": agree},
    }


# ----------------------------------------------------------------------------- e. compile and start

def run_python(code: str, env=None, timeout=600):
    """Run ``python -c code`` in a fresh process: (wall seconds, last stdout line parsed as JSON or None)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                       cwd=str(ROOT), timeout=timeout)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"subprocess failed ({p.returncode}):\n{p.stderr[-3000:]}")
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    try:
        return wall, json.loads(last)
    except json.JSONDecodeError:
        return wall, None


FIRST_RUN = textwrap.dedent("""
    import json, time
    t0 = time.perf_counter()
    import fastpipesim as fps
    from fastpipesim.modelops import ModelOpsWorkload
    t1 = time.perf_counter()
    fps.simulate(ModelOpsWorkload(days=1), replications=2, threads=1, horizon=86400.0, progress=False).summary
    t2 = time.perf_counter()
    fps.simulate(ModelOpsWorkload(days=1), replications=2, threads=1, horizon=86400.0, progress=False).summary
    t3 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
""")


def _cli_command():
    exe = Path(sys.executable).parent / "fastpipesim"
    argv = ["run", "--replications", "2", "--days", "1", "--warmup-days", "0", "--quiet"]
    for cmd in ([str(exe)], [sys.executable, "-m", "fastpipesim"]):
        if cmd[0] != sys.executable and not exe.exists():
            continue
        try:
            p = subprocess.run(cmd + argv, capture_output=True, text=True, cwd=str(ROOT), timeout=300)
        except (OSError, subprocess.SubprocessError):
            continue
        if p.returncode == 0:
            return cmd + argv
    return None


def bench_startup(sz: Sizes, rep: Report):
    sec = "e. compile and start"
    raw = {}
    if sz.cold_compile:
        log(f"[{sec}] cold compile in a fresh NUMBA_CACHE_DIR (tens of seconds)")
        with tempfile.TemporaryDirectory(prefix="fps-numba-cache-") as cache:
            wall, cold = run_python(FIRST_RUN, env={"NUMBA_CACHE_DIR": cache})
            wall_w, warm = run_python(FIRST_RUN, env={"NUMBA_CACHE_DIR": cache})
        rep.add(sec, "cold: first simulate, empty cache (compile)", cold["first"], "s",
                note="tiny run: 2 reps of 1 day")
        rep.add(sec, "cold: whole process", wall, "s")
        rep.add(sec, "warm cache: first simulate (cache load)", warm["first"], "s")
        rep.add(sec, "warm cache: whole process", wall_w, "s")
        raw.update(cold=cold, cold_process_seconds=wall, warm=warm, warm_process_seconds=wall_w)
        exe = Path(sys.executable).parent / "fastpipesim"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "fastpipesim"]
        with tempfile.TemporaryDirectory(prefix="fps-numba-cache-") as cache:
            t = time.perf_counter()
            subprocess.run(cmd + ["run", "--quiet"], capture_output=True, cwd=str(ROOT), check=True, timeout=900,
                           env=dict(os.environ, NUMBA_CACHE_DIR=cache))
            cold_run = time.perf_counter() - t
        rep.add(sec, "cold: fastpipesim run (defaults: 100 reps of a week), empty cache", cold_run, "s",
                target=f"< {TARGET_COLD_RUN:g} s", ok=cold_run < TARGET_COLD_RUN, note="compile included")
        raw.update(cold_cli_run_seconds=cold_run)
    else:
        rep.add(sec, "cold compile: skipped in --quick (run the full script)", None, "")
    log(f"[{sec}] warm start and import time, x{sz.subprocess_repeats}")
    cmd = _cli_command()  # also warms the default cache
    if cmd is not None:
        label = "fastpipesim run --replications 2 --days 1 --warmup-days 0 --quiet"
        walls = []
        for _ in range(sz.subprocess_repeats):
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, cwd=str(ROOT), check=True, timeout=300)
            walls.append(time.perf_counter() - t)
    else:
        label = "python -c: import + tiny simulate (the CLI is not usable)"
        run_python(FIRST_RUN)
        walls = [run_python(FIRST_RUN)[0] for _ in range(sz.subprocess_repeats)]
    w = med(walls)
    rep.add(sec, f"warm start: {label}", w, "s", target=f"< {TARGET_WARM_START:g} s",
            ok=w < TARGET_WARM_START)
    imports, deps = [], []
    for _ in range(max(sz.subprocess_repeats, 3)):  # alternately, so that load hits both alike
        imports.append(run_python("import fastpipesim")[0])
        deps.append(run_python("import numba, pandas")[0])
    bare = [run_python("pass")[0] for _ in range(sz.subprocess_repeats)]
    rep.add(sec, "python -c 'import fastpipesim'", med(imports), "s",
            note=f"bare interpreter {med(bare):.2f} s")
    over = med(imports) - med(deps)
    rep.add(sec, "  import fastpipesim minus import numba, pandas", over, "s",
            target=f"<= {TARGET_IMPORT_OVER:g} s", ok=over <= TARGET_IMPORT_OVER,
            note=f"numba + pandas {med(deps):.2f} s")
    raw.update(warm_start_command=cmd, warm_start_seconds=walls, import_seconds=imports,
               bare_python_seconds=bare, numba_pandas_import_seconds=deps)
    rep.raw["startup"] = raw


# ----------------------------------------------------------------------------- f. memory

MEMORY_RUN = textwrap.dedent("""
    import json, resource, time
    import fastpipesim as fps
    from fastpipesim.modelops import ModelOpsWorkload

    def peak_mib():
        # VmHWM, the peak RSS of this process's memory; getrusage's ru_maxrss is kept
        # across exec on Linux, so it starts at the size of the benchmark that forked us
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux

    t = time.perf_counter()
    fps.simulate(ModelOpsWorkload(days=1), replications=2, threads=1, horizon=86400.0, progress=False).summary
    warmup_seconds = time.perf_counter() - t
    base = peak_mib()
    t = time.perf_counter()
    res = fps.simulate(ModelOpsWorkload(), replications={n}, seed=1, horizon=7 * 86400.0,
                       record_tasks={records}, progress=False)
    res.summary
    run_peak = peak_mib()
    out = dict(base=base, peak=run_peak, seconds=time.perf_counter() - t, events=res.n_events,
               warmup_seconds=warmup_seconds)
    if {records}:
        tasks = res.tasks
        out.update(n_tasks=len(tasks), frame_peak=peak_mib())
    print(json.dumps(out))
""")


def bench_memory(sz: Sizes, rep: Report):
    sec = "f. memory"
    few, many = sz.mem_reps
    log(f"[{sec}] peak RSS of {few} and {many} replications without records; {sz.record_reps} with records")
    def measure(n, records):
        # Compiling peaks at hundreds of MiB, which would hide the run's own peak: a
        # separate process first brings the on-disk cache up to date, and a run whose
        # warm-up still compiled (the package's source changed in between) is redone.
        for _ in range(3):
            run_python(FIRST_RUN)
            wall, out = run_python(MEMORY_RUN.format(n=n, records=records))
            out["process_seconds"] = wall
            if out["warmup_seconds"] < 5.0:
                break
            log(f"[{sec}] the warm-up compiled ({out['warmup_seconds']:.0f} s): the source changed; again")
        out["compiled_in_warmup"] = out["warmup_seconds"] >= 5.0
        return out

    runs = {n: measure(n, False) for n in (few, many)}
    a, b = runs[few], runs[many]
    rep.add(sec, f"peak RSS, {few} replications, no records", a["peak"], "MiB",
            note=f"{a['base']:.0f} MiB after import and a tiny run")
    rep.add(sec, f"peak RSS, {many} replications, no records", b["peak"], "MiB",
            note=f"{b['seconds']:.1f} s, {b['events'] / b['seconds']:,.0f} events/s on all cores")
    grow = (b["peak"] - b["base"]) - (a["peak"] - a["base"])
    x = b["peak"] / a["peak"]
    rep.add(sec, f"peak RSS {many} / {few} replications", x, "x", target="~1 (no growth)", ok=x < 1.25,
            note=f"{grow:+.0f} MiB")
    r = measure(sz.record_reps, True)
    if any(o["compiled_in_warmup"] for o in (a, b, r)):
        rep.add(sec, "the package changed during the run: a baseline includes compile memory", None, "")
    per_task = (r["peak"] - r["base"]) * 2 ** 20 / r["n_tasks"]
    per_task_frame = (r["frame_peak"] - r["base"]) * 2 ** 20 / r["n_tasks"]
    rep.add(sec, "peak memory per task, record_tasks=True", per_task, "B/task",
            note=f"{sz.record_reps} reps, {r['n_tasks']:,} tasks, peak RSS over the warm process")
    rep.add(sec, "... and after building Results.tasks (DataFrame)", per_task_frame, "B/task")
    rep.raw["memory"] = {"no_records": {str(k): v for k, v in runs.items()}, "records": r,
                         "bytes_per_task": per_task, "bytes_per_task_with_frame": per_task_frame,
                         "peak_ratio": x, "growth_mib": grow}


def bench_trace_io(sz: Sizes, rep: Report) -> None:
    """g. Reading and validating a 1M-task trace from CSV and from Parquet."""
    sec = "g. trace I/O"
    wl = ModelOpsWorkload(base_rate=950.0)  # about 1M tasks in a week
    tables = wl.tables(SEED, 0)
    trace = fps.Trace.from_frames(tables["pipelines"], tables["tasks"])
    n_tasks = trace.n_tasks
    print(f"[{sec}] {n_tasks:,} tasks, CSV and Parquet, x{sz.subprocess_repeats}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, target in (("parquet", 5.0), ("csv", 20.0)):
            folder = Path(tmp) / fmt
            trace.write(folder, format=fmt)
            size = sum(f.stat().st_size for f in folder.iterdir()) / 2 ** 20
            times = []
            for _ in range(sz.subprocess_repeats):
                t = time.perf_counter()
                fps.read_trace(folder).to_batch()
                times.append(time.perf_counter() - t)
            med = median(times)
            rep.add(sec, f"read + validate + to_batch, {fmt} ({n_tasks:,} tasks, {size:.0f} MiB)", med, "s",
                    target=f"< {target:g} s", ok=med < target)
            rep.raw.setdefault("trace_io", {})[fmt] = {"seconds": times, "tasks": n_tasks, "mib": size}


# ----------------------------------------------------------------------------- h. ML model lifecycle

def _lifecycle_trace_tables(wl, seed: int, r: int, rules: bool):
    """Replication r of a ModelOps workload as trace tables the SimPy model accepts.

    ``ModelOpsWorkload.tables`` gives ``template_pipeline_id = -1`` (the generator
    draws a triggered pipeline afresh): without rules it becomes NaN (no template);
    with rules each model's template is its first pipeline of the replication, and a
    model without one gets no rule (both simulators then copy the same pipeline).
    """
    tb = wl.tables(seed, r)
    p, t, m = tb["pipelines"], tb["tasks"], tb["models"].copy()
    if rules:
        first = p.groupby("model_id")["pipeline_id"].min()
        m["template_pipeline_id"] = m["model_id"].map(first)
        # A model with no pipeline in the replication gets no rule; it still names a
        # template (the trace's first pipeline, never copied): before fcccdd9 a
        # replication rerun for more copies asked every model for at least one, which a
        # trace cannot make for a model without a template.
        none = m["template_pipeline_id"].isna()
        m.loc[none, "on_drift"] = False
        m.loc[none, "period"] = 0.0
        m.loc[none, "template_pipeline_id"] = p["pipeline_id"].iloc[0]
        m["template_pipeline_id"] = m["template_pipeline_id"].astype(np.int64)
    else:
        m["template_pipeline_id"] = np.nan
    return p, t, m


def same_lifecycle(res, ref) -> bool:
    """Same schedule (start, end, node of every task), event count and pipeline outcomes."""
    if not same_schedule(res.tasks, ref.tasks) or res.n_events != ref.n_events:
        return False
    a = res.pipelines.sort_values("pipeline_id").reset_index(drop=True)
    b = ref.pipelines.sort_values("pipeline_id").reset_index(drop=True)
    if a["pipeline_id"].tolist() != b["pipeline_id"].tolist():
        return False
    submitted = a["outcome"].astype(str) != "not_submitted"
    out_a = a["outcome"].astype(str).where(submitted, "unfinished")  # the SimPy model has no not_submitted
    return (out_a.tolist() == b["outcome"].astype(str).tolist()
            and a["triggered_by"].astype(str).tolist() == b["triggered_by"].astype(str).tolist()
            and np.array_equal(a["end"].to_numpy(np.float64), b["end"].to_numpy(np.float64), equal_nan=True))


def bench_lifecycle(sz: Sizes, rep: Report):
    sec = "h. ML model lifecycle"
    R = sz.lifecycle_reps
    log(f"[{sec}] {R} replications: lifecycle off / on / staleness / on_drift, "
        f"{sz.repeats * 3} rounds; "
        f"SimPy {sz.simpy_reps} + {sz.simpy_rules_reps} replications x{sz.simpy_repeats}")
    wl = ModelOpsWorkload()
    wd = dataclasses.replace(wl, on_drift=True)
    cl = fps.default_cluster()
    reps = list(range(R))
    kw = dict(placement="first_fit", backfill=True, horizon=HORIZON, threads=1, progress=False)
    batch, batch_d = wl.batch(SEED, reps), wd.batch(SEED, reps)
    # name: (workload, pre-generated batch, simulate's options)
    configs = {
        "off": (wl, batch, dict(policy="fifo", lifecycle=False)),
        "on": (wl, batch, dict(policy="fifo", lifecycle=True)),
        "staleness": (wl, batch, dict(policy="staleness", lifecycle=True)),
        "on_drift": (wd, batch_d, dict(policy="fifo", lifecycle=True)),
    }

    def runners(name):
        w, b, opts = configs[name]
        return (lambda: _summarized(fps.simulate(b, cl, **kw, **opts)),
                lambda: _summarized(fps.simulate(w, cl, replications=R, seed=SEED, **kw, **opts)))

    for name in configs:  # compile or load every kernel variant first
        for run in runners(name):
            run()
    widths = ("kernel", "simulate(Batch)", "simulate(ModelOpsWorkload())")
    # seconds of each call, round by round: times[width][config]
    times = {w_: {n: [] for n in configs} for w_ in widths}
    events, events_e, pipelines = {}, {}, {}
    names = list(configs)
    rounds = sz.repeats * 3
    for i in range(rounds):
        # one call of every configuration in each round, the order turned each time,
        # so that a change of load hits them alike; each call lasts 0.1-0.5 s (16 reps)
        for name in names[i % len(names):] + names[:i % len(names)]:
            run_b, run_e = runners(name)
            with KernelClock() as clock:
                t0 = time.perf_counter()
                res = run_b()
                times["simulate(Batch)"][name].append(time.perf_counter() - t0)
            times["kernel"][name].append(clock.seconds["kernel"])
            t0 = time.perf_counter()
            res_e = run_e()
            times["simulate(ModelOpsWorkload())"][name].append(time.perf_counter() - t0)
            events[name], events_e[name] = res.n_events, res_e.n_events
            pipelines[name] = int(res.summary["submitted"].sum())
    n_ev = {"kernel": events, "simulate(Batch)": events, "simulate(ModelOpsWorkload())": events_e}
    ev_rate = {n: {w_: rate(n_ev[w_][n], med(times[w_][n])) for w_ in widths} for n in configs}
    rep_time = {n: {w_: med(times[w_][n]) / R for w_ in widths} for n in configs}

    def paired(w_, a, b):
        """Median over the rounds of time(a) / time(b), both measured in the same round."""
        return med([x / y for x, y in zip(times[w_][a], times[w_][b]) if x and y])

    def cost(w_, on, off, per_event=False):
        """Throughput lost by ``on`` against ``off``, in %, from the rounds' paired ratios."""
        x = paired(w_, on, off)  # time on / time off
        if per_event:
            x *= n_ev[w_][off] / n_ev[w_][on]
        return 100.0 * (1.0 - 1.0 / x) if x else None

    tgt = f"<= {TARGET_LIFECYCLE_COST:g}%"
    rep.add(sec, "default workload, lifecycle off: events per replication", events["off"] / R, "count",
            note=f"{R} reps, {pipelines['off'] / R:,.0f} pipelines each, fifo, one thread")
    rep.add(sec, "default workload, lifecycle on (gates): events per replication", events["on"] / R, "count",
            note="rejected pipelines cancel their remaining tasks")
    for wd_name in widths:
        t_off, t_on = rep_time["off"][wd_name], rep_time["on"][wd_name]
        rep.add(sec, f"{wd_name}, time per replication, lifecycle on", t_on * 1e3, "ms",
                note=f"off: {t_off * 1e3:.2f} ms")
        c = cost(wd_name, "on", "off")
        rep.add(sec, f"{wd_name}, lifecycle cost in replications/s (1 - on/off)", c, "%", target=tgt,
                ok=None if c is None else c <= TARGET_LIFECYCLE_COST)
        r_off, r_on = ev_rate["off"][wd_name], ev_rate["on"][wd_name]
        c = cost(wd_name, "on", "off", per_event=True)
        rep.add(sec, f"{wd_name}, lifecycle cost in events/s (1 - on/off)", c, "%", target=tgt,
                ok=None if c is None else c <= TARGET_LIFECYCLE_COST,
                note=f"{r_off / 1e6:.2f} M/s off, {r_on / 1e6:.2f} M/s on")
    for wd_name in widths:
        t_fifo, t_st = rep_time["on"][wd_name], rep_time["staleness"][wd_name]
        rep.add(sec, f"staleness policy, {wd_name}, time per replication", t_st * 1e3, "ms",
                note=f"fifo {t_fifo * 1e3:.2f} ms")
        x = paired(wd_name, "staleness", "on")
        rep.add(sec, f"staleness / fifo, {wd_name}, time per replication", x, "x",
                target=f"<= {TARGET_STALENESS:g}x", ok=None if x is None else x <= TARGET_STALENESS,
                note=f"costs {cost(wd_name, 'staleness', 'on'):.0f}% of the replications/s")
    rep.add(sec, "on_drift=True: pipelines per replication", pipelines["on_drift"] / R, "count",
            note=f"{pipelines['on'] / R:,.0f} without rules; {events['on_drift'] / R:,.0f} events")
    for wd_name in widths:
        t_d, t_on = rep_time["on_drift"][wd_name], rep_time["on"][wd_name]
        r_d, r_on = ev_rate["on_drift"][wd_name], ev_rate["on"][wd_name]
        rep.add(sec, f"on_drift=True, {wd_name}", r_d, "events/s",
                note=f"{t_d * 1e3:.2f} ms per replication; without rules {r_on / 1e6:.2f} M/s, "
                     f"{t_on * 1e3:.2f} ms")
        x = paired(wd_name, "on_drift", "on")
        x = x and n_ev[wd_name]["on_drift"] / n_ev[wd_name]["on"] / x
        rep.add(sec, f"on_drift / no rules, {wd_name}, events/s", x, "x", target=f">= {TARGET_ON_DRIFT:g}x",
                ok=None if x is None else x >= TARGET_ON_DRIFT)

    # The SimPy model on the same replications as traces: gates only (the default),
    # then on_drift with each model's first pipeline as its template.
    gates = dict(accuracy_gate=wl.accuracy_gate, fairness_gate=wl.fairness_gate,
                 robustness_gate=wl.robustness_gate)
    kw_t = dict(policy="fifo", placement="first_fit", backfill=True, horizon=HORIZON)
    simpy_raw = {}
    for label, w, n_reps, rules in (("gates", wl, sz.simpy_reps, False),
                                    ("on_drift", wd, sz.simpy_rules_reps, True)):
        tables = [_lifecycle_trace_tables(w, SEED, r, rules) for r in range(n_reps)]
        traces = [fps.Trace.from_frames(p, t, m) for p, t, m in tables]

        def run_engine(record=False):
            return [fps.simulate(tr, cl, threads=1, progress=False, record_tasks=record, **kw_t, **gates)
                    for tr in traces]

        def run_simpy():
            return [simulate_simpy(p, t, cl.pools, models=m, **kw_t, **gates) for p, t, m in tables]

        run_engine()
        s_s, e_w, e_k = [], [], []
        ref = None
        for i in range(max(sz.repeats, sz.simpy_repeats)):
            if i < sz.simpy_repeats:
                t0 = time.perf_counter()
                ref = run_simpy()
                s_s.append(time.perf_counter() - t0)
            if i < sz.repeats:
                w, k, _, _ = timed_engine(run_engine, sz.min_seconds)
                e_w.append(w)
                e_k.append(k)
        res = run_engine(record=True)
        agree = all(same_lifecycle(a, b) for a, b in zip(res, ref))
        ev = sum(o.n_events for o in ref)
        ev_e = sum(o.n_events for o in res)
        r_sp, r_k, r_w = rate(ev, med(s_s)), rate(ev_e, med(e_k)), rate(ev_e, med(e_w))
        what = ("default, gates on" if not rules
                else "on_drift, template = each model's first pipeline")
        n_trig = sum(int((o.pipelines["triggered_by"].astype(str) != "exogenous").sum()) for o in ref)
        rep.add(sec, f"SimPy model, {what}", r_sp, "events/s",
                note=f"{n_reps} reps, {ev:,} events" + (f", {n_trig:,} triggered pipelines" if rules else ""))
        rep.add(sec, f"  engine / SimPy, {label}, kernel only", ratio(r_k, r_sp), "x",
                note=f"{r_k / 1e6:.2f} M/s" if r_k else "")
        rep.add(sec, f"  engine / SimPy, {label}, simulate(Trace)", ratio(r_w, r_sp), "x",
                note=f"{r_w / 1e6:.2f} M/s, + trace to arrays, summaries")
        rep.add(sec, f"  same schedule and outcomes as SimPy, {label}", agree, "bool", ok=agree,
                note="start, end, node of every task; outcome, end, trigger of every pipeline")
        simpy_raw[label] = {"replications": n_reps, "events": ev, "engine_events": ev_e,
                            "simpy_seconds": s_s, "engine_kernel_seconds": e_k, "engine_simulate_seconds": e_w,
                            "simpy_events_per_s": r_sp, "kernel_events_per_s": r_k,
                            "simulate_events_per_s": r_w, "same": agree, "triggered": n_trig}
    rep.raw["lifecycle"] = {
        "replications": reps, "events": events, "events_end_to_end": events_e, "pipelines": pipelines,
        "seconds_per_call": times, "events_per_s": ev_rate, "seconds_per_replication": rep_time,
        "cost_percent": {w_: {"replications": cost(w_, "on", "off"),
                              "events": cost(w_, "on", "off", per_event=True),
                              "staleness_vs_fifo": cost(w_, "staleness", "on")} for w_ in widths},
        "simpy": simpy_raw,
    }


# ----------------------------------------------------------------------------- i. where the time goes

# The steps of a replication, in the order they run. Generation: `_draw` holds the
# model draws and the task assembly, which are timed apart and taken out of it.
BREAKDOWN = (
    ("fastpipesim.modelops", "_draw_models", "generation: models"),
    ("fastpipesim.modelops", "_assemble", "generation: task assembly (compiled)"),
    ("fastpipesim.modelops", "_draw", "generation: draws"),
    ("fastpipesim.modelops", "_pipelines_batch", "generation: batch arrays"),
    ("fastpipesim.simulate", "request_shapes", "request shapes and fit check"),
    ("fastpipesim.simulate", "lifecycle_arrays", "lifecycle arrays"),
    ("fastpipesim.simulate", "run_replication_nb", "event loop (kernel)"),
    ("fastpipesim.simulate", "run_jobs_nb", "event loop (kernel)"),
    ("fastpipesim.simulate", "summarize_replication_nb", "summary kernel"),
)

COLD_KERNELS = textwrap.dedent("""
    import json, time
    c0 = time.process_time()
    t0 = time.perf_counter()
    import fastpipesim as fps
    t1 = time.perf_counter()
    fps.simulate(fps.ModelOpsWorkload(days=1), replications=2, threads=1, horizon=86400.0, progress=False).summary
    t2 = time.perf_counter()
    from numba.core.registry import CPUDispatcher
    from fastpipesim.engine import fpmath, generate, heaps, lifecycle, loop, summary
    compiled = {}
    for m in (loop, heaps, summary, lifecycle, fpmath, generate):
        for name, d in vars(m).items():
            if isinstance(d, CPUDispatcher):
                for cres in d.overloads.values():
                    timers = (cres.metadata or {}).get("timers", {})
                    compiled[m.__name__.split(".")[-1] + "." + name] = timers.get("compiler_lock", 0.0)
    print(json.dumps({"import": t1 - t0, "first": t2 - t1, "cpu": time.process_time() - c0,
                      "compiled": compiled}))
""")


def _breakdown(run, n_reps, repeats):
    """Median seconds per replication of each step of ``BREAKDOWN``, the DataFrame and the rest."""
    per = []
    for _ in range(repeats):
        with Clock(BREAKDOWN) as c:
            t = time.perf_counter()
            res = run()
            t_sim = time.perf_counter() - t
            t = time.perf_counter()
            res.summary
            t_frame = time.perf_counter() - t
        sec = dict(c.seconds)
        sec["generation: draws"] -= sec["generation: models"] + sec["generation: task assembly (compiled)"]
        sec["Results.summary (DataFrame)"] = t_frame
        sec["other (Python: simulate's set-up, outputs, threads)"] = t_sim - sum(
            v for k, v in sec.items() if k != "Results.summary (DataFrame)")
        sec["total"] = t_sim + t_frame
        per.append({k: v / n_reps for k, v in sec.items()})
    return {k: med([p[k] for p in per]) for k in per[0]}


def bench_breakdown(sz: Sizes, rep: Report):
    sec = "i. where the time goes"
    n = sz.lifecycle_reps
    log(f"[{sec}] default workload end to end ({n} reps, one thread), a 1M-job queue, cold start by kernel")
    cl = fps.default_cluster()
    raw = {}
    for label, lc in (("lifecycle off", False), ("lifecycle on", True)):
        def run(lc=lc):
            return fps.simulate(ModelOpsWorkload(), cl, replications=n, seed=SEED, threads=1, progress=False,
                                horizon=HORIZON, lifecycle=lc)
        run()
        b = _breakdown(run, n, sz.repeats)
        total = b.pop("total")
        rep.add(sec, f"default workload, {label}, simulate(ModelOpsWorkload()) per replication", total * 1e3,
                "ms", note=f"{n} reps, one thread")
        for step, v in b.items():
            rep.add(sec, f"  {step}", v * 1e3, "ms", note=f"{100 * v / total:.0f}%")
        raw[label] = dict(b, total=total)
    wl, batch, qcl = single_queue(sz.queue_jobs)
    fps.simulate(single_queue(100)[1], qcl, threads=1, progress=False)
    b = _breakdown(lambda: fps.simulate(batch, qcl, threads=1, progress=False), 1, sz.repeats)
    total = b.pop("total")
    rep.add(sec, f"single queue, simulate(Batch), {sz.queue_jobs:,} jobs", total, "s")
    for step, v in b.items():
        if not step.startswith("generation"):
            rep.add(sec, f"  {step}", v, "s", note=f"{100 * v / total:.0f}%")
    raw["queue"] = dict(b, total=total)
    if sz.cold_compile:
        with tempfile.TemporaryDirectory(prefix="fps-numba-cache-") as cache:
            wall, cold = run_python(COLD_KERNELS, env={"NUMBA_CACHE_DIR": cache})
        rep.add(sec, "cold start: tiny simulate(ModelOpsWorkload()), empty cache", cold["first"], "s",
                note=f"process {wall:.1f} s, CPU {cold['cpu']:.1f} s, import {cold['import']:.2f} s")
        top = sorted(cold["compiled"].items(), key=lambda kv: -kv[1])
        for name, secs in top[:6]:
            rep.add(sec, f"  compile {name} (with what it calls)", secs, "s")
        raw["cold"] = cold
    rep.raw["breakdown"] = raw


# ----------------------------------------------------------------------------- j. issue 11's paths

def dag_trace(n_pipelines: int, seed: int = 5):
    """A trace of DAG pipelines of 5 tasks (prep -> train -> {eval, check} -> deploy), several requests.

    Arrivals over 3 days with priorities 0-3; durations exponential, mean 15 min.
    :func:`dag_cluster` serves it busy but stable.
    """
    rng = np.random.default_rng(seed)
    pids = np.arange(n_pipelines)
    span = 3 * DAY * n_pipelines / 3000
    pipelines = pd.DataFrame({"pipeline_id": pids,
                              "submit_time": np.sort(rng.uniform(0, span, n_pipelines)).round(1),
                              "model_id": rng.integers(0, 20, n_pipelines),
                              "priority": rng.integers(0, 4, n_pipelines)})
    n = n_pipelines * 5
    gpu = np.tile([0.0, 1.0, 0.0, 0.0, 0.0], n_pipelines) * rng.choice([1.0, 2.0], n)
    tasks = pd.DataFrame({
        "pipeline_id": np.repeat(pids, 5), "task": np.tile(["prep", "train", "eval", "check", "deploy"], n_pipelines),
        "type": np.tile(["preprocess", "train", "evaluate", "bias_check", "deploy"], n_pipelines),
        "cpu": rng.choice([1.0, 2.0, 4.0, 8.0], n), "gpu": gpu, "mem_gb": rng.choice([4.0, 16.0, 32.0], n),
        "duration": rng.exponential(900.0, n).round(2) + 1.0,
        "after": np.tile(["", "prep", "train", "train", "eval;check"], n_pipelines),
    })
    return fps.Trace.from_frames(pipelines, tasks)


def dag_cluster():
    return fps.Cluster.from_pools([
        {"pool": "cpu", "count": 6, "cpu": 32, "gpu": 0, "mem_gb": 128},
        {"pool": "gpu", "count": 3, "cpu": 32, "gpu": 4, "mem_gb": 256, "speed": 1.5}])


SCALE_RUN = textwrap.dedent("""
    import json, time
    import fastpipesim as fps

    def peak_mib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0

    q = fps.QueueWorkload(rate=7.2, n_jobs={n})   # M/M/8 at utilization 0.9
    cl = q.cluster(8)
    fps.simulate(fps.QueueWorkload(rate=7.2, n_jobs=1000), cl, replications=1, threads=1, progress=False).summary
    base = peak_mib()
    b = q.generate(1, 0)
    t = time.perf_counter()
    res = fps.simulate(b, cl, threads=1, progress=False)
    res.summary
    seconds = time.perf_counter() - t
    print(json.dumps(dict(base=base, peak=peak_mib(), seconds=seconds, events=res.n_events, jobs={n})))
""")


def bench_issue11(sz: Sizes, rep: Report):
    sec = "j. DAG trace, scale, memory"
    n_p = sz.dag_pipelines
    log(f"[{sec}] DAG trace of {n_p:,} pipelines vs SimPy; M/M/8 at 1M and {sz.scale_jobs:,} jobs")
    kw = dict(policy="priority", placement="best_fit", backfill=True)
    trace, cl = dag_trace(n_p), dag_cluster()
    fps.simulate(dag_trace(50), cl, threads=1, progress=False, **kw)
    s_s, first, again = [], [], []
    sp = None
    for i in range(max(sz.simpy_repeats, sz.repeats)):
        if i < sz.simpy_repeats:
            t = time.perf_counter()
            sp = simulate_simpy(trace.pipelines, trace.tasks, cl.pools, **kw)
            s_s.append(time.perf_counter() - t)
        if i < sz.repeats:
            fresh = dag_trace(n_p)  # a new Trace: its first simulate converts it to arrays
            t = time.perf_counter()
            _summarized(fps.simulate(fresh, cl, threads=1, progress=False, **kw))
            first.append(time.perf_counter() - t)
            w, _, _, res = timed_engine(lambda: _summarized(fps.simulate(fresh, cl, threads=1, progress=False,
                                                                         **kw)), sz.min_seconds)
            again.append(w)
    rec = fps.simulate(trace, cl, threads=1, progress=False, record_tasks=True, **kw).tasks
    agree = same_schedule(rec, sp.tasks) and sp.n_events == res.n_events
    r_sp = rate(sp.n_events, med(s_s))
    r_first, r_again = rate(res.n_events, med(first)), rate(res.n_events, med(again))
    rep.add(sec, "DAG trace, SimPy model", r_sp, "events/s",
            note=f"{n_p:,} pipelines, {trace.n_tasks:,} tasks, priority, best_fit, {sp.n_events:,} events, "
                 f"{med(s_s):.2f} s")
    rep.add(sec, "DAG trace, simulate(Trace), first call (+ conversion to arrays)", ratio(r_first, r_sp), "x",
            note=f"{med(first) * 1e3:.0f} ms")
    x = ratio(r_again, r_sp)
    rep.add(sec, "DAG trace, simulate(Trace) again (another policy, or a campaign)", x, "x",
            target=f">= {TARGET_E2E_RATIO:g}x", ok=None if x is None else x >= TARGET_E2E_RATIO,
            note=f"{med(again) * 1e3:.0f} ms")
    rep.add(sec, "DAG trace: same schedule as SimPy", agree, "bool", ok=agree)
    runs = {}
    for n in (1_000_000, sz.scale_jobs):
        _, out = run_python(SCALE_RUN.format(n=n))
        runs[n] = out
        rep.add(sec, f"M/M/8, {n:,} jobs, simulate(Batch), one thread", out["events"] / out["seconds"], "events/s",
                note=f"peak {out['peak'] - out['base']:,.0f} MiB over the warm process")
    small, big = runs[1_000_000], runs[sz.scale_jobs]
    x = (big["events"] / big["seconds"]) / (small["events"] / small["seconds"])
    rep.add(sec, f"events/s at {sz.scale_jobs:,} jobs / at 1M", x, "x", target=f">= {TARGET_SCALE:g}x",
            ok=x >= TARGET_SCALE)
    per_job = (big["peak"] - big["base"]) * 2 ** 20 / big["jobs"]
    rep.add(sec, f"peak memory per task, {sz.scale_jobs:,} one-task jobs, no records", per_job, "B/task",
            target=f"<= {TARGET_BYTES_PER_TASK:g} B", ok=per_job <= TARGET_BYTES_PER_TASK,
            note="the workload's arrays included")
    rep.raw["issue11"] = {"dag": {"simpy_seconds": s_s, "first_seconds": first, "again_seconds": again,
                                  "events": res.n_events, "same_schedule": agree},
                          "scale": {str(k): v for k, v in runs.items()}}


# ----------------------------------------------------------------------------- main

SECTIONS = {
    "a": bench_default,
    "b": bench_threads,
    "c": bench_queue,
    "d": bench_overloaded,
    "e": bench_startup,
    "f": bench_memory,
    "g": bench_trace_io,
    "h": bench_lifecycle,
    "i": bench_breakdown,
    "j": bench_issue11,
}


def _parse_block(block: str):
    """The figures block of the README: ([(sections, machine line, mode)], {section letter: [table rows]})."""
    lines = block.splitlines()
    table = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("|  | Figure")]
    head = "\n".join(ln for ln in lines if not ln.startswith("|"))
    groups = [(m.group(1), m.group(2), m.group(3))
              for m in re.finditer(r"^Sections (\w+) measured (.*?) Mode: (.*?)\.$", head, flags=re.M)]
    if not groups:  # a block written by a run of every section it holds
        measured = re.search(r"^Measured (.*)$", head, flags=re.M)
        mode = re.search(r"^Mode: (.*?)\.$", head, flags=re.M)
        letters = re.search(r"sections (\w+)", mode.group(1)) if mode else None
        if measured and mode and letters:
            groups = [(letters.group(1), measured.group(1), mode.group(1))]
    rows = {}
    for ln in table:
        rows.setdefault(ln[2:3], []).append(ln)
    return groups, rows


def update_readme(markdown: str, machine_line: str, mode: str, chosen=None) -> None:
    """Rewrite the figures block of the README.

    A run of some sections only (``--sections``) replaces the rows of those sections
    and keeps the others' rows, each group under the line saying when and how it was
    measured, so a partial run on a busy machine does not overwrite figures it did not
    measure.
    """
    text = README.read_text()
    found = re.search(re.escape(BEGIN_MARK) + "(.*?)" + re.escape(END_MARK), text, flags=re.S)
    groups, old_rows = _parse_block(found.group(1)) if found else ([], {})
    chosen = "".join(chosen or SECTIONS)
    kept = {s: r for s, r in old_rows.items() if s not in chosen}
    if not kept:
        block = f"{BEGIN_MARK}\nMeasured {machine_line}\n\nMode: {mode}.\n\n{markdown}\n{END_MARK}"
    else:
        new_lines = markdown.splitlines()
        rows = {}
        for ln in new_lines[2:]:
            rows.setdefault(ln[2:3], []).append(ln)
        rows.update(kept)
        heads = [f"Sections {chosen} measured {machine_line} Mode: {mode}."]
        for letters, measured, old_mode in groups:
            left = "".join(s for s in letters if s in kept)
            if left:
                heads.append(f"Sections {left} measured {measured} Mode: {old_mode}.")
        table = new_lines[:2] + [ln for s in sorted(rows) for ln in rows[s]]
        block = BEGIN_MARK + "\n" + "\n\n".join(heads) + "\n\n" + "\n".join(table) + "\n" + END_MARK
    if found:
        text = text[:found.start()] + block + text[found.end():]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats; no cold compile")
    ap.add_argument("--out", metavar="FILE.json", help="write every figure and raw timing as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--update-readme", action="store_true",
                    help=f"replace the block between {BEGIN_MARK} and {END_MARK} in benchmarks/README.md")
    ap.add_argument("--sections", default="".join(SECTIONS), help="which sections to run, e.g. 'a,c' (default all)")
    args = ap.parse_args(argv)
    sz = QUICK if args.quick else FULL
    chosen = [s for s in args.sections.replace(",", "").lower() if s in SECTIONS]
    report = Report()
    m = machine_info()
    t0 = time.perf_counter()
    for s in chosen:
        SECTIONS[s](sz, report)
    m["loadavg_end"] = os.getloadavg()[0]
    m["bench_seconds"] = time.perf_counter() - t0
    mode = ("--quick" if args.quick else "full") + f", sections {''.join(chosen)}, {m['bench_seconds']:.0f} s"
    machine_line = describe_machine(m)
    text = format_markdown(report) if args.markdown else format_text(report)
    print(f"fastpipesim benchmarks ({mode})\n{machine_line}\n")
    print(text)
    missed = [r for r in report.rows if r.ok is False]
    if missed:
        print("\nmissed: " + "; ".join(f"{r.section}: {r.name} = {fmt_value(r.value, r.unit)} "
                                       f"(target {r.target or 'yes'})" for r in missed))
    if args.out:
        payload = {"machine": m, "mode": mode, "sizes": asdict(sz),
                   "rows": [asdict(r) for r in report.rows], "raw": report.raw}
        Path(args.out).write_text(json.dumps(payload, indent=2, default=_json_default))
        log(f"wrote {args.out}")
    if args.update_readme:
        update_readme(format_markdown(report), machine_line, mode, chosen)
        log(f"updated {README}")
    return 0


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
