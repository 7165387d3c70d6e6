"""Compiled per-replication summaries (MODEL.md 9). Every function here is Numba ``njit``.

They read the task and pipeline records that the event loop wrote and reduce
them per replication (the caller runs replications on threads; the kernels
release the GIL), so that a run that asks
only for summaries can drop the records of a batch as soon as it is reduced.
"""
import numpy as np
from numba import njit

from .constants import OUTCOME_COMPLETED, OUTCOME_REJECTED_EVALUATE

# Columns of the per-replication metric array, in order.
REP_METRICS = (
    "submitted",
    "completed",
    "unfinished",
    "rejected",
    "response_mean",
    "response_p50",
    "response_p95",
    "response_p99",
    "wait_mean",
    "wait_p95",
    "slowdown_mean",
    "slowdown_p95",
    "throughput_per_hour",
    "queue_length_mean",
)
N_REP_METRICS = len(REP_METRICS)


@njit(cache=True, error_model="numpy")
def critical_path_nb(wa, k, out_cp):
    """Critical-path length (reference seconds) of each pipeline of replication k.

    Parameters
    ----------
    wa : WorkloadArrays
    k : int
    out_cp : float64[P]
        Filled for the pipelines of replication k.
    """
    p0 = wa.rep_pipeline_ptr[k]
    p1 = wa.rep_pipeline_ptr[k + 1]
    task_ptr, duration, n_pred, succ_ptr, succ = wa.task_ptr, wa.duration, wa.n_pred, wa.succ_ptr, wa.succ
    # scratch for one pipeline at a time (index: task - first task of the pipeline)
    widest = 1
    for p in range(p0, p1):
        widest = max(widest, task_ptr[p + 1] - task_ptr[p])
    finish = np.zeros(widest)
    left = np.empty(widest, dtype=np.int64)
    queue = np.empty(widest, dtype=np.int64)
    for p in range(p0, p1):
        a = task_ptr[p]
        b = task_ptr[p + 1]
        if b - a == 1:
            out_cp[p] = duration[a]  # a one-task pipeline (a job): its duration
            continue
        head = 0
        tail = 0
        for g in range(a, b):
            left[g - a] = n_pred[g]
            finish[g - a] = 0.0
            if n_pred[g] == 0:
                queue[tail] = g
                tail += 1
        longest = 0.0
        while head < tail:
            g = queue[head]
            head += 1
            f = finish[g - a] + duration[g]
            finish[g - a] = f
            if f > longest:
                longest = f
            for e in range(succ_ptr[g], succ_ptr[g + 1]):
                j = succ[e]
                if f > finish[j - a]:
                    finish[j - a] = f
                left[j - a] -= 1
                if left[j - a] == 0:
                    queue[tail] = j
                    tail += 1
        out_cp[p] = longest


@njit(cache=True, error_model="numpy")
def percentile_sorted_nb(v, q):
    """Percentile ``q`` (0-100) of sorted float64[n] ``v`` by numpy's default (linear) method.

    The interpolation is done as numpy does it (its ``_lerp``), so the result
    equals ``numpy.percentile`` to the last bit; written out because Numba's
    own ``np.percentile`` costs many seconds of compile time.
    """
    n = v.shape[0]
    if n == 0:
        return np.nan
    h = (n - 1) * (q / 100.0)
    lo = int(np.floor(h))
    if lo >= n - 1:
        return v[n - 1]
    return _lerp(v[lo], v[lo + 1], h - lo)


@njit(cache=True, error_model="numpy")
def _lerp(a, b, t):
    """numpy's ``_lerp``: a + (b - a) t, computed from b when t >= 0.5 (monotone, exact at 1)."""
    diff = b - a
    if t >= 0.5:
        return b - diff * (1.0 - t)
    return a + diff * t


@njit(cache=True, error_model="numpy")
def mean_nb(v):
    """Mean of float64[n] ``v`` summed left to right.

    Written out so the compiled kernel and its plain-Python twin give the same
    bits (NumPy's own mean sums pairwise, Numba's in order).
    """
    s = 0.0
    for x in v:
        s += x
    return s / v.shape[0]


_SIGN = np.uint64(0x8000000000000000)
_BYTE = np.uint64(0xFF)


