"""Fitting a generator to a trace (fastpipesim.fit): recovery of known parameters, JSON, generation, plots."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fastpipesim.fit import FitResult, FittedWorkload, fit_arrivals, fit_duration, fit_trace
from fastpipesim.modelops import DEFAULT_HOURLY, DEFAULT_WEEKDAY, ModelOpsWorkload
from fastpipesim.trace import Trace

BASE_RATE = 20.0
# a profile unlike the default, so that recovery is not a coincidence of defaults
HOURLY = tuple(1.0 + 0.8 * math.sin(2 * math.pi * (h - 6) / 24) for h in range(24))
WEEKDAY = (1.4, 1.2, 1.0, 1.0, 1.0, 0.7, 0.7)


@pytest.fixture(scope="module")
def modelops():
    w = ModelOpsWorkload(base_rate=BASE_RATE, hourly=HOURLY, weekday=WEEKDAY)
    tab = w.tables(11, 0)
    trace = Trace.from_frames(tab["pipelines"], tab["tasks"], source="modelops")
    return w, trace, fit_trace(trace)


def synthetic_trace(durations: np.ndarray, seed: int = 0, days: float = 7.0) -> Trace:
    """One task per pipeline (type ``job``), homogeneous arrivals over ``days``."""
    rng = np.random.default_rng(seed)
    n = len(durations)
    submit = np.sort(rng.uniform(0, days * 86400.0, n))
    pipelines = pd.DataFrame({"pipeline_id": np.arange(n), "submit_time": submit})
    tasks = pd.DataFrame({"pipeline_id": np.arange(n), "task": "j", "type": "job", "cpu": 1.0, "gpu": 0.0,
                          "mem_gb": 2.0, "duration": durations, "after": ""})
    return Trace.from_frames(pipelines, tasks, source="synthetic")


def z_ok(observed, expected, sd, z=4.0):
    return abs(observed - expected) <= z * sd


# ------------------------------------------------------------------------- arrivals
def test_base_rate_recovered(modelops):
    w, trace, fit = modelops
    n_expected = w.expected_pipelines()
    assert fit.workload.days == pytest.approx(7.0)
    # the MLE of the rate is N / exposure: within 4 Poisson sd of the truth
    assert z_ok(fit.base_rate * 7 * 24, n_expected, math.sqrt(n_expected))
    # and exactly the count over the weighted exposure (whole weeks: N / hours)
    assert fit.base_rate == pytest.approx(trace.n_pipelines / (7 * 24), rel=1e-9)


def test_profiles_recovered(modelops):
    w, _, fit = modelops
    assert fit.hourly.mean() == pytest.approx(1.0)
    assert fit.weekday.mean() == pytest.approx(1.0)
    assert np.corrcoef(fit.hourly, w.hourly)[0, 1] > 0.95
    assert np.corrcoef(fit.weekday, w.weekday)[0, 1] > 0.9  # 7 points only (0.96 in the worst of 20 seeds)
    # ~140 arrivals per hour of day: each hourly entry within ~4 sd (relative sd ~ 1/sqrt(count))
    counts = fit.hourly_counts
    assert np.all(np.abs(fit.hourly - np.array(w.hourly)) <= 4 * np.array(w.hourly) / np.sqrt(counts) + 0.02)


def test_partial_weeks_and_unobserved_days():
    # 2.5 days, Monday to Wednesday noon: weekdays never observed get 1 relative to the rest,
    # and the rate is still recovered (IPF handles the unbalanced exposure)
    w = ModelOpsWorkload(base_rate=40.0, days=2.5, hourly=DEFAULT_HOURLY, weekday=(1, 1, 1, 1, 1, 1, 1))
    tab = w.tables(5, 0)
    fit = fit_trace(Trace.from_frames(tab["pipelines"], tab["tasks"]), days=2.5)
    n = len(tab["pipelines"])
    assert fit.workload.days == 2.5
    assert z_ok(fit.base_rate, 40.0, 40.0 / math.sqrt(n))
    np.testing.assert_allclose(fit.weekday, 1.0, atol=0.1)
    assert np.corrcoef(fit.hourly, DEFAULT_HOURLY)[0, 1] > 0.9


def test_fit_arrivals_exact_on_known_counts():
    # one arrival in the middle of every hour of a week, two on Mondays: flat hourly, Monday double
    t = np.arange(168) * 3600.0 + 1800.0
    t = np.sort(np.concatenate([t, t[:24]]))
    base, hourly, weekday = fit_arrivals(t, 7.0)
    np.testing.assert_allclose(hourly, 1.0)
    np.testing.assert_allclose(weekday / weekday[1], [2, 1, 1, 1, 1, 1, 1])
    assert base == pytest.approx(len(t) / 168)


# ------------------------------------------------------------------------- shapes and classes
def test_template_frequencies(modelops):
    _, trace, fit = modelops
    freq = fit.workload.template_frequencies()
    assert len(freq) == 2  # with and without compress
    with_compress = freq[freq["types"].str.contains("compress")]
    assert len(with_compress) == 1
    p = float(with_compress["p"].iloc[0])
    assert z_ok(p, 0.3, math.sqrt(0.3 * 0.7 / trace.n_pipelines))
    tpl = fit.workload.templates[int(with_compress["template"].iloc[0])]
    after = dict(zip(tpl.names, tpl.after()))
    assert after["compress"] == "bias_check;robustness_check"
    assert after["deploy"] == "compress"
    other = fit.workload.templates[int(freq[~freq["types"].str.contains("compress")]["template"].iloc[0])]
    assert dict(zip(other.names, other.after()))["deploy"] == "bias_check;robustness_check"


def test_classes_split_by_request(modelops):
    _, trace, fit = modelops
    gof = fit.gof[fit.gof["type"] == "train"]
    # GPU (tensorflow, pytorch) and CPU (sklearn, xgboost) training are separate classes
    assert sorted(gof["request"]) == ["8/0/32", "8/1/40"]
    gpu = gof[gof["request"] == "8/1/40"].iloc[0]
    cpu = gof[gof["request"] == "8/0/32"].iloc[0]
    assert gpu["mean"] > 2 * cpu["mean"]  # framework factor 2.5 vs 0.5-0.7
    # the class shares are the GPU share of training (45% of models; popularity-weighted)
    shares = {c.requests[0][1]: c.share for c in fit.workload.classes if c.type == "train"}
    assert shares[0.0] + shares[1.0] == pytest.approx(1.0)
    tasks = trace.tasks[trace.tasks["type"] == "train"]
    assert shares[1.0] == pytest.approx((tasks["gpu"] > 0).mean())


def test_every_fitted_duration_is_close(modelops):
    _, _, fit = modelops
    g = fit.gof[fit.gof["type"] != "(arrivals)"]
    assert len(g) == 8
    # the ModelOps durations are mixtures over dataset sizes, yet each class's fit is within a few
    # percent in CDF (at most 0.06 over 20 seeds)
    assert (g["ks_stat"] < 0.08).all(), g
    np.testing.assert_allclose(g["fitted_mean"], g["mean"], rtol=0.05)
    arr = fit.gof[fit.gof["type"] == "(arrivals)"].iloc[0]
    assert arr["ks_stat"] < 0.05 and arr["n"] == int(fit.hourly_counts.sum())


# ------------------------------------------------------------------------- duration families
@pytest.mark.parametrize(
    "family, dist, true_params",
    [
        ("lognorm", stats.lognorm(s=0.8, scale=600.0), {"s": 0.8, "scale": 600.0}),
        ("gamma", stats.gamma(a=2.5, scale=200.0), {"a": 2.5, "scale": 200.0}),
        ("weibull_min", stats.weibull_min(c=0.7, scale=900.0), {"c": 0.7, "scale": 900.0}),
        ("expon", stats.expon(scale=300.0), {"scale": 300.0}),
    ],
)
def test_duration_family_and_parameters_recovered(family, dist, true_params):
    n = 4000
    x = dist.rvs(size=n, random_state=np.random.default_rng(123))
    fit = fit_trace(synthetic_trace(x))
    row = fit.gof.iloc[0]
    assert row["type"] == "job" and row["n"] == n
    c = fit.workload.classes[0]
    if family == "expon":
        # the exponential is nested in gamma and Weibull (shape 1): AIC picks one of the three,
        # with a shape near 1
        assert c.duration.family in ("expon", "gamma", "weibull_min")
        shape = {k: v for k, v in c.duration.params.items() if k != "scale"}
        for v in shape.values():
            assert v == pytest.approx(1.0, abs=0.08)  # sd ~0.02; worst of 30 seeds 0.045
    else:
        assert c.duration.family == family
        for k, v in true_params.items():
            # MLE standard errors at n = 4000 are ~1-3%; allow 4 sd
            assert c.duration.params[k] == pytest.approx(v, rel=0.08), (k, c.duration.params)
    assert row["ks_stat"] < 1.63 / math.sqrt(n)  # below the 1% critical value
    assert row["p_value"] > 0.01
    # the fitted family has the lowest AIC, or is the simplest within 2 AIC units of it
    aics = fit.aic[0]
    assert aics[c.duration.family] <= min(aics.values()) + 2.0


def test_lognormal_sigma_recovered_precisely():
    sigma, n = 0.6, 5000
    x = 300.0 * np.exp(sigma * np.random.default_rng(9).standard_normal(n))
    d, _ = fit_duration(x)
    assert d.family == "lognorm"
    assert z_ok(d.params["s"], sigma, sigma / math.sqrt(2 * n))
    assert z_ok(math.log(d.params["scale"]), math.log(300.0), sigma / math.sqrt(n))


def test_wrong_family_has_large_ks():
    # forcing an exponential on log-normal data with small sigma: a poor fit shows in KS
    x = 300.0 * np.exp(0.3 * np.random.default_rng(1).standard_normal(3000))
    fit = fit_trace(synthetic_trace(x), families=("expon",))
    assert fit.gof.iloc[0]["ks_stat"] > 0.3


def test_constant_durations():
    fit = fit_trace(synthetic_trace(np.full(50, 42.0)))
    c = fit.workload.classes[0]
    assert c.duration.family == "constant" and c.duration.params["value"] == 42.0
    b = fit.workload.generate(0, 0)
    assert np.all(b.arrays.duration == 42.0)


def test_unknown_family_rejected():
    with pytest.raises(ValueError, match="unknown duration family"):
        fit_trace(synthetic_trace(np.ones(10) + np.arange(10)), families=("cauchy",))


# ------------------------------------------------------------------------- generation
def test_generated_rate_is_scaled(modelops):
    _, trace, fit = modelops
    g = fit.generator(rate_scale=10)
    assert isinstance(g, FittedWorkload) and g.rate_scale == 10
    expected = 10 * trace.n_pipelines
    assert g.expected_pipelines() == pytest.approx(expected, rel=1e-9)
    counts = [g.generate(4, r).arrays.n_pipelines for r in range(3)]
    for n in counts:
        assert z_ok(n, expected, math.sqrt(expected))
    assert g.default_horizon == pytest.approx(7 * 86400.0)


def test_generated_workload_looks_like_the_trace(modelops):
    _, trace, fit = modelops
    g = fit.generator(rate_scale=3)
    tab = g.tables(2, 0)
    gen = Trace.from_frames(tab["pipelines"], tab["tasks"])  # a valid trace
    refit = fit_trace(gen)
    assert refit.base_rate == pytest.approx(3 * fit.base_rate, rel=0.05)
    assert np.corrcoef(refit.hourly, fit.hourly)[0, 1] > 0.95
    a = fit.workload.template_frequencies().set_index("types")["p"]
    b = refit.workload.template_frequencies().set_index("types")["p"]
    pd.testing.assert_index_equal(a.index.sort_values(), b.index.sort_values())
    assert np.abs(a - b.reindex(a.index)).max() < 0.03
    # per class, the mean duration of the generated tasks matches the fit
    m1 = fit.gof.set_index(["type", "request"])["fitted_mean"]
    m2 = refit.gof.set_index(["type", "request"])["mean"]
    common = m1.index.intersection(m2.index).drop(("(arrivals)", ""), errors="ignore")
    assert len(common) == 8
    np.testing.assert_allclose(m2[common], m1[common], rtol=0.06)
    # model ids and priorities come from the trace's pipelines
    assert set(tab["pipelines"]["model_id"]) <= set(trace.pipelines["model_id"])
    assert set(tab["pipelines"]["priority"]) <= set(trace.pipelines["priority"])


@pytest.mark.crosspath
def test_generate_is_deterministic_and_matches_tables(modelops):
    _, _, fit = modelops
    g = fit.workload
    a1, a2 = g.generate(3, 5).arrays, dataclasses.replace(g).generate(3, 5).arrays
    for name in a1._fields:
        np.testing.assert_array_equal(getattr(a1, name), getattr(a2, name), err_msg=name)
    assert g.generate(3, 6).arrays.n_pipelines != a1.n_pipelines or not np.array_equal(
        g.generate(3, 6).arrays.submit, a1.submit)
    tab = g.tables(3, 5)
    b = Trace.from_frames(tab["pipelines"], tab["tasks"]).to_batch().arrays
    for name in ("submit", "model", "priority", "task_ptr", "cpu", "gpu", "mem", "duration", "succ_ptr", "succ"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a1, name), err_msg=name)
    assert np.all(np.diff(a1.submit) >= 0) and a1.submit.max() < g.default_horizon


def test_days_override(modelops):
    _, _, fit = modelops
    g = fit.generator(days=14)
    assert g.expected_pipelines() == pytest.approx(2 * fit.workload.expected_pipelines(), rel=1e-9)


# ------------------------------------------------------------------------- JSON and plots
@pytest.mark.crosspath
def test_json_round_trip(modelops, tmp_path):
    _, _, fit = modelops
    path = fit.save(tmp_path / "params.json")
    json.loads(path.read_text())  # plain JSON
    back = FitResult.load(path)
    assert back.workload == fit.workload
    pd.testing.assert_frame_equal(back.gof, fit.gof, check_dtype=False)
    a, b = fit.workload.generate(1, 2).arrays, back.workload.generate(1, 2).arrays
    for name in a._fields:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for k in fit.quantiles:
        np.testing.assert_array_equal(back.quantiles[k], fit.quantiles[k])


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a fastpipesim fit"):
        FitResult.load(p)
    p.write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        FitResult.load(p)


def test_plot_written(modelops, tmp_path):
    pytest.importorskip("matplotlib")
    _, _, fit = modelops
    out = fit.plot(tmp_path / "fit.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # also after a round trip through JSON (from the stored quantiles)
    back = FitResult.load(fit.save(tmp_path / "p.json"))
    assert back.plot(tmp_path / "fit2.png").stat().st_size > 1000


def test_summary_mentions_every_class(modelops):
    _, _, fit = modelops
    text = fit.summary()
    for t in ("preprocess", "train", "deploy", "(arrivals)", "ks_stat"):
        assert t in text


# ------------------------------------------------------------------------- arbitrary traces
def test_arbitrary_dags_and_requests():
    from randtrace import random_trace

    pipelines, tasks, _ = random_trace(np.random.default_rng(3), n_pipelines=400, max_tasks=5, tie_heavy=False)
    trace = Trace.from_frames(pipelines, tasks)
    fit = fit_trace(trace, min_class_size=1000)  # too few tasks per request: one class per type
    w = fit.workload
    # one template per distinct (types in task order, edges) signature of the trace
    b = trace.to_batch().arrays
    sigs = set()
    for p in range(b.n_pipelines):
        s, e = b.task_ptr[p], b.task_ptr[p + 1]
        edges = tuple((int(i - s), int(j - s)) for i in range(s, e) for j in b.succ[b.succ_ptr[i]:b.succ_ptr[i + 1]])
        sigs.add((tuple(b.task_type[s:e]), tuple(sorted(edges))))
    assert len(w.templates) == len(sigs)
    assert set(fit.gof["request"]) == {"*", ""}
    assert sum(fit.workload.pipeline_p) == pytest.approx(1.0)
    # generated pipelines are valid traces whose shapes and (type, request) pairs come from the trace
    tab = fit.generator(rate_scale=2).tables(0, 0)
    gen = Trace.from_frames(tab["pipelines"], tab["tasks"])
    refit = fit_trace(gen, min_class_size=1000)
    key = lambda t: (t.types, tuple(sorted(t.edges)))  # noqa: E731
    assert {key(t) for t in refit.workload.templates} <= {key(t) for t in w.templates}
    cols = ["type", "cpu", "gpu", "mem_gb"]
    have = set(map(tuple, trace.tasks[cols].to_numpy().tolist()))
    assert set(map(tuple, gen.tasks[cols].to_numpy().tolist())) <= have
    # request frequencies per type follow the trace's (two-sample chi-square would do; a loose check)
    f1 = trace.tasks.groupby("type")["gpu"].mean()
    f2 = gen.tasks.groupby("type")["gpu"].mean()
    np.testing.assert_allclose(f2[f1.index], f1, atol=0.12)


# ------------------------------------------------------------------------- ModelOps parameters
@pytest.fixture(scope="module")
def modelops_fit():
    from fastpipesim.fit import fit_modelops

    w = ModelOpsWorkload(base_rate=BASE_RATE, hourly=HOURLY, weekday=WEEKDAY)
    tab = w.tables(11, 0)
    trace = Trace.from_frames(tab["pipelines"], tab["tasks"], tab["models"])
    fitted, steps = fit_modelops(trace)
    return w, trace, fitted, steps.set_index("step")


def test_modelops_step_parameters_recovered(modelops_fit):
    w, trace, fitted, steps = modelops_fit
    for st, ft in zip(w.template, fitted.template):
        assert ft.name == st.name
        n = steps.loc[st.name, "n"]
        # sigma: MLE sd ~ sigma / sqrt(2n)
        assert z_ok(ft.sigma, st.sigma, st.sigma / math.sqrt(2 * n) + 0.005), st.name
        # the median duration (a + b size^e): close at the median size; a, b and e trade off
        # towards the ends of the size range (100 models only; worst of 20 seeds: 2% at
        # 4 GB, 11% at 1 or 16 GB)
        for gb, rel in ((1.0, 0.15), (4.0, 0.04), (16.0, 0.15)):
            true = st.a + st.b * gb ** st.e
            got = ft.a + ft.b * gb ** ft.e
            assert got == pytest.approx(true, rel=rel), (st.name, gb)
        assert ft.factor_by_framework == st.factor_by_framework and ft.request == st.request
    compress = steps.loc["compress"]
    assert z_ok(compress["p"], 0.3, math.sqrt(0.3 * 0.7 / trace.n_pipelines))
    train = next(s for s in fitted.template if s.name == "train")
    assert train.e == pytest.approx(0.7, abs=0.2)


def test_modelops_other_parameters_recovered(modelops_fit):
    w, trace, fitted, _ = modelops_fit
    assert z_ok(fitted.expected_pipelines(), w.expected_pipelines(), math.sqrt(w.expected_pipelines()))
    assert np.corrcoef(fitted.hourly, w.hourly)[0, 1] > 0.95
    assert fitted.n_models == w.n_models
    assert fitted.zipf_s == pytest.approx(w.zipf_s, abs=0.1)
    assert fitted.size_factor_sigma == pytest.approx(w.size_factor_sigma, abs=0.02)
    # per-model draws (100 models): only as good as 100 samples
    assert fitted.size_sigma == pytest.approx(w.size_sigma, abs=0.15)
    assert math.log(fitted.size_median_gb) == pytest.approx(math.log(w.size_median_gb), abs=0.2)
    np.testing.assert_allclose(fitted.framework_mix, w.framework_mix, atol=0.2)
    # the fitted generator runs, and is about as busy
    assert fitted.generate(0, 0).arrays.n_pipelines > 0


def test_modelops_fit_needs_modelops_columns():
    from fastpipesim.fit import fit_modelops

    with pytest.raises(ValueError, match="framework"):
        fit_modelops(synthetic_trace(np.ones(5) + np.arange(5)))


def test_window_starting_at_the_first_arrival(modelops):
    w, trace, fit = modelops
    two_weeks = 14 * 86400.0
    pipelines = trace.pipelines.assign(submit_time=trace.pipelines["submit_time"] + two_weeks)
    shifted = Trace.from_frames(pipelines, trace.tasks)
    late = fit_trace(shifted, start="first")
    assert late.workload.start == two_weeks and late.workload.days == pytest.approx(7.0)
    assert late.base_rate == pytest.approx(fit.base_rate, rel=1e-9)
    np.testing.assert_allclose(late.hourly, fit.hourly, rtol=1e-9)
    np.testing.assert_allclose(late.weekday, fit.weekday, rtol=1e-9)
    g = late.generator(rate_scale=2)
    sub = g.generate(0, 0).arrays.submit
    assert sub.min() >= two_weeks and sub.max() < g.default_horizon == two_weeks + 7 * 86400.0
    assert FitResult.from_json(json.loads(json.dumps(late.to_json()))).workload.start == two_weeks
    # from time 0, the empty lead-in dilutes the rate to a third
    assert fit_trace(shifted).base_rate == pytest.approx(fit.base_rate / 3, rel=0.01)
    with pytest.raises(ValueError, match="whole number of hours"):
        fit_trace(shifted, start=1800.0)


def test_simulating_the_fit_behaves_like_the_trace():
    # the shipped one-week trace on its cluster, replayed, against 4 replications of its fit
    from pathlib import Path

    import fastpipesim as fps

    folder = Path(__file__).resolve().parent.parent / "traces" / "modelops-medium"
    trace = fps.read_trace(folder)
    cluster = fps.read_cluster(folder / "cluster.csv")
    fit = fit_trace(trace)
    replay = fps.simulate(trace, cluster, horizon=fit.workload.default_horizon, progress=False).summary.iloc[0]
    synth = fps.simulate(fit.workload, cluster, replications=4, seed=1, progress=False).summary.mean()
    assert synth["submitted"] == pytest.approx(replay["submitted"], rel=0.1)
    for col in ("util_gpu_gpu", "util_cpu_cpu"):
        assert synth[col] == pytest.approx(replay[col], abs=0.08), col
    assert synth["response_mean"] == pytest.approx(replay["response_mean"], rel=0.25)


def test_plot_without_matplotlib_says_so(modelops, tmp_path, monkeypatch):
    import sys

    _, _, fit = modelops
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match="pip install matplotlib"):
        fit.plot(tmp_path / "x.png")
