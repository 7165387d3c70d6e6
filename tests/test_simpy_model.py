"""Tests of the SimPy reference model (benchmarks/simpy_model.py) on hand-computed cases.

Every expected number below was worked out by hand from MODEL.md 3-6.
"""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.simpy_model import simulate_simpy  # noqa: E402


def pipelines(*rows):
    """rows: (pipeline_id, submit_time[, priority])"""
    return pd.DataFrame([{"pipeline_id": r[0], "submit_time": float(r[1]),
                          "priority": r[2] if len(r) > 2 else 0} for r in rows])


def tasks(*rows):
    """rows: (pipeline_id, task, duration, cpu[, after[, mem_gb]])"""
    return pd.DataFrame([{"pipeline_id": r[0], "task": r[1], "type": "train",
                          "cpu": float(r[3]), "gpu": 0.0,
                          "mem_gb": float(r[5]) if len(r) > 5 else 0.0,
                          "duration": float(r[2]), "after": r[4] if len(r) > 4 else ""}
                         for r in rows])


def cluster(*pools):
    """pools: (name, count, cpu[, mem_gb[, speed]])"""
    return pd.DataFrame([{"pool": p[0], "count": p[1], "cpu": float(p[2]), "gpu": 0.0,
                          "mem_gb": float(p[3]) if len(p) > 3 else 0.0,
                          "speed": float(p[4]) if len(p) > 4 else 1.0} for p in pools])


def col(res, name):
    return res.tasks[name].tolist()


ONE_NODE = cluster(("n", 1, 1.0))


# ---- policies ----------------------------------------------------------------------------

def test_fifo_ties_by_pipeline_then_sjf_shortest_first():
    pl = pipelines((0, 0), (1, 0))
    ts = tasks((0, "long", 10, 1), (1, "short", 2, 1))
    fifo = simulate_simpy(pl, ts, ONE_NODE, policy="fifo")
    assert col(fifo, "start") == [0.0, 10.0]
    assert col(fifo, "end") == [10.0, 12.0]
    sjf = simulate_simpy(pl, ts, ONE_NODE, policy="sjf")
    assert col(sjf, "start") == [2.0, 0.0]
    assert col(sjf, "node") == [0, 0]
    assert col(sjf, "status") == ["completed", "completed"]
    assert sjf.n_events == 4 and sjf.end_time == 12.0


def test_fifo_uses_ready_time_not_pipeline_id():
    pl = pipelines((0, 1.0), (1, 0.5), (2, 0.0))
    ts = tasks((0, "a", 1, 1), (1, "a", 1, 1), (2, "a", 5, 1))
    res = simulate_simpy(pl, ts, ONE_NODE)
    # t=0: p2 runs to 5; at 5 p1 (ready 0.5) goes before p0 (ready 1.0)
    assert col(res, "start") == [6.0, 5.0, 0.0]
    assert col(res, "ready") == [1.0, 0.5, 0.0]


def test_srpt_counts_pipeline_remaining_work_but_sjf_does_not():
    pl = pipelines((0, 0), (1, 0))
    # pipeline 0: a(3) -> b(10), remaining 13; pipeline 1: c(5), remaining 5
    ts = tasks((0, "a", 3, 1), (0, "b", 10, 1, "a"), (1, "c", 5, 1))
    srpt = simulate_simpy(pl, ts, ONE_NODE, policy="srpt")
    assert col(srpt, "start") == [5.0, 8.0, 0.0]
    sjf = simulate_simpy(pl, ts, ONE_NODE, policy="sjf")
    # t=0: a(3) first; t=3: ready b(10), c(5) -> c; t=8: b
    assert col(sjf, "start") == [0.0, 8.0, 3.0]


def test_srpt_remaining_work_shrinks_as_a_pipeline_starts_tasks():
    # p0: x(1), z(4.5), both roots: remaining 5.5 at t=0, so x runs 0-1.
    # p1: w(5) arrives at t=1. At t=1 p0's remaining is 4.5 (z only) < 5: z goes first.
    pl = pipelines((0, 0), (1, 1))
    ts = tasks((0, "x", 1, 1), (0, "z", 4.5, 1), (1, "w", 5, 1))
    res = simulate_simpy(pl, ts, ONE_NODE, policy="srpt")
    assert col(res, "start") == [0.0, 1.0, 5.5]


