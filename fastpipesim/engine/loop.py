"""The compiled event loop (MODEL.md 3-6). Every function here is Numba ``njit``.

One replication is simulated by :func:`run_replication_nb`, which releases the
GIL: the Python layer runs the replications of a batch on a pool of threads,
each call on its own slice of the workload and output arrays, so results do not
depend on the thread count. (Threads over a ``nogil`` kernel rather than
``prange``: the same parallelism without compiling a second, parallel copy of
the event loop, which cost more than ten seconds of cold start.)

How a scheduling pass stays cheap when the ready queue is long
---------------------------------------------------------------
Ready tasks are kept in one heap per *request shape* (distinct (cpu, gpu, mem)
request), each ordered by (key, ready time, task index). A pass merges the heads
of these heaps in that order, which is exactly the order of MODEL.md 4.2. Within
a pass free capacity only decreases, so once the head of a shape does not fit,
no task of that shape can fit for the rest of the pass: with backfill the whole
shape is skipped at once instead of rescanning its tasks.

Across passes, each shape remembers the position in the *free log* (the nodes
freed by completions, in order) at which it was last found to fit nowhere.
Nodes not freed since then have only lost capacity, so only the nodes in the
log after that position can fit it; the search looks at those alone. A blocked
task therefore costs nothing per pass unless capacity it could use appeared.

Policy keys: fifo, priority and sjf keys are fixed when a task becomes ready;
the srpt key is the same for all ready tasks of a pipeline and only falls when
one of its tasks starts, so it is lowered (decrease-key) after each pass, which
keeps "computed once, at the start of the pass" exact. A custom key is
recomputed for every ready task at the start of every pass.
"""
import numpy as np
from numba import cfunc, njit, types

from .constants import (
    FIT_TOL,
    PLACEMENT_BEST_FIT,
    PLACEMENT_FIRST_FIT,
    POLICY_CUSTOM,
    POLICY_FIFO,
    POLICY_PRIORITY,
    POLICY_SJF,
    POLICY_SRPT,
    STATUS_COMPLETED,
    STATUS_NOT_STARTED,
    STATUS_UNFINISHED,
)
from .heaps import (
    ev_pop,
    ev_push,
    rh_heapify,
    rh_pop,
    rh_push,
    rh_sift_up,
    task_before,
)

# Signature of a custom policy key (MODEL.md 5): the kernel calls it through a
# first-class function pointer, so the kernel itself stays cached and only the
# user's function is compiled. Arguments, in order:
#   now, ready, duration, cpu, gpu, mem_gb, type code, pipeline_id, priority,
#   model_id, submit_time, remaining (srpt's remaining work of the pipeline)
CUSTOM_KEY_SIGNATURE = types.float64(
    types.float64,
    types.float64,
    types.float64,
    types.float64,
    types.float64,
    types.float64,
    types.int64,
    types.int64,
    types.int64,
    types.int64,
    types.float64,
    types.float64,
)


@cfunc(CUSTOM_KEY_SIGNATURE, cache=True)
def no_custom_key(now, ready, duration, cpu, gpu, mem, ttype, pid, priority, model, submit, remaining):
    """Placeholder passed when the policy is built in; never called."""
    return 0.0


@njit(cache=True, error_model="numpy")
def _fits(free, n, shape_req, s):
    return (
        free[n, 0] >= shape_req[s, 0] - FIT_TOL
        and free[n, 1] >= shape_req[s, 1] - FIT_TOL
        and free[n, 2] >= shape_req[s, 2] - FIT_TOL
    )


@njit(cache=True, error_model="numpy")
def _score(free, capacity, n, shape_req, s):
    sc = 0.0
    for d in range(3):
        c = capacity[n, d]
        if c > 0.0:
            sc += (free[n, d] - shape_req[s, d]) / c
    return sc


@njit(cache=True, error_model="numpy")
def _better(placement, score, best_score, node, best_node):
    """Is (score, node) preferred to (best_score, best_node) under best/worst fit?"""
    if placement == PLACEMENT_BEST_FIT:
        return score < best_score or (score == best_score and node < best_node)
    return score > best_score or (score == best_score and node < best_node)


