"""Elastic clusters (MODEL.md 11): the compiled engine against the SimPy oracle.

On random traces with elastic and spot pools (boot times, billing minimums, checkpoints,
interruption rates of one every few seconds, so that interruptions, restarts, boots,
scale-ups and scale-downs all happen within a short horizon), the engine and
``benchmarks/simpy_model.py`` must give the identical schedule (node, ready, start, end,
status and restarts of every task, as floats), the identical node timeline (every
instance's pool, slot, reason and request, up and release times) and the identical
MODEL.md 11.6 outputs (cost, node hours, nodes up, counters, work lost), for every
autoscaler and expander, every placement and the built-in policies.
"""
import math

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from benchmarks.simpy_model import simulate_simpy
from test_oracle import assert_same_schedule
from test_simpy_elastic import AUTOSCALERS, elastic_trace

pytestmark = pytest.mark.crosspath

POLICIES = ("fifo", "priority", "sjf", "srpt")
PLACEMENTS = ("first_fit", "best_fit", "worst_fit")
HORIZON = 40.0
NODE_COLUMNS = ["pool", "slot", "node", "reason", "requested", "up", "released", "release_reason"]
OUTPUTS = ("cost", "scale_ups", "scale_downs", "replacements", "interruptions", "tasks_restarted", "work_lost_h")


def engine_autoscaler(spec):
    """The fastpipesim.autoscalers object of one of the oracle's autoscaler dicts."""
    if isinstance(spec, str):
        return spec
    kw = {k: v for k, v in spec.items() if k != "kind"}
    cls = {"reactive": fps.autoscalers.Reactive, "target_utilization": fps.autoscalers.TargetUtilization,
           "schedule": fps.autoscalers.Schedule, "custom": fps.autoscalers.Custom}[spec["kind"]]
    return cls(**kw)


def _ids(a):
    return a if isinstance(a, str) else f"{a['kind']}-{a.get('expander', '')}".rstrip("-")


def compare(pl, ts, cl, autoscaler, seed, policy, placement, warmup=0.0, backfill=True):
    """Run both and assert they agree; returns the engine's Results."""
    trace = fps.Trace.from_frames(pl, ts)
    res = fps.simulate(trace, fps.Cluster(cl), policy=policy, placement=placement, backfill=backfill,
                       horizon=HORIZON, warmup=warmup, seed=seed, autoscaler=engine_autoscaler(autoscaler),
                       record_tasks=True, progress=False, threads=1)
    ref = simulate_simpy(pl, ts, cl, policy=policy, placement=placement, backfill=backfill, horizon=HORIZON,
                         warmup=warmup, seed=seed, autoscaler=autoscaler)
    label = f"seed {seed} {_ids(autoscaler)} {policy}/{placement}"
    assert_same_schedule(res.tasks, ref.tasks, label)
    assert_same_elastic(res, ref, cl, label)
    return res, ref


def assert_same_elastic(res, ref, cl, label):
    """Restarts of every task, the node timeline, the MODEL.md 11.6 outputs (per pool too) and
    the event count of one engine run and its oracle run, exactly."""
    a = res.tasks.sort_values(["pipeline_id", "task"])["restarts"].to_numpy()
    b = ref.tasks.sort_values(["pipeline_id", "task"])["restarts"].to_numpy()
    assert (a == b).all(), label
    got = res.nodes.drop(columns="replication")
    want = ref.nodes
    assert len(got) == len(want), (label, got, want)
    for c in NODE_COLUMNS:
        x, y = got[c].to_numpy(), want[c].to_numpy()
        if c in ("requested", "up", "released"):
            ok = np.array_equal(x.astype(float), y.astype(float), equal_nan=True)
        else:
            ok = [str(u) for u in x] == [str(v) for v in y]
        assert ok, (label, c, got, want)
    row = res.summary.iloc[0]
    for k in OUTPUTS:
        assert row[k] == ref.elastic[k], (label, k, row[k], ref.elastic[k])
    for q in cl["pool"]:
        for k in (f"node_hours_{q}", f"nodes_up_mean_{q}"):
            assert row[k] == ref.elastic[k] or (math.isnan(row[k]) and math.isnan(ref.elastic[k])), (label, k)
    assert row["events"] == ref.n_events, label


