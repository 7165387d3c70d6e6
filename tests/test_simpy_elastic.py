"""Elastic clusters (MODEL.md 11) in the SimPy reference model (benchmarks/simpy_model.py).

Analytic checks (reactive boot and release times, exact cost, the mean completion time of
a task restarted on a spot node, checkpoints) and hand-worked cases for every autoscaler,
expander and tie rule of MODEL.md 11. Where a case needs interruptions at chosen times,
the slot's interruption times are replaced (monkeypatch) by a fixed list: the model
reads them as given, so the rule under test is isolated from the stream.
"""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import benchmarks.simpy_model as sm  # noqa: E402
from benchmarks.simpy_model import checkpointed_work, interruption_times, simulate_simpy  # noqa: E402
from randtrace import random_trace  # noqa: E402


def pipelines(*rows):
    """rows: (pipeline_id, submit_time)"""
    return pd.DataFrame([{"pipeline_id": r[0], "submit_time": float(r[1])} for r in rows])


def tasks(*rows):
    """rows: (pipeline_id, task, duration, cpu[, gpu[, after[, checkpoint_every]]])"""
    return pd.DataFrame([{"pipeline_id": r[0], "task": r[1], "type": "train", "cpu": float(r[3]),
                          "gpu": float(r[4]) if len(r) > 4 else 0.0, "mem_gb": 0.0,
                          "duration": float(r[2]), "after": r[5] if len(r) > 5 else "",
                          "checkpoint_every": r[6] if len(r) > 6 else math.nan} for r in rows])


def pool(name, count, cpu, gpu=0.0, **kw):
    row = {"pool": name, "count": count, "cpu": float(cpu), "gpu": float(gpu), "mem_gb": 0.0}
    row.update(kw)
    return row


def cluster(*rows):
    return pd.DataFrame(list(rows))


def col(res, name):
    return res.tasks[name].tolist()


def fixed_interruptions(monkeypatch, times_by_slot):
    """Replace the spot streams: ``{(pool, slot): [times]}``; other slots are never interrupted."""
    def fake(seed, replication, pool_name, slot, per_day, horizon):
        return [t for t in times_by_slot.get((pool_name, slot), []) if t <= horizon]
    monkeypatch.setattr(sm, "interruption_times", fake)


REACTIVE = {"kind": "reactive", "interval": 10.0, "idle_timeout": 60.0}


# ---- reactive: the analytic check -------------------------------------------------------

@pytest.mark.parametrize("boot,d,arrival", [(120.0, 100.0, 25.0), (0.0, 7.5, 3.0), (600.0, 3600.0, 41.0)])
def test_reactive_boots_a_node_at_the_next_tick_and_releases_it_after_idle_timeout(boot, d, arrival):
    """One task at an empty pool (min 0): the first tick at or after its arrival requests a
    node (a tick at the very arrival time comes before the arrival, MODEL.md 11.3), it
    completes boot + d later; the node goes at the first tick >= end + idle_timeout."""
    res = simulate_simpy(pipelines((0, arrival)), tasks((0, "a", d, 1)),
                         cluster(pool("g", 0, 4, min_count=0, max_count=3, boot_time=boot,
                                      price_per_hour=3.6)),
                         autoscaler=REACTIVE, horizon=20000.0)
    tick = math.ceil(arrival / 10.0) * 10.0
    if tick == arrival:
        tick += 10.0
    assert col(res, "start") == [tick + boot] and col(res, "end") == [tick + boot + d]
    end = tick + boot + d
    release = math.ceil((end + 60.0) / 10.0) * 10.0
    nodes = res.nodes
    assert len(nodes) == 1
    assert nodes.loc[0, ["requested", "up", "released"]].tolist() == [tick, tick + boot, release]
    assert nodes.loc[0, "release_reason"] == "scale_down" and nodes.loc[0, "reason"] == "scale_up"
    assert res.elastic["scale_ups"] == 1 and res.elastic["scale_downs"] == 1
    assert res.elastic["cost"] == 3.6 * (release - tick) / 3600.0


def test_a_task_made_ready_at_a_tick_by_a_completion_completes_at_ready_plus_boot_plus_d():
    """The issue's form "arriving at a tick completes at arrival + boot_time + d" holds for a
    task made ready at the tick's time: completions come before the tick."""
    pl = pipelines((0, 0.0))
    ts = tasks((0, "prep", 20.0, 1), (0, "train", 50.0, 0, 1, "prep"))
    cl = cluster(pool("cpu", 1, 1), pool("gpu", 0, 1, gpu=1, min_count=0, max_count=1, boot_time=35.0))
    res = simulate_simpy(pl, ts, cl, autoscaler=REACTIVE, horizon=1000.0)
    assert col(res, "ready") == [0.0, 20.0]
    assert col(res, "end") == [20.0, 20.0 + 35.0 + 50.0]
    assert col(res, "node") == [0, 1]


