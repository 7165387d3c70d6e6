"""Duration distributions of fitted workloads (MODEL.md 10.1).

A :class:`DurationDist` is one of these families (``params`` in brackets):

- ``constant`` [value]
- ``lognorm`` [s, scale], ``gamma`` [a, scale], ``weibull_min`` [c, scale],
  ``expon`` [scale]: scipy.stats' families with location 0, fitted by exact
  maximum likelihood.
- ``lognorm_mix`` [w, mu, s: lists of K]: a mixture of log-normals (component k is
  ``exp(N(mu_k, s_k))`` with weight ``w_k``), fitted by EM on ``log x`` for
  K = 1 .. 4, K chosen by BIC.
- ``spliced`` [mu, s, u, phi, xi, sigma, upper]: a log-normal body ``exp(N(mu, s))``
  truncated to ``(0, u]`` with probability ``1 - phi``, and above the threshold ``u``
  (peaks over threshold) a generalized Pareto tail (shape ``xi``, scale ``sigma``)
  truncated at ``upper`` (the longest duration observed: with the heavy tails of
  real traces, ``xi`` is often above 1, where the untruncated tail has no mean).
  ``u`` is chosen among the sample's quantiles 0.5 .. 0.99 by the full likelihood
  (Scarrott and MacDonald's extreme-value mixture models); given ``u``, the body is
  maximum likelihood, the tail maximum likelihood among the tails whose mean is
  the sample's tail mean, and ``phi`` is the fraction above ``u``.
- ``empirical`` [values, counts, h]: the observed durations resampled (the
  distinct values, sorted, and how often each was seen); with ``h > 0`` each draw is
  multiplied by a mean-one log-normal factor ``exp(h Z - h^2 / 2)`` (a kernel in
  log space; the mean stays the sample's).

Selection (:func:`fit_candidates`): every candidate is fitted; one whose mean (or,
for a class whose request is drawn at the duration's rank, whose expected
``request x duration`` in some resource) is more than ``MEAN_TOL`` from the
sample's, or whose 99th percentile is more than
``P99_TOL`` from the sample's and outside that percentile's 95% distribution-free
interval, is *inadmissible*: it would not carry the trace's load. Among the
admissible parametric candidates the lowest AIC wins (or the simplest within 2 AIC
units of it); if there is none, the empirical distribution (which carries the
sample's mean exactly).

Quantiles used by the generator (:meth:`DurationDist.ppf`) are computed without
NumPy's array ``exp``/``log``/``power`` (``engine.fpmath``, scipy.special's scalar
inverse CDFs, and a compiled bisection for the mixture), so a workload's
durations are the same on every CPU. Fitting uses NumPy and SciPy freely.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .engine import fpmath
from .engine.quantiles import lognorm_mix_ppf_nb

#: A candidate whose mean differs from the sample's by more than this fraction is
#: inadmissible. The mean is the load: 10% is the error the issue allows a fitted
#: workload's work per day. It is not widened by the sample mean's own standard
#: error: in the heavy-tailed classes of real traces that error is 20-60%, and a
#: wider band would let exactly those classes lose their load.
MEAN_TOL = 0.10
#: ... or whose 99th percentile differs by more than this fraction AND lies outside
#: the sample's 99th percentile's 95% interval (order statistics, distribution-free),
#: which is wide in small classes, where the sample's p99 is little more than its maximum.
P99_TOL = 0.20
P99_LEVEL = 0.99
MIX_MAX_COMPONENTS = 4
#: the floor of a mixture component's log-sd: durations of whole seconds pile up on a
#: few values, and a component shrinking onto one of them would win the likelihood by
#: describing the clock's resolution, not the durations
MIX_MIN_SIGMA = 0.05
#: AIC units within which the simpler candidate is kept (Burnham and Anderson: models within 2
#: of the best have substantial support); else the spliced family, with five more parameters,
#: would win on log-normal data by the luck of the sample's largest values
PARSIMONY = 2.0
SPLICE_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)
SPLICE_MIN_POINTS = 20  # at least this many observations in the body and in the tail

#: the families fitted by default, in the order they are reported
CANDIDATES = ("lognorm", "gamma", "weibull_min", "expon", "lognorm_mix", "spliced", "empirical")
PARAMETRIC = {"lognorm": 2, "gamma": 2, "weibull_min": 2, "expon": 1}
_ALL = set(CANDIDATES) | {"constant"}
_SCIPY = {"lognorm": stats.lognorm, "gamma": stats.gamma, "weibull_min": stats.weibull_min, "expon": stats.expon}


def _ndtr(x):
    return special.ndtr(x)


# ----------------------------------------------------------------------------- the distribution
@dataclass(frozen=True)
class DurationDist:
    """A duration distribution: a family name and its parameters (see the module docstring)."""

    family: str
    params: dict

    # ---------------------------------------------------------------- generation (CPU-independent)
    def ppf(self, u) -> np.ndarray:
        """Quantiles at ``u`` in (0, 1), computed without NumPy's vector transcendental kernels."""
        u = np.asarray(u, dtype=np.float64)
        f, p = self.family, self.params
        if f == "constant":
            return np.full(u.shape, float(p["value"]))
        if f == "lognorm":
            return p["scale"] * fpmath.exp(p["s"] * special.ndtri(u))
        if f == "gamma":
            return p["scale"] * special.gammaincinv(p["a"], u)
        if f == "weibull_min":
            return p["scale"] * fpmath.power(-fpmath.log1p(-u), np.full(u.shape, 1.0 / p["c"]))
        if f == "expon":
            return -p["scale"] * fpmath.log1p(-u)
        if f == "lognorm_mix":
            flat = np.ascontiguousarray(u.reshape(-1))
            w, mu, s = (np.asarray(p[k], dtype=np.float64) for k in ("w", "mu", "s"))
            return lognorm_mix_ppf_nb(flat, w, mu, s).reshape(u.shape)
        if f == "spliced":
            return _spliced_ppf(u, p)
        values, cum = self._empirical()
        n = cum[-1]
        i = np.minimum(np.floor(u * n), n - 1)
        return values[np.searchsorted(cum, i, side="right")]

    def smoothing(self, u) -> np.ndarray:
        """The mean-one kernel factor ``exp(h Z - h^2/2)`` of a smoothed empirical, Z from uniforms ``u``."""
        h = float(self.params.get("h", 0.0)) if self.family == "empirical" else 0.0
        z = special.ndtri(np.clip(np.asarray(u, dtype=np.float64), 2.0 ** -53, 1.0 - 2.0 ** -53))
        return fpmath.exp(h * z - 0.5 * h * h)

    @property
    def smoothed(self) -> bool:
        return self.family == "empirical" and float(self.params.get("h", 0.0)) > 0

    # ---------------------------------------------------------------- description (estimation side)
    def _empirical(self):
        got = self.__dict__.get("_emp")
        if got is None:
            values = np.asarray(self.params["values"], dtype=np.float64)
            cum = np.cumsum(np.asarray(self.params["counts"], dtype=np.float64))
            got = (values, cum)
            object.__setattr__(self, "_emp", got)
        return got

    def cdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        f, p = self.family, self.params
        if f == "constant":
            return (x >= p["value"]).astype(np.float64)
        if f in _SCIPY:
            return _SCIPY[f](**p, loc=0.0).cdf(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.maximum(x, 0.0))
        if f == "lognorm_mix":
            return sum(w * _ndtr((lx - m) / s) for w, m, s in zip(p["w"], p["mu"], p["s"]))
        if f == "spliced":
            return _spliced_cdf(x, lx, p)
        values, cum = self._empirical()
        h = float(p.get("h", 0.0))
        if h > 0:  # the kernel mixture: each value times exp(h Z - h^2/2)
            lv = np.log(values) - 0.5 * h * h
            wts = np.diff(np.concatenate([[0.0], cum])) / cum[-1]
            return np.array([float(np.sum(wts * _ndtr((v - lv) / h))) for v in lx.reshape(-1)]).reshape(x.shape)
        return (np.concatenate([[0.0], cum]) / cum[-1])[np.searchsorted(values, x, side="right")]

    def sf(self, x) -> np.ndarray:
        """Survival function ``P(X > x)`` (for log-log plots of the tail)."""
        f, p = self.family, self.params
        if f in _SCIPY:
            return _SCIPY[f](**p, loc=0.0).sf(np.asarray(x, dtype=np.float64))
        return 1.0 - self.cdf(x)

    def mean(self) -> float:
        f, p = self.family, self.params
        if f == "constant":
            return float(p["value"])
        if f in _SCIPY:
            return float(_SCIPY[f](**p, loc=0.0).mean())
        if f == "lognorm_mix":
            return float(sum(w * math.exp(m + 0.5 * s * s) for w, m, s in zip(p["w"], p["mu"], p["s"])))
        if f == "spliced":
            return float(_spliced_lpm(np.array([np.inf]), p)[0])
        values, cum = self._empirical()
        return float(np.sum(values * np.diff(np.concatenate([[0.0], cum]))) / cum[-1])

    def quantile(self, q: float) -> float:
        return float(self.ppf(np.array([q]))[0])

    def lower_partial_mean(self, x) -> np.ndarray:
        """``E[X; X <= x]`` (for the expected work of a class whose request depends on the duration's rank)."""
        x = np.asarray(x, dtype=np.float64)
        f, p = self.family, self.params
        if f == "constant":
            return np.where(x >= p["value"], float(p["value"]), 0.0)
        if f == "spliced":
            return _spliced_lpm(x, p)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if f == "lognorm":
                mu, s = math.log(p["scale"]), p["s"]
                return math.exp(mu + 0.5 * s * s) * _ndtr((np.log(x) - mu - s * s) / s)
            if f == "lognorm_mix":
                lx = np.log(x)
                return sum(w * math.exp(m + 0.5 * s * s) * _ndtr((lx - m - s * s) / s)
                           for w, m, s in zip(p["w"], p["mu"], p["s"]))
            if f == "gamma":
                return p["a"] * p["scale"] * special.gammainc(p["a"] + 1.0, x / p["scale"])
            if f == "weibull_min":
                c, sc = p["c"], p["scale"]
                return sc * special.gamma(1.0 + 1.0 / c) * special.gammainc(1.0 + 1.0 / c, (x / sc) ** c)
            if f == "expon":
                t = x / p["scale"]
                return np.where(np.isinf(t), p["scale"], p["scale"] * (1.0 - np.exp(-t) * (1.0 + t)))
        values, cum = self._empirical()
        part = np.concatenate([[0.0], np.cumsum(values * np.diff(np.concatenate([[0.0], cum])))]) / cum[-1]
        return part[np.searchsorted(values, x, side="right")]

    def bin_means(self, edges) -> np.ndarray:
        """``integral of ppf(u) du`` over each ``[edges[j], edges[j+1]]`` (edges increasing in [0, 1]).

        Summed against the requests drawn at those ranks, this is a class's expected work.
        """
        edges = np.asarray(edges, dtype=np.float64)
        if self.family == "empirical":  # the step quantile function, integrated exactly
            values, cum = self._empirical()
            n = cum[-1]
            # integral of Q from 0 to e: Q is values[j] on [cum[j-1]/n, cum[j]/n)
            part = np.concatenate([[0.0], np.cumsum(values * np.diff(np.concatenate([[0.0], cum])))]) / n
            j = np.minimum(np.searchsorted(cum, edges * n, side="right"), len(values) - 1)
            prev = np.concatenate([[0.0], cum])[j] / n
            at = part[j] + values[j] * (edges - prev)
            return np.diff(at)
        xs = np.empty_like(edges)
        inner = (edges > 0) & (edges < 1)
        xs[inner] = self._ppf_np(edges[inner])
        xs[edges <= 0] = 0.0
        xs[edges >= 1] = np.inf
        lpm = self.lower_partial_mean(xs)
        lpm[edges >= 1] = self.mean()
        lpm[edges <= 0] = 0.0
        return np.diff(lpm)

    def _ppf_np(self, u):
        if self.family in _SCIPY:
            return _SCIPY[self.family](**self.params, loc=0.0).ppf(u)
        return self.ppf(u)

    def n_params(self) -> int:
        f, p = self.family, self.params
        if f in PARAMETRIC:
            return PARAMETRIC[f]
        if f == "lognorm_mix":
            return 3 * len(p["w"]) - 1
        if f == "spliced":
            return 7  # mu, s, u, phi, xi, sigma, and upper (the sample's maximum, the bound's maximum likelihood)
        return 0

    def loglik(self, x: np.ndarray) -> float:
        """Log-likelihood of durations ``x`` (NaN for the constant and empirical, which have no density)."""
        f, p = self.family, self.params
        with np.errstate(all="ignore"):
            if f in _SCIPY:
                return float(np.sum(_SCIPY[f].logpdf(x, **p, loc=0.0)))
            lx = np.log(x)
            if f == "lognorm_mix":
                return float(np.sum(_mix_logpdf(lx, p))) - float(np.sum(lx))
            if f == "spliced":
                return float(np.sum(_spliced_logpdf(x, lx, p)))
        return float("nan")

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        def conv(v):
            return [conv(y) for y in v] if isinstance(v, (list, tuple, np.ndarray)) else float(v)

        return {"family": self.family, "params": {k: conv(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "DurationDist":
        fam = d["family"]
        if fam not in _ALL:
            raise ValueError(f"unknown duration family {fam!r}; expected one of {sorted(_ALL)}")

        def conv(v):
            return tuple(float(y) for y in v) if isinstance(v, (list, tuple)) else float(v)

        return cls(fam, {k: conv(v) for k, v in d["params"].items()})

    def label(self) -> str:
        """Family and parameters, short, for reports."""
        p = self.params
        if self.family == "empirical":
            n = int(sum(p["counts"]))
            return f"empirical n={n}" + (f" h={p['h']:.3g}" if p.get("h", 0) else "")
        if self.family == "lognorm_mix":
            return f"lognorm_mix K={len(p['w'])}"
        if self.family == "spliced":
            return f"spliced u={p['u']:.4g} phi={p['phi']:.3g} xi={p['xi']:.3g}"
        return self.family


# ----------------------------------------------------------------------------- spliced
def _gpd_cdf(y, xi, sigma):
    y = np.maximum(y, 0.0)
    with np.errstate(all="ignore"):
        if xi == 0.0:
            return -np.expm1(-y / sigma)
        return 1.0 - np.maximum(1.0 + xi * y / sigma, 0.0) ** (-1.0 / xi)


def _gpd_lpm(y, xi, sigma):
    """``E[Y; Y <= y]`` of the untruncated generalized Pareto distribution (y finite)."""
    with np.errstate(all="ignore"):
        if xi == 0.0:
            integral = sigma * -np.expm1(-y / sigma)
        elif xi == 1.0:
            integral = sigma * np.log1p(y / sigma)
        else:
            integral = sigma / (1.0 - xi) * (1.0 - np.maximum(1.0 + xi * y / sigma, 0.0) ** (1.0 - 1.0 / xi))
    return integral - y * (1.0 - _gpd_cdf(y, xi, sigma))


def _spliced_parts(p):
    mu, s, u = p["mu"], p["s"], p["u"]
    fu = float(_ndtr((math.log(u) - mu) / s))
    gt = float(_gpd_cdf(np.array(p["upper"] - u), p["xi"], p["sigma"]))
    return mu, s, u, fu, gt


def _spliced_cdf(x, lx, p):
    mu, s, u, fu, gt = _spliced_parts(p)
    phi = p["phi"]
    body = (1.0 - phi) * _ndtr((lx - mu) / s) / fu
    tail = (1.0 - phi) + phi * _gpd_cdf(np.minimum(x, p["upper"]) - u, p["xi"], p["sigma"]) / gt
    return np.where(x <= u, body, tail)


def _spliced_lpm(x, p):
    mu, s, u, fu, gt = _spliced_parts(p)
    phi = p["phi"]
    m_body = math.exp(mu + 0.5 * s * s)
    with np.errstate(divide="ignore"):
        lx = np.log(np.minimum(x, u))
    body = (1.0 - phi) * m_body * _ndtr((lx - mu - s * s) / s) / fu
    y = np.clip(np.minimum(x, p["upper"]) - u, 0.0, None)
    tail = phi * (u * _gpd_cdf(y, p["xi"], p["sigma"]) + _gpd_lpm(y, p["xi"], p["sigma"])) / gt
    return body + np.where(x > u, tail, 0.0)


def _spliced_logpdf(x, lx, p):
    mu, s, u, fu, gt = _spliced_parts(p)
    phi = p["phi"]
    body = math.log1p(-phi) + stats.norm.logpdf(lx, mu, s) - lx - math.log(fu)
    tail = math.log(phi) + stats.genpareto.logpdf(x - u, p["xi"], scale=p["sigma"]) - math.log(gt)
    return np.where(x <= u, body, np.where(x <= p["upper"], tail, -np.inf))


def _spliced_ppf(u, p):
    """Spliced quantiles with fpmath and scipy.special's scalar ndtri (no NumPy vector kernels)."""
    mu, s, thr, fu, gt = _spliced_parts(p)
    phi, xi, sigma = p["phi"], p["xi"], p["sigma"]
    out = np.empty(u.shape)
    body = u < 1.0 - phi
    v = u[body] / (1.0 - phi) * fu
    out[body] = fpmath.exp(mu + s * special.ndtri(v))
    v = (u[~body] - (1.0 - phi)) / phi * gt
    if xi == 0.0:
        y = -sigma * fpmath.log1p(-v)
    else:
        y = sigma / xi * (fpmath.power(1.0 - v, np.full(v.shape, -xi)) - 1.0)
    out[~body] = np.minimum(thr + y, p["upper"])
    return out


def _trunc_lognorm_fit(ly: np.ndarray, lu: float):
    """Maximum likelihood (mu, s) of a normal truncated above at ``lu``, from the logs ``ly <= lu``."""
    n = len(ly)

    def nll(th):
        mu, ls = th
        s = math.exp(ls)
        c = float(special.log_ndtr((lu - mu) / s))
        return float(0.5 * np.sum(((ly - mu) / s) ** 2)) + n * ls + n * c

    m0, s0 = float(np.mean(ly)), max(float(np.std(ly)), 1e-3)
    r = optimize.minimize(nll, [m0, math.log(s0)], method="Nelder-Mead",
                          options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000})
    return float(r.x[0]), math.exp(float(r.x[1]))


def _trunc_gpd_nll(y, top, xi, sigma) -> float:
    """Negative log-likelihood of a generalized Pareto distribution truncated at ``top``."""
    if not (-0.9 <= xi <= 8.0 and sigma > 0):
        return math.inf
    z = 1.0 + xi * y / sigma
    if np.any(z <= 0):
        return math.inf
    gt = float(_gpd_cdf(np.array(top), xi, sigma))
    if not gt > 0:
        return math.inf
    n = len(y)
    ll = -n * math.log(sigma) - (float(np.sum(y)) / sigma if xi == 0.0 else (1.0 / xi + 1.0) * float(np.sum(np.log(z))))
    return -ll + n * math.log(gt)


def _trunc_gpd_mean(xi: float, sigma: float, top: float) -> float:
    """Mean of the generalized Pareto distribution truncated at ``top`` (scalar ``_gpd_lpm / _gpd_cdf``)."""
    t = top / sigma
    if xi == 0.0:
        g = -math.expm1(-t)
        integral = sigma * g
    else:
        z = 1.0 + xi * t
        if z <= 0:
            return math.nan
        lz = math.log(z)
        g = -math.expm1(-lz / xi)
        integral = sigma * math.log1p(t) if xi == 1.0 else sigma / (1.0 - xi) * -math.expm1((1.0 - 1.0 / xi) * lz)
    return (integral - top * (1.0 - g)) / g if g > 0 else math.nan


def _trunc_gpd_sigma(xi: float, top: float, mean: float) -> float:
    """The scale that gives the generalized Pareto distribution truncated at ``top`` the mean ``mean``."""
    def gap(ls):
        return _trunc_gpd_mean(xi, math.exp(ls), top) - mean

    # above ~20 x top the truncated tail is nearly uniform (mean top/2) and the formula loses digits
    lo, hi = math.log(mean) - 40.0, math.log(top) + 3.0
    g_lo, g_hi = gap(lo), gap(hi)
    if not (g_lo < 0 < g_hi):
        raise ValueError("no scale gives that mean")
    return math.exp(optimize.brentq(gap, lo, hi, xtol=1e-12))


def _trunc_gpd_fit(y: np.ndarray, top: float):
    """(xi, sigma) of a generalized Pareto tail truncated at ``top`` (the longest duration seen), from ``0 < y <= top``.

    Maximum likelihood under one constraint: the tail's mean is the sample's. A few
    durations make the mean of a heavy tail, and an unconstrained fit, weighing every
    duration alike, lets them go (on the openb trace's GPU pods it carries 60% of
    their mean); the constraint costs little likelihood and keeps the load.
    """
    mean = float(np.mean(y))

    def nll(xi):
        try:
            return _trunc_gpd_nll(y, top, xi, _trunc_gpd_sigma(xi, top, mean))
        except (ValueError, ArithmeticError):
            return math.inf

    grid = np.linspace(-0.8, 6.0, 35)
    vals = [nll(float(g)) for g in grid]
    j = int(np.argmin(vals))
    if not math.isfinite(vals[j]):
        raise ValueError("no generalized Pareto tail fits")
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    r = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    xi = float(r.x) if r.fun <= vals[j] else float(grid[j])
    return xi, _trunc_gpd_sigma(xi, top, mean)


def fit_spliced(x: np.ndarray, st: dict | None = None) -> dict:
    """Parameters of the spliced family (see the module docstring), threshold by the full likelihood.

    With the sample's statistics ``st`` (:func:`sample_stats`), the thresholds whose
    model is admissible (:func:`admissible`) come first: of two tails, the one that
    carries the load.
    """
    xs = np.sort(x)
    n = len(xs)
    top = float(xs[-1])
    best, best_ll = None, None
    tried = set()
    for level in SPLICE_LEVELS:
        u = float(np.quantile(xs, level))
        k = int(np.searchsorted(xs, u, side="right"))  # body: x <= u
        if u in tried or k < SPLICE_MIN_POINTS or n - k < SPLICE_MIN_POINTS or not u > 0 or u >= top:
            continue
        tried.add(u)
        lb = np.log(xs[:k])
        if np.ptp(lb) <= 0:
            continue
        try:
            mu, s = _trunc_lognorm_fit(lb, math.log(u))
            xi, sigma = _trunc_gpd_fit(xs[k:] - u, top - u)
        except (ValueError, ArithmeticError):
            continue
        p = {"mu": mu, "s": s, "u": u, "phi": (n - k) / n, "xi": xi, "sigma": sigma, "upper": top}
        ll = float(np.sum(_spliced_logpdf(xs, np.log(xs), p)))
        if st is not None:
            ll = (all(admissible(DurationDist("spliced", p), st)), ll)
        if (math.isfinite(ll[-1]) if st is not None else math.isfinite(ll)) and (best is None or ll > best_ll):
            best, best_ll = p, ll
    if best is None:
        raise ValueError("too few observations for a body and a tail")
    return best


# ----------------------------------------------------------------------------- mixtures
def _mix_logpdf(lx, p):
    """Log density of ``log x`` under the mixture."""
    comp = np.stack([math.log(w) - math.log(s) - _LOG_SQRT_2PI - 0.5 * ((lx - m) / s) ** 2
                     for w, m, s in zip(p["w"], p["mu"], p["s"])])
    return special.logsumexp(comp, axis=0)


_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _em(lx: np.ndarray, k: int, iterations: int = 300):
    """EM of a k-component normal mixture on ``lx`` (plain NumPy: scipy's per-call checks cost
    more than the arithmetic at these sizes)."""
    n = len(lx)
    floor = MIX_MIN_SIGMA
    mu = np.quantile(lx, (np.arange(k) + 0.5) / k)
    s = np.full(k, max(float(np.std(lx)) / k, floor))
    w = np.full(k, 1.0 / k)
    ll_old = -math.inf
    for _ in range(iterations):
        logp = (np.log(w) - np.log(s) - _LOG_SQRT_2PI)[:, None] - 0.5 * ((lx[None, :] - mu[:, None]) / s[:, None]) ** 2
        top = logp.max(axis=0)
        r = np.exp(logp - top)
        tot = r.sum(axis=0)
        ll = float(np.sum(np.log(tot) + top))
        r /= tot
        nk = r.sum(axis=1) + 1e-300
        w = nk / n
        mu = (r @ lx) / nk
        s = np.maximum(np.sqrt(np.maximum((r * (lx[None, :] - mu[:, None]) ** 2).sum(axis=1) / nk, 0.0)), floor)
        if abs(ll - ll_old) < 1e-8 * max(1.0, abs(ll)):
            break
        ll_old = ll
    keep = w > 1e-12
    order = np.argsort(mu[keep])
    return {"w": tuple(float(v) for v in (w[keep] / w[keep].sum())[order]),
            "mu": tuple(float(v) for v in mu[keep][order]), "s": tuple(float(v) for v in s[keep][order])}


def fit_lognorm_mix(x: np.ndarray, max_components: int = MIX_MAX_COMPONENTS) -> dict:
    """Mixture of log-normals by EM on ``log x``, for K = 1 .. ``max_components``, K by BIC."""
    lx = np.log(x)
    n = len(lx)
    best, best_bic = None, math.inf
    for k in range(1, max_components + 1):
        if n < 10 * k:
            break
        p = _em(lx, k)
        ll = float(np.sum(_mix_logpdf(lx, p))) - float(np.sum(lx))
        bic = (3 * len(p["w"]) - 1) * math.log(n) - 2 * ll
        if bic < best_bic:
            best, best_bic = p, bic
    if best is None:
        raise ValueError("too few observations for a mixture")
    return best


# ----------------------------------------------------------------------------- classic families
def _fit_family(name: str, x: np.ndarray, logx: np.ndarray) -> dict:
    """Maximum-likelihood parameters (location 0) of one of the classic families."""
    if name == "lognorm":
        return {"s": float(np.std(logx)), "scale": float(np.exp(np.mean(logx)))}
    if name == "expon":
        return {"scale": float(np.mean(x))}
    if name == "gamma":
        # profile likelihood: log(a) - digamma(a) = log(mean x) - mean(log x), scale = mean / a
        m = float(np.mean(x))
        rhs = math.log(m) - float(np.mean(logx))
        if not rhs > 0:
            raise ValueError("no spread")
        a = optimize.brentq(lambda la: la - special.digamma(math.exp(la)) - rhs, -30.0, 30.0)
        a = math.exp(a)
        return {"a": a, "scale": m / a}
    # Weibull: the shape c solves 1/c + mean(log x) - sum(x^c log x) / sum(x^c) = 0 (monotone in c);
    # computed on log x centred (x / geometric mean), so x^c cannot overflow for c in range
    z = logx - float(np.mean(logx))

    def score(lc):
        c = math.exp(lc)
        w = np.exp(c * (z - z.max()))
        return 1.0 / c - float(np.sum(w * z) / np.sum(w))

    c = math.exp(optimize.brentq(score, -12.0, 8.0))
    scale = math.exp(float(np.mean(logx)) + z.max() + math.log(float(np.mean(np.exp(c * (z - z.max()))))) / c)
    return {"c": c, "scale": scale}


def empirical(x: np.ndarray, smoothing=0.0) -> DurationDist:
    """The empirical distribution of ``x``; ``smoothing``: a log-space bandwidth, or ``"auto"``
    (Silverman's rule on ``log x``)."""
    values, counts = np.unique(np.asarray(x, dtype=np.float64), return_counts=True)
    if smoothing == "auto":
        lx = np.log(x)
        iqr = float(np.subtract(*np.quantile(lx, [0.75, 0.25])))
        spread = min(float(np.std(lx)), iqr / 1.349) if iqr > 0 else float(np.std(lx))
        smoothing = 0.9 * spread * len(lx) ** -0.2
    h = float(smoothing)
    if not (math.isfinite(h) and h >= 0):
        raise ValueError(f"smoothing must be 'auto' or a bandwidth >= 0, got {smoothing!r}")
    return DurationDist("empirical", {"values": tuple(float(v) for v in values),
                                      "counts": tuple(float(c) for c in counts), "h": h})


def _fit_one(name: str, x: np.ndarray, logx: np.ndarray, smoothing, st=None) -> DurationDist:
    if name in PARAMETRIC:
        return DurationDist(name, _fit_family(name, x, logx))
    if name == "lognorm_mix":
        return DurationDist(name, fit_lognorm_mix(x))
    if name == "spliced":
        return DurationDist(name, fit_spliced(x, st))
    return empirical(x, smoothing)


# ----------------------------------------------------------------------------- selection
def sample_stats(x: np.ndarray) -> dict:
    """Mean, its standard error, p99 and the p99's 95% order-statistic interval."""
    xs = np.sort(np.asarray(x, dtype=np.float64))
    n = len(xs)
    half = 1.96 * math.sqrt(n * P99_LEVEL * (1 - P99_LEVEL))
    lo = int(min(max(math.floor(n * P99_LEVEL - half), 1), n)) - 1
    hi = int(min(max(math.ceil(n * P99_LEVEL + half) + 1, 1), n)) - 1
    return {"mean": float(np.mean(xs)), "mean_se": float(np.std(xs) / math.sqrt(n)) if n > 1 else 0.0,
            "p99": float(np.quantile(xs, P99_LEVEL)), "p99_lo": float(xs[lo]), "p99_hi": float(xs[hi])}


def sample_work(x: np.ndarray, requests: np.ndarray | None) -> dict | None:
    """What a class's work check needs: its requests sorted by the durations' rank (ties in the
    sample's order, as ``rank_request`` is built) and the sample's mean ``request x duration``."""
    if requests is None:
        return None
    requests = np.asarray(requests, dtype=np.float64).reshape(len(x), -1)
    order = np.argsort(x, kind="stable")
    return {"sorted": requests[order], "work": (requests * np.asarray(x)[:, None]).mean(axis=0)}


def class_work(d: "DurationDist", sorted_requests: np.ndarray) -> np.ndarray:
    """``E[request x duration]`` when a task drawn at duration quantile u gets ``sorted_requests[floor(u n)]``."""
    n = len(sorted_requests)
    return (sorted_requests * d.bin_means(np.arange(n + 1, dtype=np.float64) / n)[:, None]).sum(axis=0)


def admissible(d: "DurationDist", st: dict) -> tuple[bool, bool]:
    """(mean ok, p99 ok) of a candidate against the sample's statistics (see MEAN_TOL, P99_TOL).

    When the class's requests vary (``st["work"]``, from :func:`sample_work`), its
    load is ``E[request x duration]``, not the mean duration: each resource's
    expected work must then also be within ``MEAN_TOL`` of the sample's.
    """
    mean, p99 = d.mean(), d.quantile(P99_LEVEL)
    mean_ok = math.isfinite(mean) and abs(mean - st["mean"]) <= MEAN_TOL * st["mean"]
    if mean_ok and st.get("work") is not None:
        want = st["work"]["work"]
        got = class_work(d, st["work"]["sorted"])
        live = want > 0
        mean_ok = bool(np.all(np.abs(got[live] - want[live]) <= MEAN_TOL * want[live]))
    p99_ok = math.isfinite(p99) and (abs(p99 - st["p99"]) <= P99_TOL * st["p99"]
                                     or st["p99_lo"] <= p99 <= st["p99_hi"])
    return mean_ok, p99_ok


CANDIDATE_COLUMNS = ("family", "label", "k", "loglik", "aic", "mean", "p99", "mean_ok", "p99_ok", "chosen")


def fit_candidates(x, families=CANDIDATES, smoothing=0.0, requests=None) -> tuple[DurationDist, pd.DataFrame]:
    """Fit every family in ``families`` to durations ``x`` and choose one (see the module docstring).

    ``requests`` (float64[n, 3], optional): the request of each duration's task, for a
    class whose request is drawn at the duration's rank (see :func:`admissible`).

    Returns the chosen distribution and one row per candidate (``CANDIDATE_COLUMNS``);
    a family that cannot be fitted (too few points, no spread) has no row. One value,
    or all values equal, gives a constant.
    """
    x = np.asarray(x, dtype=np.float64)
    for f in families:
        if f not in CANDIDATES:
            raise ValueError(f"unknown duration family {f!r}; choose among {list(CANDIDATES)}")
    if len(x) == 0:
        raise ValueError("no durations to fit")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("durations must be finite and > 0")
    if len(x) < 2 or np.ptp(x) <= 1e-12 * np.max(x):
        d = DurationDist("constant", {"value": float(np.mean(x))})
        row = dict(family="constant", label="constant", k=0, loglik=np.nan, aic=np.nan, mean=d.mean(),
                   p99=d.mean(), mean_ok=True, p99_ok=True, chosen=True)
        return d, pd.DataFrame([row], columns=list(CANDIDATE_COLUMNS))
    logx = np.log(x)
    st = sample_stats(x)
    st["work"] = sample_work(x, requests)
    rows, dists = [], []
    for name in families:
        try:
            d = _fit_one(name, x, logx, smoothing, st)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue  # no root in the bracket, too few points: the family is dropped
        if not all(math.isfinite(v) for v in _flat(d.params)):
            continue
        ll = d.loglik(x)
        k = d.n_params()
        if name != "empirical" and not math.isfinite(ll):
            continue
        mean, p99 = d.mean(), d.quantile(P99_LEVEL)
        mean_ok, p99_ok = admissible(d, st)
        rows.append(dict(family=name, label=d.label(), k=k, loglik=ll, aic=2 * k - 2 * ll if name != "empirical"
                         else np.nan, mean=mean, p99=p99, mean_ok=mean_ok, p99_ok=p99_ok, chosen=False))
        dists.append(d)
    if not rows:  # pragma: no cover - log-normal always fits data with spread
        raise ValueError("no duration family could be fitted")
    tab = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    ok = tab["mean_ok"] & tab["p99_ok"]
    parametric = tab["family"] != "empirical"
    if (ok & parametric).any():
        # the lowest AIC, or the fewest parameters among the candidates within PARSIMONY of it
        aic = tab["aic"].where(ok & parametric)
        near = aic <= aic.min() + PARSIMONY
        i = int(tab[near].sort_values("k", kind="stable").index[0])
    elif (~parametric).any():
        i = int(np.flatnonzero(~parametric)[0])
    else:  # only parametric families were asked for, and none carries the load: the best of them, flagged
        i = int(tab["aic"].idxmin())
    tab.loc[i, "chosen"] = True
    return dists[i], tab


def fit_duration(x, families=tuple(PARAMETRIC)) -> tuple[DurationDist, dict]:
    """The best of ``families`` for durations ``x`` and ``{family: AIC}`` (see :func:`fit_candidates`)."""
    best, tab = fit_candidates(x, families)
    return best, {r.family: float(r.aic) for r in tab.itertuples() if math.isfinite(r.aic)}


def _flat(params: dict):
    for v in params.values():
        if isinstance(v, (tuple, list)):
            yield from (float(y) for y in v)
        else:
            yield float(v)
