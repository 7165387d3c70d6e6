"""Campaigns (fastpipesim.campaign): experiment files, results equal to simulate, resume, precision, Dask."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.campaign import Campaign, CampaignResults, ExperimentError
from fastpipesim.campaign.run import run_campaign
from fastpipesim.campaign.stats import holm, mser5
from fastpipesim.cli import main

ROOT = Path(__file__).resolve().parent.parent

SMALL = """
name = "small"
seed = 3
replications = 5

[workload]
generator = "modelops"
days = 0.5

[cluster]
preset = "default"

[run]
horizon_days = 0.5
warmup_hours = 2

[sweep]
policy = ["fifo", "sjf"]
"cluster.scale.gpu" = [1, 2]

[compare]
baseline = { policy = "fifo" }
"""


def write(tmp_path, text, name="exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def result_files(folder: Path) -> dict:
    """The contents of a finished campaign's result files (what must not depend on how it ran)."""
    out = {}
    for name in ("replications.parquet", "models.parquet", "series.parquet"):
        p = folder / name
        if p.is_file():
            out[name] = pd.read_parquet(p)
    for name in ("stats.csv", "compare.csv", "warmup.csv", "scenarios.csv", "campaign.json"):
        p = folder / name
        if p.is_file():
            out[name] = p.read_text()
    return out


