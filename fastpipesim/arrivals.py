"""Arrival models of fitted workloads (MODEL.md 10.2): fitting, goodness of fit and what generation needs.

Time is cut into hour bins from the window's start (a whole hour); the last bin may
be partial. Three models:

- ``weekly``: a non-homogeneous Poisson process with rate
  ``base * hourly[hour of day] * weekday[day of week]`` (MODEL.md 8's profile).
- ``daily``: rate ``base * hourly[hour of day] * daily[calendar day of the window]``:
  one level per day of the trace, so that a trace whose rate drifts over its span
  (or that is empty for weeks) is followed. Both are fitted by maximum likelihood
  (Poisson counts per hour bin, iterative proportional fitting), profiles of mean 1.
- ``days``: whole 24-hour blocks of the trace resampled: block g of the generated
  window copies the arrival times (offsets in the block) of a block of the trace
  with the same weekday within ``window`` weeks of g, so that the drift, the weekly
  cycle and the bursts inside a day (which a Poisson process smooths away) are kept.

Goodness of fit by time rescaling: under the model, the expected cumulative count
at each arrival, over the total, is uniform on [0, 1]; the KS statistic of those
values is reported for every model. ``auto`` picks ``daily`` over ``weekly`` when its
AIC is lower by more than 2 (with a week or less of data the two are the same model).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
MODELS = ("weekly", "daily", "days")
DAYS_WINDOW = 2  # weeks either side of a day whose same weekdays it may copy


def start_hour(start: float) -> int:
    h = float(start) / SECONDS_PER_HOUR
    if not (math.isfinite(h) and h >= 0 and abs(h - round(h)) < 1e-9):
        raise ValueError(f"start must be a whole number of hours (in seconds, >= 0), got {start!r}")
    return int(round(h))


def hour_bins(days: float, first_hour: int = 0):
    """Hour bins of ``[start, start + days)``: hour of day, day of week, calendar day of the window
    (0 = the day holding ``start``) and length in hours of each."""
    hours = days * 24.0
    n = int(math.ceil(hours - 1e-9))
    k = np.arange(n)
    g = k + int(first_hour)  # hours since time 0 (a Monday 00:00)
    return g % 24, (g // 24) % 7, g // 24 - int(first_hour) // 24, np.minimum(hours - k, 1.0)


def _counts(submit, days, start):
    submit = np.asarray(submit, dtype=np.float64)
    submit = submit[(submit >= start) & (submit < start + days * SECONDS_PER_DAY)]
    n_bins = len(hour_bins(days)[0])
    idx = np.minimum(((submit - start) // SECONDS_PER_HOUR).astype(np.int64), n_bins - 1)
    return submit, np.bincount(idx, minlength=n_bins).astype(np.float64)


def _ipf(counts, a_idx, b_idx, length, na, nb, iterations=200):
    """Maximum-likelihood factors of counts ~ Poisson(a[a_idx] * b[b_idx] * length), by IPF."""
    n_a = np.bincount(a_idx, weights=counts, minlength=na)
    n_b = np.bincount(b_idx, weights=counts, minlength=nb)
    seen_a = np.bincount(a_idx, weights=length, minlength=na) > 0
    seen_b = np.bincount(b_idx, weights=length, minlength=nb) > 0
    a, b = np.ones(na), np.ones(nb)
    for _ in range(iterations):  # exact after one step when the exposure is balanced (whole weeks)
        ea = np.bincount(a_idx, weights=b[b_idx] * length, minlength=na)
        a_new = np.where(seen_a, n_a / np.where(ea > 0, ea, 1.0), 1.0)
        eb = np.bincount(b_idx, weights=a_new[a_idx] * length, minlength=nb)
        b_new = np.where(seen_b, n_b / np.where(eb > 0, eb, 1.0), 1.0)
        done = np.allclose(a_new, a, rtol=1e-10, atol=1e-12) and np.allclose(b_new, b, rtol=1e-10, atol=1e-12)
        a, b = a_new, b_new
        if done:
            break
    return a, b, seen_a, seen_b


def _normalize(prof, seen):
    """Mean 1, unobserved entries 1 relative to the observed ones' mean."""
    if seen.any() and prof[seen].mean() > 0:
        prof[seen] /= prof[seen].mean()
    prof[~seen] = 1.0
    prof /= prof.mean() if prof.mean() > 0 else 1.0
    return prof


