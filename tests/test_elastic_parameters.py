"""MODEL.md 11 parameters in the Python layer: the cluster table's elastic and spot
columns, the autoscaler objects, the spot streams (against the SimPy oracle's own
reading of MODEL.md 11.5) and fpmath.log. No simulation: the engine does not take
them yet."""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim import autoscalers as asc
from fastpipesim.engine import constants, fpmath
from fastpipesim.spot import cluster_spot_times, interruption_times

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import simpy_model  # noqa: E402

BASE = {"pool": "g", "count": 2, "cpu": 8.0, "gpu": 1.0, "mem_gb": 32.0}


def make(**kw):
    return fps.Cluster.from_pools([{**BASE, **kw}])


# ---- the cluster table ----------------------------------------------------------------

def test_a_table_without_elastic_columns_is_unchanged_and_static():
    c = fps.default_cluster()
    assert list(c.pools.columns) == list(fps.cluster.CLUSTER_COLUMNS)
    assert not c.is_elastic and c.n_slots == c.n_nodes
    full = c.elastic_pools()
    assert (full["min_count"] == full["count"]).all() and (full["max_count"] == full["count"]).all()
    assert not full["spot"].any() and (full["boot_time"] == 0).all()


def test_elastic_columns_get_their_defaults():
    c = make(max_count=5, boot_time=240)
    p = c.pools.iloc[0]
    assert (p["min_count"], p["max_count"], p["boot_time"], p["billing_minimum"], p["spot"],
            p["interruptions_per_day"]) == (2, 5, 240.0, 0.0, False, 0.0)
    assert c.is_elastic and c.n_slots == 5 and c.n_nodes == 2
    # the columns present but every pool static and not spot: not elastic
    assert not make(min_count=2, max_count=2, boot_time=60).is_elastic
    assert make(spot=True).is_elastic


@pytest.mark.parametrize("spot,expected", [("true", True), ("False", False), ("yes", True), (1, True),
                                           (0.0, False), (None, False), (True, True)])
def test_spot_reads_booleans_as_written_in_files(spot, expected):
    assert bool(make(spot=spot).pools["spot"].iloc[0]) is expected


@pytest.mark.parametrize("bad,rule", [
    ({"min_count": 3}, "min_count must be <= count"),
    ({"max_count": 1}, "count must be <= max_count"),
    ({"min_count": -1}, "'min_count' must be a whole number >= 0"),
    ({"max_count": 2.5}, "'max_count' must be a whole number >= 0"),
    ({"boot_time": -5}, "'boot_time' must be >= 0"),
    ({"boot_time": math.inf}, "'boot_time' must hold finite numbers"),
    ({"billing_minimum": -60}, "'billing_minimum' must be >= 0"),
    ({"interruptions_per_day": -1, "spot": True}, "'interruptions_per_day' must be >= 0"),
    ({"interruptions_per_day": 2.0}, "interruptions_per_day > 0 needs spot = true"),
    ({"spot": "sometimes"}, "'spot' must be true or false"),
])
def test_bad_elastic_columns_name_the_rule_and_the_row(bad, rule):
    with pytest.raises(fps.InputError, match=rule) as err:
        fps.Cluster.from_pools([{**BASE, "pool": "ok"}, {**BASE, **bad}], source="pools.csv")
    assert err.value.source == "pools.csv" and err.value.rows == [3]


def test_an_elastic_cluster_may_start_empty_but_needs_a_slot(tmp_path):
    assert make(count=0, min_count=0, max_count=4).n_nodes == 0
    with pytest.raises(fps.InputError, match="no node slots"):
        make(count=0, min_count=0, max_count=0)
    path = tmp_path / "cluster.csv"
    path.write_text("pool,count,cpu,gpu,mem_gb,min_count,max_count,spot,interruptions_per_day\n"
                    "gpu,1,48,4,192,0,8,true,3\ncpu,2,32,0,128,,,,\n")
    c = fps.read_cluster(path)
    assert c.pools["max_count"].tolist() == [8, 2] and c.pools["spot"].tolist() == [True, False]
    assert c.pools["interruptions_per_day"].tolist() == [3.0, 0.0]


# ---- autoscalers ---------------------------------------------------------------------------

def test_defaults_and_codes():
    r = asc.Reactive()
    assert (r.interval, r.idle_timeout, r.expander, r.code) == (10.0, 600.0, "least_waste",
                                                               constants.AUTOSCALER_REACTIVE)
    t = asc.TargetUtilization()
    assert (t.interval, t.tolerance, t.stabilization, t.resource) == (15.0, 0.1, 300.0, "auto")
    assert asc.autoscaler_from(None) == asc.Static() and asc.autoscaler_from("reactive") == r
    assert asc.autoscaler_from(r) is r
    p = asc.Reactive(expander="cheapest").kernel_parameters()
    assert p.shape == (constants.N_AUTOSCALER_PARAMETERS,)
    assert p[constants.AUTOSCALER_PARAMETERS.index("expander")] == constants.EXPANDER_CHEAPEST
    assert np.isnan(p[constants.AUTOSCALER_PARAMETERS.index("target")])
    q = asc.TargetUtilization(target=0.6, resource="gpu").kernel_parameters()
    assert q[constants.AUTOSCALER_PARAMETERS.index("resource")] == constants.DIM_GPU
    assert asc.TargetUtilization().kernel_parameters()[-1] == constants.RESOURCE_AUTO


