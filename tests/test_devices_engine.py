"""GPUs as devices in the event loop (MODEL.md 12): what a run on devices must guarantee.

Device shares never go below zero and a fraction stays on one device; whole requests take
wholly free devices; specs exclude nodes; gangs start and end together, all or none;
each placement's choice on crafted clusters; random ties reproducible; whole GPUs keep
the pooled path's schedules (12.10); the summary is the timeline integrated; traces keep
gpu_spec, replicas and gpu_model; bad input is refused before anything runs.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.engine import devices as D
from fastpipesim.engine.constants import DEVICE_PLACEMENTS, PLACEMENTS, STUDY_PLACEMENTS
from fastpipesim.errors import InputError
from randtrace import random_device_trace

GPU_COLUMNS = ["node", "ready", "start", "end", "status"]


def _run(pipelines, tasks, cluster, **kw):
    kw.setdefault("record_tasks", True)
    kw.setdefault("progress", False)
    return fps.simulate(fps.Trace.from_frames(pipelines, tasks), fps.Cluster(cluster), **kw)


def _usage_ok(res, tasks, cluster):
    """Every device's shares in use never exceed 1 (+1e-9), a fraction uses one device, whole k use k
    devices; specs are honoured; a gang's parts are on distinct nodes and start and end together."""
    cl = fps.Cluster(cluster)
    node_model = np.repeat(cl.pools["gpu_model"].fillna("").astype(str).to_numpy(), cl.pools["count"].to_numpy())
    node_speed = cl.nodes().speed
    req = tasks.set_index(["pipeline_id", "task"])
    recs = res.tasks.set_index(["pipeline_id", "task"])
    dev = res.devices
    intervals = {}
    for (pid, name), parts in dev.groupby(["pipeline_id", "task"]):
        r = req.loc[(pid, name)]
        t = recs.loc[(pid, name)]
        g = float(r["gpu"])
        reps = int(r["replicas"]) if "replicas" in r else 1
        assert len(parts) == reps and parts["node"].nunique() == reps, (pid, name)
        assert parts["part"].tolist() == list(range(reps))
        assert int(parts["node"].iloc[0]) == int(t["node"])  # the task names part 0's node
        spec = str(r.get("gpu_spec", "") or "")
        names = {s for s in spec.split("|") if s}
        speeds = []
        for _, p in parts.iterrows():
            ids = [int(x) for x in p["devices"].split(",")] if p["devices"] else []
            if g == 0:
                assert ids == []
            elif g < 1:
                assert len(ids) == 1  # a fraction never spans two devices
            else:
                assert len(ids) == int(g) and ids == sorted(ids)
            if names:
                assert node_model[p["node"]] in names
            speeds.append(node_speed[p["node"]])
            end = t["end"] if t["status"] == "completed" else np.inf
            for d in ids:
                intervals.setdefault((p["node"], d), []).append((t["start"], end, min(g, 1.0)))
        if t["status"] == "completed":
            # all parts end together, at the pace of the slowest node (12.8)
            assert t["end"] == t["start"] + float(r["duration"]) / min(speeds)
    for key, iv in intervals.items():
        times = sorted({a for a, _, _ in iv})
        for x in times:
            used = sum(s for a, b, s in iv if a <= x < b)
            assert used <= 1.0 + 1e-9, key


@pytest.mark.parametrize("seed", range(6))
def test_device_invariants_on_random_traces(seed):
    rng = np.random.default_rng([seed, 41])
    p, t, c = random_device_trace(rng)
    placement = DEVICE_PLACEMENTS[seed % len(DEVICE_PLACEMENTS)]
    res = _run(p, t, c, placement=placement, ties="random" if seed % 2 else "index", seed=seed,
               backfill=seed % 3 != 0)
    assert (res.tasks["status"] == "completed").all()
    _usage_ok(res, t, c)


