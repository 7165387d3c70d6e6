"""The examples under examples/ run, in a reduced size, and say what they claim."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

import lifecycle_tradeoff as lt  # noqa: E402

GPU = (2, 4)
SMALL = dict(gpu_nodes=GPU, replications=4, days=2, seed=5, threads=2, progress=False)


@pytest.fixture(scope="module")
def frame():
    return lt.run_sweep(**SMALL)


def test_main_writes_csv_and_png(tmp_path, capsys):
    rc = lt.main(["--gpu-nodes", "2", "3", "--replications", "3", "--days", "2", "--seed", "2",
                  "--threads", "2", "--out", str(tmp_path)])
    assert rc == 0
    csv = tmp_path / "lifecycle_tradeoff.csv"
    png = tmp_path / "lifecycle_tradeoff.png"
    assert csv.is_file() and png.is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    written = pd.read_csv(csv)
    assert set(written["gpu_nodes"]) == {2, 3}
    assert set(written["policy"]) == {"fifo", "staleness", "staleness - fifo"}
    out = capsys.readouterr().out
    assert "common random numbers" in out and "Paired differences" in out


def test_frame_has_every_configuration(frame):
    means = frame[frame["policy"].isin(["fifo", "staleness"])]
    assert len(means) == len(GPU) * 2 * len(lt.METRICS)
    got = set(zip(means["gpu_nodes"], means["policy"], means["metric"]))
    assert got == {(g, p, m) for g in GPU for p in ("fifo", "staleness") for m in lt.METRICS}
    diffs = frame[frame["policy"] == "staleness - fifo"]
    assert set(zip(diffs["gpu_nodes"], diffs["metric"])) == {(g, m) for g in GPU for m in lt.PAIRED}
    assert not frame.duplicated(["gpu_nodes", "policy", "metric"]).any()
    assert (frame["n"] == SMALL["replications"]).all()


def test_intervals_and_ranges(frame):
    assert frame[["mean", "ci_low", "ci_high"]].notna().all().all()
    assert (frame["ci_low"] <= frame["mean"] + 1e-12).all()
    assert (frame["mean"] <= frame["ci_high"] + 1e-12).all()
    means = frame[frame["policy"] != "staleness - fifo"].set_index(["gpu_nodes", "policy", "metric"])["mean"]
    acc = means.xs("model_accuracy_mean", level="metric")
    assert ((acc > 0) & (acc <= 1)).all()
    below = means.xs("model_frac_below", level="metric")
    assert ((below >= 0) & (below <= 1)).all()
    # more GPU nodes cost more, and share the same GPU work among more GPUs
    for policy in ("fifo", "staleness"):
        cost = [means[(g, policy, "cost")] for g in GPU]
        util = [means[(g, policy, "util_gpu_gpu")] for g in GPU]
        assert cost[0] < cost[1]
        assert util[0] > util[1]
    # the cost is the cluster's price over the observed window (days - 1 day of warm-up)
    price = lt.cluster(GPU[0]).price_per_hour
    assert means[(GPU[0], "fifo", "cost")] == pytest.approx(price * 24 * (SMALL["days"] - 1))


def test_same_seed_same_numbers(frame):
    again = lt.run_sweep(**{**SMALL, "threads": 1})  # another thread count, too
    pd.testing.assert_frame_equal(frame, again)
    other = lt.run_sweep(**{**SMALL, "seed": SMALL["seed"] + 1, "gpu_nodes": GPU[:1]})
    a = frame[frame["gpu_nodes"] == GPU[0]].reset_index(drop=True)
    assert not np.allclose(a["mean"], other["mean"])


def test_policies_see_the_same_exogenous_workload(frame):
    # exogenous pipelines = submitted - those the on_drift rule submitted: identical under
    # both policies (common random numbers), although the retraining counts may differ
    means = frame.set_index(["gpu_nodes", "policy", "metric"])["mean"]
    for g in GPU:
        exo = [means[(g, p, "submitted")] - means[(g, p, "submitted_on_drift")] for p in ("fifo", "staleness")]
        assert exo[0] == pytest.approx(exo[1], abs=1e-9)
    # pipeline by pipeline, on the smallest cluster where the policies differ most
    runs = [fps.simulate(lt.workload(2), lt.cluster(GPU[0]), policy=p, replications=3, seed=SMALL["seed"],
                         warmup=lt.DAY, threads=2, progress=False, record_tasks=True)
            for p in ("fifo", "staleness")]
    cols = ["replication", "pipeline_id", "model_id", "priority", "submit_time", "n_tasks"]
    exo = [r.pipelines[r.pipelines["triggered_by"] == "exogenous"][cols].reset_index(drop=True) for r in runs]
    assert len(exo[0]) > 50
    pd.testing.assert_frame_equal(exo[0], exo[1])
    # ... while the schedules themselves differ (else the comparison would show nothing)
    t = [r.tasks.sort_values(["replication", "pipeline_id", "task"])["start"].to_numpy() for r in runs]
    assert len(t[0]) != len(t[1]) or not np.array_equal(t[0], t[1], equal_nan=True)


# ---------------------------------------------------------------------------- openb_fragmentation.py

import openb_fragmentation as ob  # noqa: E402


@pytest.mark.skipif(not ob.OPENB.exists(), reason="the openb trace is not available")
def test_openb_fragmentation_example(tmp_path, capsys):
    """Reduced (1 seed, 2 policies): it writes the curve and the plot and prints the table beside the paper's."""
    assert ob.main(["--seeds", "1", "--policies", "fgd,gpu_packing", "--threads", "1", "--out", str(tmp_path)]) == 0
    png = tmp_path / "openb_fragmentation.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    u = pd.read_csv(tmp_path / "openb_unallocated.csv")
    assert set(u["policy"]) == {"fgd", "gpu_packing"} and len(u) == 2 * 131
    out = capsys.readouterr().out
    assert "| fgd | " in out and "4.77 (4.70-4.86)" in out  # the paper's FGD beside ours
    at = u[u["arrived_pct"] == 100].set_index("policy")["median"]
    assert at["fgd"] < at["gpu_packing"]


