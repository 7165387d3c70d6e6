"""Alibaba cluster-trace-gpu-v2023 ("openb", FGD paper) pods and nodes -> trace and cluster.

Sources (files or folders of ``*.csv``): one pod list (``openb_pod_list_*.csv``:
``name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase,
creation_time, deletion_time, scheduled_time``) and optionally one node list
(``openb_node_list_*.csv``: ``sn, cpu_milli, memory_mib, gpu, model``). A file
is recognized by its header (``name``... is a pod list, ``sn``... a node list).
The pod lists of the trace (default, gpuspec*, multigpu*, ...) are alternative
workloads of one cluster, so only one pod list is accepted. Vectorized with
pandas (no Python loop over pods).

Mapping (each choice is repeated in ``ImportResult.notes``):

- Pod -> pipeline of one task. ``pipeline_id`` is 0, 1, ... in order of
  ``creation_time`` (ties in file order); the pod name is kept in the
  pipeline column ``job_name`` (and is the task's name). ``submit_time`` =
  ``creation_time`` (seconds; the trace's first pod is at 0, so not shifted).
- Requests: ``cpu`` = cpu_milli / 1000 cores; ``mem_gb`` = memory_mib / 1024
  (GiB); ``gpu`` = gpu_milli / 1000 for a GPU-sharing pod (num_gpu == 1), else
  num_gpu (num_gpu > 1 pods have gpu_milli 1000 = whole GPUs; num_gpu 0 = none).
  The simulator pools a node's GPUs as one amount, so fractional pods may
  "share" across device boundaries (0.6 + 0.6 + 0.8 on two GPUs fits in the
  replay, not on real devices): the replay is optimistic about GPU
  fragmentation. ``gpu_spec`` (GPU-model constraint) is kept as a task column
  but not enforced.
- ``type``: ``cpu`` (no GPU), ``gpu-share`` (a fraction of one GPU), ``gpu``
  (whole GPUs). ``priority`` from ``qos``: Guaranteed 3, LS 2, Burstable 1,
  BE 0 (anything else 0); ``qos`` and ``pod_phase`` are kept as columns.
- ``duration`` = ``deletion_time - scheduled_time`` (the time the pod held its
  node); ``recorded_wait`` = scheduled - creation is kept as a column.
  Zero-length pods get ``duration = zero_duration`` (0.5 s, half the 1-s
  resolution; MODEL.md needs > 0). Pods still Running at the end of the trace
  have deletion_time = the trace end (censored): they are kept with the observed
  span, flagged in column ``censored`` (the latest deletion_time of the file
  stands for the trace end); ``censored="drop"`` drops them instead.
- Dropped, with the reason counted in ``ImportResult.dropped`` (nothing
  silently; a row is counted under its first reason): pods with a phase not in
  ``phases`` (default Succeeded, Running, Failed: every pod that ran; Pending
  pods were never scheduled and have no run time), with a missing creation /
  scheduled / deletion time or one out of order (scheduled < creation,
  deletion < scheduled), with a missing or negative request (or num_gpu == 1
  without gpu_milli), a repeated name (first kept), or a request that fits on
  no node; node rows with a missing or negative capacity.
- Nodes -> cluster: identical nodes (same model, cpu_milli, memory_mib, gpu)
  form a pool ``MODEL-{cores}c-{GiB}g-{gpus}gpu`` with cpu_milli/1000 cores,
  memory_mib/1024 GiB and ``gpu`` GPUs per node, speed 1, no price; the model
  is kept in the pool column ``gpu_model``. Pools are ordered by GPUs, cores,
  memory, then name. Without a node list, ``cluster`` is None.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..cluster import Cluster, cluster_of_machines
from ..errors import InputError
from ..trace import Trace
from . import ImportResult

FORMAT = "alibaba-gpu-2023"
DESCRIPTION = "Alibaba cluster-trace-gpu-v2023 (openb): pod list -> one-task pipelines, node list -> pools"

POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
               "creation_time", "deletion_time", "scheduled_time")
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
QOS_PRIORITY = {"Guaranteed": 3, "LS": 2, "Burstable": 1, "BE": 0}
RAN = ("Succeeded", "Running", "Failed")
_FIT_TOL = 1e-9


def _files(sources) -> list[Path]:
    files = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files += sorted(x for x in p.glob("*.csv") if x.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(str(p), "file not found")
    return files


def _read(path: Path) -> tuple[str | None, pd.DataFrame | None]:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:
        raise InputError(str(path), f"cannot be read as CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    cols = set(frame.columns)
    if {"name", "pod_phase"} <= cols:
        kind, need = "pod", POD_COLUMNS
    elif "sn" in cols:
        kind, need = "node", NODE_COLUMNS
    else:
        return None, None
    missing = [c for c in need if c not in cols]
    if missing:
        raise InputError(str(path), f"missing column(s) {missing} of an openb {kind} list {list(need)}")
    frame = frame[list(need)].apply(lambda s: s.str.strip())
    frame["source_row"] = np.arange(len(frame), dtype=np.int64) + 2
    frame["source_file"] = path.name
    return kind, frame


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.replace("", np.nan), errors="coerce").to_numpy(np.float64)


class _Drops:
    def __init__(self):
        self.rows = []

    def add(self, table: str, reason: str, frame: pd.DataFrame, mask, ok):
        mask = np.asarray(mask, dtype=bool) & ok
        if mask.any():
            first = frame.iloc[int(np.flatnonzero(mask)[0])]
            cols = [c for c in frame.columns if c not in ("source_row", "source_file")]
            self.rows.append({"reason": f"{table}: {reason}", "rows": int(mask.sum()),
                              "example": f"{first['source_file']} row {first['source_row']}: "
                                         + ",".join(str(first[c]) for c in cols)})
        return ok & ~mask

    def frame(self):
        return pd.DataFrame(self.rows, columns=["reason", "rows", "example"])


def node_cluster(nodes: pd.DataFrame, drops: _Drops | None = None, source: str = "openb node list") -> Cluster:
    """Pools of identical nodes of an openb node list (see the module docstring)."""
    drops = _Drops() if drops is None else drops
    cpu, mem, gpu = _num(nodes["cpu_milli"]) / 1000.0, _num(nodes["memory_mib"]) / 1024.0, _num(nodes["gpu"])
    ok = np.ones(len(nodes), dtype=bool)
    ok = drops.add("node list", "cpu_milli, memory_mib or gpu missing or negative", nodes,
                   ~((cpu >= 0) & (mem >= 0) & (gpu >= 0)), ok)
    ok = drops.add("node list", "sn repeated (first kept)", nodes,
                   nodes["sn"].duplicated(keep="first").to_numpy() & (nodes["sn"] != "").to_numpy(), ok)
    if not ok.any():
        raise InputError(source, "no usable node in the node list")
    m = pd.DataFrame({"gpu_model": nodes["model"].to_numpy(object)[ok], "cpu": cpu[ok], "mem_gb": mem[ok],
                      "gpu": gpu[ok]})
    m["gpu_model"] = m["gpu_model"].where(m["gpu_model"] != "", "none")
    return cluster_of_machines(m, "gpu_model", source=source)


def read(*sources, phases=RAN, censored: str = "keep", zero_duration: float = 0.5) -> ImportResult:
    """Import an openb pod list (and node list); see the module docstring for the mapping."""
    if censored not in ("keep", "drop"):
        raise ValueError(f"censored must be 'keep' or 'drop', got {censored!r}")
    if not zero_duration > 0:
        raise ValueError("zero_duration must be > 0")
    phases = (phases,) if isinstance(phases, str) else tuple(phases)
    notes, found = [], {"pod": [], "node": []}
    for path in _files(sources):
        kind, frame = _read(path)
        if kind is None:
            notes.append(f"{path.name}: neither an openb pod list nor a node list; skipped")
            continue
        found[kind].append((path, frame))
    label = ", ".join(str(s) for s in sources)
    if len(found["pod"]) != 1:
        raise InputError(label, f"need exactly one openb pod list (name, ..., pod_phase, ...), found "
                                f"{[str(p) for p, _ in found['pod']]}; the pod lists are alternative workloads")
    if len(found["node"]) > 1:
        raise InputError(label, f"give at most one openb node list, found {[str(p) for p, _ in found['node']]}")
    pod_path, pods = found["pod"][0]
    drops = _Drops()
    cluster = None
    if found["node"]:
        node_path, nodes = found["node"][0]
        cluster = node_cluster(nodes, drops, source=str(node_path))

    cpu = _num(pods["cpu_milli"]) / 1000.0
    mem = _num(pods["memory_mib"]) / 1024.0
    num_gpu = _num(pods["num_gpu"])
    gpu_milli = _num(pods["gpu_milli"])
    gpu = np.where(num_gpu == 1, gpu_milli / 1000.0, num_gpu)
    created, deleted, scheduled = _num(pods["creation_time"]), _num(pods["deletion_time"]), _num(pods["scheduled_time"])
    phase = pods["pod_phase"].to_numpy(object)

    ok = np.ones(len(pods), dtype=bool)
    for ph in pd.unique(phase[~np.isin(phase, phases)]):
        why = ("never scheduled (no scheduled_time, no run time)" if ph == "Pending" else "not selected")
        ok = drops.add("pod list", f"pod_phase {ph or '(empty)'}: {why}", pods, phase == ph, ok)
    ok = drops.add("pod list", "creation_time, scheduled_time or deletion_time missing", pods,
                   np.isnan(created) | np.isnan(deleted) | np.isnan(scheduled), ok)
    ok = drops.add("pod list", "times out of order (creation < 0, scheduled < creation or deletion < scheduled)",
                   pods, (created < 0) | (scheduled < created) | (deleted < scheduled), ok)
    ok = drops.add("pod list", "cpu_milli, memory_mib, num_gpu or gpu_milli (for num_gpu 1) missing or negative",
                   pods, ~((cpu >= 0) & (mem >= 0) & (gpu >= 0)), ok)
    ok = drops.add("pod list", "name repeated (first kept)", pods,
                   pods["name"].duplicated(keep="first").to_numpy(), ok)
    ok = drops.add("pod list", "name empty or containing ';'", pods,
                   (pods["name"] == "").to_numpy() | pods["name"].str.contains(";", regex=False).to_numpy(), ok)
    trace_end = np.nanmax(deleted) if np.isfinite(deleted).any() else np.nan
    is_censored = (phase == "Running") & (deleted == trace_end)
    if censored == "drop":
        ok = drops.add("pod list", "Running at the trace end (deletion_time censored)", pods, is_censored, ok)
    if cluster is not None:
        cap = cluster.pools[["cpu", "gpu", "mem_gb"]].to_numpy(np.float64)
        req = np.nan_to_num(np.column_stack([cpu, gpu, mem]))
        fits = np.zeros(len(pods), dtype=bool)
        for q in range(len(cap)):  # a few pools; vectorized over pods
            fits |= (cap[q] >= req - _FIT_TOL).all(axis=1)
        ok = drops.add("pod list", "request fits on no node of the node list", pods, ~fits, ok)
    if not ok.any():
        raise InputError(str(pod_path), "no pod left to import: " + "; ".join(
            f"{r['reason']}: {r['rows']}" for r in drops.rows))

    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(created[rows], kind="stable")]
    n = len(rows)
    pid = np.arange(n, dtype=np.int64)
    dur = deleted[rows] - scheduled[rows]
    zero = dur == 0
    dur = np.where(zero, float(zero_duration), dur)
    g = gpu[rows]
    qos = pods["qos"].to_numpy(object)[rows]
    names = pods["name"].to_numpy(object)[rows]
    pipelines = pd.DataFrame({
        "pipeline_id": pid,
        "submit_time": created[rows],
        "model_id": 0,
        "priority": pd.Series(qos).map(QOS_PRIORITY).fillna(0).astype(np.int64).to_numpy(),
        "job_name": names,
        "qos": qos,
        "pod_phase": phase[rows],
        "recorded_wait": scheduled[rows] - created[rows],
        "recorded_end": deleted[rows],
        "censored": is_censored[rows],
    })
    tasks = pd.DataFrame({
        "pipeline_id": pid,
        "task": names,
        "type": np.where(g == 0, "cpu", np.where(g < 1, "gpu-share", "gpu")),
        "cpu": cpu[rows],
        "gpu": g,
        "mem_gb": mem[rows],
        "duration": dur,
        "after": "",
        "num_gpu": num_gpu[rows],
        "gpu_milli": gpu_milli[rows],
        "gpu_spec": pods["gpu_spec"].to_numpy(object)[rows],
    })
    trace = Trace.from_frames(pipelines, tasks, source=f"alibaba-gpu-2023:{pod_path.name}")
    n_drop = sum(r["rows"] for r in drops.rows if r["reason"].startswith("pod list"))
    notes += [
        f"Read {len(pods)} pods from {pod_path}" + (f" and {len(nodes)} nodes from {node_path}." if cluster is not None
                                                     else "; no node list, so no cluster."),
        f"Imported {n} pods as one-task pipelines; dropped {n_drop} pods (see the dropped table).",
        "Pod -> pipeline of one task: pipeline_id 0.. in creation_time order; pod name in job_name and task; "
        "submit_time = creation_time (s); duration = deletion_time - scheduled_time; recorded_wait = "
        "scheduled_time - creation_time kept as a column.",
        "Requests: cpu = cpu_milli/1000 cores, mem_gb = memory_mib/1024 GiB, gpu = gpu_milli/1000 when "
        "num_gpu == 1 (GPU sharing) else num_gpu. A node's GPUs are one pooled amount in the simulator, so "
        "fractional pods may share across device boundaries: the replay is optimistic about GPU fragmentation. "
        f"gpu_spec kept, not enforced ({int((tasks['gpu_spec'] != '').sum())} pods have one).",
        "type: cpu / gpu-share (fraction of one GPU) / gpu (whole GPUs); priority from qos: "
        "Guaranteed 3, LS 2, Burstable 1, BE 0.",
        f"Phases kept: {', '.join(phases)}. Pending pods were never scheduled (no run time).",
        f"Zero-length pods (deletion == scheduled): {int(zero.sum())} given duration {zero_duration:g} s.",
        f"Censored: {int(is_censored[rows].sum())} Running pods end at the trace end ({trace_end:g} s); "
        + ("kept with their observed span (column censored)." if censored == "keep" else "dropped."),
    ]
    if cluster is not None:
        notes.append(f"Cluster: {cluster.n_nodes} nodes in {len(cluster.pools)} pools of identical nodes "
                     "(model, cores, memory, GPUs); cpu_milli/1000 cores, memory_mib/1024 GiB; speed 1, no price.")
    return ImportResult(trace=trace, cluster=cluster, dropped=drops.frame(), notes=notes)
