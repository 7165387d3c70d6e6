"""The ``fastpipesim`` command line: in process through ``main(argv)``, and once as the installed script."""
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fastpipesim import __version__
from fastpipesim.cli import main

# A two-day run keeps these tests quick; its last day is observed.
SMALL_RUN = ["run", "--replications", "4", "--days", "2", "--quiet"]


def write_trace(folder: Path, tasks: str, pipelines: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipelines.csv").write_text(pipelines or "pipeline_id,submit_time,priority\n1,0,0\n2,10,1\n")
    (folder / "tasks.csv").write_text("pipeline_id,task,type,cpu,gpu,mem_gb,duration,after\n" + tasks)
    return folder


# One node of 4 cores. FIFO by ready time (MODEL.md 3-5): a runs [0, 100]; x (ready
# at 10) goes before b (ready at 100) and runs [100, 130]; b needs the cores x holds
# and runs [130, 180].
GOOD_TASKS = (
    "1,a,preprocess,4,0,8,100,\n"
    "1,b,train,2,0,8,50,a\n"
    "2,x,preprocess,4,0,8,30,\n"
)


@pytest.fixture
def cluster_csv(tmp_path):
    path = tmp_path / "cluster.csv"
    path.write_text("pool,count,cpu,gpu,mem_gb,speed,price_per_hour\nsmall,1,4,0,16,1.0,2.0\n")
    return path


def run_main(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- run

def test_run_prints_table_and_writes_files(tmp_path, capsys):
    out_dir = tmp_path / "res"
    code, out, err = run_main(capsys, SMALL_RUN + ["--out", out_dir])
    assert code == 0, err
    header = out.splitlines()[0]
    for word in ("ModelOps", "2 days", "default_cluster", "fifo", "first_fit", "4 replications", "seed 1"):
        assert word in header
    rows = {line.strip().split("  ")[0]: line for line in out.splitlines()}
    response = [r for r in rows if r.startswith("response time, mean (")]
    assert response and " to " in rows[response[0]]  # mean and a 95% interval
    assert any(r.startswith("response time, p95 (") for r in rows)
    assert any(r.startswith("utilization, pool gpu: gpu") for r in rows)
    assert any(r.startswith("utilization, pool cpu: cpu") for r in rows)
    assert "train" in rows
    assert not re.search(r"\d[eE][+-]?\d", out)  # no scientific notation
    summary = pd.read_csv(out_dir / "summary.csv")
    assert list(summary["replication"]) == [0, 1, 2, 3]
    assert {"response_mean", "throughput_per_hour", "cost"} <= set(summary.columns)
    stats = pd.read_csv(out_dir / "stats.csv", index_col="metric")
    assert {"mean", "ci_low", "ci_high"} <= set(stats.columns)
    assert stats.loc["response_mean", "mean"] == pytest.approx(summary["response_mean"].mean())
    waits = pd.read_csv(out_dir / "type_waits.csv")
    assert set(waits["replication"]) == {0, 1, 2, 3} and "train" in set(waits["type"])
    assert str(out_dir / "summary.csv") in out


@pytest.mark.crosspath
def test_run_is_reproducible_across_runs_and_threads(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_main(capsys, SMALL_RUN + ["--seed", "7", "--threads", "1", "--out", a])[0] == 0
    assert run_main(capsys, SMALL_RUN + ["--seed", "7", "--threads", "2", "--out", b])[0] == 0
    assert (a / "summary.csv").read_bytes() == (b / "summary.csv").read_bytes()
    c = tmp_path / "c"
    assert run_main(capsys, SMALL_RUN + ["--seed", "8", "--out", c])[0] == 0
    assert (a / "summary.csv").read_bytes() != (c / "summary.csv").read_bytes()


@pytest.mark.parametrize("argv, message", [
    (["--warmup-days", "2"], "--warmup-days"),
    (["--days", "-1"], "days"),
])
def test_run_bad_options_exit_2(capsys, argv, message):
    code, out, err = run_main(capsys, SMALL_RUN + argv)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["run", "--policy", "bogus"],
    ["run", "--placement", "tightest"],
    ["run", "--replications", "0"],
    ["run", "--threads", "two"],
    ["frobnicate"],
    [],
])
def test_argparse_rejects_bad_arguments(capsys, argv):
    code, out, err = run_main(capsys, argv)
    assert code == 2
    assert "usage:" in err and "Traceback" not in err


def test_version_in_process(capsys):
    code, out, _ = run_main(capsys, ["--version"])
    assert code == 0 and out.strip() == f"fastpipesim {__version__}"


# ----------------------------------------------------------------------------- replay

def test_replay_task_records_and_summary(tmp_path, capsys, cluster_csv):
    trace = write_trace(tmp_path / "trace", GOOD_TASKS)
    tasks_out, summary_out = tmp_path / "out" / "tasks.csv", tmp_path / "summary.csv"
    code, out, err = run_main(capsys, ["replay", trace, "--cluster", cluster_csv,
                                       "--tasks-out", tasks_out, "--summary-out", summary_out])
    assert code == 0, err
    tasks = pd.read_csv(tasks_out).set_index("task")
    assert sorted(tasks.index) == ["a", "b", "x"]
    assert (tasks["status"] == "completed").all()
    assert (tasks["pool"] == "small").all()
    assert tasks.loc[["a", "x", "b"], "start"].tolist() == [0.0, 100.0, 130.0]
    assert tasks.loc[["a", "x", "b"], "end"].tolist() == [100.0, 130.0, 180.0]
    assert tasks.loc[["a", "x", "b"], "ready"].tolist() == [0.0, 10.0, 100.0]
    summary = pd.read_csv(summary_out)
    assert len(summary) == 1
    assert summary.loc[0, "completed"] == 2
    assert summary.loc[0, "response_mean"] == pytest.approx((180.0 + 120.0) / 2)
    # the metric table: two columns, the response time in minutes (150 s = 2.50 min)
    lines = out.splitlines()
    assert lines[2].split() == ["metric", "value"]
    assert any(line.startswith("response time, mean (min)") and line.endswith("2.50") for line in lines)
    assert any(line.startswith("pipelines completed") and line.split()[-1] == "2" for line in lines)


def test_replay_horizon_statuses_parquet(tmp_path, capsys, cluster_csv):
    pytest.importorskip("pyarrow")
    trace = write_trace(tmp_path / "trace", GOOD_TASKS)
    tasks_out = tmp_path / "tasks.parquet"
    code, out, err = run_main(capsys, ["replay", trace, "--cluster", cluster_csv, "--horizon", "120",
                                       "--placement", "best_fit", "--tasks-out", tasks_out])
    assert code == 0, err
    tasks = pd.read_parquet(tasks_out).set_index("task")
    # at t = 120: a has completed, x is running, b is not ready yet
    assert tasks["status"].astype(str).to_dict() == {"a": "completed", "x": "unfinished", "b": "not_started"}


def test_replay_no_backfill_and_policy(tmp_path, capsys, cluster_csv):
    # sjf puts x (30 s) before b (50 s) as fifo does; priority 1 of pipeline 2 does too.
    trace = write_trace(tmp_path / "trace", GOOD_TASKS)
    for policy in ("sjf", "priority", "srpt"):
        tasks_out = tmp_path / f"{policy}.csv"
        code, _, err = run_main(capsys, ["replay", trace, "--cluster", cluster_csv, "--policy", policy,
                                         "--no-backfill", "--tasks-out", tasks_out])
        assert code == 0, err
        starts = pd.read_csv(tasks_out).set_index("task")["start"].to_dict()
        assert starts == {"a": 0.0, "x": 100.0, "b": 130.0}


@pytest.mark.parametrize("tasks, rule", [
    ("1,a,preprocess,4,0,8,100,b\n1,b,train,2,0,8,50,a\n2,x,preprocess,4,0,8,30,\n", "cycle"),
    ("1,a,preprocess,4,0,8,100,\n1,b,train,2,1,8,50,a\n2,x,preprocess,4,0,8,30,\n", "fits on no node"),
    ("1,a,preprocess,4,0,8,0,\n1,b,train,2,0,8,50,a\n2,x,preprocess,4,0,8,30,\n", "duration"),
    ("1,a,preprocess,4,0,8,100,\n1,b,train,2,0,8,50,zz\n2,x,preprocess,4,0,8,30,\n", "after"),
])
def test_replay_bad_trace_exit_2(tmp_path, capsys, cluster_csv, tasks, rule):
    trace = write_trace(tmp_path / "trace", tasks)
    tasks_out = tmp_path / "tasks.csv"
    code, out, err = run_main(capsys, ["replay", trace, "--cluster", cluster_csv, "--tasks-out", tasks_out])
    assert code == 2
    assert err.startswith("error: ")
    assert "tasks.csv" in err and rule in err
    assert "Traceback" not in err
    assert not tasks_out.exists()  # nothing ran


def test_replay_bad_cluster_and_missing_files_exit_2(tmp_path, capsys, cluster_csv):
    trace = write_trace(tmp_path / "trace", GOOD_TASKS)
    bad = tmp_path / "bad_cluster.csv"
    bad.write_text("pool,count,cpu,gpu,mem_gb\nsmall,-1,4,0,16\n")
    code, _, err = run_main(capsys, ["replay", trace, "--cluster", bad])
    assert code == 2 and "bad_cluster.csv" in err and "count" in err and "Traceback" not in err
    code, _, err = run_main(capsys, ["replay", tmp_path / "nowhere", "--cluster", cluster_csv])
    assert code == 2 and "nowhere" in err and "not found" in err
    code, _, err = run_main(capsys, ["replay", trace, "--cluster", tmp_path / "none.csv"])
    assert code == 2 and "none.csv" in err
    code, _, err = run_main(capsys, ["replay", trace, "--cluster", cluster_csv, "--horizon", "0"])
    assert code == 2 and "--horizon" in err
    code, _, err = run_main(capsys, ["replay", trace])  # --cluster is required
    assert code == 2 and "--cluster" in err


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # the module, not the function that fastpipesim re-exports under the same name
    monkeypatch.setattr(importlib.import_module("fastpipesim.simulate"), "simulate", interrupted)
    code, _, err = run_main(capsys, SMALL_RUN)
    assert code == 130
    assert "interrupted" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- installed script

def test_console_script_runs(tmp_path):
    script = Path(sys.executable).parent / "fastpipesim"
    script = str(script) if script.exists() else shutil.which("fastpipesim")
    if script is None:
        pytest.skip("the fastpipesim console script is not installed")
    trace = write_trace(tmp_path / "trace", GOOD_TASKS)
    (tmp_path / "cluster.csv").write_text("pool,count,cpu,gpu,mem_gb\nsmall,1,4,0,16\n")
    done = subprocess.run([script, "replay", str(trace), "--cluster", str(tmp_path / "cluster.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "response time, mean" in done.stdout
    done = subprocess.run([sys.executable, "-m", "fastpipesim", "--version"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == f"fastpipesim {__version__}"


def test_run_shorter_than_the_default_warmup(capsys):
    """`--days 1` works: the default warmup shrinks to a seventh of a short run."""
    assert main(["run", "--days", "1", "--replications", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "warmup 0.142857 days" in out or "warmup 3.4" in out


# ----------------------------------------------------------------------------- elastic clusters

def test_replay_with_an_autoscaler_writes_the_node_timeline(tmp_path, capsys):
    """One node of an elastic pool (min 0, boot 30 s): the tick at 0 precedes the arrival, the
    tick at 10 requests the node, up at 40; a, x and b then run back to back (GOOD_TASKS)."""
    trace = write_trace(tmp_path / "trace", GOOD_TASKS)
    cluster = tmp_path / "cluster.csv"
    cluster.write_text("pool,count,cpu,gpu,mem_gb,price_per_hour,min_count,max_count,boot_time\n"
                       "small,0,4,0,16,3.6,0,1,30\n")
    tasks_out, nodes_out = tmp_path / "tasks.csv", tmp_path / "nodes.csv"
    code, out, err = run_main(capsys, ["replay", trace, "--cluster", cluster, "--horizon", 1000,
                                       "--autoscaler", "reactive", "--idle-timeout", 100, "--autoscaler-interval", 10,
                                       "--tasks-out", tasks_out, "--nodes-out", nodes_out, "--summary-out",
                                       tmp_path / "summary.csv"])
    assert code == 0, err
    tasks = pd.read_csv(tasks_out).set_index("task")
    assert tasks.loc[["a", "x", "b"], "start"].tolist() == [40.0, 140.0, 170.0]
    nodes = pd.read_csv(nodes_out)
    assert nodes[["requested", "up", "released"]].values.tolist() == [[10.0, 40.0, 320.0]]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.loc[0, "cost"] == pytest.approx(3.6 * 310 / 3600) and summary.loc[0, "scale_downs"] == 1
    assert "elastic cluster (MODEL.md 11)" in out
    assert any(line.startswith("nodes requested by the autoscaler") and line.split()[-1] == "1"
               for line in out.splitlines())
    # a parameter of another autoscaler is an error naming it
    code, out, err = run_main(capsys, ["replay", trace, "--cluster", cluster, "--horizon", 1000,
                                       "--autoscaler", "reactive", "--target", 0.5])
    assert code == 2 and "target" in err


def test_run_on_an_elastic_cluster_file(tmp_path, capsys):
    cluster = tmp_path / "cluster.csv"
    cluster.write_text("pool,count,cpu,gpu,mem_gb,price_per_hour,min_count,max_count,boot_time\n"
                       "cpu,3,32,0,128,1.536,3,3,0\ngpu,2,48,4,192,5.672,1,6,300\n")
    code, out, err = run_main(capsys, ["run", "--days", "1", "--replications", "2", "--quiet", "--cluster", cluster,
                                       "--autoscaler", "target_utilization", "--target", 0.6, "--out", tmp_path / "o"])
    assert code == 0, err
    nodes = pd.read_csv(tmp_path / "o" / "nodes.csv")
    assert (nodes["reason"] == "scale_up").any()
    assert "nodes_up_mean_gpu" in pd.read_csv(tmp_path / "o" / "summary.csv").columns