def _pinned_cluster():
    """Four one-node pools of 4 GPUs (32 cores, 128 GiB), models A, B, C, D, so that spec'd
    tasks pin the state: at t = 0 node 0 gets 3 whole GPUs, node 1 a 0.5 share, node 3 two
    whole GPUs; node 2 stays empty."""
    cluster = pd.DataFrame([{"pool": f"p{i}", "count": 1, "cpu": 32.0, "gpu": 4.0, "mem_gb": 128.0,
                             "gpu_model": m} for i, m in enumerate("ABCD")])
    pipelines = pd.DataFrame({"pipeline_id": [1, 2, 3, 4], "submit_time": [0.0, 0.0, 0.0, 1.0]})
    tasks = pd.DataFrame({"pipeline_id": [1, 2, 3, 4], "task": ["a", "b", "c", "probe"],
                          "type": ["train"] * 4, "cpu": [1.0, 1.0, 1.0, 1.0], "gpu": [3.0, 0.5, 2.0, 0.5],
                          "mem_gb": [1.0] * 4, "duration": [100.0, 100.0, 100.0, 10.0], "after": [""] * 4,
                          "gpu_spec": ["A", "B", "D", ""]})
    return pipelines, tasks, cluster


@pytest.mark.crosspath
def test_each_placement_on_a_crafted_cluster():
    """A 0.5 probe on nodes with 1, 3.5, 4 and 2 free GPUs. By hand (MODEL.md 12.4-12.5):
    first_fit and best_fit (tightest, F = 1) node 0, worst_fit the emptiest node 2;
    gpu_packing: node 1's shared device scores max(100 - floor(50 / 10), 50) = 95, the best.
    Every placement's node and device equal the independent SimPy model's."""
    from benchmarks.simpy_model import simulate_simpy

    p, t, c = _pinned_cluster()
    chosen = {}
    for placement in DEVICE_PLACEMENTS:
        res = _run(p, t, c, placement=placement)
        probe = res.devices[res.devices["task"] == "probe"].iloc[0]
        chosen[placement] = (int(probe["node"]), probe["devices"])
        ref = simulate_simpy(p, t, c, placement=placement, devices=True)
        rp = ref.devices[ref.devices["task"] == "probe"].iloc[0]
        assert chosen[placement] == (int(rp["node"]), str(rp["devices"])), placement
    assert chosen["first_fit"] == (0, "3")
    assert chosen["best_fit"] == (0, "3")
    assert chosen["worst_fit"] == (2, "0")
    assert chosen["gpu_packing"] == (1, "0")
    assert len({n for n, _ in chosen.values()}) >= 3  # the crafted cluster tells the placements apart


def test_whole_devices_and_spec_exclusion():
    p, t, c = _pinned_cluster()
    res = _run(p, t, c)
    dev = res.devices.set_index("task")["devices"]
    assert dev["a"] == "0,1,2" and dev["c"] == "0,1"   # the lowest wholly free devices
    assert res.devices.set_index("task")["node"].to_dict() == {"a": 0, "b": 1, "c": 3, "probe": 0}
    # a spec that names no model of the cluster: the task fits nowhere, an input error (12.2)
    t2 = t.assign(gpu_spec=["A", "B", "D", "H100"])
    with pytest.raises(InputError, match="fit on no node"):
        _run(p, t2, c)


def _gang_trace(backfill_task_gpu=1.0):
    """Two 2-GPU nodes; a 1-GPU task holds node 0 until t = 10; at t = 1 a gang of two 2-GPU parts
    (ready first) and then a 1-GPU task arrive."""
    cluster = pd.DataFrame([{"pool": "g", "count": 2, "cpu": 8.0, "gpu": 2.0, "mem_gb": 32.0},
                            {"pool": "slow", "count": 1, "cpu": 8.0, "gpu": 2.0, "mem_gb": 32.0, "speed": 0.5}])
    pipelines = pd.DataFrame({"pipeline_id": [1, 2, 3], "submit_time": [0.0, 1.0, 2.0]})
    tasks = pd.DataFrame({"pipeline_id": [1, 2, 3], "task": ["hold", "gang", "small"], "type": ["train"] * 3,
                          "cpu": [1.0, 1.0, 1.0], "gpu": [1.0, 2.0, backfill_task_gpu], "mem_gb": [1.0] * 3,
                          "duration": [10.0, 4.0, 3.0], "after": [""] * 3, "replicas": [1, 3, 1]})
    return pipelines, tasks, cluster


