"""The fragmentation experiment (MODEL.md 12.11): target workload, the pod sequence, determinism, the command.

The full study on the real openb trace (6 policies x 10 seeds) is a slow test;
a reduced one (1 seed, 3 policies) runs by default.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fastpipesim import importers
from fastpipesim.cluster import Cluster
from fastpipesim.devices import Requests, device_cluster, target_workload, task_requests
from fastpipesim.errors import InputError
from fastpipesim.fragmentation import _discretize, fragmentation_study, pod_sequence, workload_rng

ROOT = Path(__file__).resolve().parent.parent
OPENB = Path("/work/shared/traces-real/alibaba-gpu-v2023-openb")
needs_openb = pytest.mark.skipif(not OPENB.exists(), reason="the openb trace is not available")


def small_cluster():
    return Cluster.from_pools([
        {"pool": "a", "count": 3, "cpu": 16.0, "gpu": 2.0, "mem_gb": 64.0, "gpu_model": "A"},
        {"pool": "b", "count": 2, "cpu": 64.0, "gpu": 8.0, "mem_gb": 256.0, "gpu_model": "B"},
        {"pool": "cpu", "count": 1, "cpu": 32.0, "gpu": 0.0, "mem_gb": 128.0},
    ])


def small_tasks(n=60, seed=0):
    rng = np.random.default_rng(seed)
    gpu = rng.choice([0.0, 0.25, 0.5, 0.7, 1.0, 2.0, 4.0], n, p=[0.15, 0.2, 0.2, 0.1, 0.2, 0.1, 0.05])
    spec = np.where((gpu > 0) & (gpu < 4) & (rng.random(n) < 0.2), rng.choice(["A", "B", "A|B"], n), "")
    return pd.DataFrame({"pipeline_id": np.arange(n), "task": "t", "cpu": rng.choice([1.0, 2.0, 4.0], n),
                         "gpu": gpu, "mem_gb": rng.choice([2.0, 8.0], n), "gpu_spec": spec})


# ----------------------------------------------------------------------------- target workload

def test_target_workload_by_hand():
    # 20 parts: shape (1, 0.5) x 8, (2, 1) x 6 (3 tasks of 2 replicas), (4, 0) x 3, (1, 0.25) x 2, (8, 2) x 1
    tasks = pd.DataFrame({
        "cpu": [1.0] * 8 + [2.0] * 3 + [4.0] * 3 + [1.0] * 2 + [8.0],
        "gpu": [0.5] * 8 + [1.0] * 3 + [0.0] * 3 + [0.25] * 2 + [2.0],
        "mem_gb": 1.0, "replicas": [1] * 8 + [2] * 3 + [1] * 6})
    t = target_workload(task_requests(tasks))
    # cumulative counts 8, 14, 17, 19 (>= 95 x 20 / 100 = 19): four shapes kept
    assert t[["cpu", "gpu", "count"]].values.tolist() == [[1.0, 0.5, 8], [2.0, 1.0, 6], [4.0, 0.0, 3], [1.0, 0.25, 2]]
    assert t["p"].tolist() == pytest.approx([8 / 19, 6 / 19, 3 / 19, 2 / 19], rel=1e-15)
    # equal counts: cpu, then share, then devices, then spec text, all descending
    tasks = pd.DataFrame({"cpu": [1.0, 2.0, 2.0, 2.0, 2.0], "gpu": [0.5, 0.5, 1.0, 0.5, 0.5], "mem_gb": 1.0,
                          "gpu_spec": ["", "", "", "A", "B"]})
    t = target_workload(task_requests(tasks), coverage_percent=100)
    assert list(zip(t["cpu"], t["gpu"], t["gpu_spec"])) == [(2.0, 1.0, ""), (2.0, 0.5, "B"), (2.0, 0.5, "A"),
                                                             (2.0, 0.5, ""), (1.0, 0.5, "")]


# ----------------------------------------------------------------------------- the pod sequence

def sequence_one_draw_at_a_time(req: Requests, cluster_gpus, inflate, rng):
    """MODEL.md 12.11 step 2 read literally: one draw, one test."""
    n = len(req.gpu)
    demand = req.gpu * req.replicas
    per_device = np.where(req.gpu < 1, req.gpu, 1.0)
    target = inflate * cluster_gpus
    seq = list(rng.permutation(n))
    total = 0.0
    for d in demand:
        total += d
    if total > target + 1e-9:
        while total > target + 1e-9:
            k = min(int(rng.random() * len(seq)), len(seq) - 1)
            total -= demand[seq.pop(k)]
        return np.array(seq)
    while total < target - 1e-9:
        i = min(int(rng.random() * n), n - 1)
        if total + per_device[i] > target + 1e-9:
            break
        seq.append(i)
        total += demand[i]
    return np.array(seq)


@pytest.mark.parametrize("inflate", [0.5, 1.3, 3.0])
def test_pod_sequence_is_the_rule(inflate):
    req = task_requests(small_tasks(80, seed=1).assign(replicas=[1, 2, 1, 3] * 20))
    gpus = 40.0 * round(float(np.sum(req.gpu * req.replicas)) / 40.0)  # the base list asks for about 100%
    for r in range(4):
        a = pod_sequence(req, gpus, inflate, workload_rng(7, r))
        b = sequence_one_draw_at_a_time(req, gpus, inflate, workload_rng(7, r))
        assert np.array_equal(a, b)
        demand = float(np.sum((req.gpu * req.replicas)[a]))
        target = inflate * gpus
        if inflate < 1:  # tuned down: removed until at or below the target
            assert demand <= target + 1e-9 and len(a) < 80
        else:
            assert sorted(a[:80].tolist()) == list(range(80))  # the shuffled list comes first, whole
            # the per-device test: a whole pod of k GPUs checks 1, so the demand may exceed by k - 1
            overshoot = max(0.0, float(np.max((req.gpu - 1) * req.replicas)))
            assert target - 12 <= demand <= target + overshoot + 1e-9


def test_pod_sequence_checks_per_device_request():
    # 4-GPU pods only: the test adds 1 per pod while the demand grows by 4
    req = task_requests(pd.DataFrame({"cpu": [1.0], "gpu": [4.0], "mem_gb": [1.0]}))
    seq = pod_sequence(req, 10, 1.3, workload_rng(0, 0))
    # demand 4, 8, 12 (12 + 1 > 13? no), 16 (16 + 1 > 13: stop): 12 + 1 <= 13 adds the 4th pod
    assert len(seq) == 4 and 4.0 * len(seq) == 16.0


def test_discretize_is_the_studys():
    arrived = np.array([0.2, 0.6, 1.4, 1.5, 2.5, 5.0, 5.2])
    values = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0])
    out = _discretize(arrived, values)
    # rounding half to even: 0.2 -> 0, 0.6 -> 1, 1.4 -> 1, 1.5 -> 2, 2.5 -> 2, 5.0 -> 5, 5.2 -> 5
    assert out[0] == 10 and out[1] == 25 and out[2] == 45 and out[5] == 65
    assert out[3] == 45 and out[4] == 65  # nothing at 3 and 4: the neighbours +-1
    assert np.isnan(out[7]) and np.isnan(out[130])


# ----------------------------------------------------------------------------- the study

def test_study_is_deterministic_and_thread_independent():
    tasks, cl = small_tasks(), small_cluster()
    a = fragmentation_study(tasks, cl, replications=3, seed=4, threads=1)
    b = fragmentation_study(tasks, cl, replications=3, seed=4, threads=2)
    pd.testing.assert_frame_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.unallocated, b.unallocated)
    c = fragmentation_study(tasks, cl, replications=3, seed=5, threads=2)
    assert not a.curves["unallocated_pct"].equals(c.curves["unallocated_pct"])
    runs = a.runs
    assert set(runs["policy"]) == {"random", "dot_product", "gpu_clustering", "gpu_packing", "gpu_best_fit", "fgd"}
    assert (runs["arrived_pct"] <= 130 + 100 * 3 / 26 + 1e-9).all() and (runs["arrived_pct"] >= 125).all()
    # every policy sees the same pods (common random numbers)
    assert runs.groupby("replication")["pods"].nunique().eq(1).all()
    # the summary is the median / quartiles / mean of the per-replication curves
    u = a.unallocated.set_index(["policy", "arrived_pct"])
    grp = a.curves.groupby(["policy", "arrived_pct"])["unallocated_pct"]
    np.testing.assert_allclose(u["median"], grp.median().reindex(u.index), equal_nan=True)
    np.testing.assert_allclose(u["mean"], grp.mean().reindex(u.index), equal_nan=True)


def test_study_outputs_and_bounds(tmp_path):
    res = fragmentation_study(small_tasks(), small_cluster(), policies="fgd,first_fit,best_fit", replications=2)
    assert list(res.unallocated["policy"].unique()) == ["fgd", "first_fit", "best_fit"]
    cur = res.curves.dropna()
    assert ((cur["unallocated_pct"] >= 0) & (cur["unallocated_pct"] <= 100)).all()
    assert (cur["fragmented_pct"] <= cur["unallocated_pct"] + 1e-9).all()
    # before anything arrives every GPU is free
    first = res.curves[res.curves["arrived_pct"] == 0]["unallocated_pct"].dropna()
    assert (first > 95).all()
    written = res.write(tmp_path)
    assert {p.name for p in written} == {"unallocated.csv", "frag_ratio.csv", "curves.csv", "runs.csv",
                                         "target.csv", "fragmentation.png"}
    assert (tmp_path / "fragmentation.png").read_bytes()[:4] == b"\x89PNG"
    back = pd.read_csv(tmp_path / "unallocated.csv")
    assert list(back.columns) == ["policy", "arrived_pct", "median", "p25", "p75", "mean"]
    assert len(back) == 3 * 131


def test_gangs_and_input_errors():
    cl = Cluster.from_pools([{"pool": "g", "count": 2, "cpu": 8.0, "gpu": 1.0, "mem_gb": 8.0}])
    gang = pd.DataFrame({"cpu": [1.0, 1.0], "gpu": [1.0, 1.0], "mem_gb": [1.0, 1.0], "replicas": [2, 1]})
    res = fragmentation_study(gang, cl, policies="gpu_packing", replications=2, inflate=2.0)
    assert (res.runs["failed"] >= 1).all()  # the cluster's 2 GPUs hold one gang or two singles
    with pytest.raises(InputError, match="fewer nodes than its replicas"):
        fragmentation_study(gang.assign(replicas=[3, 1]), cl)
    with pytest.raises(InputError, match="whole number of devices"):
        fragmentation_study(gang.assign(gpu=[1.5, 1.0]), cl)
    with pytest.raises(InputError, match="number of GPU devices .* must be a whole number"):
        fragmentation_study(gang, Cluster.from_pools([{"pool": "g", "count": 2, "cpu": 8, "gpu": 1.5, "mem_gb": 8}]))
    with pytest.raises(InputError, match="fit on no node"):
        fragmentation_study(gang.assign(gpu_spec=["X", ""], replicas=1), cl)
    with pytest.raises(ValueError, match="unknown placement"):
        fragmentation_study(gang, cl, policies="fgd,nope")


@pytest.mark.crosspath
def test_study_in_plain_python_is_the_same(tmp_path):
    """The compiled loop and its plain-Python run (NUMBA_DISABLE_JIT=1) give the same numbers, bit for bit."""
    tasks, cl = small_tasks(40, seed=3), small_cluster()
    res = fragmentation_study(tasks, cl, replications=2, seed=9, threads=1)
    args = tmp_path / "args.pkl"
    with open(args, "wb") as f:
        pickle.dump((tasks, cl.pools), f)
    script = f"""
