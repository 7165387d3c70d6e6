"""Importers of GPU job logs: alibaba-gpu-2020 (PAI), helios, philly.

Small files in each documented format are written here (tmp_path); the PAI
machine table is the real one. Properties checked: counts (every source row is
imported or counted in ``dropped``), the mapping of fields, and the replay: on
an unbounded cluster each pipeline's simulated response equals its critical
path of recorded durations, and on the importer's own cluster every task completes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim import importers
from fastpipesim.cluster import Cluster

REAL = Path(__file__).resolve().parents[2] / "shared" / "traces-real"
if not REAL.exists():
    REAL = Path("/work/shared/traces-real")
PAI_SPEC = REAL / "alibaba-gpu-v2020-pai" / "pai_machine_spec.csv"
VENUS_GPUS = REAL / "helios-venus" / "cluster_gpu_number.csv"
needs_spec = pytest.mark.skipif(not PAI_SPEC.exists(), reason="real pai_machine_spec.csv not available")


# ---------------------------------------------------------------------------- helpers


def unbounded(trace) -> Cluster:
    """A cluster where no task ever waits: a node per task, each as large as the largest request."""
    t = trace.tasks
    return Cluster.from_pools([{"pool": "big", "count": len(t), "cpu": float(t["cpu"].max()),
                                "gpu": float(t["gpu"].max()), "mem_gb": float(t["mem_gb"].max())}])


def critical_path(trace) -> pd.Series:
    """Longest chain of durations through 'after' edges, per pipeline_id (plain Python)."""
    out = {}
    for pid, grp in trace.tasks.groupby("pipeline_id", sort=False):
        dur = dict(zip(grp["task"], grp["duration"]))
        preds = {n: [p.strip() for p in a.split(";") if p.strip()] for n, a in zip(grp["task"], grp["after"])}
        finish = {}

        def f(n):
            if n not in finish:
                finish[n] = dur[n] + max((f(p) for p in preds[n]), default=0.0)
            return finish[n]

        out[pid] = max(f(n) for n in dur)
    return pd.Series(out).sort_index()


def check_replay(result):
    """Response = critical path on an unbounded cluster; every task completes on the importer's cluster."""
    trace = result.trace
    res = fps.simulate(trace, unbounded(trace), record_tasks=True, threads=1, progress=False)
    resp = res.pipelines.set_index("pipeline_id")["response"].sort_index()
    np.testing.assert_allclose(resp.to_numpy(), critical_path(trace).to_numpy(), rtol=1e-12, atol=1e-6)
    if result.cluster is not None:
        res = fps.simulate(trace, result.cluster, record_tasks=True, threads=1, progress=False)
        assert (res.tasks["status"] == "completed").all()
        assert len(res.pipelines) == trace.n_pipelines


def dropped(result) -> dict:
    return dict(zip(result.dropped["reason"], result.dropped["rows"]))


def check_notes_and_columns(result):
    assert result.notes and all(isinstance(n, str) for n in result.notes)
    assert set(result.dropped.columns) == {"reason", "rows", "example"}
    p = result.trace.pipelines
    assert (p["submit_time"] >= 0).all() and p["submit_time"].min() == 0
    assert (np.diff(p["submit_time"].to_numpy()) >= 0).all()  # numbered in submission order
    assert (p["pipeline_id"].to_numpy() == np.arange(len(p))).all()


# ---------------------------------------------------------------------------- format registry


def test_formats_registered():
    for fmt, mod in (("alibaba-gpu-2020", "alibaba_gpu2020"), ("helios", "helios"), ("philly", "philly")):
        m = importers.importer(fmt)
        assert m.FORMAT == fmt and m.__name__.endswith(mod)
        assert isinstance(m.DESCRIPTION, str) and m.DESCRIPTION
        assert "Mapping" in m.__doc__


# ---------------------------------------------------------------------------- alibaba-gpu-2020 (PAI)

