"""Import SenseTime Helios job logs (``cluster_log.csv`` of Venus, Earth, Saturn, Uranus).

Sources are files or folders. A CSV with ``job_id`` and ``gpu_num`` columns is
a job log (several are concatenated); a CSV with ``date`` and ``total``
columns is a ``cluster_gpu_number.csv`` (GPUs per virtual cluster per day),
used only to size the cluster. Other files in a folder are skipped with a note.

Schema (S-Lab-System-Group/HeliosData README): ``job_id, user, vc, gpu_num,
cpu_num, node_num, state, submit_time, start_time, end_time, duration, queue``
(a ``jobname`` column, when present, is kept too). Times are wall-clock strings
``YYYY-MM-DD HH:MM:SS``; numeric timestamps (seconds) are accepted as well.
state is COMPLETED, CANCELLED, FAILED, TIMEOUT or NODE_FAIL. gpu_num and cpu_num
are the job's totals over its ``node_num`` nodes.

Mapping (also written to ``ImportResult.notes``):

- A job is a pipeline. ``pipeline_id`` numbers the kept jobs 0, 1, ... in order
  of submission (ties in file order); ``submit_time`` is submit_time minus the
  earliest kept job's (``time_origin`` column: seconds since 1970 of that
  origin, wall clock read as UTC). ``job_id``, ``user``, ``vc``, ``state`` (and
  ``jobname``) are kept as pipeline attributes.
- A job on one node is a single-task pipeline: task ``job`` of type ``gpu``
  (gpu_num > 0) or ``cpu``, asking for gpu_num GPUs, cpu_num cores and
  ``mem_gb_per_cpu * cpu_num`` GB (the log records no memory; default 0), for
  ``duration = end_time - start_time`` (the ``duration`` column is not used; it
  is the same quantity).
- A job on node_num > 1 nodes (option ``multi_node="gang"``, the default) is
  one task ``job`` with ``replicas`` = node_num (a gang, MODEL.md 12.8): each
  part asks for an equal share of gpu_num and cpu_num on its own node, and the
  parts start together and end together after the job's duration.
  ``multi_node="split"`` makes node_num independent parallel tasks ``job.0 ...
  job.{n-1}`` instead (not gang-scheduled: they may start at different times
  on a busy cluster), ``multi_node="drop"`` drops such jobs (counted). GPUs are
  devices (MODEL.md 12.2): a per-node share gpu_num / node_num above 1 that is
  not a whole number is rounded up to whole devices (counted in the notes).
- Every state is kept (CANCELLED, FAILED... jobs held their GPUs while they
  ran); option ``state`` keeps only the given states (others counted as dropped).
- Dropped, counted per reason: no submit_time, no start_time or end_time (a
  job cancelled before it started), end_time <= start_time (nothing to
  replay; the simulator needs a duration > 0), gpu_num or cpu_num missing or
  negative, node_num < 1, job_id repeated (first kept), a per-node share
  larger than a node of the default cluster.
- Cluster: the log carries no machine specs. Helios nodes hold 8 GPUs each
  (SC '21 paper); option ``node_gpus`` (default 8). ``node_cpus`` defaults to
  max(64, the largest per-node cpu request, rounded up) since cores per node
  are not published in the trace; ``node_mem_gb`` defaults to
  ``mem_gb_per_cpu * node_cpus`` (0: memory not modelled). The number of nodes
  is option ``nodes``; by default, with a ``cluster_gpu_number.csv`` among the
  sources, ceil(max daily ``total`` GPUs over the days the kept jobs span
  (the whole file if none overlap) / node_gpus); without it,
  the fewest nodes that hold the recorded peak of concurrently running GPUs
  and CPUs (from start_time/end_time), and at least the largest node_num.
  One pool named ``helios``, speed 1, no price.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..cluster import Cluster
from . import ImportResult
from ._gpujobs import (Drops, build_trace, files_of, jobs_in_submit_order, member, numbers, peak_concurrency,
                       seconds, task_names)

FORMAT = "helios"
DESCRIPTION = "SenseTime Helios cluster_log.csv (optionally cluster_gpu_number.csv to size the cluster)"

REQUIRED = ("job_id", "gpu_num", "cpu_num", "submit_time", "start_time", "end_time")
ATTRIBUTES = ("job_id", "user", "vc", "jobname", "state")
DEFAULT_NODE_GPUS = 8
DEFAULT_NODE_CPUS = 64


def read(*sources, multi_node: str = "gang", state=None, node_gpus: int = DEFAULT_NODE_GPUS,
         node_cpus: float | None = None, node_mem_gb: float | None = None, mem_gb_per_cpu: float = 0.0,
         nodes: int | None = None) -> ImportResult:
    """Import Helios job logs; see the module docstring for the mapping and options."""
    if multi_node not in ("gang", "split", "drop"):
        raise ValueError(f"multi_node must be 'gang', 'split' or 'drop', got {multi_node!r}")
    notes, logs, gpu_numbers = [], [], []
    for path in files_of(sources):
        try:
            head = pd.read_csv(path, nrows=0)
        except Exception:  # not a table
            notes.append(f"{path.name}: not a CSV table; skipped")
            continue
        cols = set(head.columns.str.strip())
        if {"job_id", "gpu_num"} <= cols:
            logs.append(pd.read_csv(path, dtype=str, skipinitialspace=True))
        elif {"date", "total"} <= cols:
            gpu_numbers.append(pd.read_csv(path))
        else:
            notes.append(f"{path.name}: neither a cluster_log nor a cluster_gpu_number table; skipped")
    if not logs:
        raise ValueError("no Helios cluster_log (a CSV with job_id and gpu_num columns) among the sources")
    log = pd.concat(logs, ignore_index=True)
    log.columns = log.columns.str.strip()
    missing = [c for c in REQUIRED if c not in log.columns]
    if missing:
        raise ValueError(f"the Helios cluster_log lacks column(s) {missing}")
    label = ", ".join(str(s) for s in sources)
    drops = Drops()
    ok = np.ones(len(log), dtype=bool)

    def drop(reason, mask):
        nonlocal ok
        mask = np.asarray(mask, dtype=bool) & ok
        ok &= drops.add(f"cluster_log: {reason}", mask, log, "job_id")

    submit, start, end = seconds(log["submit_time"]), seconds(log["start_time"]), seconds(log["end_time"])
    gpu, cpu = numbers(log["gpu_num"]), numbers(log["cpu_num"])
    node_num = numbers(log["node_num"]) if "node_num" in log.columns else pd.Series(1.0, index=log.index)
    if "node_num" not in log.columns:
        notes.append("no node_num column: every job taken as running on one node")
    keep_state = None if state is None else {str(s) for s in ([state] if isinstance(state, str) else state)}
    drop("job_id repeated; the first row is kept", log["job_id"].duplicated(keep="first").to_numpy())
    if keep_state is not None:
        st = log["state"] if "state" in log.columns else pd.Series("", index=log.index)
        drop(f"state not in {sorted(keep_state)}", ~member(st, list(keep_state)))
    drop("no submit_time", submit.isna().to_numpy())
    drop("no start_time or end_time (never started)", (start.isna() | end.isna()).to_numpy())
    drop("end_time <= start_time (ran for 0 s; nothing to replay)", (end <= start).to_numpy())
    drop("gpu_num or cpu_num missing or negative", ~((gpu >= 0) & (cpu >= 0)).to_numpy())
    drop("node_num missing or < 1", ~((node_num >= 1) & (node_num == np.floor(node_num))).to_numpy())
    if multi_node == "drop":
        drop("runs on several nodes (multi_node='drop')", (node_num > 1).to_numpy())
    share_gpu = gpu / node_num
    # GPUs are devices: above one GPU a part asks for whole devices (MODEL.md 12.2)
    whole = share_gpu.where(share_gpu <= 1, np.ceil(share_gpu - 1e-9))
    rounded = int(((whole != share_gpu) & ok).sum())
    share_gpu = whole
    drop(f"more GPUs per node than a node has ({node_gpus})", (share_gpu > node_gpus + 1e-9).to_numpy())
    share_cpu = cpu / node_num
    if node_cpus is not None:
        drop(f"more cores per node than a node has ({float(node_cpus):g}, option node_cpus)",
             (share_cpu > float(node_cpus) + 1e-9).to_numpy())

    order, origin = jobs_in_submit_order(submit, ok)
    n_p = len(order)
    pipelines = pd.DataFrame({"pipeline_id": np.arange(n_p, dtype=np.int64),
                              "submit_time": submit.to_numpy()[order] - origin})
    for c in ATTRIBUTES:
        if c in log.columns:
            pipelines[c] = log[c].to_numpy()[order]
    pipelines["time_origin"] = origin

    reps = node_num.to_numpy()[order].astype(np.int64)
    row = np.repeat(order, reps)  # one row per part (per node of a job)
    g, c = share_gpu.to_numpy()[row], share_cpu.to_numpy()[row]
    duration = (end - start).to_numpy()
    if multi_node == "gang":
        task_row, pid, replicas = order, np.arange(n_p, dtype=np.int64), reps
    else:
        task_row, pid, replicas = row, np.repeat(np.arange(n_p, dtype=np.int64), reps), np.ones(len(row), np.int64)
    tg, tc = share_gpu.to_numpy()[task_row], share_cpu.to_numpy()[task_row]
    tasks = pd.DataFrame({
        "pipeline_id": pid,
        "task": task_names(pid),
        "type": np.where(tg > 0, "gpu", "cpu"),
        "cpu": tc,
        "gpu": tg,
        "mem_gb": tc * float(mem_gb_per_cpu),
        "duration": duration[task_row],
        "after": "",
        "replicas": replicas,
    })
    trace = build_trace(pipelines, tasks, source=f"{FORMAT}:{label}")

    # ---- cluster
    if node_cpus is None:
        node_cpus = float(max(DEFAULT_NODE_CPUS, math.ceil(c.max()) if len(c) else 0))
        cpu_note = f"node_cpus = {node_cpus:g} (max of 64 and the largest per-node cpu request; not in the trace)"
    else:
        cpu_note = f"node_cpus = {float(node_cpus):g} (option)"
    if node_mem_gb is None:
        node_mem_gb = float(mem_gb_per_cpu) * float(node_cpus)
    if nodes is None:
        nodes, size_note = _default_nodes(gpu_numbers, submit.to_numpy()[order], end.to_numpy()[order],
                                          start.to_numpy()[row], end.to_numpy()[row], g, c,
                                          node_gpus, node_cpus, reps)
    else:
        size_note = f"{int(nodes)} nodes (option nodes)"
    cluster = Cluster.from_pools([{"pool": "helios", "count": int(nodes), "cpu": float(node_cpus),
                                   "gpu": float(node_gpus), "mem_gb": float(node_mem_gb),
                                   "speed": 1.0, "price_per_hour": 0.0}],
                                 source=f"{FORMAT}:{label}:cluster")
    notes.extend([
        "pipelines: one per job, numbered in order of submit_time; submit_time relative to the earliest kept "
        "job (time_origin column: its seconds since 1970, wall clock read as UTC)",
        "tasks: a one-node job is one task 'job'; a job on node_num > 1 nodes is "
        + {"gang": "one task 'job' with replicas = node_num (a gang: its parts start and end together), each part "
                   "asking for gpu_num/node_num GPUs and cpu_num/node_num cores",
           "split": "node_num parallel tasks job.k, each with gpu_num/node_num GPUs and cpu_num/node_num cores "
                    "(not gang-scheduled)",
           "drop": "dropped (multi_node='drop')"}[multi_node],
        f"GPUs are devices: {rounded} jobs' per-node GPU share above 1 was not whole and was rounded up",
        "duration: end_time - start_time; type: 'gpu' if the task asks for a GPU, else 'cpu'",
        f"memory: not in the log; mem_gb = {float(mem_gb_per_cpu):g} GB per requested core",
        "state: " + ("every state kept" if keep_state is None else f"kept only {sorted(keep_state)}"),
        f"cluster: one pool 'helios' of nodes with {node_gpus} GPUs (Helios nodes have 8), {cpu_note}, "
        f"mem_gb = {float(node_mem_gb):g}; " + size_note,
        f"imported {trace.n_pipelines} jobs as {trace.n_tasks} tasks; dropped {drops.total()} source rows "
        "(see dropped)",
    ])
    return ImportResult(trace=trace, cluster=cluster, dropped=drops.frame(), notes=notes)


def _default_nodes(gpu_numbers, submit, job_end, start, end, g, c, node_gpus, node_cpus, reps):
    widest = int(reps.max()) if len(reps) else 1
    if gpu_numbers:
        days = pd.concat(gpu_numbers, ignore_index=True)
        date = pd.to_datetime(days["date"], errors="coerce")
        total = pd.to_numeric(days["total"], errors="coerce")
        if len(submit):
            lo = pd.to_datetime(submit.min(), unit="s").normalize()
            hi = pd.to_datetime(job_end.max(), unit="s").normalize()
            span = (date >= lo) & (date <= hi)
        else:
            span = pd.Series(False, index=days.index)
        used = total[span] if span.any() else total
        gpus = float(used.max())
        n = max(math.ceil(gpus / node_gpus), widest, 1)
        where = "over the days the jobs span" if span.any() else "over the whole file (no day overlaps the jobs)"
        return n, (f"{n} nodes = ceil(max daily total of cluster_gpu_number.csv {where}, {gpus:g} GPUs, "
                   f"/ {node_gpus})")
    peak_g = peak_concurrency(start, end, g)
    peak_c = peak_concurrency(start, end, c)
    n = max(math.ceil(peak_g / node_gpus - 1e-9), math.ceil(peak_c / node_cpus - 1e-9), widest, 1)
    return n, (f"{n} nodes: the fewest holding the recorded peak of concurrent use ({peak_g:g} GPUs, "
               f"{peak_c:g} cores) and the widest job ({widest} nodes); give nodes= or a "
               "cluster_gpu_number.csv to size it otherwise")