@pytest.mark.parametrize("build,rule", [
    (lambda: asc.Reactive(interval=0), "interval must be > 0"),
    (lambda: asc.Reactive(idle_timeout=-1), "idle_timeout must be >= 0"),
    (lambda: asc.Reactive(expander="random"), "unknown expander"),
    (lambda: asc.TargetUtilization(target=1.5), r"target is a utilization in \(0, 1\]"),
    (lambda: asc.TargetUtilization(target=0), "target must be > 0"),
    (lambda: asc.TargetUtilization(tolerance=-0.1), "tolerance must be >= 0"),
    (lambda: asc.TargetUtilization(stabilization=math.nan), "stabilization must be finite"),
    (lambda: asc.TargetUtilization(resource="disk"), "unknown resource"),
    (lambda: asc.Custom(func=None), "needs a function"),
    (lambda: asc.Custom(func=lambda pool, up: 1), "must take 6 arguments"),
    (lambda: asc.Schedule(), "needs a table"),
    (lambda: asc.Schedule([{"pool": "g", "day": 7, "hour": 0, "count": 1}]), r"'day' must be a whole number in \[-1, 6\]"),
    (lambda: asc.Schedule([{"pool": "g", "day": 0, "hour": 24, "count": 1}]), "'hour'"),
    (lambda: asc.Schedule([{"pool": "g", "day": 0, "hour": 1, "count": -2}]), "'count' must be a whole number >= 0"),
    (lambda: asc.Schedule([{"pool": "g", "day": -1, "hour": 3, "count": 1},
                           {"pool": "g", "day": 4, "hour": 3, "count": 2}]), "two rows for day 4 hour 3"),
    (lambda: asc.autoscaler_from("schedule"), "needs parameters"),
    (lambda: asc.autoscaler_from("hpa"), "unknown autoscaler"),
])
def test_bad_parameters_are_clear_errors(build, rule):
    with pytest.raises(fps.InputError, match=rule):
        build()


def test_schedule_counts_by_hour_wrap_around_the_week():
    s = asc.Schedule([{"pool": "g", "day": -1, "hour": 8, "count": 3},
                      {"pool": "g", "day": 0, "hour": 2, "count": 2}])
    counts = s.counts_by_hour(["cpu", "g"])
    assert (counts[0] == -1).all()
    g = counts[1]
    assert g[0] == g[1] == 3          # Monday 0-1 h: Sunday 08:00's row still holds
    assert g[2] == g[7] == 2 and g[8] == 3 and g[24 + 7] == 3 and g[167] == 3
    with pytest.raises(fps.InputError, match="unknown pool"):
        s.counts_by_hour(["cpu"])


def test_custom_accepts_six_arguments():
    c = asc.Custom(lambda pool, up, booting, ready, utilization, now: up + (ready > 0), interval=30)
    assert c.func(0, 2, 0, 1, 0.5, 0.0) == 3 and c.code == constants.AUTOSCALER_CUSTOM


def test_the_oracle_reads_the_autoscaler_objects():
    params = simpy_model.autoscaler_parameters(asc.Reactive(idle_timeout=30, expander="first"))
    assert params == {"kind": "reactive", "interval": 10.0, "idle_timeout": 30.0, "expander": "first"}
    params = simpy_model.autoscaler_parameters(asc.TargetUtilization(target=0.5))
    assert params["target"] == 0.5 and params["interval"] == 15.0
    # and the same defaults, written twice (MODEL.md 11.4): the package's and the oracle's
    for name in ("reactive", "target_utilization"):
        obj = asc.autoscaler_from(name)
        ref = simpy_model.AUTOSCALER_DEFAULTS[name]
        assert {k: getattr(obj, k) for k in ref} == ref


# ---- spot streams and fpmath.log ------------------------------------------------------------

@pytest.mark.parametrize("seed,rep,pool,slot,rate", [(0, 0, "gpu", 0, 3.0), (7, 4, "spot-a100", 5, 48.0),
                                                    (123, 1, "cpu", 2, 0.5)])
def test_spot_times_equal_the_oracles(seed, rep, pool, slot, rate):
    mine = interruption_times(seed, rep, pool, slot, rate, 30 * 86400.0)
    ref = simpy_model.interruption_times(seed, rep, pool, slot, rate, 30 * 86400.0)
    assert mine.tolist() == ref and len(ref) > 0


def test_cluster_spot_times_by_global_slot():
    c = fps.Cluster.from_pools([{**BASE, "pool": "a", "count": 1, "max_count": 2},
                                {**BASE, "pool": "b", "count": 1, "max_count": 3, "spot": True,
                                 "interruptions_per_day": 24.0}])
    st = cluster_spot_times(c, seed=3, replication=2, horizon=86400.0)
    assert st.ptr.shape == (6,) and st.ptr[0] == st.ptr[1] == st.ptr[2] == 0
    for j in range(3):
        got = st.times[st.ptr[2 + j]:st.ptr[3 + j]]
        assert got.tolist() == simpy_model.interruption_times(3, 2, "b", j, 24.0, 86400.0)


def test_spot_times_are_a_poisson_process_of_the_rate():
    # 400 slots x 10 days at 6 per day: 24000 expected; 4 sd of a Poisson count is ~620
    n = sum(len(interruption_times(1, 0, "p", j, 6.0, 10 * 86400.0)) for j in range(400))
    assert abs(n - 24000) < 4 * math.sqrt(24000)


def test_fpmath_log_is_the_c_library_log():
    x = np.random.default_rng(0).random(1000) + 1e-3
    assert fpmath.log(x).tolist() == [math.log(v) for v in x]
    assert fpmath.log(np.array([[1.0, 0.0], [-1.0, math.e]])).tolist()[0] == [0.0, -math.inf]
    assert math.isnan(fpmath.log(np.array([-1.0]))[0])
    assert fpmath.log_nb.py_func(x).tolist() == fpmath.log(x).tolist()
