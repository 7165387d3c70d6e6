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
- Requests (GPUs are devices, MODEL.md 12): ``cpu`` = cpu_milli / 1000 cores;
  ``mem_gb`` = memory_mib / 1024 (GiB); ``gpu`` = gpu_milli / 1000 of **one**
  device for a pod with num_gpu == 1 (a share when gpu_milli < 1000, one whole
  device at 1000), else num_gpu whole devices (num_gpu 0 = none). A pod with
  num_gpu > 1 and gpu_milli < 1000 (shares of several devices, which MODEL.md
  12.2 has no request for) is dropped. ``gpu_spec`` (allowed GPU models,
  ``A|B``) becomes the task's ``gpu_spec``, normalized (empty names removed) and
  enforced; a CPU-only pod's spec is ignored, as the study's simulator does
  (counted in the notes).
- ``type``: ``cpu`` (no GPU), ``gpu-share`` (a fraction of one GPU), ``gpu``
  (whole GPUs). ``priority`` from ``qos``: Guaranteed 3, LS 2, Burstable 1,
  BE 0 (anything else 0); ``qos`` and ``pod_phase`` are kept as columns.
- ``duration`` = ``deletion_time - scheduled_time`` (the time the pod held its
  node); ``recorded_wait`` = scheduled - creation is kept as a column. Pending
  pods have no scheduled_time and are dropped by default; with ``phases``
  including ``Pending`` (as the fragmentation study needs: it places every pod
  of the list) they are kept with ``duration = deletion_time - creation_time``
  (the span they waited, a stand-in: they never ran), ``recorded_wait`` empty
  and the pipeline column ``scheduled`` False.
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
  no node (devices and GPU models as MODEL.md 12.3); node rows with a missing
  or negative capacity.
- Nodes -> cluster: identical nodes (same model, cpu_milli, memory_mib, gpu)
  form a pool ``MODEL-{cores}c-{GiB}g-{gpus}gpu`` with cpu_milli/1000 cores,
  memory_mib/1024 GiB and ``gpu`` GPUs per node, speed 1, no price; the model
  is kept in the pool column ``gpu_model``. Pools are ordered by GPUs, cores,
  memory, then name. The model is the pools' ``gpu_model`` column (empty for a
  node without one). Without a node list, ``cluster`` is None.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..cluster import Cluster, cluster_of_machines
from ..devices import Requests, device_cluster, device_fit_room, spec_text
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
ALL_PHASES = RAN + ("Pending",)


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
    cluster = cluster_of_machines(m, "gpu_model", source=source)
    # 'none' names the pool of nodes without a model; as a GPU model it would match a spec 'none'
    pools = cluster.pools.assign(gpu_model=cluster.pools["gpu_model"].where(cluster.pools["gpu_model"] != "none", ""))
    return Cluster(pools, source)


def read(*sources, phases=RAN, censored: str = "keep", zero_duration: float = 0.5) -> ImportResult:
    """Import an openb pod list (and node list); see the module docstring for the mapping.

    ``phases``: the pod phases kept (default: every pod that ran); ``"all"`` keeps
    Pending pods too, as the fragmentation study (MODEL.md 12.11) places every pod.
    """
    if censored not in ("keep", "drop"):
        raise ValueError(f"censored must be 'keep' or 'drop', got {censored!r}")
    if not zero_duration > 0:
        raise ValueError("zero_duration must be > 0")
    if isinstance(phases, str):
        phases = ALL_PHASES if phases == "all" else (phases,)
    phases = tuple(phases)
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
    never = (phase == "Pending") & np.isnan(scheduled)
    if "Pending" in phases:  # kept: they start (in the replay) when created
        scheduled = np.where(never, created, scheduled)
    is_gpu = num_gpu > 0
    spec = np.where(is_gpu, spec_text(pods["gpu_spec"]), "").astype(object)
    spec_ignored = int(((~is_gpu) & (pods["gpu_spec"] != "").to_numpy()).sum())

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
    ok = drops.add("pod list", "num_gpu > 1 with gpu_milli < 1000 (shares of several devices: no such request, "
                   "MODEL.md 12.2)", pods, (num_gpu > 1) & (gpu_milli < 1000), ok)
    ok = drops.add("pod list", "name repeated (first kept)", pods,
                   pods["name"].duplicated(keep="first").to_numpy(), ok)
    ok = drops.add("pod list", "name empty or containing ';'", pods,
                   (pods["name"] == "").to_numpy() | pods["name"].str.contains(";", regex=False).to_numpy(), ok)
    trace_end = np.nanmax(deleted) if np.isfinite(deleted).any() else np.nan
    is_censored = (phase == "Running") & (deleted == trace_end)
    if censored == "drop":
        ok = drops.add("pod list", "Running at the trace end (deletion_time censored)", pods, is_censored, ok)
    if cluster is not None:
        req = Requests(cpu=np.nan_to_num(cpu), gpu=np.nan_to_num(gpu), mem=np.nan_to_num(mem), spec=spec,
                       replicas=np.ones(len(pods), dtype=np.int64))
        fits = device_fit_room(req, device_cluster(cluster)) > 0
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
        "recorded_wait": np.where(never[rows], np.nan, scheduled[rows] - created[rows]),
        "scheduled": ~never[rows],
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
        "gpu_spec": spec[rows],
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
        "Requests: cpu = cpu_milli/1000 cores, mem_gb = memory_mib/1024 GiB, gpu = gpu_milli/1000 of one GPU "
        "device when num_gpu == 1 (a share below 1000 milli), else num_gpu whole devices (MODEL.md 12). "
        f"gpu_spec = the allowed GPU models, enforced ({int((tasks['gpu_spec'] != '').sum())} pods have one; "
        f"{spec_ignored} CPU-only pods' specs ignored).",
        "type: cpu / gpu-share (fraction of one GPU) / gpu (whole GPUs); priority from qos: "
        "Guaranteed 3, LS 2, Burstable 1, BE 0.",
        f"Phases kept: {', '.join(phases)}. Pending pods were never scheduled (no run time)"
        + ("; kept with duration = deletion_time - creation_time (pipeline column scheduled False)."
           if "Pending" in phases else "."),
        f"Zero-length pods (deletion == scheduled): {int(zero.sum())} given duration {zero_duration:g} s.",
        f"Censored: {int(is_censored[rows].sum())} Running pods end at the trace end ({trace_end:g} s); "
        + ("kept with their observed span (column censored)." if censored == "keep" else "dropped."),
    ]
    if cluster is not None:
        notes.append(f"Cluster: {cluster.n_nodes} nodes in {len(cluster.pools)} pools of identical nodes "
                     "(model, cores, memory, GPUs); cpu_milli/1000 cores, memory_mib/1024 GiB; speed 1, no price.")
    return ImportResult(trace=trace, cluster=cluster, dropped=drops.frame(), notes=notes)
