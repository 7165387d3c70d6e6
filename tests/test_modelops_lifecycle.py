"""The synthetic workload's ML model lifecycle (MODEL.md 7): model tables, rule overrides, gates, triggered pipelines."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from fastpipesim.modelops import TRIGGER_STREAM_TAG, ModelOpsWorkload, Step, replication_rng, trigger_rng
from fastpipesim.workload import Batch, ModelTable, concat_batches

DEFAULT = ModelOpsWorkload()
M = DEFAULT.n_models
S = len(DEFAULT.template)
TABLE_COLUMNS = ("model_id", "accuracy", "robustness", "fairness", "deployed_at", "drift_per_day", "threshold",
                 "on_drift", "period", "phase")


def pipeline(b: Batch, p: int) -> dict:
    """Pipeline p of a one-replication batch, with task indices local to the pipeline."""
    a = b.arrays
    t0, t1 = a.task_ptr[p], a.task_ptr[p + 1]
    edges = sorted((i - t0, int(a.succ[j]) - t0) for i in range(t0, t1) for j in range(a.succ_ptr[i], a.succ_ptr[i + 1]))
    return {
        "model": int(a.model[p]),
        "priority": int(a.priority[p]),
        "cand": (a.cand_accuracy[p], a.cand_robustness[p], a.cand_fairness[p], a.compress_loss[p]),
        "duration": a.duration[t0:t1].tolist(),
        "type": a.task_type[t0:t1].tolist(),
        "names": b.task_names[t0:t1].tolist(),
        "request": np.stack([a.cpu[t0:t1], a.gpu[t0:t1], a.mem[t0:t1]]).tolist(),
        "shape": b.shapes.task_shape[t0:t1].tolist(),
        "edges": edges,
    }


def index(counts, m, k) -> int:
    """Position of model m's k-th triggered pipeline in triggered(..., counts)."""
    return int(np.sum(counts[:m]) + k)


# ------------------------------------------------------------------ model table and rules
@pytest.mark.parametrize("w", [DEFAULT, ModelOpsWorkload(n_models=9, period_days=2.0, on_drift=True)])
def test_model_table_is_the_models_table(w):
    for seed, rep in [(0, 0), (3, 5)]:
        mt = w.model_table(seed, rep)
        assert isinstance(mt, ModelTable)
        df = w.tables(seed, rep)["models"]
        assert mt._fields == TABLE_COLUMNS
        for col in TABLE_COLUMNS:
            np.testing.assert_array_equal(getattr(mt, col), df[col].to_numpy(), err_msg=col)
        assert np.all(np.diff(mt.model_id) == 1) and mt.model_id[0] == 0 and mt.n_models == w.n_models
        assert mt.on_drift.dtype == bool
        assert mt.has_rules == (w.on_drift or w.period_days > 0)


def test_model_table_comes_from_the_replication_stream():
    # the models are the first draws: their framework is draw 1, their phase uniform draw 10
    w = ModelOpsWorkload(period_days=1.0)
    rng = replication_rng(4, 2)
    fw_u = rng.random(M)
    mt = w.model_table(4, 2)
    df = w.tables(4, 2)["models"]
    np.testing.assert_array_equal(
        df["framework"].to_numpy(),
        np.asarray(w.frameworks, dtype=object)[np.searchsorted(np.cumsum(w.framework_mix) / 1.0, fw_u, side="right")],
    )
    assert not np.array_equal(mt.accuracy, w.model_table(4, 3).accuracy)
    assert not np.array_equal(mt.accuracy, w.model_table(5, 2).accuracy)


