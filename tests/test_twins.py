"""Every compiled kernel has a plain-Python twin that gives the same answers (STYLE.md).

Three levels:

* each kernel's ``.py_func`` against the compiled kernel on the same inputs:
  heaps on random operation sequences, placement, percentiles, critical paths,
  the per-replication summary, and the event loop itself (its py_func calls the
  compiled helpers, so the loop's own logic runs in Python);
* ``simulate`` with every Numba function of the engine replaced by its
  py_func (the whole engine in Python, in this process), for every policy
  including a custom one (a ``cfunc`` is callable from Python), against the
  compiled run;
* ``simulate`` in a subprocess under ``NUMBA_DISABLE_JIT=1``.

Outputs must be identical, bit for bit.
"""
from __future__ import annotations

import itertools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba.core.registry import CPUDispatcher

import fastpipesim as fps
from fastpipesim.engine import devices as engine_devices
from fastpipesim.engine import elastic as engine_elastic
from fastpipesim.engine import jobs as engine_jobs
from fastpipesim.engine import heaps, loop, summary
from fastpipesim.engine import lifecycle as engine_lifecycle
from fastpipesim.engine import series as engine_series
from fastpipesim.engine.constants import N_MODEL_ACCUMULATORS, PLACEMENTS
from fastpipesim.lifecycle import no_lifecycle
from fastpipesim.workload import concat_batches
from randtrace import random_trace

pytestmark = pytest.mark.crosspath

ROOT = Path(__file__).resolve().parent.parent
sim_mod = sys.modules["fastpipesim.simulate"]  # the package's `simulate` attribute is the function


def _hrrn(now, ready, duration):
    return -(now - ready + duration) / duration


# --------------------------------------------------------------------------- heaps
def test_event_heap_twin():
    """Random pushes and pops (coarse times: many ties, broken by task index)."""
    for trial in range(20):
        results = []
        for push, pop in ((heaps.ev_push, heaps.ev_pop), (heaps.ev_push.py_func, heaps.ev_pop.py_func)):
            r = np.random.default_rng(trial)
            cap = 200
            t, task = np.zeros(cap), np.zeros(cap, np.int64)
            size, popped = 0, []
            for _ in range(300):
                if size < cap and (size == 0 or r.random() < 0.6):
                    size = push(t, task, size, float(r.integers(0, 10)), int(r.integers(0, 1000)))
                else:
                    popped.append((float(t[0]), int(task[0])))
                    size = pop(t, task, size)
            results.append((popped, t[:size].copy(), task[:size].copy()))
        (pa, ta, ka), (pb, tb, kb) = results
        assert pa == pb and np.array_equal(ta, tb) and np.array_equal(ka, kb)
    # and the order is (time, task): a full drain comes out sorted
    rng = np.random.default_rng(0)
    t, task = np.zeros(50), np.zeros(50, np.int64)
    size = 0
    vals = [(float(rng.integers(0, 5)), int(k)) for k in rng.permutation(50)]
    for v in vals:
        size = heaps.ev_push(t, task, size, *v)
    out = []
    while size:
        out.append((float(t[0]), int(task[0])))
        size = heaps.ev_pop(t, task, size)
    assert out == sorted(vals)


def test_ready_heap_twin():
    """Random push, pop, decrease-key (srpt) and heapify (custom keys) sequences."""
    for trial in range(20):
        results = []
        for use_py in (False, True):
            f = {name: (getattr(heaps, name).py_func if use_py else getattr(heaps, name))
                 for name in ("rh_push", "rh_pop", "rh_heapify", "rh_sift_up")}
            r = np.random.default_rng(trial)
            n, b = 60, 7  # the heap lives at an offset of a shared store
            key = r.integers(0, 5, n).astype(np.float64)
            ready = r.integers(0, 3, n).astype(np.float64)
            store, pos = np.full(n + b, -5, np.int64), np.full(n, -1, np.int64)
            size, log = 0, []
            waiting = [int(x) for x in r.permutation(n)]
            for _ in range(200):
                op = r.random()
                if size == 0 and not waiting:
                    break
                if waiting and (size == 0 or op < 0.5):
                    size = f["rh_push"](store, pos, b, size, waiting.pop(), key, ready)
                elif op < 0.6:
                    j = int(store[b + int(r.integers(0, size))])
                    key[j] -= 1.0
                    f["rh_sift_up"](store, pos, b, pos[j], key, ready)
                elif op < 0.65:
                    key[:] = r.integers(0, 5, n)
                    f["rh_heapify"](store, pos, b, size, key, ready)
                else:
                    log.append(int(store[b]))
                    size = f["rh_pop"](store, pos, b, size, key, ready)
            results.append((log, store.copy(), size, pos.copy(), key.copy()))
        (la, sa, na, pa, ka), (lb, sb, nb, pb, kb) = results
        assert la == lb and na == nb and np.array_equal(sa, sb) and np.array_equal(pa, pb)
        assert np.array_equal(ka, kb)
        # heap order and the position index hold on the result
        heap = sa[b:b + na]
        assert all(pa[heap[j]] == j for j in range(na))
        for j in range(1, na):  # (ready is never changed by the heap)
            assert not heaps.task_before(ka, ready, heap[j], heap[(j - 1) >> 1])


