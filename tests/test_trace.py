"""Trace reading and validation (MODEL.md 2): round trips, the batch layout, every rule."""
from __future__ import annotations

import string
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpipesim.cluster import Cluster, default_cluster
from fastpipesim.errors import InputError
from fastpipesim.trace import Trace, check_fits, read_trace
from fastpipesim.workload import concat_batches

PIPELINES = """\
pipeline_id,submit_time,model_id,priority,framework
20,5.0,1,2,pytorch
10,0.0,0,0,sklearn
"""

# Not sorted by pipeline; a task literally named NA; c waits for two tasks.
TASKS = """\
pipeline_id,task,type,cpu,gpu,mem_gb,duration,after
20,prep,preprocess,2,0,4,10,
10,a,preprocess,1,0,1,5,
20,train,train,4,1,16,100,prep
10,NA,train,1,0,1,3,a
10,c,evaluate,1,0,1,2,a; NA
20,deploy,deploy,1,0,1,1,train
"""

MODELS = (
    "model_id,accuracy,robustness,fairness,deployed_at,drift_per_day,threshold,"
    "on_drift,period,phase,template_pipeline_id\n"
) + """\
0,0.9,0.8,0.7,0,0.01,0.8,true,0,0,10
1,0.95,0.8,0.7,-3600,0.0,0.9,false,0,60,
"""


def write_trace(folder: Path, pipelines=PIPELINES, tasks=TASKS, models=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("pipelines", pipelines), ("tasks", tasks), ("models", models)):
        if text is not None:
            data = text if isinstance(text, bytes) else text.encode()
            (folder / f"{name}.csv").write_bytes(data)
    return folder


def expect_error(folder, file, words, rows=None):
    with pytest.raises(InputError) as info:
        read_trace(folder)
    err = info.value
    assert err.source == str(Path(folder) / file), str(err)
    msg = str(err).lower()
    for w in words:
        assert w.lower() in msg, f"{w!r} not in: {err}"
    if rows is not None:
        assert err.rows[: len(rows)] == list(rows), str(err)
    return err


def replace_line(text: str, n: int, new: str) -> str:
    """Replace file line n (1 = header) of a CSV text."""
    lines = text.splitlines()
    lines[n - 1] = new
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- reading


def test_small_trace_reads_and_normalizes(tmp_path):
    tr = read_trace(write_trace(tmp_path, models=MODELS))
    assert (tr.n_pipelines, tr.n_tasks, tr.n_models) == (2, 6, 2)
    assert tr.source == str(tmp_path)
    assert tr.files["tasks"] == str(tmp_path / "tasks.csv")
    assert list(tr.tasks["task"]) == ["prep", "a", "train", "NA", "c", "deploy"]
    assert list(tr.tasks["after"]) == ["", "", "prep", "a", "a; NA", "train"]
    assert tr.tasks["cpu"].dtype == np.float64 and tr.pipelines["priority"].dtype == np.int64
    assert list(tr.pipelines.columns) == ["pipeline_id", "submit_time", "model_id", "priority", "framework"]
    assert list(tr.models["on_drift"]) == [True, False]
    assert list(tr.models["template_pipeline_id"]) == [10, -1]
    assert "2 pipelines, 6 tasks, 2 models" in repr(tr)


def test_optional_pipeline_columns_default_to_zero(tmp_path):
    pipes = "pipeline_id,submit_time\n20,5\n10,0\n"
    tr = read_trace(write_trace(tmp_path, pipelines=pipes))
    assert list(tr.pipelines["model_id"]) == [0, 0]
    assert list(tr.pipelines["priority"]) == [0, 0]
    assert tr.pipelines["submit_time"].dtype == np.float64