def test_rule_overrides_show_up_and_move_no_draw():
    base = ModelOpsWorkload(period_days=2.0)
    w = dataclasses.replace(base, model_rules={0: {"on_drift": True}, 5: {"period_days": 7.0},
                                               7: {"period_days": 3.0, "phase_days": 0.5},
                                               9: {"period_days": 0.0}})
    assert w.model_rules == ((0, True, None, None), (5, None, 7.0, None), (7, None, 3.0, 0.5), (9, None, 0.0, None))
    a, b = base.model_table(1, 2), w.model_table(1, 2)
    df = w.tables(1, 2)["models"]
    for col in ("on_drift", "period", "phase"):
        np.testing.assert_array_equal(getattr(b, col), df[col].to_numpy(), err_msg=col)
    assert b.on_drift[0] and not b.on_drift[1:].any() and not a.on_drift.any()
    day = 86400.0
    assert b.period[5] == 7 * day and b.period[7] == 3 * day and b.period[9] == 0.0
    other = np.setdiff1d(np.arange(M), [5, 7, 9])
    np.testing.assert_array_equal(b.period[other], 2 * day)
    # phase: the same uniform scaled to the new period; an explicit phase is taken as is
    assert b.phase[5] == pytest.approx(a.phase[5] * 7.0 / 2.0, rel=1e-12)
    assert b.phase[7] == 0.5 * day
    assert b.phase[9] == 0.0
    np.testing.assert_array_equal(b.phase[other], a.phase[other])
    for col in ("accuracy", "robustness", "fairness", "deployed_at", "drift_per_day", "threshold"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col), err_msg=col)
    # the exogenous workload does not move either
    for x, y in zip(base.generate(1, 2).arrays, w.generate(1, 2).arrays):
        np.testing.assert_array_equal(x, y)


def test_rule_overrides_are_replace_friendly_and_hashable():
    w = ModelOpsWorkload(model_rules={5: {"period_days": 7}, 0: {"on_drift": True}})
    assert w.model_rules == ((0, True, None, None), (5, None, 7.0, None))
    assert dataclasses.replace(w, days=2.0).model_rules == w.model_rules
    assert w == ModelOpsWorkload(model_rules={0: {"on_drift": True}, 5: {"period_days": 7.0}})
    assert hash(w) == hash(ModelOpsWorkload(model_rules={0: {"on_drift": True}, 5: {"period_days": 7.0}}))
    assert w != DEFAULT
    assert ModelOpsWorkload(model_rules={}).model_rules == ()


@pytest.mark.parametrize("rules,message", [
    ({100: {"on_drift": True}}, "model id 100"),
    ({-1: {"on_drift": True}}, "model id -1"),
    ({"3": {"on_drift": True}}, "model id '3'"),
    ({1.0: {"on_drift": True}}, "model id 1.0"),
    ({0: {"ondrift": True}}, "unknown key"),
    ({0: {"period": 7.0}}, "unknown key"),
    ({0: {"on_drift": 1}}, "on_drift must be True or False"),
    ({0: {"period_days": -1.0}}, "period_days must be a finite number >= 0"),
    ({0: {"period_days": math.inf}}, "period_days must be a finite number >= 0"),
    ({0: {"phase_days": 1.0}}, "phase_days is given but the model has no periodic rule"),
    ({0: {"period_days": 1.0, "phase_days": -2.0}}, "phase_days must be a finite number >= 0"),
    ({0: True}, "must be a mapping"),
    ("0: on_drift", "model_rules must be a mapping"),
    (((0, True, None),), "model_rules must be a mapping"),
    (((0, True, None, None), (0, None, 1.0, None)), "appears twice"),
])
def test_bad_rule_overrides_are_rejected(rules, message):
    with pytest.raises(ValueError, match="model_rules") as err:
        ModelOpsWorkload(model_rules=rules)
    assert message in str(err.value)


def test_rule_overrides_are_checked_against_n_models():
    w = ModelOpsWorkload(model_rules={50: {"on_drift": True}})
    with pytest.raises(ValueError, match=r"model id 50 .*0 \.\. 9"):
        dataclasses.replace(w, n_models=10)