@njit(cache=True, error_model="numpy")
def find_node_nb(free, capacity, pool_start, shape_req, s, placement, cand, c0, c1):
    """The node a task of request shape ``s`` goes to under ``placement``, or -1.

    Scalars and whole arrays only (no slices), so the hot path creates no array
    views.

    Parameters
    ----------
    free, capacity : float64[N, 3]
    pool_start : int64[Q + 1]
        Nodes of pool q are ``pool_start[q]:pool_start[q+1]``.
    shape_req : float64[S, 3]
    s : int
    placement : int
    cand : int64[:]
        Candidate nodes are ``cand[c0:c1]``; with ``c0 < 0`` every node is a
        candidate, and a pool whose nodes are too small for the request even
        when empty is skipped whole.
    c0, c1 : int
    """
    best = -1
    best_score = 0.0
    if c0 < 0:
        for q in range(pool_start.shape[0] - 1):
            a = pool_start[q]
            b = pool_start[q + 1]
            if a == b or not _fits(capacity, a, shape_req, s):
                continue
            for n in range(a, b):
                if _fits(free, n, shape_req, s):
                    if placement == PLACEMENT_FIRST_FIT:
                        return n
                    sc = _score(free, capacity, n, shape_req, s)
                    if best < 0 or _better(placement, sc, best_score, n, best):
                        best = n
                        best_score = sc
        return best
    for k in range(c0, c1):
        n = cand[k]
        if _fits(free, n, shape_req, s):
            if placement == PLACEMENT_FIRST_FIT:
                if best < 0 or n < best:
                    best = n
                continue
            sc = _score(free, capacity, n, shape_req, s)
            if best < 0 or _better(placement, sc, best_score, n, best):
                best = n
                best_score = sc
    return best


@njit(cache=True, error_model="numpy")
def _shape_head_before(store, base, key, ready, s1, s2):
    return task_before(key, ready, store[base[s1]], store[base[s2]])


@njit(cache=True, error_model="numpy")
def _merge_sift_down(mh, m, j, store, base, key, ready):
    item = mh[j]
    while True:
        left = 2 * j + 1
        if left >= m:
            break
        child = left
        if left + 1 < m and _shape_head_before(store, base, key, ready, mh[left + 1], mh[left]):
            child = left + 1
        if _shape_head_before(store, base, key, ready, mh[child], item):
            mh[j] = mh[child]
            j = child
        else:
            break
    mh[j] = item


@njit(cache=True, error_model="numpy")
def _builtin_key(policy, duration, priority, remaining, now):
    if policy == POLICY_FIFO:
        return now
    if policy == POLICY_PRIORITY:
        return -float(priority)
    if policy == POLICY_SJF:
        return duration
    return remaining  # POLICY_SRPT


@njit(cache=True, error_model="numpy")
def _accumulate(out_alloc, k, pool_alloc, last_t, warmup, t, n_ready):
    """Add the state held constant over [last_t, t], clipped to t >= warmup; returns the queue area."""
    lo = max(last_t, warmup)
    if t <= lo:
        return 0.0
    dt = t - lo
    for q in range(pool_alloc.shape[0]):
        for d in range(3):
            out_alloc[k, q, d] += pool_alloc[q, d] * dt
    return n_ready * dt


@njit(cache=True, error_model="numpy")
def _make_ready(j, g, gp, p, now, policy, custom, wa, remaining, key, ready, out_ready, task_shape,
                store, pos, base, hsize, active):
    """Local task j (global g, of global pipeline gp, local pipeline p) becomes ready at now."""
    ready[j] = now
    out_ready[g] = now
    key[j] = 0.0 if custom else _builtin_key(policy, wa.duration[g], wa.priority[gp], remaining[p], now)
    s = task_shape[g]
    hsize[s] = rh_push(store, pos, base[s], hsize[s], j, key, ready)
    if hsize[s] == 1:
        _activate(active, s)