@njit(cache=True, error_model="numpy")
def sort_nb(x):
    """A sorted copy of float64[n] ``x`` (NaN last, -0.0 before 0.0).

    LSD radix sort on the bits (8 passes of one byte, a pass skipped when every
    key has the same byte there, as the high bytes of times often do): O(n),
    several times faster than a comparison sort on the long arrays of a big
    replication, and written out because Numba's ``np.sort`` costs more than a
    second of compile time. A sorted array is one sequence of values whatever
    sorts it (the ordering of -0.0 and 0.0, equal for ``np.sort``, aside).
    """
    n = x.shape[0]
    out = np.empty(n)
    if n < 32:
        for i in range(n):  # insertion sort
            v = x[i]
            j = i
            while j > 0 and (out[j - 1] > v or (out[j - 1] != out[j - 1] and v == v)):
                out[j] = out[j - 1]
                j -= 1
            out[j] = v
        return out
    # keys whose unsigned order is the floats' order: flip every bit of a negative
    # number, only the sign bit of a positive one
    key = np.empty(n, dtype=np.uint64)
    bits = x.view(np.uint64)
    for i in range(n):
        b = bits[i]
        key[i] = ~b if b & _SIGN else b | _SIGN
    tmp = np.empty(n, dtype=np.uint64)
    count = np.empty(257, dtype=np.int64)
    for d in range(8):
        shift = np.uint64(8 * d)
        for c in range(257):
            count[c] = 0
        for i in range(n):
            count[np.int64((key[i] >> shift) & _BYTE) + 1] += 1
        if count[np.int64((key[0] >> shift) & _BYTE) + 1] == n:
            continue  # one byte value: this pass would not move anything
        for c in range(256):
            count[c + 1] += count[c]
        for i in range(n):
            c = np.int64((key[i] >> shift) & _BYTE)
            tmp[count[c]] = key[i]
            count[c] += 1
        key, tmp = tmp, key
    obits = out.view(np.uint64)
    for i in range(n):
        k = key[i]
        obits[i] = k ^ _SIGN if k & _SIGN else ~k
    return out


@njit(cache=True, error_model="numpy")
def select_nb(a, k):
    """Reorder float64[n] ``a`` in place so that ``a[k]`` is its k-th smallest value (0-based),
    with no larger value before it and no smaller one after it; returns ``a[k]``.

    Quickselect with a median-of-three pivot (no NaN in ``a``). Written out instead
    of ``np.partition``, whose compiled form alone cost 7-8 s of the cold start; an
    order statistic is one value whatever algorithm finds it.
    """
    lo = 0
    hi = a.shape[0] - 1
    while True:
        if hi <= lo + 1:
            if hi == lo + 1 and a[hi] < a[lo]:
                a[lo], a[hi] = a[hi], a[lo]
            return a[k]
        mid = (lo + hi) >> 1
        a[mid], a[lo + 1] = a[lo + 1], a[mid]
        if a[hi] < a[lo]:
            a[lo], a[hi] = a[hi], a[lo]
        if a[hi] < a[lo + 1]:
            a[lo + 1], a[hi] = a[hi], a[lo + 1]
        if a[lo + 1] < a[lo]:
            a[lo], a[lo + 1] = a[lo + 1], a[lo]
        i = lo + 1
        j = hi
        pivot = a[lo + 1]
        while True:
            i += 1
            while a[i] < pivot:
                i += 1
            j -= 1
            while pivot < a[j]:
                j -= 1
            if j < i:
                break
            a[i], a[j] = a[j], a[i]
        a[lo + 1] = a[j]
        a[j] = pivot
        if j >= k:
            hi = j - 1
        if j <= k:
            lo = i


@njit(cache=True, error_model="numpy")
def percentile_nb(x, q):
    """Percentile ``q`` of unsorted float64[n] ``x`` (numpy's linear method), in O(n).

    Selects the two order statistics around the rank instead of sorting; the
    interpolation is :func:`percentile_sorted_nb`'s. A NaN anywhere gives NaN, as
    in numpy.
    """
    n = x.shape[0]
    if n == 0:
        return np.nan
    for v in x:
        if v != v:
            return np.nan
    h = (n - 1) * (q / 100.0)
    lo = int(np.floor(h))
    if lo >= n - 1:
        return x.max()
    part = x.copy()
    below = select_nb(part, lo)
    above = part[lo + 1]
    for i in range(lo + 2, n):
        if part[i] < above:
            above = part[i]
    return _lerp(below, above, h - lo)


@njit(cache=True, error_model="numpy")
def _mean_p(x, q):
    if x.shape[0] == 0:
        return np.nan, np.nan
    return mean_nb(x), percentile_nb(x, q)