def test_to_batch_layout(tmp_path):
    tr = read_trace(write_trace(tmp_path))
    b = tr.to_batch(replication=3)
    a = b.arrays
    assert list(a.pipeline_id) == [10, 20]  # sorted although the files are not
    assert list(a.submit) == [0.0, 5.0] and list(a.model) == [0, 1] and list(a.priority) == [0, 2]
    assert list(a.task_ptr) == [0, 3, 6]
    assert list(b.task_names) == ["a", "NA", "c", "prep", "train", "deploy"]
    assert b.task_names.dtype == object
    assert list(a.task_pipeline) == [0, 0, 0, 1, 1, 1]
    types = [b.type_names[c] for c in a.task_type]
    assert types == ["preprocess", "train", "evaluate", "preprocess", "train", "deploy"]
    assert list(a.n_pred) == [0, 1, 2, 0, 1, 1]
    succ = {i: list(a.succ[a.succ_ptr[i]:a.succ_ptr[i + 1]]) for i in range(6)}
    assert succ == {0: [1, 2], 1: [2], 2: [], 3: [4], 4: [5], 5: []}
    assert list(a.duration) == [5, 3, 2, 10, 100, 1]
    assert list(a.gpu) == [0, 0, 0, 0, 1, 0]
    assert np.isnan(a.cand_accuracy).all() and np.isnan(a.compress_loss).all()
    assert list(b.replications) == [3]
    assert list(a.rep_pipeline_ptr) == [0, 2] and list(a.rep_task_ptr) == [0, 6]
    # rows of the tasks table -> batch indices, and back
    order = tr.task_order()
    assert list(order) == [3, 0, 4, 1, 2, 5]
    assert list(b.task_names[order]) == list(tr.tasks["task"])
    assert list(tr.pipeline_order()) == [1, 0]
    # concatenating replications of a trace works
    two = concat_batches([tr.to_batch(0), tr.to_batch(1)])
    assert two.n_replications == 2 and list(two.arrays.succ[5:]) == [1 + 6, 2 + 6, 2 + 6, 4 + 6, 5 + 6]


def test_candidate_columns_reach_the_batch(tmp_path):
    pipes = ("pipeline_id,submit_time,candidate_accuracy,compress_loss,candidate_fairness,candidate_robustness\n"
             "20,5,0.7,0.01,0.6,0.8\n10,0,,,,\n")
    b = read_trace(write_trace(tmp_path, pipelines=pipes)).to_batch()
    assert np.isnan(b.arrays.cand_accuracy[0]) and b.arrays.cand_accuracy[1] == 0.7
    assert np.isnan(b.arrays.compress_loss[0]) and b.arrays.compress_loss[1] == 0.01
    assert np.isnan(b.arrays.cand_fairness[0]) and b.arrays.cand_fairness[1] == 0.6
    assert np.isnan(b.arrays.cand_robustness[0]) and b.arrays.cand_robustness[1] == 0.8


def test_a_partial_candidate_names_its_row(tmp_path):
    pipes = ("pipeline_id,submit_time,candidate_accuracy,compress_loss,candidate_fairness\n"
             "20,5,0.7,0.01,0.6\n10,0,0.9,,\n")
    expect_error(write_trace(tmp_path, pipelines=pipes), "pipelines.csv",
                 ["candidate_accuracy, candidate_fairness or none"], rows=[3])
    # a column left out is not modelled: accuracy alone is a whole candidate
    pipes = "pipeline_id,submit_time,candidate_accuracy\n20,5,0.7\n10,0,\n"
    b = read_trace(write_trace(tmp_path / "ok", pipelines=pipes)).to_batch()
    assert b.arrays.cand_accuracy[1] == 0.7 and np.isnan(b.arrays.cand_robustness).all()


def test_extra_type_codes_follow_standard_types(tmp_path):
    tasks = TASKS.replace("20,deploy,deploy", "20,deploy,serve").replace("10,c,evaluate", "10,c,label")
    b = read_trace(write_trace(tmp_path, tasks=tasks)).to_batch()
    assert b.type_names[7:] == ("label", "serve")  # first appearance in batch order
    assert [b.type_names[c] for c in b.arrays.task_type][2] == "label"


def test_blank_lines_are_skipped_but_counted(tmp_path):
    tasks = TASKS.replace("20,train,train", "\n20,train,train")
    tr = read_trace(write_trace(tmp_path, tasks=tasks))
    assert tr.n_tasks == 6
    bad = tasks.replace("10,NA,train,1,0,1,3,a", "10,NA,train,-1,0,1,3,a")
    expect_error(write_trace(tmp_path / "b", tasks=bad), "tasks.csv", ["'cpu'", ">= 0"], rows=[6])


