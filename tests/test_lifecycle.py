"""The ML model lifecycle (MODEL.md 7) in the engine: analytic checks, common random
numbers, invariants on the synthetic workload, and the errors a user can meet.

The schedule-level comparison with the SimPy reference is in test_lifecycle_oracle.py.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.errors import InputError

DAY = 86400.0
NO_GATES = dict(accuracy_gate=0.0, fairness_gate=0.0, robustness_gate=0.0)


def one_model_trace(a0=0.9, threshold=0.85, drift=0.05, durations=(3600.0, 1800.0), candidate=None,
                    on_drift=True, period=0.0, phase=0.0, deployed_at=0.0):
    """One model whose template (never submitted itself: its submit time is far after any
    horizon used here) is a chain train -> deploy."""
    cand = (a0, 0.9, 0.9) if candidate is None else candidate
    pipelines = pd.DataFrame({"pipeline_id": [0], "submit_time": [1e9], "model_id": [7],
                              "candidate_accuracy": [cand[0]], "candidate_robustness": [cand[1]],
                              "candidate_fairness": [cand[2]]})
    names = [f"s{i}" for i in range(len(durations))]
    types = ["train"] * (len(durations) - 1) + ["deploy"]
    tasks = pd.DataFrame({"pipeline_id": 0, "task": names, "type": types, "cpu": 1.0, "gpu": 0.0,
                          "mem_gb": 1.0, "duration": list(durations),
                          "after": [""] + names[:-1]})
    models = pd.DataFrame([{"model_id": 7, "accuracy": a0, "robustness": 0.9, "fairness": 0.9,
                            "deployed_at": deployed_at, "drift_per_day": drift, "threshold": threshold,
                            "on_drift": on_drift, "period": period, "phase": phase,
                            "template_pipeline_id": 0}])
    return fps.Trace.from_frames(pipelines, tasks, models)


def ample():
    return fps.Cluster(pd.DataFrame([{"pool": "big", "count": 4, "cpu": 8.0, "gpu": 0.0, "mem_gb": 64.0}]))


# --------------------------------------------------------------------------- analytic checks

def test_a_drift_crossing_fires_at_the_exact_time():
    a0, thr, drift = 0.9, 0.85, 0.05
    res = fps.simulate(one_model_trace(a0, thr, drift), ample(), horizon=3 * DAY, record_tasks=True)
    p = res.pipelines
    first = p[p["triggered_by"] == "on_drift"].iloc[0]
    # MODEL.md 7: td + 86400 ln(a0 / threshold) / drift, to the last bit
    assert first["submit_time"] == 0.0 + 86400 * math.log(a0 / thr) / drift
    assert first["pipeline_id"] == 1  # numbered after the workload's largest pipeline_id


def test_time_below_threshold_per_drift_cycle_is_the_retraining_response_time():
    """Ample capacity, no gates: each cycle is (crossing, retrain for R seconds, deploy), so
    the model spends exactly R below its threshold per cycle, and every crossing-to-deploy
    delay is R."""
    a0, thr, drift = 0.9, 0.85, 0.05
    durations = (3600.0, 1800.0)
    R = sum(durations)
    horizon = 20 * DAY
    res = fps.simulate(one_model_trace(a0, thr, drift, durations), ample(), horizon=horizon,
                       record_tasks=True, **NO_GATES)
    p = res.pipelines[res.pipelines["triggered_by"] == "on_drift"].reset_index(drop=True)
    gap = 86400 * math.log(a0 / thr) / drift  # a deploy of a0 crosses this long after
    n = len(p)
    assert n >= 3
    # submissions: the crossing after each deploy, exactly
    td = 0.0
    for k in range(n):
        c = td + 86400 * math.log(a0 / thr) / drift
        assert p.at[k, "submit_time"] == c
        assert p.at[k, "end"] == pytest.approx(c + R, rel=1e-12) or (k == n - 1 and np.isnan(p.at[k, "end"]))
        td = p.at[k, "end"]
    m = res.models.iloc[0]
    assert m["crossing_to_deploy"] == pytest.approx(R, rel=1e-9)
    completed = int((p["outcome"] == "completed").sum())
    assert m["deployments"] == completed
    last_deploy = p["end"].dropna().iloc[-1]
    # time below: R per completed cycle, plus the open crossing at the end if any
    open_tail = max(0.0, horizon - (last_deploy + gap))
    assert m["frac_below"] * horizon == pytest.approx(completed * R + open_tail, rel=1e-9)
    # and the accuracy integral is the closed form, cycle by cycle
    k = drift / DAY
    starts = [0.0] + list(p["end"].dropna())
    ends = starts[1:] + [horizon]
    integral = sum(a0 / k * (1 - math.exp(-k * (e - s))) for s, e in zip(starts, ends))
    assert m["mean_accuracy"] * horizon == pytest.approx(integral, rel=1e-9)


def test_a_periodic_rule_submits_at_phase_plus_k_periods_and_skips_while_in_flight():
    period, phase = 3 * 3600.0, -1000.0
    # the retraining takes longer than one period: every other time is skipped
    res = fps.simulate(one_model_trace(on_drift=False, period=period, phase=phase, durations=(4 * 3600.0, 60.0),
                                       drift=0.0), ample(), horizon=DAY, record_tasks=True)
    p = res.pipelines[res.pipelines["triggered_by"] == "periodic"]
    times = list(p["submit_time"])
    assert times == [phase + k * period for k in range(1, 9, 2)]


def test_a_gate_rejects_cancels_and_the_stale_model_retrains_at_once():
    """A candidate below the accuracy gate: the deploy is cancelled, the model stays stale,
    and on_drift submits the next retraining when the rejected one ends."""
    trace = one_model_trace(candidate=(0.5, 0.9, 0.9), durations=(100.0, 50.0, 10.0))
    tasks = trace.tasks.copy()
    tasks.loc[1, "type"] = "evaluate"
    trace = fps.Trace.from_frames(trace.pipelines, tasks, trace.models)
    res = fps.simulate(trace, ample(), horizon=2 * DAY, accuracy_gate=0.8, record_tasks=True)
    p = res.pipelines[res.pipelines["triggered_by"] == "on_drift"].reset_index(drop=True)
    assert (p["outcome"].astype(str).iloc[:-1] == "rejected_by_evaluate").all()
    # the next is submitted when the previous ends (evaluate at +150 s), back to back
    np.testing.assert_allclose(np.diff(p["submit_time"]), 150.0, rtol=1e-12)
    t = res.tasks
    deploys = t[(t["type"] == "deploy") & t["pipeline_id"].isin(p["pipeline_id"].iloc[:-1])]
    assert (deploys["status"] == "cancelled").all() and deploys["start"].isna().all()
    assert res.models.iloc[0]["deployments"] == 0
    assert res.summary["rejected_evaluate"].iloc[0] == res.summary["rejected"].iloc[0] > 10


# --------------------------------------------------------------------------- common random numbers

def _triggered(res):
    p = res.pipelines
    p = p[p["triggered_by"] != "exogenous"].copy()
    p["k"] = p.groupby(["replication", "model_id"]).cumcount()
    return p.set_index(["replication", "model_id", "k"])


@pytest.mark.crosspath
def test_the_kth_retraining_of_a_model_is_the_same_under_two_policies():
    w = dataclasses.replace(fps.ModelOpsWorkload(days=3), on_drift=True)
    kw = dict(replications=[0, 1], seed=11, record_tasks=True, warmup=0.0)
    a = fps.simulate(w, policy="fifo", **kw)
    b = fps.simulate(w, cluster=fps.default_cluster().scaled(gpu=1), policy="staleness", **kw)
    ta, tb = _triggered(a), _triggered(b)
    common = ta.index.intersection(tb.index)
    assert len(common) > 50
    cols = ["n_tasks", "priority", "candidate_accuracy", "candidate_robustness", "candidate_fairness",
            "compress_loss"]
    pd.testing.assert_frame_equal(ta.loc[common, cols], tb.loc[common, cols])
    # the schedules differ (so the equality above is not trivial) ...
    assert not np.array_equal(ta.loc[common, "submit_time"], tb.loc[common, "submit_time"])
    # ... and the k-th copy has the same tasks and durations
    da = _durations(a, ta.loc[common])
    db = _durations(b, tb.loc[common])
    shared = da.index.intersection(db.index)
    assert len(shared) > 100
    np.testing.assert_allclose(da.loc[shared], db.loc[shared], rtol=1e-12)


def _durations(res, triggered):
    """(replication, model, k, task) -> reference duration of completed tasks (default pools have speed 1)."""
    t = res.tasks[res.tasks["status"] == "completed"]
    key = triggered.reset_index()[["replication", "model_id", "k", "pipeline_id"]]
    t = t.merge(key, on=["replication", "pipeline_id"])
    return (t["end"] - t["start"]).set_axis(pd.MultiIndex.from_frame(t[["replication", "model_id", "k", "task"]]))


# --------------------------------------------------------------------------- invariants

@pytest.fixture(scope="module")
def storm():
    """The synthetic workload with on_drift and a periodic rule on a tight cluster, gates on."""
    w = dataclasses.replace(fps.ModelOpsWorkload(days=4), on_drift=True, model_rules={1: {"period_days": 0.5}})
    return fps.simulate(w, fps.default_cluster().scaled(gpu=2), replications=3, seed=5, record_tasks=True,
                        warmup=DAY, policy="staleness")


def test_no_task_of_a_rejected_pipeline_starts_after_the_rejection(storm):
    p, t = storm.pipelines, storm.tasks
    rejected = p[p["outcome"].astype(str).str.startswith("rejected_by_")]
    assert len(rejected) > 10
    gate_type = rejected["outcome"].astype(str).str.replace("rejected_by_", "", regex=False)
    key = pd.DataFrame({"replication": rejected["replication"], "pipeline_id": rejected["pipeline_id"],
                        "type": gate_type})
    gates = t.merge(key, on=["replication", "pipeline_id", "type"])
    when = gates.groupby(["replication", "pipeline_id"])["end"].min().rename("rejected_at").reset_index()
    tt = t.merge(when, on=["replication", "pipeline_id"])
    assert not (tt["start"] > tt["rejected_at"]).any()
    assert not ((tt["type"] == "deploy") & (tt["status"] == "completed")).any()  # never deploys
    assert (tt["status"] != "not_started").all()  # every task ran or was cancelled
    # cancelled tasks belong to rejected pipelines only
    canc = t[t["status"] == "cancelled"].merge(key[["replication", "pipeline_id"]], how="left", indicator=True,
                                             on=["replication", "pipeline_id"])
    assert (canc["_merge"] == "both").all() and len(canc) > 0


def test_metrics_are_in_range_and_counts_add_up(storm):
    m, s = storm.models, storm.summary
    assert m["mean_accuracy"].between(0, 1).all() and m["frac_below"].between(0, 1).all()
    for col in ("deployments", "rejected_evaluate", "rejected_bias_check", "rejected_robustness_check",
                "submitted_on_drift", "submitted_periodic"):
        assert (m.groupby("replication")[col].sum() == s[col]).all(), col
    p = storm.pipelines
    in_window = p[(p["submit_time"] >= DAY) & (p["outcome"].astype(str) != "not_submitted")]
    rej = in_window["outcome"].astype(str).str.startswith("rejected").groupby(in_window["replication"]).sum()
    assert (rej == s["rejected"]).all()
    trig = p[p["submit_time"] >= DAY].groupby(["replication", "triggered_by"], observed=False).size().unstack()
    assert (trig["on_drift"] == s["submitted_on_drift"]).all()
    assert (trig["periodic"] == s["submitted_periodic"]).all() and s["submitted_periodic"].gt(0).all()
    assert ((p["triggered_by"] == "periodic") <= (p["model_id"] == 1)).all()
    # the deployed accuracy is a time average of states in [0, 1]
    assert s["model_accuracy_mean"].between(0, 1).all()


def test_a_rule_submits_only_when_no_pipeline_of_the_model_is_in_flight(storm):
    p = storm.pipelines[storm.pipelines["outcome"].astype(str) != "not_submitted"]
    end = p["end"].fillna(np.inf)
    for (rep, model), g in p.groupby(["replication", "model_id"]):
        g_end = end[g.index]
        for i, row in g[g["triggered_by"] != "exogenous"].iterrows():
            s = row["submit_time"]
            others = (g.index != i) & (g["submit_time"].to_numpy() < s) & (g_end.to_numpy() > s)
            assert not others.any(), (rep, model, s)


def test_lifecycle_off_is_plain_jobs_and_gates_off_do_not_change_a_fifo_schedule():
    w = fps.ModelOpsWorkload(days=2)
    kw = dict(replications=[0, 1], seed=2, record_tasks=True)
    off = fps.simulate(w, lifecycle=False, **kw)
    on = fps.simulate(w, **NO_GATES, **kw)
    pd.testing.assert_frame_equal(off.tasks, on.tasks)
    assert "model_accuracy_mean" in on.summary and "model_accuracy_mean" not in off.summary
    gated = fps.simulate(w, **kw)
    assert gated.summary["rejected"].sum() > 0 and off.summary["rejected"].sum() == 0


def test_a_custom_policy_with_lifecycle_fields_equals_staleness():
    from test_lifecycle_oracle import random_lifecycle_trace

    pol = fps.custom_policy(lambda accuracy, threshold: -(threshold - accuracy), name="stale")
    for seed in range(4):
        rng = np.random.default_rng([seed, 11])
        pipelines, tasks, cluster, models, gates = random_lifecycle_trace(rng)
        trace = fps.Trace.from_frames(pipelines, tasks, models)
        a = fps.simulate(trace, fps.Cluster(cluster), policy="staleness", horizon=25.0, record_tasks=True, **gates)
        b = fps.simulate(trace, fps.Cluster(cluster), policy=pol, horizon=25.0, record_tasks=True, **gates)
        pd.testing.assert_frame_equal(a.tasks, b.tasks)


# --------------------------------------------------------------------------- errors

def test_rules_need_a_horizon():
    with pytest.raises(ValueError, match="horizon"):
        fps.simulate(one_model_trace(), ample())
    # without rules a lifecycle trace runs to the end: the template itself arrives at 1e9 and deploys
    res = fps.simulate(one_model_trace(on_drift=False), ample())
    assert res.models.iloc[0]["deployments"] == 1 and res.summary["end_time"].iloc[0] == 1e9 + 5400.0


def test_a_runaway_rule_stops_with_an_error_that_names_the_limit():
    # every retraining deploys below the threshold: the model is stale again at once (a storm)
    trace = one_model_trace(candidate=(0.5, 0.9, 0.9), durations=(1.0, 1.0), drift=0.5)
    with pytest.raises(ValueError, match="max_triggered=50"):
        fps.simulate(trace, ample(), horizon=DAY, max_triggered=50)
    c = 86400 * math.log(0.9 / 0.85) / 0.5
    res = fps.simulate(trace, ample(), horizon=c + 3599.0, max_triggered=5000)
    assert res.summary["submitted_on_drift"].iloc[0] == 1800  # back to back, every 2 s


def test_copies_grow_past_the_first_guess_without_changing_the_result():
    """The reserve of copies is a guess: a run that needs many more gives the same answer
    whatever the first guess was."""
    import fastpipesim.lifecycle as lc_mod

    trace = one_model_trace(candidate=(0.5, 0.9, 0.9), durations=(10.0, 5.0), drift=0.5)
    base = fps.simulate(trace, ample(), horizon=DAY, record_tasks=True)
    assert base.summary["submitted_on_drift"].iloc[0] > 100
    orig = lc_mod.initial_counts
    try:
        import sys

        sim = sys.modules["fastpipesim.simulate"]
        sim.initial_counts = lambda table, horizon, *guess: np.ones(table.n_models, dtype=np.int64)
        again = fps.simulate(trace, ample(), horizon=DAY, record_tasks=True)
    finally:
        sim.initial_counts = orig
    pd.testing.assert_frame_equal(base.pipelines, again.pipelines)
    pd.testing.assert_frame_equal(base.tasks, again.tasks)


def test_stale_deploys_counts_the_pipelines_whose_deploy_leaves_their_model_stale():
    """The first guess of copies counts, per model, the workload's pipelines that pass the gates and
    deploy at or below the threshold (after their compress loss)."""
    from fastpipesim.lifecycle import Gates, initial_counts, stale_deploys

    # (candidate accuracy, robustness, fairness, compress loss or NaN for no compress task, has deploy)
    rows = [(0.80, 0.9, 0.9, np.nan, True),   # at/below 0.85: stale
            (0.90, 0.9, 0.9, np.nan, True),   # fresh
            (0.90, 0.9, 0.9, 0.06, True),     # 0.84 after compress: stale
            (0.80, 0.4, 0.9, np.nan, True),   # rejected by the robustness gate
            (0.80, 0.9, 0.9, np.nan, False),  # no deploy task
            (0.85, 0.9, 0.9, np.nan, True)]   # exactly at the threshold: stale
    pipelines, tasks = [], []
    for i, (acc, rob, fair, loss, deploy) in enumerate(rows):
        pipelines.append({"pipeline_id": i, "submit_time": float(i), "model_id": 7, "candidate_accuracy": acc,
                          "candidate_robustness": rob, "candidate_fairness": fair,
                          "compress_loss": 0.0 if loss != loss else loss})
        steps = ["train"] + (["compress"] if loss == loss else []) + (["deploy"] if deploy else [])
        for j, ty in enumerate(steps):
            tasks.append({"pipeline_id": i, "task": ty, "type": ty, "cpu": 1.0, "gpu": 0.0, "mem_gb": 1.0,
                          "duration": 10.0, "after": "" if j == 0 else steps[j - 1]})
    models = pd.DataFrame([{"model_id": 7, "accuracy": 0.9, "robustness": 0.9, "fairness": 0.9,
                            "deployed_at": 0.0, "drift_per_day": 0.01, "threshold": 0.85, "on_drift": True,
                            "period": 0.0, "phase": 0.0, "template_pipeline_id": 0}])
    trace = fps.Trace.from_frames(pd.DataFrame(pipelines), pd.DataFrame(tasks), models)
    batch = trace._simulation_batch()
    table = batch.models[0]
    gates = Gates(robustness=0.5)
    assert stale_deploys(batch, table, gates).tolist() == [3]
    assert stale_deploys(batch, table, Gates()).tolist() == [4]
    # 1 + ceil(0.9 x 7 days x 1% / 1% + 2 x stale)
    assert initial_counts(table, 7 * DAY, stale_deploys(batch, table, gates)).tolist() == [1 + 7 + 6]
    assert initial_counts(table, 7 * DAY).tolist() == [1 + 7]


def test_a_partial_candidate_is_an_input_error():
    pipelines = pd.DataFrame({"pipeline_id": [0, 1], "submit_time": [0.0, 1.0],
                              "candidate_accuracy": [0.9, 0.8], "candidate_robustness": [0.9, np.nan],
                              "candidate_fairness": [0.9, 0.9]})
    tasks = pd.DataFrame({"pipeline_id": [0, 1], "task": "a", "type": "train", "cpu": 1.0, "gpu": 0.0,
                          "mem_gb": 1.0, "duration": 1.0, "after": ""})
    with pytest.raises(InputError, match="all of candidate_accuracy, candidate_robustness, candidate_fairness") as e:
        fps.Trace.from_frames(pipelines, tasks)
    assert "row 1" in str(e.value) or "rows 1" in str(e.value)


def test_bad_gates_are_errors():
    with pytest.raises(ValueError, match="accuracy_gate"):
        fps.simulate(one_model_trace(on_drift=False), ample(), accuracy_gate=1.5)


# --------------------------------------------------------------------------- determinism

@pytest.mark.crosspath
def test_rules_give_the_same_results_for_any_thread_count_and_as_a_pregenerated_batch():
    w = fps.ModelOpsWorkload(days=2, on_drift=True, period_days=1.0)
    kw = dict(seed=9, record_tasks=True, policy="staleness", warmup=3600.0)
    one = fps.simulate(w, replications=[3, 0, 5], threads=1, **kw)
    two = fps.simulate(w, replications=[3, 0, 5], threads=2, **kw)
    batch = fps.simulate(w.batch(9, [3, 0, 5]), horizon=w.default_horizon, threads=2, **kw)
    assert one.summary["submitted_on_drift"].sum() > 0 and one.summary["submitted_periodic"].sum() > 0
    for other in (two, batch):
        pd.testing.assert_frame_equal(one.summary, other.summary, check_exact=True)
        pd.testing.assert_frame_equal(one.pipelines, other.pipelines, check_exact=True)
        pd.testing.assert_frame_equal(one.tasks, other.tasks, check_exact=True)
        pd.testing.assert_frame_equal(one.models, other.models, check_exact=True)


def test_tables_of_a_workload_with_rules_make_a_valid_trace(tmp_path):
    w = fps.ModelOpsWorkload(days=1, on_drift=True)
    tables = w.tables(4, 0)
    trace = fps.Trace.from_frames(tables["pipelines"], tables["tasks"], tables["models"])
    m = tables["models"]
    with_rule = m[m["on_drift"]]
    assert len(with_rule) > 0 and (with_rule["template_pipeline_id"] >= 0).all()
    first = tables["pipelines"].groupby("model_id")["pipeline_id"].min()
    assert (with_rule.set_index("model_id")["template_pipeline_id"] == first.loc[with_rule["model_id"]]).all()
    res = fps.simulate(trace, horizon=w.default_horizon, record_tasks=True)
    assert (res.pipelines["triggered_by"] == "on_drift").any()
