"""Binned time series of a replication (MODEL.md 13). Every function here is Numba ``njit``.

The event loop (``loop.run_replication_nb``) takes a :class:`SeriesArrays`, or None
when no series are kept: then none of this is compiled into it. Between two
events the state is constant, so each time integral of section 9 (allocated
amounts, ready-queue length, nodes up) is split at the bin edges k * w (float
products) and added bin by bin; the deployed accuracy of section 7 is integrated
in closed form over each piece.
"""
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .constants import SECONDS_PER_DAY


class SeriesArrays(NamedTuple):
    """What the loop writes of the binned series of one replication (B bins, Q pools).

    Attributes
    ----------
    width : float64[1]
        The bin width w, seconds; bin k is [k w, (k + 1) w), cut at the end of the run.
    alloc : float64[B, Q, 3]
        Time integral of each pool's allocated amount per dimension.
    up : float64[B, Q]
        Time integral of each pool's number of up nodes (of its nodes, for a static pool).
    queue : float64[B]
        Time integral of the number of ready tasks not started.
    arrivals, completed : float64[B]
        Pipelines submitted, pipelines completed.
    accuracy : float64[B]
        Time integral of the mean over models of the deployed accuracy (runs with a lifecycle).
    """

    width: np.ndarray
    alloc: np.ndarray
    up: np.ndarray
    queue: np.ndarray
    arrivals: np.ndarray
    completed: np.ndarray
    accuracy: np.ndarray


@njit(cache=True, error_model="numpy")
def bin_of_nb(t, w, n_bins):
    """The bin of time t: the k with k w <= t < (k + 1) w on the float products, the last
    bin for t at or after its start (an event at the end of the run counts in the last bin)."""
    k = int(t / w)
    if k > n_bins - 1:
        k = n_bins - 1
    while k > 0 and k * w > t:
        k -= 1
    while k + 1 < n_bins and (k + 1) * w <= t:
        k += 1
    return k


@njit(cache=True, error_model="numpy")
def series_accumulate_nb(ser, pool_alloc, pool_up, n_ready, a0, td, drift, lo, hi):
    """Add the state held constant over [lo, hi] to the bins it overlaps.

    ``pool_up : int64[Q]`` the nodes up of each pool; ``a0, td, drift : float64[M]`` the
    models' deployed state (M = 0 without a lifecycle), whose accuracy a(t) (MODEL.md 7) is
    integrated in closed form, averaged over the models.
    """
    if hi <= lo:
        return
    w = ser.width[0]
    n_bins = ser.queue.shape[0]
    n_models = a0.shape[0]
    accuracy = n_models > 0 and ser.accuracy.shape[0] > 0  # (series kept for no one have none)
    k = bin_of_nb(lo, w, n_bins)
    while lo < hi:
        edge = hi if k == n_bins - 1 else min((k + 1) * w, hi)
        dt = edge - lo
        for q in range(pool_alloc.shape[0]):
            for d in range(3):
                ser.alloc[k, q, d] += pool_alloc[q, d] * dt
            ser.up[k, q] += pool_up[q] * dt
        ser.queue[k] += n_ready * dt
        if accuracy:
            total = 0.0
            for m in range(n_models):
                r = drift[m] / SECONDS_PER_DAY
                if r == 0.0:
                    total += a0[m] * (edge - lo)
                else:
                    total += a0[m] / r * (math.exp(-r * (lo - td[m])) - math.exp(-r * (edge - td[m])))
            ser.accuracy[k] += total / n_models
        lo = edge
        k += 1


@njit(cache=True, error_model="numpy")
def series_count_nb(counts, t, w):
    """One event at time t in its bin."""
    counts[bin_of_nb(t, w, counts.shape[0])] += 1.0