# --------------------------------------------------------------------------- elastic_gpu_pool
import elastic_gpu_pool as eg  # noqa: E402


def test_elastic_example_runs_reduced_and_shows_the_trade_off(tmp_path, capsys):
    rc = eg.main(["--replications", "3", "--days", "2", "--static", "2", "4", "--out", str(tmp_path)])
    assert rc == 0
    frame = pd.read_csv(tmp_path / "elastic_gpu_pool.csv").set_index("pool")
    png = tmp_path / "elastic_gpu_pool.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert set(frame.index) == {"static 2", "static 4", "reactive 2 min", "reactive 10 min",
                                "target_utilization 2 min", "target_utilization 10 min", "reactive 2 min, spot"}
    assert (frame["n"] == 3).all()
    # static pools are paid in full; an elastic pool between its min and max nodes
    assert frame.loc["static 4", "cost"] == pytest.approx(eg.fps.default_cluster().scaled(gpu=4).price_per_hour * 24)
    assert 1.0 <= frame.loc["reactive 2 min", "nodes_up_mean_gpu"] <= 8.0
    assert frame.loc["reactive 2 min, spot", "interruptions"] > 0
    assert frame.loc["reactive 2 min, spot", "cost"] < frame.loc["reactive 2 min", "cost"]
    # the Pareto front is not empty and holds the cheapest pool
    front = eg.pareto(frame.reset_index(), "response_mean")
    assert front.any() and front[frame.reset_index()["cost"].argmin()]
    out = capsys.readouterr().out
    assert "cheapest static pool of equal p95 response" in out and "(paired, 95%)" in out


def test_openb_devices_example_on_openb_like_files(tmp_path, capsys):
    """examples/openb_devices.py on small files in the openb format: every placement runs on devices."""
    import openb_devices
    from test_devices_engine import _openb_like

    src = _openb_like(tmp_path / "raw")
    (src / "nodes.csv").rename(src / "openb_node_list_gpu_node.csv")
    (src / "pods.csv").rename(src / "openb_pod_list_default.csv")
    trace, cluster, horizon = openb_devices.scenario(src, nodes_div=1, speedup=2)
    table = openb_devices.compare(trace, cluster, horizon)
    assert list(table.index) == list(openb_devices.PLACEMENTS)
    assert table["gpu_unallocated_pct"].between(0, 100).all() and (table["gpu_fragmented_pct"] >= 0).all()
    assert openb_devices.main([str(src), "--nodes-div", "1", "--speedup", "2"]) == 0
    assert "gpu_fragmented_pct" in capsys.readouterr().out