def test_gang_all_or_nothing_backfill_and_strict():
    p, t, c = _gang_trace()
    bf = _run(p, t, c, backfill=True).tasks.set_index("task")
    strict = _run(p, t, c, backfill=False).tasks.set_index("task")
    # the gang needs three nodes with 2 wholly free GPUs: not before the hold ends at 10
    assert bf.loc["gang", "start"] == 10.0 and strict.loc["gang", "start"] == 10.0
    # all three parts end together at the slow node's pace: 10 + 4 / 0.5
    assert bf.loc["gang", "end"] == 18.0
    # backfill: the small task overtakes the blocked gang; strict order: it waits behind it
    assert bf.loc["small", "start"] == 2.0
    assert strict.loc["small", "start"] == 18.0
    res = _run(p, t, c, backfill=True)
    parts = res.devices[res.devices["task"] == "gang"]
    assert sorted(parts["node"]) == [0, 1, 2] and (parts["devices"] == "0,1").all()
    # while blocked no part held anything: at t = 2 (small started) 3 of 6 GPUs... 6 - 1 - 1 = 4 free
    tl = res.gpu_timeline.set_index("time")
    assert tl.loc[2.0, "unallocated_gpus"] == 4.0 and tl.loc[10.0, "unallocated_gpus"] == 0.0


def test_ties_random_reproducible_across_seeds_and_threads():
    rng = np.random.default_rng(5)
    p, t, c = random_device_trace(rng, n_tasks=(40, 50))
    kw = dict(placement="gpu_packing", ties="random", replications=4)
    a = _run(p, t, c, seed=3, threads=1, **kw)
    b = _run(p, t, c, seed=3, threads=2, **kw)
    d = _run(p, t, c, seed=4, threads=1, **kw)
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)
    pd.testing.assert_frame_equal(a.devices, b.devices, check_exact=True)
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    assert not a.devices.equals(d.devices)
    # each replication has its own placement stream (MODEL.md 12.6)
    per = [a.devices[a.devices["replication"] == r]["node"].to_numpy() for r in range(4)]
    assert any(not np.array_equal(per[0], x) for x in per[1:])


@pytest.mark.crosspath
@pytest.mark.parametrize("seed", range(4))
def test_whole_gpus_device_path_is_the_pooled_path(seed):
    """MODEL.md 12.10: whole GPUs, no spec, no replicas: the device path forced gives the pooled
    path's task records exactly, for first/best/worst fit, every policy, backfill or not."""
    rng = np.random.default_rng([seed, 43])
    p, t, c = random_device_trace(rng, fractions=False, specs=False, max_replicas=1)
    t = t.drop(columns=["gpu_spec", "replicas"])
    for placement, policy, backfill in itertools.product(PLACEMENTS, ("fifo", "sjf", "srpt"), (True, False)):
        kw = dict(placement=placement, policy=policy, backfill=backfill, horizon=9.0 if seed == 3 else None)
        pooled = _run(p, t, c, **kw)
        dev = _run(p, t, c, devices=True, **kw)
        assert "gpu_unallocated_pct" not in pooled.summary and "gpu_unallocated_pct" in dev.summary
        pd.testing.assert_frame_equal(pooled.tasks, dev.tasks, check_exact=True)
        common = [x for x in pooled.summary.columns]
        pd.testing.assert_frame_equal(pooled.summary[common], dev.summary[common], check_exact=True)