def _random_frames(seed=0, n_p=30):
    rng = np.random.default_rng(seed)
    pid = rng.permutation(n_p) * 5 + 1
    pipelines = pd.DataFrame({
        "pipeline_id": pid,
        "submit_time": rng.uniform(0, 1e5, n_p),
        "model_id": rng.integers(0, 4, n_p),
        "priority": rng.integers(-2, 3, n_p),
        "framework": rng.choice(["sklearn", "NA", "pytorch"], n_p),
        "candidate_accuracy": np.where(rng.random(n_p) < 0.3, np.nan, rng.random(n_p)),
    })
    rows = []
    for p in pid:
        k = int(rng.integers(1, 6))
        for i in range(k):
            preds = [f"t{j}" for j in range(i) if rng.random() < 0.5]
            rows.append({"pipeline_id": p, "task": "NA" if i == 0 else f"t{i}", "type": "train",
                         "cpu": rng.uniform(0, 8), "gpu": float(rng.integers(0, 2)),
                         "mem_gb": rng.uniform(0, 64) * 1.000001, "duration": rng.exponential(1e3) + 1e-3,
                         "after": ";".join(preds).replace("t0", "NA")})
    tasks = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    models = pd.DataFrame({
        "model_id": [0, 1, 2, 3], "accuracy": [0.9, 0.8, 0.7, 1.0], "robustness": 0.5, "fairness": 0.6,
        "deployed_at": [-10.0, 0.0, 0.0, -1e6], "drift_per_day": [0.1, 0.0, 1.0, 0.3],
        "threshold": 0.75, "on_drift": [True, False, False, False], "period": [0.0, 0.0, 3600.0, 0.0],
        "phase": 0.0, "template_pipeline_id": [pid[0], -1, pid[1], -1], "owner": ["x", "y", "z", "w"],
    })
    return pipelines, tasks, models


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.crosspath
def test_round_trip(tmp_path, fmt):
    pytest.importorskip("pyarrow")
    tr = Trace.from_frames(*_random_frames(), source="mem")
    tr.write(tmp_path / "t", format=fmt)
    written = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert written == [f"{n}.{fmt}" for n in ("models", "pipelines", "tasks")]
    back = read_trace(tmp_path / "t")
    pd.testing.assert_frame_equal(back.tasks, tr.tasks)
    pd.testing.assert_frame_equal(back.models, tr.models)
    pipes = tr.pipelines.copy()
    if fmt == "csv":  # a CSV cannot tell an attribute "NA" from a missing one
        pipes["framework"] = pipes["framework"].where(pipes["framework"] != "NA")
    pd.testing.assert_frame_equal(back.pipelines, pipes)
    b1, b2 = tr.to_batch(), back.to_batch()
    for name in b1.arrays._fields:
        np.testing.assert_array_equal(getattr(b1.arrays, name), getattr(b2.arrays, name), err_msg=name)
    assert list(b1.task_names) == list(b2.task_names)
    # a second write of the other format into the same folder would be ambiguous
    other = "parquet" if fmt == "csv" else "csv"
    with pytest.raises(FileExistsError):
        tr.write(tmp_path / "t", format=other)


def test_write_refuses_stale_models_file(tmp_path):
    tr = read_trace(write_trace(tmp_path / "a"))
    write_trace(tmp_path / "b", models=MODELS)
    with pytest.raises(FileExistsError, match="models.csv"):
        tr.write(tmp_path / "b")


def test_trace_constructor_validates():
    p, t, _ = _random_frames()
    with pytest.raises(InputError, match="duration"):
        Trace(p, t.assign(duration=0.0))


# ---------------------------------------------------------------------------- bad input: files


def test_folder_and_table_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_trace(tmp_path / "nope")
    write_trace(tmp_path / "t")
    (tmp_path / "t" / "tasks.csv").unlink()
    with pytest.raises(InputError, match="missing table 'tasks'"):
        read_trace(tmp_path / "t")


