"""Importers alibaba-2018 (cluster-trace-v2018 batch_task) and alibaba-gpu-2023 (openb)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim import importers
from fastpipesim.cluster import Cluster
from fastpipesim.errors import InputError
from fastpipesim.importers import alibaba2018, alibaba_gpu2023
from fastpipesim.trace import read_trace

REAL = Path("/work/shared/traces-real")
V2018 = REAL / "alibaba-v2018-batch_task-dag"
OPENB = REAL / "alibaba-gpu-v2023-openb"
needs_2018 = pytest.mark.skipif(not V2018.is_dir(), reason="real v2018 sample not available")
needs_openb = pytest.mark.skipif(not OPENB.is_dir(), reason="real openb sample not available")
UNBOUNDED = Cluster.from_pools([{"pool": "unbounded", "count": 1, "cpu": 1e12, "gpu": 1e12, "mem_gb": 1e12}])
HEADER_2018 = "task_name,instance_num,job_name,task_type,status,start_time,end_time,plan_cpu,plan_mem"


def reason_rows(result) -> dict:
    return dict(zip(result.dropped["reason"], result.dropped["rows"]))


def critical_paths(trace) -> pd.Series:
    """Longest path of durations through each pipeline's DAG (plain Python, independent of the importer)."""
    t = trace.tasks
    out = {}
    for pid, g in t.groupby("pipeline_id"):
        dur = dict(zip(g["task"], g["duration"]))
        preds = {name: [p for p in a.split(";") if p] for name, a in zip(g["task"], g["after"])}
        finish = {}

        def fin(name, depth=0):
            if name not in finish:
                assert depth < 10_000
                finish[name] = dur[name] + max((fin(p, depth + 1) for p in preds[name]), default=0.0)
            return finish[name]

        out[pid] = max(fin(n) for n in dur)
    return pd.Series(out)


def edges_of(trace, job_name) -> set:
    pid = int(trace.pipelines.loc[trace.pipelines["job_name"] == job_name, "pipeline_id"].iloc[0])
    t = trace.tasks[trace.tasks["pipeline_id"] == pid]
    return {(p, s) for s, a in zip(t["task"], t["after"]) for p in a.split(";") if p}


# ---------------------------------------------------------------------------- v2018, real sample


@pytest.fixture(scope="module")
def v2018():
    return importers.read("alibaba-2018", V2018)


@needs_2018
def test_v2018_counts_and_dropped(v2018):
    raw = pd.read_csv(V2018 / "batch_task_dag_sample.csv")
    bad_jobs = raw.loc[raw["status"] != "Terminated", "job_name"].unique()
    kept = raw[~raw["job_name"].isin(bad_jobs)]
    tr = v2018.trace
    assert tr.n_pipelines == kept["job_name"].nunique() == 1856
    assert tr.n_tasks == len(kept) == 33301
    d = reason_rows(v2018)
    assert sum(d.values()) + tr.n_tasks == len(raw)  # nothing dropped silently
    st = raw["status"].value_counts()
    for s in ("Running", "Failed", "Waiting"):
        assert d[alibaba2018.R_STATUS.format(s)] == st[s]
    assert d[alibaba2018.R_OTHER] == len(raw) - len(kept) - st.drop("Terminated").sum()
    assert len(bad_jobs) == 34 and any(f"dropped {len(raw) - len(kept)} rows of 34 jobs" in n for n in v2018.notes)
    assert v2018.dropped.set_index("reason").loc[alibaba2018.R_STATUS.format("Failed"), "jobs"] == 30
    # job name kept per pipeline; submit = earliest start of the job's tasks
    sub = kept.groupby("job_name")["start_time"].min()
    p = tr.pipelines.set_index("job_name")
    assert (p["submit_time"] == sub.reindex(p.index)).all()
    assert (np.diff(tr.pipelines["submit_time"]) >= 0).all()
    # one task per row: per-instance request, duration = end - start (0 -> 0.5 s)
    t = tr.tasks
    assert set(t["type"]) == {"M", "R", "J"}
    assert np.allclose(t["cpu"], t["plan_cpu"] / 100) and np.allclose(t["mem_gb"], t["plan_mem"])
    span = t["end_time"] - t["start_time"]
    assert np.array_equal(t["duration"], np.where(span == 0, 0.5, span))
    assert v2018.cluster.pools.iloc[0][["count", "cpu", "gpu", "mem_gb"]].tolist() == [4000, 96.0, 0.0, 100.0]


