"""Import Microsoft Philly job logs (``cluster_job_log`` of msr-fiddle/philly-traces).

Sources are files or folders. A file that parses as a JSON list is a job log
(several are concatenated); a CSV with a ``machineId`` column is the trace's
``machine_list.csv`` (columns ``machineId``, ``number of GPUs``, ``single GPU
mem``), used only to build the cluster. Other files are skipped with a note.

Schema of a job (philly-traces README): ``jobid``, ``user``, ``vc``,
``status`` (Pass, Killed or Failed), ``submitted_time``, and ``attempts``: a
list of ``{start_time, end_time, detail}`` where ``detail`` lists the machines
of the attempt, ``{ip, gpus: [gpu names]}``. Times are wall-clock strings
``YYYY-MM-DD HH:MM:SS`` (``None`` when unknown).

Mapping (also written to ``ImportResult.notes``):

- A job is a pipeline. ``pipeline_id`` numbers the kept jobs 0, 1, ... in order
  of submission (ties in file order); ``submit_time`` is submitted_time minus
  the earliest kept job's (``time_origin`` column: its seconds since 1970,
  wall clock read as UTC; a daylight-saving change inside the log would shift
  later times by an hour). ``jobid``, ``user``, ``vc``, ``status`` and
  ``attempts`` (how many) are kept as pipeline attributes.
- Only the last attempt is replayed: ``duration = end_time - start_time`` of
  the last attempt. Earlier (failed) attempts are not simulated; the count of
  jobs that had them is in the notes.
- A job whose last attempt ran on one machine is a single-task pipeline (task
  ``job``). One that ran on several machines (option ``multi_node="gang"``, the
  default) is one task ``job`` with ``replicas`` = its machines (a gang,
  MODEL.md 12.8: the parts start together and end together); a gang's parts
  are identical, so each asks for the most GPUs the job held on any one of its
  machines (every part fits a machine like the one it ran on; a job that held
  unequal counts asks for more in total than it held, counted in the notes).
  ``multi_node="split"`` makes one independent task per machine instead
  (``job.0``, ``job.1``, ... in the order of ``detail``, each with the GPUs it
  held there; not gang-scheduled). Type: ``gpu`` (or ``cpu`` if it held no
  GPU).
- The log records no cores or memory: cpu = ``cpu_per_gpu`` and mem_gb =
  ``mem_gb_per_gpu`` times the GPUs of the task (options, default 0).
- Every status is kept (killed and failed jobs held their GPUs); option
  ``status`` keeps only the given ones (others counted as dropped).
- Dropped, counted per reason: jobid repeated (first kept), no submitted_time,
  no attempt (never started), a last attempt with no start_time or end_time,
  end_time <= start_time (nothing to replay), a last attempt that lists no
  machine, and (with a machine list) a per-machine GPU count larger than any
  machine's.
- Cluster: with a machine_list.csv, identical machines (same number of GPUs
  and GPU memory) form a pool ``{g}gpu-{mem}``. Without one, the machines are
  inferred from the log: every ``ip`` of any attempt of any job (kept or not)
  is a node with as many GPUs as distinct GPU names seen on it, and nodes with
  the same count form a pool ``{g}gpu``; this under-counts GPUs never used in
  the trace and omits machines never used. Node cores and memory are
  ``cpu_per_gpu`` and ``mem_gb_per_gpu`` times its GPUs; speed 1, no price.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..cluster import Cluster
from . import ImportResult
from ._gpujobs import Drops, build_trace, files_of, jobs_in_submit_order, member, numbers, seconds, task_names

FORMAT = "philly"
DESCRIPTION = "Microsoft Philly cluster_job_log (JSON), optionally machine_list.csv for the cluster"

ATTRIBUTES = ("jobid", "user", "vc", "status")


def _load(path):
    """('log', list) or ('machines', DataFrame) or (None, None)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, list):
            return "log", data
        return None, None
    except (UnicodeDecodeError, ValueError):
        pass
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except Exception:
        return None, None
    frame.columns = frame.columns.str.strip()
    if any(c.lower() == "machineid" for c in frame.columns):
        return "machines", frame
    return None, None


