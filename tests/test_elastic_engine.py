"""Elastic clusters (MODEL.md 11) in the compiled engine: analytic checks and the Python API.

The analytic checks of the issue: a task at an empty pool under ``reactive`` completes
boot_time + d after the tick that sees it, and its node goes at the first tick at least
idle_timeout after it became idle; cost = price x requested node time; the mean
completion time of a task restarted from scratch on a spot node, (exp(L d) - 1) / L,
within a confidence interval; checkpoints bound the work lost per interruption. Then
the switch: a cluster of static pools without spot is sections 1-9 whatever the
autoscaler, and what needs a horizon.
"""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import fastpipesim as fps
from fastpipesim.autoscalers import Reactive

DAY = 86400.0


def trace(*pipelines):
    """pipelines: (pipeline_id, submit_time, [(task, duration, cpu, gpu, after[, checkpoint_every])])"""
    pl, ts = [], []
    for pid, submit, tasks in pipelines:
        pl.append({"pipeline_id": pid, "submit_time": float(submit)})
        for t in tasks:
            ts.append({"pipeline_id": pid, "task": t[0], "type": "train", "cpu": float(t[2]), "gpu": float(t[3]),
                       "mem_gb": 0.0, "duration": float(t[1]), "after": t[4],
                       "checkpoint_every": t[5] if len(t) > 5 else math.nan})
    return fps.Trace.from_frames(pd.DataFrame(pl), pd.DataFrame(ts))


def cluster(*pools):
    return fps.Cluster.from_pools([{"gpu": 0.0, "mem_gb": 0.0, **p} for p in pools])


def run(tr, cl, **kw):
    kw.setdefault("progress", False)
    return fps.simulate(tr, cl, record_tasks=True, threads=1, **kw)


# ---- reactive: boot and release times ----------------------------------------------------------

@pytest.mark.parametrize("boot,d", [(120.0, 100.0), (0.0, 7.5), (600.0, 3600.0)])
def test_a_task_made_ready_at_a_tick_completes_at_ready_plus_boot_plus_d(boot, d):
    """The issue's check: a task arriving at an autoscaler tick at an empty pool (min 0)
    completes at arrival + boot_time + d. It is made ready at the tick t = 20 by its
    predecessor's completion (completions come before the tick, MODEL.md 11.3), so the
    tick sees it and requests a node, up at 20 + boot; the node is released at the first
    tick t with t - (its end) >= idle_timeout."""
    tr = trace((0, 0.0, [("prep", 20.0, 1, 0, ""), ("train", d, 0, 1, "prep")]))
    cl = cluster({"pool": "cpu", "count": 1, "cpu": 1.0},
                 {"pool": "gpu", "count": 0, "cpu": 0.0, "gpu": 1.0, "min_count": 0, "max_count": 2,
                  "boot_time": boot, "price_per_hour": 3.6})
    res = run(tr, cl, autoscaler=Reactive(interval=10, idle_timeout=60), horizon=20000.0)
    t = res.tasks.set_index("task")
    assert t.loc["train", "ready"] == 20.0
    assert t.loc["train", "start"] == 20.0 + boot and t.loc["train", "end"] == 20.0 + boot + d
    end = 20.0 + boot + d
    release = math.ceil((end + 60.0) / 10.0) * 10.0
    gpu = res.nodes[res.nodes["pool"] == "gpu"]
    assert gpu[["requested", "up", "released"]].values.tolist() == [[20.0, 20.0 + boot, release]]
    assert gpu["reason"].tolist() == ["scale_up"] and gpu["release_reason"].tolist() == ["scale_down"]
    s = res.summary.iloc[0]
    assert s["scale_ups"] == 1 and s["scale_downs"] == 1
    # cost: the cpu node for the whole run, the gpu node from its request to its release
    assert s["cost"] == 0.0 + 3.6 * (release - 20.0) / 3600.0
    assert s["node_hours_gpu"] == (release - 20.0) / 3600.0


