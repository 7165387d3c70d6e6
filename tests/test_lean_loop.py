"""The lean event loop for jobs (engine/jobs.py) against the general loop, bit for bit.

``simulate`` sends a replication whose pipelines are all one task with no edge, on
a static cluster, under fifo, priority, sjf or srpt with a pooled placement and no
lifecycle, rules, series or devices, to the lean loop. Here every random workload
runs twice, with ``simulate.LEAN_LOOP`` on and off, and every output must be
identical: task and pipeline records, summary, type waits, the number of events
and of passes, the ready-queue area and the allocation integrals. The workloads
are built to make ties: arrivals on an integer grid (often several at one time,
not in pipeline order), durations on a grid (completions at arrival times, some
zero), several request shapes, pools of nodes of several speeds (some empty),
horizons and warmups.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import fastpipesim as fps
from fastpipesim.engine.constants import STANDARD_TYPES
from fastpipesim.workload import Batch, ModelTable, build_arrays, concat_batches

pytestmark = pytest.mark.crosspath

sim_mod = sys.modules["fastpipesim.simulate"]  # the package's `simulate` attribute is the function

POLICIES = ("fifo", "priority", "sjf", "srpt")
PLACEMENTS = ("first_fit", "best_fit", "worst_fit")
# (tenths, which binary floats do not hold exactly, make the order of completions and starts show in
# the free capacity and the allocation integrals)
REQUESTS = np.array([(1.0, 0.0, 0.0), (2.0, 0.0, 4.0), (0.5, 1.0, 8.0), (3.0, 0.0, 2.0), (1.0, 2.0, 0.0),
                     (0.25, 0.0, 16.0), (0.1, 0.0, 0.3), (0.7, 0.0, 0.1), (0.3, 1.0, 0.7)])


@pytest.fixture
def lean_calls(monkeypatch):
    """Counts the replications the lean loop simulated to the end (and lets LEAN_LOOP be switched)."""
    calls = [0]
    real = sim_mod.run_jobs_nb

    def counted(*args):
        done = real(*args)
        calls[0] += bool(done)
        return done

    monkeypatch.setattr(sim_mod, "run_jobs_nb", counted)
    monkeypatch.setattr(sim_mod, "LEAN_LOOP", True)
    return calls


def jobs_batch(rng: np.random.Generator, n: int, replication: int = 0, type_names=("job", "other")) -> Batch:
    """n one-task pipelines with tie-heavy arrivals and durations and a few request shapes."""
    grid = float(rng.choice([1.0, 0.5]))
    span = max(1, int(n * rng.uniform(0.2, 1.5)))
    submit = rng.integers(0, span, n) * grid
    if rng.random() < 0.5:
        submit = np.sort(submit)   # sorted (a generator's) or not (a trace's in pipeline_id order)
    if rng.random() < 0.5:
        duration = rng.integers(1, 6, n) * grid
    else:
        duration = np.round(rng.exponential(3.0, n), 2) + 0.01
    if rng.random() < 0.3:
        duration[rng.random(n) < 0.1] = 0.0   # zero durations: a completion at the very instant it starts
    n_shapes = int(rng.integers(1, 4))
    shapes = rng.choice(len(REQUESTS), n_shapes, replace=False)
    req = REQUESTS[shapes[rng.integers(0, n_shapes, n)]]
    empty = np.zeros(0, np.int64)
    arrays = build_arrays(
        pipeline_id=np.arange(n, dtype=np.int64), submit=submit.astype(float), model=np.zeros(n, np.int64),
        priority=rng.integers(0, 4, n), task_count=np.ones(n, np.int64),
        task_type=len(STANDARD_TYPES) + rng.integers(0, len(type_names), n), cpu=req[:, 0], gpu=req[:, 1],
        mem=req[:, 2], duration=duration, edge_pred=empty, edge_succ=empty,
    )
    return Batch(arrays=arrays, type_names=STANDARD_TYPES + tuple(type_names),
                 task_names=np.full(n, "job", dtype=object), replications=np.array([replication], np.int64))


def random_cluster(rng: np.random.Generator) -> fps.Cluster:
    """One to three pools of nodes that fit every request of REQUESTS, of several speeds (some empty)."""
    pools = []
    for q in range(int(rng.integers(1, 4))):
        pools.append({"pool": f"p{q}", "count": int(rng.integers(0 if q else 1, 4)),
                      "cpu": float(rng.choice([3.0, 4.0, 6.5])), "gpu": float(rng.choice([2.0, 3.0])),
                      "mem_gb": float(rng.choice([16.0, 32.0])),
                      "speed": float(rng.choice([0.5, 1.0, 1.5, 2.0])),
                      "price_per_hour": 1.0})
    return fps.Cluster.from_pools(pools)


def both_paths(batch, cluster, monkeypatch, **kw):
    """simulate with the lean loop allowed, then with the general loop only."""
    out = []
    for lean in (True, False):
        monkeypatch.setattr(sim_mod, "LEAN_LOOP", lean)
        out.append(fps.simulate(batch, cluster, record_tasks=True, threads=1, progress=False, **kw))
    return out


def assert_same(a, b):
    for name in ("summary", "tasks", "pipelines", "type_waits"):
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    assert a.n_events == b.n_events
    for pa, pb in zip(a._parts, b._parts):
        # end time, events, ready-queue area, passes; the allocation integrals
        assert np.array_equal(pa.rep, pb.rep), (pa.rep, pb.rep)
        assert np.array_equal(pa.alloc, pb.alloc)
        for name in pa.records:
            assert np.array_equal(pa.records[name], pb.records[name], equal_nan=True), name


def run_case(seed: int, monkeypatch, lean_calls, max_jobs: int = 60):
    rng = np.random.default_rng(seed)
    n_reps = int(rng.integers(1, 4))
    batch = concat_batches([jobs_batch(rng, int(rng.integers(1, max_jobs)), replication=r)
                            for r in range(n_reps)])
    cluster = random_cluster(rng)
    end = float(batch.arrays.submit.max()) + 10.0
    kw = dict(policy=POLICIES[seed % 4], placement=PLACEMENTS[(seed // 4) % 3],
              backfill=bool(rng.random() < 0.6))
    if rng.random() < 0.5:
        # on the grid: events at the horizon are applied
        kw["horizon"] = float(rng.integers(1, int(end) + 2))
    if rng.random() < 0.5:
        kw["warmup"] = float(rng.integers(0, int(end)))
    before = lean_calls[0]
    a, b = both_paths(batch, cluster, monkeypatch, **kw)
    assert lean_calls[0] - before == n_reps   # every replication went through the lean loop, once
    assert_same(a, b)


@pytest.mark.parametrize("seed", range(48))
def test_lean_loop_same_as_general_loop(seed, monkeypatch, lean_calls):
    """Random job workloads under each policy, placement and backfill: identical outputs."""
    run_case(seed, monkeypatch, lean_calls)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(48, 648))
def test_lean_loop_same_as_general_loop_many(seed, monkeypatch, lean_calls):
    run_case(seed, monkeypatch, lean_calls, max_jobs=400)


@pytest.mark.parametrize("servers,n_shapes", [(1, 1), (8, 1), (5, 3)])
def test_lean_loop_queues_under_load(servers, n_shapes, monkeypatch, lean_calls):
    """Long queues (utilization above 1, then drained) and a horizon that cuts the run."""
    q = fps.QueueWorkload(rate=1.3 * servers, n_jobs=3000)
    batch = q.generate(3, 0)
    if n_shapes > 1:
        wa = batch.arrays
        req = REQUESTS[np.random.default_rng(0).integers(0, n_shapes, wa.n_tasks)]
        batch = Batch(arrays=wa._replace(cpu=req[:, 0].copy(), gpu=req[:, 1].copy(), mem=req[:, 2].copy()),
                      type_names=batch.type_names, task_names=batch.task_names,
                      replications=batch.replications)
        cluster = fps.Cluster.from_pools([{"pool": "n", "count": servers, "cpu": 4.0, "gpu": 2.0,
                                           "mem_gb": 16.0}])
    else:
        cluster = q.cluster(servers)
    for kw in ({}, {"horizon": 1000.0, "warmup": 100.0}, {"policy": "sjf", "placement": "best_fit"},
               {"backfill": False, "placement": "worst_fit"}):
        a, b = both_paths(batch, cluster, monkeypatch, **kw)
        assert_same(a, b)
    assert lean_calls[0] == 4


def test_lean_loop_through_generators_and_traces(monkeypatch, lean_calls):
    """simulate(QueueWorkload) over replications, and a Trace of one-task pipelines, take the lean path."""
    q = fps.QueueWorkload(rate=2.7, n_jobs=500, service="lognormal", cv=2.0)
    outs = []
    for lean in (True, False):
        monkeypatch.setattr(sim_mod, "LEAN_LOOP", lean)
        outs.append(fps.simulate(q, q.cluster(3), replications=3, seed=4, threads=2, progress=False,
                                 record_tasks=True))
    assert_same(*outs)
    assert lean_calls[0] == 3
    rng = np.random.default_rng(1)
    n = 40
    ids = rng.permutation(np.arange(10, 10 + 2 * n))[:n]
    pipelines = pd.DataFrame({"pipeline_id": ids, "submit_time": rng.integers(0, 20, n).astype(float),
                              "priority": rng.integers(0, 3, n)})
    tasks = pd.DataFrame({"pipeline_id": ids, "task": "t", "type": rng.choice(["train", "job"], n),
                          "cpu": rng.choice([1.0, 2.0], n), "gpu": 0.0, "mem_gb": 1.0,
                          "duration": rng.integers(1, 5, n).astype(float), "after": ""})
    trace = fps.Trace.from_frames(pipelines, tasks)
    cl = fps.Cluster.from_pools([{"pool": "a", "count": 2, "cpu": 2.0, "gpu": 0.0, "mem_gb": 4.0,
                                  "speed": 1.5}])
    for policy in ("priority", "fifo"):
        a, b = both_paths(trace, cl, monkeypatch, policy=policy)
        assert_same(a, b)
    assert lean_calls[0] == 5


def test_ineligible_runs_take_the_general_loop(monkeypatch, lean_calls):
    """Pipelines of two tasks, an elastic or a large cluster, the lifecycle, rules, series, devices,
    staleness or a custom key: the general loop; and a run of jobs does take the lean loop."""
    rng = np.random.default_rng(5)
    jobs = jobs_batch(rng, 30)
    cluster = random_cluster(rng)
    kw = dict(threads=1, progress=False)
    fps.simulate(jobs, cluster, **kw)
    assert lean_calls[0] == 1
    # one pipeline of two tasks (an edge) among jobs
    two = Batch(arrays=build_arrays(
        pipeline_id=np.arange(2), submit=np.array([0.0, 1.0]), model=np.zeros(2, np.int64),
        priority=np.zeros(2, np.int64), task_count=np.array([1, 2]),
        task_type=np.full(3, len(STANDARD_TYPES)),
        cpu=np.ones(3), gpu=np.zeros(3), mem=np.zeros(3), duration=np.ones(3), edge_pred=np.array([1]),
        edge_succ=np.array([2])), type_names=jobs.type_names, task_names=np.full(3, "job", dtype=object),
        replications=np.array([0]))
    fps.simulate(two, cluster, **kw)
    # two tasks without an edge
    two_free = Batch(arrays=two.arrays._replace(n_pred=np.zeros(3, np.int64), succ_ptr=np.zeros(4, np.int64),
                                                succ=np.zeros(0, np.int64)),
                     type_names=two.type_names, task_names=two.task_names, replications=two.replications)
    fps.simulate(two_free, cluster, **kw)
    # jobs, but not a lean run
    fps.simulate(jobs, cluster, policy="staleness", **kw)
    fps.simulate(jobs, cluster, policy=fps.custom_policy(lambda ready: ready), **kw)
    fps.simulate(jobs, cluster, series_bin=5.0, horizon=50.0, **kw)
    fps.simulate(jobs, cluster, devices=True, **kw)
    elastic = fps.Cluster.from_pools([{"pool": "a", "count": 2, "min_count": 1, "max_count": 3, "cpu": 4.0,
                                       "gpu": 2.0, "mem_gb": 32.0}])
    fps.simulate(jobs, elastic, horizon=100.0, **kw)
    # a cluster of more than LEAN_MAX_NODES nodes (the general loop's log of freed nodes is faster)
    big = fps.Cluster.from_pools([{"pool": "a", "count": sim_mod.LEAN_MAX_NODES + 1, "cpu": 4.0,
                                   "gpu": 2.0, "mem_gb": 32.0}])
    fps.simulate(jobs, big, **kw)
    # jobs of a model with a lifecycle state (MODEL.md 7: no rules, but deploys and gates would act)
    table = ModelTable(model_id=np.array([0]), accuracy=np.array([0.9]), robustness=np.array([0.9]),
                       fairness=np.array([0.9]), deployed_at=np.array([0.0]), drift_per_day=np.array([0.1]),
                       threshold=np.array([0.5]), on_drift=np.array([False]), period=np.array([0.0]),
                       phase=np.array([0.0]))
    with_models = dataclasses.replace(jobs, models=(table,))
    fps.simulate(with_models, cluster, **kw)
    assert lean_calls[0] == 1
    fps.simulate(with_models, cluster, lifecycle=False, **kw)   # the lifecycle off: jobs again
    assert lean_calls[0] == 2
    monkeypatch.setattr(sim_mod, "LEAN_LOOP", False)
    fps.simulate(jobs, cluster, **kw)
    assert lean_calls[0] == 2


def test_lean_loop_giving_up_leaves_the_general_loops_outputs(monkeypatch):
    """If the lean loop returns False (its completion heap full, which its bound rules out), the
    general loop runs the replication again over whatever the lean loop wrote."""
    rng = np.random.default_rng(11)
    batch = concat_batches([jobs_batch(rng, 40, replication=r) for r in range(2)])
    cluster = random_cluster(rng)
    kw = dict(record_tasks=True, threads=1, progress=False, horizon=30.0, warmup=3.0)
    monkeypatch.setattr(sim_mod, "LEAN_LOOP", False)
    ref = fps.simulate(batch, cluster, **kw)
    real = sim_mod.run_jobs_nb

    def gives_up(*args):
        real(*args)   # writes every output, the integrals included
        return False

    monkeypatch.setattr(sim_mod, "LEAN_LOOP", True)
    monkeypatch.setattr(sim_mod, "run_jobs_nb", gives_up)
    assert_same(fps.simulate(batch, cluster, **kw), ref)


def test_lean_loop_requests_of_nothing_and_of_almost_nothing(monkeypatch, lean_calls):
    """Jobs that request nothing all run at once; tiny requests nearly so (the completion heap's bound)."""
    rng = np.random.default_rng(2)
    batch = jobs_batch(rng, 200)
    wa = batch.arrays
    cpu = np.where(rng.random(wa.n_tasks) < 0.5, 0.0, 1e-12)
    zero = np.zeros(wa.n_tasks)
    batch = dataclasses.replace(batch, arrays=wa._replace(cpu=cpu, gpu=zero, mem=zero.copy()))
    cluster = fps.Cluster.from_pools([{"pool": "a", "count": 2, "cpu": 1.0, "gpu": 0.0, "mem_gb": 0.0}])
    a, b = both_paths(batch, cluster, monkeypatch)
    assert_same(a, b)
    assert lean_calls[0] == 1
