"""Tests of the ML model lifecycle (MODEL.md 7) in the SimPy reference model
(benchmarks/simpy_model.py), on hand-computed cases.

Times that come from MODEL.md formulas (crossings) are computed here with the same
expressions, so schedules are compared exactly; only the metrics (integrals) use approx.
"""
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.simpy_model import simulate_simpy  # noqa: E402

DAY = 86400


def pipelines(*rows):
    """rows: (pipeline_id, submit_time, model_id[, (acc, rob, fair)[, compress_loss]])"""
    out = []
    for r in rows:
        cand = r[3] if len(r) > 3 and r[3] is not None else (math.nan,) * 3
        out.append({"pipeline_id": r[0], "submit_time": float(r[1]), "model_id": r[2],
                    "candidate_accuracy": cand[0], "candidate_robustness": cand[1],
                    "candidate_fairness": cand[2],
                    "compress_loss": r[4] if len(r) > 4 else math.nan})
    return pd.DataFrame(out)


def tasks(*rows):
    """rows: (pipeline_id, task, type, duration[, after])"""
    return pd.DataFrame([{"pipeline_id": r[0], "task": r[1], "type": r[2], "cpu": 1.0,
                          "gpu": 0.0, "mem_gb": 0.0, "duration": float(r[3]),
                          "after": r[4] if len(r) > 4 else ""} for r in rows])


def nodes(n):
    return pd.DataFrame([{"pool": "n", "count": n, "cpu": 1.0, "gpu": 0.0, "mem_gb": 0.0}])


def model(model_id, accuracy=0.9, threshold=0.8, drift=0.0, deployed_at=0.0,
          on_drift=False, period=0.0, phase=0.0, template=math.nan):
    return {"model_id": model_id, "accuracy": accuracy, "robustness": 0.9, "fairness": 0.9,
            "deployed_at": deployed_at, "drift_per_day": drift, "threshold": threshold,
            "on_drift": on_drift, "period": period, "phase": phase,
            "template_pipeline_id": template}


def models(*rows):
    return pd.DataFrame(list(rows))


def col(res, name, table="tasks"):
    return getattr(res, table)[name].tolist()


def metric(res, model_id, name):
    m = res.models
    return m.loc[m["model_id"] == model_id, name].item()


def crossing(a0, td, drift, threshold):
    return td + 86400 * math.log(a0 / threshold) / drift


# ---- task effects -----------------------------------------------------------------------

def test_gate_rejection_cancels_later_tasks_while_a_parallel_task_finishes():
    # p0 (model 0, candidate accuracy 0.5 < gate 0.6): ev(2) and side(5) run in parallel
    # from t=0; ev completes at 2 and rejects: dp (after ev;side) and more (after ev) are
    # cancelled, side keeps its node until 5 and completes; p0 ends at 5, nothing deployed.
    # p1 (no lifecycle model) waits for a node: it gets node 0 when ev ends at 2.
    pl = pipelines((0, 0, 0, (0.5, 0.9, 0.9)), (1, 0, 9))
    ts = tasks((0, "ev", "evaluate", 2), (0, "side", "train", 5),
               (0, "dp", "deploy", 1, "ev;side"), (0, "more", "train", 1, "ev"),
               (1, "x", "train", 4))
    res = simulate_simpy(pl, ts, nodes(2), models=models(model(0)), accuracy_gate=0.6)
    assert col(res, "status") == ["completed", "completed", "cancelled", "cancelled", "completed"]
    assert col(res, "start")[:2] == [0.0, 0.0] and col(res, "end")[:2] == [2.0, 5.0]
    assert col(res, "node") == [0, 1, -1, -1, 0]
    assert col(res, "start")[4] == 2.0
    assert math.isnan(col(res, "ready")[2]) and math.isnan(col(res, "end")[3])
    assert col(res, "outcome", "pipelines") == ["rejected_by_evaluate", "completed"]
    assert col(res, "end", "pipelines") == [5.0, 6.0]
    assert metric(res, 0, "rejected_evaluate") == 1 and metric(res, 0, "deployments") == 0
    assert metric(res, 0, "mean_accuracy") == pytest.approx(0.9)   # drift 0, never redeployed