# ------------------------------------------------------------------ gates
def test_gate_defaults_reject_a_few_percent():
    rng = np.random.default_rng(0)
    n = 400_000
    fw = np.searchsorted(np.cumsum(DEFAULT.framework_mix), rng.random(n), side="right").clip(0, 3)
    size = DEFAULT.size_median_gb * np.exp(DEFAULT.size_sigma * rng.standard_normal(n)) * np.exp(
        DEFAULT.size_factor_sigma * rng.standard_normal(n) - 0.5 * DEFAULT.size_factor_sigma ** 2)
    curve = np.array(DEFAULT.curve_A)[fw] - np.array(DEFAULT.curve_B)[fw] * size ** -np.array(DEFAULT.curve_c)[fw]
    acc = np.clip(curve + DEFAULT.accuracy_noise_sd * rng.standard_normal(n), 0, 1)
    p_acc = np.mean(acc < DEFAULT.accuracy_gate)
    p_rob = stats.beta(*DEFAULT.robustness_beta).cdf(DEFAULT.robustness_gate)
    p_fair = stats.beta(*DEFAULT.fairness_beta).cdf(DEFAULT.fairness_gate)
    # the rates written next to the defaults
    assert p_acc == pytest.approx(0.010, abs=0.001)
    assert p_rob == pytest.approx(0.020, abs=0.0005)
    assert p_fair == pytest.approx(0.031, abs=0.0005)
    assert 0.03 < 1 - (1 - p_acc) * (1 - p_rob) * (1 - p_fair) < 0.08


def test_gate_rates_in_generated_pipelines():
    a = DEFAULT.batch(11, range(6)).arrays
    assert np.mean(a.cand_accuracy < DEFAULT.accuracy_gate) == pytest.approx(0.010, abs=0.006)
    assert np.mean(a.cand_robustness < DEFAULT.robustness_gate) == pytest.approx(0.020, abs=0.006)
    assert np.mean(a.cand_fairness < DEFAULT.fairness_gate) == pytest.approx(0.031, abs=0.008)


@pytest.mark.parametrize("name", ["accuracy_gate", "fairness_gate", "robustness_gate"])
@pytest.mark.parametrize("value", [-0.1, 1.1, math.nan, "0.5"])
def test_bad_gates_are_rejected(name, value):
    with pytest.raises(ValueError, match=name):
        ModelOpsWorkload(**{name: value})


def test_gates_at_the_ends_are_accepted():
    w = ModelOpsWorkload(accuracy_gate=0.0, fairness_gate=1.0, robustness_gate=0)
    assert (w.accuracy_gate, w.fairness_gate, w.robustness_gate) == (0.0, 1.0, 0)


# ------------------------------------------------------------------ triggered pipelines
def test_triggered_batch_layout():
    counts = np.zeros(M, dtype=np.int64)
    counts[[0, 3, 99]] = [2, 1, 3]
    b = DEFAULT.triggered(7, 1, counts)
    a = b.arrays
    assert isinstance(b, Batch) and b.n_replications == 1
    assert list(b.replications) == [1]
    assert b.type_names == DEFAULT.type_names
    assert a.n_pipelines == 6
    assert list(a.model) == [0, 0, 3, 99, 99, 99]
    np.testing.assert_array_equal(a.pipeline_id, -1)
    np.testing.assert_array_equal(a.submit, 0.0)
    models = DEFAULT.tables(7, 1)["models"]
    np.testing.assert_array_equal(a.priority, models["priority"].to_numpy()[a.model])
    for arr in (a.cand_accuracy, a.cand_robustness, a.cand_fairness, a.compress_loss):
        assert np.all(np.isfinite(arr))
    np.testing.assert_array_equal(b.shapes.shape_req[b.shapes.task_shape], np.stack([a.cpu, a.gpu, a.mem], 1))
    assert np.all(a.duration > 0)
    # every pipeline is a DAG of the template: deploy last, preprocess first
    for p in range(a.n_pipelines):
        names = pipeline(b, p)["names"]
        assert names[0] == "preprocess" and names[-1] == "deploy"
    # a GPU framework trains on a GPU
    fw = models["framework"].to_numpy()[a.model]
    train = b.task_names == "train"
    np.testing.assert_array_equal(a.gpu[train] > 0, np.isin(fw, ["tensorflow", "pytorch"]))