def read(*sources, status=None, cpu_per_gpu: float = 0.0, mem_gb_per_gpu: float = 0.0,
         multi_node: str = "gang") -> ImportResult:
    """Import Philly job logs; see the module docstring for the mapping and options."""
    if multi_node not in ("gang", "split"):
        raise ValueError(f"multi_node must be 'gang' or 'split', got {multi_node!r}")
    notes, jobs, machine_lists = [], [], []
    for path in files_of(sources):
        kind, data = _load(path)
        if kind == "log":
            jobs.extend(data)
        elif kind == "machines":
            machine_lists.append(data)
        else:
            notes.append(f"{path.name}: neither a cluster_job_log (JSON list) nor a machine_list.csv; skipped")
    if not jobs:
        raise ValueError("no Philly cluster_job_log (a JSON list of jobs) among the sources")
    label = ", ".join(str(s) for s in sources)
    log = pd.DataFrame(jobs)
    for c in ("jobid", "user", "vc", "status", "submitted_time", "attempts"):
        if c not in log.columns:
            log[c] = None
    attempts = log["attempts"].map(lambda a: a if isinstance(a, list) else [])
    n_att = attempts.str.len().astype(np.int64)
    last = pd.json_normalize([a[-1] if len(a) and isinstance(a[-1], dict) else {} for a in attempts])
    for c in ("start_time", "end_time", "detail"):
        if c not in last.columns:
            last[c] = None
    last.index = log.index
    submit = seconds(log["submitted_time"])
    start, end = seconds(last["start_time"]), seconds(last["end_time"])
    detail = last["detail"].map(lambda d: d if isinstance(d, list) else [])

    # per-machine GPUs of the last attempt: one row per (job, ip), GPUs summed
    per = detail.explode().dropna()
    per_m = pd.json_normalize(per.tolist()) if len(per) else pd.DataFrame(columns=["ip", "gpus"])
    for c in ("ip", "gpus"):
        if c not in per_m.columns:
            per_m[c] = None
    per_m["job"] = per.index.to_numpy()
    per_m["n_gpu"] = per_m["gpus"].map(lambda g: len(g) if isinstance(g, list) else 0).astype(np.float64)
    per_m["ip"] = per_m["ip"].fillna("").astype(str)
    machines = per_m.groupby(["job", "ip"], sort=False)["n_gpu"].sum().reset_index()

    cluster, fit_gpu, cluster_note = _cluster(machine_lists, attempts, cpu_per_gpu, mem_gb_per_gpu, label)

    drops = Drops()
    ok = np.ones(len(log), dtype=bool)
    shown = log[["jobid", "status", "submitted_time"]]

    def drop(reason, mask):
        nonlocal ok
        mask = np.asarray(mask, dtype=bool) & ok
        ok &= drops.add(f"cluster_job_log: {reason}", mask, shown, "jobid")

    keep_status = None if status is None else {str(s) for s in ([status] if isinstance(status, str) else status)}
    drop("jobid repeated; the first job is kept", log["jobid"].astype(str).duplicated(keep="first").to_numpy())
    if keep_status is not None:
        drop(f"status not in {sorted(keep_status)}", ~member(log["status"], list(keep_status)))
    drop("no submitted_time", submit.isna().to_numpy())
    drop("no attempt (never started)", (n_att == 0).to_numpy())
    drop("last attempt has no start_time or end_time", (start.isna() | end.isna()).to_numpy())
    drop("last attempt's end_time <= start_time (nothing to replay)", (end <= start).to_numpy())
    n_mach = machines.groupby("job").size().reindex(log.index, fill_value=0).to_numpy()
    drop("last attempt lists no machine", n_mach == 0)
    if fit_gpu is not None:
        big = machines.loc[machines["n_gpu"] > fit_gpu + 1e-9, "job"].unique()
        drop(f"holds more GPUs on one machine than any machine of machine_list has ({fit_gpu:g})",
             log.index.isin(big))

    order, origin = jobs_in_submit_order(submit, ok)
    n_p = len(order)
    pipelines = pd.DataFrame({"pipeline_id": np.arange(n_p, dtype=np.int64),
                              "submit_time": submit.to_numpy()[order] - origin})
    for c in ATTRIBUTES:
        pipelines[c] = log[c].to_numpy()[order]
    pipelines["attempts"] = n_att.to_numpy()[order]
    pipelines["time_origin"] = origin

    pid_of_job = pd.Series(np.arange(n_p, dtype=np.int64), index=order)
    m = machines[machines["job"].isin(order)].copy()
    m["pipeline_id"] = pid_of_job.reindex(m["job"].to_numpy()).to_numpy()
    m = m.sort_values("pipeline_id", kind="stable")
    duration = (end - start).to_numpy()
    unequal = 0
    if multi_node == "gang":
        per_job = m.groupby("pipeline_id", sort=True).agg(job=("job", "first"), n_gpu=("n_gpu", "max"),
                                                        low=("n_gpu", "min"), replicas=("ip", "size"),
                                                        machine=("ip", ";".join))
        unequal = int((per_job["low"] != per_job["n_gpu"]).sum())
        g = per_job["n_gpu"].to_numpy()
        pid = per_job.index.to_numpy(np.int64)
        job, machine, replicas = per_job["job"].to_numpy(), per_job["machine"].to_numpy(), per_job["replicas"]
    else:
        g = m["n_gpu"].to_numpy()
        pid = m["pipeline_id"].to_numpy(np.int64)
        job, machine, replicas = m["job"].to_numpy(), m["ip"].to_numpy(), np.ones(len(m), dtype=np.int64)
    tasks = pd.DataFrame({
        "pipeline_id": pid,
        "task": task_names(pid),
        "type": np.where(g > 0, "gpu", "cpu"),
        "cpu": g * float(cpu_per_gpu),
        "gpu": g,
        "mem_gb": g * float(mem_gb_per_gpu),
        "duration": duration[job],
        "after": "",
        "machine": machine,
        "replicas": np.asarray(replicas, dtype=np.int64),
    })
    trace = build_trace(pipelines, tasks, source=f"{FORMAT}:{label}")
    retried = int((n_att.to_numpy()[order] > 1).sum())
    notes.extend([
        "pipelines: one per job, numbered in order of submitted_time; submit_time relative to the earliest "
        "kept job (time_origin column: its seconds since 1970, wall clock read as UTC)",
        "duration: end_time - start_time of the last attempt; "
        f"{retried} kept jobs had earlier attempts, which are not simulated",
        ("tasks: one per job ('job'); a job on several machines is a gang with replicas = its machines, each part "
         "asking for the most GPUs the job held on one machine (column machine: the ips, ';'-separated); "
         f"{unequal} jobs held unequal GPU counts on their machines" if multi_node == "gang" else
         "tasks: one per machine of the last attempt ('job' when one machine, else job.k in parallel, not "
         "gang-scheduled), asking for the GPUs held there; the machine's ip is kept as a task attribute"),
        f"cores and memory: not in the log; cpu = {float(cpu_per_gpu):g} per GPU, "
        f"mem_gb = {float(mem_gb_per_gpu):g} per GPU",
        "status: " + ("every status kept" if keep_status is None else f"kept only {sorted(keep_status)}"),
        cluster_note,
        f"imported {trace.n_pipelines} jobs as {trace.n_tasks} tasks; dropped {drops.total()} jobs "
        "(see dropped)",
    ])
    return ImportResult(trace=trace, cluster=cluster, dropped=drops.frame(), notes=notes)