def test_other_gates_and_a_rejection_with_nothing_running_ends_the_pipeline_at_once():
    # bias_check fails (fairness 0.3 < 0.5) at t=3: the robustness_check that already ran
    # passed; deploy is cancelled and, nothing running, the pipeline ends at 3.
    pl = pipelines((0, 0, 0, (0.9, 0.9, 0.3)))
    ts = tasks((0, "rc", "robustness_check", 1), (0, "bc", "bias_check", 2, "rc"),
               (0, "dp", "deploy", 1, "bc"))
    res = simulate_simpy(pl, ts, nodes(1), models=models(model(0)),
                         fairness_gate=0.5, robustness_gate=0.5)
    assert col(res, "status") == ["completed", "completed", "cancelled"]
    assert col(res, "outcome", "pipelines") == ["rejected_by_bias_check"]
    assert col(res, "end", "pipelines") == [3.0]
    assert metric(res, 0, "rejected_bias_check") == 1
    assert metric(res, 0, "rejected_robustness_check") == 0
    # the same candidate passes with the gates disabled (default 0.0)
    ok = simulate_simpy(pl, ts, nodes(1), models=models(model(0)))
    assert col(ok, "outcome", "pipelines") == ["completed"]
    assert metric(ok, 0, "deployments") == 1


def test_compress_then_evaluate_sees_the_reduced_accuracy():
    # 0.65 - 0.1 = 0.55 < 0.6: rejected by the evaluate that follows compress.
    pl = pipelines((0, 0, 0, (0.65, 0.9, 0.9), 0.1))
    ts = tasks((0, "c", "compress", 1), (0, "ev", "evaluate", 1, "c"), (0, "dp", "deploy", 1, "ev"))
    res = simulate_simpy(pl, ts, nodes(1), models=models(model(0)), accuracy_gate=0.6)
    assert col(res, "outcome", "pipelines") == ["rejected_by_evaluate"]
    assert col(res, "status")[2] == "cancelled"


def test_deploy_updates_the_deployed_state():
    # drift 0: accuracy 0.9 on [0, 12), then the compressed candidate 0.95 - 0.05 on [12, 20].
    pl = pipelines((0, 0, 0, (0.95, 0.8, 0.7), 0.05))
    ts = tasks((0, "tr", "train", 10), (0, "c", "compress", 1, "tr"), (0, "dp", "deploy", 1, "c"))
    res = simulate_simpy(pl, ts, nodes(1), models=models(model(0)), horizon=20)
    assert col(res, "end") == [10.0, 11.0, 12.0]
    assert metric(res, 0, "deployments") == 1
    assert metric(res, 0, "mean_accuracy") == pytest.approx((0.9 * 12 + (0.95 - 0.05) * 8) / 20)


def test_a_deploy_changes_the_staleness_order():
    # Model 0: key 0.9 - 0.8 = 0.1. Model 1: key 0.85 - 0.8 = 0.05 until p1 deploys 0.99
    # at t=2 (key 0.19). Model 5 has no state (key +inf). t=0: p1 -> node 0, p4 (before
    # p9 by pipeline_id) -> node 1 until 5; t=2: p9 -> node 0 until 7. p2 (model 0) and
    # p3 (model 1) arrive at 3 and wait for node 1: at t=5 model 0 goes first after the
    # deploy, model 1 without it; the other starts at 6.
    m = models(model(0), model(1, accuracy=0.85))
    ts = tasks((1, "dp", "deploy", 2), (9, "x", "train", 5), (2, "a", "train", 1),
               (3, "a", "train", 1), (4, "x", "train", 5))
    def run(candidate):
        pl = pipelines((1, 0, 1, candidate), (9, 0, 5), (2, 3, 0), (3, 3, 1), (4, 0, 5))
        return simulate_simpy(pl, ts, nodes(2), policy="staleness", models=m)
    deployed = run((0.99, 0.9, 0.9))
    assert col(deployed, "start") == [0.0, 2.0, 5.0, 6.0, 0.0]
    assert col(deployed, "node") == [0, 0, 1, 1, 1]
    assert metric(deployed, 1, "deployments") == 1
    not_deployed = run(None)
    assert col(not_deployed, "start") == [0.0, 2.0, 6.0, 5.0, 0.0]