def test_a_pipeline_arriving_at_a_tick_waits_for_the_next_tick():
    res = simulate_simpy(pipelines((0, 30.0)), tasks((0, "a", 5.0, 1)),
                         cluster(pool("g", 0, 1, min_count=0, max_count=1, boot_time=7.0)),
                         autoscaler=REACTIVE, horizon=500.0)
    assert col(res, "start") == [40.0 + 7.0]


def test_idle_timeout_counts_from_when_the_node_came_up_if_it_ran_nothing():
    # min 0, count 2 at t = 0: both idle since 0, released at the tick t = 60 (t - 0 >= 60)
    res = simulate_simpy(pipelines((0, 1000.0)), tasks((0, "a", 1.0, 1)),
                         cluster(pool("g", 2, 1, min_count=0, max_count=2)),
                         autoscaler=REACTIVE, horizon=100.0)
    assert res.nodes["released"].tolist() == [60.0, 60.0]
    # released highest index first: node 1's instance is released before node 0's
    assert res.elastic["scale_downs"] == 2


def test_scale_down_keeps_min_count_and_nodes_with_running_tasks_highest_index_first():
    # 4 nodes up, min 2; a long task on node 0; nodes 1-3 idle since 0.
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 500.0, 1)),
                         cluster(pool("g", 4, 1, min_count=2, max_count=4)),
                         autoscaler=REACTIVE, horizon=200.0)
    nodes = res.nodes.set_index("node")
    # nodes 3 and 2 go at t = 60; node 1 stays (min 2: nodes 0 and 1), node 0 is busy
    assert nodes.loc[3, "released"] == 60.0 and nodes.loc[2, "released"] == 60.0
    assert math.isnan(nodes.loc[1, "released"]) and math.isnan(nodes.loc[0, "released"])


def test_a_new_node_takes_the_lowest_released_slot():
    # two nodes up at 0 (min 0), both released at 60; a task at 100 gets slot 0 again
    res = simulate_simpy(pipelines((0, 100.0)), tasks((0, "a", 5.0, 1)),
                         cluster(pool("g", 2, 1, min_count=0, max_count=2, boot_time=10.0)),
                         autoscaler=REACTIVE, horizon=300.0)
    assert res.nodes["node"].tolist() == [0, 1, 0]
    assert col(res, "node") == [0] and col(res, "start") == [120.0]


def test_booting_capacity_counts_so_a_second_tick_requests_nothing_more():
    # a (arrives 1) makes tick 10 request a 2-cpu node booting until 110; b (arrives 15)
    # fits that booting node's free capacity at tick 20: no second node
    res = simulate_simpy(pipelines((0, 1.0), (1, 15.0)), tasks((0, "a", 5.0, 1), (1, "b", 5.0, 1)),
                         cluster(pool("g", 0, 2, min_count=0, max_count=2, boot_time=100.0)),
                         autoscaler=REACTIVE, horizon=300.0)
    assert len(res.nodes) == 1
    assert col(res, "start") == [110.0, 110.0] and col(res, "node") == [0, 0]


def test_a_node_needed_by_a_pending_task_is_not_released():
    # node 0 idle since 0 (up at 0, min 0); a task made ready at tick 60 that fits it is
    # placed on it in (a), so (c) does not release it at 60 and the pass starts the task
    pl = pipelines((0, 0.0))
    ts = tasks((0, "prep", 60.0, 1), (0, "b", 5.0, 0, 1, "prep"))
    cl = cluster(pool("cpu", 1, 1), pool("gpu", 1, 1, gpu=1, min_count=0, max_count=1))
    res = simulate_simpy(pl, ts, cl, autoscaler=REACTIVE, horizon=200.0)
    assert col(res, "start") == [0.0, 60.0]
    gpu = res.nodes[res.nodes["pool"] == "gpu"]
    assert gpu["released"].tolist() == [130.0]   # first tick >= 65 + 60


# ---- reactive: expanders and the options of (b) -----------------------------------------

def _pending(n_tasks, cpu=2.0):
    return pipelines(*[(i, 1.0) for i in range(n_tasks)]), tasks(*[(i, "a", 5.0, cpu) for i in range(n_tasks)])


def _expander_run(expander, n_tasks, pools):
    pl, ts = _pending(n_tasks)
    return simulate_simpy(pl, ts, cluster(*pools), autoscaler={**REACTIVE, "expander": expander},
                          horizon=15.0)


SMALL = pool("small", 0, 2, min_count=0, max_count=8, price_per_hour=1.0)
BIG = pool("big", 0, 8, min_count=0, max_count=8, price_per_hour=2.5)


def test_least_waste_picks_the_option_with_the_smallest_idle_fraction():
    # 3 tasks of 2 cpu: small -> 3 nodes, waste 0; big -> 1 node, waste 2/8: small
    assert _expander_run("least_waste", 3, [BIG, SMALL]).nodes["pool"].tolist() == ["small"] * 3
    # 4 tasks: small waste 0, big waste 0: a tie, to the lowest pool index
    assert _expander_run("least_waste", 4, [BIG, SMALL]).nodes["pool"].tolist() == ["big"]
    assert _expander_run("least_waste", 4, [SMALL, BIG]).nodes["pool"].tolist() == ["small"] * 4