def test_priority_larger_first_then_ready_time():
    pl = pipelines((0, 0, 0), (1, 0, 5), (2, 0, 5))
    ts = tasks((0, "a", 1, 1), (1, "a", 1, 1), (2, "a", 1, 1))
    res = simulate_simpy(pl, ts, ONE_NODE, policy="priority")
    assert col(res, "start") == [2.0, 0.0, 1.0]


# ---- DAG -------------------------------------------------------------------------------

def test_dag_successor_waits_for_all_predecessors():
    pl = pipelines((0, 0))
    ts = tasks((0, "a", 2, 1), (0, "b", 3, 1, "a"), (0, "c", 4, 1, "a"), (0, "d", 1, 1, "b;c"))
    res = simulate_simpy(pl, ts, cluster(("n", 2, 1.0)))
    assert col(res, "ready") == [0.0, 2.0, 2.0, 6.0]
    assert col(res, "start") == [0.0, 2.0, 2.0, 6.0]
    assert col(res, "node") == [0, 0, 1, 0]
    assert col(res, "end") == [2.0, 5.0, 6.0, 7.0]
    assert res.n_events == 5 and res.end_time == 7.0


def test_after_may_name_a_later_row_and_nan_means_none():
    pl = pipelines((0, 0))
    ts = tasks((0, "b", 3, 1, "a"), (0, "a", 2, 1))
    ts.loc[1, "after"] = np.nan
    res = simulate_simpy(pl, ts, ONE_NODE)
    assert col(res, "start") == [2.0, 0.0]


# ---- backfill ------------------------------------------------------------------------

BACKFILL_PL = pipelines((0, 0), (1, 1), (2, 2))
BACKFILL_TS = tasks((0, "big", 10, 3), (1, "huge", 5, 4), (2, "small", 2, 1))
FOUR_CPU = cluster(("n", 1, 4.0))


def test_backfill_lets_a_small_task_overtake_a_blocked_one():
    res = simulate_simpy(BACKFILL_PL, BACKFILL_TS, FOUR_CPU, backfill=True)
    assert col(res, "start") == [0.0, 10.0, 2.0]
    assert col(res, "end") == [10.0, 15.0, 4.0]


def test_without_backfill_nothing_overtakes_a_blocked_task():
    res = simulate_simpy(BACKFILL_PL, BACKFILL_TS, FOUR_CPU, backfill=False)
    assert col(res, "start") == [0.0, 10.0, 15.0]
    assert col(res, "end") == [10.0, 15.0, 17.0]


# ---- placement ----------------------------------------------------------------------

def test_best_fit_and_worst_fit_choose_different_nodes():
    # node 0: 8 cpu / 32 GiB; node 1: 2 cpu / 8 GiB; the task needs 2 cpu / 8 GiB.
    cl = cluster(("big", 1, 8.0, 32.0), ("small", 1, 2.0, 8.0))
    pl = pipelines((0, 0))
    ts = tasks((0, "a", 1, 2, "", 8))
    assert col(simulate_simpy(pl, ts, cl, placement="first_fit"), "node") == [0]
    best = simulate_simpy(pl, ts, cl, placement="best_fit")
    assert col(best, "node") == [1] and col(best, "pool") == ["small"]
    worst = simulate_simpy(pl, ts, cl, placement="worst_fit")
    assert col(worst, "node") == [0] and col(worst, "pool") == ["big"]


def test_placement_score_uses_current_free_capacity_and_ties_go_to_lowest_index():
    cl = cluster(("n", 3, 4.0))
    pl = pipelines((0, 0), (1, 0), (2, 0))
    # p0 (3 cpu) lands on node 0 under every rule; then p1 (1 cpu):
    # best_fit -> node 0 (leftover 0), worst_fit -> node 1 (tie with node 2).
    ts = tasks((0, "a", 10, 3), (1, "a", 10, 1), (2, "a", 10, 1))
    best = simulate_simpy(pl, ts, cl, placement="best_fit")
    assert col(best, "node") == [0, 0, 1]
    worst = simulate_simpy(pl, ts, cl, placement="worst_fit")
    assert col(worst, "node") == [0, 1, 2]


def test_fit_test_has_a_tolerance():
    # 0.3 - 0.1 = 0.19999999999999998 < 0.2, but within 1e-9: both run at once.
    cl = cluster(("n", 1, 0.3))
    pl = pipelines((0, 0), (1, 0))
    ts = tasks((0, "a", 1, 0.1), (1, "b", 1, 0.2))
    assert col(simulate_simpy(pl, ts, cl), "start") == [0.0, 0.0]


