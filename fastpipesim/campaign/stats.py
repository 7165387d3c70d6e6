"""Statistics of a campaign: per-scenario intervals, paired comparisons with Holm's adjustment,
the precision rule, and the MSER-5 warm-up estimate.

Intervals are Student-t intervals of the mean over replications (the same
function as ``Results.stats``). Paired differences use replication r of a
scenario against replication r of its baseline: both saw the same exogenous
workload (common random numbers), so the difference's variance is small.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..results import student_t_interval

STATS_COLUMNS = ("n", "mean", "std", "ci_low", "ci_high", "half_width", "rel_half_width")
COMPARE_COLUMNS = ("n", "mean_diff", "std", "ci_low", "ci_high", "half_width", "rel_diff", "p_value", "p_holm")
# Not statistics of the platform: left out of the tables.
NOT_METRICS = ("scenario", "replication", "end_time", "events")


def metric_columns(frame: pd.DataFrame, axes) -> list:
    """The numeric metric columns of a replications table (not the keys, not the swept values)."""
    skip = set(NOT_METRICS) | set(axes)
    return [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]


def interval_row(x, confidence: float) -> dict:
    mean, std, n, lo, hi = student_t_interval(x, confidence)
    half = (hi - lo) / 2.0 if n > 1 else np.nan
    rel = abs(half / mean) if n > 1 and mean != 0 else (0.0 if n > 1 and half == 0 else np.nan)
    return {"n": n, "mean": mean, "std": std, "ci_low": lo, "ci_high": hi, "half_width": half,
            "rel_half_width": rel}


def scenario_stats(reps: pd.DataFrame, scenarios: pd.DataFrame, axes, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (scenario, metric): n, mean, std, the interval, half-width and relative half-width."""
    rows = []
    metrics = metric_columns(reps, axes)
    for name, group in reps.groupby("scenario", sort=True):
        for m in metrics:
            x = group[m].to_numpy(np.float64)
            if not np.isfinite(x).any():
                continue  # a metric this scenario does not have (another cluster's pool, say)
            rows.append({"scenario": name, "metric": m, **interval_row(x, confidence)})
    out = pd.DataFrame(rows, columns=["scenario", "metric", *STATS_COLUMNS])
    out["n"] = out["n"].astype(np.int64)
    return _with_axes(out, scenarios, axes)


def precision_met(group: pd.DataFrame, metrics, target: float, confidence: float) -> bool:
    """Every listed metric's half-width is at most ``target`` times its |mean| (a metric whose
    values are all equal, so whose half-width is 0, meets any target)."""
    for m in metrics:
        if m not in group.columns:
            return False
        row = interval_row(group[m].to_numpy(np.float64), confidence)
        if not (row["n"] > 1 and row["rel_half_width"] <= target):
            return False
    return True


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, not counted)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    m = len(order)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


def paired_row(diff: np.ndarray, base_mean: float, confidence: float) -> dict:
    """Interval of the mean paired difference, its relative size and a two-sided paired t-test p-value."""
    from scipy.special import stdtr

    row = interval_row(diff, confidence)
    n, mean, std = row["n"], row["mean"], row["std"]
    if n < 2:
        p = np.nan
    elif std == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / (std / np.sqrt(n))
        p = float(2.0 * stdtr(n - 1, -abs(t)))
    return {"n": n, "mean_diff": mean, "std": std, "ci_low": row["ci_low"], "ci_high": row["ci_high"],
            "half_width": row["half_width"],
            "rel_diff": mean / base_mean if base_mean not in (0.0,) and np.isfinite(base_mean) else np.nan,
            "p_value": p}


