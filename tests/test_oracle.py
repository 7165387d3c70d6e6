"""The compiled engine against the independent SimPy model (benchmarks/simpy_model.py).

Both are written from MODEL.md 2-6; on the same trace they must produce the
identical schedule: the same node, ready, start and end time (as floats) and
status for every task, for every policy x placement x backfill, on random
traces with DAGs, ties in time, several pools with different speeds and
fractional requests (shares of one GPU device, so those runs are on devices on
both sides, MODEL.md 12.12), with and without a horizon.
"""
import itertools

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from benchmarks.simpy_model import simulate_simpy
from randtrace import random_trace

pytestmark = pytest.mark.crosspath

CONFIGS = list(itertools.product(("fifo", "priority", "sjf", "srpt"),
                                 ("first_fit", "best_fit", "worst_fit"), (True, False)))
COLUMNS = ["node", "ready", "start", "end"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["pipeline_id", "task"]).reset_index(drop=True)


def assert_same_schedule(engine: pd.DataFrame, oracle: pd.DataFrame, label: str):
    a, b = _sorted(engine), _sorted(oracle)
    assert len(a) == len(b), label
    assert (a["pipeline_id"].to_numpy() == b["pipeline_id"].to_numpy()).all(), label
    assert (a["task"].astype(str).to_numpy() == b["task"].astype(str).to_numpy()).all(), label
    for col in COLUMNS:
        x, y = a[col].to_numpy(np.float64), b[col].to_numpy(np.float64)
        if not np.array_equal(x, y, equal_nan=True):
            bad = np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y))))
            raise AssertionError(f"{label}: column {col} differs at rows\n"
                                 f"{a.iloc[bad[:5]]}\noracle:\n{b.iloc[bad[:5]]}")
    assert (a["status"].astype(str).to_numpy() == b["status"].astype(str).to_numpy()).all(), label


def _run_both(pipelines, tasks, cluster, policy, placement, backfill, horizon):
    trace = fps.Trace.from_frames(pipelines, tasks)
    res = fps.simulate(trace, fps.Cluster(cluster), policy=policy, placement=placement,
                       backfill=backfill, horizon=horizon, record_tasks=True)
    ref = simulate_simpy(pipelines, tasks, cluster, policy=policy, placement=placement,
                         backfill=backfill, horizon=horizon)
    return res, ref


@pytest.mark.parametrize("policy,placement,backfill", CONFIGS)
def test_identical_schedule_on_random_traces(policy, placement, backfill):
    contended = 0
    for seed in range(12):
        rng = np.random.default_rng([seed, 7])
        pipelines, tasks, cluster = random_trace(rng, n_pipelines=10, tie_heavy=seed % 3 != 2)
        cluster = cluster.assign(gpu=np.ceil(cluster["gpu"]))  # GPUs are devices (MODEL.md 12.1): a node's gpu is a whole number
        horizon = 6.0 if seed % 4 == 3 else None
        res, ref = _run_both(pipelines, tasks, cluster, policy, placement, backfill, horizon)
        assert_same_schedule(res.tasks, ref.tasks, f"seed {seed} {policy}/{placement}/backfill={backfill}")
        assert res.summary["events"].iloc[0] == ref.n_events
        waits = res.tasks["start"] - res.tasks["ready"]
        contended += int((waits > 0).any())
    # the comparison is only worth something if tasks actually competed for nodes
    assert contended >= 6


@pytest.mark.slow
@pytest.mark.parametrize("policy,placement,backfill", CONFIGS)
def test_identical_schedule_many_traces(policy, placement, backfill):
    for seed in range(200):
        rng = np.random.default_rng([seed, 11])
        pipelines, tasks, cluster = random_trace(rng, n_pipelines=int(rng.integers(2, 30)),
                                                 max_tasks=6, tie_heavy=seed % 2 == 0)
        cluster = cluster.assign(gpu=np.ceil(cluster["gpu"]))  # GPUs are devices (MODEL.md 12.1): a node's gpu is a whole number
        horizon = float(rng.integers(3, 12)) if seed % 5 == 0 else None
        res, ref = _run_both(pipelines, tasks, cluster, policy, placement, backfill, horizon)
        assert_same_schedule(res.tasks, ref.tasks, f"seed {seed} {policy}/{placement}/backfill={backfill}")


def test_oracle_comparison_detects_a_different_policy():
    """The comparison is sharp: fifo and sjf schedules of a contended trace differ."""
    rng = np.random.default_rng(3)
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=15)
    cluster = cluster.assign(gpu=np.ceil(cluster["gpu"]))
    cluster["count"] = 1
    trace = fps.Trace.from_frames(pipelines, tasks)
    res = fps.simulate(trace, fps.Cluster(cluster), policy="fifo", record_tasks=True)
    ref = simulate_simpy(pipelines, tasks, cluster, policy="sjf")
    with pytest.raises(AssertionError):
        assert_same_schedule(res.tasks, ref.tasks, "fifo vs sjf")
