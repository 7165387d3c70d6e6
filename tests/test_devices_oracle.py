"""GPUs as devices (MODEL.md 12): the compiled engine against the SimPy oracle.

On random device traces (``randtrace.random_device_trace``: fractional and whole GPU
requests, specs over 2-3 GPU models, gangs of 1-3 parts, CPU-only and model-less pools,
speeds 0.5-2, times on a grid so that events coincide), the engine and
``benchmarks/simpy_model.py`` must give, for every placement x ties x backfill, the
identical task records (node, ready, start, end, status, as floats), the identical device
records (node and devices of every part), the identical GPU timeline (time, unallocated and
fragmented GPUs, ratio) and the identical gpu_* columns of the summary; with and without a
horizon and a warm-up; and with the ML model lifecycle (gates, deploys, rules whose copies
take the next placement slots).
"""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from benchmarks.simpy_model import DEVICE_PLACEMENTS, simulate_simpy
from randtrace import random_device_trace
from test_oracle import assert_same_schedule

pytestmark = pytest.mark.crosspath

POLICIES = ("fifo", "priority", "sjf", "srpt")
CONFIGS = list(itertools.product(DEVICE_PLACEMENTS, ("index", "random"), (True, False)))
GPU_SUMMARY = ("gpu_unallocated_pct", "gpu_fragmented_pct", "gpu_frag_ratio")
TIMELINE = ("time", "unallocated_gpus", "fragmented_gpus", "frag_ratio")


def _same(x, y) -> bool:
    return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))


def assert_same_devices(res, ref, label):
    """Device records, GPU timeline and the summary's gpu_* columns, exactly."""
    key = ["pipeline_id", "task", "part"]
    got = res.devices.sort_values(key).reset_index(drop=True)
    want = ref.devices.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want), (label, len(got), len(want))
    for col in ("replication", "pipeline_id", "part", "node"):
        assert (got[col].to_numpy(np.int64) == want[col].to_numpy(np.int64)).all(), (label, col)
    for col in ("task", "devices"):
        bad = got[col].astype(str).to_numpy() != want[col].astype(str).to_numpy()
        assert not bad.any(), (f"{label}: device records' {col} differ\n{got[bad].head()}\n"
                               f"oracle:\n{want[bad].head()}")
    a, b = res.gpu_timeline, ref.gpu_timeline
    assert len(a) == len(b), (label, len(a), len(b))
    for col in TIMELINE:
        x, y = a[col].to_numpy(np.float64), b[col].to_numpy(np.float64)
        bad = ~((x == y) | (np.isnan(x) & np.isnan(y)))
        assert not bad.any(), (f"{label}: GPU timeline's {col} differs\n{a[bad].head()}\n"
                               f"oracle:\n{b[bad].head()}")
    row = res.summary.iloc[0]
    for k in GPU_SUMMARY:
        assert _same(float(row[k]), float(ref.gpu_summary[k])), (label, k, row[k], ref.gpu_summary[k])


def compare(pl, ts, cl, placement, ties, backfill, seed, policy="fifo", horizon=None, warmup=0.0, models=None,
            gates=None):
    """Run both on one trace and assert they agree; returns (engine, oracle) results."""
    gates = gates or {}
    trace = fps.Trace.from_frames(pl, ts, models) if models is not None else fps.Trace.from_frames(pl, ts)
    res = fps.simulate(trace, fps.Cluster(cl), policy=policy, placement=placement, ties=ties,
                       backfill=backfill, horizon=horizon, warmup=warmup, seed=seed, devices=True,
                       record_tasks=True, progress=False, threads=1, **gates)
    ref = simulate_simpy(pl, ts, cl, policy=policy, placement=placement, ties=ties, backfill=backfill,
                         horizon=horizon, warmup=warmup, seed=seed, devices=True, models=models, **gates)
    label = f"seed {seed} {policy}/{placement}/ties={ties}/backfill={backfill}/horizon={horizon}"
    assert_same_schedule(res.tasks, ref.tasks, label)
    assert_same_devices(res, ref, label)
    assert res.summary["events"].iloc[0] == ref.n_events, label
    return res, ref


def check_many(placement, ties, backfill, seeds, salt):
    gangs = waits = 0
    for seed in seeds:
        rng = np.random.default_rng([seed, salt])
        pl, ts, cl = random_device_trace(rng, max_count=int(rng.integers(1, 4)))
        horizon = float(rng.integers(4, 12)) if seed % 4 == 3 else None
        warmup = 2.0 if seed % 5 == 4 else 0.0
        res, ref = compare(pl, ts, cl, placement, ties, backfill, seed, policy=POLICIES[seed % len(POLICIES)],
                           horizon=horizon, warmup=warmup)
        gangs += int((ref.devices["part"] > 0).sum())
        waits += int((ref.tasks["start"] > ref.tasks["ready"]).sum())
    return gangs, waits