def test_task_before_twin():
    r = np.random.default_rng(1)
    key = r.integers(0, 3, 30).astype(np.float64)
    ready = r.integers(0, 3, 30).astype(np.float64)
    key[3] = np.inf
    for a, b in itertools.product(range(30), repeat=2):
        want = (key[a], ready[a], a) < (key[b], ready[b], b)
        assert heaps.task_before(key, ready, a, b) == heaps.task_before.py_func(key, ready, a, b) == want


# --------------------------------------------------------------------------- placement and percentiles
def test_find_node_twin():
    r = np.random.default_rng(2)
    for trial in range(200):
        n = int(r.integers(1, 8))
        capacity = r.choice([0.0, 1.0, 2.0, 4.0, 8.0], size=(n, 3))
        free = capacity * r.choice([0.0, 0.25, 0.5, 1.0], size=(n, 3))
        shape_req = r.choice([0.0, 0.5, 1.0, 2.0], size=(3, 3))
        s = int(r.integers(0, 3))
        # nodes in pools of identical nodes, as a cluster numbers them
        pools = np.sort(r.integers(0, 3, n))
        capacity = capacity[np.searchsorted(pools, pools)]
        free = np.minimum(free, capacity)
        pool_start = np.searchsorted(pools, np.arange(4)).astype(np.int64)
        cand = r.permutation(n).astype(np.int64)
        c0 = int(r.integers(-1, n))
        c1 = int(r.integers(max(c0, 0), n + 1))
        for placement in range(len(PLACEMENTS)):
            args = (free, capacity, pool_start, shape_req, s, placement, cand, c0, c1)
            a = loop.find_node_nb(*args)
            b = loop.find_node_nb.py_func(*args)
            # against a plain reading of MODEL.md 6 over the candidate nodes
            nodes = range(n) if c0 < 0 else cand[c0:c1]
            fit = [x for x in nodes if (free[x] >= shape_req[s] - 1e-9).all()]
            score = {x: sum((free[x, d] - shape_req[s, d]) / capacity[x, d] for d in range(3) if capacity[x, d] > 0)
                     for x in fit}
            if not fit:
                want = -1
            elif placement == 0:
                want = min(fit)
            elif placement == 1:
                want = min(fit, key=lambda x: (score[x], x))
            else:
                want = min(fit, key=lambda x: (-score[x], x))
            assert a == b == want, (trial, placement)


def test_percentile_twin():
    r = np.random.default_rng(3)
    for n in (0, 1, 2, 3, 10, 101, 1000):
        v = np.sort(r.exponential(size=n))
        for q in (0.0, 1.0, 50.0, 95.0, 99.0, 100.0, 37.3):
            a = summary.percentile_sorted_nb(v, q)
            b = summary.percentile_sorted_nb.py_func(v, q)
            if n == 0:
                assert np.isnan(a) and np.isnan(b)
                continue
            assert a == b == np.percentile(v, q), (n, q)
            x = r.permutation(v)  # the selection-based percentile takes unsorted values
            c = summary.percentile_nb(x.copy(), q)
            d = summary.percentile_nb.py_func(x.copy(), q)
            assert c == d == np.percentile(v, q), (n, q)


