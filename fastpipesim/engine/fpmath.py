"""Transcendental functions over arrays, computed by the C library's scalar ``exp``, ``log`` and ``pow``.

Why not ``np.exp`` and ``**``: NumPy dispatches its array math to vector
kernels chosen by the CPU (AVX-512 where the CPU has it), which differ from the
C library's scalar functions in the last bit for a few percent of arguments.
Compiled Numba code and Python's ``math`` call the scalar functions. A number
that the generator computes with NumPy on one machine and that is computed
again elsewhere (a replayed trace written on another machine, a Python twin of
a kernel, the SimPy oracle) would then agree on one CPU and not on another.
So every transcendental value that becomes part of a workload is computed
here, once, by one implementation: the same on every CPU with the same C
library.

The kernels (``*_nb``, Numba ``njit``, GIL released) take 1-D contiguous
float64 arrays; the Python functions beside them take any shape and
broadcast, like the NumPy functions they replace. Under ``NUMBA_DISABLE_JIT=1``
the kernels run in Python and call ``math.exp`` / ``math.pow``: the same C
functions, so the twin paths agree bit for bit.

A caveat kept in the README: with Intel's SVML installed (the ``icc_rt``
package), Numba may vectorize these loops with SVML's functions, which are not
the C library's; ``NUMBA_DISABLE_INTEL_SVML=1`` switches that off.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def exp_nb(x):
    """``exp`` of each element.

    Parameters
    ----------
    x : float64[n]

    Returns
    -------
    float64[n]
    """
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.exp(x[i])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def pow_nb(x, y):
    """``pow(x[i], y[i])`` of each element.

    Parameters
    ----------
    x, y : float64[n]

    Returns
    -------
    float64[n]
    """
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.pow(x[i], y[i])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def log_nb(x):
    """``log`` of each element (``-inf`` at 0, NaN below, as the C library).

    Parameters
    ----------
    x : float64[n]

    Returns
    -------
    float64[n]
    """
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.log(x[i]) if x[i] > 0.0 else (-np.inf if x[i] == 0.0 else np.nan)
    return out


def exp(x) -> np.ndarray:
    """``np.exp(x)`` computed by the C library's scalar ``exp`` (see the module docstring)."""
    a = np.asarray(x, dtype=np.float64)
    return exp_nb(np.ascontiguousarray(a.reshape(-1))).reshape(a.shape)


def log(x) -> np.ndarray:
    """``np.log(x)`` computed by the C library's scalar ``log`` (see the module docstring)."""
    a = np.asarray(x, dtype=np.float64)
    return log_nb(np.ascontiguousarray(a.reshape(-1))).reshape(a.shape)


def power(x, y) -> np.ndarray:
    """``x ** y`` (broadcast) computed by the C library's scalar ``pow`` (see the module docstring)."""
    a, b = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    out = pow_nb(np.ascontiguousarray(a.reshape(-1)), np.ascontiguousarray(b.reshape(-1)))
    return out.reshape(a.shape)