@pytest.mark.parametrize("placement,ties,backfill", CONFIGS)
def test_engine_equals_oracle_on_random_device_traces(placement, ties, backfill):
    gangs, waits = check_many(placement, ties, backfill, range(10), 12)
    # the comparison is worth something only if gangs ran and tasks competed for devices
    assert gangs > 0 and waits > 20


@pytest.mark.slow
@pytest.mark.parametrize("placement,ties,backfill", CONFIGS)
def test_engine_equals_oracle_on_many_random_device_traces(placement, ties, backfill):
    check_many(placement, ties, backfill, range(10, 400), 13)


def _device_lifecycle_case(seed):
    """A random lifecycle trace (gates, deploys, drift, on_drift and periodic rules) whose tasks
    get device requests: fractions, whole GPUs, specs and gangs, on a cluster with GPU models."""
    from test_lifecycle_oracle import random_lifecycle_trace

    rng = np.random.default_rng([seed, 1212])
    pl, ts, _, models, gates = random_lifecycle_trace(rng, n_pipelines=int(rng.integers(4, 10)))
    _, _, cl = random_device_trace(rng, n_tasks=(1, 1), max_count=2)
    cl = cl.assign(cpu=np.maximum(cl["cpu"], 8.0), mem_gb=np.maximum(cl["mem_gb"], 64.0))
    n = len(ts)
    ts = ts.assign(gpu=rng.choice([0.0, 0.25, 0.5, 0.7, 1.0, 2.0], n), cpu=np.minimum(ts["cpu"], 8.0),
                   mem_gb=np.minimum(ts["mem_gb"], 64.0), replicas=np.where(rng.random(n) < 0.3, 2, 1))
    models_with_gpus = [m for m in cl["gpu_model"] if m]
    spec = np.where((ts["gpu"] > 0) & (rng.random(n) < 0.3), models_with_gpus[0], "")
    ts = ts.assign(gpu_spec=spec)
    # keep only requests that fit at least `replicas` empty nodes (MODEL.md 12.2)
    nodes = cl.loc[cl.index.repeat(cl["count"])]
    for i in range(n):
        r = ts.iloc[i]
        ok = ((nodes["cpu"] >= r["cpu"]) & (nodes["mem_gb"] >= r["mem_gb"])
              & ((r["gpu"] == 0) | (nodes["gpu"] >= max(1.0, r["gpu"])))
              & ((r["gpu_spec"] == "") | (nodes["gpu_model"] == r["gpu_spec"])))
        if ok.sum() < r["replicas"]:
            ts.loc[ts.index[i], ["gpu", "gpu_spec", "replicas"]] = [0.0, "", 1]
    return pl, ts, cl, models, gates


@pytest.mark.parametrize("placement", ["first_fit", "random", "fgd", "gpu_packing"])
def test_engine_equals_oracle_with_the_lifecycle(placement):
    """Gates, deploys, on_drift and periodic rules on devices: the rules' copies take placement
    slots after the workload's (batch order), their gangs and specs are their template's."""
    copies = 0
    for seed in range(8):
        pl, ts, cl, models, gates = _device_lifecycle_case(seed)
        policy = ("fifo", "staleness", "srpt")[seed % 3]
        res, ref = compare(pl, ts, cl, placement, "random" if seed % 2 else "index", seed % 4 != 3, seed,
                           policy=policy, horizon=40.0, models=models, gates=gates)
        got = res.pipelines.sort_values("pipeline_id")
        want = ref.pipelines.sort_values("pipeline_id")
        assert got["outcome"].astype(str).tolist() == want["outcome"].astype(str).tolist()
        copies += int((ref.pipelines["triggered_by"] != "exogenous").sum())
    assert copies > 0


def test_comparison_detects_a_different_placement():
    """The comparison is sharp: fgd and gpu_packing differ on a contended device trace."""
    pl, ts, cl = random_device_trace(np.random.default_rng(5), n_tasks=(50, 60), max_count=1)
    trace = fps.Trace.from_frames(pl, ts)
    res = fps.simulate(trace, fps.Cluster(cl), placement="fgd", record_tasks=True, progress=False, threads=1)
    ref = simulate_simpy(pl, ts, cl, placement="gpu_packing")
    with pytest.raises(AssertionError):
        assert_same_schedule(res.tasks, ref.tasks, "fgd vs gpu_packing")
        assert_same_devices(res, ref, "fgd vs gpu_packing")