@njit(cache=True, nogil=True, error_model="numpy")
def summarize_replication_nb(wa, k, start, ready, pipeline_end, outcome, end_time, warmup, horizon, n_types,
                             cp, out_metrics, out_type_waits):
    """Metrics of replication k over the pipelines submitted in [warmup, horizon).

    Parameters
    ----------
    wa : WorkloadArrays
    k : int
    start, ready : float64[T]
    pipeline_end : float64[P]
    outcome : int64[P]
        ``constants.OUTCOME_*``: only completed pipelines have a response time;
        rejected ones (MODEL.md 7) are counted apart.
    end_time : float64[R]
    warmup, horizon : float
    n_types : int
    cp : float64[P]
        Scratch for critical paths (each replication writes its own slice).
    out_metrics : float64[R, N_REP_METRICS]
        Columns ``REP_METRICS``.
    out_type_waits : float64[R, n_types, 3]
        Per task type: number of started tasks, mean wait, p95 wait.
    """
    critical_path_nb(wa, k, cp)
    p0 = wa.rep_pipeline_ptr[k]
    p1 = wa.rep_pipeline_ptr[k + 1]
    t0 = wa.rep_task_ptr[k]
    t1 = wa.rep_task_ptr[k + 1]
    resp = np.empty(p1 - p0)
    slow = np.empty(p1 - p0)
    waits = np.empty(t1 - t0)
    wait_type = np.empty(t1 - t0, dtype=np.int64)
    submitted = 0
    completed = 0
    rejected = 0
    n_w = 0
    for p in range(p0, p1):
        sub = wa.submit[p]
        if sub < warmup or sub >= horizon:
            continue
        submitted += 1
        if outcome[p] >= OUTCOME_REJECTED_EVALUATE:
            rejected += 1
        elif outcome[p] == OUTCOME_COMPLETED:
            resp_p = pipeline_end[p] - sub
            resp[completed] = resp_p
            slow[completed] = resp_p / cp[p] if cp[p] > 0 else np.nan
            completed += 1
        for g in range(wa.task_ptr[p], wa.task_ptr[p + 1]):
            # (a task interrupted and not started again, MODEL.md 11.5, keeps its last start, before its ready)
            if start[g] == start[g] and start[g] >= ready[g]:
                waits[n_w] = start[g] - ready[g]
                wait_type[n_w] = wa.task_type[g]
                n_w += 1
    m = out_metrics[k]
    m[0] = submitted
    m[1] = completed
    m[2] = submitted - completed - rejected
    m[3] = rejected
    if completed > 0:
        v = sort_nb(resp[:completed])  # three percentiles of one array: sorting once is cheaper
        m[4] = mean_nb(v)
        m[5] = percentile_sorted_nb(v, 50.0)
        m[6] = percentile_sorted_nb(v, 95.0)
        m[7] = percentile_sorted_nb(v, 99.0)
        m[10], m[11] = _mean_p(slow[:completed], 95.0)
    else:
        for c in (4, 5, 6, 7, 10, 11):
            m[c] = np.nan
    m[8], m[9] = _mean_p(waits[:n_w], 95.0)
    span = end_time[k] - warmup
    m[12] = completed / (span / 3600.0) if span > 0 else np.nan
    m[13] = np.nan  # filled from the loop's queue area by the caller
    # waits by task type: bucket them by type (counting sort, stable), then reduce each bucket
    count = np.zeros(n_types + 1, dtype=np.int64)
    for w in range(n_w):
        count[wait_type[w] + 1] += 1
    for c in range(n_types):
        if count[c + 1] == n_w and n_w > 0:
            # every wait is of type c: its bucket would be `waits` itself, in the same
            # order, so its mean and p95 are the two just computed
            for cc in range(n_types):
                out_type_waits[k, cc, 0] = 0.0
                out_type_waits[k, cc, 1] = np.nan
                out_type_waits[k, cc, 2] = np.nan
            out_type_waits[k, c, 0] = n_w
            out_type_waits[k, c, 1] = m[8]
            out_type_waits[k, c, 2] = m[9]
            return
    for c in range(n_types):
        count[c + 1] += count[c]
    fill = count[:n_types].copy()
    bucket = np.empty(n_w)
    for w in range(n_w):
        c = wait_type[w]
        bucket[fill[c]] = waits[w]
        fill[c] += 1
    for c in range(n_types):
        a = count[c]
        b = count[c + 1]
        out_type_waits[k, c, 0] = b - a
        out_type_waits[k, c, 1], out_type_waits[k, c, 2] = _mean_p(bucket[a:b], 95.0)
