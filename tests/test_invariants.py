"""Invariants of every schedule, on random traces (hypothesis) and on the ModelOps workload.

:func:`check_schedule` verifies a run from its task records alone, without
simulating anything itself:

* accounting: every task of every pipeline has exactly one record, with a
  valid status whose fields agree with it (a completed task has start, node
  and end = start + duration / speed of its node, bit for bit; an unfinished
  one was still running at the horizon; a task that never started has no node);
  without a horizon every task completes;
* readiness: ready = submit time for a task without predecessors, the latest
  end of its predecessors otherwise (NaN if they did not all complete); start
  >= ready >= submit;
* capacity: sweeping each node's starts and ends (ends first at equal times,
  as completions are applied before the pass), no node ever holds more than
  its capacity in any dimension, beyond the 1e-9 fit tolerance;
* every scheduling pass obeys MODEL.md 4: at each event time, replaying the
  ready tasks in the pass order (key, ready, pipeline_id, task index) with
  the free capacity the engine had (completions added, starts subtracted, in
  the engine's order), every task that started got the node its placement
  rule picks, every ready task that did not start fits no node at its turn
  (so nothing that fits is left waiting), and without backfill nothing after
  the first blocked task starts (no overtaking);
* summaries: submitted / completed / unfinished count the pipelines submitted
  in [warmup, horizon); wait, response and slowdown statistics, throughput,
  the time-average ready queue, the utilizations, the end time and the event
  count agree with the same quantities recomputed from the records.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastpipesim as fps
from fastpipesim.engine.constants import FIT_TOL
from fastpipesim.workload import concat_batches
from randtrace import random_trace

POLICIES = ("fifo", "priority", "sjf", "srpt", "hrrn")
PLACEMENTS = ("first_fit", "best_fit", "worst_fit")
STATUSES = {"completed", "unfinished", "not_started"}  # "cancelled" needs the lifecycle (MODEL.md 7)


def _hrrn(now, ready, duration):
    """Highest response ratio next: a custom key that depends on the pass time."""
    return -(now - ready + duration) / duration


_CUSTOM = {}


def policy_object(name):
    """Built-in policies by name; ``hrrn`` is compiled once per process as a custom policy."""
    if name != "hrrn":
        return name
    if "hrrn" not in _CUSTOM:
        _CUSTOM["hrrn"] = fps.custom_policy(_hrrn, name="hrrn")
    return _CUSTOM["hrrn"]


# --------------------------------------------------------------------------- the checker
def _placement_choice(placement, free, capacity, req, fitting):
    if placement == "first_fit":
        return int(fitting[0])
    best, best_score = -1, 0.0
    for n in fitting:
        s = 0.0
        for d in range(3):  # the engine's arithmetic, in its order, so ties are exact
            c = capacity[n, d]
            if c > 0.0:
                s += (free[n, d] - req[d]) / c
        if best < 0 or (s < best_score if placement == "best_fit" else s > best_score):
            best, best_score = int(n), s
    return best


def _pass_key(policy, t, i, ready, wa, remaining_at):
    p = wa.task_pipeline[i]
    if policy == "fifo":
        return ready[i]
    if policy == "priority":
        return -float(wa.priority[p])
    if policy == "sjf":
        return wa.duration[i]
    if policy == "srpt":
        return remaining_at(p)
    k = _hrrn(t, ready[i], wa.duration[i])
    return math.inf if k != k else k


def check_schedule(res, batch, cluster, *, policy, placement, backfill, horizon, warmup):
    """Assert every invariant of the module docstring on a run recorded with ``record_tasks=True``."""
    wa = batch.arrays
    tasks = res.tasks
    n_t = wa.n_tasks
    H = math.inf if horizon is None else float(horizon)
    assert len(tasks) == n_t, "one record per task"
    assert np.array_equal(tasks["pipeline_id"].to_numpy(), wa.pipeline_id[wa.task_pipeline])
    assert np.array_equal(tasks["task"].to_numpy(object), batch.task_names)
    assert not tasks.duplicated(["replication", "pipeline_id", "task"]).any()
    status = tasks["status"].astype(str).to_numpy()
    assert set(status) <= STATUSES, set(status)
    ready = tasks["ready"].to_numpy(np.float64)
    start = tasks["start"].to_numpy(np.float64)
    end = tasks["end"].to_numpy(np.float64)
    node = tasks["node"].to_numpy(np.int64)
    nodes = cluster.nodes()
    cap, speed = nodes.capacity, nodes.speed
    req = np.stack([wa.cpu, wa.gpu, wa.mem], axis=1)
    submit_of_task = wa.submit[wa.task_pipeline]

    # --- status and its fields
    done, running = status == "completed", status == "unfinished"
    began = done | running
    assert (np.isfinite(start) == began).all() and ((node >= 0) == began).all()
    assert (np.isfinite(end) == done).all()
    safe = np.maximum(node, 0)
    assert np.array_equal(end[done], start[done] + wa.duration[done] / speed[safe[done]])
    assert (end[done] <= H).all()
    assert (start[running] + wa.duration[running] / speed[safe[running]] > H).all()
    if horizon is None:
        assert done.all(), "without a horizon every task completes"
    assert len(res.pipelines) == wa.n_pipelines

    # --- readiness
    pred_lists = [[] for _ in range(n_t)]
    for i in range(n_t):
        for e in range(wa.succ_ptr[i], wa.succ_ptr[i + 1]):
            pred_lists[wa.succ[e]].append(i)
    expect_ready = np.full(n_t, np.nan)
    for i in range(n_t):
        preds = pred_lists[i]
        if not preds:
            if submit_of_task[i] <= H:
                expect_ready[i] = submit_of_task[i]
        elif all(done[j] for j in preds):
            expect_ready[i] = max(end[j] for j in preds)
    assert np.array_equal(ready, expect_ready, equal_nan=True), "ready = submit or latest predecessor end"
    assert (start[began] >= ready[began]).all() and (ready[began] >= submit_of_task[began]).all()
    assert np.isfinite(ready[began]).all()

    # --- capacity: sweep each node's starts and ends
    for n in range(len(cap)):
        on = np.flatnonzero(began & (node == n))
        if len(on) == 0:
            continue
        t_ev = np.concatenate([start[on], np.where(done[on], end[on], np.inf)])
        kind = np.concatenate([np.ones(len(on)), np.zeros(len(on))])  # ends (0) before starts (1)
        delta = np.concatenate([req[on], -req[on]])
        order = np.lexsort((kind, t_ev))
        # per replication: the records of different replications share nodes
        rep_of = np.concatenate([tasks["replication"].to_numpy()[on]] * 2)[order]
        for r in np.unique(rep_of):
            used = np.cumsum(delta[order][rep_of == r], axis=0)
            over = used - cap[n][None, :]
            assert (over <= FIT_TOL + 1e-12 * cap[n]).all(), f"node {n} over capacity by {over.max()}"

    # --- each replication: the passes, then the summary
    summary = res.summary
    for k, rep in enumerate(batch.replications):
        t0, t1 = wa.rep_task_ptr[k], wa.rep_task_ptr[k + 1]
        p0, p1 = wa.rep_pipeline_ptr[k], wa.rep_pipeline_ptr[k + 1]
        _check_passes(wa, t0, t1, p0, p1, ready, start, end, node, done, req, cap, H,
                      policy, placement, backfill)
        _check_summary(res, rep, summary.loc[rep].to_dict(), wa, t0, t1, p0, p1, ready, start, end, node, done, req,
                       pred_lists, cluster, H, float(warmup))


def _check_passes(wa, t0, t1, p0, p1, ready, start, end, node, done, req, cap, H, policy, placement, backfill):
    idx = np.arange(t0, t1)
    submits = wa.submit[p0:p1]
    times = np.unique(np.concatenate([submits[submits <= H], end[t0:t1][done[t0:t1]]]))
    began = np.isfinite(start[t0:t1])
    assert np.isin(start[t0:t1][began], times).all(), "tasks start only at event times"
    free = cap.copy()
    by_end = {}
    for i in idx[done[t0:t1]]:
        by_end.setdefault(end[i], []).append(i)
    for t in times:
        for i in sorted(by_end.get(t, ())):  # completions at t, by task index
            for d in range(3):
                free[node[i], d] += req[i, d]
        waiting = idx[(ready[t0:t1] <= t) & ~(start[t0:t1] < t)]
        if len(waiting) == 0:
            continue
        rem_cache = {}

        def remaining_at(p):
            if p not in rem_cache:
                s = 0.0
                for g in range(wa.task_ptr[p], wa.task_ptr[p + 1]):
                    if not start[g] < t:  # not started before this pass
                        s += wa.duration[g]
                rem_cache[p] = s
            return rem_cache[p]

        keyed = sorted(waiting, key=lambda i: (_pass_key(policy, t, i, ready, wa, remaining_at), ready[i], i))
        stopped = False
        blocked = set()  # requests that fit nowhere: free capacity only falls during a pass
        for i in keyed:
            started_now = start[i] == t
            if stopped:
                assert not started_now, f"task {i} overtook a blocked task at t={t} without backfill"
                continue
            shape = (req[i, 0], req[i, 1], req[i, 2])
            if shape in blocked:
                assert not started_now, f"task {i} started at t={t} though its request fits nowhere"
                continue
            fitting = np.flatnonzero((free >= req[i] - FIT_TOL).all(axis=1))
            if started_now:
                assert len(fitting) > 0, f"task {i} started at t={t} on a node it does not fit"
                want = _placement_choice(placement, free, cap, req[i], fitting)
                assert node[i] == want, f"task {i} at t={t}: node {node[i]}, {placement} picks {want}"
                for d in range(3):
                    free[node[i], d] -= req[i, d]
            else:
                assert len(fitting) == 0, f"task {i} fits node {fitting[0]} at t={t} but was left waiting"
                blocked.add(shape)
                if not backfill:
                    stopped = True


def _check_summary(res, rep, row, wa, t0, t1, p0, p1, ready, start, end, node, done, req, pred_lists, cluster,
                   H, warmup):
    submits = wa.submit[p0:p1]
    last = max([0.0] + list(submits[submits <= H]) + list(end[t0:t1][done[t0:t1]]))
    end_time = H if H < math.inf else last
    assert row["end_time"] == end_time
    n_completed_tasks = int(done[t0:t1].sum())
    assert row["events"] == int((submits <= H).sum()) + n_completed_tasks
    in_window = np.flatnonzero((submits >= warmup) & (submits < H)) + p0
    pend = np.full(p1 - p0, np.nan)
    resp, slow, waits = [], [], []
    for p in range(p0, p1):
        a, b = wa.task_ptr[p], wa.task_ptr[p + 1]
        if done[a:b].all():
            pend[p - p0] = end[a:b].max()
    pipes = res.pipelines
    prow = pipes["end"].to_numpy()[pipes["replication"].to_numpy() == rep]
    assert np.array_equal(prow, pend, equal_nan=True)
    for p in in_window:
        a, b = wa.task_ptr[p], wa.task_ptr[p + 1]
        if np.isfinite(pend[p - p0]):
            r = pend[p - p0] - wa.submit[p]
            resp.append(r)
            cp = _critical_path(wa, a, b, pred_lists)
            slow.append(r / cp)
        s = start[a:b]
        waits.extend((s - ready[a:b])[np.isfinite(s)])
    assert row["submitted"] == len(in_window)
    assert row["completed"] == len(resp)
    assert row["unfinished"] == len(in_window) - len(resp)

    def same(metric, value):
        got = row[metric]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert math.isnan(got), (metric, got)
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), (metric, got, value)

    for metric, values, q in (("response", resp, None), ("wait", waits, 95.0), ("slowdown", slow, 95.0)):
        v = np.asarray(values, dtype=np.float64)
        same(f"{metric}_mean", v.mean() if len(v) else None)
        if metric == "response":
            for qq in (50, 95, 99):
                same(f"response_p{qq}", np.percentile(v, qq) if len(v) else None)
        else:
            same(f"{metric}_p95", np.percentile(v, q) if len(v) else None)
    span = end_time - warmup
    if span > 0:
        same("throughput_per_hour", len(resp) / (span / 3600.0))
        # time-average ready queue: each task waits over [ready, start), or up to the end
        s = np.where(np.isfinite(start[t0:t1]), start[t0:t1], end_time)
        r = np.nan_to_num(ready[t0:t1], nan=end_time)
        area = np.clip(np.minimum(s, end_time) - np.maximum(r, warmup), 0.0, None).sum()
        same("queue_length_mean", area / span)
        # utilization: each task holds its request over [start, end), or up to the end
        began = np.isfinite(start[t0:t1])
        e = np.where(done[t0:t1], end[t0:t1], end_time)
        held = np.clip(np.minimum(e, end_time) - np.maximum(start[t0:t1], warmup), 0.0, None)
        held = np.where(began, held, 0.0)
        node_pool = cluster.nodes().node_pool
        pools = cluster.pools
        for q, name in enumerate(pools["pool"]):
            on = began & (node_pool[np.maximum(node[t0:t1], 0)] == q)
            for d, dim in enumerate(("cpu", "gpu", "mem_gb")):
                total = pools[dim].iloc[q] * pools["count"].iloc[q]
                if total > 0:
                    same(f"util_{name}_{dim}", (req[t0:t1, d] * held)[on].sum() / (total * span))
    else:
        assert math.isnan(row["queue_length_mean"])


def _critical_path(wa, a, b, pred_lists):
    finish = {}
    left = list(range(a, b))
    while left:  # relaxation in rounds: pipelines are small
        rest = []
        for i in left:
            preds = pred_lists[i]
            if all(j in finish for j in preds):
                finish[i] = wa.duration[i] + max((finish[j] for j in preds), default=0.0)
            else:
                rest.append(i)
        assert len(rest) < len(left), "cycle"
        left = rest
    return max(finish.values())


# --------------------------------------------------------------------------- strategies
EXACT_CPU = (0.25, 0.5, 1.0, 2.0, 4.0)
EXACT_GPU = (0.0, 0.0, 0.5, 1.0)
EXACT_MEM = (0.5, 1.0, 4.0, 8.0)


@st.composite
def traces(draw):
    """(pipelines, tasks, cluster) frames: DAGs, ties in time, pools of different sizes and speeds.

    Requests and capacities are binary fractions, so the checker's capacity
    arithmetic is exact; the largest pool fits every request.
    """
    tie_heavy = draw(st.booleans())
    pools = [{"pool": "big", "count": draw(st.integers(1, 2)), "cpu": 4.0, "gpu": 1.0, "mem_gb": 8.0,
              "speed": draw(st.sampled_from([1.0, 2.0])), "price_per_hour": 3.0}]
    for name in draw(st.lists(st.sampled_from(["small", "gpu", "frac"]), max_size=2, unique=True)):
        pools.append({
            "small": {"cpu": 2.0, "gpu": 0.0, "mem_gb": 4.0},
            "gpu": {"cpu": 2.0, "gpu": 2.0, "mem_gb": 8.0},
            "frac": {"cpu": 1.5, "gpu": 1.0, "mem_gb": 2.0},  # a node's gpu is its devices (MODEL.md 12.1)
        }[name] | {"pool": name, "count": draw(st.integers(0, 2)),
                   "speed": draw(st.sampled_from([0.5, 1.0, 1.5])), "price_per_hour": 1.0})
    n_p = draw(st.integers(1, 10))
    ids = draw(st.lists(st.integers(0, 1000), min_size=n_p, max_size=n_p, unique=True))
    time_value = (st.integers(0, 6).map(float) if tie_heavy
                  else st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False))
    dur_value = (st.integers(1, 4).map(float) if tie_heavy
                 else st.floats(0.01, 5.0, allow_nan=False, allow_infinity=False))
    pipelines, rows = [], []
    for pid in ids:
        pipelines.append({"pipeline_id": pid, "submit_time": draw(time_value),
                          "model_id": draw(st.integers(0, 2)), "priority": draw(st.integers(0, 2))})
        n = draw(st.integers(1, 5))
        topo = draw(st.permutations(range(n)))
        for pos, k in enumerate(topo):
            after = [f"t{j}" for j in topo[:pos] if draw(st.booleans())]
            rows.append({"pipeline_id": pid, "task": f"t{k}", "type": draw(st.sampled_from(["train", "etl", "deploy"])),
                         "cpu": draw(st.sampled_from(EXACT_CPU)), "gpu": draw(st.sampled_from(EXACT_GPU)),
                         "mem_gb": draw(st.sampled_from(EXACT_MEM)), "duration": draw(dur_value),
                         "after": ";".join(after)})
    order = draw(st.permutations(range(len(rows))))  # table order is not a topological order
    tasks = pd.DataFrame([rows[i] for i in order])
    return pd.DataFrame(pipelines), tasks, pd.DataFrame(pools)


run_options = st.fixed_dictionaries({
    "policy": st.sampled_from(POLICIES),
    "placement": st.sampled_from(PLACEMENTS),
    "backfill": st.booleans(),
    "horizon": st.one_of(st.none(), st.integers(1, 14).map(float),
                         st.floats(0.5, 15.0, allow_nan=False, allow_infinity=False)),
    "warmup": st.sampled_from([0.0, 0.0, 1.0, 2.5]),
})


def run_trace(pipelines, tasks, cluster_frame, opts, replications=1):
    trace = fps.Trace.from_frames(pipelines, tasks)
    cluster = fps.Cluster(cluster_frame)
    res = fps.simulate(trace, cluster, policy=policy_object(opts["policy"]), placement=opts["placement"],
                       backfill=opts["backfill"], horizon=opts["horizon"], warmup=opts["warmup"],
                       replications=replications, record_tasks=True, threads=1)
    batch = concat_batches([trace.to_batch(replication=r) for r in range(replications)])
    check_schedule(res, batch, cluster, **opts)
    return res


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(), run_options)
def test_invariants_on_random_traces(trace, opts):
    pipelines, tasks, cluster = trace
    run_trace(pipelines, tasks, cluster, opts)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(), run_options)
def test_invariants_on_many_random_traces(trace, opts):
    pipelines, tasks, cluster = trace
    run_trace(pipelines, tasks, cluster, opts)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), run_options, st.integers(1, 2))
def test_invariants_on_randtrace(seed, opts, replications):
    """The oracle tests' generator too (fractional pools, several replications of one trace)."""
    rng = np.random.default_rng(seed)
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=int(rng.integers(1, 15)), tie_heavy=bool(seed % 2))
    cluster = cluster.assign(gpu=np.ceil(cluster["gpu"]))  # GPUs are devices (MODEL.md 12.1): a node's gpu is a whole number
    run_trace(pipelines, tasks, cluster, opts, replications=replications)