# ---- on_drift ---------------------------------------------------------------------------

def test_on_drift_fires_at_the_exact_crossing_and_retrains_after_each_deploy():
    # Model 0: 0.9 at td=0, threshold 0.8, drift 0.1/day. Its template p0 (submitted at 0)
    # deploys 0.95 at 110, so the first crossing is c1 = 110 + 86400 ln(0.95/0.8) / 0.1;
    # p1 (a copy, numbered 1) is submitted at c1 and deploys at c1 + 110; p2 at c2.
    pl = pipelines((0, 0, 0, (0.95, 0.9, 0.9)))
    ts = tasks((0, "tr", "train", 100), (0, "dp", "deploy", 10, "tr"))
    m = models(model(0, drift=0.1, on_drift=True, template=0))
    c1 = crossing(0.95, 110.0, 0.1, 0.8)
    d1 = c1 + 100 + 10
    c2 = crossing(0.95, d1, 0.1, 0.8)
    res = simulate_simpy(pl, ts, nodes(1), models=m, horizon=c2 + 50)
    assert col(res, "pipeline_id", "pipelines") == [0, 1, 2]
    assert col(res, "submit", "pipelines") == [0.0, c1, c2]
    assert col(res, "triggered_by", "pipelines") == ["exogenous", "on_drift", "on_drift"]
    assert col(res, "outcome", "pipelines") == ["completed", "completed", "unfinished"]
    assert col(res, "task") == ["tr", "dp"] * 3
    assert col(res, "start")[2] == c1 and col(res, "end")[3] == d1
    assert metric(res, 0, "submitted_on_drift") == 2 and metric(res, 0, "deployments") == 2
    # crossings c1 -> deploy d1 (110 s); c2 is censored (no deploy by the end)
    assert metric(res, 0, "crossing_to_deploy") == pytest.approx(110.0)


def test_in_flight_suppresses_and_the_last_finish_of_a_stale_model_retrains():
    # Crossing c of the initial state. p0 (submitted c - 10, 30 s) and p5 (c - 5, 100 s)
    # are in flight at c: nothing is submitted, the model is stale. p0 ends at c + 20 while
    # p5 is in flight: nothing. p5 ends at c + 95: retraining p6 (after the largest id 5),
    # a copy of the template p0 (30 s, no candidates: it deploys nothing), so the model
    # stays stale and p6's end submits p7.
    c = crossing(0.9, 0.0, 0.1, 0.8)
    pl = pipelines((0, c - 10, 0), (5, c - 5, 0))
    ts = tasks((0, "tr", "train", 30), (5, "tr", "train", 100))
    m = models(model(0, drift=0.1, on_drift=True, template=0))
    end5 = (c - 5) + 100
    end6 = end5 + 30
    res = simulate_simpy(pl, ts, nodes(2), models=m, horizon=end6 + 1)
    assert col(res, "pipeline_id", "pipelines") == [0, 5, 6, 7]
    assert col(res, "submit", "pipelines") == [c - 10, c - 5, end5, end6]
    assert col(res, "triggered_by", "pipelines")[2:] == ["on_drift", "on_drift"]
    assert col(res, "outcome", "pipelines") == ["completed", "completed", "completed", "unfinished"]
    assert metric(res, 0, "submitted_on_drift") == 2
    assert metric(res, 0, "frac_below") == pytest.approx((end6 + 1 - c) / (end6 + 1))


