"""Compiled quantile functions of fitted duration families that have no closed form (Numba ``njit``).

The quantile of a mixture of log-normals solves ``sum_k w_k Phi((y - mu_k) / s_k) = u``
for ``y = log x``. It is found by bisection on ``y`` down to adjacent floats, so the
answer does not depend on a starting point or a tolerance, and every step calls only
the C library's ``erfc`` and ``exp`` (never NumPy's vector kernels): the same bits on
every CPU with the same C library (see ``fpmath``).
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _mix_cdf_log(y, w, mu, s):
    c = 0.0
    for k in range(w.shape[0]):
        c += w[k] * 0.5 * math.erfc(-(y - mu[k]) / (s[k] * math.sqrt(2.0)))
    return c


@njit(cache=True, nogil=True, error_model="numpy")
def lognorm_mix_ppf_nb(u, w, mu, s):
    """Quantiles of a mixture of log-normals.

    Parameters
    ----------
    u : float64[n]
        Probabilities in (0, 1).
    w : float64[K]
        Mixing weights (summing to 1).
    mu, s : float64[K]
        Mean and standard deviation of each component's log.

    Returns
    -------
    float64[n]
        ``x`` with ``F(x) = u``; ``exp`` of the bisected ``log x``.
    """
    K = w.shape[0]
    lo0 = mu[0] - 40.0 * s[0]
    hi0 = mu[0] + 40.0 * s[0]
    for k in range(1, K):
        lo0 = min(lo0, mu[k] - 40.0 * s[k])
        hi0 = max(hi0, mu[k] + 40.0 * s[k])
    out = np.empty(u.shape[0])
    for i in range(u.shape[0]):
        lo = lo0
        hi = hi0
        while True:
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:  # adjacent floats: done
                break
            if _mix_cdf_log(mid, w, mu, s) < u[i]:
                lo = mid
            else:
                hi = mid
        out[i] = math.exp(hi)
    return out