@pytest.mark.parametrize("policy,placement,backfill", [
    ("fifo", "first_fit", True),
    ("srpt", "best_fit", False),
    ("priority", "worst_fit", True),
])
def test_invariants_on_modelops(policy, placement, backfill):
    w = fps.ModelOpsWorkload(days=1.0, base_rate=12.0)
    cluster = fps.default_cluster().scaled(gpu=1, cpu=1)  # small, so that tasks queue
    reps = [0, 3]
    horizon, warmup = 0.75 * 86400.0, 3600.0
    # This checker is MODEL.md 1-6; with the gates off no pipeline is rejected, and the
    # lifecycle (deploys, drift) cannot change a fifo/srpt/priority schedule. The
    # lifecycle's own invariants are in test_lifecycle.py.
    res = fps.simulate(w, cluster, policy=policy, placement=placement, backfill=backfill, horizon=horizon,
                       warmup=warmup, replications=reps, seed=4, record_tasks=True, threads=2,
                       accuracy_gate=0.0, fairness_gate=0.0, robustness_gate=0.0)
    batch = w.batch(4, reps)
    check_schedule(res, batch, cluster, policy=policy, placement=placement, backfill=backfill,
                   horizon=horizon, warmup=warmup)
    t = res.tasks
    assert (t["start"] > t["ready"]).any(), "the check is only sharp if tasks wait"
    assert (t["status"] == "unfinished").any() or (t["status"] == "not_started").any()