PAI_JOBS = """\
j1,i1,u1,Terminated,1000.0,2000.0
j2,i2,u2,Failed,1100.0,1500.0
j3,i3,u1,Running,1200.0,
j4,i4,u3,Terminated,900.0,1900.0
j5,i5,u3,Waiting,1300.0,
j1,i6,u9,Terminated,5.0,6.0
"""
PAI_TASKS = """\
j1,ps,2.0,Terminated,1010.0,1900.0,600.0,29.0,,
j1,worker,4.0,Terminated,1010.0,1800.0,800.0,30.0,100.0,V100
j2,tensorflow,1.0,Failed,1150.0,1400.0,400.0,10.0,50.0,T4
j3,tensorflow,1.0,Running,1250.0,,400.0,10.0,50.0,T4
j4,worker,1.0,Terminated,950.0,1200.0,400.0,10.0,100.0,
j4,evaluator,1.0,Terminated,1200.0,1300.0,400.0,10.0,100.0,
j9,worker,1.0,Terminated,950.0,1200.0,400.0,10.0,100.0,
j2,huge,1.0,Terminated,1150.0,1400.0,400.0,10.0,1600.0,V100
j2,nomem,1.0,Terminated,1150.0,1400.0,400.0,,100.0,V100
j2,tensorflow,1.0,Failed,1150.0,1400.0,400.0,10.0,50.0,T4
j4,zero,1.0,Terminated,1200.0,1200.0,400.0,10.0,100.0,
j4,noinst,0.0,Terminated,1200.0,1300.0,400.0,10.0,100.0,
"""


