"""Queueing theory as an oracle: the engine on classic queues against exact formulas.

Method. A configuration is run for R independent replications (seed fixed,
replications 0..R-1), each of n jobs from an empty system, with the first
``warmup`` seconds cut from every summary. Each summary metric of a
replication is then one observation of a time or customer average; the R
observations are i.i.d., so a Student-t interval of their mean is a valid
confidence interval for the steady-state value (up to the bias of what is
left of the initial transient, which the warmup makes negligible: it is many
relaxation times, 1 / (mu (1 - sqrt(rho))^2), long).

Two assertions per checked value:

* the analytic value lies inside the 99.9% interval (``CHECK_CONFIDENCE``),
  wider than the usual 95% so that a correct engine fails a check about once
  in a thousand draws of the seed;
* the 95% interval is narrow (relative half width below a bound), so that the
  first assertion is not passed by an interval too wide to mean anything.

``test_wrong_formula_is_rejected`` shows that the checks have power: the same
data tested against a service rate 10% off, or against the M/M/1 formula for
deterministic service, fails.
"""
from __future__ import annotations

import functools
import math
import time

import numpy as np
import pytest

import fastpipesim as fps
from fastpipesim.queueing import QueueWorkload, erlang_c, mg1_pk, mm1, mmc
from fastpipesim.results import student_t_interval

CHECK_CONFIDENCE = 0.999
SEED = 20240611


@functools.lru_cache(maxsize=None)
def run(workload: QueueWorkload, servers: int, reps: int, warmup: float, record_tasks: bool = False):
    """Simulate a queue under fifo (cached: several tests read the same run)."""
    return fps.simulate(workload, workload.cluster(servers), replications=reps, warmup=warmup,
                        seed=SEED, record_tasks=record_tasks, progress=False)


def check_interval(values, expected: float, label: str, max_rel_half_width: float):
    """Assert ``expected`` is inside the CHECK_CONFIDENCE t-interval of ``values`` and the 95% one is narrow."""
    mean, _, n, lo, hi = student_t_interval(values, CHECK_CONFIDENCE)
    _, _, _, lo95, hi95 = student_t_interval(values, 0.95)
    assert n >= 10, f"{label}: only {n} replications"
    assert lo <= expected <= hi, (
        f"{label}: analytic {expected:.6g} outside the {CHECK_CONFIDENCE:.1%} interval "
        f"[{lo:.6g}, {hi:.6g}] (mean {mean:.6g}, n={n})")
    rel = (hi95 - lo95) / 2.0 / abs(expected)
    assert rel < max_rel_half_width, (
        f"{label}: 95% half width is {rel:.2%} of the value, above {max_rel_half_width:.0%}: "
        "run more replications or jobs")


def check_metrics(res, theory, label: str, max_rel: float):
    """Wait, response, ready-queue length and utilization of ``Results.stats()`` against ``theory``.

    The same two assertions as :func:`check_interval`, on the intervals that
    ``Results.stats`` reports.
    """
    wide, narrow = res.stats(CHECK_CONFIDENCE), res.stats(0.95)
    expected = {
        "wait_mean": theory.wq,
        "response_mean": theory.w,
        "queue_length_mean": theory.lq,
        "util_server_cpu": theory.utilization,
    }
    for metric, value in expected.items():
        row = wide.loc[metric]
        assert row["n"] >= 10, f"{label} {metric}: only {row['n']} replications"
        assert row["ci_low"] <= value <= row["ci_high"], (
            f"{label} {metric}: analytic {value:.6g} outside the {CHECK_CONFIDENCE:.1%} interval "
            f"[{row['ci_low']:.6g}, {row['ci_high']:.6g}] (mean {row['mean']:.6g}, n={row['n']})")
        rel = narrow.loc[metric, "half_width"] / abs(value)
        assert rel < max_rel, (
            f"{label} {metric}: 95% half width is {rel:.2%} of the value, above {max_rel:.0%}: "
            "run more replications or jobs")


