"""One computation per number: results that do not depend on the CPU's vector unit.

NumPy's array ``exp``/``power``/``log`` run vector kernels chosen by the CPU
(AVX-512 where it has it), which differ from the C library's scalar functions
in the last bit for a few percent of arguments. The generator therefore
computes every transcendental value with the C library (``engine.fpmath``),
and files carry floats exactly. These tests compare against Python's ``math``
(the C library, never NumPy's vector kernels), so they fail on an AVX-512
machine if NumPy's array math creeps back into the workload's numbers.
``.ci/run`` runs them again with NumPy's AVX-512 kernels switched off.
"""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import fastpipesim as fps
from fastpipesim.cluster import Cluster, read_cluster
from fastpipesim.engine import fpmath
from fastpipesim.modelops import replication_rng
from fastpipesim.trace import Trace, read_trace

pytestmark = pytest.mark.crosspath


def _hard_args(n, seed=0):
    r = np.random.default_rng(seed)
    return np.concatenate([r.normal(0, 3, n), r.uniform(-700, 700, n // 10)])


@pytest.mark.parametrize("compiled", [True, False])
def test_fpmath_is_the_c_library(compiled):
    x = _hard_args(20_000)
    r = np.random.default_rng(2)
    base = r.lognormal(0, 2, x.size)
    e = r.normal(0, 1, x.size)
    exp_nb = fpmath.exp_nb if compiled else fpmath.exp_nb.py_func
    pow_nb = fpmath.pow_nb if compiled else fpmath.pow_nb.py_func
    assert np.array_equal(exp_nb(x), np.array([math.exp(v) for v in x]))
    assert np.array_equal(pow_nb(base, e), np.array([math.pow(a, b) for a, b in zip(base, e)]))
    # the wrappers keep shapes and broadcast like NumPy's
    grid = x[:12].reshape(3, 4)
    assert fpmath.exp(grid).shape == (3, 4)
    assert np.array_equal(fpmath.power(base[:4], 0.5), np.array([math.pow(a, 0.5) for a in base[:4]]))


def test_generated_models_are_the_scalar_formulas():
    """The model table's transcendental values, recomputed draw by draw with ``math``."""
    w = fps.ModelOpsWorkload(days=1.0)
    seed, rep = 3, 1
    got = w.model_table(seed, rep)
    rng = replication_rng(seed, rep)
    M = w.n_models
    u_fw = rng.random(M)
    z_size = rng.standard_normal(M)
    rng.random(M)  # priority class
    z_drift = rng.standard_normal(M)
    ratio_u = rng.random(M)
    z_acc = rng.standard_normal(M)
    fw = np.minimum(np.searchsorted(np.cumsum(w.framework_mix) / sum(w.framework_mix), u_fw, side="right"), 3)
    base = [w.size_median_gb * math.exp(w.size_sigma * float(z)) for z in z_size]
    drift = [w.drift_median_per_day * math.exp(w.drift_sigma * float(z)) for z in z_drift]
    assert got.drift_per_day.tolist() == drift
    lo, hi = w.threshold_ratio
    curve = [w.curve_A[f] - w.curve_B[f] * math.pow(b, -w.curve_c[f]) for f, b in zip(fw, base)]
    threshold = [(lo + (hi - lo) * float(u)) * min(max(c, 0.0), 1.0) for u, c in zip(ratio_u, curve)]
    assert got.threshold.tolist() == threshold
    acc = [min(max(c + w.accuracy_noise_sd * float(z), 0.0), 1.0) for c, z in zip(curve, z_acc)]
    assert got.accuracy.tolist() == acc
    pop = [1.0 / math.pow(i, w.zipf_s) for i in range(1, M + 1)]
    total = math.fsum(pop)
    assert np.allclose(w._plan.popularity, np.array(pop) / total, rtol=0, atol=1e-15)
    raw = 1.0 / fpmath.power(np.arange(1, M + 1, dtype=np.float64), w.zipf_s)
    assert raw.tolist() == pop


def test_generated_durations_are_the_scalar_formulas():
    """Every task duration equals the duration model evaluated with ``math`` on the batch's sizes."""
    w = fps.ModelOpsWorkload(days=1.0)
    steps = {st.name: st for st in w.template}
    fwi = {f: i for i, f in enumerate(w.frameworks)}
    # the mean-one log-normal factor is not stored: with sigma 0 it is 1, and the
    # duration must be the scalar size term to the last bit
    w0 = fps.ModelOpsWorkload(days=1.0, template=tuple(dataclasses.replace(st, sigma=0.0) for st in w.template))
    t0 = w0.tables(4, 0)
    tasks0 = t0["tasks"].merge(t0["pipelines"][["pipeline_id", "framework", "dataset_size_gb"]], on="pipeline_id")
    plan = w0._plan
    for row in tasks0.itertuples():
        st = steps[row.task]
        f = fwi[row.framework]
        j = list(steps).index(row.task)
        expect = (st.a + st.b * math.pow(row.dataset_size_gb, st.e)) * plan.factor[j, f]
        assert row.duration == expect, row
    assert len(tasks0) > 100


def _hard_floats(rng, n, lo=None, hi=None):
    """Floats whose shortest decimal form needs all 17 digits, in [lo, hi)."""
    x = rng.uniform(lo, hi, n)
    # perturb the last bits so that short decimal forms are rare
    return x * (1.0 + rng.integers(-2**20, 2**20, n) * np.finfo(float).eps)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_written_trace_reads_back_every_float_exactly(tmp_path, fmt):
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(7)
    n = 400
    pipelines = pd.DataFrame({
        "pipeline_id": np.arange(n), "submit_time": _hard_floats(rng, n, 0, 1e7), "model_id": rng.integers(0, 3, n),
        "candidate_accuracy": _hard_floats(rng, n, 0.5, 1), "candidate_robustness": _hard_floats(rng, n, 0.5, 1),
        "candidate_fairness": _hard_floats(rng, n, 0.5, 1), "compress_loss": _hard_floats(rng, n, 0, 0.02),
        "dataset_size_gb": _hard_floats(rng, n, 0.01, 1e3),
    })
    tasks = pd.DataFrame({
        "pipeline_id": np.arange(n), "task": "t", "type": "train",
        "cpu": _hard_floats(rng, n, 0, 8), "gpu": _hard_floats(rng, n, 0, 1), "mem_gb": _hard_floats(rng, n, 0, 64),
        "duration": _hard_floats(rng, n, 1e-3, 1e6), "after": "",
    })
    models = pd.DataFrame({
        "model_id": [0, 1, 2], "accuracy": _hard_floats(rng, 3, 0.8, 1), "robustness": _hard_floats(rng, 3, 0, 1),
        "fairness": _hard_floats(rng, 3, 0, 1), "deployed_at": -_hard_floats(rng, 3, 0, 1e5),
        "drift_per_day": _hard_floats(rng, 3, 0, 0.1), "threshold": _hard_floats(rng, 3, 0.5, 0.8),
        "on_drift": False, "period": 0.0, "phase": 0.0, "template_pipeline_id": -1,
    })
    tr = Trace.from_frames(pipelines, tasks, models, source="mem")
    back = read_trace(tr.write(tmp_path / "t", format=fmt))
    for name in ("pipelines", "tasks", "models"):
        a, b = getattr(tr, name), getattr(back, name)
        for col in a.columns:
            if a[col].dtype.kind == "f":
                assert np.array_equal(a[col].to_numpy(), b[col].to_numpy()), (name, col)
    a, b = tr.to_batch().arrays, back.to_batch().arrays
    for name in a._fields:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    cl = Cluster.from_pools([{"pool": "p", "count": 2, "cpu": float(_hard_floats(rng, 1, 1, 64)[0]), "gpu": 1.0,
                              "mem_gb": float(_hard_floats(rng, 1, 1, 512)[0]),
                              "speed": float(_hard_floats(rng, 1, 0.5, 2)[0]),
                              "price_per_hour": float(_hard_floats(rng, 1, 0, 10)[0])}])
    cl.to_csv(tmp_path / "cluster.csv")
    assert read_cluster(tmp_path / "cluster.csv").pools.equals(cl.pools)


def test_a_generated_trace_written_as_csv_holds_the_simulated_floats(tmp_path):
    w = fps.ModelOpsWorkload(days=1.0)
    tables = w.tables(8, 2)
    Trace.from_frames(tables["pipelines"], tables["tasks"], tables["models"]).write(tmp_path / "g")
    back = read_trace(tmp_path / "g")
    batch = w.generate(8, 2)
    a, b = batch.arrays, back.to_batch().arrays
    for name in ("submit", "duration", "cand_accuracy", "cand_robustness", "cand_fairness", "compress_loss"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    m = back.model_table()
    for name in ("accuracy", "robustness", "fairness", "deployed_at", "drift_per_day", "threshold"):
        assert np.array_equal(getattr(batch.models[0], name), getattr(m, name)), name
