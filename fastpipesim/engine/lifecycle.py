"""Compiled pieces of the ML model lifecycle (MODEL.md 7). Every function here is Numba ``njit``.

The event loop (``loop.run_replication_nb``) keeps, per model row m, the
deployed state (a0, robustness, fairness, td), the threshold crossing time of
that state, whether the model is stale, and how many of its pipelines are in
flight. The deployed accuracy between deployments is the closed form
a(t) = a0 exp(-drift (t - td) / 86400), so its time integral and the time spent
below the threshold are added exactly, one *segment* (a deployment's lifetime)
at a time, when the segment ends (the next deploy, or the end of the run).
"""
import math

import numpy as np
from numba import njit

from .constants import SECONDS_PER_DAY


@njit(cache=True, error_model="numpy")
def crossing_time_nb(a0, td, drift, threshold):
    """When a(t) reaches the threshold (MODEL.md 7 on_drift), not clipped to t >= 0.

    td if a0 <= threshold (whatever the drift); never (+inf) if drift is 0 or
    the threshold is 0 (a(t) > 0 for ever); else td + 86400 ln(a0 / threshold) / drift.
    """
    if a0 <= threshold:
        return td
    if drift == 0.0 or threshold <= 0.0:
        return np.inf
    return td + SECONDS_PER_DAY * math.log(a0 / threshold) / drift


@njit(cache=True, error_model="numpy")
def close_segment_nb(acc, m, start, end, a0, td, drift, crossing, warmup):
    """Add the segment [start, end] of model row m, clipped to t >= warmup, to ``acc``.

    ``acc : float64[M, N_MODEL_ACCUMULATORS]``: column 0 gets the integral of
    a(t), column 1 the time at or after ``crossing`` (the time below threshold).
    """
    s = max(start, warmup)
    if end <= s:
        return
    k = drift / SECONDS_PER_DAY
    if k == 0.0:
        acc[m, 0] += a0 * (end - s)
    else:
        acc[m, 0] += a0 / k * (math.exp(-k * (s - td)) - math.exp(-k * (end - td)))
    acc[m, 1] += max(0.0, end - max(s, crossing))


@njit(cache=True, error_model="numpy")
def first_periodic_index_nb(phase, period):
    """The first k >= 0 with phase + k * period >= 0 (MODEL.md 7 periodic: times >= 0).

    Computed on the same floats as the times themselves (phase + k * period),
    so rounding cannot skip or repeat a time.
    """
    k = max(0, math.ceil(-phase / period))
    while k > 0 and phase + (k - 1) * period >= 0.0:
        k -= 1
    while phase + k * period < 0.0:
        k += 1
    return k


@njit(cache=True, error_model="numpy")
def deployed_accuracy_nb(a0, td, drift, now):
    """a(now) = a0 exp(-drift (now - td) / 86400), drift per day."""
    return a0 * math.exp(-drift * (now - td) / SECONDS_PER_DAY)