def test_pool_speed_divides_duration():
    cl = cluster(("slow", 1, 1.0, 0.0, 1.0), ("fast", 1, 1.0, 0.0, 2.0))
    pl = pipelines((0, 0), (1, 0), (2, 0.5))
    ts = tasks((0, "a", 10, 1), (1, "a", 10, 1), (2, "a", 3, 1))
    res = simulate_simpy(pl, ts, cl)
    assert col(res, "node") == [0, 1, 1]
    assert col(res, "pool") == ["slow", "fast", "fast"]
    assert col(res, "end") == [10.0, 5.0, 6.5]   # start 5 + 3 / 2


def test_end_is_exactly_start_plus_duration_over_speed():
    cl = cluster(("odd", 1, 1.0, 0.0, 3.0))
    pl = pipelines((0, 0.1))
    ts = tasks((0, "a", 0.7, 1), (0, "b", 0.3, 1, "a"))
    res = simulate_simpy(pl, ts, cl)
    e0 = 0.1 + 0.7 / 3.0
    assert col(res, "end") == [e0, e0 + 0.3 / 3.0]


# ---- time: ties and horizon -----------------------------------------------------------

def test_same_time_arrivals_go_by_pipeline_id_not_table_order():
    pl = pipelines((5, 0), (3, 0))
    ts = tasks((5, "a", 1, 1), (3, "a", 1, 1))
    res = simulate_simpy(pl, ts, ONE_NODE)
    assert col(res, "start") == [1.0, 0.0]
    shuffled = simulate_simpy(pl.iloc[::-1], ts.iloc[::-1], ONE_NODE)
    assert col(shuffled, "start") == [0.0, 1.0]


def test_completions_and_arrivals_at_one_time_share_one_pass():
    # pipeline 1: a(5) -> b(1). Pipeline 0 arrives at t=5, exactly when a completes.
    # One pass at t=5 sees b (ready 5, pid 1) and p0's task (ready 5, pid 0): p0 first.
    pl = pipelines((1, 0), (0, 5))
    ts = tasks((1, "a", 5, 1), (1, "b", 1, 1, "a"), (0, "x", 1, 1))
    res = simulate_simpy(pl, ts, ONE_NODE)
    assert col(res, "start") == [0.0, 6.0, 5.0]
    assert col(res, "ready") == [0.0, 5.0, 5.0]


def test_completions_at_one_time_from_different_start_times_share_one_pass():
    # p1's task starts at 0 and ends at 4; p0's task starts at 1 and ends at 4.
    # Their successors are ready at 4 together, in one pass: p0's goes first, to node 0.
    pl = pipelines((1, 0), (0, 1))
    ts = tasks((1, "a", 4, 1), (1, "b", 1, 1, "a"), (0, "a", 3, 1), (0, "b", 1, 1, "a"))
    res = simulate_simpy(pl, ts, cluster(("n", 2, 1.0)))
    assert col(res, "start") == [0.0, 4.0, 1.0, 4.0]
    assert col(res, "node") == [0, 1, 1, 0]


def test_horizon_leaves_running_tasks_unfinished():
    pl = pipelines((0, 0), (1, 7))
    ts = tasks((0, "a", 10, 1), (1, "a", 1, 1))
    res = simulate_simpy(pl, ts, ONE_NODE, horizon=5)
    assert col(res, "status") == ["unfinished", "not_started"]
    assert col(res, "start")[0] == 0.0 and math.isnan(col(res, "end")[0])
    assert math.isnan(col(res, "ready")[1]) and col(res, "node") == [0, -1]
    assert col(res, "pool") == ["n", None]
    assert res.n_events == 1 and res.end_time == 5.0


def test_event_exactly_at_horizon_is_applied_with_its_pass():
    pl = pipelines((0, 0), (1, 5))
    ts = tasks((0, "a", 5, 1), (0, "b", 1, 1, "a"), (1, "x", 1, 1))
    res = simulate_simpy(pl, ts, cluster(("n", 2, 1.0)), horizon=5.0)
    assert col(res, "status") == ["completed", "unfinished", "unfinished"]
    assert col(res, "start") == [0.0, 5.0, 5.0]
    assert col(res, "node") == [0, 0, 1]   # b (pid 0) before x (pid 1)
    assert res.n_events == 3 and res.end_time == 5.0


# ---- invariants on random traces ------------------------------------------------------