# --------------------------------------------------------------------------- the formulas themselves
def test_formulas_agree_with_each_other_and_known_values():
    a = mm1(0.8, 1.0)
    assert a.wq == pytest.approx(4.0) and a.w == pytest.approx(5.0)
    assert a.lq == pytest.approx(3.2) and a.l == pytest.approx(4.0) and a.utilization == pytest.approx(0.8)
    for lam, mu in ((0.3, 1.0), (0.9, 2.0)):
        assert mmc(lam, mu, 1) == pytest.approx(mm1(lam, mu))
        assert mg1_pk(lam, 1.0 / mu, 1.0) == pytest.approx(mm1(lam, mu))
    # M/D/1 waits half as long as M/M/1
    assert mg1_pk(0.8, 1.0, 0.0).wq == pytest.approx(mm1(0.8, 1.0).wq / 2)
    # Erlang C: M/M/2 with one erlang offered waits with probability 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)
    # the textbook sum form, for c = 3 and a = 2.4
    c, a = 3, 2.4
    top = a ** c / math.factorial(c) / (1 - a / c)
    assert erlang_c(c, a) == pytest.approx(top / (sum(a ** k / math.factorial(k) for k in range(c)) + top))
    # Little's law inside every formula
    for lam, m in ((2.4, mmc(2.4, 1.0, 3)), (0.5, mg1_pk(0.5, 1.5, 2.0))):
        assert m.lq == pytest.approx(lam * m.wq) and m.l == pytest.approx(lam * m.w)
    # a big c does not overflow
    assert 0.0 < erlang_c(500, 490.0) < 1.0
    with pytest.raises(ValueError, match="unstable"):
        mm1(1.0, 1.0)
    with pytest.raises(ValueError, match="unstable"):
        mmc(3.0, 1.0, 3)


# --------------------------------------------------------------------------- the workload generator
@pytest.mark.crosspath
def test_generate_is_a_poisson_queue_and_deterministic():
    w = QueueWorkload(rate=2.0, service_mean=0.5, n_jobs=200_000)
    b = w.generate(1, 3)
    wa = b.arrays
    assert wa.n_pipelines == wa.n_tasks == 200_000 and len(wa.succ) == 0
    assert (np.diff(wa.submit) >= 0).all() and wa.submit[0] > 0
    gaps = np.diff(wa.submit, prepend=0.0)
    # mean 1/rate and cv 1 of the gaps; mean of the service times (6 standard errors)
    assert gaps.mean() == pytest.approx(0.5, rel=6 / math.sqrt(200_000))
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.01)
    assert wa.duration.mean() == pytest.approx(0.5, rel=6 / math.sqrt(200_000))
    assert (wa.cpu == 1.0).all() and (wa.gpu == 0).all() and (wa.mem == 0).all()
    assert b.type_names[wa.task_type[0]] == "job" and list(b.replications) == [3]
    again = w.generate(1, 3)
    for x, y in zip(wa, again.arrays):
        assert np.array_equal(x, y, equal_nan=True)
    assert not np.array_equal(w.generate(1, 4).arrays.submit[:100], wa.submit[:100])
    assert not np.array_equal(w.generate(2, 3).arrays.submit[:100], wa.submit[:100])
    # replication r is the r-th child of SeedSequence(seed).spawn (MODEL.md 8)
    child = np.random.SeedSequence(1).spawn(4)[3]
    rng = np.random.Generator(np.random.PCG64(child))
    assert np.array_equal(np.cumsum(rng.standard_exponential(200_000) / 2.0), wa.submit)


@pytest.mark.parametrize("service,cv", [("det", 0.0), ("lognormal", 0.5), ("lognormal", 2.0), ("gamma", 0.5),
                                        ("gamma", 2.0), ("exp", 1.0)])
def test_service_distributions(service, cv):
    n = 400_000
    w = QueueWorkload(rate=1.0, service_mean=3.0, service=service, cv=cv, n_jobs=n)
    d = w.generate(5, 0).arrays.duration
    assert (d > 0).all()
    assert w.scv == pytest.approx(cv ** 2)
    # sample mean within 6 standard errors; the sample cv within 6% (heavy tails
    # make its standard error larger than the mean's)
    assert d.mean() == pytest.approx(3.0, abs=6 * 3.0 * max(cv, 1e-12) / math.sqrt(n))
    if cv > 0:
        assert d.std() / d.mean() == pytest.approx(cv, rel=0.06)
    else:
        assert (d == 3.0).all()


def test_common_random_numbers_across_service_distributions():
    base = QueueWorkload(rate=0.7, n_jobs=1000)
    arrivals = base.generate(9, 2).arrays.submit
    for other in (QueueWorkload(rate=0.7, n_jobs=1000, service="det"),
                  QueueWorkload(rate=0.7, n_jobs=1000, service="gamma", cv=3.0, service_mean=2.0)):
        assert np.array_equal(other.generate(9, 2).arrays.submit, arrivals)
    # exponential service of another mean: the same variates, scaled
    d1 = base.generate(9, 2).arrays.duration
    d2 = QueueWorkload(rate=0.7, n_jobs=1000, service_mean=2.5).generate(9, 2).arrays.duration
    assert np.allclose(d2, 2.5 * d1, rtol=1e-15)