@needs_2018
def test_v2018_dag_edges_of_named_jobs(v2018):
    tr = v2018.trace
    assert edges_of(tr, "j_2") == {("M1", "R2_1")}
    assert edges_of(tr, "j_3") == {
        ("M3", "R6_3"), ("R2_1", "J4_2_3"), ("M3", "J4_2_3"), ("M3", "J8_3_7"), ("R7_6", "J8_3_7"),
        ("J8_3_7", "R9_8"), ("M3", "R1_3"), ("R1_3", "R2_1"), ("J4_2_3", "R5_4"), ("R6_3", "R7_6"),
    }
    # a name cut at 50 characters: the last, possibly cut, number "1" is ignored -> tasks 1..18
    cut = "R24_1_2_3_4_5_6_7_8_9_10_11_12_13_14_15_16_17_18_1"
    pid = int(tr.pipelines.loc[tr.pipelines["job_name"] == "j_2205", "pipeline_id"].iloc[0])
    t = tr.tasks[tr.tasks["pipeline_id"] == pid].set_index("task")
    name_of = dict(zip(t["task_number"], t.index))
    assert t.loc[cut, "after"].split(";") == [name_of[i] for i in range(1, 19)]
    assert any("191 task names are exactly 50 characters" in n for n in v2018.notes)


@needs_2018
def test_v2018_broken_dag_is_reported(v2018):
    tr = v2018.trace
    t = tr.tasks
    key = t.set_index(["pipeline_id", "task"])
    pairs = [(pid, p, s) for pid, s, a in zip(t["pipeline_id"], t["task"], t["after"]) for p in a.split(";") if p]
    pe = key.loc[[(pid, p) for pid, p, _ in pairs], "end_time"].to_numpy()
    ss = key.loc[[(pid, s) for pid, _, s in pairs], "start_time"].to_numpy()
    broken = int((ss < pe).sum())
    assert len(pairs) == 36553 and broken == 23876  # 65% of the edges
    assert tr.pipelines["broken_edges"].sum() == broken
    assert any(f"{broken} of {len(pairs)} edges" in n for n in v2018.notes)


@needs_2018
def test_v2018_replay_unbounded_is_critical_path(v2018):
    tr = v2018.trace
    res = fps.simulate(tr, UNBOUNDED, record_tasks=True)
    p = res.pipelines.set_index("pipeline_id")
    assert (p["end"] < np.inf).all()
    cp = critical_paths(tr)
    assert np.allclose(p["response"].to_numpy(), cp.reindex(p.index).to_numpy(), rtol=0, atol=1e-6)
    assert (res.tasks["start"] == res.tasks["ready"]).all()  # nothing waits
    # the recorded makespan is no bound: the data starts successors before predecessors end
    rec = tr.pipelines.set_index("pipeline_id")["recorded_makespan"]
    assert (p["response"] > rec + 1e-9).sum() > 1000


@needs_2018
def test_v2018_replay_default_cluster(v2018, tmp_path):
    res = fps.simulate(v2018.trace, v2018.cluster, record_tasks=True)
    s = res.summary.iloc[0]
    assert s["completed"] == 1856 and s["unfinished"] == 0
    assert res.n_events == 1856 + 33301
    # the written trace reads back with the job names
    v2018.trace.write(tmp_path / "t")
    back = read_trace(tmp_path / "t")
    assert back.n_tasks == 33301 and list(back.pipelines["job_name"][:3]) == list(v2018.trace.pipelines["job_name"][:3])


# ---------------------------------------------------------------------------- v2018, one file per rule


def write_2018(tmp_path, rows, header=True, name="batch_task.csv") -> Path:
    path = tmp_path / name
    path.write_text((HEADER_2018 + "\n" if header else "") + "\n".join(rows) + "\n")
    return path