@st.composite
def random_case(draw):
    n_p = draw(st.integers(1, 6))
    pl_rows, ts_rows = [], []
    for pid in range(n_p):
        pl_rows.append({"pipeline_id": pid, "submit_time": float(draw(st.integers(0, 4))),
                        "priority": draw(st.integers(0, 2))})
        n_t = draw(st.integers(1, 4))
        for i in range(n_t):
            preds = [f"t{j}" for j in range(i) if draw(st.booleans())]
            ts_rows.append({"pipeline_id": pid, "task": f"t{i}", "type": "train",
                            "cpu": float(draw(st.sampled_from([0.5, 1, 2]))),
                            "gpu": float(draw(st.sampled_from([0, 0.25, 1]))),
                            "mem_gb": float(draw(st.integers(0, 8))),
                            "duration": float(draw(st.integers(1, 5))), "after": ";".join(preds)})
    cl = pd.DataFrame([
        {"pool": "a", "count": 2, "cpu": 2.0, "gpu": 1.0, "mem_gb": 8.0, "speed": 1.0},
        {"pool": "b", "count": 1, "cpu": 4.0, "gpu": 2.0, "mem_gb": 16.0, "speed": 2.0},
    ])
    return pd.DataFrame(pl_rows), pd.DataFrame(ts_rows), cl, draw(st.sampled_from(
        ["fifo", "priority", "sjf", "srpt"])), draw(st.sampled_from(
        ["first_fit", "best_fit", "worst_fit"])), draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(random_case())
def test_invariants_on_random_traces(case):
    pl, ts, cl, policy, placement, backfill = case
    res = simulate_simpy(pl, ts, cl, policy=policy, placement=placement, backfill=backfill)
    out = res.tasks
    assert (out["status"] == "completed").all()          # nothing lost without a horizon
    assert res.n_events == len(pl) + len(ts)
    assert (out["start"] >= out["ready"]).all()
    speed = np.repeat(cl["speed"].to_numpy(), cl["count"].to_numpy())
    assert np.array_equal(out["end"], out["start"] + ts["duration"] / speed[out["node"]])
    end = {(r.pipeline_id, r.task): r.end for r in out.itertuples()}
    submit = dict(zip(pl["pipeline_id"], pl["submit_time"]))
    for r, after in zip(out.itertuples(), ts["after"]):
        preds = [a for a in after.split(";") if a]
        expected_ready = max([end[(r.pipeline_id, a)] for a in preds], default=submit[r.pipeline_id])
        assert r.ready == expected_ready
    # no node over capacity at any start time
    cap = np.repeat(cl[["cpu", "gpu", "mem_gb"]].to_numpy(), cl["count"].to_numpy(), axis=0)
    req = ts[["cpu", "gpu", "mem_gb"]].to_numpy()
    for t0 in out["start"].unique():
        running = ((out["start"] <= t0) & (out["end"] > t0)).to_numpy()
        for n in range(len(cap)):
            used = req[running & (out["node"].to_numpy() == n)].sum(axis=0)
            assert (used <= cap[n] + 1e-9).all()
    assert res.end_time == out["end"].max()


def test_run_is_deterministic_and_independent_of_pipeline_row_order():
    rng = np.random.default_rng(7)
    n = 30
    pl = pd.DataFrame({"pipeline_id": np.arange(n), "submit_time": rng.integers(0, 10, n).astype(float)})
    ts = pd.DataFrame({"pipeline_id": np.repeat(np.arange(n), 2), "task": ["a", "b"] * n,
                       "type": "train", "cpu": rng.choice([1.0, 2.0], 2 * n), "gpu": 0.0,
                       "mem_gb": 1.0, "duration": rng.integers(1, 6, 2 * n).astype(float),
                       "after": ["", "a"] * n})
    cl = cluster(("x", 2, 2.0, 4.0, 1.0), ("y", 1, 4.0, 8.0, 1.5))
    a = simulate_simpy(pl, ts, cl, policy="srpt", placement="best_fit")
    b = simulate_simpy(pl.sample(frac=1.0, random_state=1), ts, cl, policy="srpt", placement="best_fit")
    pd.testing.assert_frame_equal(a.tasks, b.tasks)
    assert a.n_events == b.n_events == 3 * n


def test_unknown_policy_and_placement_are_errors():
    pl, ts = pipelines((0, 0)), tasks((0, "a", 1, 1))
    with pytest.raises(ValueError):
        simulate_simpy(pl, ts, ONE_NODE, policy="lifo")
    with pytest.raises(ValueError):
        simulate_simpy(pl, ts, ONE_NODE, placement="random_fit")
    with pytest.raises(ValueError):
        simulate_simpy(pl, tasks((0, "a", 1, 1, "nope")), ONE_NODE)
