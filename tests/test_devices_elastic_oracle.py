"""GPUs as devices on elastic clusters (MODEL.md 12.12): the compiled engine against the SimPy oracle.

On random device traces (``randtrace.random_elastic_device_trace``: fractions, whole GPUs,
specs and gangs of 1-3 parts) on clusters with elastic and spot pools (boot times, billing
minimums, an interruption every few seconds), the engine and ``benchmarks/simpy_model.py``
must give the identical task records (with restarts), device records, GPU timeline, gpu_*
summary, node timeline, MODEL.md 11.6 outputs (cost, counters, work lost) and event count,
for the static autoscaler (spot pools), target_utilization, schedule and custom. The
reactive autoscaler is not modelled on devices: simulate refuses it before anything runs.
"""
import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from benchmarks.simpy_model import DEVICE_PLACEMENTS, simulate_simpy
from randtrace import random_elastic_device_trace
from test_devices_oracle import assert_same_devices
from test_elastic_oracle import OUTPUTS, assert_same_elastic, engine_autoscaler
from test_oracle import assert_same_schedule

pytestmark = pytest.mark.crosspath

POLICIES = ("fifo", "priority", "sjf", "srpt")
HORIZON = 30.0
AUTOSCALERS = [
    "static",
    {"kind": "target_utilization", "interval": 1.0, "target": 0.6, "stabilization": 4.0},
    {"kind": "schedule", "interval": 1.0,
     "table": [{"pool": "g0", "day": -1, "hour": h, "count": h % 3} for h in range(24)]},
    {"kind": "custom", "interval": 2.0, "func": lambda q, up, booting, ready, u, now: ready + (now < 5)},
]


def _ids(a):
    return a if isinstance(a, str) else a["kind"]


def compare(pl, ts, cl, autoscaler, seed, policy, placement, ties, backfill, warmup):
    """Run both on one trace and assert they agree; returns (engine, oracle) results."""
    trace = fps.Trace.from_frames(pl, ts)
    res = fps.simulate(trace, fps.Cluster(cl), policy=policy, placement=placement, ties=ties, backfill=backfill,
                       horizon=HORIZON, warmup=warmup, seed=seed, autoscaler=engine_autoscaler(autoscaler),
                       devices=True, record_tasks=True, progress=False, threads=1)
    ref = simulate_simpy(pl, ts, cl, policy=policy, placement=placement, ties=ties, backfill=backfill,
                         horizon=HORIZON, warmup=warmup, seed=seed, autoscaler=autoscaler, devices=True)
    label = f"seed {seed} {_ids(autoscaler)} {policy}/{placement}/ties={ties}/backfill={backfill}/warmup={warmup}"
    assert_same_schedule(res.tasks, ref.tasks, label)
    assert_same_devices(res, ref, label)
    assert_same_elastic(res, ref, cl, label)
    return res, ref


def check_many(autoscaler, seeds, salt):
    active = {"interruptions": 0, "gang_restarts": 0, "scale": 0, "waits": 0}
    for seed in seeds:
        rng = np.random.default_rng([seed, salt])
        pl, ts, cl = random_elastic_device_trace(rng)
        placement = DEVICE_PLACEMENTS[seed % len(DEVICE_PLACEMENTS)]
        res, ref = compare(pl, ts, cl, autoscaler, seed, POLICIES[seed % len(POLICIES)], placement,
                           "random" if seed % 3 == 1 else "index", seed % 7 != 6, 4.0 if seed % 5 == 4 else 0.0)
        active["interruptions"] += ref.elastic["interruptions"]
        active["scale"] += ref.elastic["scale_ups"] + ref.elastic["scale_downs"]
        t = ref.tasks.assign(replicas=ts.set_index(["pipeline_id", "task"]).loc[
            list(zip(ref.tasks["pipeline_id"], ref.tasks["task"])), "replicas"].to_numpy())
        active["gang_restarts"] += int(((t["replicas"] > 1) & (t["restarts"] > 0)).sum())
        active["waits"] += int((ref.tasks["start"] > ref.tasks["ready"]).sum())
    return active