def fit_weekly(submit, days: float, iterations: int = 100, start: float = 0.0):
    """Maximum-likelihood ``(base_rate per hour, hourly[24], weekday[7])`` of the weekly model on
    ``[start, start + days)`` (``start`` in seconds, a whole hour; arrivals outside are ignored).

    Profiles are normalized to mean 1 (unobserved hours / weekdays get 1 first).
    """
    hod, dow, _, length = hour_bins(days, start_hour(start))
    submit, counts = _counts(submit, days, start)
    h, w, seen_h, seen_d = _ipf(counts, hod, dow, length, 24, 7, iterations)
    h, w = _normalize(h, seen_h), _normalize(w, seen_d)
    expo = float(np.sum(h[hod] * w[dow] * length))
    base = len(submit) / expo if expo > 0 else 0.0
    if base == 0.0:  # no arrivals: flat profiles
        h, w = np.ones(24), np.ones(7)
    return base, h, w


def fit_daily(submit, days: float, start: float = 0.0):
    """Maximum-likelihood ``(base_rate per hour, hourly[24], daily[D])`` of the daily model.

    ``daily`` has one level per calendar day of the window (mean 1; a day without
    arrivals has level 0).
    """
    hod, _, day, length = hour_bins(days, start_hour(start))
    submit, counts = _counts(submit, days, start)
    n_days = int(day.max()) + 1
    h, lev, seen_h, _ = _ipf(counts, hod, day, length, 24, n_days)
    h = _normalize(h, seen_h)
    lev = lev / lev.mean() if lev.mean() > 0 else np.ones(n_days)
    expo = float(np.sum(h[hod] * lev[day] * length))
    base = len(submit) / expo if expo > 0 else 0.0
    if base == 0.0:
        h, lev = np.ones(24), np.ones(n_days)
    return base, h, lev