def test_summary_is_the_timeline_integrated():
    rng = np.random.default_rng(8)
    p, t, c = random_device_trace(rng, n_tasks=(50, 60))
    p = p.assign(submit_time=p["submit_time"] + 1.0)
    p.loc[p.index[0], "submit_time"] = 0.0  # a pass at t = 0: the timeline covers the whole run
    for warmup, horizon in ((0.0, None), (3.0, 12.0)):
        res = _run(p, t, c, placement="fgd", warmup=warmup, horizon=horizon)
        tl = res.gpu_timeline
        s = res.summary.iloc[0]
        end = s["end_time"]
        times = np.append(tl["time"].to_numpy(), end)
        free = frag = 0.0
        for i in range(len(tl)):
            lo, hi = max(times[i], warmup), min(times[i + 1], end)
            if hi > lo:
                free += tl["unallocated_gpus"].iat[i] * (hi - lo)
                frag += tl["fragmented_gpus"].iat[i] * (hi - lo)
        n_gpus = float((c["count"] * c["gpu"]).sum())
        assert s["gpu_unallocated_pct"] == 100.0 * (free / (end - warmup)) / n_gpus
        assert s["gpu_fragmented_pct"] == 100.0 * (frag / (end - warmup)) / n_gpus
        assert s["gpu_frag_ratio"] == frag / free
        ratio = tl["fragmented_gpus"] / tl["unallocated_gpus"]
        assert np.array_equal(tl["frag_ratio"].to_numpy(), np.where(tl["unallocated_gpus"] > 0, ratio, np.nan),
                              equal_nan=True)
        # one row per instant, in time order
        assert tl["time"].is_monotonic_increasing and tl["time"].is_unique


def test_trace_round_trip_of_devices_columns(tmp_path):
    rng = np.random.default_rng(2)
    p, t, c = random_device_trace(rng)
    tr = fps.Trace.from_frames(p, t)
    tr.write(tmp_path / "trace")
    back = fps.read_trace(tmp_path / "trace")
    assert back.tasks["gpu_spec"].tolist() == tr.tasks["gpu_spec"].tolist()
    assert back.tasks["replicas"].tolist() == t["replicas"].tolist()
    cl = fps.Cluster(c)
    cl.to_csv(tmp_path / "cluster.csv")
    cl2 = fps.read_cluster(tmp_path / "cluster.csv")
    a = fps.simulate(tr, cl, record_tasks=True, placement="fgd", progress=False)
    b = fps.simulate(back, cl2, record_tasks=True, placement="fgd", progress=False)
    pd.testing.assert_frame_equal(a.devices, b.devices, check_exact=True)
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)


def test_input_errors(tmp_path):
    p, t, c = _pinned_cluster()
    with pytest.raises(InputError, match="replicas") as e:
        fps.Trace.from_frames(p, t.assign(replicas=[1, 0, 1, 1]), source="x")
    assert "x:tasks" in str(e.value)
    with pytest.raises(InputError, match="whole number"):
        fps.Trace.from_frames(p, t.assign(gpu=[3.0, 0.5, 1.5, 0.5]))
    with pytest.raises(InputError, match="fewer nodes than its replicas"):
        _run(p, t.assign(replicas=[1, 1, 1, 5]), c)
    with pytest.raises(ValueError, match="devices=False"):
        _run(p, t, c, devices=False)
    with pytest.raises(ValueError, match="unknown placement"):
        _run(p, t, c, placement="tightest")
    with pytest.raises(ValueError, match="ties"):
        _run(p, t, c, ties="first")
    with pytest.raises(InputError, match="whole number"):
        _run(p, t, c.assign(gpu=[4.0, 4.0, 2.5, 4.0]))
    # devices on an elastic cluster run (MODEL.md 12.12), but not with the reactive autoscaler
    with pytest.raises(ValueError, match="reactive autoscaler .* devices"):
        _run(p, t, c.assign(max_count=2), autoscaler="reactive", horizon=10.0)
    # the CSV files of a trace: the error names the file and its row
    t.assign(replicas=[1, 1, 2.5, 1]).to_csv(tmp_path / "tasks.csv", index=False)
    p.to_csv(tmp_path / "pipelines.csv", index=False)
    with pytest.raises(InputError, match="tasks.csv") as e:
        fps.read_trace(tmp_path)
    assert e.value.rows == [4]