def test_checker_catches_a_broken_schedule():
    """The checker has teeth: it fails on schedules that break an invariant."""
    rng = np.random.default_rng(3)
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=12)
    cluster["count"] = 1
    opts = {"policy": "fifo", "placement": "first_fit", "backfill": True, "horizon": None, "warmup": 0.0}
    res = run_trace(pipelines, tasks, cluster, opts)  # the true schedule passes
    trace = fps.Trace.from_frames(pipelines, tasks)
    batch, cl = trace.to_batch(), fps.Cluster(cluster)
    t = res.tasks
    waited = int(np.flatnonzero((t["start"] > t["ready"]).to_numpy())[0])

    def fails(column, row, value, **changed):
        bad = fps.simulate(trace, cl, record_tasks=True)
        bad.tasks.loc[row, column] = value  # Results caches the frame: the edit sticks
        with pytest.raises(AssertionError):
            check_schedule(bad, batch, cl, **(opts | changed))

    fails("start", waited, t.loc[waited, "ready"] - 0.5)  # starts before it is ready
    fails("start", waited, t.loc[waited, "start"] + 0.5)  # ... or at no event time
    fails("end", waited, t.loc[waited, "end"] + 1.0)  # end != start + duration / speed
    fails("ready", waited, t.loc[waited, "ready"] + 0.25)  # ready != latest predecessor end
    fails("node", waited, (t.loc[waited, "node"] + 1) % cl.n_nodes)  # another node than first_fit's
    fails("status", waited, "not_started")
    # the same records checked against other rules
    fails("task", 0, t.loc[0, "task"], policy="sjf")
    fails("task", 0, t.loc[0, "task"], backfill=False)  # this trace does backfill
    small = fps.Cluster(cluster.assign(cpu=cluster["cpu"] / 2))
    with pytest.raises(AssertionError):
        check_schedule(res, batch, small, **opts)