def test_triggered_with_no_counts_is_empty():
    b = DEFAULT.triggered(7, 1, np.zeros(M, dtype=np.int64))
    assert b.arrays.n_pipelines == 0 and b.arrays.n_tasks == 0 and b.n_replications == 1


@pytest.mark.parametrize("counts", [np.ones(M - 1, dtype=np.int64), np.full(M, -1), np.full(M, 1.5),
                                    np.ones((M, 1), dtype=np.int64)])
def test_triggered_rejects_bad_counts(counts):
    with pytest.raises(ValueError, match="counts"):
        DEFAULT.triggered(0, 0, counts)


def test_triggered_pipelines_use_common_random_numbers():
    rng = np.random.default_rng(3)
    small = rng.integers(0, 3, M)
    small[[0, 17]] = [2, 1]
    large = small + rng.integers(0, 6, M)
    large[[0, 17]] += [5, 0]
    seed, rep = 8, 2
    a = DEFAULT.triggered(seed, rep, small)
    b = DEFAULT.triggered(seed, rep, large)
    assert a.arrays.n_pipelines == small.sum() and b.arrays.n_pipelines == large.sum()
    for m in range(M):
        for k in range(small[m]):
            pa, pb = pipeline(a, index(small, m, k)), pipeline(b, index(large, m, k))
            assert pa == pb, (m, k)
            assert pa["model"] == m
    # and alone
    one = np.zeros(M, dtype=np.int64)
    one[17] = 1
    assert pipeline(DEFAULT.triggered(seed, rep, one), 0) == pipeline(b, index(large, 17, 0))
    # ... and whatever the replication's exogenous draws are: a change that moves every
    # pipeline draw (the rate) leaves the models and their triggered pipelines alone
    busier = dataclasses.replace(DEFAULT, base_rate=20.0)
    assert pipeline(busier.triggered(seed, rep, one), 0) == pipeline(b, index(large, 17, 0))


def test_triggered_pipelines_differ_by_k_model_replication_and_seed():
    counts = np.full(M, 2)
    ref = DEFAULT.triggered(8, 2, counts)
    p00 = pipeline(ref, index(counts, 0, 0))
    assert pipeline(ref, index(counts, 0, 1))["cand"] != p00["cand"]
    assert pipeline(ref, index(counts, 1, 0))["cand"] != p00["cand"]
    assert pipeline(DEFAULT.triggered(8, 3, counts), 0)["cand"] != p00["cand"]
    assert pipeline(DEFAULT.triggered(9, 2, counts), 0)["cand"] != p00["cand"]
    # all candidates of a batch are distinct
    assert len(np.unique(ref.arrays.cand_robustness)) == ref.arrays.n_pipelines
    # the streams are not the replication stream
    u = trigger_rng(8, 2, 0).random(2 * S + 5)
    assert not np.array_equal(u, replication_rng(8, 2).random(2 * S + 5))
    assert p00["cand"][1] == pytest.approx(stats.beta(*DEFAULT.robustness_beta).ppf(u[2 * S + 2]), rel=1e-10)
    assert p00["cand"][3] == pytest.approx(DEFAULT.compress_loss_range[1] * u[2 * S + 4], rel=1e-12)


def test_trigger_stream_key():
    assert 2 ** 31 < TRIGGER_STREAM_TAG < 2 ** 32  # one spawn-key word, beyond any child index in practice
    seq = np.random.SeedSequence(5, spawn_key=(3, TRIGGER_STREAM_TAG, 4))
    np.testing.assert_array_equal(trigger_rng(5, 3, 4).random(4),
                                  np.random.Generator(np.random.PCG64(seq)).random(4))


def test_triggered_models_attributes_follow_rule_overrides_not():
    # rules change when pipelines are triggered, never what they are
    counts = np.full(M, 1)
    w = ModelOpsWorkload(model_rules={0: {"on_drift": True}, 1: {"period_days": 3.0}})
    for x, y in zip(DEFAULT.triggered(1, 0, counts).arrays, w.triggered(1, 0, counts).arrays):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ distributions