def test_kernel_twins_of_the_loop_helpers():
    """The loop's new device helpers against their Python twins."""
    rng = np.random.default_rng(1)
    cap = np.array([[16, 4, 64], [16, 2, 64], [8, 0, 32]], float)
    for trial in range(5):
        outs = []
        for twin in (False, True):
            st, sc = D.new_state(cap, np.array([4, 2, 0]), np.array([0, 1, -1]), np.ones((1, 2), np.uint8),
                                 np.array([128.0, 8.0]), 2)
            tg = D.Targets(cpu=np.array([1.0, 2.0]), share=np.array([0.5, 1.0]), count=np.array([1, 1]),
                           spec=np.array([-1, -1]), p=np.array([0.6, 0.4]))
            D.init_frag_nb(st, tg, sc.buf, sc.buf2)
            r = np.random.default_rng(trial)
            fn = (lambda f: f.py_func) if twin else (lambda f: f)
            node = np.zeros(2, np.int64)
            mask = np.zeros(2, np.int64)
            for j, n in enumerate((0, 1)):
                dev = int(r.integers(0, 2))
                node[j] = n
                mask[j] = D.allocate_nb(st, n, dev, 1.0, 0.3, 2.0, sc.buf)
                D.update_frag_nb(st, tg, n, sc.buf, sc.buf2)
            got = [fn(D.gpu_totals_nb)(st), fn(D.fits_any_nb)(st, np.array([2, 1, 0]), 0, 3, 1.0, 0.8, 1.0, -1),
                   fn(D.fits_any_nb)(st, np.array([2, 1, 0]), 0, 1, 1.0, 0.8, 1.0, -1)]
            fn(D.release_parts_nb)(st, tg, sc, node, mask, 0, 2, 1.0, 0.3, 2.0)
            got += [fn(D.gpu_totals_nb)(st), st.dev_free.copy(), st.node_frag.copy()]
            outs.append(got)
        for x, y in zip(*outs):
            assert np.array_equal(np.asarray(x), np.asarray(y))
        assert outs[0][1] is True and outs[0][2] is False
        assert np.array_equal(outs[0][4][:2, :2], np.ones((2, 2)))  # every share back to exactly 1


def test_study_placements_run_and_differ_from_pooled():
    rng = np.random.default_rng(11)
    p, t, c = random_device_trace(rng, n_tasks=(60, 60))
    res = {pl: _run(p, t, c, placement=pl) for pl in STUDY_PLACEMENTS}
    for r in res.values():
        assert (r.tasks["status"] == "completed").all()
        assert {"gpu_unallocated_pct", "gpu_fragmented_pct", "gpu_frag_ratio"} <= set(r.summary.columns)
    nodes = {pl: tuple(r.devices["node"]) for pl, r in res.items()}
    assert len(set(nodes.values())) >= 3


