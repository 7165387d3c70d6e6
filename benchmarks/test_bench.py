"""pytest-benchmark cases: the engine on seeded workloads, and the SimPy model beside it.

Not part of the test suite: ``setup.cfg`` collects ``tests/`` only. Run them with

    python -m pytest benchmarks/test_bench.py --benchmark-only

Cases of the same group are timed side by side, so pytest-benchmark's table shows the
engine / SimPy ratio of one run. Each case records its events per second in
``extra_info`` (``--benchmark-json`` writes it out). ``benchmarks/bench.py`` is the full
report (compile time, warm start, memory, thread scaling).
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fastpipesim as fps  # noqa: E402
from fastpipesim.modelops import ModelOpsWorkload  # noqa: E402

from benchmarks.bench import (HORIZON, SEED, _lifecycle_trace_tables, overloaded, single_queue,  # noqa: E402
                              single_task_tables)
from benchmarks.simpy_model import simulate_simpy  # noqa: E402

KW = dict(policy="fifo", placement="first_fit", backfill=True)


def _events_per_s(benchmark, events):
    benchmark.extra_info["events"] = int(events)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["events_per_s"] = events / stats.stats.median


def _engine(batch, cluster, horizon=None, **options):
    """One simulate() of a pre-generated batch on one thread; compiled (or loaded) first."""
    kw = {**KW, **options}

    def run():
        return fps.simulate(batch, cluster, threads=1, progress=False, horizon=horizon, **kw)

    run()
    return run


@pytest.fixture(scope="module")
def default_case():
    wl = ModelOpsWorkload()
    return wl, fps.default_cluster()


@pytest.mark.benchmark(group="default workload, 1 replication")
def test_engine_default_one_replication(benchmark, default_case):
    wl, cl = default_case
    run = _engine(wl.generate(SEED, 0), cl, HORIZON, lifecycle=False)  # as the SimPy case: MODEL.md 1-6
    res = benchmark(run)
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="default workload, 1 replication")
def test_simpy_default_one_replication(benchmark, default_case):
    wl, cl = default_case
    tb = wl.tables(SEED, 0)  # the same replication as the engine's case
    res = benchmark.pedantic(simulate_simpy, args=(tb["pipelines"], tb["tasks"], cl.pools),
                             kwargs=dict(horizon=HORIZON, **KW), rounds=3, iterations=1)
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="default workload, batch")
def test_engine_default_batch(benchmark, default_case):
    wl, cl = default_case
    run = _engine(wl.batch(SEED, range(16)), cl, HORIZON, lifecycle=False)
    res = benchmark(run)
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="single queue")
def test_engine_single_queue_100k(benchmark):
    _, batch, cl = single_queue(100_000)
    res = benchmark(_engine(batch, cl))
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="overloaded, small")
def test_engine_overloaded_small(benchmark):
    batch, cl = overloaded(1000, 10, load=2.0)
    res = benchmark(_engine(batch, cl))
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="overloaded, small")
def test_simpy_overloaded_small(benchmark):
    batch, cl = overloaded(1000, 10, load=2.0)
    tb = single_task_tables(batch)
    res = benchmark.pedantic(simulate_simpy, args=(tb["pipelines"], tb["tasks"], cl.pools), kwargs=KW,
                             rounds=3, iterations=1)
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="overloaded, large")
def test_engine_overloaded_20k_tasks_100_nodes(benchmark):
    batch, cl = overloaded(20_000, 100, load=2.0)
    res = benchmark(_engine(batch, cl))
    _events_per_s(benchmark, res.n_events)


# The ML model lifecycle (MODEL.md 7): the same 16 replications with it off and on
# (the workload's gates), with the staleness policy, and with on_drift retraining
# (more pipelines: compare events_per_s). benchmarks/bench.py section h has the ratios.

@pytest.mark.benchmark(group="lifecycle, 16 replications")
@pytest.mark.parametrize("case", ["off", "on", "staleness", "on_drift"])
def test_engine_lifecycle(benchmark, default_case, case):
    wl, cl = default_case
    options = {"off": dict(lifecycle=False), "on": dict(lifecycle=True),
               "staleness": dict(lifecycle=True, policy="staleness"), "on_drift": dict(lifecycle=True)}[case]
    if case == "on_drift":
        wl = dataclasses.replace(wl, on_drift=True)
    res = benchmark(_engine(wl.batch(SEED, range(16)), cl, HORIZON, **options))
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="lifecycle, 1 replication as a trace")
def test_engine_lifecycle_trace(benchmark, default_case):
    wl, cl = default_case
    p, t, m = _lifecycle_trace_tables(wl, SEED, 0, rules=False)
    gates = dict(accuracy_gate=wl.accuracy_gate, fairness_gate=wl.fairness_gate,
                 robustness_gate=wl.robustness_gate)
    res = benchmark(_engine(fps.Trace.from_frames(p, t, m), cl, HORIZON, **gates))
    _events_per_s(benchmark, res.n_events)


@pytest.mark.benchmark(group="lifecycle, 1 replication as a trace")
def test_simpy_lifecycle_trace(benchmark, default_case):
    wl, cl = default_case
    p, t, m = _lifecycle_trace_tables(wl, SEED, 0, rules=False)  # the engine's case above
    gates = dict(accuracy_gate=wl.accuracy_gate, fairness_gate=wl.fairness_gate,
                 robustness_gate=wl.robustness_gate)
    res = benchmark.pedantic(simulate_simpy, args=(p, t, cl.pools),
                             kwargs=dict(horizon=HORIZON, models=m, **gates, **KW), rounds=3, iterations=1)
    _events_per_s(benchmark, res.n_events)
