"""The traces shipped in traces/ read, validate and replay as traces/README.md says."""
from pathlib import Path

import pytest

import fastpipesim as fps

pytestmark = pytest.mark.crosspath

TRACES = Path(__file__).resolve().parent.parent / "traces"


def gates_of(wl):
    return dict(accuracy_gate=wl.accuracy_gate, fairness_gate=wl.fairness_gate, robustness_gate=wl.robustness_gate)


@pytest.mark.parametrize("name,seed,days,pipelines,tasks", [
    ("modelops-small", 1, 1.0, 230, 1458),
    ("modelops-medium", 2, 7.0, 1336, 8408),
])
def test_shipped_trace_is_what_readme_says(name, seed, days, pipelines, tasks):
    trace = fps.read_trace(TRACES / name)
    assert (trace.n_pipelines, trace.n_tasks) == (pipelines, tasks)
    assert f"--seed {seed} --days {days:g} --out traces/{name}" in (TRACES / "README.md").read_text()
    cluster = fps.read_cluster(TRACES / name / "cluster.csv")
    wl = fps.ModelOpsWorkload(days=days)
    # the gates are the platform's, not the trace's: replay with the generator's
    replay = fps.simulate(trace, cluster, horizon=wl.default_horizon, **gates_of(wl))
    direct = fps.simulate(wl, replications=[0], seed=seed)
    assert replay.summary["response_mean"].iloc[0] == direct.summary["response_mean"].iloc[0]
    assert replay.summary["completed"].iloc[0] == direct.summary["completed"].iloc[0]
    assert replay.summary["model_accuracy_mean"].iloc[0] == direct.summary["model_accuracy_mean"].iloc[0]