@njit(cache=True, error_model="numpy")
def _activate(active, s):
    """Add shape s to the shapes with ready tasks.

    ``active : int64[S + 1]``: ``active[0]`` is the count, ``active[1:1+count]``
    the shapes, so that a pass looks only at shapes that have ready tasks.
    """
    active[0] += 1
    active[active[0]] = s


@njit(cache=True, error_model="numpy")
def _deactivate(active, s):
    n = active[0]
    for x in range(1, n + 1):
        if active[x] == s:
            active[x] = active[n]
            break
    active[0] = n - 1


@njit(cache=True, nogil=True, error_model="numpy")
def run_replication_nb(
    wa,
    k,
    task_shape,
    shape_req,
    capacity,
    node_pool,
    speed,
    n_pools,
    policy,
    placement,
    backfill,
    horizon,
    warmup,
    keyfn,
    out_ready,
    out_start,
    out_end,
    out_node,
    out_status,
    out_pipeline_end,
    out_rep,
    out_alloc,
):
    """Simulate replication ``k`` of the batch ``wa`` (a ``WorkloadArrays``).

    Parameters
    ----------
    wa : WorkloadArrays
    k : int
        Replication slot in the batch.
    task_shape : int64[T]
        Request shape of each task (index into ``shape_req``).
    shape_req : float64[S, 3]
    capacity : float64[N, 3]
    node_pool : int64[N]
    speed : float64[N]
    n_pools : int
    policy, placement : int
        Codes from ``constants``.
    backfill : bool
    horizon : float
        ``inf`` for none.
    warmup : float
        Start of the observation window of the time averages.
    keyfn : FunctionType(CUSTOM_KEY_SIGNATURE)
        Used only when ``policy == POLICY_CUSTOM``.
    out_ready, out_start, out_end : float64[T]
    out_node, out_status : int64[T]
    out_pipeline_end : float64[P]
        Completion time of each pipeline, NaN if it did not complete.
    out_rep : float64[R, 4]
        Per replication: end time, events applied, ready-queue area, passes.
    out_alloc : float64[R, Q, 3]
        Per replication and pool: time integral of the allocated amount over
        [warmup, end].

    Fills the slices of the output arrays that belong to replication k.
    """
    p0 = wa.rep_pipeline_ptr[k]
    p1 = wa.rep_pipeline_ptr[k + 1]
    t0 = wa.rep_task_ptr[k]
    t1 = wa.rep_task_ptr[k + 1]
    n_p = p1 - p0
    n_t = t1 - t0
    n_shapes = shape_req.shape[0]
    n_nodes = capacity.shape[0]

    # --- per-task state (local index i = global - t0) ---
    key = np.empty(n_t)
    ready = np.full(n_t, np.inf)  # inf until ready, so unset entries never sort first
    pred_left = np.empty(n_t, dtype=np.int64)
    pos = np.full(n_t, -1, dtype=np.int64)
    for i in range(n_t):
        g = t0 + i
        pred_left[i] = wa.n_pred[g]
        out_ready[g] = np.nan
        out_start[g] = np.nan
        out_end[g] = np.nan
        out_node[g] = -1
        out_status[g] = STATUS_NOT_STARTED

    # --- per-pipeline state ---
    remaining = np.zeros(n_p)  # srpt: reference seconds of not-started tasks
    tasks_left = np.empty(n_p, dtype=np.int64)
    touched = np.zeros(n_p, dtype=np.bool_)
    touched_list = np.empty(n_p, dtype=np.int64)
    for p in range(n_p):
        gp = p0 + p
        a = wa.task_ptr[gp]
        b = wa.task_ptr[gp + 1]
        tasks_left[p] = b - a
        s = 0.0
        for g in range(a, b):
            s += wa.duration[g]
        remaining[p] = s
        out_pipeline_end[gp] = np.nan

    # --- ready heaps, one per shape, sharing one store ---
    shape_count = np.zeros(n_shapes, dtype=np.int64)
    for i in range(n_t):
        shape_count[task_shape[t0 + i]] += 1
    base = np.zeros(n_shapes, dtype=np.int64)
    acc = 0
    for s in range(n_shapes):
        base[s] = acc
        acc += shape_count[s]
    store = np.empty(max(n_t, 1), dtype=np.int64)
    hsize = np.zeros(n_shapes, dtype=np.int64)
    active = np.zeros(n_shapes + 1, dtype=np.int64)  # shapes with ready tasks (see _activate)
    blocked_at = np.full(n_shapes, -1, dtype=np.int64)  # free-log position, -1: unknown
    merge = np.empty(max(n_shapes, 1), dtype=np.int64)
    n_ready = 0

    # --- nodes ---
    free = capacity.copy()
    pool_start = np.zeros(n_pools + 1, dtype=np.int64)  # nodes are numbered pool by pool
    for n in range(n_nodes):
        pool_start[node_pool[n] + 1] += 1
    for q in range(n_pools):
        pool_start[q + 1] += pool_start[q]
    free_log = np.empty(n_t + 1, dtype=np.int64)
    log_len = 0
    pool_alloc = np.zeros((n_pools, 3))

    # --- events: completions in a heap, arrivals as a sorted stream ---
    ev_time = np.empty(n_t + 1)
    ev_task = np.empty(n_t + 1, dtype=np.int64)
    ev_size = 0
    arrivals = np.argsort(wa.submit[p0:p1], kind="mergesort")  # ties stay in pipeline_id order
    next_arrival = 0

    now = 0.0
    last_t = 0.0
    queue_area = 0.0
    n_events = 0
    n_passes = 0
    custom = policy == POLICY_CUSTOM
    track_remaining = custom or policy == POLICY_SRPT  # only these keys read `remaining`

    while True:
        t_next = np.inf
        if ev_size > 0:
            t_next = ev_time[0]
        if next_arrival < n_p:
            ta = wa.submit[p0 + arrivals[next_arrival]]
            if ta < t_next:
                t_next = ta
        if t_next == np.inf or t_next > horizon:
            break
        now = t_next

        # time averages over [warmup, end]: the state is constant since last_t
        queue_area += _accumulate(out_alloc, k, pool_alloc, last_t, warmup, now, n_ready)
        last_t = now

        # 1. completions at `now`, by (pipeline_id, task index) = task index
        while ev_size > 0 and ev_time[0] == now:
            i = ev_task[0]
            ev_size = ev_pop(ev_time, ev_task, ev_size)
            n_events += 1
            g = t0 + i
            node = out_node[g]
            sg = task_shape[g]
            for d in range(3):
                free[node, d] += shape_req[sg, d]
                pool_alloc[node_pool[node], d] -= shape_req[sg, d]
            free_log[log_len] = node
            log_len += 1
            out_end[g] = now
            out_status[g] = STATUS_COMPLETED
            p = wa.task_pipeline[g] - p0
            tasks_left[p] -= 1
            if tasks_left[p] == 0:
                out_pipeline_end[p0 + p] = now
            for e in range(wa.succ_ptr[g], wa.succ_ptr[g + 1]):
                j = wa.succ[e] - t0
                pred_left[j] -= 1
                if pred_left[j] == 0:
                    _make_ready(j, t0 + j, p0 + p, p, now, policy, custom, wa, remaining, key, ready,
                                out_ready, task_shape, store, pos, base, hsize, active)
                    n_ready += 1

        # 2. (lifecycle triggers belong here, MODEL.md 3)

        # 3. arrivals at `now`, by pipeline_id
        while next_arrival < n_p and wa.submit[p0 + arrivals[next_arrival]] == now:
            p = arrivals[next_arrival]
            next_arrival += 1
            n_events += 1
            gp = p0 + p
            for g in range(wa.task_ptr[gp], wa.task_ptr[gp + 1]):
                if wa.n_pred[g] == 0:
                    _make_ready(g - t0, g, gp, p, now, policy, custom, wa, remaining, key, ready,
                                out_ready, task_shape, store, pos, base, hsize, active)
                    n_ready += 1

        # 4. one scheduling pass
        if n_ready == 0:
            continue
        n_passes += 1
        if custom:
            for x in range(1, active[0] + 1):
                s = active[x]
                b = base[s]
                for jj in range(hsize[s]):
                    j = store[b + jj]
                    g = t0 + j
                    gp = wa.task_pipeline[g]
                    sg = task_shape[g]
                    kv = keyfn(
                        now, ready[j], wa.duration[g], shape_req[sg, 0], shape_req[sg, 1], shape_req[sg, 2],
                        wa.task_type[g],
                        wa.pipeline_id[gp], wa.priority[gp], wa.model[gp], wa.submit[gp], remaining[gp - p0],
                    )
                    if kv != kv:  # NaN sorts last
                        kv = np.inf
                    key[j] = kv
                rh_heapify(store, pos, b, hsize[s], key, ready)

        m = 0
        for x in range(1, active[0] + 1):
            s = active[x]
            b0 = blocked_at[s]
            if backfill and b0 >= 0 and log_len - b0 < n_nodes:
                # Known to fit nowhere but on the nodes freed since b0. If none of
                # those fits now, none will later in this pass (free capacity
                # only falls within a pass): skip the shape without merging it.
                if b0 == log_len or find_node_nb(free, capacity, pool_start, shape_req, s, placement,
                                                 free_log, b0, log_len) < 0:
                    blocked_at[s] = log_len
                    continue
            merge[m] = s
            m += 1
        for j in range((m >> 1) - 1, -1, -1):
            _merge_sift_down(merge, m, j, store, base, key, ready)
        n_touched = 0
        while m > 0:
            s = merge[0]
            i = store[base[s]]
            g = t0 + i
            b0 = blocked_at[s]
            if b0 < 0 or log_len - b0 >= n_nodes:
                # unknown, or more nodes were freed since than a full scan reads
                node = find_node_nb(free, capacity, pool_start, shape_req, s, placement, free_log, -1, -1)
            else:
                node = find_node_nb(free, capacity, pool_start, shape_req, s, placement, free_log, b0, log_len)
            if node < 0:
                blocked_at[s] = log_len
                if not backfill:
                    break
                m -= 1
                merge[0] = merge[m]
                _merge_sift_down(merge, m, 0, store, base, key, ready)
                continue
            # start task i on node
            hsize[s] = rh_pop(store, pos, base[s], hsize[s], key, ready)
            n_ready -= 1
            for d in range(3):
                free[node, d] -= shape_req[s, d]
                pool_alloc[node_pool[node], d] += shape_req[s, d]
            out_start[g] = now
            out_node[g] = node
            out_status[g] = STATUS_UNFINISHED  # until its completion is applied
            ev_size = ev_push(ev_time, ev_task, ev_size, now + wa.duration[g] / speed[node], i)
            p = wa.task_pipeline[g] - p0
            if track_remaining and not touched[p]:
                touched[p] = True
                touched_list[n_touched] = p
                n_touched += 1
            if hsize[s] == 0:
                _deactivate(active, s)
                m -= 1
                merge[0] = merge[m]
            _merge_sift_down(merge, m, 0, store, base, key, ready)

        # The started tasks lowered their pipelines' remaining work. It is summed
        # afresh in task-index order (not decremented) so that the float equals
        # "the sum of the durations of the tasks not started" however it is
        # computed. Under srpt the other ready tasks of those pipelines get the
        # new, smaller key for the next pass.
        for kk in range(n_touched):
            p = touched_list[kk]
            touched[p] = False
            gp = p0 + p
            rem = 0.0
            for g in range(wa.task_ptr[gp], wa.task_ptr[gp + 1]):
                if out_status[g] == STATUS_NOT_STARTED:
                    rem += wa.duration[g]
            remaining[p] = rem
            if policy == POLICY_SRPT:
                for g in range(wa.task_ptr[gp], wa.task_ptr[gp + 1]):
                    j = g - t0
                    if pos[j] >= 0:
                        key[j] = rem
                        rh_sift_up(store, pos, base[task_shape[g]], pos[j], key, ready)

    end = now
    if horizon < np.inf:
        queue_area += _accumulate(out_alloc, k, pool_alloc, last_t, warmup, horizon, n_ready)
        end = horizon
    out_rep[k, 0] = end
    out_rep[k, 1] = n_events
    out_rep[k, 2] = queue_area
    out_rep[k, 3] = n_passes