def test_cheapest_compares_the_options_total_price():
    # 3 tasks: small 3 x 1.0 = 3.0 > big 1 x 2.5: big; 2 tasks: 2.0 < 2.5: small
    assert _expander_run("cheapest", 3, [SMALL, BIG]).nodes["pool"].tolist() == ["big"]
    assert _expander_run("cheapest", 2, [SMALL, BIG]).nodes["pool"].tolist() == ["small"] * 2
    # a tie (5 tasks: 5.0 vs 1 big of 8 cpu holding 4 tasks + 1 more: 2 x 2.5 = 5.0): lowest index
    assert _expander_run("cheapest", 5, [SMALL, BIG]).nodes["pool"].tolist() == ["small"] * 5


def test_first_takes_the_lowest_pool_that_places_a_task():
    assert _expander_run("first", 3, [BIG, SMALL]).nodes["pool"].tolist() == ["big"]
    # a task too large for pool 0 goes to pool 1
    tiny = pool("tiny", 0, 1, min_count=0, max_count=8)
    assert _expander_run("first", 1, [tiny, SMALL]).nodes["pool"].tolist() == ["small"]


def test_options_repeat_until_every_pending_task_is_placed_within_max_count():
    # a GPU task and three 4-cpu tasks, expander first: round 1 takes the cpu pool's option,
    # which has room for 2 nodes (max 2) and places two CPU tasks; round 2 the gpu pool's:
    # the GPU task opens gpu node 1 (3 cpu left), the third CPU task does not fit there
    # and opens gpu node 2. All four start at the tick (boot 0).
    pl = pipelines((0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0))
    ts = tasks((0, "g", 5.0, 1, 1), (1, "c", 5.0, 4), (2, "c", 5.0, 4), (3, "c", 5.0, 4))
    cl = cluster(pool("cpu", 0, 4, min_count=0, max_count=2), pool("gpu", 0, 4, gpu=1, min_count=0, max_count=4))
    res = simulate_simpy(pl, ts, cl, autoscaler={**REACTIVE, "expander": "first"}, horizon=12.0)
    assert res.nodes["pool"].tolist() == ["cpu", "cpu", "gpu", "gpu"]
    assert col(res, "start") == [10.0] * 4 and col(res, "node") == [2, 0, 1, 3]
    # with max_count 1 on the gpu pool, the last CPU task stays pending
    cl.loc[1, "max_count"] = 1
    res = simulate_simpy(pl, ts, cl, autoscaler={**REACTIVE, "expander": "first"}, horizon=12.0)
    assert res.nodes["pool"].tolist() == ["cpu", "cpu", "gpu"]
    assert col(res, "status") == ["unfinished"] * 3 + ["not_started"]


def test_reactive_ignores_backfill_when_it_looks_for_pending_tasks():
    pl = pipelines((0, 1.0), (1, 1.0))
    ts = tasks((0, "huge", 5.0, 16), (1, "small", 5.0, 1))
    cl = cluster(pool("g", 0, 4, min_count=0, max_count=4), pool("h", 0, 16, min_count=0, max_count=1))
    res = simulate_simpy(pl, ts, cl, backfill=False, autoscaler={**REACTIVE, "expander": "first"},
                         horizon=12.0)
    assert sorted(res.nodes["pool"].tolist()) == ["g", "h"]


# ---- target_utilization ----------------------------------------------------------------

TARGET = {"kind": "target_utilization", "interval": 15.0, "target": 0.5, "tolerance": 0.1,
          "stabilization": 60.0}


def test_target_utilization_scales_up_at_once_and_down_after_the_stabilization_window():
    # Two one-cpu nodes (min 1, max 5), two 100 s tasks arriving at 0, target 0.5.
    res = simulate_simpy(pipelines((0, 0.0), (1, 0.0)), tasks((0, "a", 100.0, 1), (1, "a", 100.0, 1)),
                         cluster(pool("g", 2, 1, min_count=1, max_count=5)),
                         autoscaler=TARGET, horizon=300.0)
    nodes = res.nodes
    # t = 0 (the tick comes before the arrivals): u = 0 -> rec 1, the window holds only it:
    # node 1 released at 0. p0's task runs on node 0, p1's waits.
    assert nodes.loc[1, "released"] == 0.0
    # t = 15: n = 1, u = 1 -> rec = ceil(1 * 2) = 2: one node requested (slot 1, up at once)
    assert nodes.loc[2, ["node", "requested"]].tolist() == [1, 15.0]
    assert col(res, "start") == [0.0, 15.0]
    # t = 30: n = 2, u = 1 -> rec 4 -> two more; t = 45: n = 4, u = 0.5: within tolerance
    assert nodes["requested"].tolist() == [0.0, 0.0, 15.0, 30.0, 30.0]
    # p0 ends 100, p1 at 115. t = 105: u = 1/4 (ratio 0.5): rec = 2 < 4 but the window
    # [45, 105] holds rec 4 (t = 45 .. 90: n = 4 within tolerance): stab = 4: no change.
    # t = 120: u = 0, rec = 1; window [60, 120]: recs 4 (60..90), 2 (105), 1: stab 4.
    # t = 165: window [105, 165]: 2, 1, 1, 1, 1: stab = 2 -> release two idle nodes
    # (highest index first: 3, 2); t = 180: window [120, 180]: all 1 -> release node 1.
    released = nodes.dropna(subset=["released"]).sort_values(["released", "node"])
    assert released[["node", "released"]].values.tolist() == [[1, 0.0], [2, 165.0], [3, 165.0], [1, 180.0]]