def _hot_model(w, seed, rep):
    """A model of the given framework class for the distribution tests: the first tensorflow model."""
    models = w.tables(seed, rep)["models"]
    return int(np.flatnonzero(models["framework"].to_numpy() == "tensorflow")[0]), models


@pytest.mark.parametrize("seed,rep", [(2, 0), (5, 1)])
def test_triggered_candidates_are_distributed_like_exogenous_ones(seed, rep):
    w = DEFAULT
    m, models = _hot_model(w, seed, rep)
    n = 4000
    counts = np.zeros(M, dtype=np.int64)
    counts[m] = n
    a = w.triggered(seed, rep, counts).arrays
    assert np.all(a.model == m)
    # Beta means 0.8 and 0.9, and the distributions themselves
    for got, (al, be) in [(a.cand_robustness, w.robustness_beta), (a.cand_fairness, w.fairness_beta)]:
        mean, var = al / (al + be), al * be / ((al + be) ** 2 * (al + be + 1))
        assert abs(got.mean() - mean) < 4 * math.sqrt(var / n)
        assert stats.kstest(got, stats.beta(al, be).cdf).pvalue > 1e-3
    lo, hi = w.compress_loss_range
    assert abs(a.compress_loss.mean() - (lo + hi) / 2) < 4 * (hi - lo) / math.sqrt(12 * n)
    assert a.compress_loss.min() >= lo and a.compress_loss.max() < hi
    # accuracy: the learning curve at the pipeline's size plus the noise, so against
    # the curve the residual is N(0, sd); the sizes are the base times a mean-one log-normal
    fw = 2
    base = models["base_dataset_size_gb"].to_numpy()[m]
    train = a.task_ptr[:-1] + 1  # preprocess, then train: both always included
    # the curve's mean and spread over the size factor, by Monte Carlo
    sf = w.size_factor_sigma
    z = np.random.default_rng(0).standard_normal(400_000)
    size_mc = base * np.exp(sf * z - 0.5 * sf * sf)
    curve_mean = np.mean(w.curve_A[fw] - w.curve_B[fw] * size_mc ** -w.curve_c[fw])
    curve_sd = np.std(w.curve_A[fw] - w.curve_B[fw] * size_mc ** -w.curve_c[fw])
    sd = math.sqrt(curve_sd ** 2 + w.accuracy_noise_sd ** 2)
    assert abs(a.cand_accuracy.mean() - curve_mean) < 4 * sd / math.sqrt(n)
    assert abs(a.cand_accuracy.std() - sd) < 0.1 * sd
    assert np.all(a.gpu[train] == 1.0)


@pytest.mark.parametrize("seed,rep", [(2, 0)])
def test_triggered_durations_are_distributed_like_exogenous_ones(seed, rep):
    w = DEFAULT
    m, models = _hot_model(w, seed, rep)
    base = models["base_dataset_size_gb"].to_numpy()[m]
    n = 4000
    counts = np.zeros(M, dtype=np.int64)
    counts[m] = n
    b = w.triggered(seed, rep, counts)
    a = b.arrays
    sf = w.size_factor_sigma
    # E[size ** e] for size = base x mean-one log-normal(sf): base**e exp(e (e - 1) sf**2 / 2)
    for j, st in enumerate(w.template):
        hit = b.task_names == st.name
        if st.p < 1:
            assert abs(hit.sum() / n - st.p) < 4 * math.sqrt(st.p * (1 - st.p) / n)
        factor = dict(st.factor_by_framework).get("tensorflow", 1.0)
        e_size = base ** st.e * math.exp(st.e * (st.e - 1) * sf * sf / 2)
        expected = (st.a + st.b * e_size) * factor  # the duration factor has mean one
        d = a.duration[hit]
        assert abs(d.mean() - expected) < 5 * d.std() / math.sqrt(len(d)), st.name
    # and like the exogenous pipelines of the same model (pooled over the replication)
    gen = w.generate(seed, rep)
    ex = gen.arrays.model[gen.arrays.task_pipeline] == m
    if ex.sum() > 200:
        for name in ("train", "preprocess"):
            x = gen.arrays.duration[ex & (gen.task_names == name)]
            y = a.duration[b.task_names == name]
            assert stats.ks_2samp(x, y).pvalue > 1e-3, name