def test_csv_and_parquet_of_one_table_is_ambiguous(tmp_path):
    folder = write_trace(tmp_path)
    (folder / "tasks.parquet").write_bytes(b"whatever")
    with pytest.raises(InputError, match="ambiguous") as info:
        read_trace(folder)
    assert "tasks.csv" in str(info.value) and "tasks.parquet" in str(info.value)


def test_unreadable_files(tmp_path):
    expect_error(write_trace(tmp_path / "a", tasks=""), "tasks.csv", ["cannot be read"])
    expect_error(write_trace(tmp_path / "b", tasks=b"pipeline_id,task\n1,\xff\xfe\n"), "tasks.csv", ["utf-8"])
    bad = TASKS + "10,x,train,1,0,1,1,,extra,fields\n"
    expect_error(write_trace(tmp_path / "c", tasks=bad), "tasks.csv", ["cannot be read as csv", "line 8"])
    dup = TASKS.replace("duration,after", "duration,cpu")
    expect_error(write_trace(tmp_path / "e", tasks=dup), "tasks.csv", ["duplicate column", "cpu"])
    folder = write_trace(tmp_path / "d")
    (folder / "tasks.csv").unlink()
    (folder / "tasks.parquet").write_bytes(b"not parquet at all")
    expect_error(folder, "tasks.parquet", ["cannot be read as parquet"])


# ---------------------------------------------------------------------------- bad input: rules

HEADER = "pipeline_id,task,type,cpu,gpu,mem_gb,duration,after"

TASK_RULES = [
    # (line to replace, new line, words in the message, rows)
    (3, "10,a,preprocess,abc,0,1,5,", ["'cpu'", "number"], [3]),
    (3, "10,a,preprocess,,0,1,5,", ["'cpu'", "number"], [3]),
    (3, "10,a,preprocess,1,-0.5,1,5,", ["'gpu'", ">= 0"], [3]),
    (3, "10,a,preprocess,1,0,inf,5,", ["'mem_gb'", "finite"], [3]),
    (3, "10,a,preprocess,1,0,1,0,", ["'duration'", "> 0"], [3]),
    (3, "10,a,preprocess,1,0,1,-2,", ["'duration'", "> 0"], [3]),
    (3, "10,a,preprocess,1,0,1,nan,", ["'duration'", "number"], [3]),
    (3, "10.5,a,preprocess,1,0,1,5,", ["'pipeline_id'", "whole number"], [3]),
    (3, "10,,preprocess,1,0,1,5,", ["'task'", "name"], [3]),
    (3, "10,a;b,preprocess,1,0,1,5,", ["';'"], [3]),
    (3, "10,a,,1,0,1,5,", ["'type'"], [3]),
    (3, "99,a,preprocess,1,0,1,5,", ["pipeline_id not found in pipelines.csv"], [3]),
    (5, "10,a,train,1,0,1,3,a", ["duplicate task name"], [3, 5]),
    (5, "10,NA,train,1,0,1,3,NA", ["lists itself"], [5]),
    (5, "10,NA,train,1,0,1,3,a;zz", ["unknown task name", "pipeline 10", "'NA'", "'zz'"], [5]),
    (2, "20,prep,preprocess,2,0,4,10,deploy",
     ["cycle", "pipeline 20", "'prep'", "'train'", "'deploy'"], [2, 4, 7]),
    (3, "10,a,preprocess,1,0,1,5,c", ["cycle", "pipeline 10", "'a'", "'c'", "'NA'"], [3, 5, 6]),
]


@pytest.mark.parametrize("line, new, words, rows", TASK_RULES)
def test_task_rules(tmp_path, line, new, words, rows):
    tasks = replace_line(TASKS, line, new)
    expect_error(write_trace(tmp_path, tasks=tasks), "tasks.csv", words, rows)


def test_a_task_name_from_another_pipeline_is_unknown(tmp_path):
    tasks = replace_line(TASKS, 5, "10,NA,train,1,0,1,3,prep")
    err = expect_error(write_trace(tmp_path, tasks=tasks), "tasks.csv", ["unknown task name", "'prep'"], [5])
    assert "pipeline 10" in str(err)