def test_target_utilization_leaves_a_pool_with_no_requested_node_alone():
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 10.0, 1)),
                         cluster(pool("other", 1, 1), pool("g", 0, 1, min_count=0, max_count=3)),
                         autoscaler=TARGET, horizon=100.0)
    assert (res.nodes["pool"] == "g").sum() == 0
    assert res.elastic["scale_ups"] == 0


# ---- schedule and custom ------------------------------------------------------------------

def test_schedule_sets_counts_by_hour_of_week_and_wraps():
    table = pd.DataFrame([{"pool": "g", "day": -1, "hour": 8, "count": 3},
                          {"pool": "g", "day": 0, "hour": 2, "count": 2}])
    # t in Monday 00:00-02:00: the last row of the week (Sunday 08:00, count 3) still holds
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 1.0, 1)),
                         cluster(pool("g", 1, 1, min_count=0, max_count=4)),
                         autoscaler={"kind": "schedule", "interval": 600.0, "table": table},
                         horizon=9 * 3600.0)
    series = res.node_series
    assert series[["time", "up"]].values.tolist() == [[0.0, 1], [0.0, 3], [7200.0, 2], [28800.0, 3]]
    # Tuesday 02:00 has no row of its own but day -1 rows at 08:00: Tuesday 00:00 still 3


def test_schedule_with_an_unknown_pool_is_an_error():
    with pytest.raises(ValueError, match="unknown pool"):
        simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 1.0, 1)),
                       cluster(pool("g", 1, 1, min_count=0, max_count=2)),
                       autoscaler={"kind": "schedule",
                                   "table": [{"pool": "x", "day": 0, "hour": 0, "count": 1}]},
                       horizon=10.0)


def test_custom_sees_up_booting_ready_utilization_and_time_after_boot_completions():
    seen = []

    def desired(pool_index, up, booting, ready, utilization, now):
        seen.append((pool_index, up, booting, ready, utilization, now))
        return 2 if now >= 10.0 else 1

    # boot 10: the node requested at tick 10 completes its boot at 20, before tick 20
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 100.0, 1)),
                         cluster(pool("g", 1, 2, min_count=1, max_count=3, boot_time=10.0)),
                         autoscaler={"kind": "custom", "interval": 10.0, "func": desired},
                         horizon=20.0)
    # t = 0: the task has not arrived (ticks come before arrivals): u = 0, ready 0;
    # t = 10: 1 of 2 cpu in use on 1 node: u = 0.5; t = 20: the new node is up (boot
    # completions come before the tick), u = 1 / (2 * 2)
    assert seen == [(0, 1, 0, 0, 0.0, 0.0), (0, 1, 0, 0, 0.5, 10.0), (0, 2, 0, 0, 0.25, 20.0)]
    assert res.elastic["scale_ups"] == 1


# ---- billing ------------------------------------------------------------------------------

def test_cost_is_price_times_billed_node_time_with_billing_minimum_and_warmup():
    # node requested at 10 (tick), boot 5, task 20 -> ends 35; released at 40 (timeout 0).
    # billed [10, max(40, 10 + 60)] = [10, 70]; the static node [0, 200]; warmup 20.
    res = simulate_simpy(pipelines((0, 1.0)), tasks((0, "a", 20.0, 2)),
                         cluster(pool("base", 1, 1, price_per_hour=0.9),
                                 pool("g", 0, 2, min_count=0, max_count=1, boot_time=5.0,
                                      billing_minimum=60.0, price_per_hour=7.2)),
                         autoscaler={**REACTIVE, "idle_timeout": 0.0}, warmup=20.0, horizon=200.0)
    g = res.nodes[res.nodes["pool"] == "g"].iloc[0]
    assert (g["requested"], g["up"], g["released"]) == (10.0, 15.0, 40.0)
    assert res.elastic["node_hours_g"] == (70.0 - 20.0) / 3600.0
    assert res.elastic["node_hours_base"] == 180.0 / 3600.0
    assert res.elastic["cost"] == 0.9 * 180.0 / 3600.0 + 7.2 * 50.0 / 3600.0
    assert res.elastic["nodes_up_mean_g"] == (40.0 - 20.0) / 180.0
    assert res.elastic["nodes_up_mean_base"] == 1.0


