"""simulate()'s batching, progress and results API."""
import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps


def test_generator_shapes_match_the_requests():
    """A generator's own request shapes must group exactly the tasks' requests."""
    b = fps.ModelOpsWorkload(days=1).batch(3, [0, 1])
    task_shape, shape_req = b.shapes
    req = np.stack([b.arrays.cpu, b.arrays.gpu, b.arrays.mem], axis=1)
    assert np.array_equal(shape_req[task_shape], req)


def test_grouping_requests_when_the_batch_has_no_shapes():
    from fastpipesim.simulate import request_shapes

    b = fps.ModelOpsWorkload(days=1).generate(3, 0)
    plain = fps.Batch(b.arrays, b.type_names, b.task_names, b.replications)
    task_shape, shape_req = request_shapes(plain, fps.default_cluster())
    req = np.stack([b.arrays.cpu, b.arrays.gpu, b.arrays.mem], axis=1)
    assert np.array_equal(shape_req[task_shape], req)
    assert len(shape_req) == len(np.unique(req, axis=0))


def test_progress_callback_sees_every_replication():
    calls = []
    wl = fps.ModelOpsWorkload(days=0.5)
    fps.simulate(wl, replications=5, seed=1, threads=2,
                 progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


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


def test_pipeline_records_say_how_each_pipeline_ended():
    wl = fps.QueueWorkload(rate=2.0, service_mean=1.0, n_jobs=300)  # overloaded: a queue builds
    res = fps.simulate(wl, wl.cluster(1), replications=2, seed=3, horizon=100.0, record_tasks=True)
    pl = res.pipelines
    done = pl["outcome"] == "completed"
    assert np.isfinite(pl.loc[done, "end"]).all() and pl.loc[~done, "end"].isna().all()
    assert (pl.loc[pl["outcome"] == "not_submitted", "submit_time"] > 100.0).all()
    assert (pl.loc[pl["outcome"] == "unfinished", "submit_time"] <= 100.0).all()
    assert set(pl["outcome"]) == {"completed", "unfinished", "not_submitted"}
    # the summary counts the same pipelines
    s = res.summary
    per_rep = pl[pl["submit_time"] < 100.0].groupby("replication")["outcome"]
    assert (per_rep.apply(lambda o: (o == "completed").sum()).to_numpy() == s["completed"].to_numpy()).all()