def test_triggered_sizes_are_mean_one_lognormal_around_the_base():
    # with a template whose only step's duration is its size (a = 0, e = 1, sigma = 0),
    # durations reveal the sizes
    w = dataclasses.replace(DEFAULT, template=(Step("job", "train", a=0.0, b=1.0, e=1.0, sigma=0.0),))
    models = w.tables(1, 0)["models"]
    counts = np.zeros(M, dtype=np.int64)
    counts[[0, 4]] = 4000
    a = w.triggered(1, 0, counts).arrays
    for m in (0, 4):
        size = a.duration[a.model == m]
        base = models["base_dataset_size_gb"].to_numpy()[m]
        z = (np.log(size / base) + 0.5 * w.size_factor_sigma ** 2) / w.size_factor_sigma
        assert stats.kstest(z, "norm").pvalue > 1e-3


# ------------------------------------------------------------------ generate attaches the lifecycle
def test_generate_attaches_models_and_triggered():
    w = ModelOpsWorkload(days=1.0, period_days=2.0)
    g = w.generate(3, 4)
    assert len(g.models) == 1 and len(g.triggered) == 1
    mt = g.models[0]
    for x, y in zip(mt, w.model_table(3, 4)):
        np.testing.assert_array_equal(x, y)
    counts = np.arange(M) % 3
    for x, y in zip(g.triggered[0](counts).arrays, w.triggered(3, 4, counts).arrays):
        np.testing.assert_array_equal(x, y)


def test_batch_and_replace_keep_the_lifecycle_per_replication():
    w = ModelOpsWorkload(days=0.5)
    bb = w.batch(3, [2, 0, 5])
    assert len(bb.models) == 3 and len(bb.triggered) == 3
    counts = np.ones(M, dtype=np.int64)
    for k, r in enumerate([2, 0, 5]):
        np.testing.assert_array_equal(bb.models[k].accuracy, w.model_table(3, r).accuracy)
        np.testing.assert_array_equal(bb.triggered[k](counts).arrays.cand_accuracy,
                                      w.triggered(3, r, counts).arrays.cand_accuracy)
    again = concat_batches([w.generate(3, 2), w.generate(3, 0)])
    np.testing.assert_array_equal(again.models[1].threshold, bb.models[1].threshold)
    rb = dataclasses.replace(bb, shapes=None)
    assert rb.models is bb.models and rb.triggered is bb.triggered


def test_triggered_matches_its_generate_replication_only():
    # the triggered pipelines' models are the replication's: priorities follow the models table
    counts = np.ones(M, dtype=np.int64)
    for r in (0, 1):
        a = DEFAULT.triggered(6, r, counts).arrays
        np.testing.assert_array_equal(a.priority, DEFAULT.tables(6, r)["models"]["priority"].to_numpy())


# ------------------------------------------------------------------ the simulator's reserve (for_run)
def test_gate_stand_ins_judge_as_the_values():
    # the stand-ins are below a gate exactly when SciPy's quantile of the same uniform is, for the
    # default Betas and gates around them; near u* = betainc(a, b, gate) they are the values themselves
    from scipy.special import betainc, betaincinv

    from fastpipesim.modelops import STAND_IN_ABOVE, STAND_IN_BELOW, _gate_stand_ins

    rng = np.random.default_rng(5)
    for beta in (DEFAULT.robustness_beta, DEFAULT.fairness_beta, (0.7, 3.0), (40.0, 1.5)):
        for gate in (0.0, 1e-6, 0.3, DEFAULT.robustness_gate, DEFAULT.fairness_gate, 0.9, 0.999, 1.0):
            u_star = betainc(beta[0], beta[1], gate)
            near = u_star * (1.0 + np.linspace(-3e-3, 3e-3, 2001))
            u = np.concatenate([rng.random(200_000), near[(near >= 0) & (near < 1)], [0.0, 1.0 - 2.0 ** -53]])
            got = _gate_stand_ins(beta, gate, u)
            value = betaincinv(beta[0], beta[1], u)
            np.testing.assert_array_equal(got < gate, value < gate)
            own = (got != STAND_IN_BELOW) & (got != STAND_IN_ABOVE)
            np.testing.assert_array_equal(got[own], value[own])
            if gate > 0:
                assert own.sum() >= 1  # the band is not empty: it holds the grid's points next to u*