def test_horizon_mode():
    w = QueueWorkload(rate=3.0, horizon=10_000.0)
    counts = np.array([w.generate(0, r).arrays.n_pipelines for r in range(40)])
    sub = w.generate(0, 0).arrays.submit
    assert (sub >= 0).all() and (sub < 10_000.0).all() and (np.diff(sub) >= 0).all()
    # Poisson(30000) counts: mean within 6 standard errors, variance about the mean
    assert counts.mean() == pytest.approx(30_000, abs=6 * math.sqrt(30_000 / 40))
    assert 0.4 < counts.var(ddof=1) / 30_000 < 2.0
    with pytest.raises(ValueError, match="not both"):
        QueueWorkload(n_jobs=10, horizon=5.0)


def test_validation_and_cluster():
    with pytest.raises(ValueError, match="service"):
        QueueWorkload(service="weibull")
    with pytest.raises(ValueError, match="rate"):
        QueueWorkload(rate=0.0)
    with pytest.raises(ValueError, match="cv"):
        QueueWorkload(service="gamma", cv=0.0)
    with pytest.raises(ValueError, match="n_jobs"):
        QueueWorkload(n_jobs=0)
    assert QueueWorkload().n_jobs == 10_000
    cl = QueueWorkload(cpu=2.0, mem_gb=4.0).cluster(5)
    assert cl.n_nodes == 5
    assert cl.pools.loc[0, ["cpu", "gpu", "mem_gb"]].tolist() == [2.0, 0.0, 4.0]
    with pytest.raises(ValueError, match="no exact formula"):
        QueueWorkload(service="det").theory(2)
    assert QueueWorkload(rate=2.4).theory(3) == mmc(2.4, 1.0, 3)
    assert "QueueWorkload" in fps.__all__ and fps.QueueWorkload is QueueWorkload


def test_generates_a_million_jobs_fast():
    w = QueueWorkload(rate=0.9, service="lognormal", cv=1.5, n_jobs=1_000_000)
    best = np.inf
    for _ in range(3):  # best of three: the machine may be busy with something else
        t = time.perf_counter()
        b = w.generate(0, 0)
        best = min(best, time.perf_counter() - t)
    assert b.arrays.n_tasks == 1_000_000
    assert best < 1.0, f"generating 1M jobs took {best:.2f} s"


# --------------------------------------------------------------------------- the engine against the formulas
# (workload, servers, replications, warmup seconds, bound on the relative 95% half width)
MM1_CASES = {
    "rho=0.5": (QueueWorkload(rate=0.5, n_jobs=20_000), 1, 30, 200.0, 0.03),
    "rho=0.8": (QueueWorkload(rate=0.8, n_jobs=30_000), 1, 40, 1000.0, 0.04),
}


@pytest.mark.parametrize("case", list(MM1_CASES))
def test_mm1(case):
    w, c, reps, warmup, bound = MM1_CASES[case]
    res = run(w, c, reps, warmup)
    check_metrics(res, mm1(w.rate, 1.0 / w.service_mean), f"M/M/1 {case}", bound)
    assert (res.summary["submitted"] == res.summary["completed"]).all()


def test_mmc_erlang_c():
    w = QueueWorkload(rate=2.4, n_jobs=30_000)  # c = 3, rho = 0.8
    res = run(w, 3, 30, 500.0, record_tasks=True)
    theory = mmc(2.4, 1.0, 3)
    check_metrics(res, theory, "M/M/3", 0.04)
    # the probability of waiting is Erlang C itself
    t = res.tasks
    t = t[t["ready"] >= 500.0]
    p_wait = (t["start"] > t["ready"]).groupby(t["replication"]).mean().to_numpy()
    check_interval(p_wait, theory.p_wait, "M/M/3 P(wait)", 0.02)
    # first come, first served: on c identical servers, starts are in arrival order
    for _, g in res.tasks.groupby("replication"):
        assert (np.diff(g["start"].to_numpy()) >= 0).all()


def test_md1_pollaczek_khinchine():
    w = QueueWorkload(rate=0.8, service="det", n_jobs=30_000)
    res = run(w, 1, 30, 500.0)
    check_metrics(res, mg1_pk(0.8, 1.0, 0.0), "M/D/1", 0.03)