def test_v2018_rules_on_tiny_file(tmp_path):
    rows = [
        # a whole job: M3 has zero length
        "M1,1,j_ok,1,Terminated,100,110,100,0.5",
        "R2_1,4,j_ok,1,Terminated,105,120,50,0.2",
        "M3,1,j_ok,1,Terminated,100,100,100,0.1",
        "J4_2_3,1,j_ok,1,Terminated,121,125,200,1.0",
        # non-DAG task names: kept, no edges; instance_num missing is only an attribute
        "task_Nzg3,,j_plain,1,Terminated,50,60,100,0.3",
        "task_OTAx,2,j_plain,1,Terminated,52,58,100,0.3",
        # broken names
        "X1_a,1,j_broken,1,Terminated,10,20,100,0.5",
        "M2,1,j_broken,1,Terminated,10,20,100,0.5",
        "M1_2_,1,j_trail,1,Terminated,10,20,100,0.5",  # trailing _ but not cut
        "task_a;b,1,j_semi,1,Terminated,10,20,100,0.5",  # ';' separates names in after
        # missing values
        "M1,1,j_nocpu,1,Terminated,10,20,,0.5",
        "M2_1,1,j_nocpu,1,Terminated,20,30,100,0.5",
        "M1,1,j_notime,1,Terminated,,20,100,0.5",
        "M1,1,j_back,1,Terminated,30,20,100,0.5",
        "M1,1,,1,Terminated,10,20,100,0.5",
        # unfinished
        "M1,1,j_run,1,Terminated,10,20,100,0.5",
        "R2_1,3,j_run,1,Running,20,0,100,0.5",
        "M1,,j_wait,1,Waiting,0,0,,",
        "M1,1,j_fail,1,Failed,10,20,100,0.5",
        "M2_1,1,j_fail,1,Terminated,10,20,100,0.5",
        # DAG faults
        "M1_2,1,j_cycle,1,Terminated,10,20,100,0.5",
        "M2_1,1,j_cycle,1,Terminated,10,20,100,0.5",
        "M3,1,j_cycle,1,Terminated,10,20,100,0.5",
        "M1_1,1,j_self,1,Terminated,10,20,100,0.5",
        "M1,1,j_dangle,1,Terminated,10,20,100,0.5",
        "R2_5,1,j_dangle,1,Terminated,20,30,100,0.5",
        "M1,1,j_dupnum,1,Terminated,10,20,100,0.5",
        "R1,1,j_dupnum,1,Terminated,20,30,100,0.5",
        "M1,1,j_dupname,1,Terminated,10,20,100,0.5",
        "M1,1,j_dupname,1,Terminated,20,30,100,0.5",
        # too big for a 96-core machine
        "M1,1,j_huge,1,Terminated,10,20,20000,0.5",
    ]
    res = alibaba2018.read(write_2018(tmp_path, rows))
    tr = res.trace
    assert sorted(tr.pipelines["job_name"]) == ["j_ok", "j_plain"]
    d = reason_rows(res)
    R = alibaba2018
    assert d == {
        R.R_NO_JOB: 1,
        R.R_STATUS.format("Running"): 1, R.R_STATUS.format("Waiting"): 1, R.R_STATUS.format("Failed"): 1,
        R.R_TIMES: 2,
        R.R_PLAN: 1,
        R.R_NAME: 3,
        R.R_DUP_NAME: 2,
        R.R_DUP_NUM: 2,
        R.R_DANGLING: 1,
        R.R_CYCLE: 3,  # M1_2, M2_1 (cycle) and M1_1 (self loop)
        R.R_FIT: 1,
        R.R_OTHER: 6,  # M2 of j_broken, M2_1 of j_nocpu, M1 of j_run, M2_1 of j_fail, M3 of j_cycle, M1 of j_dangle
    }
    assert sum(d.values()) + tr.n_tasks == len(rows)
    assert res.dropped.set_index("reason").loc[R.R_NAME, "jobs"] == 3
    example = res.dropped.set_index("reason").loc[R.R_NAME, "example"]
    assert example == "batch_task.csv row 8: X1_a,1,j_broken,1,Terminated,10,20,100,0.5"
    t = tr.tasks.set_index("task")
    ok = tr.tasks[tr.tasks["pipeline_id"] == int(tr.pipelines.set_index("job_name").loc["j_ok", "pipeline_id"])]
    ok = ok.set_index("task")
    assert ok.loc["J4_2_3", "after"] == "R2_1;M3" and ok.loc["R2_1", "after"] == "M1"
    assert ok.loc["M3", "duration"] == 0.5 and ok.loc["R2_1", "duration"] == 15
    assert ok.loc["J4_2_3", "cpu"] == 2.0 and ok.loc["R2_1", "instance_num"] == 4
    assert list(ok["type"]) == ["M", "R", "M", "J"]
    assert (t.loc[["task_Nzg3", "task_OTAx"], "after"] == "").all()
    assert (t.loc[["task_Nzg3", "task_OTAx"], "type"] == "task").all()
    assert any("1 tasks given duration 0.5 s" in n for n in res.notes)
    # replay: j_ok's response is its critical path M1 -> R2_1 -> J4_2_3 = 10 + 15 + 4
    r = fps.simulate(tr, UNBOUNDED, record_tasks=True).pipelines.set_index("pipeline_id")
    pid = int(tr.pipelines.set_index("job_name").loc["j_ok", "pipeline_id"])
    assert r.loc[pid, "response"] == 29.0 and r.loc[pid, "submit_time"] == 100.0