# --------------------------------------------------------------------------- ModelOps, campaigns, command line
def test_modelops_gpu_share_option():
    """Default: whole GPUs, the pooled path, unchanged. gpu_share: the listed steps of the GPU frameworks
    ask for a share of one device, the run goes on devices, with the lifecycle's rules."""
    import dataclasses

    base = fps.ModelOpsWorkload(days=1)
    assert base.gpu_share == () and base.device_reasons() == []
    shared = dataclasses.replace(base, gpu_share={"evaluate": 0.25, "robustness_check": 0.5}, on_drift=True)
    b0, b1 = base.generate(3, 0), shared.generate(3, 0)
    # the same pipelines and durations; only the listed steps' GPU requests differ
    assert np.array_equal(b0.arrays.duration, b1.arrays.duration)
    steps = np.asarray(b1.type_names, dtype=object)[b1.arrays.task_type]
    pipe = b1.arrays.task_pipeline
    deep = set(pipe[(steps == "train") & (b0.arrays.gpu > 0)])   # deep learning trains on a GPU
    for step, share in (("evaluate", 0.25), ("robustness_check", 0.5)):
        at = steps == step
        g = b1.arrays.gpu[at]
        assert set(np.unique(g)) == {0.0, share}
        assert np.array_equal(g > 0, np.isin(pipe[at], list(deep)))
    other = ~np.isin(steps, ["evaluate", "robustness_check"])
    assert np.array_equal(b0.arrays.gpu[other], b1.arrays.gpu[other])
    res = fps.simulate(shared, replications=2, threads=1, record_tasks=True, placement="fgd", progress=False)
    assert "gpu_frag_ratio" in res.summary and res.summary["submitted_on_drift"].sum() >= 0
    ev = res.devices.merge(res.tasks[["replication", "pipeline_id", "task", "type"]])
    ev = ev[(ev["type"] == "evaluate") & (ev["devices"] != "")]
    assert len(ev) > 0 and not ev["devices"].str.contains(",").any()
    with pytest.raises(ValueError, match="not a step"):
        fps.ModelOpsWorkload(gpu_share={"serve": 0.5})
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        fps.ModelOpsWorkload(gpu_share={"evaluate": 1.0})
    with pytest.raises(ValueError, match="devices=False"):
        fps.simulate(shared, replications=1, devices=False, progress=False)


def test_campaign_sweeps_two_study_placements(tmp_path):
    from fastpipesim.campaign import Campaign

    exp = tmp_path / "exp.toml"
    exp.write_text("""
name = "devices"
seed = 2
replications = 2

[workload]
generator = "modelops"
days = 0.5
gpu_share = { evaluate = 0.25 }

[cluster]
preset = "default"

[run]
horizon_days = 0.5
ties = "random"

[sweep]
placement = ["fgd", "gpu_packing"]
""")
    res = Campaign.from_toml(exp).run(tmp_path / "out", progress=False)
    reps = res.replications
    assert sorted(reps["placement"].unique()) == ["fgd", "gpu_packing"]
    direct = fps.simulate(fps.ModelOpsWorkload(days=0.5, gpu_share={"evaluate": 0.25}), placement="fgd",
                          ties="random", seed=2, replications=2, horizon=0.5 * 86400, progress=False)
    got = reps[reps["placement"] == "fgd"].sort_values("replication")
    assert np.array_equal(got["gpu_fragmented_pct"].to_numpy(), direct.summary["gpu_fragmented_pct"].to_numpy())
    bad = exp.read_text().replace('ties = "random"', 'ties = "first"')
    exp.write_text(bad)
    with pytest.raises(Exception, match="run.ties"):
        Campaign.from_toml(exp)


def _openb_like(folder):
    """A small trace in the openb files' format (Alibaba GPU 2023): 6 nodes of 2 models, 40 pods
    (CPU-only, shared and whole GPUs, some with a gpu_spec)."""
    rng = np.random.default_rng(4)
    folder.mkdir()
    nodes = pd.DataFrame({"sn": [f"openb-node-{i:04d}" for i in range(6)], "cpu_milli": [32000] * 6,
                          "memory_mib": [131072] * 6, "gpu": [2, 2, 4, 4, 8, 0],
                          "model": ["P100", "P100", "V100M16", "V100M16", "V100M16", ""]})
    n = 40
    gpu_milli = rng.choice([0, 250, 500, 1000], n)
    num_gpu = np.where(gpu_milli == 0, 0, np.where(gpu_milli == 1000, rng.choice([1, 2], n), 1))
    created = np.sort(rng.integers(0, 2000, n))
    pods = pd.DataFrame({"name": [f"openb-pod-{i:04d}" for i in range(n)],
                         "cpu_milli": rng.choice([1000, 4000, 8000], n), "memory_mib": rng.choice([2048, 8192], n),
                         "num_gpu": num_gpu, "gpu_milli": gpu_milli,
                         "gpu_spec": np.where(rng.random(n) < 0.2, "V100M16", ""), "qos": "LS",
                         "pod_phase": "Succeeded", "creation_time": created,
                         "deletion_time": created + rng.integers(500, 3000, n), "scheduled_time": created})
    nodes.to_csv(folder / "nodes.csv", index=False)
    pods.to_csv(folder / "pods.csv", index=False)
    return folder