def compare_table(reps: pd.DataFrame, exp, scenarios: pd.DataFrame) -> pd.DataFrame:
    """Paired differences of every scenario against its baseline, per metric, with Holm's
    adjustment across the compared scenarios (one family per metric)."""
    cols = ["scenario", "baseline", "metric", *COMPARE_COLUMNS]
    if exp.compare is None:
        return pd.DataFrame(columns=cols)
    conf = exp.compare["confidence"]
    by = {name: g.set_index("replication") for name, g in reps.groupby("scenario", sort=True)}
    metrics = exp.compare["metrics"] or metric_columns(reps, exp.axis_names)
    rows = []
    for s in exp.scenarios:
        base = exp.baseline_of(s)
        if base is None or s.name not in by or base.name not in by:
            continue
        a, b = by[s.name], by[base.name]
        common = a.index.intersection(b.index)
        both = [m for m in metrics if m in a.columns and m in b.columns]
        xs = a.loc[common, both].to_numpy(np.float64)
        ys = b.loc[common, both].to_numpy(np.float64)
        for k, m in enumerate(both):
            x, y = xs[:, k], ys[:, k]
            keep = np.isfinite(x) & np.isfinite(y)
            if not keep.any():
                continue
            rows.append({"scenario": s.name, "baseline": base.name, "metric": m,
                         **paired_row(x[keep] - y[keep], float(np.mean(y[keep])), conf)})
    out = pd.DataFrame(rows, columns=cols[:-1])
    out["p_holm"] = np.nan
    for m, idx in out.groupby("metric", sort=False).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p_value"].to_numpy())
    out["n"] = out["n"].astype(np.int64)
    return _with_axes(out, scenarios, exp.axis_names)


def _with_axes(frame: pd.DataFrame, scenarios: pd.DataFrame, axes) -> pd.DataFrame:
    """Insert the swept values after the scenario column."""
    if not len(axes) or frame.empty:
        return frame
    lookup = scenarios.set_index("scenario")[list(axes)]
    values = lookup.loc[frame["scenario"]].reset_index(drop=True)
    out = frame.reset_index(drop=True)
    for k, c in enumerate(axes):
        out.insert(1 + k, c, values[c].to_numpy())
    return out


# ----------------------------------------------------------------------------- warm-up
def mser5(y) -> tuple[int, float]:
    """MSER-5 (White 1997; Franklin and White 2008): the truncation point of a series.

    The series is averaged in batches of 5; for each d in the first half of the
    batches, MSER(d) = sum of squared deviations of batches d.. from their mean,
    over (n - d)^2. The d minimizing it (the first on ties) is the number of
    batches to drop. Returns (observations to drop = 5 d, MSER(d)); (0, NaN) for
    a series shorter than two batches.
    """
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    b = len(y) // 5
    if b < 2:
        return 0, np.nan
    z = y[: 5 * b].reshape(b, 5).mean(axis=1)
    best, best_d = np.inf, 0
    for d in range(b // 2 + 1):
        tail = z[d:]
        k = len(tail)
        stat = float(np.sum((tail - tail.mean()) ** 2)) / (k * k)
        if stat < best:
            best, best_d = stat, d
    return 5 * best_d, best


def warmup_table(series: pd.DataFrame, scenarios: pd.DataFrame, axes, bin_seconds: float) -> pd.DataFrame:
    """MSER-5 per scenario and series column, on the mean over replications of each bin (Welch's
    averaging, which smooths the noise MSER would otherwise chase)."""
    cols = ["scenario", "series", "bins", "truncate_bins", "warmup_seconds", "warmup_hours", "mser"]
    if series is None or series.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    values = [c for c in series.columns if c not in ("scenario", "replication", "bin", "t_start", "t_end")
              and c not in axes and pd.api.types.is_numeric_dtype(series[c])]
    for name, g in series.groupby("scenario", sort=True):
        mean = g.groupby("bin", sort=True)[values].mean()
        for c in values:
            d, stat = mser5(mean[c].to_numpy())
            rows.append({"scenario": name, "series": c, "bins": len(mean), "truncate_bins": d,
                         "warmup_seconds": d * bin_seconds, "warmup_hours": d * bin_seconds / 3600.0, "mser": stat})
    return _with_axes(pd.DataFrame(rows, columns=cols), scenarios, axes)