def same_weekday_in_span(g: np.ndarray, n: int) -> np.ndarray:
    """Day ``g`` of a generated window, mapped into a fitted span of ``n`` days: itself inside the
    span, else the span's last day with the same weekday (or ``g mod n`` if the span is under a week)."""
    g = np.asarray(g, dtype=np.int64)
    late = g >= n
    back = g - 7 * ((g - n + 7) // 7)
    out = np.where(late, back, g)
    return np.where(out < 0, g % max(n, 1), out)


def bin_mass(model: str, days: float, start: float, rate: float, hourly, weekday, daily) -> np.ndarray:
    """Expected arrivals in each hour bin of ``[start, start + days)`` under a Poisson model."""
    hod, dow, day, length = hour_bins(days, start_hour(start))
    hourly = np.asarray(hourly, dtype=np.float64)
    if model == "weekly":
        return rate * hourly[hod] * np.asarray(weekday, dtype=np.float64)[dow] * length
    daily = np.asarray(daily, dtype=np.float64)
    return rate * hourly[hod] * daily[same_weekday_in_span(day, len(daily))] * length


def poisson_aic(counts: np.ndarray, mass: np.ndarray, k: int) -> float:
    """AIC of hour-bin counts under Poisson means ``mass`` (the constant log(c!) terms included)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(counts > 0, counts * np.log(mass), 0.0) - mass - special.gammaln(counts + 1.0)
    ll = float(np.sum(ll))
    return 2 * k - 2 * ll if math.isfinite(ll) else math.inf


def rescaled_ks(submit: np.ndarray, cum: np.ndarray, total: float) -> tuple[float, float]:
    """KS statistic and p-value of the rescaled arrival times ``cum / total`` against U(0, 1)."""
    if len(submit) == 0 or not total > 0:
        return float("nan"), float("nan")
    x = np.clip(cum / total, 0.0, 1.0)
    r = stats.kstest(x, stats.uniform.cdf, method="exact" if len(x) <= 10_000 else "asymp")
    return float(r.statistic), float(r.pvalue)


def poisson_cum(t: np.ndarray, mass: np.ndarray, start: float, days: float) -> np.ndarray:
    """Expected count from ``start`` to each ``t`` under hour-bin masses (linear inside a bin)."""
    _, _, _, length = hour_bins(days)
    cum = np.concatenate([[0.0], np.cumsum(mass)])
    rel = (np.asarray(t, dtype=np.float64) - start) / SECONDS_PER_HOUR
    k = np.clip(np.floor(rel).astype(np.int64), 0, len(mass) - 1)
    frac = np.clip(rel - k, 0.0, length[k])
    return cum[k] + mass[k] / length[k] * frac


# ----------------------------------------------------------------------------- whole days
def day_blocks(submit, days: float, start: float) -> tuple:
    """Offsets (seconds, sorted) of the arrivals in each whole 24-hour block of the window, from its start.

    A last block cut short by the window's end is left out: copied into a whole
    day it would carry too few arrivals.
    """
    submit = np.sort(np.asarray(submit, dtype=np.float64))
    n_whole = int(math.floor(days + 1e-9))
    out = []
    for j in range(max(n_whole, 1) if days >= 1 - 1e-9 else 0):
        lo = start + j * SECONDS_PER_DAY
        sel = submit[(submit >= lo) & (submit < lo + SECONDS_PER_DAY)]
        out.append(tuple(float(v) for v in sel - lo))
    if not out:  # a window shorter than a day: its one block, as it is
        out.append(tuple(float(v) for v in submit[(submit >= start) & (submit < start + days * SECONDS_PER_DAY)]
                         - start))
    return tuple(out)


def day_candidates(g: int, n_blocks: int, window: int = DAYS_WINDOW) -> np.ndarray:
    """Source blocks that generated block ``g`` may copy: the same weekday, within ``window`` weeks."""
    gp = int(same_weekday_in_span(np.array([g]), n_blocks)[0])
    j = np.arange(n_blocks)
    c = j[(j % 7 == gp % 7) & (np.abs(j - gp) <= 7 * window)]
    return c if len(c) else j


def days_plan(blocks: tuple, days: float, window: int = DAYS_WINDOW):
    """Per generated block: its candidate sources (CSR) and the seconds of it inside the window."""
    n_gen = int(math.ceil(days - 1e-9))
    cands = [day_candidates(g, len(blocks), window) for g in range(n_gen)]
    ptr = np.concatenate([[0], np.cumsum([len(c) for c in cands])]).astype(np.int64)
    limit = np.minimum(SECONDS_PER_DAY, days * SECONDS_PER_DAY - np.arange(n_gen) * SECONDS_PER_DAY)
    return np.concatenate(cands).astype(np.int64), ptr, limit


def days_expected(blocks: tuple, days: float, window: int = DAYS_WINDOW) -> np.ndarray:
    """Expected arrivals of each generated block (rate scale 1)."""
    src, ptr, limit = days_plan(blocks, days, window)
    out = np.empty(len(limit))
    for g in range(len(limit)):
        out[g] = np.mean([np.searchsorted(blocks[j], limit[g], side="left") for j in src[ptr[g]:ptr[g + 1]]])
    return out


def days_cum(t: np.ndarray, blocks: tuple, days: float, start: float, window: int = DAYS_WINDOW) -> np.ndarray:
    """Expected count from ``start`` to each ``t`` under the ``days`` model (rate scale 1)."""
    src, ptr, limit = days_plan(blocks, days, window)
    per = days_expected(blocks, days, window)
    before = np.concatenate([[0.0], np.cumsum(per)])
    t = np.asarray(t, dtype=np.float64)
    g = np.clip(((t - start) // SECONDS_PER_DAY).astype(np.int64), 0, len(limit) - 1)
    off = t - start - g * SECONDS_PER_DAY
    out = np.empty(len(t))
    for i in range(len(t)):
        js = src[ptr[g[i]]:ptr[g[i] + 1]]
        out[i] = before[g[i]] + np.mean([np.searchsorted(blocks[j], min(off[i], limit[g[i]]), side="right")
                                         for j in js])
    return out


def draw_days(rng, blocks: tuple, days: float, start: float, rate_scale: float, window: int = DAYS_WINDOW):
    """Arrival times of the ``days`` model, sorted: draws ``G`` uniforms (copies per block:
    ``floor(x)`` plus one with probability ``x - floor(x)``), then one uniform per copy (its source)."""
    src, ptr, limit = days_plan(blocks, days, window)
    n_gen = len(limit)
    whole = math.floor(rate_scale)
    copies = whole + (rng.random(n_gen) < rate_scale - whole).astype(np.int64)
    pick = rng.random(int(copies.sum()))
    out, c = [], 0
    for g in range(n_gen):
        n_c = ptr[g + 1] - ptr[g]
        for _ in range(copies[g]):
            j = src[ptr[g] + min(int(pick[c] * n_c), n_c - 1)]
            c += 1
            off = np.asarray(blocks[j], dtype=np.float64)
            out.append(start + g * SECONDS_PER_DAY + off[off < limit[g]])
    if not out:
        return np.zeros(0)
    return np.sort(np.concatenate(out), kind="stable")