# --------------------------------------------------------------------------- kernels on whole replications
def _kernel_inputs(seed, policy="fifo", placement="first_fit", backfill=True, horizon=None, reps=2):
    """What simulate passes to the kernels, for a random trace replayed ``reps`` times."""
    rng = np.random.default_rng([seed, 5])
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=int(rng.integers(3, 14)), tie_heavy=seed % 2 == 0)
    trace = fps.Trace.from_frames(pipelines, tasks)
    batch = concat_batches([trace.to_batch(replication=r) for r in range(reps)])
    cl = fps.Cluster(cluster)
    nodes = cl.nodes()
    task_shape, shape_req = sim_mod.request_shapes(batch, cl)
    pol = fps.custom_policy(_hrrn, name="hrrn") if policy == "hrrn" else policy
    keyfn = pol.cfunc if isinstance(pol, fps.CustomPolicy) else loop.no_custom_key
    args = (batch.arrays, task_shape, shape_req, nodes.capacity, nodes.node_pool, nodes.speed, len(cl.pools),
            fps.policies.policy_code(pol), fps.policies.placement_code(placement), backfill,
            np.inf if horizon is None else float(horizon), 0.5, keyfn)
    return batch, args


def _run_loop(fn, batch, args):
    wa = batch.arrays
    n_t, n_p, n_r = wa.n_tasks, wa.n_pipelines, wa.n_replications
    n_pools = args[6]
    out = dict(ready=np.empty(n_t), start=np.empty(n_t), end=np.empty(n_t), node=np.empty(n_t, np.int64),
               status=np.empty(n_t, np.int64), pipeline_end=np.empty(n_p), outcome=np.empty(n_p, np.int64),
               trigger=np.empty(n_p, np.int64), source=np.empty(n_p, np.int64), rep=np.zeros((n_r, 4)),
               alloc=np.zeros((n_r, n_pools, 3)), model=np.zeros((0, N_MODEL_ACCUMULATORS)),
               ext=np.zeros((n_r, 4), np.int64))
    lc = no_lifecycle(n_p)
    for k in range(n_r):
        fn(args[0], k, *args[1:], lc, *out.values())
    return out


def _assert_outputs_equal(a, b):
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


@pytest.mark.parametrize("policy", ["fifo", "priority", "sjf", "srpt", "hrrn"])
def test_event_loop_py_func_twin(policy):
    waited = 0
    for seed in range(6):
        placement = PLACEMENTS[seed % 3]
        backfill = seed % 2 == 0
        horizon = 5.0 if seed % 3 == 2 else None
        batch, args = _kernel_inputs(seed, policy, placement, backfill, horizon)
        compiled = _run_loop(loop.run_replication_nb, batch, args)
        python = _run_loop(loop.run_replication_nb.py_func, batch, args)
        _assert_outputs_equal(compiled, python)
        waited += int((compiled["start"] > compiled["ready"]).any())
    assert waited >= 3, "the twins should be compared on contended schedules"


def test_summary_and_critical_path_py_func_twins():
    for seed in range(8):
        batch, args = _kernel_inputs(seed, "srpt", "best_fit", seed % 2 == 0, 6.0 if seed % 4 == 1 else None)
        out = _run_loop(loop.run_replication_nb, batch, args)
        wa = batch.arrays
        n_types = len(batch.type_names)
        res = []
        for fn in (summary.summarize_replication_nb, summary.summarize_replication_nb.py_func):
            cp = np.empty(wa.n_pipelines)
            metrics = np.empty((wa.n_replications, summary.N_REP_METRICS))
            type_waits = np.empty((wa.n_replications, n_types, 3))
            for k in range(wa.n_replications):
                fn(wa, k, out["start"], out["ready"], out["pipeline_end"], out["outcome"], out["rep"][:, 0], 0.5, args[10],
                   n_types, cp, metrics, type_waits)
            res.append((cp, metrics, type_waits))
        for x, y in zip(*res):
            assert np.array_equal(x, y, equal_nan=True)
        cps = []
        for fn in (summary.critical_path_nb, summary.critical_path_nb.py_func):
            cp = np.full(wa.n_pipelines, -1.0)
            for k in range(wa.n_replications):
                fn(wa, k, cp)
            cps.append(cp)
        assert np.array_equal(cps[0], cps[1]) and (cps[0] > 0).all()