import pickle
from fastpipesim.cluster import Cluster
from fastpipesim.fragmentation import fragmentation_study
tasks, pools = pickle.load(open({str(args)!r}, "rb"))
res = fragmentation_study(tasks, Cluster(pools), replications=2, seed=9, threads=1)
pickle.dump(res.curves, open({str(tmp_path / 'out.pkl')!r}, "wb"))
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT, timeout=600)
    with open(tmp_path / "out.pkl", "rb") as f:
        python = pickle.load(f)
    pd.testing.assert_frame_equal(res.curves, python, check_exact=True)


def test_cli_fragmentation(tmp_path, capsys):
    from fastpipesim.cli import main
    from fastpipesim.trace import Trace

    tasks = small_tasks(30)
    pipelines = pd.DataFrame({"pipeline_id": tasks["pipeline_id"], "submit_time": 0.0})
    trace = Trace.from_frames(pipelines, tasks.assign(type="x", duration=1.0, after=""))
    trace.write(tmp_path / "tr")
    small_cluster().to_csv(tmp_path / "cluster.csv")
    out = tmp_path / "out"
    rc = main(["fragmentation", str(tmp_path / "tr"), "--cluster", str(tmp_path / "cluster.csv"), "--seeds", "2",
               "--policies", "fgd,gpu_packing", "--out", str(out), "--threads", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "fgd @ 100%" in printed and "gpu_packing @ 130%" in printed
    assert (out / "unallocated.csv").is_file() and (out / "fragmentation.png").is_file()
    u = pd.read_csv(out / "unallocated.csv")
    assert set(u["policy"]) == {"fgd", "gpu_packing"} and u["arrived_pct"].max() == 130
    assert main(["fragmentation", str(tmp_path / "tr"), "--cluster", str(tmp_path / "cluster.csv"),
                 "--policies", "nope", "--out", str(out)]) == 2


# ----------------------------------------------------------------------------- the real openb trace

@pytest.fixture(scope="module")
def openb():
    r = importers.read("alibaba-gpu-2023", OPENB, phases="all")
    return r.trace, r.cluster


@needs_openb
def test_openb_inputs(openb):
    trace, cluster = openb
    assert trace.n_tasks == 8152 and cluster.n_nodes == 1213 and device_cluster(cluster).n_gpus == 6212
    # the base list is the study's: pods sorted by name
    assert trace.tasks["task"].is_monotonic_increasing
    req = task_requests(trace.tasks)
    total = float((req.gpu * req.replicas).sum())
    assert total == pytest.approx(6086.8, abs=1e-6)  # about 98% of 6212 GPUs
    t = target_workload(req)
    assert len(t) == 35 and t["count"].sum() == 7766 and t.iloc[0]["gpu"] == 0.81


@needs_openb
def test_openb_reduced_study(openb):
    """One seed, three policies: FGD leaves fewer GPUs unallocated than packing, which beats random.

    Tolerances: the study's 10 seeds (its expected_results) put the median unallocated GPUs at 100%
    arrived at 4.77% (FGD, quartiles 4.70-4.86), 8.20% (packing, 7.90-8.61) and 13.75% (random,
    13.41-13.92); one seed of ours is checked within +-1 point (FGD, packing) and +-1.5 (random).
    """
    trace, cluster = openb
    res = fragmentation_study(trace, cluster, policies="random,gpu_packing,fgd", replications=1, seed=42)
    at = res.at(100)["median"]
    assert at["fgd"] < at["gpu_packing"] < at["random"]
    assert 3.77 <= at["fgd"] <= 5.77
    assert 7.2 <= at["gpu_packing"] <= 9.2
    assert 12.25 <= at["random"] <= 15.25


@pytest.mark.slow
@needs_openb
def test_openb_full_study(openb):
    """The study as published: 6 policies x 10 seeds; medians at 100% arrived against the paper's.

    The paper's values (its expected_results, medians over seeds 42-51 of unallocated GPU % at 100%
    arrived) are given in examples/README.md; ours must be within 0.8 points of each, and FGD the
    lowest by at least 2 points.
    """
    trace, cluster = openb
    res = fragmentation_study(trace, cluster, replications=10, seed=42)
    at = res.at(100)["median"]
    paper = {"random": 13.75, "dot_product": 9.45, "gpu_clustering": 8.42, "gpu_packing": 8.20,
             "gpu_best_fit": 7.09, "fgd": 4.77}
    for policy, value in paper.items():
        assert abs(at[policy] - value) <= 0.8, (policy, at[policy], value)
    assert at.drop("fgd").min() - at["fgd"] >= 2.0