LITTLE_CASES = {
    "M/M/1 rho=0.8": (MM1_CASES["rho=0.8"][0], 1, 40, 1000.0),
    # no closed form for M/G/2, but Little's law holds for any queue
    "M/LN(cv=2)/2": (QueueWorkload(rate=1.5, service="lognormal", cv=2.0, n_jobs=40_000), 2, 30, 1000.0),
}


@pytest.mark.parametrize("case", list(LITTLE_CASES))
def test_littles_law(case):
    """Lq = lambda Wq: the time-average ready queue against the mean wait of the same replications."""
    w, c, reps, warmup = LITTLE_CASES[case]
    res = run(w, c, reps, warmup)
    s = res.summary
    lq, wq = s["queue_length_mean"].to_numpy(), s["wait_mean"].to_numpy()
    scale = float(lq.mean())
    # per replication, L - lambda W has mean 0: a paired test, much sharper than
    # comparing the two means' intervals
    diff = lq - w.rate * wq
    mean, _, _, lo, hi = student_t_interval(diff, CHECK_CONFIDENCE)
    assert lo <= 0.0 <= hi, f"{case}: Lq - lambda Wq = {mean:.4g}, interval [{lo:.4g}, {hi:.4g}]"
    _, _, _, lo95, hi95 = student_t_interval(diff, 0.95)
    assert (hi95 - lo95) / 2 < 0.02 * scale
    # On each sample path, with every job served (no horizon), the queue area over
    # [warmup, end] is the sum of the waits of the jobs submitted in it plus what
    # the jobs already queued at the warmup still wait after it: never less, and
    # more by an O(1/n) share.
    span = s["end_time"].to_numpy() - warmup
    area, waits = lq * span, s["submitted"].to_numpy() * wq
    assert (area >= waits * (1 - 1e-12)).all()
    assert (area <= waits * 1.02).all()


def test_wrong_formula_is_rejected():
    """The checks have power: the same data fail against a formula that is off."""
    w, c, reps, warmup, bound = MM1_CASES["rho=0.5"]
    res = run(w, c, reps, warmup)
    check_metrics(res, mm1(0.5, 1.0), "M/M/1", bound)  # the right one passes ...
    for mu in (1.1, 0.9):  # ... a service rate 10% off does not
        with pytest.raises(AssertionError, match="outside"):
            check_metrics(res, mm1(0.5, mu), f"M/M/1 mu={mu}", bound)
    # nor does M/M/1 for deterministic service (its wait is twice M/D/1's)
    res_d = run(QueueWorkload(rate=0.8, service="det", n_jobs=30_000), 1, 30, 500.0)
    with pytest.raises(AssertionError, match="outside"):
        check_metrics(res_d, mm1(0.8, 1.0), "M/D/1 as M/M/1", 0.03)
    # and an interval that is too wide is refused, not passed
    few = run(QueueWorkload(rate=0.8, n_jobs=500), 1, 10, 50.0)
    with pytest.raises(AssertionError, match="half width"):
        check_metrics(few, mm1(0.8, 1.0), "M/M/1 short", 0.04)


# --------------------------------------------------------------------------- bigger, more precise
SLOW_CASES = {
    "M/M/1 rho=0.9": (QueueWorkload(rate=0.9, n_jobs=400_000), 1, 40, 5000.0, None),
    "M/M/8 rho=0.9": (QueueWorkload(rate=7.2, n_jobs=1_000_000), 8, 40, 2000.0, None),
    "M/M/3 rho=0.8": (QueueWorkload(rate=2.4, n_jobs=600_000), 3, 40, 2000.0, None),
    "M/D/1 rho=0.9": (QueueWorkload(rate=0.9, service="det", n_jobs=400_000), 1, 40, 5000.0, None),
    "M/G/1 gamma cv=2 rho=0.7": (QueueWorkload(rate=0.7, service="gamma", cv=2.0, n_jobs=400_000), 1, 40,
                                 5000.0, None),
    "M/G/1 lognormal cv=0.5 rho=0.85": (QueueWorkload(rate=0.85, service="lognormal", cv=0.5, n_jobs=400_000),
                                        1, 40, 5000.0, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SLOW_CASES))
def test_queues_precisely(case):
    w, c, reps, warmup, _ = SLOW_CASES[case]
    res = fps.simulate(w, w.cluster(c), replications=reps, warmup=warmup, seed=SEED + 1, progress=False)
    check_metrics(res, w.theory(c), case, 0.015)
    s = res.summary
    diff = s["queue_length_mean"].to_numpy() - w.rate * s["wait_mean"].to_numpy()
    _, _, _, lo, hi = student_t_interval(diff, CHECK_CONFIDENCE)
    assert lo <= 0.0 <= hi