def test_a_crossing_before_zero_fires_at_zero_before_that_times_arrivals():
    # Initial accuracy below the threshold: crossing = td = -100, fired at t = 0. Triggers
    # come before arrivals (MODEL.md 3), so the exogenous p3 arriving at 0 is not yet in
    # flight: p4 is submitted at 0 too.
    pl = pipelines((3, 0, 0))
    ts = tasks((3, "tr", "train", 5))
    m = models(model(0, accuracy=0.7, deployed_at=-100.0, drift=0.1, on_drift=True, template=3))
    res = simulate_simpy(pl, ts, nodes(2), models=m, horizon=6)
    assert col(res, "pipeline_id", "pipelines")[:2] == [3, 4]
    assert col(res, "submit", "pipelines")[:2] == [0.0, 0.0]
    # p3 and p4 end at 5 together; the stale model then has nothing in flight: p5 at 5.
    assert col(res, "pipeline_id", "pipelines") == [3, 4, 5]
    assert col(res, "submit", "pipelines")[2] == 5.0


def test_a_crossing_before_zero_fires_at_zero_with_no_other_event_then():
    # Regression (found by the engine comparison, tests/test_lifecycle_oracle.py): the
    # crossing at -100 must wake the model at 0 by itself; the first arrival is at 3.
    pl = pipelines((3, 3, 0))
    ts = tasks((3, "tr", "train", 5))
    m = models(model(0, accuracy=0.7, deployed_at=-100.0, drift=0.1, on_drift=True, template=3))
    res = simulate_simpy(pl, ts, nodes(2), models=m, horizon=4)
    assert col(res, "pipeline_id", "pipelines") == [3, 4]
    assert col(res, "submit", "pipelines") == [3.0, 0.0]
    assert col(res, "triggered_by", "pipelines") == ["exogenous", "on_drift"]


# ---- periodic ---------------------------------------------------------------------------

def test_periodic_with_phase_skips_negative_times_and_in_flight_ones():
    # phase -150, period 100: times 50, 150, 250, ... A copy of p0 runs 120 s, so it is in
    # flight at 150 and 350: pipelines at 50, 250, 450. p0 itself arrives only at 1000.
    pl = pipelines((0, 1000, 0))
    ts = tasks((0, "tr", "train", 120))
    m = models(model(0, period=100.0, phase=-150.0, template=0))
    res = simulate_simpy(pl, ts, nodes(3), models=m, horizon=460)
    assert col(res, "pipeline_id", "pipelines") == [0, 1, 2, 3]
    assert col(res, "submit", "pipelines")[1:] == [50.0, 250.0, 450.0]
    assert math.isnan(col(res, "submit", "pipelines")[0])
    assert col(res, "triggered_by", "pipelines")[1:] == ["periodic"] * 3
    assert col(res, "outcome", "pipelines") == ["unfinished", "completed", "completed", "unfinished"]
    assert metric(res, 0, "submitted_periodic") == 3


def test_periodic_needs_a_horizon():
    pl = pipelines((0, 0, 0))
    with pytest.raises(ValueError):
        simulate_simpy(pl, tasks((0, "tr", "train", 1)), nodes(1),
                       models=models(model(0, period=10.0, template=0)))


def test_simultaneous_triggers_are_numbered_by_model_id_drift_before_periodic():
    # At t=0: model 1 crosses (accuracy below threshold) and is periodic (phase 0); model 2
    # is periodic. Order: model 1 drift -> p21 (then its periodic is skipped: in flight),
    # model 2 periodic -> p22; then the exogenous arrival p3. Models table in reverse order.
    pl = pipelines((3, 0, 1), (10, 5000, 1), (20, 5000, 2))
    ts = tasks((3, "a", "train", 1), (10, "a", "train", 1), (20, "a", "train", 1))
    m = models(model(2, period=1000.0, template=20),
               model(1, accuracy=0.7, drift=0.1, on_drift=True, period=1000.0, template=10))
    # (horizon 0.5: model 1 stays stale, so each end of its pipelines would retrain again)
    res = simulate_simpy(pl, ts, nodes(3), models=m, horizon=0.5)
    p = res.pipelines
    assert p["pipeline_id"].tolist() == [3, 10, 20, 21, 22]
    assert p["model_id"].tolist() == [1, 1, 2, 1, 2]
    assert p["triggered_by"].tolist()[3:] == ["on_drift", "periodic"]
    # fifo: ready at 0 for all three, ties by pipeline_id: 3, 21, 22 on nodes 0, 1, 2
    assert col(res, "pipeline_id") == [3, 10, 20, 21, 22]
    assert col(res, "node") == [0, -1, -1, 1, 2]
    assert metric(res, 1, "submitted_periodic") == 0 and metric(res, 1, "submitted_on_drift") == 1
    assert metric(res, -1, "submitted_periodic") == 1