# ---- spot ----------------------------------------------------------------------------------

def test_interruption_streams_are_per_slot_and_common_to_configurations():
    a = interruption_times(5, 2, "gpu", 0, 4.0, 7 * 86400.0)
    assert a == interruption_times(5, 2, "gpu", 0, 4.0, 7 * 86400.0)
    assert a != interruption_times(5, 2, "gpu", 1, 4.0, 7 * 86400.0)
    assert a != interruption_times(5, 3, "gpu", 0, 4.0, 7 * 86400.0)
    assert a != interruption_times(5, 2, "cpu", 0, 4.0, 7 * 86400.0)
    assert all(x < y for x, y in zip(a, a[1:])) and a[-1] <= 7 * 86400.0
    # the rate scales the same uniforms: twice the rate, half the times
    b = interruption_times(5, 2, "gpu", 0, 8.0, 7 * 86400.0)
    assert b[:5] == pytest.approx([t / 2 for t in a[:5]], rel=1e-12)
    assert interruption_times(5, 2, "gpu", 0, 0.0, 1e9) == []


def test_an_interrupted_task_restarts_on_the_replacement_after_boot(monkeypatch):
    fixed_interruptions(monkeypatch, {("s", 0): [30.0]})
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 100.0, 1)),
                         cluster(pool("s", 1, 1, spot=True, interruptions_per_day=1.0, boot_time=50.0)),
                         horizon=1000.0)
    assert col(res, "start") == [80.0] and col(res, "end") == [180.0] and col(res, "ready") == [30.0]
    assert col(res, "restarts") == [1]
    assert res.nodes["reason"].tolist() == ["initial", "replacement"]
    assert res.nodes["node"].tolist() == [0, 0]          # the same slot, so the same stream
    assert res.nodes["requested"].tolist() == [0.0, 30.0] and res.nodes["up"].tolist() == [0.0, 80.0]
    assert res.nodes["released"].tolist()[0] == 30.0 and math.isnan(res.nodes["released"].iloc[1])
    assert res.elastic["interruptions"] == 1 and res.elastic["replacements"] == 1
    assert res.elastic["tasks_restarted"] == 1 and res.elastic["work_lost_h"] == 30.0 / 3600.0


def test_a_completion_at_the_interruption_time_wins(monkeypatch):
    # node 0 runs a (ends 30) and b (ends 60); the interruption at 30 restarts b only
    fixed_interruptions(monkeypatch, {("s", 0): [30.0]})
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 30.0, 1), (0, "b", 60.0, 1)),
                         cluster(pool("s", 1, 2, spot=True, interruptions_per_day=1.0)), horizon=500.0)
    assert col(res, "end") == [30.0, 90.0] and col(res, "restarts") == [0, 1]


def test_an_interruption_of_a_slot_that_is_not_up_is_skipped(monkeypatch):
    # the replacement boots from 10 to 40: the time 40 (= its boot completion) and 25 are skipped
    fixed_interruptions(monkeypatch, {("s", 0): [10.0, 25.0, 40.0]})
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 100.0, 1)),
                         cluster(pool("s", 1, 1, spot=True, interruptions_per_day=1.0, boot_time=30.0)),
                         horizon=500.0)
    assert res.elastic["interruptions"] == 1
    assert col(res, "start") == [40.0] and col(res, "end") == [140.0]


def test_an_elastic_spot_pool_is_replaced_only_down_to_min_count(monkeypatch):
    fixed_interruptions(monkeypatch, {("s", 1): [5.0]})
    res = simulate_simpy(pipelines((0, 0.0), (1, 0.0)), tasks((0, "a", 100.0, 1), (1, "a", 100.0, 1)),
                         cluster(pool("s", 2, 1, min_count=1, max_count=2, spot=True,
                                      interruptions_per_day=1.0)),
                         horizon=8.0)
    assert res.elastic["replacements"] == 0 and res.elastic["interruptions"] == 1
    assert col(res, "status") == ["unfinished", "unfinished"] and col(res, "node") == [0, 1]
    assert col(res, "ready") == [0.0, 5.0]


def test_fifo_serves_an_interrupted_task_as_newly_ready(monkeypatch):
    # x (p0) on the spot node from 0; y (p1, ready 1) waits; at 5 x is interrupted, the
    # node replaced at once: y (ready 1) goes before x (ready 5)
    fixed_interruptions(monkeypatch, {("s", 0): [5.0]})
    res = simulate_simpy(pipelines((0, 0.0), (1, 1.0)), tasks((0, "x", 10.0, 1), (1, "y", 10.0, 1)),
                         cluster(pool("s", 1, 1, spot=True, interruptions_per_day=1.0)), horizon=100.0)
    assert col(res, "start") == [15.0, 5.0]


