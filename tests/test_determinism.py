"""Results depend on (workload, cluster, config, seed, replication) and nothing else (STYLE.md).

Not on the thread count, on whether replications are generated one by one or
passed as one pre-generated batch, or on which other replications run in the
same call; and a different seed gives a different run.
"""
import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.workload import concat_batches

pytestmark = pytest.mark.crosspath

WORKLOADS = {
    # short ModelOps runs, on a cluster small enough that tasks queue
    "modelops": (fps.ModelOpsWorkload(days=1.0), fps.default_cluster().scaled(gpu=1), dict(policy="srpt")),
    "queue": (fps.QueueWorkload(rate=1.8, service="lognormal", cv=1.5, n_jobs=2000), None,
              dict(placement="best_fit")),
}


def _run(name, **kw):
    w, cluster, opts = WORKLOADS[name]
    cluster = w.cluster(2) if cluster is None else cluster
    args = dict(opts, seed=11, replications=6, record_tasks=True, progress=False) | kw
    return fps.simulate(w, cluster, **args)


def base_batch(name, r):
    return WORKLOADS[name][0].generate(11, int(r))


def _run_batch(name, batch):
    w, cluster, opts = WORKLOADS[name]
    cluster = w.cluster(2) if cluster is None else cluster
    args = dict(opts, record_tasks=True, progress=False, threads=2,
                horizon=getattr(w, "default_horizon", None))
    return fps.simulate(batch, cluster, **args)


def assert_same(a, b):
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    pd.testing.assert_frame_equal(a.type_waits, b.type_waits, check_exact=True)
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)
    pd.testing.assert_frame_equal(a.pipelines, b.pipelines, check_exact=True)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_same_seed_same_results(name):
    a = _run(name, threads=1)
    assert a.summary["completed"].sum() > 0 and (a.tasks["start"] > a.tasks["ready"]).any()
    assert_same(a, _run(name, threads=1))


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_thread_count_does_not_matter(name):
    base = _run(name, threads=1)
    for threads in (2, 3, 5):
        assert_same(base, _run(name, threads=threads))


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_a_pregenerated_batch_gives_the_same_results(name):
    """simulate(Batch) runs the replications of one batch; the results are those of the per-replication path."""
    base = _run(name, threads=2)
    batch = concat_batches([base_batch(name, r) for r in base.replications])
    again = _run_batch(name, batch)
    assert_same(base, again)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_a_replication_alone_equals_it_in_a_batch(name):
    many = _run(name, replications=[4, 0, 9, 2, 7], threads=2)
    assert list(many.summary.index) == [4, 0, 9, 2, 7]
    for r in (9, 2):
        alone = _run(name, replications=[r], threads=1)
        pd.testing.assert_frame_equal(alone.summary, many.summary.loc[[r]], check_exact=True)
        for frame in ("tasks", "pipelines"):
            x = getattr(alone, frame).reset_index(drop=True)
            y = getattr(many, frame)
            y = y[y["replication"] == r].reset_index(drop=True)
            pd.testing.assert_frame_equal(x, y, check_exact=True)
    # and replication r of replications=n is replication r of the workload
    first = _run(name, replications=10, threads=2)
    pd.testing.assert_frame_equal(first.summary.loc[[4, 0, 9, 2, 7]], many.summary, check_exact=True)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_different_seeds_and_replications_differ(name):
    a = _run(name, seed=11, replications=3)
    b = _run(name, seed=12, replications=3)
    # every replication differs between the seeds, and the replications of a seed differ
    for col in ("response_mean", "wait_mean"):
        assert (a.summary[col].to_numpy() != b.summary[col].to_numpy()).all()
        assert len(np.unique(a.summary[col])) == 3


def test_generators_are_deterministic_per_seed_and_replication():
    for w in (fps.ModelOpsWorkload(days=0.5), fps.QueueWorkload(n_jobs=500, service="gamma", cv=2.0)):
        x, y = w.generate(5, 2), w.generate(5, 2)
        for f, g in zip(x.arrays, y.arrays):
            assert np.array_equal(f, g, equal_nan=True)
        assert np.array_equal(x.task_names, y.task_names)
        assert not np.array_equal(w.generate(5, 3).arrays.submit[:10], x.arrays.submit[:10])
