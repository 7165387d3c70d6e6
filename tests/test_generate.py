"""`fastpipesim generate`: a synthetic trace that replays exactly like the generator."""
import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.cli import main


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.crosspath
def test_replaying_a_generated_trace_equals_simulating_the_generator(tmp_path, capsys, fmt):
    out = tmp_path / "trace"
    assert main(["generate", "--seed", "5", "--replication", "2", "--days", "1.5", "--rate", "12",
                 "--out", str(out), "--format", fmt]) == 0
    assert "replay it with" in capsys.readouterr().out
    trace = fps.read_trace(out)
    cluster = fps.read_cluster(out / "cluster.csv")
    wl = fps.ModelOpsWorkload(days=1.5, base_rate=12.0)
    for policy in ("fifo", "srpt"):
        replay = fps.simulate(trace, cluster, policy=policy, horizon=wl.default_horizon, record_tasks=True,
                              accuracy_gate=wl.accuracy_gate, fairness_gate=wl.fairness_gate,
                              robustness_gate=wl.robustness_gate)
        direct = fps.simulate(wl, fps.default_cluster(), policy=policy, replications=[2], seed=5,
                              record_tasks=True)
        a = replay.tasks.drop(columns="replication").reset_index(drop=True)
        b = direct.tasks.drop(columns="replication").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_categorical=False)
        pd.testing.assert_frame_equal(replay.pipelines.drop(columns="replication"),
                                      direct.pipelines.drop(columns="replication"), check_exact=True)
        pd.testing.assert_frame_equal(replay.models.drop(columns="replication"),
                                      direct.models.drop(columns="replication"), check_exact=True)
        assert direct.summary["rejected"].iloc[0] > 0 and direct.summary["deployments"].iloc[0] > 0
        cols = [c for c in direct.summary.columns]
        assert np.array_equal(replay.summary[cols].to_numpy(), direct.summary[cols].to_numpy(), equal_nan=True)


def test_generate_scales_the_rate(tmp_path, capsys):
    main(["generate", "--seed", "1", "--days", "2", "--out", str(tmp_path / "a")])
    main(["generate", "--seed", "1", "--days", "2", "--rate-scale", "3", "--out", str(tmp_path / "b")])
    a = len(pd.read_csv(tmp_path / "a" / "pipelines.csv"))
    b = len(pd.read_csv(tmp_path / "b" / "pipelines.csv"))
    assert 2.5 < b / a < 3.5


def test_generate_refuses_bad_options(tmp_path, capsys):
    assert main(["generate", "--days", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "days" in capsys.readouterr().err