def test_same_task_name_in_two_pipelines_is_fine(tmp_path):
    tasks = TASKS.replace("10,a,", "10,prep,").replace(",a\n", ",prep\n").replace("a; NA", "prep;NA")
    tr = read_trace(write_trace(tmp_path, tasks=tasks))
    assert tr.to_batch().arrays.n_pred.tolist() == [0, 1, 2, 0, 1, 1]


def test_duplicated_after_names_make_one_edge(tmp_path):
    tasks = replace_line(TASKS, 6, "10,c,evaluate,1,0,1,2,a;NA; a;;")
    b = read_trace(write_trace(tmp_path, tasks=tasks)).to_batch()
    assert b.arrays.n_pred.tolist() == [0, 1, 2, 0, 1, 1]


def test_missing_columns(tmp_path):
    tasks = TASKS.replace(",after", "").replace(",5,\n", ",5\n")
    tasks = "\n".join(",".join(line.split(",")[:7]) for line in TASKS.splitlines()) + "\n"
    expect_error(write_trace(tmp_path / "a", tasks=tasks), "tasks.csv", ["missing required column", "after"])
    pipes = "pipeline_id,start\n20,5\n10,0\n"
    expect_error(write_trace(tmp_path / "b", pipelines=pipes), "pipelines.csv",
                 ["missing required column", "submit_time"])


def test_empty_tables(tmp_path):
    expect_error(write_trace(tmp_path / "a", tasks=HEADER + "\n"), "tasks.csv", ["no rows"])
    header_only = "pipeline_id,submit_time\n"
    expect_error(write_trace(tmp_path / "b", pipelines=header_only), "pipelines.csv", ["no rows"])
    models = MODELS.splitlines()[0] + "\n"
    expect_error(write_trace(tmp_path / "c", models=models), "models.csv", ["no rows"])


PIPELINE_RULES = [
    (3, "10,-1,0,0,x", ["'submit_time'", ">= 0"], [3]),
    (3, "10,soon,0,0,x", ["'submit_time'", "number"], [3]),
    (3, "10,inf,0,0,x", ["'submit_time'", "finite"], [3]),
    (3, "10,0,0,1.5,x", ["'priority'", "whole number"], [3]),
    (3, "10,0,-1,0,x", ["'model_id'", ">= 0"], [3]),
    (3, "10,0,zero,0,x", ["'model_id'", "whole number"], [3]),
    (3, "-10,0,0,0,x", ["'pipeline_id'", ">= 0"], [3]),
    (3, "20,0,0,0,x", ["duplicate pipeline_id"], [2, 3]),
]


@pytest.mark.parametrize("line, new, words, rows", PIPELINE_RULES)
def test_pipeline_rules(tmp_path, line, new, words, rows):
    pipes = replace_line(PIPELINES, line, new)
    expect_error(write_trace(tmp_path, pipelines=pipes), "pipelines.csv", words, rows)


def test_pipeline_without_tasks(tmp_path):
    pipes = PIPELINES + "30,1,0,0,x\n15,1,0,0,x\n"
    expect_error(write_trace(tmp_path, pipelines=pipes), "pipelines.csv", ["no tasks"], [4, 5])


def test_candidate_outcomes_in_range(tmp_path):
    pipes = "pipeline_id,submit_time,candidate_accuracy\n20,5,1.2\n10,0,\n"
    expect_error(write_trace(tmp_path, pipelines=pipes), "pipelines.csv",
                 ["'candidate_accuracy'", "<= 1"], [2])


MODEL_RULES = [
    (2, "0,1.5,0.8,0.7,0,0.01,0.8,true,0,0,10", ["'accuracy'", "<= 1"], [2]),
    (2, "0,0.9,-0.1,0.7,0,0.01,0.8,true,0,0,10", ["'robustness'", ">= 0"], [2]),
    (2, "0,0.9,0.8,0.7,0,-0.01,0.8,true,0,0,10", ["'drift_per_day'", ">= 0"], [2]),
    (2, "0,0.9,0.8,0.7,0,0.01,1.8,true,0,0,10", ["'threshold'", "<= 1"], [2]),
    (2, "0,0.9,0.8,0.7,0,0.01,0.8,true,-5,0,10", ["'period'", ">= 0"], [2]),
    (2, "0,0.9,0.8,0.7,inf,0.01,0.8,true,0,0,10", ["'deployed_at'", "finite"], [2]),
    (2, "0,0.9,0.8,0.7,0,0.01,0.8,maybe,0,0,10", ["'on_drift'", "true or false"], [2]),
    (2, "0,0.9,0.8,0.7,0,0.01,0.8,true,0,0,77", ["template_pipeline_id not found"], [2]),
    (2, "0,0.9,0.8,0.7,0,0.01,0.8,true,0,0,", ["automation rule", "template_pipeline_id"], [2]),
    (2, "1,0.9,0.8,0.7,0,0.01,0.8,true,0,0,10", ["duplicate model_id"], [2, 3]),
]