def test_a_pipeline_arriving_at_a_tick_is_seen_by_the_next_tick():
    """Ticks come before arrivals at the same time (MODEL.md 11.3, as the Kubernetes cluster
    autoscaler acts on pods the scheduler has already tried): a pipeline arriving exactly
    at the tick t = 30 is seen by the tick at 40, so it completes at
    arrival + interval + boot_time + d = 30 + 10 + 7 + 5."""
    tr = trace((0, 30.0, [("a", 5.0, 1, 0, "")]))
    cl = cluster({"pool": "g", "count": 0, "cpu": 1.0, "min_count": 0, "max_count": 1, "boot_time": 7.0})
    res = run(tr, cl, autoscaler=Reactive(interval=10, idle_timeout=600), horizon=500.0)
    assert res.tasks["start"].tolist() == [47.0] and res.tasks["end"].tolist() == [52.0]
    # one tick later it would not have waited: arriving at 31, seen at 40 too
    res = run(trace((0, 31.0, [("a", 5.0, 1, 0, "")])), cl, autoscaler=Reactive(interval=10), horizon=500.0)
    assert res.tasks["end"].tolist() == [52.0]


def test_cost_is_price_times_requested_node_time():
    """Cost = sum over instances of price x (min(release, end) - request) / 3600 (no billing
    minimum, no warm-up), on a run with many scale-ups and scale-downs."""
    rng = np.random.default_rng(4)
    pls = [(i, float(rng.integers(0, 3000)), [("a", float(rng.integers(50, 400)), 1, 0, "")]) for i in range(60)]
    cl = cluster({"pool": "a", "count": 1, "cpu": 2.0, "min_count": 0, "max_count": 6, "boot_time": 30.0,
                  "price_per_hour": 0.75},
                 {"pool": "b", "count": 0, "cpu": 4.0, "min_count": 0, "max_count": 3, "boot_time": 90.0,
                  "price_per_hour": 2.5})
    res = run(trace(*pls), cl, autoscaler=Reactive(interval=15, idle_timeout=120, expander="least_waste"),
              horizon=5000.0)
    nodes = res.nodes
    assert res.summary["scale_ups"].iloc[0] >= 5 and res.summary["scale_downs"].iloc[0] >= 5
    price = {"a": 0.75, "b": 2.5}
    total = 0.0
    for r in nodes.itertuples():
        e = 5000.0 if math.isnan(r.released) else r.released
        total += price[r.pool] * (e - r.requested) / 3600.0
    # the model's own summation order is per pool, in release order: equal up to rounding
    assert res.summary["cost"].iloc[0] == pytest.approx(total, rel=1e-13)
    # and exactly, in that order
    billed = {"a": 0.0, "b": 0.0}
    done = nodes[nodes["released"].notna()].sort_values("released", kind="stable")
    for r in done.itertuples():
        billed[r.pool] += r.released - r.requested
    for r in nodes[nodes["released"].isna()].sort_values("node").itertuples():
        billed[r.pool] += 5000.0 - r.requested
    assert res.summary["cost"].iloc[0] == 0.0 + 0.75 * billed["a"] / 3600.0 + 2.5 * billed["b"] / 3600.0


# ---- spot: restarts from scratch and checkpoints -----------------------------------------------

def _restart_completions(rate_per_day, d, n, checkpoint=math.nan):
    tr = trace((0, 0.0, [("job", d, 1, 0, "", checkpoint)]))
    cl = cluster({"pool": "spot", "count": 1, "cpu": 1.0, "spot": True, "interruptions_per_day": rate_per_day})
    res = fps.simulate(tr, cl, replications=n, horizon=200.0 * d, record_tasks=True, progress=False, seed=12)
    return res


@pytest.mark.parametrize("rate_per_day,d,n", [(864.0, 100.0, 800), (2160.0, 20.0, 600)])
def test_restart_from_scratch_mean_completion(rate_per_day, d, n):
    """A task of duration d on a static spot pool with interruption rate L and boot time 0
    is restarted from scratch at each interruption (its node is replaced at once): its
    completion time has mean (exp(L d) - 1) / L. 99% Student-t interval over replications
    (each replication draws its own interruption times)."""
    res = _restart_completions(rate_per_day, d, n)
    end = res.tasks["end"].to_numpy()
    assert np.isfinite(end).all()
    L = rate_per_day / DAY
    expected = (math.exp(L * d) - 1.0) / L
    mean, sem = end.mean(), end.std(ddof=1) / math.sqrt(n)
    half = stats.t.ppf(0.995, n - 1) * sem
    assert abs(mean - expected) <= half, (mean, expected, half)
    # it is a real test: without restarts the mean would be d, far outside the interval
    assert abs(d - expected) > 3 * half
    s = res.summary
    assert (s["interruptions"] == s["replacements"]).all() and (s["tasks_restarted"] == res.tasks["restarts"].to_numpy()).all()