def _cluster(machine_lists, attempts, cpu_per_gpu, mem_gb_per_gpu, label):
    """The cluster, the largest GPUs per machine when a machine list bounds it (else None), a note."""
    if machine_lists:
        ml = pd.concat(machine_lists, ignore_index=True)
        gcol = next((c for c in ml.columns if "gpus" in c.lower()), None)
        mcol = next((c for c in ml.columns if "mem" in c.lower()), None)
        if gcol is None:
            raise ValueError("machine_list.csv needs a 'number of GPUs' column")
        frame = pd.DataFrame({"gpu": numbers(ml[gcol]),
                              "gpu_mem": ml[mcol].astype(str).str.strip() if mcol else ""})
        frame = frame[frame["gpu"].notna()]
        pools = frame.groupby(["gpu", "gpu_mem"], sort=True).size().rename("count").reset_index()
        pools["pool"] = pools["gpu"].map("{:g}".format) + "gpu" + np.where(pools["gpu_mem"] != "",
                                                                          "-" + pools["gpu_mem"], "")
        note = (f"cluster: {len(pools)} pools of identical machines from machine_list.csv "
                f"({int(pools['count'].sum())} machines)")
        fit = float(pools["gpu"].max())
    else:
        allatt = attempts.explode().dropna()
        det = pd.Series([a.get("detail") if isinstance(a, dict) else None for a in allatt]).dropna().explode()
        det = det.dropna()
        rows = pd.json_normalize(det.tolist()) if len(det) else pd.DataFrame(columns=["ip", "gpus"])
        for c in ("ip", "gpus"):
            if c not in rows.columns:
                rows[c] = None
        pairs = rows[["ip", "gpus"]].explode("gpus")
        pairs["ip"] = pairs["ip"].fillna("").astype(str)
        per_ip = pairs.dropna(subset=["gpus"]).groupby("ip")["gpus"].nunique()
        per_ip = per_ip.reindex(pairs["ip"].unique(), fill_value=0).astype(np.float64)
        pools = per_ip.value_counts().rename("count").rename_axis("gpu").reset_index().sort_values("gpu")
        pools["pool"] = pools["gpu"].map("{:g}".format) + "gpu"
        note = (f"cluster: inferred from the log, {int(pools['count'].sum())} machines (every ip seen), each "
                "with as many GPUs as distinct GPU names seen on it, pooled by that count")
        fit = None
    if not len(pools):
        return None, fit, "cluster: none (no machine in the log or machine list)"
    pools["cpu"] = pools["gpu"] * float(cpu_per_gpu)
    pools["mem_gb"] = pools["gpu"] * float(mem_gb_per_gpu)
    pools["speed"] = 1.0
    pools["price_per_hour"] = 0.0
    cluster = Cluster.from_pools(pools[["pool", "count", "cpu", "gpu", "mem_gb", "speed", "price_per_hour"]]
                                 .reset_index(drop=True), source=f"{FORMAT}:{label}:cluster")
    return cluster, fit, note + f"; cores = {float(cpu_per_gpu):g} and mem_gb = {float(mem_gb_per_gpu):g} per GPU"