@pytest.mark.parametrize("line, new, words, rows", MODEL_RULES)
def test_model_rules(tmp_path, line, new, words, rows):
    models = replace_line(MODELS, line, new)
    expect_error(write_trace(tmp_path, models=models), "models.csv", words, rows)


def test_model_columns(tmp_path):
    models = "model_id,accuracy,threshold\n0,0.9,0.8\n"
    expect_error(write_trace(tmp_path / "a", models=models), "models.csv",
                 ["missing required column", "robustness"])
    minimal = ("model_id,accuracy,robustness,fairness,deployed_at,drift_per_day,threshold\n"
               "0,0.9,0.8,0.7,0,0.1,0.8\n")
    tr = read_trace(write_trace(tmp_path / "b", models=minimal))
    row = tr.models.iloc[0]
    rules = (row["on_drift"], row["period"], row["phase"], row["template_pipeline_id"])
    assert rules == (False, 0.0, 0.0, -1)


def test_from_frames_names_tables_and_positions():
    p, t, m = _random_frames()
    t.loc[7, "cpu"] = -1.0
    with pytest.raises(InputError) as info:
        Trace.from_frames(p, t, m, source="mine")
    assert info.value.source == "mine:tasks" and info.value.rows == [7]
    m.loc[2, "template_pipeline_id"] = 10**6
    with pytest.raises(InputError) as info:
        Trace.from_frames(p, _random_frames()[1], m)
    assert info.value.source == "<trace>:models" and info.value.rows == [2]


def test_parquet_errors_name_the_file_and_positions(tmp_path):
    pytest.importorskip("pyarrow")
    p, t, _ = _random_frames()
    t.loc[4, "duration"] = 0.0
    folder = tmp_path / "t"
    folder.mkdir()
    p.to_parquet(folder / "pipelines.parquet")
    t.to_parquet(folder / "tasks.parquet")
    expect_error(folder, "tasks.parquet", ["'duration'", "> 0"], [4])


# ---------------------------------------------------------------------------- check_fits


def test_check_fits_trace(tmp_path):
    cluster = Cluster.from_pools([
        {"pool": "cpu", "count": 2, "cpu": 4.0, "gpu": 0.0, "mem_gb": 16.0},
        {"pool": "gpu", "count": 1, "cpu": 3.0, "gpu": 1.0, "mem_gb": 16.0},
        {"pool": "big", "count": 0, "cpu": 64.0, "gpu": 8.0, "mem_gb": 512.0},  # no nodes: does not count
    ], source="c.csv")
    ok = replace_line(TASKS, 4, "20,train,train,3,1,16,100,prep")
    check_fits(read_trace(write_trace(tmp_path / "ok", tasks=ok)), cluster)
    # within the 1e-9 tolerance is a fit; beyond is not
    ok = replace_line(TASKS, 4, "20,train,train,3.0000000001,1,16,100,prep")
    check_fits(read_trace(write_trace(tmp_path / "tol", tasks=ok)), cluster)
    bad = replace_line(TASKS, 4, "20,train,train,3.000001,1,16,100,prep")
    bad = replace_line(bad, 6, "10,c,evaluate,1,0,16.5,2,a; NA")
    tr = read_trace(write_trace(tmp_path / "bad", tasks=bad))
    with pytest.raises(InputError) as info:
        check_fits(tr, cluster)
    err = info.value
    assert err.source == str(tmp_path / "bad" / "tasks.csv") and err.rows == [4, 6]
    assert "fits on no node" in str(err) and "c.csv" in str(err)
    # the same on the batch: pipeline ids and task names, batch indices as rows
    with pytest.raises(InputError) as info:
        check_fits(tr.to_batch(), cluster)
    text = str(info.value)
    assert info.value.rows == [2, 4]
    assert "train" in text and "'c'" not in text and " c " in text and "20" in text