def test_for_run_is_the_reserve_with_stand_ins_and_exact_values():
    w = ModelOpsWorkload(days=1.0, on_drift=True)
    g = w.generate(3, 1)
    counts = (np.arange(M) % 4).astype(np.int64)
    full = g.triggered[0](counts)
    gates = np.array([w.accuracy_gate, w.fairness_gate, w.robustness_gate])
    reserve, exact = g.triggered[0].for_run(counts, gates)
    for name, x, y in zip(full.arrays._fields, full.arrays, reserve.arrays):
        if name not in ("cand_robustness", "cand_fairness"):
            np.testing.assert_array_equal(x, y, err_msg=name)
    for gate, x, y in ((gates[2], full.arrays.cand_robustness, reserve.arrays.cand_robustness),
                       (gates[1], full.arrays.cand_fairness, reserve.arrays.cand_fairness)):
        np.testing.assert_array_equal(x < gate, y < gate)
    index = np.array([5, 0, len(full.arrays.submit) - 1, 5])
    rob, fair = exact(index)
    np.testing.assert_array_equal(rob, full.arrays.cand_robustness[index])
    np.testing.assert_array_equal(fair, full.arrays.cand_fairness[index])


def test_rules_run_records_the_copies_values():
    # the pipelines table of a run with on_drift holds each copy's own candidates, not stand-ins
    import fastpipesim as fps

    w = ModelOpsWorkload(days=2.0, on_drift=True)
    res = fps.simulate(w, fps.default_cluster(), replications=1, seed=4, record_tasks=True, progress=False)
    p = res.pipelines
    copies = p[p["triggered_by"].astype(str) != "exogenous"]
    assert len(copies) > 0
    counts = np.zeros(M, dtype=np.int64)
    for m, n in copies["model_id"].value_counts().items():
        counts[int(m)] = n
    full = w.triggered(4, 0, counts).arrays
    # the k-th copy of model m, in submission order, is row k of the model's block
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seen = np.zeros(M, dtype=np.int64)
    for m, rob, fair in zip(copies["model_id"], copies["candidate_robustness"], copies["candidate_fairness"]):
        r = start[int(m)] + seen[int(m)]
        seen[int(m)] += 1
        assert rob == full.cand_robustness[r] and fair == full.cand_fairness[r]


def test_replication_batch_slices_as_select_pipelines_gathers():
    from fastpipesim.lifecycle import _slice_replication, select_pipelines

    b = ModelOpsWorkload(days=0.5, on_drift=True).batch(2, [3, 0, 1])
    for k in range(3):
        wa = b.arrays
        p0, p1 = int(wa.rep_pipeline_ptr[k]), int(wa.rep_pipeline_ptr[k + 1])
        ref = select_pipelines(b, np.arange(p0, p1), int(b.replications[k]))
        got = _slice_replication(b, k)
        for name, x, y in zip(ref.arrays._fields, ref.arrays, got.arrays):
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)
        np.testing.assert_array_equal(ref.task_names, got.task_names)
        np.testing.assert_array_equal(ref.shapes.task_shape, got.shapes.task_shape)
    # edges out of successor order within a task: not sliced (select_pipelines sorts them)
    wa = b.arrays
    t = int(np.flatnonzero(np.diff(wa.succ_ptr) >= 2)[0])
    e = int(wa.succ_ptr[t])
    succ = wa.succ.copy()
    succ[e], succ[e + 1] = succ[e + 1], succ[e]
    k = int(np.searchsorted(wa.rep_task_ptr, t, side="right")) - 1
    assert _slice_replication(dataclasses.replace(b, arrays=wa._replace(succ=succ)), k) is None