# --------------------------------------------------------------------------- the whole engine in Python
ENGINE_MODULES = (loop, heaps, summary, engine_lifecycle, engine_elastic, engine_series, engine_devices,
                  engine_jobs)


@pytest.fixture
def python_engine(monkeypatch):
    """A function that replaces every Numba function of the engine by its py_func, for the test."""

    def use_python():
        for mod in ENGINE_MODULES + (sim_mod,):
            for name, obj in list(vars(mod).items()):
                if isinstance(obj, CPUDispatcher):
                    monkeypatch.setattr(mod, name, obj.py_func)

    return use_python


def _simulate_trace(seed, **kw):
    rng = np.random.default_rng([seed, 9])
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=12, tie_heavy=seed % 2 == 0)
    cluster = cluster.assign(gpu=np.ceil(cluster["gpu"]))  # GPUs are devices (MODEL.md 12.1): a node's gpu is a whole number
    return fps.simulate(fps.Trace.from_frames(pipelines, tasks), fps.Cluster(cluster), record_tasks=True,
                        replications=2, threads=1, progress=False, **kw)


def _simulate_jobs(seed, **kw):
    from test_lean_loop import jobs_batch, random_cluster

    rng = np.random.default_rng([seed, 13])
    batch = concat_batches([jobs_batch(rng, 40, replication=r) for r in range(2)])
    return fps.simulate(batch, random_cluster(rng), record_tasks=True, threads=1, progress=False, **kw)


def _assert_same_frame(a, b):
    # every number, means included (summary.mean_nb sums in order on both paths)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def _assert_same_results(a, b):
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)
    _assert_same_frame(a.summary, b.summary)
    _assert_same_frame(a.type_waits, b.type_waits)


CONFIGS = [
    dict(policy="fifo", placement="first_fit", backfill=True),
    dict(policy="priority", placement="worst_fit", backfill=False, horizon=5.0),
    dict(policy="sjf", placement="best_fit", backfill=True, warmup=1.0),
    dict(policy="srpt", placement="best_fit", backfill=False),
    dict(policy="hrrn", placement="first_fit", backfill=True, horizon=7.5),
]


def test_whole_engine_in_python(python_engine):
    custom = fps.custom_policy(_hrrn, name="hrrn")
    # compiled runs first, before any global is replaced
    cases = []
    for seed, cfg in enumerate(CONFIGS):
        cfg = dict(cfg, policy=custom if cfg["policy"] == "hrrn" else cfg["policy"])
        cases.append((seed, cfg, _simulate_trace(seed, **cfg)))
    cases.append((9, {}, fps.simulate(fps.QueueWorkload(n_jobs=300, rate=1.7), fps.QueueWorkload().cluster(2),
                                      replications=2, record_tasks=True, threads=1, progress=False)))
    # jobs of several request shapes through the lean loop (engine/jobs.py), by priority and by fifo
    jobs_cases = [(10, dict(policy="priority", placement="best_fit", backfill=True, horizon=40.0)),
                  (11, dict(policy="fifo", placement="worst_fit", backfill=False, warmup=2.0))]
    for seed, cfg in jobs_cases:
        cases.append((seed, cfg, _simulate_jobs(seed, **cfg)))
    compiled_push = heaps.rh_push
    python_engine()
    assert loop.rh_push is compiled_push.py_func and sim_mod.run_replication_nb is loop.run_replication_nb
    assert sim_mod.run_jobs_nb is engine_jobs.run_jobs_nb and engine_jobs.rh_push is compiled_push.py_func
    for seed, cfg, compiled in cases:
        if seed == 9:
            again = fps.simulate(fps.QueueWorkload(n_jobs=300, rate=1.7), fps.QueueWorkload().cluster(2),
                                 replications=2, record_tasks=True, threads=1, progress=False)
        elif seed >= 10:
            again = _simulate_jobs(seed, **cfg)
        else:
            again = _simulate_trace(seed, **cfg)
        _assert_same_results(compiled, again)


def _simulate_lifecycle(seed, policy):
    from test_lifecycle_oracle import random_lifecycle_trace

    rng = np.random.default_rng([seed, 11])
    pipelines, tasks, cluster, models, gates = random_lifecycle_trace(rng)
    return fps.simulate(fps.Trace.from_frames(pipelines, tasks, models), fps.Cluster(cluster), policy=policy,
                        horizon=25.0, warmup=2.0, record_tasks=True, threads=1, progress=False, **gates)