def test_checkpoints_bound_the_work_lost_per_interruption():
    """With checkpoint_every c each interruption loses less than c of work, and the task
    completes sooner on average than restarted from scratch."""
    c = 15.0
    with_cp = _restart_completions(2160.0, 100.0, 150, checkpoint=c)
    restarts = with_cp.tasks["restarts"].to_numpy()
    lost = with_cp.summary["work_lost_h"].to_numpy() * 3600.0
    assert restarts.sum() > 100
    assert (lost < restarts * c + 1e-9).all() and (lost[restarts == 0] == 0).all()
    assert (lost[restarts > 0] > 0).all()
    scratch = _restart_completions(2160.0, 100.0, 150)
    assert with_cp.tasks["end"].mean() < scratch.tasks["end"].mean()
    # work conservation: the completed run = duration + lost work, on a node of speed 1
    # (the node is replaced at once: no time between attempts)
    np.testing.assert_allclose(with_cp.tasks["end"].to_numpy(), 100.0 + lost, rtol=1e-12)


def test_the_same_seed_gives_the_same_interruptions_to_two_policies():
    """Common random numbers (MODEL.md 11.5): interruption times are keyed by (seed,
    replication, pool name, slot), not by the schedule."""
    tr = trace(*[(i, float(i), [("a", 30.0, 1, 0, "")]) for i in range(20)])
    cl = cluster({"pool": "s", "count": 2, "cpu": 1.0, "spot": True, "interruptions_per_day": 3000.0})
    a = run(tr, cl, policy="fifo", horizon=2000.0, seed=5)
    b = run(tr, cl, policy="sjf", horizon=2000.0, seed=5)
    c = run(tr, cl, policy="fifo", horizon=2000.0, seed=6)
    ia = a.nodes[a.nodes["release_reason"] == "interrupted"]["released"].tolist()
    ib = b.nodes[b.nodes["release_reason"] == "interrupted"]["released"].tolist()
    assert ia == ib and len(ia) > 5
    assert c.nodes["released"].dropna().tolist() != ia


# ---- the switch and the API ------------------------------------------------------------------

@pytest.mark.parametrize("autoscaler", ["static", "reactive", "target_utilization"])
def test_static_pools_without_spot_are_sections_1_to_9_whatever_the_autoscaler(autoscaler):
    wl = fps.ModelOpsWorkload(days=1)
    base = fps.simulate(wl, replications=2, seed=3, record_tasks=True, progress=False)
    pools = fps.default_cluster().pools.assign(min_count=[3, 3], max_count=[3, 3], boot_time=60.0)
    cl = fps.Cluster(pools)
    assert not cl.is_elastic
    other = fps.simulate(wl, cl, replications=2, seed=3, record_tasks=True, progress=False, autoscaler=autoscaler)
    pd.testing.assert_frame_equal(base.summary, other.summary, check_exact=True)
    pd.testing.assert_frame_equal(base.tasks, other.tasks, check_exact=True)
    assert other.nodes.empty


def test_elastic_runs_with_ticks_or_spot_need_a_horizon_and_schedules_name_real_pools():
    tr = trace((0, 0.0, [("a", 1.0, 1, 0, "")]))
    elastic = cluster({"pool": "g", "count": 1, "cpu": 1.0, "max_count": 2})
    with pytest.raises(ValueError, match="horizon"):
        run(tr, elastic, autoscaler="reactive")
    with pytest.raises(ValueError, match="horizon"):
        run(tr, cluster({"pool": "g", "count": 1, "cpu": 1.0, "spot": True, "interruptions_per_day": 1.0}))
    # elastic columns with the static autoscaler and no spot: no event of section 11, no horizon needed
    res = run(tr, elastic)
    assert res.summary["end_time"].iloc[0] == 1.0 and res.summary["scale_ups"].iloc[0] == 0
    with pytest.raises(fps.InputError, match="unknown pool"):
        run(tr, elastic, horizon=10.0,
            autoscaler=fps.autoscalers.Schedule(table=[{"pool": "x", "day": -1, "hour": 0, "count": 1}]))
    with pytest.raises(fps.InputError, match="unknown autoscaler"):
        run(tr, elastic, autoscaler="bogus", horizon=10.0)