def check_many(autoscaler, seeds):
    active = {"interruptions": 0, "scale_ups": 0, "scale_downs": 0, "restarts": 0}
    for seed in seeds:
        rng = np.random.default_rng([seed, 12])
        pl, ts, cl = elastic_trace(rng)
        if isinstance(autoscaler, dict) and autoscaler["kind"] == "schedule" and "small" not in set(cl["pool"]):
            continue
        policy = POLICIES[seed % len(POLICIES)]
        placement = PLACEMENTS[(seed // len(POLICIES)) % len(PLACEMENTS)]
        res, ref = compare(pl, ts, cl, autoscaler, seed, policy, placement,
                           warmup=5.0 if seed % 5 == 4 else 0.0, backfill=seed % 7 != 6)
        for k in ("interruptions", "scale_ups", "scale_downs"):
            active[k] += ref.elastic[k]
        active["restarts"] += int(ref.tasks["restarts"].sum())
    return active


@pytest.mark.parametrize("autoscaler", AUTOSCALERS, ids=_ids)
def test_engine_equals_oracle_on_random_elastic_traces(autoscaler):
    active = check_many(autoscaler, range(12))
    # the comparison is worth something only if the mechanisms acted
    assert active["interruptions"] > 0 and active["restarts"] > 0
    if autoscaler != "static":
        assert active["scale_ups"] + active["scale_downs"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("autoscaler", AUTOSCALERS, ids=_ids)
def test_engine_equals_oracle_on_many_random_elastic_traces(autoscaler):
    check_many(autoscaler, range(12, 160))


def _elastic_lifecycle_case(seed):
    """A random lifecycle trace (gates, deploys, drift, on_drift and periodic rules) on an
    elastic cluster with spot pools and checkpoints (the rules' copies keep their template's)."""
    from test_lifecycle_oracle import random_lifecycle_trace

    rng = np.random.default_rng([seed, 13])
    pl, ts, cl, models, gates = random_lifecycle_trace(rng, n_pipelines=int(rng.integers(4, 10)))
    cl["min_count"] = [min(1, c) for c in cl["count"]]
    cl["max_count"] = cl["count"] + rng.integers(0, 3, len(cl))
    cl["boot_time"] = rng.choice([0.0, 1.0, 2.5], len(cl))
    cl["spot"] = rng.random(len(cl)) < 0.6
    cl["interruptions_per_day"] = np.where(cl["spot"], 86400.0 / rng.choice([3.0, 8.0]), 0.0)
    ts["checkpoint_every"] = np.where(rng.random(len(ts)) < 0.5, 1.0, np.nan)
    return pl, ts, cl, models, gates


@pytest.mark.parametrize("autoscaler", [AUTOSCALERS[0], AUTOSCALERS[3], "static"], ids=_ids)
def test_engine_equals_oracle_with_the_lifecycle(autoscaler):
    """Gates, deploys, rules and their copies on elastic and spot pools: an interrupted task of a
    rejected pipeline is cancelled, copies restart from their checkpoints."""
    restarted = copies = 0
    for seed in range(10):
        pl, ts, cl, models, gates = _elastic_lifecycle_case(seed)
        trace = fps.Trace.from_frames(pl, ts, models)
        policy = ("fifo", "staleness", "srpt")[seed % 3]
        res = fps.simulate(trace, fps.Cluster(cl), policy=policy, horizon=HORIZON, seed=seed, record_tasks=True,
                           autoscaler=engine_autoscaler(autoscaler), progress=False, threads=1, **gates)
        ref = simulate_simpy(pl, ts, cl, policy=policy, horizon=HORIZON, models=models, seed=seed,
                             autoscaler=autoscaler, **gates)
        label = f"seed {seed} {_ids(autoscaler)} {policy}"
        assert_same_schedule(res.tasks, ref.tasks, label)
        a = res.tasks.sort_values(["pipeline_id", "task"])["restarts"].to_numpy()
        b = ref.tasks.sort_values(["pipeline_id", "task"])["restarts"].to_numpy()
        assert (a == b).all(), label
        got = res.pipelines.sort_values("pipeline_id")
        want = ref.pipelines.sort_values("pipeline_id")
        assert got["outcome"].astype(str).tolist() == want["outcome"].astype(str).tolist(), label
        assert np.array_equal(got["end"].to_numpy(), want["end"].to_numpy(), equal_nan=True), label
        row = res.summary.iloc[0]
        for k in OUTPUTS:
            assert row[k] == ref.elastic[k], (label, k)
        restarted += int(a.sum())
        copies += int((ref.pipelines["triggered_by"] != "exogenous").sum())
    assert restarted > 0 and copies > 0


def test_the_elastic_path_without_elastic_events_is_the_static_run():
    """An elastic cluster whose extra slot is never used (static autoscaler, no spot) runs the
    elastic code path to the same schedule as the static cluster, with the lifecycle and its
    rules (regression: the rules' copies once ran for the placeholder's work)."""
    wl = fps.ModelOpsWorkload(on_drift=True, days=2)
    a = fps.simulate(wl, fps.default_cluster(), replications=2, seed=1, record_tasks=True, progress=False)
    pools = fps.default_cluster().pools.assign(min_count=[3, 3], max_count=[3, 4])
    b = fps.simulate(wl, fps.Cluster(pools), replications=2, seed=1, record_tasks=True, progress=False)
    pd.testing.assert_frame_equal(a.tasks, b.tasks.drop(columns="restarts"), check_exact=True)
    cols = [c for c in a.summary.columns if c != "cost" and not c.startswith("util_gpu")]
    pd.testing.assert_frame_equal(a.summary[cols], b.summary[cols], check_exact=True)