def test_whole_engine_in_python_with_the_lifecycle(python_engine):
    """Gates, cancellation, deploys, drift, both rules and the staleness key, compiled vs Python."""
    cases = [(seed, policy) for seed in range(6) for policy in ("fifo", "staleness")]
    compiled = [_simulate_lifecycle(seed, policy) for seed, policy in cases]
    assert sum(int((r.pipelines["triggered_by"] != "exogenous").sum()) for r in compiled) > 0
    assert sum(int((r.tasks["status"] == "cancelled").sum()) for r in compiled) > 0
    python_engine()
    assert sim_mod.run_replication_nb is loop.run_replication_nb and not isinstance(loop.run_replication_nb,
                                                                                    CPUDispatcher)
    for (seed, policy), a in zip(cases, compiled):
        b = _simulate_lifecycle(seed, policy)
        _assert_same_results(a, b)
        pd.testing.assert_frame_equal(a.pipelines, b.pipelines, check_exact=True)
        pd.testing.assert_frame_equal(a.models, b.models, check_exact=True)


def test_whole_engine_with_jit_disabled(tmp_path):
    """The same runs in a fresh process with ``NUMBA_DISABLE_JIT=1`` (built-in policies:
    a custom policy needs Numba to build its function pointer)."""
    script = f"""
import pickle, sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from numba.core.config import DISABLE_JIT
assert DISABLE_JIT
from test_twins import CONFIGS, _simulate_trace
out = []
for seed, cfg in enumerate(CONFIGS):
    if cfg["policy"] == "hrrn":
        continue
    r = _simulate_trace(seed, **cfg)
    out.append((seed, r.summary, r.tasks))
with open({str(tmp_path / "out.pkl")!r}, "wb") as f:
    pickle.dump(out, f)
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as f:
        out = pickle.load(f)
    assert len(out) == len(CONFIGS) - 1
    for seed, summ, tasks in out:
        compiled = _simulate_trace(seed, **CONFIGS[seed])
        pd.testing.assert_frame_equal(compiled.tasks, tasks, check_exact=True)
        _assert_same_frame(compiled.summary, summ)


def test_task_assembly_twin():
    """The generator's compiled task assembly and its Python twin build the same tasks and edges."""
    from fastpipesim.engine.generate import assemble_tasks_nb
    from fastpipesim import modelops

    wl = fps.ModelOpsWorkload(days=0.5)
    plan = wl._plan
    r = np.random.default_rng(5)
    n, n_steps = 40, len(plan.step_name)
    inc = r.random((n, n_steps)) < plan.p
    pattern = np.zeros(n, dtype=np.int64)
    for bit, j in enumerate(plan.optional):
        pattern |= inc[:, j].astype(np.int64) << bit
    patterns, index = np.unique(pattern, return_inverse=True)
    tables = modelops._pattern_tables(plan, patterns)
    args = (inc, r.standard_normal((n, n_steps)), r.lognormal(size=n), r.integers(0, 4, n),
            index.reshape(-1).astype(np.int64), *tables, plan.a, plan.b, plan.e, plan.sigma,
            np.ascontiguousarray(plan.factor), plan.request.shape[1])
    compiled = assemble_tasks_nb(*args)
    python = assemble_tasks_nb.py_func(*args)
    for x, y in zip(compiled, python):
        assert np.array_equal(x, y)
    task_count, task_step = compiled[0], compiled[1]
    assert task_count.sum() == inc.sum() and np.array_equal(task_step, np.nonzero(inc)[1])


# --------------------------------------------------------------------------- elastic clusters and series
def _simulate_elastic(seed, autoscaler):
    """A random elastic trace (MODEL.md 11: boots, spot, checkpoints) with binned series (13)."""
    from test_elastic_oracle import engine_autoscaler
    from test_simpy_elastic import elastic_trace

    rng = np.random.default_rng([seed, 12])
    pipelines, tasks, cluster = elastic_trace(rng)
    return fps.simulate(fps.Trace.from_frames(pipelines, tasks), fps.Cluster(cluster),
                        policy=("fifo", "srpt", "sjf")[seed % 3], placement=PLACEMENTS[seed % 3], horizon=40.0,
                        seed=seed, autoscaler=engine_autoscaler(autoscaler), series_bin=7.0, record_tasks=True,
                        threads=1, progress=False)