def test_a_task_that_fits_only_an_elastic_pool_with_no_node_at_start_is_accepted():
    tr = trace((0, 0.0, [("big", 10.0, 8, 0, "")]))
    cl = cluster({"pool": "small", "count": 1, "cpu": 1.0},
                 {"pool": "big", "count": 0, "cpu": 8.0, "min_count": 0, "max_count": 1, "boot_time": 5.0})
    res = run(tr, cl, autoscaler="reactive", horizon=100.0)
    # arriving at the tick t = 0, it is seen by the tick at 10: up at 15, done at 25
    assert res.tasks["end"].tolist() == [25.0]
    with pytest.raises(fps.InputError, match="fits on no node"):
        run(tr, cluster({"pool": "small", "count": 1, "cpu": 1.0, "max_count": 3}), autoscaler="reactive",
            horizon=100.0)


def test_checkpoint_every_is_validated():
    with pytest.raises(fps.InputError, match="checkpoint_every"):
        trace((0, 0.0, [("a", 1.0, 1, 0, "", -1.0)]))
    with pytest.raises(fps.InputError, match="checkpoint_every"):
        trace((0, 0.0, [("a", 1.0, 1, 0, "", "soon")]))


def test_utilization_of_an_elastic_pool_is_over_the_capacity_of_its_up_nodes():
    # one 2-cpu node up from 0 to 100 (then released), busy with a 1-cpu task for 50 s:
    # utilization 50 / (2 * 100) over its up time, however long the run
    tr = trace((0, 0.0, [("a", 50.0, 1, 0, "")]))
    cl = cluster({"pool": "g", "count": 1, "cpu": 2.0, "min_count": 0, "max_count": 1})
    res = run(tr, cl, autoscaler=Reactive(interval=10, idle_timeout=50), horizon=1000.0)
    s = res.summary.iloc[0]
    assert res.nodes["released"].tolist() == [100.0]
    assert s["util_g_cpu"] == 50.0 / (2.0 * 100.0) and s["nodes_up_mean_g"] == 100.0 / 1000.0


def test_an_elastic_run_is_deterministic_for_any_thread_count():
    wl = fps.ModelOpsWorkload(days=1)
    pools = fps.default_cluster().pools.assign(min_count=[1, 1], max_count=[4, 6], boot_time=[180.0, 600.0],
                                              spot=[False, True], interruptions_per_day=[0.0, 2.0])
    cl = fps.Cluster(pools)
    a = fps.simulate(wl, cl, replications=4, seed=2, autoscaler="reactive", threads=1, progress=False,
                     record_tasks=True)
    b = fps.simulate(wl, cl, replications=4, seed=2, autoscaler="reactive", threads=2, progress=False,
                     record_tasks=True)
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    pd.testing.assert_frame_equal(a.nodes, b.nodes, check_exact=True)
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)
    assert (a.summary["interruptions"] > 0).any() and (a.summary["scale_ups"] > 0).all()


def test_custom_autoscaler_sees_the_ready_tasks():
    """A rule keeping one node per ready task that fits (and none when idle)."""
    desired = fps.autoscalers.Custom(func=lambda pool, up, booting, ready, u, now: ready + (up + booting if u > 0 else 0),
                                     interval=5.0)
    tr = trace(*[(i, 2.0, [("a", 20.0, 1, 0, "")]) for i in range(3)])
    cl = cluster({"pool": "g", "count": 0, "cpu": 1.0, "min_count": 0, "max_count": 5, "boot_time": 4.0})
    res = run(tr, cl, autoscaler=desired, horizon=100.0)
    # the tick at 5 sees 3 ready tasks: 3 nodes, up at 9; all done at 29; released at the tick at 30
    assert res.tasks["start"].tolist() == [9.0, 9.0, 9.0]
    assert res.nodes["released"].tolist() == [30.0, 30.0, 30.0]


# ---- binned time series (MODEL.md 13) ------------------------------------------------------------