@pytest.mark.parametrize("autoscaler", AUTOSCALERS, ids=_ids)
def test_engine_equals_oracle_on_random_elastic_device_traces(autoscaler):
    active = check_many(autoscaler, range(8), 1213)
    # the comparison is worth something only if the mechanisms acted
    assert active["interruptions"] > 0 and active["waits"] > 0
    if autoscaler != "static":
        assert active["scale"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("autoscaler", AUTOSCALERS, ids=_ids)
def test_engine_equals_oracle_on_many_random_elastic_device_traces(autoscaler):
    active = check_many(autoscaler, range(8, 120), 1214)
    assert active["gang_restarts"] > 0


def test_the_reactive_autoscaler_on_devices_is_refused():
    """The reactive autoscaler's walk and scale-up options are defined on pooled capacity: with
    GPUs as devices simulate refuses the combination before anything runs (as the oracle does)."""
    pl = pd.DataFrame({"pipeline_id": [1], "submit_time": [0.0]})
    ts = pd.DataFrame({"pipeline_id": [1], "task": ["a"], "type": ["train"], "duration": [1.0], "cpu": [1.0],
                       "gpu": [0.5], "mem_gb": [1.0], "after": [""]})
    cl = pd.DataFrame([{"pool": "g", "count": 1, "cpu": 8.0, "gpu": 2.0, "mem_gb": 64.0, "speed": 1.0,
                        "price_per_hour": 1.0, "min_count": 0, "max_count": 2}])
    with pytest.raises(ValueError, match="reactive autoscaler.*devices"):
        fps.simulate(fps.Trace.from_frames(pl, ts), fps.Cluster(cl), horizon=5.0, autoscaler="reactive",
                     progress=False)
    with pytest.raises(NotImplementedError, match="reactive"):
        simulate_simpy(pl, ts, cl, horizon=5.0, autoscaler="reactive")


def test_a_task_whose_attempts_end_at_the_same_time_is_interrupted_once():
    """Regression (tests/data/elastic_devices_same_end): a task's interrupted attempt (started at 8 on
    a node of speed 0.5: it would have ended at 14) and its next attempt (started at 11 at speed 1:
    ending at 14 too) left two completion entries with the attempt's end time; the interruption
    of its node at 13.84 took it as a victim twice (queued twice, started twice)."""
    from pathlib import Path

    d = Path(__file__).resolve().parent / "data" / "elastic_devices_same_end"
    pl, ts, cl = (pd.read_csv(d / f"{name}.csv", keep_default_na=False)
                  for name in ("pipelines", "tasks", "cluster"))
    res, ref = compare(pl, ts, cl, AUTOSCALERS[1], 26, "sjf", "fgd", "index", True, 0.0)
    t = ref.tasks.set_index(["pipeline_id", "task"])
    assert t.loc[(123, "t0"), "start"] == 13.839882041907691


@pytest.mark.parametrize("autoscaler", [AUTOSCALERS[0], AUTOSCALERS[3]], ids=_ids)
def test_engine_equals_oracle_with_the_lifecycle(autoscaler):
    """Gates, deploys and rules on devices on elastic and spot pools: the rules' copies take the
    next placement slots, interrupted copies restart, a rejected pipeline's task is cancelled."""
    from test_devices_oracle import _device_lifecycle_case

    restarted = copies = 0
    for seed in range(6):
        pl, ts, cl, models, gates = _device_lifecycle_case(seed)
        rng = np.random.default_rng([seed, 1216])
        cl["min_count"] = np.minimum(1, cl["count"])
        cl["max_count"] = cl["count"] + rng.integers(0, 2, len(cl))
        cl["boot_time"] = rng.choice([0.0, 1.0, 2.5], len(cl))
        cl["spot"] = rng.random(len(cl)) < 0.6
        cl["interruptions_per_day"] = np.where(cl["spot"], 86400.0 / rng.choice([3.0, 8.0]), 0.0)
        policy = ("fifo", "staleness", "srpt")[seed % 3]
        trace = fps.Trace.from_frames(pl, ts, models)
        res = fps.simulate(trace, fps.Cluster(cl), policy=policy, placement="fgd", horizon=HORIZON, seed=seed,
                           autoscaler=engine_autoscaler(autoscaler), devices=True, record_tasks=True,
                           progress=False, threads=1, **gates)
        ref = simulate_simpy(pl, ts, cl, policy=policy, placement="fgd", horizon=HORIZON, seed=seed,
                             autoscaler=autoscaler, devices=True, models=models, **gates)
        label = f"seed {seed} {_ids(autoscaler)} {policy}"
        assert_same_schedule(res.tasks, ref.tasks, label)
        assert_same_devices(res, ref, label)
        a = res.tasks.sort_values(["pipeline_id", "task"])["restarts"].to_numpy()
        b = ref.tasks.sort_values(["pipeline_id", "task"])["restarts"].to_numpy()
        assert (a == b).all(), label
        got = res.pipelines.sort_values("pipeline_id")
        want = ref.pipelines.sort_values("pipeline_id")
        assert got["outcome"].astype(str).tolist() == want["outcome"].astype(str).tolist(), label
        row = res.summary.iloc[0]
        for k in OUTPUTS:
            assert row[k] == ref.elastic[k], (label, k)
        restarted += int(a.sum())
        copies += int((ref.pipelines["triggered_by"] != "exogenous").sum())
    assert restarted > 0 and copies > 0
