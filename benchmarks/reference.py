#!/usr/bin/env python
"""Reference outputs, to check that a speed change leaves every result bit for bit as it was.

    python benchmarks/reference.py save REF.pkl    # on the commit before the change
    python benchmarks/reference.py check REF.pkl   # after it: every table must be identical

The cases cover what a change to the engine, the generator or the Python layer
could move: the default workload under every policy and placement (with the
lifecycle, and without), backfill off, on_drift and periodic retraining, the
shipped traces with their models, a random DAG trace, single queues (M/M/1,
M/M/8, lognormal service), and the generated arrays themselves. Each case keeps
the task and pipeline records, the summary, the type waits and the per-model
metrics. Not a test: reference outputs depend on the machine's C library and
NumPy build (README, "Reproducibility"), so they are compared on one machine.
"""
from __future__ import annotations

import dataclasses
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import fastpipesim as fps  # noqa: E402

DAY = 86400.0


def _frames(res) -> dict:
    out = {"summary": res.summary, "type_waits": res.type_waits}
    try:
        out["models"] = res.models
    except Exception:  # noqa: BLE001 - a run without models
        pass
    out["tasks"] = res.tasks
    out["pipelines"] = res.pipelines
    return out


def cases():
    """(name, thunk) pairs; each thunk returns a dict of DataFrames / arrays."""
    wl = fps.ModelOpsWorkload(days=2)
    small = fps.default_cluster().scaled(gpu=2)
    kw = dict(replications=3, seed=7, record_tasks=True, progress=False, threads=2, warmup=6 * 3600)
    aging = fps.custom_policy(lambda ready, priority, accuracy: ready - 3600.0 * priority
                              + (0.0 if accuracy != accuracy else 100.0 * accuracy))
    out = []
    for policy in ("fifo", "priority", "sjf", "srpt", "staleness", aging):
        for placement in ("first_fit", "best_fit", "worst_fit"):
            name = getattr(policy, "name", policy)
            out.append((f"modelops/{name}/{placement}",
                        lambda p=policy, q=placement: _frames(fps.simulate(wl, small, policy=p, placement=q, **kw))))
    out.append(("modelops/fifo/nobackfill",
                lambda: _frames(fps.simulate(wl, small, backfill=False, **kw))))
    out.append(("modelops/nolifecycle/sjf",
                lambda: _frames(fps.simulate(wl, small, policy="sjf", lifecycle=False, **kw))))
    out.append(("modelops/default7d", lambda: _frames(fps.simulate(
        fps.ModelOpsWorkload(), fps.default_cluster(), replications=4, seed=1, record_tasks=True,
        progress=False))))
    drift = fps.ModelOpsWorkload(days=3, on_drift=True)
    for policy in ("fifo", "staleness"):
        out.append((f"on_drift/{policy}", lambda p=policy: _frames(fps.simulate(
            drift, small, policy=p, **dict(kw, warmup=DAY)))))
    periodic = fps.ModelOpsWorkload(days=3, period_days=1.0)
    out.append(("periodic/srpt", lambda: _frames(fps.simulate(periodic, small, policy="srpt", **kw))))
    out.append(("on_drift/batch", lambda: _frames(fps.simulate(
        drift.batch(7, [0, 1]), small, policy="fifo", record_tasks=True, progress=False, threads=2,
        horizon=3 * DAY))))
    for folder in sorted((ROOT / "traces").iterdir()):
        if not folder.is_dir():
            continue
        tr = fps.read_trace(folder)
        cl = fps.read_cluster(folder / "cluster.csv")
        for policy, placement in (("fifo", "first_fit"), ("priority", "best_fit"), ("staleness", "worst_fit")):
            out.append((f"trace/{folder.name}/{policy}/{placement}", lambda t=tr, c=cl, p=policy, q=placement:
                        _frames(fps.simulate(t, c, policy=p, placement=q, record_tasks=True, progress=False))))
    from benchmarks.bench import dag_cluster, dag_trace

    dag, dag_cl = dag_trace(3000), dag_cluster()
    for policy, placement in (("priority", "best_fit"), ("srpt", "first_fit"), ("sjf", "worst_fit")):
        out.append((f"dag/{policy}/{placement}", lambda p=policy, q=placement: _frames(fps.simulate(
            dag, dag_cl, policy=p, placement=q, record_tasks=True, progress=False))))
    out.append(("dag/fifo/nobackfill", lambda: _frames(fps.simulate(
        dag, dag_cl, backfill=False, record_tasks=True, progress=False))))
    for name, q, servers in (("mm1", fps.QueueWorkload(rate=0.9, n_jobs=20000), 1),
                             ("mm8", fps.QueueWorkload(rate=7.2, n_jobs=20000), 8),
                             ("lognormal", fps.QueueWorkload(rate=1.8, service="lognormal", cv=1.5, n_jobs=5000), 2)):
        out.append((f"queue/{name}", lambda q=q, s=servers: _frames(fps.simulate(
            q, q.cluster(s), replications=2, seed=3, record_tasks=True, progress=False, placement="best_fit"))))

    def arrays():
        d = {}
        for r in (0, 1):
            b = fps.ModelOpsWorkload().generate(1, r)
            for f in b.arrays._fields:
                d[f"gen{r}/{f}"] = getattr(b.arrays, f)
            d[f"gen{r}/task_names"] = np.asarray(b.task_names, dtype=str)
            if b.shapes is not None:
                d[f"gen{r}/task_shape"] = b.shapes.task_shape
                d[f"gen{r}/shape_req"] = b.shapes.shape_req
        b = drift.generate(3, 1)
        res = b.triggered[0](np.full(b.models[0].n_models, 3, dtype=np.int64))
        for f in res.arrays._fields:
            d[f"trig/{f}"] = getattr(res.arrays, f)
        for f in b.models[0]._fields:
            d[f"models/{f}"] = getattr(b.models[0], f)
        return d
    out.append(("generated", arrays))
    return out


def _same(a, b) -> bool:
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            return True
        except AssertionError:
            return False
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc":
        # the values, not the storage dtype (a narrower storage of the same values is allowed)
        return a.shape == b.shape and np.array_equal(a, b.astype(a.dtype), equal_nan=True)
    return a.shape == b.shape and np.array_equal(a, b)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("save", "check"):
        print(__doc__)
        return 2
    path = Path(argv[2])
    data = {}
    t0 = time.perf_counter()
    for name, thunk in cases():
        data[name] = thunk()
    print(f"{len(data)} cases in {time.perf_counter() - t0:.1f} s")
    if argv[1] == "save":
        path.write_bytes(pickle.dumps(data))
        return 0
    ref = pickle.loads(path.read_bytes())
    bad = []
    for name, tables in ref.items():
        got = data.get(name)
        if got is None:
            bad.append(f"{name}: missing")
            continue
        for key, value in tables.items():
            if key not in got or not _same(value, got[key]):
                bad.append(f"{name}: {key} differs")
    for line in bad:
        print(line)
    print("identical" if not bad else f"{len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