def test_v2018_truncated_names_and_raw_headerless(tmp_path):
    # a name cut at 50 characters in the middle of a number ("1" of "19")
    cut = ("J40_" + "_".join(map(str, range(1, 40))))[:50]
    assert cut.endswith("_18_1")
    rows = [f"M{i},1,j_t,1,Terminated,0,{i},100,0.5" for i in range(1, 40)]
    rows.append(f"{cut},1,j_t,1,Terminated,40,41,100,0.5")
    # headerless, like the official batch_task.csv
    res = alibaba2018.read(write_2018(tmp_path, rows, header=False))
    assert res.dropped.empty
    t = res.trace.tasks.set_index("task")
    assert t.loc[cut, "after"] == ";".join(f"M{k}" for k in range(1, 19))  # the cut "1" is ignored
    assert any("1 task names are exactly 50" in n and "1 dependency numbers ignored" in n for n in res.notes)
    # a cut name ending in "_": every number is complete and kept
    name = "J40_" + "_".join(map(str, range(1, 17))) + "_"
    rows2 = [f"M{i},1,j_u,1,Terminated,0,{i},100,0.5" for i in range(1, 17)]
    rows2 += [f"{name},1,j_u,1,Terminated,20,21,100,0.5", "M1,1,j_other,1,Terminated,0,5,100,0.5"]
    path = write_2018(tmp_path, rows2, name="b2.csv")
    res2 = alibaba2018.read(path, truncated_at=len(name))
    assert res2.trace.tasks.set_index("task").loc[name, "after"] == ";".join(f"M{i}" for i in range(1, 17))
    # not at the cut length, a trailing "_" is a broken name and its job is dropped
    res3 = alibaba2018.read(path, truncated_at=0)
    assert reason_rows(res3) == {alibaba2018.R_NAME: 1, alibaba2018.R_OTHER: 16}