def assert_same_files(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
        else:
            assert a[k] == b[k], k


# --------------------------------------------------------------------------- results
def test_scenarios_equal_the_simulate_calls_bit_for_bit(tmp_path):
    camp = Campaign.from_toml(write(tmp_path, SMALL))
    assert list(camp.scenarios["scenario"]) == ["s000", "s001", "s002", "s003"]
    # the product in file order, the last key fastest
    assert camp.scenarios[["policy", "cluster.scale.gpu"]].values.tolist() == [
        ["fifo", 1], ["fifo", 2], ["sjf", 1], ["sjf", 2]]
    res = camp.run(tmp_path / "out", batch=2, progress=False)
    assert res.complete and len(res.replications) == 20
    for k in range(4):
        w, cluster, kw = camp.simulate_args(k)
        assert kw == {"policy": ["fifo", "sjf"][k // 2], "horizon": 43200.0, "warmup": 7200.0}
        assert cluster.pools.set_index("pool").loc["gpu", "count"] == [1, 2][k % 2]
        ref = fps.simulate(w, cluster, seed=3, replications=5, **kw)
        got = res.scenario(k)
        pd.testing.assert_frame_equal(got[ref.summary.columns], ref.summary, check_exact=True)
        mine = res.models[res.models["scenario"] == f"s{k:03d}"].drop(
            columns=["scenario", "policy", "cluster.scale.gpu"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, ref.models, check_exact=True)
    # the stats are Results.stats' numbers, the paired differences Results.compare's
    st = res.stats.set_index(["scenario", "metric"])
    ref = fps.simulate(*camp.simulate_args(3)[:2], seed=3, replications=5, **camp.simulate_args(3)[2])
    base = fps.simulate(*camp.simulate_args(1)[:2], seed=3, replications=5, **camp.simulate_args(1)[2])
    assert st.loc[("s003", "response_mean"), "ci_high"] == ref.stats().loc["response_mean", "ci_high"]
    cmp = res.compare.set_index(["scenario", "metric"])
    assert cmp.loc[("s003", "response_mean"), "baseline"] == "s001"
    diff = ref.compare(base).loc["response_mean"]
    assert cmp.loc[("s003", "response_mean"), "mean_diff"] == diff["mean"]
    assert cmp.loc[("s003", "response_mean"), "ci_low"] == diff["ci_low"]
    # the folder reopens to the same thing
    again = CampaignResults.open(tmp_path / "out")
    pd.testing.assert_frame_equal(again.replications, res.replications)


def test_the_replications_table_has_the_documented_columns(tmp_path):
    res = Campaign.from_toml(write(tmp_path, SMALL)).run(tmp_path / "out", progress=False)
    cols = list(res.replications.columns)
    assert cols[:4] == ["scenario", "policy", "cluster.scale.gpu", "replication"]
    assert {"response_mean", "util_gpu_gpu", "cost", "model_accuracy_mean"} <= set(cols)
    st = res.stats
    assert list(st.columns[:4]) == ["scenario", "policy", "cluster.scale.gpu", "metric"]
    assert {"n", "mean", "std", "ci_low", "ci_high", "half_width", "rel_half_width"} <= set(st.columns)
    cmp = res.compare
    assert set(cmp["scenario"]) == {"s002", "s003"} and set(cmp["baseline"]) == {"s000", "s001"}
    assert {"mean_diff", "ci_low", "ci_high", "p_value", "p_holm"} <= set(cmp.columns)
    assert (cmp["p_holm"] >= cmp["p_value"] - 1e-15).all()
    on_disk = json.loads((tmp_path / "out" / "campaign.json").read_text())
    assert on_disk["experiment"]["seed"] == 3 and (tmp_path / "out" / "experiment.toml").read_text() == SMALL


def test_a_dict_experiment_runs_the_same_as_its_toml(tmp_path):
    import tomllib

    a = Campaign.from_toml(write(tmp_path, SMALL)).run(tmp_path / "a", progress=False)
    b = Campaign(tomllib.loads(SMALL)).run(tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(a.replications, b.replications, check_exact=True)
    assert (tmp_path / "b" / "experiment.json").is_file()


def test_workload_fields_traces_and_queue_generators(tmp_path):
    # a swept workload field, a trace given by a relative path, a queue on its own servers
    trace_dir = tmp_path / "tr"
    fps.ModelOpsWorkload(days=0.25).tables(5, 0)
    tables = fps.ModelOpsWorkload(days=0.25).tables(5, 0)
    fps.Trace.from_frames(tables["pipelines"], tables["tasks"]).write(trace_dir)
    exp = write(tmp_path, """
seed = 1
replications = 2
[workload]
trace = "tr"
[sweep]
placement = ["first_fit", "best_fit"]
""")
    res = Campaign.from_toml(exp).run(tmp_path / "o1", progress=False)
    direct = fps.simulate(fps.read_trace(trace_dir), replications=2, placement="best_fit")
    pd.testing.assert_frame_equal(res.scenario(1)[direct.summary.columns], direct.summary, check_exact=True)

    exp = write(tmp_path, """
seed = 2
replications = 3
[workload]
generator = "queue"
rate = 1.5
n_jobs = 300
[cluster]
servers = 2
[sweep]
"workload.service" = ["exp", "det"]
""", "q.toml")
    res = Campaign.from_toml(exp).run(tmp_path / "o2", progress=False)
    w = fps.QueueWorkload(rate=1.5, n_jobs=300, service="det")
    direct = fps.simulate(w, w.cluster(2), seed=2, replications=3)
    pd.testing.assert_frame_equal(res.scenario(1)[direct.summary.columns], direct.summary, check_exact=True)

    # a fitted workload (PARAMS), twice as busy
    from fastpipesim.fit import FitResult, fit_trace

    fit_trace(fps.read_trace(trace_dir)).save(tmp_path / "p.json")
    exp = write(tmp_path, """
seed = 4
replications = 2
[workload]
params = "p.json"
rate_scale = 2
""", "f.toml")
    res = Campaign.from_toml(exp).run(tmp_path / "o3", progress=False)
    w = FitResult.load(tmp_path / "p.json").generator(rate_scale=2)
    direct = fps.simulate(w, seed=4, replications=2)
    pd.testing.assert_frame_equal(res.scenario(0)[direct.summary.columns], direct.summary, check_exact=True)


# --------------------------------------------------------------------------- bad files
BAD = [
    ("nme = 'x'", "nme", "unknown key"),
    ("[workload]\ndayz = 3", "workload.dayz", "not a ModelOpsWorkload field"),
    ("[workload]\ndays = 'three'", "workload.days", "expected a number"),
    ("[workload]\non_drift = 1", "workload.on_drift", "expected a boolean"),
    ("[workload]\ndays = -2", "workload.days", "days must be"),
    ("replications = 0", "replications", "integer >= 1"),
    ("replications = 2.5", "replications", "expected an integer"),
    ("[replications]\nmin = 5\nmax = 50\nprecision = { metrics = ['response_mean'] }",
     "replications.precision.relative_half_width", "missing"),
    ("[replications]\nmin = 5\nmax = 50\nprecision = { metrics = ['respons_mean'], relative_half_width = 0.1 }",
     "replications.precision.metrics", "unknown metric"),
    ("[run]\npolicy = 'lifo'", "run.policy", "expected one of"),
    ("[run]\nhorizon_days = 1\nhorizon = 5", "run.horizon", "give horizon once"),
    ("[run]\nthreads = 2", "run.threads", "unknown key"),
    ("[sweep]\npolicy = []", "sweep.policy", "non-empty list"),
    ("[sweep]\npolicy = 'fifo'", "sweep.policy", "expected a list"),
    ("[sweep]\npolicy = ['fifo', 'lifo']", "sweep.policy[1]", "expected one of"),
    ("[sweep]\ndays = [1, 2]", "sweep.days", "a bare key names a [run] key"),
    ('[sweep]\n"cluster.scale.tpu" = [1]', 'sweep."cluster.scale.tpu"[0]', "no pool of that name"),
    ('[sweep]\n"workload.days" = [1, 0]', 'sweep."workload.days"[1]', "days must be"),
    ("[sweep]\npolicy = ['fifo', 'sjf']\n[compare]\nbaseline = { policy = 'srpt' }", "compare.baseline",
     "matches no scenario"),
    ("[sweep]\npolicy = ['fifo', 'sjf']\n[compare]\nbaseline = { placement = 'best_fit' }",
     "compare.baseline.placement", "not a swept key"),
    ("[workload]\ntrace = 'no-such-folder'", "workload.trace", "not found"),
    ("[workload]\nparams = 'no-such.json'", "workload.params", "not found"),
    ("[cluster]\nfile = 'no-such.csv'", "cluster.file", "not found"),
    ("[cluster]\npreset = 'default'\nfile = 'x.csv'", "cluster.file", "not both"),
    ("[cluster]\nscale = { gpu = -1 }", "cluster.scale.gpu", ">= 0"),
    ("[series]\nbin_hours = 0", "series.bin_hours", "> 0"),
    # functions named in the file, schedules, explicit scenarios
    ("[run]\npolicy = 'keys.py:k'", "run.policy", "file not found"),
    ("[run]\npolicy = 'no_such_module_xyz:k'", "run.policy", "cannot be imported"),
    ("[run]\npolicy = 'math:nope'", "run.policy", "defines no 'nope'"),
    ("[run]\npolicy = 'math:pi'", "run.policy", "not a function"),
    ("[run]\npolicy = 'os.path:join'", "run.policy", "are not key fields"),
    ("[run]\npolicy = 'keys:'", "run.policy", "expected 'file.py:function'"),
    ("[run]\nautoscaler = 'schedule'", "run.schedule", "missing"),
    ("[run]\nautoscaler = 'custom'", "run.autoscaler_function", "missing"),
    ("[run]\nautoscaler = 'reactive'\nschedule = 's.csv'", "run.schedule", "no such parameter"),
    ("[run]\nautoscaler = 'schedule'\nschedule = 's.csv'", "run.schedule", "cannot be read"),
    ("[run]\nautoscaler = 'schedule'\nschedule = [{ pool = 'tpu', day = -1, hour = 0, count = 1 }]",
     "run.schedule", "unknown pool"),
    ("[run]\nautoscaler = 'schedule'\nschedule = 3", "run.schedule", "a CSV file or a list of tables"),
    ("[run]\nautoscaler = 'custom'\nautoscaler_function = 'operator:add'", "run.autoscaler_function",
     "6 arguments"),
    ("scenarios = 3", "scenarios", "non-empty list of tables"),
    ("[[scenarios]]\npolicy = ['fifo']", "scenarios[0].policy", "one value per entry"),
    ("[[scenarios]]\ndays = 1", "scenarios[0].days", "a bare key names a [run] key"),
    ("[[scenarios]]\npolicy = 'lifo'", "scenarios[0].policy", "expected one of"),
    ("[[scenarios]]\npolicy = 'fifo'\n[[scenarios]]\npolicy = 'fifo'", "scenarios[1]", "the same scenario"),
    ("[[scenarios]]\npolicy = 'fifo'\n[sweep]\npolicy = ['sjf']", "sweep.policy", "also a key"),
]


@pytest.mark.parametrize("text,key,words", BAD)
def test_bad_experiment_files_name_the_key(tmp_path, text, key, words):
    path = write(tmp_path, text + "\n")
    with pytest.raises(ExperimentError) as info:
        Campaign.from_toml(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}: "), msg
    assert words in msg, msg


def test_a_bad_file_fails_on_the_command_line_before_anything_runs(tmp_path, capsys):
    path = write(tmp_path, "[sweep]\npolicy = []\n")
    assert main(["campaign", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "sweep.policy" in err and "non-empty" in err
    assert not (tmp_path / "out").exists()
    assert main(["campaign", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out")]) == 2
    path = write(tmp_path, "seed = [1", "broken.toml")
    assert main(["campaign", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_a_task_that_fits_no_node_is_reported_before_anything_runs(tmp_path):
    path = write(tmp_path, SMALL.replace('"cluster.scale.gpu" = [1, 2]', '"cluster.scale.gpu" = [1, 0]'))
    with pytest.raises(ExperimentError) as info:
        Campaign.from_toml(path)
    assert 'sweep."cluster.scale.gpu"[1]' in str(info.value) and "fits no node" in str(info.value)


# --------------------------------------------------------------------------- resume
def test_resume_refuses_a_changed_experiment_and_an_occupied_folder(tmp_path):
    path = write(tmp_path, SMALL)
    Campaign.from_toml(path).run(tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="holds a campaign already"):
        Campaign.from_toml(path).run(tmp_path / "out", progress=False)
    changed = write(tmp_path, SMALL.replace("seed = 3", "seed = 4"), "changed.toml")
    with pytest.raises(ValueError, match="experiment differs"):
        Campaign.from_toml(changed).run(tmp_path / "out", resume=True, progress=False)
    with pytest.raises(ValueError, match="no campaign to resume"):
        Campaign.from_toml(path).run(tmp_path / "empty", resume=True, progress=False)


def test_resuming_a_finished_campaign_computes_nothing(tmp_path):
    path = write(tmp_path, SMALL)
    Campaign.from_toml(path).run(tmp_path / "out", progress=False)
    before = result_files(tmp_path / "out")
    chunks = json.loads((tmp_path / "out" / "manifest.json").read_text())["chunks"]
    calls = []
    res = run_campaign(Campaign.from_toml(path).experiment, tmp_path / "out", resume=True, progress=False,
                       on_chunk=calls.append)
    assert calls == [] and res.complete
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["chunks"] == chunks
    assert_same_files(before, result_files(tmp_path / "out"))


def test_an_interrupted_campaign_resumes_to_the_same_files(tmp_path):
    path = write(tmp_path, SMALL)
    whole = Campaign.from_toml(path).run(tmp_path / "whole", batch=2, progress=False)

    class Stop(Exception):
        pass

    def stop_after(n):
        def hook(k):
            if k >= n:
                raise Stop
        return hook

    exp = Campaign.from_toml(path).experiment
    with pytest.raises(Stop):
        run_campaign(exp, tmp_path / "part", unit_size=2, progress=False, on_chunk=stop_after(3))
    # a killed run can leave a half-written file and a chunk it never listed
    (tmp_path / "part" / "chunks" / "s000" / "r000004-000004.summary.arrow.tmp-1").write_bytes(b"PAR1 half")
    (tmp_path / "part" / "chunks" / "s003").mkdir(exist_ok=True)
    (tmp_path / "part" / "chunks" / "s003" / "r000000-000001.summary.arrow").write_bytes(b"not data")
    assert not CampaignResults.open(tmp_path / "part").complete
    res = run_campaign(exp, tmp_path / "part", resume=True, unit_size=3, progress=False)
    assert res.complete
    assert_same_files(result_files(tmp_path / "whole"), result_files(tmp_path / "part"))
    assert not list((tmp_path / "part").rglob("*.tmp-*"))


def _wait_for_chunks(folder: Path, n: int, proc, timeout=60.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        try:
            m = json.loads((folder / "manifest.json").read_text())
            if len(m["chunks"]) >= n:
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    return False


def test_kill_9_at_random_moments_then_resume_gives_identical_files(tmp_path):
    """SIGKILL the command several times at random points (also between writing and listing a
    chunk), resume each time: the final files equal an uninterrupted run's."""
    path = write(tmp_path, SMALL.replace("replications = 5", "replications = 8"))
    assert main(["campaign", str(path), "--out", str(tmp_path / "whole"), "--quiet", "--batch", "1"]) == 0
    out = tmp_path / "killed"
    rng = np.random.default_rng(12)
    cmd = [sys.executable, "-m", "fastpipesim", "campaign", str(path), "--out", str(out), "--quiet",
           "--batch", "1", "--threads", "1"]
    kills = 0
    resume = []
    for attempt in range(6):
        proc = subprocess.Popen(cmd + resume, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        resume = ["--resume"]
        chunks_now = len(json.loads((out / "manifest.json").read_text())["chunks"]) if (out / "manifest.json").exists() else 0
        if attempt < 4 and _wait_for_chunks(out, chunks_now + 1 + int(rng.integers(0, 4)), proc):
            time.sleep(float(rng.uniform(0, 0.05)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += proc.returncode == -signal.SIGKILL
            continue
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        break
    assert kills >= 3
    assert CampaignResults.open(out).complete
    assert_same_files(result_files(tmp_path / "whole"), result_files(out))


# --------------------------------------------------------------------------- precision
def test_precision_stopping_meets_its_target_on_a_known_variance(tmp_path):
    """Jobs never queue (one server each), so a replication's mean response is the mean of n iid
    log-normal service times: its coefficient of variation is cv / sqrt(n). The first round whose
    relative half-width is at most h stops the scenario; about (t cv / (h sqrt(n)))^2 replications."""
    cv, n_jobs, h = 1.0, 200, 0.02
    exp = write(tmp_path, f"""
seed = 5
[replications]
min = 10
max = 400
batch = 10
precision = {{ metrics = ["response_mean"], relative_half_width = {h} }}
[workload]
generator = "queue"
rate = 0.05
n_jobs = {n_jobs}
service = "lognormal"
cv = {cv}
[cluster]
servers = 64
""")
    res = Campaign.from_toml(exp).run(tmp_path / "out", progress=False)
    n = len(res.replications)
    assert res.precision["s000"] == {"replications": n, "precise": True}
    x = res.replications["response_mean"].to_numpy()
    from fastpipesim.results import student_t_interval

    def rel(k):
        m, _, _, lo, hi = student_t_interval(x[:k])
        return (hi - lo) / 2 / m

    assert rel(n) <= h < rel(n - 10)  # stopped at the first round that met it
    expected = (1.96 * cv / (h * math.sqrt(n_jobs))) ** 2  # ~48
    assert 0.5 * expected < n < 2.0 * expected
    # the stopping point does not depend on how the work was cut
    again = Campaign.from_toml(exp).run(tmp_path / "again", batch=3, threads=1, progress=False)
    assert len(again.replications) == n


def test_precision_that_is_not_reached_stops_at_max_and_says_so(tmp_path, capsys):
    exp = write(tmp_path, """
seed = 5
[replications]
min = 4
max = 8
batch = 2
precision = { metrics = ["response_mean"], relative_half_width = 0.0001 }
[workload]
generator = "queue"
n_jobs = 100
[cluster]
servers = 2
""")
    assert main(["campaign", str(exp), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "reached max replications without the precision" in captured.err
    res = CampaignResults.open(tmp_path / "out")
    assert len(res.replications) == 8 and res.precision["s000"]["precise"] is False


# --------------------------------------------------------------------------- statistics
def test_holm_adjustment():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    got = holm(p)
    # sorted: 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1), monotone
    assert got[4] == pytest.approx(0.02)
    assert got[0] == pytest.approx(0.03)
    assert got[2] == pytest.approx(0.06)
    assert got[1] == pytest.approx(0.06)
    assert np.isnan(got[3])


def test_mser5_finds_a_transient():
    rng = np.random.default_rng(1)
    t = np.arange(400)
    y = 50.0 * np.exp(-t / 15.0) + rng.normal(0, 1, t.size)
    drop, _ = mser5(y)
    assert 30 <= drop <= 120
    drop, _ = mser5(rng.normal(0, 1, 400))
    assert drop <= 100
    assert mser5([1.0, 2.0])[0] == 0


def test_report_writes_markdown_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = write(tmp_path, SMALL)
    assert main(["campaign", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert main(["report", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Paired differences" in text and "![response_mean](metric_response_mean.png)" in text
    assert (tmp_path / "out" / "metric_response_mean.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "compare.png").is_file()


# --------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield cluster, client
    client.close()
    cluster.close()


def test_a_local_cluster_of_two_workers_gives_the_same_results_as_none(tmp_path, dask_cluster):
    cluster, client = dask_cluster
    path = write(tmp_path, SMALL)
    local = Campaign.from_toml(path).run(tmp_path / "local", progress=False)
    killed = []

    def kill_a_worker(n):
        # after the first chunk, kill one worker process: its unit in flight must run again
        if n == 1 and not killed:
            worker = list(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            killed.append(worker)

    res = run_campaign(Campaign.from_toml(path).experiment, tmp_path / "dask", scheduler=cluster.scheduler_address,
                       unit_size=1, progress=False, on_chunk=kill_a_worker)
    assert killed
    assert_same_files(result_files(tmp_path / "local"), result_files(tmp_path / "dask"))
    assert res.complete


def test_workers_option_runs_a_local_cluster(tmp_path, capsys):
    pytest.importorskip("distributed")
    path = write(tmp_path, SMALL.replace("replications = 5", "replications = 2"))
    assert main(["campaign", str(path), "--out", str(tmp_path / "a"), "--workers", "2", "--quiet"]) == 0
    assert main(["campaign", str(path), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert_same_files(result_files(tmp_path / "a"), result_files(tmp_path / "b"))


# --------------------------------------------------------------------------- the README's experiment
def test_the_readme_experiment_files_are_valid_and_run(tmp_path):
    """The README's TOML blocks: the experiment checks, and runs at a reduced size; the
    precision and series block checks when merged into it."""
    import re
    import tomllib

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    data = tomllib.loads(blocks[0])
    assert Campaign(data).experiment.compare["baseline"] == {"policy": "fifo"}
    assert len(Campaign(data).experiment.scenarios) == 12
    small = dict(data, replications=2, workload=dict(data["workload"], days=0.25),
                 run=dict(data["run"], horizon_days=0.25, warmup_days=0.05),
                 sweep={"policy": ["fifo", "staleness"], "cluster.scale.gpu": [2]})
    res = Campaign(small).run(tmp_path / "out", progress=False)
    assert len(res.replications) == 4 and not res.compare.empty
    extra = tomllib.loads(blocks[1])
    exp = Campaign({**data, **extra}).experiment
    assert exp.replications.target == 0.02 and exp.series == 3600.0
    # the listed scenarios with a policy from a file: the README's keys.py beside it
    code = re.findall(r"```python\n(# keys.py.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(code) == 1
    (tmp_path / "keys.py").write_text(code[0])
    listed = tomllib.loads(blocks[2])
    base = {k: v for k, v in data.items() if k not in ("sweep", "compare")}
    exp = Campaign({**base, **listed}, base_dir=tmp_path).experiment
    assert [s.values["policy"] for s in exp.scenarios] == ["fifo"] * 2 + ["keys.py:short_first"] * 2 + ["fifo"] * 2
    assert exp.scenarios[4].values["autoscaler"] == "schedule" and exp.scenarios[0].values["autoscaler"] is None
    w, cluster, kw = Campaign({**base, **listed}, base_dir=tmp_path).simulate_args(3)
    assert kw["policy"].name == "keys.py:short_first" and cluster.pools.set_index("pool").loc["gpu", "count"] == 3


def test_progress_bar_on_a_terminal_and_quiet_in_logs():
    import io

    from fastpipesim.campaign.run import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term, log = Terminal(), io.StringIO()
    for f in (term, log):
        bar = Progress(40, 4, None, file=f)
        bar.update(10, 1)
        bar.update(30, 4)
        bar.close()
    shown = term.getvalue()
    assert "40/40" in shown and "scenarios 4/4" in shown and "rep/s" in shown
    assert log.getvalue() == ""


# --------------------------------------------------------------------------- series and elastic clusters
SERIES = """
name = "series"
seed = 4
replications = 3

[workload]
generator = "modelops"
days = 1

[cluster]
preset = "default"

[run]
horizon_days = 1

[series]
bin_hours = 1

[sweep]
policy = ["fifo", "sjf"]
"""


def test_series_end_to_end_equal_simulate_with_mser5_table_and_welch_plot(tmp_path, capsys):
    """[series] bin_hours = 1: series.parquet is the simulate call's Results.series, warmup.csv
    holds MSER-5 per scenario and series, and the report shows the Welch plots."""
    pytest.importorskip("matplotlib")
    path = write(tmp_path, SERIES)
    assert main(["campaign", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    res = CampaignResults.open(tmp_path / "out")
    camp = Campaign.from_toml(path)
    for k in range(2):
        w, cluster, kw = camp.simulate_args(k)
        ref = fps.simulate(w, cluster, seed=4, replications=3, series_bin=3600.0, **kw).series
        got = res.series[res.series["scenario"] == f"s{k:03d}"].drop(columns=["scenario", "policy"])
        pd.testing.assert_frame_equal(got.reset_index(drop=True), ref, check_exact=True)
        assert len(ref) == 3 * 24 and ref["t_end"].max() == 86400.0
    warm = pd.read_csv(tmp_path / "out" / "warmup.csv")
    assert {"util_gpu_gpu", "queue_length", "model_accuracy_mean"} <= set(warm["series"])
    assert set(warm["scenario"]) == {"s000", "s001"} and (warm["bins"] == 24).all()
    assert main(["report", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Time series and warm-up" in text
    pngs = [p for p in (tmp_path / "out").glob("*.png") if "welch" in p.name]
    assert pngs and pngs[0].stat().st_size > 10_000


ELASTIC = """
name = "elastic"
seed = 5
replications = 2

[workload]
generator = "modelops"
days = 1

[[cluster.pools]]
pool = "cpu"
count = 3
cpu = 32
gpu = 0
mem_gb = 128
price_per_hour = 1.536

[[cluster.pools]]
pool = "gpu"
count = 2
min_count = 1
max_count = 6
boot_time = 300
cpu = 48
gpu = 4
mem_gb = 192
price_per_hour = 5.672

[run]
horizon_days = 1
autoscaler = "reactive"
idle_timeout = 300

[sweep]
autoscaler = ["static", "reactive", "target_utilization"]
"""


def test_a_campaign_sweeps_the_autoscaler(tmp_path):
    text = ELASTIC.replace('autoscaler = "reactive"\nidle_timeout = 300\n', "")
    camp = Campaign.from_toml(write(tmp_path, text))
    res = camp.run(tmp_path / "out", progress=False)
    rows = res.replications.set_index(["autoscaler", "replication"])
    for k, name in enumerate(["static", "reactive", "target_utilization"]):
        w, cluster, kw = camp.simulate_args(k)
        assert kw["autoscaler"].kind == name
        ref = fps.simulate(w, cluster, seed=5, replications=2, **kw).summary
        got = rows.loc[name][ref.columns]
        pd.testing.assert_frame_equal(got, ref, check_exact=True, check_names=False)
    assert rows.loc["static", "scale_ups"].sum() == 0 and rows.loc["reactive", "scale_ups"].sum() > 0
    assert rows.loc["reactive", "cost"].mean() != rows.loc["static", "cost"].mean()
    # parameters go with their kinds, and are checked
    with pytest.raises(ExperimentError, match="run.idle_timeout"):
        Campaign.from_toml(write(tmp_path, ELASTIC, "bad.toml"))
    bad = ELASTIC.replace('[sweep]\nautoscaler = ["static", "reactive", "target_utilization"]\n', "")
    camp = Campaign.from_toml(write(tmp_path, bad, "ok.toml"))
    assert camp.simulate_args(0)[2]["autoscaler"] == fps.autoscalers.Reactive(idle_timeout=300.0)
    with pytest.raises(ExperimentError, match="expander"):
        Campaign.from_toml(write(tmp_path, bad.replace("idle_timeout = 300", 'expander = "priciest"'), "b2.toml"))


# --------------------------------------------------------------------------- functions in files, listed scenarios
KEYS_PY = """
def short_first(duration, ready):
    return duration + 0.001 * ready


def one_more_while_queued(pool, up, booting, ready, utilization, now):
    return up + booting + (1 if ready > 0 else 0)
"""

LISTED = """
name = "listed"
seed = 6
replications = 3

[workload]
generator = "modelops"
days = 0.5

[run]
horizon_days = 0.5

[[scenarios]]
policy = "fifo"

[[scenarios]]
policy = "keys.py:short_first"

[[scenarios]]
policy = "sjf"
"cluster.scale.gpu" = 2

[sweep]
placement = ["first_fit", "best_fit"]

[compare]
baseline = { policy = "fifo" }
"""


def test_listed_scenarios_and_a_policy_from_a_file_equal_the_simulate_calls(tmp_path):
    (tmp_path / "keys.py").write_text(KEYS_PY)
    camp = Campaign.from_toml(write(tmp_path, LISTED))
    sc = camp.scenarios
    # each listed point crossed with the sweep, listed keys first; a key an entry leaves out is None
    assert list(sc["policy"]) == ["fifo", "fifo", "keys.py:short_first", "keys.py:short_first", "sjf", "sjf"]
    assert list(sc["placement"]) == ["first_fit", "best_fit"] * 3
    assert sc["cluster.scale.gpu"].isna().tolist() == [True] * 4 + [False] * 2
    res = camp.run(tmp_path / "out", progress=False)
    ns = {}
    exec(KEYS_PY, ns)
    own = fps.custom_policy(ns["short_first"])
    for k in range(6):
        w, cluster, kw = camp.simulate_args(k)
        if k in (2, 3):
            kw = {**kw, "policy": own}  # the same function, compiled here: the same results
        if k >= 4:
            assert cluster.pools.set_index("pool").loc["gpu", "count"] == 2
        ref = fps.simulate(w, cluster, seed=6, replications=3, **kw).summary
        pd.testing.assert_frame_equal(res.scenario(k)[ref.columns], ref, check_exact=True)
    # the custom key is not fifo's: its schedules differ
    assert not res.scenario(2)["response_mean"].equals(res.scenario(0)["response_mean"])
    # paired against the fifo scenario with the same values of the other keys (placement, and the
    # GPU count: sjf on 2 GPU nodes has no fifo twin, so it is not compared)
    comp = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert set(comp["scenario"]) == {"s002", "s003"}
    assert set(comp["baseline"]) == {"s000", "s001"}
    # an edited function file is a changed experiment: resume refuses
    (tmp_path / "keys.py").write_text(KEYS_PY.replace("0.001", "0.002"))
    with pytest.raises(ValueError, match="changed"):
        Campaign.from_toml(tmp_path / "exp.toml").run(tmp_path / "out", resume=True, progress=False)


def test_schedule_and_custom_autoscalers_from_the_file(tmp_path):
    (tmp_path / "keys.py").write_text(KEYS_PY)
    (tmp_path / "sched.csv").write_text("pool,day,hour,count\ngpu,-1,0,1\ngpu,-1,8,4\n")
    base = ELASTIC.replace('autoscaler = "reactive"\nidle_timeout = 300\n', "").split("[sweep]")[0]
    text = base + """
[[scenarios]]
autoscaler = "schedule"
schedule = "sched.csv"

[[scenarios]]
autoscaler = "schedule"
schedule = [{ pool = "gpu", day = -1, hour = 0, count = 1 }, { pool = "gpu", day = -1, hour = 8, count = 4 }]

[[scenarios]]
autoscaler = "custom"
autoscaler_function = "keys.py:one_more_while_queued"
autoscaler_interval = 60
"""
    camp = Campaign.from_toml(write(tmp_path, text))
    res = camp.run(tmp_path / "out", progress=False)
    ns = {}
    exec(KEYS_PY, ns)
    direct = [fps.autoscalers.Schedule(table=tmp_path / "sched.csv"),
              fps.autoscalers.Schedule(table=tmp_path / "sched.csv"),
              fps.autoscalers.Custom(func=ns["one_more_while_queued"], interval=60.0)]
    for k, scaler in enumerate(direct):
        w, cluster, kw = camp.simulate_args(k)
        assert kw["autoscaler"].kind == scaler.kind
        ref = fps.simulate(w, cluster, seed=5, replications=2, **{**kw, "autoscaler": scaler}).summary
        pd.testing.assert_frame_equal(res.scenario(k)[ref.columns], ref, check_exact=True)
    assert res.scenario(0)["scale_ups"].sum() > 0 and res.scenario(2)["scale_ups"].sum() > 0
    # the CSV file and the inline table are one schedule
    pd.testing.assert_frame_equal(res.scenario(0), res.scenario(1), check_exact=True)
    # a swept table value is stored as its JSON text
    assert res.replications["schedule"].iloc[0].endswith("sched.csv")
    assert json.loads(res.replications.loc[res.replications["scenario"] == "s001", "schedule"].iloc[0])[1]["count"] == 4


def test_a_policy_from_a_file_runs_on_dask_workers_that_never_saw_the_file(tmp_path, dask_cluster):
    cluster, _ = dask_cluster
    (tmp_path / "keys.py").write_text(KEYS_PY)
    text = LISTED.replace("replications = 3", "replications = 2").replace('placement = ["first_fit", "best_fit"]',
                                                                          'placement = ["best_fit"]')
    path = write(tmp_path, text)
    local = Campaign.from_toml(path).run(tmp_path / "local", progress=False)
    # the workers get the file's text with the reference, not its path: remove the file
    exp = Campaign.from_toml(path).experiment
    (tmp_path / "keys.py").unlink()
    run_campaign(exp, tmp_path / "dask", scheduler=cluster.scheduler_address, unit_size=1, progress=False)
    assert_same_files(result_files(tmp_path / "local"), result_files(tmp_path / "dask"))
    assert local.complete