def test_checkpoints_save_whole_multiples_of_checkpoint_every(monkeypatch):
    # speed 2: progress by 37 is 74 reference s; checkpoint 30 -> 60 saved, 14 lost
    fixed_interruptions(monkeypatch, {("s", 0): [37.0]})
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 100.0, 1, 0, "", 30.0)),
                         cluster(pool("s", 1, 1, speed=2.0, spot=True, interruptions_per_day=1.0)),
                         horizon=500.0)
    assert col(res, "end") == [37.0 + 40.0 / 2.0]
    assert res.elastic["work_lost_h"] == 14.0 / 3600.0


def test_checkpointed_work_never_reaches_the_remaining_work():
    assert checkpointed_work(74.0, 100.0, 30.0) == 60.0
    assert checkpointed_work(100.0, 100.0, 25.0) == 75.0    # no checkpoint at completion
    # 0.3 / 0.1 = 2.9999999999999996 and 3 * 0.1 = 0.30000000000000004 > 0.3: m = 2
    assert checkpointed_work(0.3, 1.0, 0.1) == 2 * 0.1
    # 0.6 / 0.2 = 2.9999999999999996, but 3 * 0.2 = 0.6000000000000001 > 0.6 too: m = 2;
    # 0.7 / 0.1 = 6.999999999999999 while 7 * 0.1 = 0.7000000000000001 > 0.7: m = 6
    assert checkpointed_work(0.6, 1.0, 0.2) == 2 * 0.2
    assert checkpointed_work(0.7, 1.0, 0.1) == 6 * 0.1
    # floor rounding down is corrected upwards: 0.29 / 0.01 = 28.999999999999996, 29 * 0.01 = 0.29
    assert checkpointed_work(0.29, 1.0, 0.01) == 29 * 0.01 == 0.29
    assert checkpointed_work(5.0, 100.0, 0.0) == 0.0


def test_the_same_seed_gives_the_same_interruptions_to_two_policies():
    rng = np.random.default_rng(4)
    pl, ts, _ = random_trace(rng, n_pipelines=12)
    cl = cluster(pool("s", 2, 8, gpu=2, spot=True, interruptions_per_day=2000.0, mem_gb=64.0))
    a = simulate_simpy(pl, ts, cl, policy="fifo", horizon=60.0, seed=9)
    b = simulate_simpy(pl, ts, cl, policy="sjf", horizon=60.0, seed=9)
    times = sorted(interruption_times(9, 0, "s", 0, 2000.0, 60.0) + interruption_times(9, 0, "s", 1, 2000.0, 60.0))
    assert a.elastic["interruptions"] == b.elastic["interruptions"] == len(times) > 0
    assert sorted(a.nodes["released"].dropna()) == sorted(b.nodes["released"].dropna()) == times


def _restart_mean(rate_per_day, d, reps):
    """Completion times of one task of duration d restarted from scratch on a static spot
    node (boot 0), one replication per seed."""
    cl = cluster(pool("s", 1, 1, spot=True, interruptions_per_day=rate_per_day))
    pl, ts = pipelines((0, 0.0)), tasks((0, "a", d, 1))
    return np.array([simulate_simpy(pl, ts, cl, horizon=200 * d, seed=s).tasks["end"].iloc[0]
                     for s in range(reps)])


def _check_restart_mean(rate_per_day, d, reps):
    """(exp(L d) - 1) / L within 4 standard errors (sample sd): a false alarm has probability
    ~6e-5 by the CLT (the completion time has finite variance); the mean is also far above d,
    so the test fails if interruptions did not restart the task."""
    ends = _restart_mean(rate_per_day, d, reps)
    assert not np.isnan(ends).any()
    lam = rate_per_day / 86400.0
    expected = math.expm1(lam * d) / lam
    se = ends.std(ddof=1) / math.sqrt(reps)
    assert abs(ends.mean() - expected) < 4 * se, (ends.mean(), expected, se)
    assert ends.mean() > d + 8 * se


def test_restart_from_scratch_mean_completion_fast():
    _check_restart_mean(24.0, 3600.0, 300)      # L d = 1: mean (e - 1) h


@pytest.mark.slow
@pytest.mark.parametrize("rate,d", [(24.0, 3600.0), (48.0, 3600.0), (4.0, 7200.0)])
def test_restart_from_scratch_mean_completion(rate, d):
    _check_restart_mean(rate, d, 4000)


def test_checkpoints_bound_the_work_lost_per_interruption():
    cl = cluster(pool("s", 1, 1, spot=True, interruptions_per_day=48.0))
    pl, ts = pipelines((0, 0.0)), tasks((0, "a", 7200.0, 1, 0, "", 600.0))
    n_int = 0
    for seed in range(40):
        res = simulate_simpy(pl, ts, cl, horizon=50 * 7200.0, seed=seed)
        k = res.elastic["interruptions"]
        n_int += k
        assert res.elastic["work_lost_h"] * 3600.0 < 600.0 * k or k == 0
        # replay of the slot's times: each attempt loses P - m c < c
        times = [t for t in interruption_times(seed, 0, "s", 0, 48.0, 50 * 7200.0)]
        start, left, lost = 0.0, 7200.0, 0.0
        for t in times:
            if t >= start + left:
                break
            p = t - start
            saved = checkpointed_work(p, left, 600.0)
            assert p - saved < 600.0
            lost += p - saved
            start, left = t, left - saved
        assert res.tasks["end"].iloc[0] == start + left
        assert res.elastic["work_lost_h"] == pytest.approx(lost / 3600.0, rel=1e-12)
    assert n_int > 40   # interruptions did happen


