"""The engine's ML model lifecycle (MODEL.md 7) against the SimPy reference model.

Random small traces with candidate outcomes, a models table with drift, on_drift and
periodic rules, templates and gates: the engine and benchmarks/simpy_model.py must give
the identical schedule (every task's node, ready, start, end and status, cancelled
tasks included), the same pipelines (triggered copies with their ids, submit times,
ends, outcomes and rules) and the same per-model metrics.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from benchmarks.simpy_model import simulate_simpy
from randtrace import random_trace
from test_oracle import assert_same_schedule

pytestmark = pytest.mark.crosspath

LIFECYCLE_TYPES = ("preprocess", "train", "evaluate", "bias_check", "robustness_check", "compress", "deploy")
METRICS = ("mean_accuracy", "frac_below", "deployments", "rejected_evaluate", "rejected_bias_check",
           "rejected_robustness_check", "submitted_on_drift", "submitted_periodic", "crossing_to_deploy")
TOTALS = {"mean_accuracy": "model_accuracy_mean", "frac_below": "model_frac_below",
          "crossing_to_deploy": "crossing_to_deploy_mean"}


def random_lifecycle_trace(rng: np.random.Generator, n_pipelines: int = 8, tie_heavy: bool = True):
    """A random trace (randtrace) given lifecycle meaning: task types with effects, candidates
    on most pipelines, and a models table whose drift crosses thresholds within seconds."""
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=n_pipelines, tie_heavy=tie_heavy)
    cluster = cluster.assign(gpu=np.ceil(cluster["gpu"]))  # GPUs are devices (MODEL.md 12.1): a node's gpu is a whole number
    tasks["type"] = rng.choice(LIFECYCLE_TYPES, len(tasks))
    # a pipeline often ends with a deploy after its other tasks, as real ones do
    for pid, rows in tasks.groupby("pipeline_id").groups.items():
        if rng.random() < 0.7 and len(rows) > 1:
            names = [str(tasks.at[r, "task"]) for r in rows]
            needed = {a for r in rows for a in str(tasks.at[r, "after"]).split(";") if a}
            sinks = [r for r, nm in zip(rows, names) if nm not in needed]  # no task waits for these
            last = sinks[0]
            tasks.at[last, "type"] = "deploy"
            tasks.at[last, "after"] = ";".join(sorted(nm for r, nm in zip(rows, names) if r != last))
    n = len(pipelines)
    has = rng.random(n) < 0.85
    for c in ("candidate_accuracy", "candidate_robustness", "candidate_fairness"):
        pipelines[c] = np.where(has, np.round(rng.uniform(0.5, 1.0, n), 3), np.nan)
    pipelines["compress_loss"] = np.where(has & (rng.random(n) < 0.7), np.round(rng.uniform(0, 0.1, n), 3), np.nan)
    rows = []
    with_state = [0, 1] if rng.random() < 0.5 else [0, 1, 2]  # model 2 may have no lifecycle state
    for m in with_state:
        template = pipelines["pipeline_id"].iloc[int(rng.integers(0, n))]
        rows.append({
            "model_id": m,
            "accuracy": float(np.round(rng.uniform(0.6, 0.95), 3)),
            "robustness": 0.8, "fairness": 0.8,
            "deployed_at": float(-rng.integers(0, 10)),
            # per day: a crossing within seconds, on the traces' time scale
            "drift_per_day": float(rng.choice([0.0, 2.0e3, 1.0e4, 4.0e4])),
            "threshold": float(np.round(rng.uniform(0.5, 0.9), 3)),
            "on_drift": bool(rng.random() < 0.6),
            "period": float(rng.choice([0.0, 0.0, 3.0, 5.5])),
            "phase": float(rng.choice([0.0, -4.0, 2.5, 1.0])),
            "template_pipeline_id": int(template),
        })
    models = pd.DataFrame(rows)
    gates = dict(accuracy_gate=float(rng.choice([0.0, 0.7])), fairness_gate=float(rng.choice([0.0, 0.6])),
                 robustness_gate=float(rng.choice([0.0, 0.65])))
    return pipelines, tasks, cluster, models, gates


def run_both(pipelines, tasks, cluster, models, gates, policy="fifo", placement="first_fit",
             backfill=True, horizon=25.0, warmup=0.0):
    trace = fps.Trace.from_frames(pipelines, tasks, models)
    res = fps.simulate(trace, fps.Cluster(cluster), policy=policy, placement=placement, backfill=backfill,
                       horizon=horizon, warmup=warmup, record_tasks=True, **gates)
    ref = simulate_simpy(pipelines, tasks, cluster, policy=policy, placement=placement, backfill=backfill,
                         horizon=horizon, models=models, warmup=warmup, **gates)
    return res, ref


def assert_same_lifecycle(res, ref, label):
    assert_same_schedule(res.tasks, ref.tasks, label)
    assert res.summary["events"].iloc[0] == ref.n_events, label
    a = res.pipelines.sort_values("pipeline_id").reset_index(drop=True)
    b = ref.pipelines.sort_values("pipeline_id").reset_index(drop=True)
    assert a["pipeline_id"].tolist() == b["pipeline_id"].tolist(), label
    assert a["model_id"].tolist() == b["model_id"].tolist(), label
    submitted = a["outcome"].astype(str) != "not_submitted"
    assert submitted.tolist() == b["submit"].notna().tolist(), label
    np.testing.assert_array_equal(a["submit_time"][submitted], b["submit"][submitted], err_msg=label)
    np.testing.assert_array_equal(a["end"].to_numpy(), b["end"].to_numpy(), err_msg=label)
    out_a = a["outcome"].astype(str).where(submitted, "unfinished")  # the oracle has no not_submitted
    assert out_a.tolist() == b["outcome"].tolist(), label
    assert a["triggered_by"].astype(str).tolist() == b["triggered_by"].tolist(), label
    ours = res.models.drop(columns="replication").set_index("model_id")
    theirs = ref.models.set_index("model_id")
    # Per model, the two implementations run the same arithmetic: equal to the last bit.
    # The totals over models are sums (and means) over the M models that each implementation
    # accumulates in its own order; reordering a sum of M terms moves it by at most about M
    # ulps of the sum, so the totals are compared within 4 M ulps, not exactly.
    rel = 4 * len(ours.index) * np.finfo(float).eps
    for name in METRICS:
        for mid in ours.index:
            x, y = ours.at[mid, name], theirs.at[mid, name]
            assert x == y or (np.isnan(x) and np.isnan(y)), f"{label}: model {mid} {name}: {x!r} != {y!r}"
        total = res.summary[TOTALS.get(name, name)].iloc[0]
        assert total == pytest.approx(theirs.at[-1, name], rel=rel, abs=0.0, nan_ok=True), f"{label}: {name}"


POLICIES = ("fifo", "staleness", "srpt", "priority")


@pytest.mark.parametrize("policy", POLICIES)
def test_identical_lifecycle_on_random_traces(policy):
    seen = {"rejected": 0, "on_drift": 0, "periodic": 0, "cancelled": 0, "deploy": 0}
    for seed in range(25):
        rng = np.random.default_rng([seed, 11])
        pipelines, tasks, cluster, models, gates = random_lifecycle_trace(rng, tie_heavy=seed % 3 != 2)
        warmup = 3.0 if seed % 5 == 4 else 0.0
        res, ref = run_both(pipelines, tasks, cluster, models, gates, policy=policy,
                            placement=("first_fit", "best_fit")[seed % 2], backfill=seed % 7 != 6,
                            warmup=warmup)
        assert_same_lifecycle(res, ref, f"seed {seed} {policy}")
        outcome = res.pipelines["outcome"].astype(str)
        seen["rejected"] += int(outcome.str.startswith("rejected").sum())
        seen["on_drift"] += int((res.pipelines["triggered_by"] == "on_drift").sum())
        seen["periodic"] += int((res.pipelines["triggered_by"] == "periodic").sum())
        seen["cancelled"] += int((res.tasks["status"] == "cancelled").sum())
        seen["deploy"] += int(res.summary["deployments"].iloc[0])
    # the traces exercise every part of the lifecycle
    assert all(v > 0 for v in seen.values()), seen


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES + ("sjf",))
def test_identical_lifecycle_many_traces(policy):
    for seed in range(300):
        rng = np.random.default_rng([seed, 12])
        pipelines, tasks, cluster, models, gates = random_lifecycle_trace(
            rng, n_pipelines=int(rng.integers(3, 14)), tie_heavy=seed % 3 != 2)
        res, ref = run_both(pipelines, tasks, cluster, models, gates, policy=policy,
                            placement=("first_fit", "best_fit", "worst_fit")[seed % 3], backfill=seed % 5 != 4,
                            horizon=float(rng.choice([12.0, 25.0, 40.0])), warmup=float(rng.choice([0.0, 2.0])))
        assert_same_lifecycle(res, ref, f"seed {seed} {policy}")


def test_the_comparison_detects_a_different_gate():
    """The oracle check can fail: a different accuracy gate changes outcomes somewhere."""
    differs = False
    for seed in range(10):
        rng = np.random.default_rng([seed, 11])
        pipelines, tasks, cluster, models, gates = random_lifecycle_trace(rng)
        res, _ = run_both(pipelines, tasks, cluster, models, gates)
        _, ref = run_both(pipelines, tasks, cluster, models, dict(gates, accuracy_gate=0.9))
        try:
            assert_same_lifecycle(res, ref, "")
        except AssertionError:
            differs = True
            break
    assert differs


def test_lifecycle_off_runs_the_same_pipelines_as_plain_jobs():
    rng = np.random.default_rng([3, 11])
    pipelines, tasks, cluster, models, gates = random_lifecycle_trace(rng)
    trace = fps.Trace.from_frames(pipelines, tasks, models)
    off = fps.simulate(trace, fps.Cluster(cluster), lifecycle=False, horizon=25.0, record_tasks=True, **gates)
    plain = simulate_simpy(pipelines, tasks, cluster, horizon=25.0)
    assert_same_schedule(off.tasks, plain.tasks, "lifecycle off")
    assert "model_accuracy_mean" not in off.summary.columns and off.models.empty
    assert math.isnan(off.pipelines["end"].max()) or off.pipelines["triggered_by"].eq("exogenous").all()