def test_cli_replay_of_an_openb_like_trace(tmp_path, capsys):
    from fastpipesim.cli import main

    src = _openb_like(tmp_path / "raw")
    assert main(["import", "alibaba-gpu-2023", str(src / "nodes.csv"), str(src / "pods.csv"),
                 "--out", str(tmp_path / "openb")]) == 0
    capsys.readouterr()
    out = tmp_path / "res"
    assert main(["replay", str(tmp_path / "openb"), "--cluster", str(tmp_path / "openb" / "cluster.csv"),
                 "--placement", "fgd", "--ties", "random", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "GPUs as devices" in text and "fragmentation ratio" in text and "fgd (ties random)" in text
    for name in ("tasks.csv", "summary.csv", "devices.csv", "gpu_timeline.csv"):
        assert (out / name).is_file()
    dev = pd.read_csv(out / "devices.csv", keep_default_na=False)
    assert list(dev.columns) == ["replication", "pipeline_id", "task", "part", "node", "devices"]
    tl = pd.read_csv(out / "gpu_timeline.csv")
    assert list(tl.columns) == ["replication", "time", "unallocated_gpus", "fragmented_gpus", "frag_ratio"]
    # the same run in Python
    res = fps.simulate(fps.read_trace(tmp_path / "openb"), fps.read_cluster(tmp_path / "openb" / "cluster.csv"),
                       placement="fgd", ties="random", record_tasks=True, progress=False)
    assert np.array_equal(tl["fragmented_gpus"].to_numpy(), res.gpu_timeline["fragmented_gpus"].to_numpy())
    assert main(["replay", str(tmp_path / "openb"), "--cluster", str(tmp_path / "openb" / "cluster.csv"),
                 "--placement", "tightest"]) == 2


def test_campaign_on_a_device_trace_equals_simulate(tmp_path):
    """A trace with shares, specs and gangs as a campaign's workload, placements swept: each
    scenario equals its simulate call (summary and the gpu_* columns)."""
    from fastpipesim.campaign import Campaign

    p, t, c = random_device_trace(np.random.default_rng(11))
    tr = fps.Trace.from_frames(p, t)
    tr.write(tmp_path / "trace")
    fps.Cluster(c).to_csv(tmp_path / "cluster.csv")
    (tmp_path / "exp.toml").write_text("""
name = "device-trace"
seed = 1
replications = 1

[workload]
trace = "trace"

[cluster]
file = "cluster.csv"

[sweep]
placement = ["best_fit", "fgd", "random"]
""")
    camp = Campaign.from_toml(tmp_path / "exp.toml")
    res = camp.run(tmp_path / "out", progress=False)
    for k, placement in enumerate(["best_fit", "fgd", "random"]):
        w, cluster, kw = camp.simulate_args(k)
        assert kw["placement"] == placement
        ref = fps.simulate(fps.read_trace(tmp_path / "trace"), fps.read_cluster(tmp_path / "cluster.csv"),
                           placement=placement, seed=1, replications=1, progress=False).summary
        got = res.scenario(k)[ref.columns]
        pd.testing.assert_frame_equal(got, ref, check_exact=True)
        assert np.isfinite(got["gpu_unallocated_pct"]).all()