# ---- the switch: static pools, no spot ------------------------------------------------------

@pytest.mark.parametrize("autoscaler", ["reactive", "target_utilization", {"kind": "custom", "func": lambda *a: 9}])
def test_static_pools_without_spot_are_sections_1_to_9_whatever_the_autoscaler(autoscaler):
    rng = np.random.default_rng(11)
    pl, ts, cl = random_trace(rng, n_pipelines=10)
    plain = simulate_simpy(pl, ts, cl)
    with_columns = cl.assign(min_count=cl["count"], max_count=cl["count"], boot_time=60.0, spot=False)
    res = simulate_simpy(pl, ts, with_columns, autoscaler=autoscaler)
    pd.testing.assert_frame_equal(plain.tasks, res.tasks)
    assert res.elastic is None and res.nodes is None and res.end_time == plain.end_time


def test_an_elastic_run_with_ticks_or_spot_needs_a_horizon():
    with pytest.raises(ValueError, match="horizon"):
        simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 1.0, 1)),
                       cluster(pool("g", 1, 1, max_count=2)), autoscaler="reactive")
    with pytest.raises(ValueError, match="horizon"):
        simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 1.0, 1)),
                       cluster(pool("g", 1, 1, spot=True, interruptions_per_day=1.0)))
    # elastic columns with the static autoscaler and no spot: nothing changes, no horizon needed
    res = simulate_simpy(pipelines((0, 0.0)), tasks((0, "a", 1.0, 1)), cluster(pool("g", 1, 1, max_count=2)))
    assert res.end_time == 1.0 and res.elastic["scale_ups"] == 0


# ---- invariants on random elastic traces -------------------------------------------------------

AUTOSCALERS = [
    {"kind": "reactive", "interval": 1.0, "idle_timeout": 3.0, "expander": "least_waste"},
    {"kind": "reactive", "interval": 2.0, "idle_timeout": 0.0, "expander": "cheapest"},
    {"kind": "reactive", "interval": 1.5, "idle_timeout": 5.0, "expander": "first"},
    {"kind": "target_utilization", "interval": 1.0, "target": 0.6, "stabilization": 4.0},
    {"kind": "schedule", "interval": 1.0,
     "table": [{"pool": "small", "day": -1, "hour": h, "count": h % 3} for h in range(24)]},
    {"kind": "custom", "interval": 2.0, "func": lambda q, up, booting, ready, u, now: ready + (now < 5)},
    "static",
]


def elastic_trace(rng):
    pl, ts, cl = random_trace(rng, n_pipelines=int(rng.integers(4, 14)))
    # whole GPUs: the pooled path (GPUs as devices on elastic clusters: test_devices_elastic_oracle.py)
    cl["gpu"] = np.ceil(cl["gpu"])
    ts["gpu"] = np.ceil(ts["gpu"])
    cl["min_count"] = 0
    cl["max_count"] = cl["count"] + rng.integers(0, 3, len(cl))
    cl["count"] = [int(rng.integers(0, m + 1)) for m in cl["max_count"]]
    cl.loc[cl["pool"] != "small", "min_count"] = [min(1, c) for c in cl.loc[cl["pool"] != "small", "count"]]
    cl["boot_time"] = rng.choice([0.0, 1.0, 2.5], len(cl))
    cl["billing_minimum"] = rng.choice([0.0, 3.0], len(cl))
    cl["spot"] = rng.random(len(cl)) < 0.5
    cl["interruptions_per_day"] = np.where(cl["spot"], 86400.0 / rng.choice([4.0, 10.0]), 0.0)
    ts["checkpoint_every"] = np.where(rng.random(len(ts)) < 0.5, 1.0, np.nan)
    return pl, ts, cl


def _ids(a):
    return a if isinstance(a, str) else a["kind"]


@pytest.mark.parametrize("autoscaler", AUTOSCALERS, ids=_ids)
def test_invariants_on_random_elastic_traces(autoscaler):
    check_invariants(autoscaler, range(8))


@pytest.mark.slow
@pytest.mark.parametrize("autoscaler", AUTOSCALERS, ids=_ids)
def test_invariants_on_many_random_elastic_traces(autoscaler):
    check_invariants(autoscaler, range(8, 120))


def test_an_elastic_run_is_deterministic():
    rng = np.random.default_rng([3, 12])
    pl, ts, cl = elastic_trace(rng)
    a, b = (simulate_simpy(pl, ts, cl, autoscaler=AUTOSCALERS[0], horizon=40.0, seed=3) for _ in range(2))
    pd.testing.assert_frame_equal(a.tasks, b.tasks)
    pd.testing.assert_frame_equal(a.nodes, b.nodes)
    assert a.elastic == b.elastic