def test_v2018_options_and_errors(tmp_path):
    rows = ["M1,2,j_a,1,Terminated,0,10,150,50", "M1,1,j_b,1,Failed,0,10,100,1", "M1,1,j_c,1,Terminated,5,9,100,1"]
    path = write_2018(tmp_path, rows)
    res = alibaba2018.read(path, mem_per_machine=512, machines=3, statuses=("Terminated", "Failed"),
                           zero_duration=1.0)
    assert res.trace.n_pipelines == 3 and res.dropped.empty
    assert res.trace.tasks["mem_gb"].iloc[0] == pytest.approx(256.0)
    assert res.cluster.pools.iloc[0][["count", "mem_gb"]].tolist() == [3, 512.0]
    small = Cluster.from_pools([{"pool": "s", "count": 2, "cpu": 1.0, "gpu": 0.0, "mem_gb": 100.0}])
    res = alibaba2018.read(path, cluster=small)
    assert res.cluster is small and res.trace.n_pipelines == 1
    assert reason_rows(res) == {alibaba2018.R_STATUS.format("Failed"): 1, alibaba2018.R_FIT: 1}
    with pytest.raises(InputError, match="no job left"):
        alibaba2018.read(write_2018(tmp_path, ["M1,1,j,1,Waiting,0,0,,"], name="w.csv"))
    with pytest.raises(InputError, match="not found"):
        alibaba2018.read(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no batch_task"):
        alibaba2018.read(tmp_path / "empty")
    assert importers.importer("alibaba-2018").FORMAT == "alibaba-2018"


def test_dag_levels_vectorized():
    # 0 -> 1 -> 2, 0 -> 2 ; 3 <-> 4 cycle ; 5 after the cycle ; 6 alone
    lv = alibaba2018.dag_levels(7, np.array([0, 1, 0, 3, 4, 4]), np.array([1, 2, 2, 4, 3, 5]))
    assert lv.tolist() == [0, 1, 2, -1, -1, -1, 0]


# ---------------------------------------------------------------------------- gpu v2023 (openb)


@pytest.fixture(scope="module")
def openb():
    return importers.read("alibaba-gpu-2023", OPENB)


@needs_openb
def test_openb_counts_and_mapping(openb):
    pods = pd.read_csv(OPENB / "openb_pod_list_default.csv")
    tr = openb.trace
    assert tr.n_pipelines == tr.n_tasks == 7255 == (pods["pod_phase"] != "Pending").sum()
    assert reason_rows(openb) == {"pod list: pod_phase Pending: never scheduled (no scheduled_time, no run time)": 897}
    t = tr.tasks.set_index("task")
    p = tr.pipelines.set_index("job_name")
    assert t.loc["openb-pod-0001", "gpu"] == 0.46 and t.loc["openb-pod-0001", "type"] == "gpu-share"
    assert t.loc["openb-pod-0000", "cpu"] == 12.0 and t.loc["openb-pod-0000", "mem_gb"] == 16.0
    assert t.loc["openb-pod-0000", "duration"] == 12537496
    big = pods[pods["num_gpu"] == 8]["name"]
    assert (t.loc[big, "gpu"] == 8).all() and (t.loc[big, "type"] == "gpu").all()
    cpu_only = pods[(pods["num_gpu"] == 0) & (pods["pod_phase"] != "Pending")]["name"]
    assert (t.loc[cpu_only, "gpu"] == 0).all() and (t.loc[cpu_only, "type"] == "cpu").all()
    assert p.loc["openb-pod-0001", "censored"] and p["censored"].sum() == 34
    assert set(p["priority"]) <= {0, 1, 2, 3} and p.loc["openb-pod-0000", "priority"] == 2  # LS
    assert (tr.tasks["after"] == "").all()
    # nodes -> pools of identical nodes
    c = openb.cluster
    assert c.n_nodes == 1213 and (c.pools["count"] * c.pools["gpu"]).sum() == 6212
    assert c.pools["pool"].is_unique and len(c.pools) == 15
    assert c.pools.set_index("pool").loc["G2-96c-384g-8gpu", "count"] == 549


@needs_openb
def test_openb_replay(openb):
    tr = openb.trace
    res = fps.simulate(tr, openb.cluster, record_tasks=True)
    s = res.summary.iloc[0]
    assert s["completed"] == 7255 and res.n_events == 2 * 7255
    # its shared GPUs and specs run on devices (MODEL.md 12), whose nodes are real ones: on the
    # trace's own cluster (nearly idle) no pod waits, so a response is the pod's duration
    assert "gpu_frag_ratio" in res.summary
    un = res.pipelines.set_index("pipeline_id")
    d = tr.tasks.set_index("pipeline_id")["duration"]
    assert np.allclose(un["response"], d.reindex(un.index))


POD_HEADER = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
              "creation_time,deletion_time,scheduled_time")


