"""Alibaba cluster-trace-v2018 ``batch_task`` -> fastpipesim trace (MODEL.md 2).

Source: ``batch_task.csv`` of https://github.com/alibaba/clusterdata
(cluster-trace-v2018), columns ``task_name, instance_num, job_name, task_type,
status, start_time, end_time, plan_cpu, plan_mem``. The raw file has no header;
a file whose first line starts with ``task_name`` is read with its header.
A source is a file or a folder (every ``batch_task*.csv*`` in it; pandas reads
``.gz`` files directly). Vectorized with pandas/numpy: no Python loop over rows
(the loops are over DAG levels and over predecessor positions, a few hundred
at most).

Mapping (each choice is repeated in ``ImportResult.notes``):

- Job -> pipeline. ``pipeline_id`` is 0, 1, ... in order of ``submit_time``
  (then job name); the job's name is kept in the pipeline column ``job_name``.
  ``submit_time`` = the earliest recorded ``start_time`` of the job's tasks
  (the trace has no submission time), in the trace's own seconds (not shifted).
  Other pipeline columns: ``recorded_end`` (latest ``end_time``),
  ``recorded_makespan`` (``recorded_end - submit_time``) and ``broken_edges``
  (how many of the job's DAG edges the recorded times break, see below).
- Task -> task (one row of batch_task is one simulated task). ``task`` is the
  original ``task_name``; ``type`` is its letter prefix (``M``, ``R``, ``J``,
  ...; ``task`` for the non-DAG ``task_*`` names). ``instance_num`` is NOT
  multiplied in: the request is that of one instance (``cpu`` = plan_cpu / 100
  cores, ``mem_gb`` = plan_mem / 100 * ``mem_per_machine``), and ``duration`` =
  ``end_time - start_time``, the recorded span of all the task's instances
  (which ran in parallel and in waves). So a simulated task is one instance
  slot held for the whole task; the real load is up to ``instance_num`` times
  larger. ``instance_num`` is kept as a task column. (Expanding instances would
  need instance-to-instance edges, up to n*m per DAG edge; batch_instance is
  the table for that.)
- ``mem_gb`` holds memory in the trace's normalized unit: by default
  ``mem_per_machine=100``, so ``mem_gb`` = plan_mem (percent of a machine) and
  the default cluster's nodes have 100. Give ``mem_per_machine`` in GiB to get GiB.
- DAG: ``M5_3_4`` is task 5 after tasks 3 and 4 (only the numbers matter);
  ``after`` lists the predecessors' full task names. Names ``task_*`` are the
  trace's non-DAG tasks: kept, with no predecessor.
- Truncated names: ``task_name`` is cut at 50 characters in the trace
  (``R24_1_2_..._18_1``; sometimes ending in ``_``). A name of exactly
  ``truncated_at`` (50) characters is taken as cut: a trailing ``_`` is removed,
  otherwise its last number (which may be cut, "1" of "19") is ignored; the
  dependencies after the cut are unknown and are lost. Counted in the notes.
- Zero-length tasks (``end_time == start_time``, sub-second: times are whole
  seconds) get ``duration = zero_duration`` (default 0.5 s, half the
  resolution), since MODEL.md needs duration > 0. Counted in the notes.
- Dropped, with the reason counted in ``ImportResult.dropped`` (nothing is
  dropped silently; a row is counted once, under its first reason):

  * rows with no ``job_name``;
  * jobs with a task whose ``status`` is not ``Terminated`` (``statuses``):
    Running / Waiting tasks have no recorded end; in a Failed job the other
    tasks were cut short at the failure, so the job is not one whole run;
  * jobs with a finished task whose start/end time is missing or end < start;
  * jobs with a task whose plan_cpu or plan_mem is missing or negative;
  * jobs with a broken task name (neither DAG-encoded ``<letters><n>[_<n>...]``
    nor ``task_*`` without ``;``), a task name twice, a task number twice
    (``M2`` and ``R2``), a dependency on a task number the job does not have,
    or a cycle in the dependencies (``M1_2`` with ``M2_1``; ``M3_3``; the rows
    on or downstream of the cycle are counted under this reason);
  * jobs with a task that fits on no node of the cluster;

  and, under "other task of a dropped job", the remaining rows of those jobs
  (a DAG with a task removed would not be the job that ran).
- Recorded times vs the DAG: the trace often starts a task before a
  predecessor's recorded end (instances of successors start while stragglers
  of the predecessor run, and times are per task, not per instance). The notes
  report how many edges, tasks and jobs do so, and each pipeline's
  ``broken_edges``; the replay follows the DAG strictly, so the recorded
  makespan is no bound on the simulated response.
- Cluster: the sample has no machine table. ``cluster=`` takes a Cluster;
  by default one pool ``v2018`` of ``machines`` (4000: "about 4000 machines"
  per trace_2018.md) nodes of 96 cores, 0 GPUs and ``mem_per_machine`` memory,
  like the v2018 machines (96 cores, normalized memory 100).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..cluster import Cluster
from ..errors import InputError
from ..trace import Trace
from . import ImportResult

FORMAT = "alibaba-2018"
DESCRIPTION = "Alibaba cluster-trace-v2018 batch_task (jobs with DAG-encoded task names) -> one pipeline per job"

COLUMNS = ("task_name", "instance_num", "job_name", "task_type", "status",
           "start_time", "end_time", "plan_cpu", "plan_mem")
NUMERIC = ("instance_num", "start_time", "end_time", "plan_cpu", "plan_mem")
MACHINE_CORES = 96.0
DEFAULT_MACHINES = 4000
_DAG_NAME = r"^([A-Za-z]*)(\d+)((?:_\d+)*)(_?)$"

# reasons, in the order they are tried (a row is counted under the first)
R_NO_JOB = "job_name missing (row belongs to no job)"
R_STATUS = "job has a task with status {} (not a whole finished run)"
R_TIMES = "job has a finished task with missing start/end time or end < start"
R_PLAN = "job has a task with missing or negative plan_cpu/plan_mem"
R_NAME = "job has a broken task_name (neither <letters><n>[_<n>...] nor task_*)"
R_DUP_NAME = "job lists a task_name twice"
R_DUP_NUM = "job has two tasks with the same task number"
R_DANGLING = "job has a task depending on a task number not in the job"
R_CYCLE = "job has a cycle in its task dependencies"
R_FIT = "job has a task that fits on no node of the cluster"
R_OTHER = "other task of a dropped job"


def default_cluster(machines: int = DEFAULT_MACHINES, mem_per_machine: float = 100.0) -> Cluster:
    """One pool of v2018-like machines: 96 cores, no GPU, ``mem_per_machine`` memory."""
    return Cluster.from_pools(
        [{"pool": "v2018", "count": int(machines), "cpu": MACHINE_CORES, "gpu": 0.0,
          "mem_gb": float(mem_per_machine), "speed": 1.0, "price_per_hour": 0.0}],
        source="alibaba-2018 default cluster",
    )


def _files(sources) -> list[Path]:
    files = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            found = sorted(x for x in p.glob("batch_task*.csv*") if x.is_file())
            if not found:
                raise InputError(str(p), "no batch_task*.csv file in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(str(p), "file not found")
    if not files:
        raise InputError("alibaba-2018", "no source given (a batch_task.csv file or a folder)")
    return files


def _read_one(path: Path) -> pd.DataFrame:
    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
        has_header = len(first) > 0 and str(first.iloc[0, 0]).strip() == "task_name"
        frame = pd.read_csv(
            path, header=0 if has_header else None, names=None if has_header else list(COLUMNS),
            dtype={"task_name": str, "job_name": str, "status": str, "task_type": str},
            skipinitialspace=True, low_memory=False,
        )
    except Exception as exc:
        raise InputError(str(path), f"cannot be read as a batch_task CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(str(path), f"missing column(s) {missing}; batch_task has {list(COLUMNS)}")
    frame = frame[list(COLUMNS)].copy()
    for c in NUMERIC:  # garbage text becomes missing (counted by the rules below)
        if not pd.api.types.is_numeric_dtype(frame[c]):
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
        frame[c] = frame[c].astype(np.float64)
    for c in ("task_name", "job_name", "status", "task_type"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), "").astype(str).str.strip()
    frame["source_file"] = path.name
    frame["source_row"] = np.arange(len(frame), dtype=np.int64) + (2 if has_header else 1)
    return frame


def dag_levels(n: int, pred: np.ndarray, succ: np.ndarray) -> np.ndarray:
    """Topological level of each of ``n`` nodes (roots 0), or -1 for nodes on or after a cycle.

    Kahn's algorithm, one vectorized step per level.
    """
    pred = np.asarray(pred, dtype=np.int64)
    succ = np.asarray(succ, dtype=np.int64)
    level = np.full(n, -1, dtype=np.int64)
    indeg = np.bincount(succ, minlength=n)
    order = np.argsort(pred, kind="stable")
    sp, ss = pred[order], succ[order]
    ptr = np.searchsorted(sp, np.arange(n + 1))
    frontier = np.flatnonzero(indeg == 0)
    k = 0
    while frontier.size:
        level[frontier] = k
        counts = ptr[frontier + 1] - ptr[frontier]
        total = int(counts.sum())
        if total == 0:
            break
        starts = np.repeat(ptr[frontier], counts)
        offs = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        targets = ss[starts + offs]
        hit = np.bincount(targets, minlength=n)
        touched = np.flatnonzero(hit)
        indeg[touched] -= hit[touched]
        frontier = touched[indeg[touched] == 0]
        k += 1
    return level


def _join_names(n: int, row: np.ndarray, names: np.ndarray) -> np.ndarray:
    """``;``-joined ``names`` per ``row`` (0..n-1), in the given order; "" for none.

    Loops over positions within a row (at most ~25 with 50-character names), not rows.
    """
    out = np.full(n, "", dtype=object)
    if len(row) == 0:
        return out
    order = np.argsort(row, kind="stable")
    row, names = row[order], names[order]
    first = np.r_[True, row[1:] != row[:-1]]
    grp_start = np.maximum.accumulate(np.where(first, np.arange(len(row)), 0))
    rank = np.arange(len(row)) - grp_start
    for r in range(int(rank.max()) + 1):
        m = rank == r
        sep = "" if r == 0 else ";"
        out[row[m]] = out[row[m]] + (sep + names[m].astype(object))
    return out


def read(*sources, cluster: Cluster | None = None, machines: int = DEFAULT_MACHINES,
         mem_per_machine: float = 100.0, zero_duration: float = 0.5, truncated_at: int = 50,
         statuses=("Terminated",)) -> ImportResult:
    """Import batch_task file(s) of cluster-trace-v2018 (see the module docstring for the mapping).

    Parameters
    ----------
    cluster : Cluster, optional
        The cluster to check requests against and return; default
        :func:`default_cluster` (``machines`` nodes of 96 cores, ``mem_per_machine``).
    mem_per_machine : float
        Memory of one machine in the unit wanted for ``mem_gb`` (plan_mem is a
        percentage of it); 100 keeps the trace's normalized unit.
    zero_duration : float
        Seconds given to tasks with end_time == start_time.
    truncated_at : int
        Length at which task names are cut in the trace (0 to trust every name).
    statuses : tuple of str
        Task statuses a kept job may have (default only ``Terminated``).
    """
    if not zero_duration > 0:
        raise ValueError("zero_duration must be > 0")
    files = _files(sources)
    df = pd.concat([_read_one(f) for f in files], ignore_index=True)
    n_rows = len(df)
    cluster = default_cluster(machines, mem_per_machine) if cluster is None else cluster
    reason = np.full(n_rows, "", dtype=object)
    free = np.ones(n_rows, dtype=bool)  # no reason yet

    def mark(mask, why):
        mask = np.asarray(mask, dtype=bool) & free
        reason[mask] = why
        free[mask] = False

    # job and task names as integer codes (names repeat: M1, R2_1, ... are parsed once each)
    job = df["job_name"].to_numpy(object)
    jcode, uniq_jobs = pd.factorize(df["job_name"])
    uniq_jobs = np.asarray(uniq_jobs, dtype=object)
    ncode, uniq_names = pd.factorize(df["task_name"])
    names = np.asarray(uniq_names, dtype=object)[ncode]

    # --- row rules
    mark(df["job_name"].to_numpy(object) == "", R_NO_JOB)
    status = df["status"].to_numpy(object)
    bad_status = ~df["status"].isin(list(statuses)).to_numpy()
    for s in pd.unique(status[bad_status & free]):
        mark(bad_status & (status == s), R_STATUS.format(s if s else "(empty)"))
    st, en = df["start_time"].to_numpy(), df["end_time"].to_numpy()
    mark(np.isnan(st) | np.isnan(en) | (en < st) | (st < 0), R_TIMES)
    pc, pm = df["plan_cpu"].to_numpy(), df["plan_mem"].to_numpy()
    mark(np.isnan(pc) | np.isnan(pm) | (pc < 0) | (pm < 0), R_PLAN)

    u = pd.Series(np.asarray(uniq_names, dtype=object), dtype=object)
    parts = u.str.extract(_DAG_NAME)  # on distinct names only
    u_dag = parts[1].notna().to_numpy()
    u_plain = u.str.startswith("task_").to_numpy() & ~u.str.contains(";", regex=False).to_numpy() & ~u_dag
    u_cut = u_dag & (truncated_at > 0) & (u.str.len().to_numpy() == truncated_at)
    u_trailing = parts[3].fillna("").to_numpy(object) == "_"
    u_num = np.where(u_dag, pd.to_numeric(parts[1], errors="coerce").fillna(-1).to_numpy(), -1).astype(np.int64)
    u_prefix = parts[0].fillna("").to_numpy(object)
    is_dag, is_plain, cut, trailing = u_dag[ncode], u_plain[ncode], u_cut[ncode], u_trailing[ncode]
    mark(~is_dag & ~is_plain, R_NAME)
    mark(is_dag & trailing & ~cut, R_NAME)  # a trailing "_" only where the name was cut
    mark(pd.DataFrame({"j": jcode, "n": ncode}).duplicated(keep=False).to_numpy(), R_DUP_NAME)

    num = u_num[ncode]
    dag_row = np.flatnonzero(is_dag)
    dup_num = pd.DataFrame({"j": jcode[dag_row], "num": num[dag_row]}).duplicated(keep=False).to_numpy()
    bad = np.zeros(n_rows, dtype=bool)
    bad[dag_row[dup_num]] = True
    mark(bad, R_DUP_NUM)

    # --- dependencies of each distinct name: (name, predecessor number)
    dep_text = parts[2].fillna("").str[1:]
    dep_text = dep_text[u_dag & (dep_text != "")]
    deps = dep_text.str.split("_").explode()
    d_name = deps.index.to_numpy(np.int64)
    d_num = pd.to_numeric(deps, errors="coerce").to_numpy(np.int64)
    # drop the last (possibly cut) number of a cut name without a trailing "_"
    last = np.r_[d_name[1:] != d_name[:-1], True] if len(d_name) else np.zeros(0, bool)
    u_lost = np.bincount(d_name[last & u_cut[d_name] & ~u_trailing[d_name]], minlength=len(u))
    keep_d = ~(last & u_cut[d_name] & ~u_trailing[d_name])
    # duplicates within one name ("M3_1_1") count once
    e = pd.DataFrame({"name": d_name[keep_d], "num": d_num[keep_d]}).drop_duplicates()
    d_name, d_num = e["name"].to_numpy(np.int64), e["num"].to_numpy(np.int64)
    order = np.argsort(d_name, kind="stable")
    d_name, d_num = d_name[order], d_num[order]
    d_ptr = np.searchsorted(d_name, np.arange(len(u) + 1))
    n_cut_names, n_lost = int(cut.sum()), int(u_lost[ncode].sum())
    # ... expanded to rows: (successor row, predecessor number)
    cnt = (d_ptr[ncode + 1] - d_ptr[ncode]) * is_dag
    e_succ = np.repeat(np.arange(n_rows, dtype=np.int64), cnt)
    offs = np.arange(len(e_succ)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    e_num = d_num[np.repeat(d_ptr[ncode], cnt) + offs]
    # predecessor rows: look up (job, number) among the job's DAG tasks (unique numbers only)
    key = pd.DataFrame({"job": jcode[dag_row], "num": num[dag_row], "row": dag_row})
    key = key.drop_duplicates(["job", "num"])  # jobs with a number twice are dropped anyway
    look = pd.DataFrame({"job": jcode[e_succ], "num": e_num, "succ": e_succ}).merge(key, on=["job", "num"], how="left")
    e_succ = look["succ"].to_numpy(np.int64)
    e_pred_f = look["row"].to_numpy(np.float64)
    dangling = np.isnan(e_pred_f)
    bad = np.zeros(n_rows, dtype=bool)
    bad[e_succ[dangling]] = True
    mark(bad, R_DANGLING)
    e_succ, e_pred = e_succ[~dangling], e_pred_f[~dangling].astype(np.int64)

    # --- cycles (on the rows still kept, per job: edges stay within a job)
    level = dag_levels(n_rows, e_pred, e_succ)
    mark(level < 0, R_CYCLE)

    # --- fit on the cluster
    cpu = pc / 100.0
    mem = pm / 100.0 * float(mem_per_machine)
    pools = cluster.pools[cluster.pools["count"] > 0]
    fits = np.zeros(n_rows, dtype=bool)
    for _, p in pools.iterrows():  # a few pools; vectorized over rows
        fits |= (cpu <= p["cpu"] + 1e-9) & (mem <= p["mem_gb"] + 1e-9)
    mark(~fits & ~np.isnan(cpu) & ~np.isnan(mem), R_FIT)

    # --- whole jobs go
    bad_job = np.zeros(int(jcode.max()) + 1 if n_rows else 0, dtype=bool)
    bad_job[jcode[~free & (job != "")]] = True
    mark(bad_job[jcode] & (job != ""), R_OTHER)
    keep = free
    n_bad_jobs = int(bad_job.sum())

    dropped = _dropped_table(df, reason, jcode)
    if not keep.any():
        raise InputError(", ".join(map(str, files)), "no job left to import: " + "; ".join(
            f"{r.reason}: {r.rows} rows" for r in dropped.itertuples()))
    ek = keep[e_succ] & keep[e_pred]  # both ends are in one job, so both or neither
    e_succ, e_pred = e_succ[ek], e_pred[ek]

    # --- pipelines
    jobs = pd.DataFrame({"j": jcode[keep], "submit_time": st[keep], "recorded_end": en[keep]}).groupby("j").agg(
        submit_time=("submit_time", "min"), recorded_end=("recorded_end", "max")).reset_index()
    jobs["job_name"] = uniq_jobs[jobs["j"].to_numpy()]
    jobs = jobs.sort_values(["submit_time", "job_name"], kind="stable").reset_index(drop=True)
    jobs["pipeline_id"] = np.arange(len(jobs), dtype=np.int64)
    pid_of_job = np.full(len(uniq_jobs), -1, dtype=np.int64)
    pid_of_job[jobs["j"].to_numpy()] = jobs["pipeline_id"].to_numpy()
    broken = en[e_pred] > st[e_succ]
    n_broken = np.bincount(jcode[e_succ], weights=broken, minlength=len(uniq_jobs))
    jobs["broken_edges"] = n_broken[jobs["j"].to_numpy()].astype(np.int64)
    pipelines = pd.DataFrame({
        "pipeline_id": jobs["pipeline_id"],
        "submit_time": jobs["submit_time"].astype(np.float64),
        "model_id": 0,
        "priority": 0,
        "job_name": jobs["job_name"],
        "recorded_end": jobs["recorded_end"].astype(np.float64),
        "recorded_makespan": (jobs["recorded_end"] - jobs["submit_time"]).astype(np.float64),
        "broken_edges": jobs["broken_edges"],
    })

    # --- tasks
    rows = np.flatnonzero(keep)
    after = _join_names(n_rows, e_succ, names[e_pred])
    dur = (en - st).astype(np.float64)
    zero = keep & (dur == 0)
    dur = np.where(dur == 0, float(zero_duration), dur)
    prefix = u_prefix[ncode]
    ttype = np.where(is_plain, "task", np.where(prefix == "", "task", prefix))
    tasks = pd.DataFrame({
        "pipeline_id": pid_of_job[jcode[rows]],
        "task": names[rows],
        "type": ttype[rows],
        "cpu": cpu[rows],
        "gpu": 0.0,
        "mem_gb": mem[rows],
        "duration": dur[rows],
        "after": after[rows],
        "instance_num": df["instance_num"].to_numpy()[rows],
        "task_type": df["task_type"].to_numpy(object)[rows],
        "status": status[rows],
        "start_time": st[rows],
        "end_time": en[rows],
        "plan_cpu": pc[rows],
        "plan_mem": pm[rows],
        "task_number": np.where(is_dag, num, -1)[rows],
    })
    tasks = tasks.sort_values(["pipeline_id", "task_number", "task"], kind="stable").reset_index(drop=True)
    trace = Trace.from_frames(pipelines, tasks, source=f"alibaba-2018:{','.join(f.name for f in files)}")

    # --- how often the recorded times break the DAG (kept jobs)
    n_edges = len(e_succ)
    broken_tasks = len(np.unique(e_succ[broken]))
    late = en[e_pred] - st[e_succ]
    notes = [
        f"Read {n_rows} rows from {len(files)} file(s): {', '.join(map(str, files))}.",
        f"Imported {len(pipelines)} jobs as pipelines and {len(tasks)} tasks with {n_edges} DAG edges; "
        f"dropped {int((~keep).sum())} rows of {n_bad_jobs} jobs (see the dropped table).",
        "Job -> pipeline: pipeline_id 0.. in order of submit_time (then job name); job name in column "
        "job_name; submit_time = the job's earliest task start_time (trace seconds, not shifted); "
        "recorded_end, recorded_makespan and broken_edges are kept as pipeline columns.",
        "Task -> task: one simulated task per batch_task row; task = task_name, type = its letter prefix "
        "(M, R, J, ...; 'task' for non-DAG task_* names), cpu = plan_cpu/100 cores and "
        f"mem_gb = plan_mem/100*{mem_per_machine:g} per INSTANCE (instance_num is not multiplied in; kept as a "
        "column), duration = end_time - start_time (the span of all instances): a task is one instance slot "
        "held for the whole task, so the real load is up to instance_num times larger.",
        "DAG: 'M5_3_4' = task 5 after tasks 3 and 4 (numbers only); after = the predecessors' task names; "
        "task_* names have no predecessor.",
        f"Truncated names: {n_cut_names} task names are exactly {truncated_at} characters (cut in the trace); "
        f"a trailing '_' was removed and otherwise the last, possibly cut, number ignored: {n_lost} "
        "dependency numbers ignored; dependencies after the cut are unknown (lost).",
        f"Zero-length tasks (end_time == start_time; times are whole seconds): {int(zero.sum())} tasks given "
        f"duration {zero_duration:g} s (MODEL.md needs duration > 0).",
        f"Kept statuses: {', '.join(statuses)}; a job with any other task status is dropped whole "
        "(Running/Waiting have no end; in a Failed job the other tasks were cut short).",
        f"Recorded times vs the DAG: {int(broken.sum())} of {n_edges} edges "
        f"({100.0 * broken.sum() / max(n_edges, 1):.1f}%) have the successor start before the predecessor's "
        f"recorded end (median overlap {float(np.median(late[broken])) if broken.any() else 0.0:g} s); "
        f"{broken_tasks} of {len(tasks)} tasks and {int((pipelines['broken_edges'] > 0).sum())} of "
        f"{len(pipelines)} jobs are affected. The replay follows the DAG strictly, so the recorded makespan "
        "is no bound on the simulated response.",
        (f"Cluster: given ({cluster.n_nodes} nodes)." if cluster.source != "alibaba-2018 default cluster" else
         f"Cluster: the trace has no machine table here; default one pool 'v2018' of {int(machines)} machines "
         f"(about 4000 per trace_2018.md) with {MACHINE_CORES:g} cores, 0 GPUs, mem_gb {mem_per_machine:g} "
         "(plan_mem's normalized 100 = one machine). Pass cluster= to change it."),
    ]
    return ImportResult(trace=trace, cluster=cluster, dropped=dropped, notes=notes)


def _text(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.15g}"
    return str(v)


def _dropped_table(df: pd.DataFrame, reason: np.ndarray, jcode: np.ndarray) -> pd.DataFrame:
    out = []
    drop = np.flatnonzero(reason != "")
    if drop.size:
        r = pd.Series(reason[drop])
        for why, idx in r.groupby(r, sort=False).groups.items():
            rows = drop[np.asarray(idx)]
            first = df.iloc[rows[0]]
            example = (f"{first['source_file']} row {first['source_row']}: "
                       + ",".join(_text(first[c]) for c in COLUMNS))
            named = df["job_name"].to_numpy(object)[rows] != ""
            out.append({"reason": why, "rows": int(len(rows)),
                        "jobs": int(len(np.unique(jcode[rows][named]))), "example": example})
    out.sort(key=lambda d: d["reason"] == R_OTHER)  # the job-level remainder last
    return pd.DataFrame(out, columns=["reason", "rows", "jobs", "example"])