def check_invariants(autoscaler, seeds):
    """Tasks only on up nodes of their instance (and before its release), requested
    counts in [min_count, max_count], cost = sum of price x billed time, nothing lost,
    an uninterrupted attempt lasts duration / speed."""
    for seed in seeds:
        rng = np.random.default_rng([seed, 12])
        pl, ts, cl = elastic_trace(rng)
        if isinstance(autoscaler, dict) and autoscaler["kind"] == "schedule" and "small" not in set(cl["pool"]):
            continue
        horizon = 40.0
        res = simulate_simpy(pl, ts, cl, autoscaler=autoscaler, horizon=horizon, seed=seed,
                             placement=["first_fit", "best_fit", "worst_fit"][seed % 3])
        nodes, out = res.nodes, res.tasks
        # tasks on up nodes, within their instance's life
        for r in out[out["start"].notna()].itertuples():
            inst = nodes[(nodes["node"] == r.node) & (nodes["up"] <= r.start)
                         & ~(nodes["released"] <= r.start)]
            assert len(inst) == 1, (seed, r)
            released = inst["released"].iloc[0]
            if not math.isnan(r.end):
                assert math.isnan(released) or r.end <= released
            elif not math.isnan(released):   # unfinished: its last attempt was interrupted
                assert inst["release_reason"].iloc[0] == "interrupted"
        # requested counts within bounds at every request or release time
        for _, q in cl.iterrows():
            mine = nodes[nodes["pool"] == q["pool"]]
            for t in sorted(set(mine["requested"]) | set(mine["released"].dropna())):
                alive = ((mine["requested"] <= t) & ~(mine["released"] <= t)).sum()
                assert q["min_count"] <= alive <= q["max_count"], (seed, q["pool"], t)
        # cost from the timeline, in the model's summation order
        # (its own summation order, hence approx: the model adds in release order)
        m = dict(zip(cl["pool"], cl["billing_minimum"]))
        total = 0.0
        for _, q in cl.iterrows():
            mine = nodes[nodes["pool"] == q["pool"]]
            seconds = sum(min(max(r if not math.isnan(r) else math.inf, s + m[q["pool"]]), horizon) - s
                          for s, r in zip(mine["requested"], mine["released"]))
            total += q["price_per_hour"] * seconds / 3600.0
        assert res.elastic["cost"] == pytest.approx(total, rel=1e-12, abs=1e-12)
        # every task is accounted for
        assert set(out["status"]) <= {"completed", "unfinished", "not_started"}
        done = out[(out["status"] == "completed") & (out["restarts"] == 0)]
        speed = dict(zip(cl["pool"], cl["speed"]))
        dur = ts.set_index(["pipeline_id", "task"])["duration"]
        for r in done.itertuples():
            assert r.end == r.start + dur[(r.pipeline_id, r.task)] / speed[r.pool]


def test_an_interrupted_task_of_a_rejected_pipeline_is_cancelled_and_the_pipeline_finishes(monkeypatch):
    # model 0's pipeline: ev (evaluate, 2 s, rejects: candidate 0.5 < gate 0.6) and side
    # (10 s) from t = 0; side is interrupted at 5: cancelled, and the pipeline finishes at 5
    fixed_interruptions(monkeypatch, {("s", 1): [5.0]})
    pl = pd.DataFrame([{"pipeline_id": 0, "submit_time": 0.0, "model_id": 0, "candidate_accuracy": 0.5,
                        "candidate_robustness": 0.9, "candidate_fairness": 0.9}])
    ts = pd.DataFrame([{"pipeline_id": 0, "task": "ev", "type": "evaluate", "cpu": 1.0, "gpu": 0.0,
                        "mem_gb": 0.0, "duration": 2.0, "after": ""},
                       {"pipeline_id": 0, "task": "side", "type": "train", "cpu": 1.0, "gpu": 0.0,
                        "mem_gb": 0.0, "duration": 10.0, "after": ""}])
    models = pd.DataFrame([{"model_id": 0, "accuracy": 0.9, "robustness": 0.9, "fairness": 0.9,
                            "deployed_at": 0.0, "drift_per_day": 0.0, "threshold": 0.8, "on_drift": False,
                            "period": 0.0, "phase": 0.0, "template_pipeline_id": math.nan}])
    res = simulate_simpy(pl, ts, cluster(pool("s", 2, 1, spot=True, interruptions_per_day=1.0)),
                         models=models, accuracy_gate=0.6, horizon=50.0)
    assert col(res, "status") == ["completed", "cancelled"] and col(res, "restarts") == [0, 0]
    assert res.pipelines["end"].tolist() == [5.0]
    assert res.pipelines["outcome"].tolist() == ["rejected_by_evaluate"]
    assert res.elastic["tasks_restarted"] == 0 and res.elastic["work_lost_h"] == 5.0 / 3600.0
