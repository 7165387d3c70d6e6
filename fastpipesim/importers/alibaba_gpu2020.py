"""Import Alibaba cluster-trace-gpu-v2020 (PAI): job and task tables, and the machine spec.

Sources are files or folders holding ``pai_job_table``, ``pai_task_table`` and
``pai_machine_spec`` (CSV, optionally compressed as pandas infers it from the
name, e.g. ``.csv.gz`` or ``.tar.gz``). The official files have no header line;
a header line is accepted too. A file is recognized by its name
(``*job_table*``, ``*task_table*``, ``*machine_spec*``), else by its header,
else by its number of columns (6 job, 10 task, 5 machine). The other PAI tables
(instance, sensor, group tag, machine metric) are not needed and are skipped,
each with a note. The task table is required; the others are optional.

Schema (alibaba/clusterdata ``cluster-trace-gpu-v2020/README.md``):

- pai_job_table: ``job_name, inst_id, user, status, start_time, end_time``;
  status is Terminated (succeeded), Failed, Running or Waiting; start_time is
  the submission, in seconds (shifted by a constant for desensitization).
- pai_task_table: ``job_name, task_name, inst_num, status, start_time,
  end_time, plan_cpu, plan_mem, plan_gpu, gpu_type``; plan_cpu in percent of a
  core (600 = 6 cores), plan_mem in GB, plan_gpu in percent of a GPU (50 = half).
- pai_machine_spec: ``machine, gpu_type, cap_cpu, cap_mem, cap_gpu``.

Mapping (also written to ``ImportResult.notes``):

- A job is a pipeline. ``pipeline_id`` numbers the kept jobs 0, 1, ... in
  order of submission (ties in table order). ``submit_time`` is the job's
  start_time (its submission) minus the earliest kept job's; without a job
  table, the earliest start_time of the job's tasks stands for it.
  ``job_name``, ``user``, ``status`` (and ``inst_id``) are kept as pipeline
  attributes, and ``time_origin`` (the subtracted trace time) on every row.
- A task row is a role of the job (tensorflow, ps, worker, evaluator, ...)
  run by ``inst_num`` instances. Each instance is one simulated task (named
  ``ROLE`` when inst_num is 1, else ``ROLE.0``, ``ROLE.1``, ...), of type
  ROLE, asking for plan_cpu/100 cores, plan_gpu/100 GPUs and plan_mem GB (the
  plan is per instance), for ``duration = end_time - start_time`` of its
  task row. ``gpu_type`` (the requested GPU model) is kept as a task
  attribute; the simulator does not restrict placement by it.
- Order within a job, option ``order``: ``"parallel"`` (default) gives no
  ``after`` edges: the roles of a PAI job (parameter servers, workers, chief,
  evaluator) are gang-started and run at the same time, so a job's response on
  an idle cluster is its longest task. ``"recorded"`` adds an edge A -> B
  whenever task row B started at or after task row A ended in the trace (every
  instance of B after every instance of A), for jobs whose roles ran one
  after another.
- An empty plan_gpu is 0 GPUs (PAI leaves it empty for CPU-only tasks, and so
  does the gpu_type). An empty or negative plan_cpu or plan_mem drops the task row.
- Nothing is dropped silently; ``dropped`` gives a reason per row kind:
  task rows with no or non-positive time span (Running or Waiting tasks have
  no end), inst_num missing or < 1, missing plans, a (job_name, task_name)
  repeated (the first row is kept), a status not selected by ``status``, a
  job not in the job table, or (with a machine spec) a request that fits no
  machine; job rows with no start_time, a status not selected, or no usable
  task row left. A job keeps its remaining task rows when some are dropped.
- Cluster (when a machine spec is given): identical machines (same gpu_type,
  cap_cpu, cap_mem, cap_gpu) form a pool named ``GPUTYPE-{cpu}c-{mem}g-{gpu}gpu``
  with cap_cpu cores, cap_gpu GPUs and cap_mem GB per node, speed 1 and no
  price. Pools are ordered by GPUs per node, then cores, then memory, then name,
  so that first-fit placement fills CPU-only machines and small GPU machines first.

Options: ``order`` ("parallel" or "recorded"); ``status``: job and task
statuses to keep (default all; Running and Waiting rows are dropped anyway for
want of an end time); ``instances`` ("expand", default, or "one": one task per
task row asking for inst_num times the plan, for a compact trace).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..cluster import Cluster, cluster_of_machines
from . import ImportResult
from ._gpujobs import Drops, member, build_trace, files_of, numbers, seconds

FORMAT = "alibaba-gpu-2020"
DESCRIPTION = "Alibaba cluster-trace-gpu-v2020 (PAI): pai_job_table, pai_task_table, pai_machine_spec"

JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
TASK_COLUMNS = ("job_name", "task_name", "inst_num", "status", "start_time", "end_time",
                "plan_cpu", "plan_mem", "plan_gpu", "gpu_type")
MACHINE_COLUMNS = ("machine", "gpu_type", "cap_cpu", "cap_mem", "cap_gpu")
_KINDS = {"job": JOB_COLUMNS, "task": TASK_COLUMNS, "machine": MACHINE_COLUMNS}
_OTHER_TABLES = ("instance_table", "sensor_table", "group_tag_table", "machine_metric")
_FIT_TOL = 1e-9


def _kind(path, first_line: str):
    name = path.name.lower()
    for key, kind in (("job_table", "job"), ("task_table", "task"), ("machine_spec", "machine")):
        if key in name:
            return kind
    if any(t in name for t in _OTHER_TABLES):
        return None
    fields = [f.strip() for f in first_line.split(",")]
    for kind, cols in _KINDS.items():
        if tuple(fields) == cols:
            return kind
    return {6: "job", 10: "task", 5: "machine"}.get(len(fields))


def _read_table(path, kind):
    cols = list(_KINDS[kind])
    frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=True)
    if len(frame) and [str(x).strip() for x in frame.iloc[0]] == cols:
        frame = frame.iloc[1:]
    if frame.shape[1] != len(cols):
        raise ValueError(f"{path}: a PAI {kind} table has {len(cols)} columns {cols}, found {frame.shape[1]}")
    frame.columns = cols
    return frame.reset_index(drop=True)


def _first_line(path) -> str:
    try:
        frame = pd.read_csv(path, header=None, nrows=1, dtype=str)
    except pd.errors.EmptyDataError:
        return ""
    return ",".join("" if pd.isna(x) else str(x) for x in frame.iloc[0])


def machine_cluster(machines: pd.DataFrame, source: str = "pai_machine_spec") -> Cluster:
    """Pools of identical machines of a ``pai_machine_spec`` table (see the module docstring)."""
    m = pd.DataFrame({
        "gpu_type": machines["gpu_type"].fillna("").astype(str),
        "cpu": numbers(machines["cap_cpu"]),
        "mem_gb": numbers(machines["cap_mem"]),
        "gpu": numbers(machines["cap_gpu"]),
    })
    return cluster_of_machines(m, "gpu_type", source=source)


def read(*sources, order: str = "parallel", status=None, instances: str = "expand") -> ImportResult:
    """Import PAI tables; see the module docstring for the mapping and options."""
    if order not in ("parallel", "recorded"):
        raise ValueError(f"order must be 'parallel' or 'recorded', got {order!r}")
    if instances not in ("expand", "one"):
        raise ValueError(f"instances must be 'expand' or 'one', got {instances!r}")
    notes = []
    tables = {"job": [], "task": [], "machine": []}
    for path in files_of(sources):
        kind = _kind(path, _first_line(path))
        if kind is None:
            notes.append(f"{path.name}: not a job, task or machine-spec table; skipped")
            continue
        tables[kind].append(_read_table(path, kind))
    if not tables["task"]:
        raise ValueError("no pai_task_table among the sources (it is required)")
    tasks = pd.concat(tables["task"], ignore_index=True)
    jobs = pd.concat(tables["job"], ignore_index=True) if tables["job"] else None
    machines = pd.concat(tables["machine"], ignore_index=True) if tables["machine"] else None
    label = ", ".join(str(s) for s in sources)
    drops = Drops()
    keep_status = None if status is None else {str(s) for s in ([status] if isinstance(status, str) else status)}

    cluster = machine_cluster(machines, source=f"{label}:pai_machine_spec") if machines is not None else None

    # ---- task rows
    t = tasks
    t_start, t_end = seconds(t["start_time"]), seconds(t["end_time"])
    inst = numbers(t["inst_num"])
    cpu, mem, gpu = numbers(t["plan_cpu"]) / 100.0, numbers(t["plan_mem"]), numbers(t["plan_gpu"]).fillna(0.0) / 100.0
    ok = np.ones(len(t), dtype=bool)

    def drop(reason, mask):
        nonlocal ok
        mask = np.asarray(mask, dtype=bool) & ok
        ok &= drops.add(f"pai_task_table: {reason}", mask, t, "job_name")

    if jobs is not None:
        drop("job_name not in pai_job_table", ~member(t["job_name"], jobs["job_name"]))
    if keep_status is not None:
        drop(f"status not in {sorted(keep_status)}", ~member(t["status"], list(keep_status)))
    drop("no start_time or end_time (a Running or Waiting task)", (t_start.isna() | t_end.isna()).to_numpy())
    drop("end_time <= start_time (no time span to replay)", (t_end <= t_start).to_numpy())
    drop("inst_num missing or < 1", ~((inst >= 1) & (inst == np.floor(inst))).to_numpy())
    drop("plan_cpu or plan_mem missing or negative", ~((cpu >= 0) & (mem >= 0)).to_numpy())
    drop("plan_gpu negative", (gpu < 0).to_numpy())
    key = (t["job_name"].astype(str) + "\x00" + t["task_name"].astype(str)).where(ok)
    drop("(job_name, task_name) repeated; the first usable row is kept",
         (key.duplicated(keep="first") & key.notna()).to_numpy())
    if instances == "one":
        cpu, mem, gpu = cpu * inst, mem * inst, gpu * inst
    if cluster is not None:
        cap = cluster.pools[["cpu", "gpu", "mem_gb"]].to_numpy(np.float64)
        req = np.column_stack([cpu.fillna(0), gpu.fillna(0), mem.fillna(0)])
        fits = np.zeros(len(t), dtype=bool)
        for q in range(len(cap)):
            fits |= (cap[q] >= req - _FIT_TOL).all(axis=1)
        per = "per instance" if instances == "expand" else "inst_num x plan, instances='one'"
        drop(f"request ({per}) fits on no machine of pai_machine_spec", ~fits)

    # ---- job rows
    if jobs is not None:
        j = jobs
        j_start = seconds(j["start_time"])
        jok = np.ones(len(j), dtype=bool)

        def jdrop(reason, mask):
            nonlocal jok
            mask = np.asarray(mask, dtype=bool) & jok
            jok &= drops.add(f"pai_job_table: {reason}", mask, j, "job_name")

        jdrop("job_name repeated; the first row is kept", j["job_name"].duplicated(keep="first").to_numpy())
        if keep_status is not None:
            jdrop(f"status not in {sorted(keep_status)}", ~member(j["status"], list(keep_status)))
        jdrop("no start_time (submission)", j_start.isna().to_numpy())
        jdrop("no usable task row", ~member(j["job_name"], t.loc[ok, "job_name"]))
        kept_names = j.loc[jok, "job_name"]
        drop("task of a dropped job", ~member(t["job_name"], kept_names))
        pj = pd.DataFrame({"job_name": j.loc[jok, "job_name"].to_numpy(),
                           "submit": j_start[jok].to_numpy(),
                           "inst_id": j.loc[jok, "inst_id"].to_numpy(),
                           "user": j.loc[jok, "user"].to_numpy(),
                           "status": j.loc[jok, "status"].to_numpy()})
        notes.append("submit_time: the job's start_time in pai_job_table (its submission)")
    else:
        first = pd.DataFrame({"job_name": t.loc[ok, "job_name"], "submit": t_start[ok]})
        pj = first.groupby("job_name", sort=False)["submit"].min().reset_index()
        notes.append("no pai_job_table: submit_time is the earliest start_time of the job's task rows")

    pj = pj.sort_values("submit", kind="stable").reset_index(drop=True)
    origin = float(pj["submit"].min()) if len(pj) else 0.0
    pj["pipeline_id"] = np.arange(len(pj), dtype=np.int64)
    pipelines = pd.DataFrame({"pipeline_id": pj["pipeline_id"], "submit_time": pj["submit"] - origin})
    for c in ("job_name", "inst_id", "user", "status"):
        if c in pj.columns:
            pipelines[c] = pj[c].to_numpy()
    pipelines["time_origin"] = origin

    # ---- simulated tasks: one per instance (or per row), grouped by pipeline
    rows = np.flatnonzero(ok)
    pid_of_job = pd.Series(pj["pipeline_id"].to_numpy(), index=pj["job_name"].to_numpy())
    rp = pid_of_job.reindex(t["job_name"].to_numpy()[rows]).to_numpy()
    if rows.size and np.isnan(rp.astype(np.float64)).any():
        raise AssertionError("a kept task row has no pipeline")  # cannot happen: drops above
    rp = rp.astype(np.int64)
    rorder = np.lexsort((rows, rp))
    rows, rp = rows[rorder], rp[rorder]
    n_inst = inst.to_numpy()[rows].astype(np.int64) if instances == "expand" else np.ones(len(rows), np.int64)
    rep_row = np.repeat(rows, n_inst)
    k = np.arange(len(rep_row)) - np.repeat(np.cumsum(n_inst) - n_inst, n_inst)
    role = t["task_name"].fillna("task").astype(str).str.replace(";", ",", regex=False).str.strip()
    role = role.where(role != "", "task").to_numpy(dtype=object)
    single = np.repeat(n_inst == 1, n_inst)
    names = np.where(single, role[rep_row], role[rep_row] + "." + pd.Series(k).astype(str).to_numpy(dtype=object))
    duration = (t_end - t_start).to_numpy()
    task_frame = pd.DataFrame({
        "pipeline_id": np.repeat(rp, n_inst),
        "task": names,
        "type": role[rep_row],
        "cpu": cpu.to_numpy()[rep_row],
        "gpu": gpu.to_numpy()[rep_row],
        "mem_gb": mem.to_numpy()[rep_row],
        "duration": duration[rep_row],
        "after": "",
        "gpu_type": t["gpu_type"].fillna("").astype(str).to_numpy()[rep_row],
        "task_status": t["status"].astype(str).to_numpy()[rep_row],
    })
    if order == "recorded" and len(rows):
        task_frame["after"] = _recorded_after(rows, rp, names, rep_row, n_inst, t_start.to_numpy(),
                                              t_end.to_numpy())
    notes.extend(_notes(order, instances, cluster, keep_status))
    trace = build_trace(pipelines, task_frame, source=f"{FORMAT}:{label}")
    notes.append(f"imported {trace.n_pipelines} jobs as pipelines and {len(rows)} task rows as "
                 f"{trace.n_tasks} tasks; dropped {drops.total()} source rows (see dropped)")
    return ImportResult(trace=trace, cluster=cluster, dropped=drops.frame(), notes=notes)


def _recorded_after(rows, rp, names, rep_row, n_inst, start, end) -> np.ndarray:
    """``after`` of each simulated task: the instances of every task row of the same
    job that ended at or before its own row started (rows grouped by pipeline)."""
    rowframe = pd.DataFrame({"pid": rp, "row": rows, "start": start[rows], "end": end[rows]})
    pairs = rowframe.merge(rowframe, on="pid", suffixes=("", "_pred"))
    pairs = pairs[(pairs["row"] != pairs["row_pred"]) & (pairs["start"] >= pairs["end_pred"])]
    after_row = pd.Series("", index=rows, dtype=object)
    if len(pairs):
        preds = pd.unique(pairs["row_pred"].to_numpy())
        inst = pd.DataFrame({"row": rep_row, "name": names})
        joined_inst = inst[inst["row"].isin(preds)].groupby("row", sort=False)["name"].agg(";".join)
        lists = pd.DataFrame({"row": pairs["row"].to_numpy(),
                              "names": joined_inst.reindex(pairs["row_pred"].to_numpy()).to_numpy()})
        joined = lists.groupby("row", sort=False)["names"].agg(";".join)
        after_row.loc[joined.index] = joined.to_numpy()
    return np.repeat(after_row.to_numpy(dtype=object), n_inst)


def _notes(order, instances, cluster, keep_status) -> list[str]:
    out = [
        "pipelines: one per job (pai_job_table row), numbered in order of submission; "
        "submit_time relative to the earliest kept job (time_origin column gives the trace time subtracted)",
        "tasks: " + ("one per instance of each pai_task_table row (inst_num instances named ROLE.k, "
                     "or ROLE when inst_num is 1), each with the row's plan"
                     if instances == "expand" else
                     "one per pai_task_table row, asking for inst_num times the per-instance plan"),
        "resources: cpu = plan_cpu/100 cores, gpu = plan_gpu/100 GPUs (empty = 0), mem_gb = plan_mem GB",
        "duration: end_time - start_time of the task row; type: the task_name (role); "
        "gpu_type kept as a task attribute (placement does not use it)",
        ("order: parallel - the roles of a job run at the same time (no 'after' edges), "
         "so on an idle cluster a job's response is its longest task"
         if order == "parallel" else
         "order: recorded - a task row that started at or after another of its job ended comes after it"),
        "status: " + ("every status kept (Running/Waiting rows have no end time and are dropped)"
                      if keep_status is None else f"kept only {sorted(keep_status)}"),
    ]
    if cluster is None:
        out.append("cluster: none (no pai_machine_spec among the sources)")
    else:
        out.append(f"cluster: {len(cluster.pools)} pools of identical machines from pai_machine_spec, "
                   f"{cluster.n_nodes} machines; gpu_type of a pool kept as a column")
    return out