ELASTIC_CASES = [(0, {"kind": "reactive", "interval": 1.0, "idle_timeout": 3.0, "expander": "least_waste"}),
                 (1, {"kind": "reactive", "interval": 2.0, "idle_timeout": 0.0, "expander": "cheapest"}),
                 (2, {"kind": "target_utilization", "interval": 1.0, "target": 0.6, "stabilization": 4.0}),
                 (3, "static")]


def _assert_same_elastic(a, b):
    _assert_same_results(a, b)
    pd.testing.assert_frame_equal(a.nodes, b.nodes, check_exact=True)
    pd.testing.assert_frame_equal(a.series, b.series, check_exact=True)


def test_whole_engine_in_python_elastic_and_series(python_engine):
    """Slots, boots, interruptions, restarts, ticks, billing and the binned series, compiled vs Python."""
    compiled = [_simulate_elastic(seed, a) for seed, a in ELASTIC_CASES]
    assert sum(int(r.summary["interruptions"].sum()) for r in compiled) > 0
    assert sum(int(r.summary["scale_ups"].sum()) for r in compiled) > 0
    python_engine()
    assert not isinstance(engine_elastic.tick_nb, CPUDispatcher)
    for (seed, a), c in zip(ELASTIC_CASES, compiled):
        _assert_same_elastic(c, _simulate_elastic(seed, a))


def test_elastic_engine_with_jit_disabled(tmp_path):
    script = f"""
import pickle, sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from numba.core.config import DISABLE_JIT
assert DISABLE_JIT
from test_twins import ELASTIC_CASES, _simulate_elastic
out = [_simulate_elastic(seed, a) for seed, a in ELASTIC_CASES]
with open({str(tmp_path / "out.pkl")!r}, "wb") as f:
    pickle.dump([(r.summary, r.tasks, r.nodes, r.series) for r in out], f)
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as f:
        out = pickle.load(f)
    for (seed, a), (summ, tasks, nodes, series) in zip(ELASTIC_CASES, out):
        compiled = _simulate_elastic(seed, a)
        pd.testing.assert_frame_equal(compiled.tasks, tasks, check_exact=True)
        _assert_same_frame(compiled.summary, summ)
        pd.testing.assert_frame_equal(compiled.nodes, nodes, check_exact=True)
        pd.testing.assert_frame_equal(compiled.series, series, check_exact=True)


def test_elastic_kernel_twins():
    """The helpers the loop calls on their own: checkpointed work and the tick order."""
    for prog, rem, every in ((7.5, 10.0, 2.5), (10.0, 10.0, 2.5), (0.1, 3.0, 0.1), (9.99, 10.0, 3.3),
                             (5.0, 5.0, float("nan")), (1e9, 3.0, 0.7)):
        a = engine_elastic.checkpointed_work_nb(prog, rem, every)
        assert a == engine_elastic.checkpointed_work_nb.py_func(prog, rem, every)
        assert 0.0 <= a <= prog and (a < rem or a == 0.0)
    rng = np.random.default_rng(3)
    key, ready = rng.integers(0, 4, 50).astype(float), rng.integers(0, 3, 50).astype(float)
    items = [rng.permutation(50) for _ in range(2)]
    engine_elastic.sort_tasks_nb(items[0], 50, key, ready)
    engine_elastic.sort_tasks_nb.py_func(items[1], 50, key, ready)
    assert np.array_equal(items[0], items[1])
    assert items[0].tolist() == sorted(range(50), key=lambda j: (key[j], ready[j], j))


# --------------------------------------------------------------------------- GPUs as devices (MODEL.md 12)
DEVICE_CASES = [(0, "fgd", "index"), (1, "gpu_packing", "random"), (2, "best_fit", "random"),
                (3, "gpu_clustering", "index")]


def _simulate_devices(seed, placement, ties):
    """A random device trace (fractions, specs, gangs) on devices, with its records and timeline."""
    from randtrace import random_device_trace

    rng = np.random.default_rng([seed, 13])
    pipelines, tasks, cluster = random_device_trace(rng, n_tasks=(20, 30))
    return fps.simulate(fps.Trace.from_frames(pipelines, tasks), fps.Cluster(cluster), placement=placement,
                        ties=ties, seed=seed, policy=("fifo", "srpt", "sjf", "priority")[seed % 4],
                        backfill=seed % 2 == 0, horizon=12.0 if seed == 3 else None, replications=2,
                        record_tasks=True, threads=1, progress=False)


def _assert_same_devices(a, b):
    _assert_same_results(a, b)
    pd.testing.assert_frame_equal(a.devices, b.devices, check_exact=True)
    pd.testing.assert_frame_equal(a.gpu_timeline, b.gpu_timeline, check_exact=True)


def test_whole_engine_in_python_on_devices(python_engine):
    compiled = [_simulate_devices(*case) for case in DEVICE_CASES]
    python_engine()
    assert not isinstance(engine_devices.place_gang_nb, CPUDispatcher)
    assert not isinstance(loop.place_gang_nb, CPUDispatcher)
    for case, c in zip(DEVICE_CASES, compiled):
        _assert_same_devices(c, _simulate_devices(*case))


def test_device_engine_with_jit_disabled(tmp_path):
    script = f"""