def write_pai(folder: Path, header: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = ("job_name,inst_id,user,status,start_time,end_time\n" if header else "") + PAI_JOBS
    tasks = ("job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type\n"
             if header else "") + PAI_TASKS
    (folder / "pai_job_table.csv").write_text(jobs)
    (folder / "pai_task_table.csv").write_text(tasks)
    return folder


@needs_spec
def test_pai_machine_spec_pools():
    from fastpipesim.importers.alibaba_gpu2020 import machine_cluster

    spec = pd.read_csv(PAI_SPEC)
    c = machine_cluster(spec)
    p = c.pools.set_index("pool")
    assert c.n_nodes == 1897 == len(spec)
    assert float((p["count"] * p["gpu"]).sum()) == 6742  # PROVENANCE: 6,742 GPUs
    # PROVENANCE lists the 7 combinations of (gpu_type, cores, memory, GPUs)
    expected = {"P100-64c-512g-2gpu": 798, "T4-96c-512g-2gpu": 497, "MISC-96c-512g-8gpu": 280,
                "V100M32-96c-384g-8gpu": 135, "CPU-96c-512g-0gpu": 83, "V100-96c-512g-8gpu": 59,
                "V100-96c-384g-8gpu": 45}
    assert p["count"].to_dict() == expected
    assert p.loc["CPU-96c-512g-0gpu", "gpu"] == 0 and p.loc["P100-64c-512g-2gpu", "cpu"] == 64
    assert list(c.pools["gpu"]) == sorted(c.pools["gpu"])  # CPU-only and small machines first
    # the same machines with the same spec form one pool, whatever the row order
    c2 = machine_cluster(spec.sample(frac=1.0, random_state=1))
    assert c2.pools.set_index("pool")["count"].to_dict() == expected


@needs_spec
@pytest.mark.parametrize("header", [False, True])
def test_pai_import_counts_and_mapping(tmp_path, header):
    r = importers.read("alibaba-gpu-2020", write_pai(tmp_path / "pai", header), PAI_SPEC)
    check_notes_and_columns(r)
    p, t = r.trace.pipelines, r.trace.tasks
    # jobs j4 (900), j1 (1000), j2 (1100); j3 and j5 have no usable task; duplicate j1 row counted
    assert list(p["job_name"]) == ["j4", "j1", "j2"]
    assert list(p["submit_time"]) == [0.0, 100.0, 200.0]
    assert (p["time_origin"] == 900.0).all()
    d = dropped(r)
    assert d == {
        "pai_task_table: job_name not in pai_job_table": 1,
        "pai_task_table: no start_time or end_time (a Running or Waiting task)": 1,
        "pai_task_table: end_time <= start_time (no time span to replay)": 1,
        "pai_task_table: inst_num missing or < 1": 1,
        "pai_task_table: plan_cpu or plan_mem missing or negative": 1,
        "pai_task_table: (job_name, task_name) repeated; the first usable row is kept": 1,
        "pai_task_table: request (per instance) fits on no machine of pai_machine_spec": 1,
        "pai_job_table: job_name repeated; the first row is kept": 1,
        "pai_job_table: no usable task row": 2,
    }
    # every source row is imported or counted
    n_task_rows, n_job_rows = len(PAI_TASKS.splitlines()), len(PAI_JOBS.splitlines())
    kept_rows = 5  # j1 ps, j1 worker, j2 tensorflow, j4 worker, j4 evaluator
    assert kept_rows + sum(v for k, v in d.items() if k.startswith("pai_task_table")) == n_task_rows
    assert len(p) + sum(v for k, v in d.items() if k.startswith("pai_job_table")) == n_job_rows
    # instances expanded: ps x2, worker x4
    assert r.trace.n_tasks == 2 + 4 + 1 + 1 + 1
    j1 = t[t["pipeline_id"] == 1].set_index("task")
    assert list(j1.index) == ["ps.0", "ps.1", "worker.0", "worker.1", "worker.2", "worker.3"]
    assert j1.loc["ps.0", "cpu"] == 6.0 and j1.loc["ps.0", "gpu"] == 0.0 and j1.loc["ps.0", "mem_gb"] == 29.0
    assert j1.loc["worker.3", "gpu"] == 1.0 and j1.loc["worker.3", "duration"] == 790.0
    assert j1.loc["worker.3", "gpu_type"] == "V100" and j1.loc["worker.0", "type"] == "worker"
    j2 = t[t["pipeline_id"] == 2].set_index("task")
    assert j2.loc["tensorflow", "gpu"] == 0.5
    assert (t["after"] == "").all()  # parallel roles
    assert r.cluster is not None and r.cluster.n_nodes == 1897
    check_replay(r)
    # parallel: response on an idle cluster is the longest task row of the job
    assert critical_path(r.trace).tolist() == [250.0, 890.0, 250.0]


@needs_spec
def test_pai_recorded_order_and_options(tmp_path):
    folder = write_pai(tmp_path / "pai")
    r = importers.read("alibaba-gpu-2020", folder, PAI_SPEC, order="recorded")
    t = r.trace.tasks.set_index(["pipeline_id", "task"])
    assert t.loc[(0, "evaluator"), "after"] == "worker"  # j4: evaluator started when the worker ended
    assert t.loc[(1, "worker.0"), "after"] == ""  # j1: ps and workers overlap
    assert critical_path(r.trace).tolist() == [350.0, 890.0, 250.0]
    check_replay(r)
    one = importers.read("alibaba-gpu-2020", folder, instances="one", status=["Terminated"])
    assert one.cluster is None  # no machine spec among the sources
    t1 = one.trace.tasks.set_index(["pipeline_id", "task"])
    assert t1.loc[(1, "worker"), "gpu"] == 4.0 and t1.loc[(1, "ps"), "cpu"] == 12.0
    assert list(one.trace.pipelines["job_name"]) == ["j4", "j1"]  # j2 Failed
    assert any("status not in ['Terminated']" in k for k in dropped(one))
    check_replay(one)


def test_pai_without_job_table(tmp_path):
    (tmp_path / "pai_task_table.csv").write_text(PAI_TASKS)
    r = importers.read("alibaba-gpu-2020", tmp_path / "pai_task_table.csv")
    # submit = earliest task start of the job: j4 950, j9 950, j1 1010, j2 1150
    assert list(r.trace.pipelines["job_name"]) == ["j4", "j9", "j1", "j2"]
    assert list(r.trace.pipelines["submit_time"]) == [0.0, 0.0, 60.0, 200.0]
    assert "pai_task_table: job_name not in pai_job_table" not in dropped(r)
    check_replay(r)


def random_pai(folder: Path, n_jobs: int, seed: int) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = np.round(rng.uniform(0, 86400, n_jobs), 1) + 1e6
    jobs = pd.DataFrame({"job_name": [f"job{k:05d}" for k in range(n_jobs)], "inst_id": "x",
                         "user": rng.choice(["u1", "u2"], n_jobs), "status": "Terminated",
                         "start_time": start, "end_time": start + 1e5})
    roles = rng.integers(1, 4, n_jobs)
    jr = np.repeat(np.arange(n_jobs), roles)
    k = np.arange(len(jr)) - np.repeat(np.cumsum(roles) - roles, roles)
    ts = start[jr] + rng.uniform(0, 500, len(jr)).round(1)
    tasks = pd.DataFrame({"job_name": jobs["job_name"].to_numpy()[jr],
                          "task_name": np.array(["worker", "ps", "evaluator"])[k],
                          "inst_num": rng.integers(1, 5, len(jr)).astype(float), "status": "Terminated",
                          "start_time": ts, "end_time": ts + rng.uniform(1, 5000, len(jr)).round(1),
                          "plan_cpu": rng.choice([100.0, 600.0, 1200.0], len(jr)),
                          "plan_mem": rng.choice([4.0, 29.3, 100.0], len(jr)),
                          "plan_gpu": rng.choice([np.nan, 25.0, 100.0, 800.0], len(jr)),
                          "gpu_type": rng.choice(["", "V100", "T4"], len(jr))})
    jobs.to_csv(folder / "pai_job_table.csv", header=False, index=False)
    tasks.to_csv(folder / "pai_task_table.csv", header=False, index=False)
    return n_jobs, int(tasks["inst_num"].sum())


@needs_spec
def test_pai_random_replay(tmp_path):
    n_jobs, n_inst = random_pai(tmp_path / "pai", 300, seed=3)
    for order in ("parallel", "recorded"):
        r = importers.read("alibaba-gpu-2020", tmp_path / "pai", PAI_SPEC, order=order)
        assert r.trace.n_pipelines == n_jobs and r.trace.n_tasks == n_inst and r.dropped.empty
        check_replay(r)


# ---------------------------------------------------------------------------- helios

HELIOS_LOG = """\
job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue
101,u1,vcA,8,32,1,COMPLETED,2020-04-01 00:00:10,2020-04-01 00:00:20,2020-04-01 01:00:20,3600,10
102,u2,vcA,16,64,2,FAILED,2020-04-01 00:01:00,2020-04-01 00:05:00,2020-04-01 00:35:00,1800,240
103,u2,vcB,0,4,1,CANCELLED,2020-04-01 00:02:00,,,0,0
104,u3,vcB,1,2,1,COMPLETED,2020-04-01 00:00:00,2020-04-01 00:00:05,2020-04-01 00:00:05,0,5
105,u3,vcB,0,8,1,TIMEOUT,2020-04-01 00:03:00,2020-04-01 00:03:00,2020-04-01 02:03:00,7200,0
106,u1,vcA,2,4,1,COMPLETED,2020-04-01 00:00:10,2020-04-01 00:00:30,2020-04-01 00:10:30,600,20
101,u1,vcA,8,32,1,COMPLETED,2020-04-01 00:00:10,2020-04-01 00:00:20,2020-04-01 01:00:20,3600,10
107,u4,vcC,1,2,0,COMPLETED,2020-04-01 00:04:00,2020-04-01 00:04:10,2020-04-01 00:05:10,60,10
"""


def test_helios_counts_and_mapping(tmp_path):
    (tmp_path / "cluster_log.csv").write_text(HELIOS_LOG)
    r = importers.read("helios", tmp_path)
    check_notes_and_columns(r)
    p, t = r.trace.pipelines, r.trace.tasks
    assert list(p["job_id"]) == ["101", "106", "102", "105"]  # submission order, ties in file order
    assert list(p["submit_time"]) == [0.0, 0.0, 50.0, 170.0]
    assert list(p["state"]) == ["COMPLETED", "COMPLETED", "FAILED", "TIMEOUT"]
    assert dropped(r) == {
        "cluster_log: job_id repeated; the first row is kept": 1,
        "cluster_log: no start_time or end_time (never started)": 1,
        "cluster_log: end_time <= start_time (ran for 0 s; nothing to replay)": 1,
        "cluster_log: node_num missing or < 1": 1,
    }
    assert len(p) + r.dropped["rows"].sum() == len(HELIOS_LOG.splitlines()) - 1
    # the two-node job is a gang of two halves (MODEL.md 12.8; it was two independent tasks before GPUs were
    # devices and gangs existed)
    j102 = t[t["pipeline_id"] == 2]
    assert list(j102["task"]) == ["job"] and list(j102["replicas"]) == [2]
    assert (j102["gpu"] == 8).all() and (j102["cpu"] == 32).all() and (j102["duration"] == 1800).all()
    assert (t.loc[t["pipeline_id"] != 2, "replicas"] == 1).all()
    j105 = t[t["pipeline_id"] == 3].iloc[0]
    assert (j105["task"], j105["type"], j105["gpu"], j105["cpu"]) == ("job", "cpu", 0.0, 8.0)
    assert (t["mem_gb"] == 0).all()
    # default cluster: 8-GPU nodes, enough for the recorded peak (8+2+16 GPUs at 00:05)
    pools = r.cluster.pools
    assert len(pools) == 1 and pools.loc[0, "gpu"] == 8 and pools.loc[0, "cpu"] == 64
    assert pools.loc[0, "count"] == 4  # ceil(26 / 8)
    check_replay(r)
    assert critical_path(r.trace).tolist() == [3600.0, 600.0, 1800.0, 7200.0]


def test_helios_options_and_gpu_number(tmp_path):
    (tmp_path / "cluster_log.csv").write_text(HELIOS_LOG)
    r = importers.read("helios", tmp_path / "cluster_log.csv", multi_node="drop", state=["COMPLETED", "FAILED"],
                       mem_gb_per_cpu=2.0, node_cpus=48, nodes=3)
    d = dropped(r)
    assert d["cluster_log: runs on several nodes (multi_node='drop')"] == 1
    assert d["cluster_log: state not in ['COMPLETED', 'FAILED']"] == 2  # CANCELLED, TIMEOUT
    assert list(r.trace.pipelines["job_id"]) == ["101", "106"]
    assert (r.trace.tasks["mem_gb"] == 2.0 * r.trace.tasks["cpu"]).all()
    assert r.cluster.pools.loc[0, ["count", "cpu", "mem_gb"]].tolist() == [3, 48.0, 96.0]
    check_replay(r)
    if VENUS_GPUS.exists():
        r = importers.read("helios", tmp_path / "cluster_log.csv", VENUS_GPUS)
        assert r.cluster.n_nodes == 121  # 968 GPUs on 2020-04-01 / 8
        check_replay(r)


def test_helios_numeric_timestamps(tmp_path):
    log = pd.read_csv(pd.io.common.StringIO(HELIOS_LOG))
    for c in ("submit_time", "start_time", "end_time"):
        log[c] = (pd.to_datetime(log[c]) - pd.Timestamp("1970-01-01")).dt.total_seconds()
    log.to_csv(tmp_path / "cluster_log.csv", index=False)
    (tmp_path / "notes.txt").write_text("not a table\n")
    r = importers.read("helios", tmp_path)
    text = importers.read("helios", _write(tmp_path / "t" / "cluster_log.csv", HELIOS_LOG))
    pd.testing.assert_frame_equal(r.trace.tasks, text.trace.tasks)
    np.testing.assert_allclose(r.trace.pipelines["submit_time"], text.trace.pipelines["submit_time"])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_helios_random_replay(tmp_path):
    rng = np.random.default_rng(5)
    n = 500
    submit = pd.Timestamp("2020-05-01") + pd.to_timedelta(rng.uniform(0, 7 * 86400, n).round(), unit="s")
    start = submit + pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    end = start + pd.to_timedelta(rng.integers(1, 86400, n), unit="s")
    nodes = rng.choice([1, 1, 1, 2, 4], n)
    log = pd.DataFrame({"job_id": np.arange(n), "user": "u", "vc": "vc", "gpu_num": nodes * rng.choice([0, 1, 8], n),
                        "cpu_num": nodes * rng.choice([1, 4, 16], n), "node_num": nodes, "state": "COMPLETED",
                        "submit_time": submit.strftime("%Y-%m-%d %H:%M:%S"),
                        "start_time": start.strftime("%Y-%m-%d %H:%M:%S"),
                        "end_time": end.strftime("%Y-%m-%d %H:%M:%S")})
    log.to_csv(tmp_path / "cluster_log.csv", index=False)
    r = importers.read("helios", tmp_path)
    assert r.trace.n_pipelines == n and r.trace.n_tasks == n and r.dropped.empty
    assert r.trace.tasks["replicas"].sum() == nodes.sum()
    check_replay(r)
    split = importers.read("helios", tmp_path, multi_node="split")
    assert split.trace.n_tasks == nodes.sum() and (split.trace.tasks["replicas"] == 1).all()
    check_replay(split)


def test_helios_split_and_whole_devices(tmp_path):
    """multi_node='split' keeps the independent halves; a per-node share above 1 becomes whole devices."""
    (tmp_path / "cluster_log.csv").write_text(HELIOS_LOG + "108,u4,vcC,6,8,4,COMPLETED,2020-04-01 00:06:00,"
                                              "2020-04-01 00:06:10,2020-04-01 00:16:10,600,10\n")
    r = importers.read("helios", tmp_path, multi_node="split")
    t = r.trace.tasks
    j102 = t[t["pipeline_id"] == 2]
    assert list(j102["task"]) == ["job.0", "job.1"] and (j102["gpu"] == 8).all()
    j108 = t[t["pipeline_id"] == t["pipeline_id"].max()]
    assert len(j108) == 4 and (j108["gpu"] == 2).all() and (j108["cpu"] == 2).all()  # 6 GPUs / 4 nodes -> 2 each
    assert any("1 jobs' per-node GPU share above 1 was not whole" in n for n in r.notes)
    gang = importers.read("helios", tmp_path)
    row = gang.trace.tasks.iloc[-1]
    assert (row["task"], row["gpu"], row["replicas"]) == ("job", 2.0, 4)


# ---------------------------------------------------------------------------- philly


def philly_job(jobid, submitted, attempts, status="Pass", user="u1", vc="vc1"):
    return {"status": status, "vc": vc, "jobid": jobid, "user": user, "submitted_time": submitted,
            "attempts": [{"start_time": s, "end_time": e,
                          "detail": [{"ip": ip, "gpus": [f"gpu{k}" for k in range(g)]} for ip, g in machines]}
                         for s, e, machines in attempts]}


PHILLY_JOBS = [
    philly_job("a1", "2017-10-03 02:50:26", [("2017-10-03 02:51:00", "2017-10-03 03:51:00", [("m1", 2)])]),
    philly_job("a2", "2017-10-03 02:55:26", [("2017-10-03 02:56:00", "2017-10-03 02:57:00", [("m2", 1)]),
                                             ("2017-10-03 03:00:00", "2017-10-03 04:00:00", [("m2", 8), ("m3", 8)])],
               status="Killed", user="u2"),
    philly_job("a3", "2017-10-03 02:40:00", [], status="Failed"),
    philly_job("a4", "2017-10-03 03:10:00", [("2017-10-03 03:11:00", None, [("m1", 1)])]),
    philly_job("a5", "2017-10-03 03:20:00", [("2017-10-03 03:21:00", "2017-10-03 03:21:00", [("m4", 2)])]),
    philly_job("a6", "2017-10-03 03:30:00", [("2017-10-03 03:31:00", "2017-10-03 03:41:00", [])], status="Failed"),
    philly_job("a7", None, [("2017-10-03 03:31:00", "2017-10-03 03:41:00", [("m1", 1)])]),
    philly_job("a1", "2017-10-03 02:50:26", [("2017-10-03 02:51:00", "2017-10-03 03:51:00", [("m1", 2)])]),
    philly_job("a8", "2017-10-03 02:50:26", [("2017-10-03 05:00:00", "2017-10-03 05:00:30", [("m5", 0)])]),
]


def test_philly_counts_and_mapping(tmp_path):
    (tmp_path / "cluster_job_log").write_text(json.dumps(PHILLY_JOBS))
    r = importers.read("philly", tmp_path)
    check_notes_and_columns(r)
    p, t = r.trace.pipelines, r.trace.tasks
    assert list(p["jobid"]) == ["a1", "a8", "a2"]
    assert list(p["submit_time"]) == [0.0, 0.0, 300.0]
    assert list(p["attempts"]) == [1, 1, 2]
    assert dropped(r) == {
        "cluster_job_log: jobid repeated; the first job is kept": 1,
        "cluster_job_log: no submitted_time": 1,
        "cluster_job_log: no attempt (never started)": 1,
        "cluster_job_log: last attempt has no start_time or end_time": 1,
        "cluster_job_log: last attempt's end_time <= start_time (nothing to replay)": 1,
        "cluster_job_log: last attempt lists no machine": 1,
    }
    assert len(p) + r.dropped["rows"].sum() == len(PHILLY_JOBS)
    # the last attempt of a2: two 8-GPU machines for an hour, a gang of two parts (MODEL.md 12.8; two
    # independent tasks before GPUs were devices and gangs existed)
    a2 = t[t["pipeline_id"] == 2]
    assert list(a2["task"]) == ["job"] and list(a2["machine"]) == ["m2;m3"] and list(a2["replicas"]) == [2]
    assert (a2["gpu"] == 8).all() and (a2["duration"] == 3600).all()
    split = importers.read("philly", tmp_path, multi_node="split").trace.tasks
    a2 = split[split["pipeline_id"] == 2]
    assert list(a2["task"]) == ["job.0", "job.1"] and list(a2["machine"]) == ["m2", "m3"]
    a8 = t[t["pipeline_id"] == 1].iloc[0]
    assert (a8["task"], a8["type"], a8["gpu"], a8["duration"]) == ("job", "cpu", 0.0, 30.0)
    assert (t["cpu"] == 0).all() and (t["mem_gb"] == 0).all()
    # inferred machines: m1 (gpu0, gpu1), m2 (8), m3 (8), m4 (2), m5 (none)
    assert r.cluster.pools.set_index("pool")["count"].to_dict() == {"0gpu": 1, "2gpu": 2, "8gpu": 2}
    check_replay(r)
    assert critical_path(r.trace).tolist() == [3600.0, 30.0, 3600.0]


def test_philly_machine_list_and_options(tmp_path):
    _write(tmp_path / "log" / "cluster_job_log", json.dumps(PHILLY_JOBS))
    ml = _write(tmp_path / "machine_list.csv",
                "machineId,number of GPUs,single GPU mem\nm1,2,12G\nm2,8,24G\nm3,8,24G\nm4,2,12G\nm6,4,24G\n")
    r = importers.read("philly", tmp_path / "log", ml, status=["Pass", "Killed"], cpu_per_gpu=4, mem_gb_per_gpu=32)
    assert r.cluster.pools.set_index("pool")["count"].to_dict() == {"2gpu-12G": 2, "4gpu-24G": 1, "8gpu-24G": 2}
    pools = r.cluster.pools.set_index("pool")
    assert pools.loc["8gpu-24G", "cpu"] == 32 and pools.loc["8gpu-24G", "mem_gb"] == 256
    assert list(r.trace.pipelines["jobid"]) == ["a1", "a8", "a2"]
    assert (r.trace.tasks["cpu"] == 4 * r.trace.tasks["gpu"]).all()
    assert dropped(r)["cluster_job_log: status not in ['Killed', 'Pass']"] == 2  # a3, a6 Failed
    check_replay(r)
    small = _write(tmp_path / "small.csv", "machineId,number of GPUs,single GPU mem\nm1,4,12G\n")
    r = importers.read("philly", tmp_path / "log", small)
    assert dropped(r)["cluster_job_log: holds more GPUs on one machine than any machine of machine_list has (4)"] == 1
    check_replay(r)


def test_philly_random_replay(tmp_path):
    rng = np.random.default_rng(7)
    jobs = []
    t0 = pd.Timestamp("2017-10-01")
    fmt = "%Y-%m-%d %H:%M:%S"
    for k in range(300):
        sub = t0 + pd.Timedelta(seconds=int(rng.integers(0, 7 * 86400)))
        atts = []
        s = sub
        for _ in range(int(rng.integers(1, 3))):
            s = s + pd.Timedelta(seconds=int(rng.integers(0, 600)))
            e = s + pd.Timedelta(seconds=int(rng.integers(1, 20000)))
            n_m = int(rng.choice([1, 1, 2]))
            atts.append((s.strftime(fmt), e.strftime(fmt),
                         [(f"m{rng.integers(0, 50)}_{i}", int(rng.choice([1, 2, 4, 8]))) for i in range(n_m)]))
            s = e
        jobs.append(philly_job(f"j{k}", sub.strftime(fmt), atts, status=str(rng.choice(["Pass", "Killed"]))))
    (tmp_path / "cluster_job_log").write_text(json.dumps(jobs))
    r = importers.read("philly", tmp_path / "cluster_job_log")
    assert r.trace.n_pipelines == 300 and r.dropped.empty and r.trace.n_tasks == 300
    detail = {j["jobid"]: j["attempts"][-1]["detail"] for j in jobs}
    last = [detail[j] for j in r.trace.pipelines["jobid"]]  # pipelines are numbered by submission
    assert r.trace.tasks["replicas"].tolist() == [len(d) for d in last]
    assert r.trace.tasks["gpu"].tolist() == [max(len(m["gpus"]) for m in d) for d in last]
    check_replay(r)
    split = importers.read("philly", tmp_path / "cluster_job_log", multi_node="split")
    assert split.trace.n_tasks == sum(len(d) for d in last)
    check_replay(split)


# ---------------------------------------------------------------------------- written and read back


@pytest.mark.crosspath
def test_written_trace_and_cluster_replay_alike(tmp_path):
    """What the command line writes (trace folder + cluster.csv) reads back and replays the same."""
    from fastpipesim.cluster import read_cluster
    from fastpipesim.trace import read_trace

    (tmp_path / "hel").mkdir()
    (tmp_path / "hel" / "cluster_log.csv").write_text(HELIOS_LOG)
    _write(tmp_path / "ph" / "cluster_job_log", json.dumps(PHILLY_JOBS))
    runs = [("helios", [tmp_path / "hel"]), ("philly", [tmp_path / "ph"])]
    if PAI_SPEC.exists():
        runs.append(("alibaba-gpu-2020", [write_pai(tmp_path / "pai"), PAI_SPEC]))
    for fmt, sources in runs:
        r = importers.read(fmt, *sources)
        out = tmp_path / f"out-{fmt}"
        r.trace.write(out)
        r.cluster.to_csv(out / "cluster.csv")
        trace, cluster = read_trace(out), read_cluster(out / "cluster.csv")
        assert (trace.n_pipelines, trace.n_tasks, cluster.n_nodes) == (r.trace.n_pipelines, r.trace.n_tasks,
                                                                       r.cluster.n_nodes)
        a = fps.simulate(r.trace, r.cluster, record_tasks=True, threads=1, progress=False).pipelines
        b = fps.simulate(trace, cluster, record_tasks=True, threads=1, progress=False).pipelines
        np.testing.assert_allclose(a["response"], b["response"])


@needs_spec
def test_import_command_writes_a_replayable_trace(tmp_path, capsys):
    """`fastpipesim import` writes the trace, cluster.csv and IMPORT.md (mapping notes, drops)."""
    from fastpipesim.cli import main

    src = write_pai(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["import", "alibaba-gpu-2020", str(src), str(PAI_SPEC), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "imported" in printed
    report = (out / "IMPORT.md").read_text()
    assert "## Dropped" in report and "| reason | rows | example |" in report
    trace = fps.read_trace(out)
    cluster = fps.read_cluster(out / "cluster.csv")
    res = fps.simulate(trace, cluster, record_tasks=True)
    assert (res.tasks["status"] == "completed").all()
    assert main(["import", "no-such-format", str(src), "--out", str(out)]) == 2


def test_import_command_passes_importer_options(tmp_path, capsys):
    """--option KEY=VALUE reaches the importer (typed), and an unknown key is named."""
    from fastpipesim.cli import main

    openb = Path(__file__).resolve().parent.parent.parent / "shared" / "traces-real" / "alibaba-gpu-v2023-openb"
    if not openb.is_dir():
        pytest.skip("the real openb trace is not beside the repository")
    nodes, pods = str(openb / "openb_node_list_gpu_node.csv"), str(openb / "openb_pod_list_default.csv")
    assert main(["import", "alibaba-gpu-2023", nodes, pods, "--out", str(tmp_path / "ran")]) == 0
    assert main(["import", "alibaba-gpu-2023", nodes, pods, "--out", str(tmp_path / "all"),
                 "--option", "phases=all"]) == 0
    ran, every = fps.read_trace(tmp_path / "ran"), fps.read_trace(tmp_path / "all")
    assert every.n_pipelines == 8152 > ran.n_pipelines
    capsys.readouterr()
    assert main(["import", "alibaba-gpu-2023", nodes, pods, "--out", str(tmp_path / "x"),
                 "--option", "phase=all"]) == 2
    assert "its options are ['phases'" in capsys.readouterr().err
