"""Compiled assembly of a synthetic workload's tasks (Numba ``njit``, GIL released).

The random numbers are drawn in NumPy by ``modelops`` (their order is part of
the workload's definition); this kernel turns them into tasks and DAG edges.
Doing it compiled and without the GIL lets replications be generated on
several threads at once.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def assemble_tasks_nb(inc, dur_z, size, framework, pattern, pat_ptr, pat_pred, pat_succ,
                      a, b, e, sigma, factor, n_fw):
    """Tasks of the included (pipeline, step) cells, row by row, and their edges.

    Parameters
    ----------
    inc : bool[n, S]
        Whether step j of pipeline p is included.
    dur_z : float64[n, S]
        Standard normal draw of each cell's duration factor.
    size : float64[n]
        Dataset size of each pipeline, GB.
    framework : int64[n]
    pattern : int64[n]
        Index of each pipeline's inclusion pattern in the pattern tables.
    pat_ptr : int64[Q + 1]
        Edges of pattern q are ``pat_pred/pat_succ[pat_ptr[q]:pat_ptr[q+1]]``.
    pat_pred, pat_succ : int64[E_pat]
        Edges as indices among the pipeline's included tasks, sorted by (pred, succ).
    a, b, e, sigma : float64[S]
        Duration model of each step: ``(a + b * size ** e) * factor * LogNormal(mean 1, sigma)``.
    factor : float64[S, F]
        Framework factor of each step.
    n_fw : int
        Number of frameworks F; a task's (step, framework) cell is ``step * F + framework``.

    Returns
    -------
    task_count : int64[n]
    task_step, task_cell : int64[T]
    duration : float64[T]
    edge_pred, edge_succ : int64[E]
        Task indices within the replication, sorted by (pred, succ).
    """
    n, n_steps = inc.shape
    task_count = np.zeros(n, dtype=np.int64)
    n_edges = 0
    for p in range(n):
        c = 0
        for j in range(n_steps):
            if inc[p, j]:
                c += 1
        task_count[p] = c
        q = pattern[p]
        n_edges += pat_ptr[q + 1] - pat_ptr[q]
    n_tasks = task_count.sum()
    task_step = np.empty(n_tasks, dtype=np.int64)
    task_cell = np.empty(n_tasks, dtype=np.int64)
    duration = np.empty(n_tasks)
    edge_pred = np.empty(n_edges, dtype=np.int64)
    edge_succ = np.empty(n_edges, dtype=np.int64)
    t = 0
    k = 0
    for p in range(n):
        first = t
        f = framework[p]
        for j in range(n_steps):
            if inc[p, j]:
                s = sigma[j]
                # math.pow / math.exp: the C library's functions, which the Python
                # twin calls too (np.exp on a NumPy scalar would take NumPy's vector kernel)
                duration[t] = ((a[j] + b[j] * math.pow(size[p], e[j])) * factor[j, f]
                               * math.exp(s * dur_z[p, j] - 0.5 * s * s))
                task_step[t] = j
                task_cell[t] = j * n_fw + f
                t += 1
        q = pattern[p]
        for x in range(pat_ptr[q], pat_ptr[q + 1]):
            edge_pred[k] = first + pat_pred[x]
            edge_succ[k] = first + pat_succ[x]
            k += 1
    return task_count, task_step, task_cell, duration, edge_pred, edge_succ