import pickle, sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from numba.core.config import DISABLE_JIT
assert DISABLE_JIT
from test_twins import DEVICE_CASES, _simulate_devices
out = [_simulate_devices(*case) for case in DEVICE_CASES]
with open({str(tmp_path / "out.pkl")!r}, "wb") as f:
    pickle.dump([(r.summary, r.tasks, r.devices, r.gpu_timeline) for r in out], f)
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as f:
        out = pickle.load(f)
    for case, (summ, tasks, devs, tl) in zip(DEVICE_CASES, out):
        compiled = _simulate_devices(*case)
        pd.testing.assert_frame_equal(compiled.tasks, tasks, check_exact=True)
        _assert_same_frame(compiled.summary, summ)
        pd.testing.assert_frame_equal(compiled.devices, devs, check_exact=True)
        pd.testing.assert_frame_equal(compiled.gpu_timeline, tl, check_exact=True)


# --------------------------------------------------------------------------- devices on elastic clusters (MODEL.md 12.12)
ELASTIC_DEVICE_CASES = [(0, 0, "fgd", "index"), (1, 1, "gpu_packing", "random"), (2, 2, "best_fit", "index"),
                        (3, 0, "gpu_clustering", "random")]


def _simulate_elastic_devices(seed, scaler, placement, ties):
    """A random device trace on elastic and spot pools (interrupted gangs, new instances), with the
    node timeline, the device records and the GPU timeline."""
    from randtrace import random_elastic_device_trace
    from test_devices_elastic_oracle import AUTOSCALERS
    from test_elastic_oracle import engine_autoscaler

    rng = np.random.default_rng([seed, 1215])
    pipelines, tasks, cluster = random_elastic_device_trace(rng)
    return fps.simulate(fps.Trace.from_frames(pipelines, tasks), fps.Cluster(cluster), placement=placement,
                        ties=ties, seed=seed, policy=("fifo", "srpt", "sjf", "priority")[seed % 4],
                        autoscaler=engine_autoscaler(AUTOSCALERS[scaler]), horizon=30.0, replications=2,
                        record_tasks=True, threads=1, progress=False)


# slow: its compiled half compiles the device-elastic variant of the loop (a minute on 2 cores) in
# a second worker beside test_devices_elastic_oracle, which covers that path in the default run
@pytest.mark.slow
def test_whole_engine_in_python_elastic_on_devices(python_engine):
    compiled = [_simulate_elastic_devices(*case) for case in ELASTIC_DEVICE_CASES]
    assert sum(int(r.summary["interruptions"].sum()) for r in compiled) > 0
    python_engine()
    assert not isinstance(engine_devices.sync_slots_nb, CPUDispatcher)
    for case, c in zip(ELASTIC_DEVICE_CASES, compiled):
        p = _simulate_elastic_devices(*case)
        _assert_same_devices(c, p)
        _assert_same_frame(c.summary, p.summary)
        pd.testing.assert_frame_equal(c.nodes, p.nodes, check_exact=True)
