"""simulate()'s batching, progress and results API."""
import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.simulate import _batches


def test_batches_respect_the_task_budget_and_keep_every_replication():
    wl = fps.QueueWorkload(rate=1.0, service_mean=0.5, n_jobs=1000)
    batches = list(_batches(wl, np.arange(10), 3, batch_size=100, task_budget=2500))
    assert [b.n_replications for b in batches] == [2, 2, 2, 2, 2]
    assert np.concatenate([b.replications for b in batches]).tolist() == list(range(10))
    # a replication larger than the budget still runs, alone
    assert [b.n_replications for b in _batches(wl, np.arange(3), 3, 100, task_budget=10)] == [1, 1, 1]
    assert [b.n_replications for b in _batches(wl, np.arange(7), 3, 3)] == [3, 3, 1]


def test_task_budget_does_not_change_results(monkeypatch):
    wl = fps.QueueWorkload(rate=1.0, service_mean=0.8, n_jobs=2000)
    a = fps.simulate(wl, wl.cluster(1), replications=6, seed=4, progress=False).summary
    import importlib

    monkeypatch.setattr(importlib.import_module("fastpipesim.simulate"), "BATCH_TASK_BUDGET", 3000)
    b = fps.simulate(wl, wl.cluster(1), replications=6, seed=4, progress=False).summary
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_progress_callback_sees_every_replication():
    calls = []
    wl = fps.ModelOpsWorkload(days=0.5)
    fps.simulate(wl, replications=5, seed=1, batch_size=2, threads=1,
                 progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_summaries_only_run_keeps_no_records():
    res = fps.simulate(fps.ModelOpsWorkload(days=0.5), replications=3, seed=1, progress=False)
    assert all(p.records is None and p.batch is None for p in res._parts)
    with pytest.raises(ValueError, match="record_tasks=True"):
        res.tasks
    assert len(res.summary) == 3


def test_paired_comparison_is_narrower_than_unpaired():
    wl = fps.ModelOpsWorkload(days=2)
    small = fps.default_cluster()
    a = fps.simulate(wl, small, replications=12, seed=5, progress=False)
    b = fps.simulate(wl, small, policy="sjf", replications=12, seed=5, progress=False)
    paired = b.compare(a).loc["response_mean"]
    sa, sb = a.stats().loc["response_mean"], b.stats().loc["response_mean"]
    assert paired["mean"] == pytest.approx(sb["mean"] - sa["mean"])
    # common random numbers: the paired interval is much tighter than the interval
    # of the difference of two independent means would be
    unpaired = np.hypot(sa["half_width"], sb["half_width"])
    assert paired["half_width"] < 0.7 * unpaired
    assert np.corrcoef(a.summary["response_mean"], b.summary["response_mean"])[0, 1] > 0.8


def test_stats_interval_is_the_student_t_interval():
    res = fps.simulate(fps.ModelOpsWorkload(days=0.5), replications=6, seed=2, progress=False)
    x = res.summary["response_mean"].to_numpy()
    from scipy import stats as sps
    lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=x.std(ddof=1) / np.sqrt(len(x)))
    row = res.stats().loc["response_mean"]
    assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