# ---- staleness policy -------------------------------------------------------------------

def test_staleness_serves_the_model_furthest_below_its_threshold_at_the_pass_time():
    # Model 0: 0.9, threshold 0.8, no drift: key -(0.8 - 0.9) = 0.1.
    # Model 1: 0.95 at td=0, drift 1000/day: key 0.95 exp(-1000 t / 86400) - 0.8,
    #   0.139 at t=1 (after model 0) and 0.046 at t=10 (before model 0).
    # Model 5 has no lifecycle state: key +inf, always last.
    m = models(model(0), model(1, accuracy=0.95, drift=1000.0))
    ts = tasks((1, "a", "train", 3), (2, "a", "train", 3), (3, "a", "train", 3),
               (4, "x", "train", 9))
    idle = simulate_simpy(pipelines((1, 1, 5), (2, 1, 0), (3, 1, 1), (4, 1, 5)), ts, nodes(1),
                          policy="staleness", models=m)
    assert col(idle, "start") == [7.0, 1.0, 4.0, 10.0]      # model 0, model 1, then 5 by fifo ties
    busy = simulate_simpy(pipelines((1, 1, 5), (2, 1, 0), (3, 1, 1), (4, 0, 5)), ts, nodes(1),
                          policy="staleness", models=m)
    assert col(busy, "start") == [15.0, 12.0, 9.0, 0.0]     # at t=9: model 1 before model 0
    # fifo would keep pipeline order
    fifo = simulate_simpy(pipelines((1, 1, 5), (2, 1, 0), (3, 1, 1), (4, 0, 5)), ts, nodes(1),
                          models=m)
    assert col(fifo, "start") == [9.0, 12.0, 15.0, 0.0]


# ---- metrics ----------------------------------------------------------------------------

def test_time_average_accuracy_and_time_below_threshold_are_the_exponential_integrals():
    # a(t) = 0.9 exp(-0.5 t / 86400); threshold 0.7; window [W, H] = [0.25 d, 2 d].
    a0, drift, thr, W, H = 0.9, 0.5, 0.7, 0.25 * DAY, 2 * DAY
    k = drift / DAY
    integral = a0 / k * (math.exp(-k * W) - math.exp(-k * H))
    c = DAY * math.log(a0 / thr) / drift          # 43427 s, inside the window
    pl = pipelines((0, 0, 9))
    res = simulate_simpy(pl, tasks((0, "a", "train", 1)), nodes(1),
                         models=models(model(0, accuracy=a0, threshold=thr, drift=drift)),
                         horizon=H, warmup=W)
    assert metric(res, 0, "mean_accuracy") == pytest.approx(integral / (H - W), rel=1e-12)
    assert metric(res, 0, "frac_below") == pytest.approx((H - c) / (H - W), rel=1e-12)
    assert metric(res, -1, "mean_accuracy") == pytest.approx(integral / (H - W), rel=1e-12)
    assert math.isnan(metric(res, 0, "crossing_to_deploy"))


# ---- without a models table nothing changes --------------------------------------------