def _bin_integrals_equal_summary(res, elastic):
    s, sm = res.series, res.summary
    length = s["t_end"] - s["t_start"]
    for r, g in s.groupby("replication"):
        span = sm.loc[r, "end_time"]
        ln = length[g.index]
        assert ln.sum() == pytest.approx(span, rel=1e-15) and g["t_start"].iloc[0] == 0.0
        for c in [c for c in sm.columns if c.startswith("util_")]:
            if elastic:
                pool = c.split("_")[1]
                # util x (capacity x node-up integral) = allocated integral, per bin and in total
                up = g[f"nodes_up_{pool}"] * ln
                total = (g[c].fillna(0.0) * up).sum() / (sm.loc[r, f"nodes_up_mean_{pool}"] * span)
            else:
                total = (g[c] * ln).sum() / span
            assert total == pytest.approx(sm.loc[r, c], rel=1e-12), c
        assert (g["queue_length"] * ln).sum() / span == pytest.approx(sm.loc[r, "queue_length_mean"], rel=1e-12)
        assert g["arrivals"].sum() == sm.loc[r, "submitted"]
        assert g["completed"].sum() == sm.loc[r, "completed"]
        if "model_accuracy_mean" in g:
            assert (g["model_accuracy_mean"] * ln).sum() / span == pytest.approx(sm.loc[r, "model_accuracy_mean"],
                                                                                rel=1e-12)
        if elastic:
            for q in res.cluster.pool_names:
                assert (g[f"nodes_up_{q}"] * ln).sum() / span == pytest.approx(sm.loc[r, f"nodes_up_mean_{q}"],
                                                                              rel=1e-12)


def test_series_integrals_sum_to_the_summary():
    """With warm-up 0, the sum over bins of each series x bin length is section 9's integral."""
    wl = fps.ModelOpsWorkload(days=1)
    res = fps.simulate(wl, replications=2, seed=1, series_bin=3600.0 * 5, progress=False)
    assert len(res.series) == 2 * 5 and res.series["t_end"].iloc[4] == 86400.0  # the last bin is cut
    assert "nodes_up_gpu" not in res.series and res.series["t_start"].iloc[1] == 18000.0
    _bin_integrals_equal_summary(res, elastic=False)
    # the series do not change the run
    plain = fps.simulate(wl, replications=2, seed=1, progress=False)
    pd.testing.assert_frame_equal(plain.summary, res.summary, check_exact=True)


def test_series_of_an_elastic_run_and_nodes_up():
    wl = fps.ModelOpsWorkload(days=1)
    pools = fps.default_cluster().pools.assign(min_count=[1, 1], max_count=[4, 6], boot_time=[180.0, 600.0],
                                              spot=[False, True], interruptions_per_day=[0.0, 2.0])
    res = fps.simulate(wl, fps.Cluster(pools), replications=2, seed=2, autoscaler="reactive", series_bin=3600.0,
                       progress=False)
    assert {"nodes_up_cpu", "nodes_up_gpu"} <= set(res.series.columns)
    assert res.series["nodes_up_gpu"].nunique() > 3
    _bin_integrals_equal_summary(res, elastic=True)


def test_an_event_at_a_bin_edge_counts_in_the_bin_it_starts():
    tr = trace((0, 10.0, [("a", 5.0, 1, 0, "")]), (1, 20.0, [("a", 10.0, 1, 0, "")]))
    res = run(tr, cluster({"pool": "g", "count": 2, "cpu": 1.0}), horizon=30.0, series_bin=10.0)
    s = res.series
    # arrivals at 10 and 20 count in bins 1 and 2; the completion at 15 in bin 1, and the one
    # at the horizon 30 (= 3 x 10, the end of the run: there is no bin 3) in the last bin
    assert s["arrivals"].tolist() == [0, 1, 1] and s["completed"].tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="horizon"):
        run(tr, cluster({"pool": "g", "count": 2, "cpu": 1.0}), series_bin=10.0)
    with pytest.raises(ValueError, match="series_bin"):
        run(tr, cluster({"pool": "g", "count": 2, "cpu": 1.0}), horizon=30.0, series_bin=0.0)
    with pytest.raises(ValueError, match="no time series"):
        run(tr, cluster({"pool": "g", "count": 2, "cpu": 1.0}), horizon=30.0).series