def test_check_fits_batch_of_several_replications(tmp_path):
    tasks = replace_line(TASKS, 7, "20,deploy,deploy,1,0,1000,1,train")
    tr = read_trace(write_trace(tmp_path, tasks=tasks))
    batch = concat_batches([tr.to_batch(4), tr.to_batch(9)])
    with pytest.raises(InputError) as info:
        check_fits(batch, default_cluster())
    assert info.value.rows == [5, 11]
    shown = str(info.value)
    assert "deploy" in shown and " 9 " in shown


# ---------------------------------------------------------------------------- random DAGs against a reference


def _has_cycle(n, edges):
    """Plain DFS (the reference)."""
    adj = {i: [] for i in range(n)}
    for a, b in edges:
        adj[a].append(b)
    state = [0] * n
    for s in range(n):
        if state[s]:
            continue
        stack = [(s, iter(adj[s]))]
        state[s] = 1
        while stack:
            v, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[v] = 2
                stack.pop()
            elif state[nxt] == 1:
                return True
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(adj[nxt])))
    return False


@st.composite
def random_traces(draw):
    n_p = draw(st.integers(1, 4))
    pids = draw(st.permutations(list(range(n_p))))
    rows, edges_by_pipe = [], {}
    for p in pids:
        k = draw(st.integers(1, 6))
        edges = draw(st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=8))
        edges = [(a, b) for a, b in edges if a != b]
        edges_by_pipe[p] = (k, sorted(set(edges)))
        for i in range(k):
            preds = [f"n{a}" for a, b in edges if b == i]
            rows.append((p, f"n{i}", ";".join(preds)))
    order = draw(st.permutations(list(range(len(rows)))))
    # keep each pipeline's rows in task-index order, interleave pipelines freely
    by_pipe = {}
    for r in rows:
        by_pipe.setdefault(r[0], []).append(r)
    shuffled, cursor = [], {p: 0 for p in by_pipe}
    for j in order:
        p = rows[j][0]
        shuffled.append(by_pipe[p][cursor[p]])
        cursor[p] += 1
    return pids, shuffled, edges_by_pipe


@settings(max_examples=100, deadline=None)
@given(random_traces())
def test_random_dags_match_a_reference(data):
    pids, rows, edges_by_pipe = data
    pipelines = pd.DataFrame({"pipeline_id": pids, "submit_time": 0.0})
    tasks = pd.DataFrame(rows, columns=["pipeline_id", "task", "after"]).assign(
        type="train", cpu=1.0, gpu=0.0, mem_gb=1.0, duration=1.0)
    cyclic = any(_has_cycle(k, e) for k, e in edges_by_pipe.values())
    if cyclic:
        with pytest.raises(InputError, match="cycle"):
            Trace.from_frames(pipelines, tasks)
        return
    tr = Trace.from_frames(pipelines, tasks)
    b = tr.to_batch()
    a = b.arrays
    start, expected_edges = {}, set()
    offset = 0
    for p in sorted(pids):
        start[p] = offset
        k, e = edges_by_pipe[p]
        expected_edges |= {(offset + x, offset + y) for x, y in e}
        offset += k
    got = {(i, int(j)) for i in range(a.n_tasks) for j in a.succ[a.succ_ptr[i]:a.succ_ptr[i + 1]]}
    assert got == expected_edges
    assert list(a.n_pred) == [sum(1 for _, y in expected_edges if y == i) for i in range(a.n_tasks)]
    assert list(a.pipeline_id) == sorted(pids)
    order = tr.task_order()
    for row, (p, name, _) in enumerate(rows):
        assert order[row] == start[p] + int(name[1:])
        assert b.task_names[order[row]] == name


# ---------------------------------------------------------------------------- malformed files never crash

