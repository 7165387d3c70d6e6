"""The synthetic ModelOps workload (MODEL.md 8): determinism, distributions, DAG, tables, sizing."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fastpipesim.cluster import default_cluster
from fastpipesim.engine.constants import STANDARD_TYPES, TYPE_COMPRESS
from fastpipesim.modelops import ModelOpsWorkload, Step, replication_rng
from fastpipesim.workload import WorkloadArrays, build_arrays

DEFAULT = ModelOpsWorkload()
# One cheap step: for tests of arrivals and models, where tasks do not matter.
ONE_STEP = dataclasses.replace(DEFAULT, template=(Step("job", "train", a=10.0),))


def rep_slice(arrays: WorkloadArrays, k: int) -> dict:
    """Replication k of a batch, with indices made local again."""
    p0, p1 = arrays.rep_pipeline_ptr[k : k + 2]
    t0, t1 = arrays.rep_task_ptr[k : k + 2]
    e0, e1 = arrays.succ_ptr[t0], arrays.succ_ptr[t1]
    out = {}
    for name in WorkloadArrays._fields:
        v = getattr(arrays, name)
        if name in ("rep_pipeline_ptr", "rep_task_ptr"):
            continue
        if name == "task_ptr":
            out[name] = v[p0 : p1 + 1] - t0
        elif name == "succ_ptr":
            out[name] = v[t0 : t1 + 1] - e0
        elif name == "succ":
            out[name] = v[e0:e1] - t0
        elif name == "task_pipeline":
            out[name] = v[t0:t1] - p0
        elif len(v) == arrays.n_pipelines:
            out[name] = v[p0:p1]
        else:
            out[name] = v[t0:t1]
    return out


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert a[k].dtype == b[k].dtype, k


def many(w: ModelOpsWorkload, n: int, seed: int = 7):
    return [w.generate(seed, r).arrays for r in range(n)]


def preds_of(arrays: WorkloadArrays, names: np.ndarray) -> dict:
    """{(pipeline, task name): frozenset of predecessor names} from the successor lists."""
    out = {(int(arrays.task_pipeline[i]), names[i]): set() for i in range(arrays.n_tasks)}
    for i in range(arrays.n_tasks):
        for s in arrays.succ[arrays.succ_ptr[i] : arrays.succ_ptr[i + 1]]:
            out[(int(arrays.task_pipeline[s]), names[s])].add(names[i])
    return {k: frozenset(v) for k, v in out.items()}


# ---------------------------------------------------------------- determinism
@pytest.mark.crosspath
def test_same_seed_and_replication_give_identical_arrays():
    a = DEFAULT.generate(11, 4)
    b = ModelOpsWorkload().generate(11, 4)
    assert_same(a.arrays._asdict(), b.arrays._asdict())
    np.testing.assert_array_equal(a.task_names, b.task_names)
    assert a.type_names == STANDARD_TYPES
    assert list(a.replications) == [4]


@pytest.mark.crosspath
def test_replication_alone_equals_replication_in_a_batch():
    reps = [5, 0, 3]
    batch = DEFAULT.batch(11, reps)
    assert list(batch.replications) == reps
    assert batch.n_replications == 3
    for k, r in enumerate(reps):
        alone = DEFAULT.generate(11, r)
        assert_same(rep_slice(batch.arrays, k), rep_slice(alone.arrays, 0))
        t0, t1 = batch.arrays.rep_task_ptr[k : k + 2]
        np.testing.assert_array_equal(batch.task_names[t0:t1], alone.task_names)


def test_different_replications_and_seeds_differ():
    a = DEFAULT.generate(11, 0).arrays
    b = DEFAULT.generate(11, 1).arrays
    c = DEFAULT.generate(12, 0).arrays
    for other in (b, c):
        n = min(a.n_pipelines, other.n_pipelines)
        assert not np.array_equal(a.submit[:n], other.submit[:n])


def test_replication_stream_is_the_spawned_child():
    # MODEL.md 8: the same as the r-th child of SeedSequence(s).spawn(...)
    child = np.random.SeedSequence(99).spawn(4)[3]
    expected = np.random.Generator(np.random.PCG64(child)).random(5)
    np.testing.assert_array_equal(replication_rng(99, 3).random(5), expected)


def test_pipelines_are_numbered_in_submit_order_within_the_horizon():
    a = DEFAULT.generate(3, 0).arrays
    np.testing.assert_array_equal(a.pipeline_id, np.arange(a.n_pipelines))
    assert np.all(np.diff(a.submit) >= 0)
    assert a.submit[0] >= 0 and a.submit[-1] < DEFAULT.days * 86400
    assert np.all(a.duration > 0) and np.all(np.isfinite(a.duration))


def test_changing_an_inclusion_probability_moves_no_other_number():
    # every draw is made for every step whatever its inclusion: common random numbers
    other = dataclasses.replace(
        DEFAULT, template=tuple(dataclasses.replace(s, p=1.0) if s.name == "compress" else s for s in DEFAULT.template)
    )
    t1, t2 = DEFAULT.tables(5, 2), other.tables(5, 2)
    pd.testing.assert_frame_equal(t1["pipelines"], t2["pipelines"])
    pd.testing.assert_frame_equal(t1["models"], t2["models"])
    keep = t1["tasks"]["task"] == "train"
    np.testing.assert_array_equal(
        t1["tasks"].loc[keep, "duration"].to_numpy(), t2["tasks"].loc[t2["tasks"]["task"] == "train", "duration"]
    )
    assert (t2["tasks"]["task"] == "compress").sum() == len(t2["pipelines"])


# ---------------------------------------------------------------- arrivals
def _arrival_checks(n_reps: int):
    w = ONE_STEP
    subs = [a.submit for a in many(w, n_reps)]
    counts = np.array([len(s) for s in subs])
    mass = w.expected_pipelines()
    assert mass == pytest.approx(w.base_rate * 24 * w.days)  # profiles of mean 1 over a whole week
    # total count: Poisson(mass), mean and variance
    se = math.sqrt(mass / n_reps)
    assert abs(counts.mean() - mass) < 4 * se
    assert 0.6 < counts.var(ddof=1) / mass < 1.5
    t = np.concatenate(subs)
    hour = (t // 3600).astype(int)
    # hour of day
    obs = np.bincount(hour % 24, minlength=24)
    exp = np.array(w.hourly) / 24 * len(t)
    assert stats.chisquare(obs, exp).pvalue > 1e-3
    # day of week
    obs = np.bincount(hour // 24 % 7, minlength=7)
    exp = np.array(w.weekday) / 7 * len(t)
    assert stats.chisquare(obs, exp).pvalue > 1e-3
    # every one of the 168 hour bins of the week
    obs = np.bincount(hour, minlength=168)
    exp = np.array([w.hourly[h % 24] * w.weekday[h // 24] for h in range(168)])
    assert stats.chisquare(obs, exp / exp.sum() * len(t)).pvalue > 1e-3
    # inside an hour the rate is constant: uniform offsets
    assert stats.kstest((t % 3600) / 3600, "uniform").pvalue > 1e-3


def test_arrivals_follow_the_rate_profile():
    _arrival_checks(60)


@pytest.mark.slow
def test_arrivals_follow_the_rate_profile_many_replications():
    _arrival_checks(1500)


def test_arrivals_with_zero_rate_hours_and_a_partial_last_hour():
    hourly = [0.0] * 24
    hourly[9] = 1.0
    hourly[10] = 3.0
    # Wednesday has rate 0; the horizon ends on Thursday at 09:36, inside a busy hour
    w = dataclasses.replace(ONE_STEP, hourly=hourly, weekday=[1, 1, 0, 1, 1, 1, 1], days=3.4, base_rate=2.0)
    assert w.hourly[10] == pytest.approx(18.0)  # normalized to mean 1
    assert w.weekday[0] == pytest.approx(7 / 6)
    t = np.concatenate([a.submit for a in many(w, 300)])
    hour = (t // 3600).astype(int)
    assert set(np.unique(hour)) == {9, 10, 33, 34, 81}
    assert np.all(t < 3.4 * 86400)
    # per replication: Monday and Tuesday 2 x (6 + 18) / hour, Thursday 0.6 h x 6, x base_rate x 7/6
    expected = (2 * (6 + 18) + 0.6 * 6) * 2.0 * 7 / 6
    assert w.expected_pipelines() == pytest.approx(expected)
    assert abs(len(t) / 300 - expected) < 4 * math.sqrt(expected / 300)
    obs = [np.sum(hour == h) for h in (9, 10, 33, 34, 81)]
    exp = np.array([6, 18, 6, 18, 3.6]) / expected * 2.0 * 7 / 6 * len(t)
    assert stats.chisquare(obs, exp).pvalue > 1e-3
    # uniform inside each hour, including the partial one
    assert stats.kstest(t[hour == 10] % 3600 / 3600, "uniform").pvalue > 1e-3
    assert stats.kstest(t[hour == 81] % 3600 / (0.6 * 3600), "uniform").pvalue > 1e-3


def test_zero_rate_gives_an_empty_workload():
    b = dataclasses.replace(DEFAULT, base_rate=0.0).generate(1, 0)
    assert b.arrays.n_pipelines == 0 and b.arrays.n_tasks == 0
    assert len(b.task_names) == 0
    tables = dataclasses.replace(DEFAULT, base_rate=0.0).tables(1, 0)
    assert len(tables["pipelines"]) == 0 and len(tables["models"]) == DEFAULT.n_models


# ---------------------------------------------------------------- models
def _zipf_check(n_reps):
    w = ONE_STEP
    models = np.concatenate([a.model for a in many(w, n_reps)])
    obs = np.bincount(models, minlength=w.n_models)
    pop = 1 / np.arange(1, w.n_models + 1) ** w.zipf_s
    pop /= pop.sum()
    assert stats.chisquare(obs, pop * len(models)).pvalue > 1e-3
    assert obs[0] / len(models) == pytest.approx(pop[0], abs=4 * math.sqrt(pop[0] / len(models)))


def test_model_popularity_is_zipf():
    _zipf_check(40)


@pytest.mark.slow
def test_model_popularity_is_zipf_many_replications():
    _zipf_check(800)


def test_model_table_and_pipeline_attributes_agree():
    t = DEFAULT.tables(4, 1)
    p, m = t["pipelines"], t["models"]
    assert list(m.columns[:11]) == [
        "model_id", "accuracy", "robustness", "fairness", "deployed_at", "drift_per_day", "threshold",
        "on_drift", "period", "phase", "template_pipeline_id",
    ]
    assert len(m) == DEFAULT.n_models
    assert (m["deployed_at"] <= 0).all() and (m["deployed_at"] >= -DEFAULT.initial_age_days * 86400).all()
    assert (m["drift_per_day"] > 0).all() and m["accuracy"].between(0, 1).all()
    assert (m["threshold"] < m["accuracy"]).mean() > 0.9  # models start healthy
    joined = p.merge(m, on="model_id", suffixes=("", "_model"))
    assert (joined["framework"] == joined["framework_model"]).all()
    assert (joined["priority"] == joined["priority_model"]).all()
    # dataset size = base x a mean-one log-normal factor
    log_ratio = np.log(joined["dataset_size_gb"] / joined["base_dataset_size_gb"])
    s = DEFAULT.size_factor_sigma
    assert log_ratio.mean() == pytest.approx(-s * s / 2, abs=4 * s / math.sqrt(len(joined)))
    assert log_ratio.std() == pytest.approx(s, rel=0.1)


def test_framework_mix_over_models():
    fw = pd.concat([DEFAULT.models(1, r)["framework"] for r in range(30)])
    obs = fw.value_counts().reindex(list(DEFAULT.frameworks)).to_numpy()
    assert stats.chisquare(obs, np.array(DEFAULT.framework_mix) * len(fw)).pvalue > 1e-3


def test_periodic_rule_phases():
    w = dataclasses.replace(DEFAULT, period_days=2.0, on_drift=True)
    m = w.models(1, 0)
    assert (m["period"] == 2 * 86400).all() and m["on_drift"].all()
    assert m["phase"].between(0, 2 * 86400).all() and m["phase"].nunique() == len(m)


# ---------------------------------------------------------------- template and DAG
def test_compress_inclusion_and_dag_rewiring():
    arrays = many(DEFAULT, 10)
    n = sum(a.n_pipelines for a in arrays)
    with_compress = sum(int(np.sum(a.task_type == TYPE_COMPRESS)) for a in arrays)
    assert abs(with_compress / n - 0.3) < 4 * math.sqrt(0.21 / n)
    b = DEFAULT.generate(7, 0)
    preds = preds_of(b.arrays, b.task_names)
    checks = frozenset({"bias_check", "robustness_check"})
    seen = set()
    for p in range(b.arrays.n_pipelines):
        has = (p, "compress") in preds
        seen.add(has)
        assert preds[(p, "preprocess")] == frozenset()
        assert preds[(p, "train")] == {"preprocess"}
        assert preds[(p, "bias_check")] == {"evaluate"} == preds[(p, "robustness_check")]
        if has:
            assert preds[(p, "compress")] == checks and preds[(p, "deploy")] == {"compress"}
        else:
            assert preds[(p, "deploy")] == checks  # deploy inherits compress's predecessors
    assert seen == {True, False}
    n_tasks = np.diff(b.arrays.task_ptr)
    assert set(np.unique(n_tasks)) == {6, 7}


def test_exclusion_chains_inherit_through_several_steps():
    tpl = (
        Step("a", "preprocess"),
        Step("b", "train", after=("a",), p=0.5),
        Step("c", "evaluate", after=("b",), p=0.5),
        Step("x", "bias_check", after=("a",)),
        Step("d", "deploy", after=("c", "x")),
    )
    w = dataclasses.replace(DEFAULT, template=tpl)
    t = w.tables(2, 0)["tasks"]
    after = {(r.pipeline_id, r.task): r.after for r in t.itertuples()}
    kinds = set()
    for p, g in t.groupby("pipeline_id"):
        names = set(g["task"])
        kinds.add(frozenset(names))
        want_d = ("c" if "c" in names else ("b" if "b" in names else "a"))
        assert set(after[(p, "d")].split(";")) == {want_d, "x"} if want_d != "a" else after[(p, "d")] == "a;x"
        if "c" in names:
            assert after[(p, "c")] == ("b" if "b" in names else "a")
    assert len(kinds) == 4  # all four inclusion patterns occur
    # arrays and tables agree on the rewired edges
    b = w.generate(2, 0)
    preds = preds_of(b.arrays, b.task_names)
    for (p, name), a in after.items():
        assert preds[(p, name)] == frozenset(x for x in a.split(";") if x)


def test_resources_depend_on_the_framework():
    t = DEFAULT.tables(3, 0)
    tasks = t["tasks"].merge(t["pipelines"][["pipeline_id", "framework"]], on="pipeline_id")
    train = tasks[tasks["task"] == "train"]
    dl = train["framework"].isin(["tensorflow", "pytorch"])
    assert (train.loc[dl, "gpu"] > 0).all() and (train.loc[~dl, "gpu"] == 0).all()
    assert (tasks.loc[tasks["task"] != "train", "gpu"] == 0).all()


def test_every_default_task_fits_its_pool():
    pools = default_cluster().pools.set_index("pool")
    for st in DEFAULT.template:
        for fw in DEFAULT.frameworks:
            req = dict(st.request_by_framework).get(fw, st.request)
            pool = pools.loc["gpu" if req[1] > 0 else "cpu"]
            assert req[0] <= pool["cpu"] and req[1] <= pool["gpu"] and req[2] <= pool["mem_gb"], (st.name, fw)
    # four GPU trainings fill a GPU node's GPUs without running out of cpu or memory
    req = np.array(dict(DEFAULT.template[1].request_by_framework)["pytorch"])
    node = pools.loc["gpu", ["cpu", "gpu", "mem_gb"]].to_numpy(float)
    assert np.all(req * node[1] / req[1] <= node)


# ---------------------------------------------------------------- durations and outcomes
def _duration_factor_check(n_reps):
    tables = [DEFAULT.tables(9, r) for r in range(n_reps)]
    tasks = pd.concat([t["tasks"].merge(t["pipelines"], on="pipeline_id") for t in tables])
    for st in DEFAULT.template:
        g = tasks[tasks["task"] == st.name]
        fac = g["framework"].map(dict(st.factor_by_framework)).fillna(1.0)
        factor = g["duration"] / ((st.a + st.b * g["dataset_size_gb"] ** st.e) * fac)
        se = math.sqrt(math.exp(st.sigma**2) - 1) / math.sqrt(len(g))
        assert abs(factor.mean() - 1) < 4.5 * se, st.name  # mean one
        assert np.log(factor).std() == pytest.approx(st.sigma, rel=0.1), st.name


def test_duration_factor_is_mean_one_lognormal():
    _duration_factor_check(4)


@pytest.mark.slow
def test_duration_factor_is_mean_one_lognormal_many_replications():
    _duration_factor_check(100)


def test_candidate_outcomes():
    t = pd.concat([DEFAULT.tables(8, r)["pipelines"] for r in range(3)])
    for col in ("candidate_accuracy", "candidate_robustness", "candidate_fairness"):
        assert t[col].between(0, 1).all(), col
    assert t["compress_loss"].between(*DEFAULT.compress_loss_range).all()
    a, b = DEFAULT.robustness_beta
    assert t["candidate_robustness"].mean() == pytest.approx(a / (a + b), abs=0.01)
    a, b = DEFAULT.fairness_beta
    assert t["candidate_fairness"].mean() == pytest.approx(a / (a + b), abs=0.01)
    # residual of the learning curve: normal noise of the given sd
    fi = t["framework"].map({f: i for i, f in enumerate(DEFAULT.frameworks)}).to_numpy()
    curve = (np.array(DEFAULT.curve_A)[fi]
             - np.array(DEFAULT.curve_B)[fi] * t["dataset_size_gb"].to_numpy() ** -np.array(DEFAULT.curve_c)[fi])
    resid = t["candidate_accuracy"].to_numpy() - curve
    assert abs(resid.mean()) < 4 * DEFAULT.accuracy_noise_sd / math.sqrt(len(t))
    assert resid.std() == pytest.approx(DEFAULT.accuracy_noise_sd, rel=0.1)


def test_candidate_accuracy_is_clipped_to_the_unit_interval():
    w = dataclasses.replace(DEFAULT, curve_A=(1.3, 1.3, -0.2, -0.2), curve_B=(0, 0, 0, 0), accuracy_noise_sd=0.05)
    for r in range(3):
        b = w.generate(1, r).arrays
        assert b.cand_accuracy.min() >= 0 and b.cand_accuracy.max() <= 1
        assert {0.0, 1.0} <= set(np.unique(b.cand_accuracy))
        m = w.models(1, r)
        assert m["accuracy"].between(0, 1).all()


# ---------------------------------------------------------------- tables
def arrays_from_tables(tables, type_names) -> WorkloadArrays:
    """Rebuild the arrays from the trace tables, the way a trace replay would."""
    p, t = tables["pipelines"], tables["tasks"]
    counts = t.groupby("pipeline_id", sort=True).size().reindex(p["pipeline_id"], fill_value=0).to_numpy()
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = {(r.pipeline_id, r.task): i for i, r in enumerate(t.itertuples())}
    ep, es = [], []
    for i, r in enumerate(t.itertuples()):
        for a in filter(None, r.after.split(";")):
            ep.append(local[(r.pipeline_id, a)])
            es.append(i)
    code = {n: c for c, n in enumerate(type_names)}
    assert np.all(first == np.searchsorted(t["pipeline_id"].to_numpy(), p["pipeline_id"].to_numpy()))
    return build_arrays(
        pipeline_id=p["pipeline_id"], submit=p["submit_time"], model=p["model_id"], priority=p["priority"],
        task_count=counts, task_type=t["type"].map(code), cpu=t["cpu"], gpu=t["gpu"], mem=t["mem_gb"],
        duration=t["duration"], edge_pred=ep, edge_succ=es,
        cand_accuracy=p["candidate_accuracy"], cand_robustness=p["candidate_robustness"],
        cand_fairness=p["candidate_fairness"], compress_loss=p["compress_loss"],
    )


@pytest.mark.parametrize("seed,rep", [(0, 0), (21, 6)])
@pytest.mark.crosspath
def test_tables_reproduce_generate_exactly(seed, rep):
    b = DEFAULT.generate(seed, rep)
    tables = DEFAULT.tables(seed, rep)
    assert set(tables) == {"pipelines", "tasks", "models"}
    for col in ("pipeline_id", "task", "type", "cpu", "gpu", "mem_gb", "duration", "after"):
        assert col in tables["tasks"].columns
    assert_same(arrays_from_tables(tables, b.type_names)._asdict(), b.arrays._asdict())
    np.testing.assert_array_equal(tables["tasks"]["task"].to_numpy(), b.task_names)


@pytest.mark.crosspath
def test_tables_survive_a_csv_round_trip(tmp_path):
    tables = DEFAULT.tables(1, 0)
    for name, frame in tables.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        back = pd.read_csv(tmp_path / f"{name}.csv", keep_default_na=False)
        for col in frame.columns:
            if frame[col].dtype.kind == "f":
                np.testing.assert_array_equal(back[col].to_numpy(float), frame[col].to_numpy(), err_msg=col)


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "change,message",
    [
        (dict(days=0), "days"),
        (dict(base_rate=-1.0), "base_rate"),
        (dict(base_rate=float("nan")), "base_rate"),
        (dict(n_models=0), "n_models"),
        (dict(n_models=2.5), "n_models"),
        (dict(zipf_s=-0.1), "zipf_s"),
        (dict(hourly=(1.0,) * 23), "hourly"),
        (dict(hourly=(0.0,) * 24), "hourly"),
        (dict(weekday=(1, 1, 1, 1, 1, 1, -1)), "weekday"),
        (dict(framework_mix=(0.5, 0.5, 0.5, 0.5)), "framework_mix"),
        (dict(framework_mix=(0.5, 0.5)), "framework_mix"),
        (dict(curve_A=(0.9,)), "curve_A"),
        (dict(priority_mix=(1.0,)), "priority_mix"),
        (dict(threshold_ratio=(0.99, 0.9)), "threshold_ratio"),
        (dict(robustness_beta=(0.0, 2.0)), "robustness_beta"),
        (dict(compress_loss_range=(0.1,)), "compress_loss_range"),
        (dict(size_median_gb=0.0), "size_median_gb"),
        (dict(size_sigma=-1.0), "size_sigma"),
        (dict(on_drift="yes"), "on_drift"),
        (dict(template=()), "at least one step"),
        (dict(template=(Step("a", "train"), Step("a", "deploy"))), "used twice"),
        (dict(template=(Step("a", "train", after=("b",)), Step("b", "deploy"))), "not an earlier step"),
        (dict(template=(Step("a", "train", p=0.5),)), "p = 1"),
        (dict(template=(Step("a", "train", request_by_framework=(("jax", (1, 1, 1)),)),)), "jax"),
    ],
)
def test_bad_parameters_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(DEFAULT, **change)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(p=1.5), "inclusion probability"),
        (dict(a=0.0, b=0.0), "duration would be 0"),
        (dict(sigma=-0.1), "sigma"),
        (dict(request=(1.0, 0.0)), "request"),
        (dict(request=(1.0, -1.0, 2.0)), "request"),
        (dict(factor_by_framework=(("sklearn", 0.0),)), "factor_by_framework"),
    ],
)
def test_bad_steps_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Step("s", "train", **kwargs)


def test_parameters_are_replace_friendly():
    w = dataclasses.replace(DEFAULT, hourly=[2.0] * 24, framework_mix=[0.25] * 4)
    assert w.hourly == (1.0,) * 24 and isinstance(w.framework_mix, tuple)
    assert dataclasses.replace(w) == w and hash(dataclasses.replace(w)) == hash(w)
    assert np.mean(DEFAULT.hourly) == pytest.approx(1) and np.mean(DEFAULT.weekday) == pytest.approx(1)
    assert Step("s", "train", after="a;b").after == ("a", "b")


# ---------------------------------------------------------------- load and sizing
def test_default_offered_load_sizes_the_default_cluster():
    load = DEFAULT.offered_load()
    assert 0.5 <= load.loc["gpu", "gpu"] <= 0.85
    assert load.loc["cpu", "cpu"] < 0.6
    assert (load.drop(columns="gpu").max() < 0.85).all()
    assert 500 <= DEFAULT.expected_pipelines() <= 2500


def _offered_load_matches_monte_carlo(n_reps, rel):
    arrays = many(DEFAULT, n_reps, seed=3)
    horizon = DEFAULT.days * 86400
    gpu = np.mean([np.sum(a.duration * a.gpu) for a in arrays]) / horizon
    cpu_tasks = np.mean([np.sum(a.duration * a.cpu * (a.gpu == 0)) for a in arrays]) / horizon
    pools = default_cluster().pools.set_index("pool")
    load = DEFAULT.offered_load()
    gpu_cap = pools.loc["gpu", "gpu"] * pools.loc["gpu", "count"]
    cpu_cap = pools.loc["cpu", "cpu"] * pools.loc["cpu", "count"]
    assert gpu / gpu_cap == pytest.approx(load.loc["gpu", "gpu"], rel=rel)
    assert cpu_tasks / cpu_cap == pytest.approx(load.loc["cpu", "cpu"], rel=rel)


def test_offered_load_matches_monte_carlo():
    # the GPU demand of a replication varies ~21% (which models are hot and train on GPUs)
    _offered_load_matches_monte_carlo(60, rel=0.1)


@pytest.mark.slow
def test_offered_load_matches_monte_carlo_many_replications():
    _offered_load_matches_monte_carlo(1500, rel=0.02)


def test_offered_load_scales_with_the_cluster():
    base = DEFAULT.offered_load()
    bigger = DEFAULT.offered_load(default_cluster().scaled(gpu=6))
    assert bigger.loc["gpu", "gpu"] == pytest.approx(base.loc["gpu", "gpu"] / 2)
    assert bigger.loc["cpu", "cpu"] == pytest.approx(base.loc["cpu", "cpu"])


def test_custom_task_types_follow_the_standard_ones():
    tpl = (
        Step("label", "labeling", a=30.0),
        Step("train", "train", after=("label",)),
        Step("never", "shadow_test", after=("train",), p=0.0),
        Step("deploy", "deploy", after=("never",)),
    )
    w = dataclasses.replace(DEFAULT, template=tpl)
    b = w.generate(1, 0)
    assert b.type_names == STANDARD_TYPES + ("labeling", "shadow_test")
    assert set(b.task_names) == {"label", "train", "deploy"}
    t = w.tables(1, 0)["tasks"]
    assert (t.loc[t["task"] == "deploy", "after"] == "train").all()
    assert (t.loc[t["task"] == "label", "type"] == "labeling").all()
    assert_same(arrays_from_tables(w.tables(1, 0), b.type_names)._asdict(), b.arrays._asdict())