def test_without_models_there_is_no_lifecycle():
    pl = pipelines((0, 0, 0, (0.1, 0.1, 0.1)))
    ts = tasks((0, "ev", "evaluate", 1), (0, "dp", "deploy", 1, "ev"))
    res = simulate_simpy(pl, ts, nodes(1), accuracy_gate=0.6)
    assert col(res, "status") == ["completed", "completed"]
    assert res.models is None
    assert col(res, "outcome", "pipelines") == ["completed"]
    assert col(res, "triggered_by", "pipelines") == ["exogenous"]
    # staleness without lifecycle state: every key +inf, ties by ready time then pipeline_id
    two = simulate_simpy(pipelines((1, 0, 0), (0, 0, 0)), tasks((1, "a", "x", 1), (0, "a", "x", 1)),
                         nodes(1), policy="staleness")
    assert col(two, "start") == [1.0, 0.0]


def test_a_models_table_without_candidates_or_rules_leaves_the_schedule_unchanged():
    import numpy as np
    rng = np.random.default_rng(3)
    for _ in range(10):
        n = 8
        pl = pd.DataFrame({"pipeline_id": np.arange(n), "model_id": rng.integers(0, 3, n),
                           "submit_time": rng.integers(0, 6, n).astype(float)})
        ts = pd.DataFrame({"pipeline_id": np.repeat(np.arange(n), 3),
                           "task": ["a", "b", "c"] * n,
                           "type": ["train", "evaluate", "deploy"] * n,
                           "cpu": rng.choice([0.5, 1.0], 3 * n), "gpu": 0.0, "mem_gb": 0.0,
                           "duration": rng.integers(1, 5, 3 * n).astype(float),
                           "after": ["", "a", "b"] * n})
        m = models(model(0), model(1, drift=3.0))
        for policy in ("fifo", "srpt"):
            plain = simulate_simpy(pl, ts, nodes(2), policy=policy)
            life = simulate_simpy(pl, ts, nodes(2), policy=policy, models=m, accuracy_gate=0.99)
            pd.testing.assert_frame_equal(plain.tasks, life.tasks)
            pd.testing.assert_frame_equal(plain.pipelines, life.pipelines)


def test_bad_models_tables_are_errors():
    pl, ts = pipelines((0, 0, 0)), tasks((0, "a", "train", 1))
    with pytest.raises(ValueError, match="missing column"):
        simulate_simpy(pl, ts, nodes(1), models=models(model(0)).drop(columns="phase"))
    with pytest.raises(ValueError, match="template"):
        simulate_simpy(pl, ts, nodes(1), models=models(model(0, on_drift=True, template=7)))
    with pytest.raises(ValueError, match="not all"):
        bad = pipelines((0, 0, 0, (0.9, 0.9, 0.9)))
        bad.loc[0, "candidate_fairness"] = math.nan
        simulate_simpy(bad, ts, nodes(1), models=models(model(0)))
    with pytest.raises(ValueError, match="on_drift"):
        simulate_simpy(pl, ts, nodes(1), models=models(model(0, on_drift="maybe", template=0)))


def test_a_deploy_at_the_crossing_time_comes_first_and_cancels_the_crossing():
    # The initial state crosses at td = 50 (accuracy 0.7 <= threshold 0.8). p0 ends at
    # exactly 50: completions are applied before triggers (MODEL.md 3), so if p0 deploys
    # 0.95 the model is fresh at 50 and nothing fires; if p0 has no candidate, the
    # crossing fires at 50 with nothing in flight (p0 has just finished): p1 at 50.
    m = models(model(0, accuracy=0.7, deployed_at=50.0, drift=0.1, on_drift=True, template=0))
    ts = tasks((0, "dp", "deploy", 50))
    fresh = simulate_simpy(pipelines((0, 0, 0, (0.95, 0.9, 0.9))), ts, nodes(1), models=m, horizon=60)
    assert col(fresh, "pipeline_id", "pipelines") == [0]
    assert metric(fresh, 0, "deployments") == 1
    stale = simulate_simpy(pipelines((0, 0, 0)), ts, nodes(1), models=m, horizon=60)
    assert col(stale, "pipeline_id", "pipelines") == [0, 1]
    assert col(stale, "submit", "pipelines") == [0.0, 50.0]
    assert col(stale, "start") == [0.0, 50.0]