VALID_TASK_LINES = TASKS.splitlines()
FIELD_GARBAGE = ["", "x", "-1", "0", "1e400", "nan", "NA", "1.5", "a;b", "\"", "True",
                 "prep", "deploy", "99999999999999999999", "-0"]
CSV_CHARS = string.ascii_letters + string.digits + ",;.-+ \"'\n\t\r" + "NaNinfé"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(alphabet=CSV_CHARS, max_size=200).map(str.encode)))
def test_garbage_tasks_file_is_an_input_error(content):
    with tempfile.TemporaryDirectory() as d:
        folder = write_trace(Path(d), tasks=content)
        with pytest.raises(InputError):
            read_trace(folder)


@st.composite
def mutated_csv(draw):
    lines = list(VALID_TASK_LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["truncate", "field", "drop", "dup", "garbage"]))
        if kind == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif kind == "field":
            fields = lines[i].split(",")
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(st.sampled_from(FIELD_GARBAGE))
            lines[i] = ",".join(fields)
        elif kind == "drop":
            del lines[i]
            if not lines:
                lines = [""]
        elif kind == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = draw(st.text(alphabet=CSV_CHARS, max_size=30))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_csv(), st.booleans())
def test_mutated_tasks_file_reads_or_is_an_input_error(content, mutate_pipelines):
    pipes = PIPELINES if not mutate_pipelines else PIPELINES.replace("20,5.0", "20,x")
    with tempfile.TemporaryDirectory() as d:
        folder = write_trace(Path(d), pipelines=pipes, tasks=content)
        try:
            tr = read_trace(folder)
        except InputError:
            return
        tr.to_batch()  # whatever validated must convert


# ---------------------------------------------------------------------------- size


def _big_frames(n_p):
    """n_p pipelines of 6 tasks each (5 + a fork/join), pipeline ids shuffled."""
    rng = np.random.default_rng(0)
    names = np.array(["preprocess", "train", "evaluate", "bias", "robust", "deploy"], dtype=object)
    after = np.array(["", "preprocess", "train", "evaluate", "evaluate", "bias;robust"], dtype=object)
    pid = rng.permutation(n_p)
    pipelines = pd.DataFrame({"pipeline_id": pid, "submit_time": rng.uniform(0, 1e6, n_p)})
    n_t = 6 * n_p
    tasks = pd.DataFrame({
        "pipeline_id": np.repeat(pid, 6), "task": np.tile(names, n_p), "type": np.tile(names, n_p),
        "cpu": rng.uniform(0, 8, n_t), "gpu": 0.0, "mem_gb": 1.0, "duration": 1.0,
        "after": np.tile(after, n_p),
    })
    return pipelines, tasks


def test_200k_tasks_validate_vectorized():
    p, t = _big_frames(34_000)
    t0 = time.perf_counter()
    tr = Trace.from_frames(p, t)
    b = tr.to_batch()
    elapsed = time.perf_counter() - t0
    assert b.arrays.n_tasks == 204_000 and len(b.arrays.succ) == 34_000 * 6
    assert b.arrays.n_pred[:6].tolist() == [0, 1, 1, 1, 1, 2]
    print(f"204k tasks: from_frames + to_batch in {elapsed:.2f} s")


def test_a_long_chain_listed_backwards():
    """A 100k-task chain whose edges all point backwards in the table: no per-level loop may be slow."""
    n = 100_000
    names = np.array([f"s{i}" for i in range(n)], dtype=object)
    after = np.concatenate([[""], names[:-1]])
    tasks = pd.DataFrame({"pipeline_id": 0, "task": names[::-1], "type": "train", "cpu": 1.0, "gpu": 0.0,
                          "mem_gb": 1.0, "duration": 1.0, "after": after[::-1]})
    pipelines = pd.DataFrame({"pipeline_id": [0], "submit_time": [0.0]})
    tr = Trace.from_frames(pipelines, tasks)
    assert tr.to_batch().arrays.n_pred.sum() == n - 1
    tasks.loc[n - 1, "after"] = f"s{n - 1}"  # s0 (the last row) now waits for the end of the chain
    with pytest.raises(InputError, match="cycle") as info:
        Trace.from_frames(pipelines, tasks)
    assert info.value.rows[:2] == [0, 1] and len(info.value.rows) == n