def test_openb_rules_on_tiny_files(tmp_path):
    pods = [
        "p0,4000,1024,1,500,,LS,Succeeded,0,100,10",        # half a GPU, ran 90 s
        "p1,2000,2048,0,0,,BE,Failed,5,5,5",                 # zero length -> 0.5 s
        "p2,1000,0,2,1000,T4||V100M16,Guaranteed,Running,3,200,4",  # censored at trace end 200; spec normalized
        "p3,1000,1024,1,1000,,Burstable,Pending,6,50,",      # never scheduled
        "p4,,1024,1,1000,,LS,Succeeded,7,50,8",              # missing cpu
        "p5,1000,1024,1,,,LS,Succeeded,7,50,8",              # sharing pod without gpu_milli
        "p6,1000,1024,1,1000,,LS,Succeeded,9,50,8",          # scheduled before creation
        "p0,1000,1024,1,1000,,LS,Succeeded,9,50,9",          # repeated name
        "p8,1000,1024,16,1000,,LS,Succeeded,9,50,9",         # 16 GPUs fit no node
        # GPUs are devices (MODEL.md 12): a spec is enforced, so a model the node list lacks fits no node;
        # a CPU-only pod's spec is ignored; shares of several devices are no request
        "p9,1000,1024,1,500,V100M16,LS,Succeeded,9,50,9",
        "p10,1000,1024,0,0,T4,LS,Succeeded,10,50,10",
        "p11,1000,1024,2,500,,LS,Succeeded,9,50,9",
    ]
    (tmp_path / "pods.csv").write_text(POD_HEADER + "\n" + "\n".join(pods) + "\n")
    (tmp_path / "nodes.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nn0,8000,16384,2,T4\nn1,8000,16384,2,T4\nn2,16000,32768,8,G2\nn3,,1,1,T4\n")
    res = alibaba_gpu2023.read(tmp_path)
    tr = res.trace
    assert list(tr.pipelines["job_name"]) == ["p0", "p2", "p1", "p10"]  # creation order
    d = reason_rows(res)
    assert d == {
        "node list: cpu_milli, memory_mib or gpu missing or negative": 1,
        "pod list: pod_phase Pending: never scheduled (no scheduled_time, no run time)": 1,
        "pod list: times out of order (creation < 0, scheduled < creation or deletion < scheduled)": 1,
        "pod list: cpu_milli, memory_mib, num_gpu or gpu_milli (for num_gpu 1) missing or negative": 2,
        "pod list: num_gpu > 1 with gpu_milli < 1000 (shares of several devices: no such request, MODEL.md 12.2)": 1,
        "pod list: name repeated (first kept)": 1,
        "pod list: request fits on no node of the node list": 2,
    }
    assert sum(v for k, v in d.items() if k.startswith("pod")) + tr.n_tasks == len(pods)
    t = tr.tasks.set_index("task")
    assert t.loc["p0", "gpu"] == 0.5 and t.loc["p0", "duration"] == 90 and t.loc["p0", "cpu"] == 4.0
    assert t.loc["p1", "duration"] == 0.5 and t.loc["p2", "gpu"] == 2 and t.loc["p2", "mem_gb"] == 0
    assert t.loc["p2", "gpu_spec"] == "T4|V100M16" and t.loc["p10", "gpu_spec"] == ""
    assert (res.cluster.pools["gpu_model"] == ["T4", "G2"]).all()
    p = tr.pipelines.set_index("job_name")
    assert p.loc["p2", "censored"] and not p.loc["p0", "censored"]
    assert p[["priority"]].to_dict()["priority"] == {"p0": 2, "p2": 3, "p1": 0, "p10": 2}
    assert res.cluster.pools[["pool", "count"]].values.tolist() == [["T4-8c-16g-2gpu", 2], ["G2-16c-32g-8gpu", 1]]
    r = fps.simulate(tr, res.cluster, record_tasks=True)
    assert r.summary.iloc[0]["completed"] == 4
    # with phases="all" the Pending pod is kept (the fragmentation study places every pod)
    every = alibaba_gpu2023.read(tmp_path, phases="all")
    p3 = every.trace.pipelines.set_index("job_name").loc["p3"]
    assert not p3["scheduled"] and np.isnan(p3["recorded_wait"])
    assert every.trace.tasks.set_index("task").loc["p3", "duration"] == 50 - 6  # deletion - creation
    assert every.trace.pipelines.set_index("job_name")["scheduled"].drop("p3").all()
    # censored pods dropped on request; pods only (no node list) -> no cluster
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "pods.csv").write_text(POD_HEADER + "\n" + "\n".join(pods[:3]) + "\n")
    res2 = alibaba_gpu2023.read(tmp_path / "only", censored="drop")
    assert res2.cluster is None and list(res2.trace.pipelines["job_name"]) == ["p0", "p1"]
    assert reason_rows(res2) == {"pod list: Running at the trace end (deletion_time censored)": 1}
    with pytest.raises(InputError, match="exactly one openb pod list"):
        alibaba_gpu2023.read(tmp_path / "nodes.csv")
