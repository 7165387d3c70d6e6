"""Custom policies and the option checks of simulate()."""
import numpy as np
import pytest

import fastpipesim as fps
from randtrace import random_trace
from test_oracle import assert_same_schedule


def _trace(seed=5):
    rng = np.random.default_rng(seed)
    pipelines, tasks, cluster = random_trace(rng, n_pipelines=14)
    cluster["count"] = 1
    return fps.Trace.from_frames(pipelines, tasks), fps.Cluster(cluster)


@pytest.mark.parametrize("builtin,key", [
    ("fifo", lambda ready: ready),
    ("priority", lambda priority: -float(priority)),
    ("sjf", lambda duration: duration),
    ("srpt", lambda remaining: remaining),
])
@pytest.mark.parametrize("backfill", [True, False])
def test_custom_key_equal_to_a_builtin_gives_its_schedule(builtin, key, backfill):
    trace, cluster = _trace()
    a = fps.simulate(trace, cluster, policy=builtin, backfill=backfill, record_tasks=True)
    b = fps.simulate(trace, cluster, policy=fps.custom_policy(key), backfill=backfill, record_tasks=True)
    assert_same_schedule(b.tasks, a.tasks, f"custom {builtin}")


def test_custom_key_changes_the_schedule_and_sees_the_time():
    trace, cluster = _trace(9)
    fifo = fps.simulate(trace, cluster, policy="fifo", record_tasks=True).tasks
    # key = time waited so far: the longest-waiting task runs last (LIFO)
    lifo = fps.simulate(trace, cluster, policy=fps.custom_policy(lambda now, ready: now - ready),
                        record_tasks=True).tasks
    with pytest.raises(AssertionError):
        assert_same_schedule(lifo, fifo, "lifo vs fifo")


def test_custom_key_nan_sorts_last():
    trace, cluster = _trace(2)
    res = fps.simulate(trace, cluster, policy=fps.custom_policy(lambda duration: np.nan if duration > 2 else duration),
                       record_tasks=True)
    assert (res.tasks["status"] == "completed").all()


def test_custom_policy_rejects_unknown_fields():
    with pytest.raises(ValueError, match="not known fields"):
        fps.custom_policy(lambda ready, colour: ready)


def test_plain_function_must_be_wrapped():
    trace, cluster = _trace()
    with pytest.raises(TypeError, match="custom_policy"):
        fps.simulate(trace, cluster, policy=lambda ready: ready)


@pytest.mark.parametrize("kwargs,match", [
    (dict(policy="lifo"), "unknown policy"),
    (dict(placement="next_fit"), "unknown placement"),
    (dict(horizon=-1.0), "horizon"),
    (dict(warmup=float("nan")), "warmup"),
    (dict(replications=0), "replications"),
    (dict(threads=0), "threads"),
])
def test_bad_options_are_clear_errors(kwargs, match):
    trace, cluster = _trace()
    with pytest.raises(ValueError, match=match):
        fps.simulate(trace, cluster, **kwargs)


def test_task_that_fits_no_node_is_an_input_error():
    trace, _ = _trace()
    tiny = fps.Cluster.from_pools([{"pool": "tiny", "count": 2, "cpu": 0.25, "gpu": 0, "mem_gb": 1}])
    with pytest.raises(fps.InputError, match="could never run"):
        fps.simulate(trace, tiny)
