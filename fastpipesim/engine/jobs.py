"""The lean event loop for jobs (one-task pipelines). Every function here is Numba ``njit``.

:func:`run_jobs_nb` simulates one replication whose pipelines are each one task
with no edges, on a static cluster of pooled nodes, under a built-in policy of
MODEL.md 5 (fifo, priority, sjf, srpt) and a placement of MODEL.md 6
(first_fit, best_fit, worst_fit), with or without backfill, with no lifecycle,
no rules, no series and no devices. It fills exactly the outputs that
:func:`fastpipesim.engine.loop.run_replication_nb` (the general loop) fills for
such a run, with the same bits: task and pipeline records, the end time, the
number of events, the ready-queue area and the number of passes (``out_rep``),
the allocation integrals (``out_alloc``) and ``out_ext``. ``simulate`` calls it
instead of the general loop when a replication is eligible (``lean_eligible``
in simulate.py); tests/test_lean_loop.py compares the two paths.

What it implements, and why the restrictions make it exact
-----------------------------------------------------------
- MODEL.md 3, events and time. An instant applies the completions at that time
  in task-index order (the completion heap is ordered by (time, task index), as
  the general loop's; with one task per pipeline this is (pipeline_id, task
  index)), then the arrivals at that time in pipeline order (sorted arrivals,
  ties by pipeline index), then one scheduling pass if a task is ready. With no
  lifecycle, no elastic pools and no automation rules there are no other kinds
  of event. Each completion and each arrival counts one event; an instant with
  ready tasks counts one pass, whether or not the pass starts anything (as in
  the general loop). Events after the horizon are not applied; the state held
  over [last event, horizon] is integrated up to the horizon, and the end time is
  the horizon (the last event's time without one).
- A job's only task has no predecessor, so it becomes ready when its pipeline
  arrives, and its pipeline finishes (completed) when it completes: nothing of
  MODEL.md 3's successor release, srpt's changing remaining work (a one-task
  pipeline's remaining work is its task's duration until the task starts, the
  sjf key) or section 7's cancellations can happen.
- MODEL.md 4, the pass, and 5, the keys. Keys are fixed when a task becomes
  ready: fifo's is the ready time, priority's minus the pipeline's priority,
  sjf's and srpt's the duration. The pass walks the ready tasks in (key, ready
  time, task index) order, merging one queue per request shape as the general
  loop does; under fifo a shape's queue is its tasks in arrival order (they
  start in that order: once a shape's head does not fit, no task of the shape
  starts in that pass), otherwise a heap (heaps.py). A task that fits no node
  ends the pass without backfill and takes its shape out of the pass with it
  (free capacity only falls within a pass). A shape that fitted nowhere at a
  pass still fits nowhere at a later pass if no task completed since (free
  capacity only falls between completions): that pass skips it with backfill;
  without backfill it is merged, and its head stops the pass as before.
- MODEL.md 6, placement: the node is :func:`find_node_nb`'s full scan, the
  general loop's own function (the general loop scans only the nodes freed since
  a shape was blocked, which gives the same node: the others only lost
  capacity). A task runs for duration / speed of its node (on a node of speed 1.0 the
  duration itself, which is what the division gives).
- The time integrals (MODEL.md 9): over [max(last event, warmup), now] at each
  instant, the queue length times the interval and each pool's allocation times
  the interval, added in the same order as the general loop adds them, so the
  floating-point sums are the same (the free capacity and each pool's allocation
  too: completions and starts come in the same order and change them by the same
  amounts).
"""
import numpy as np
from numba import njit

from .constants import (
    OUTCOME_COMPLETED,
    OUTCOME_NOT_SUBMITTED,
    OUTCOME_UNFINISHED,
    POLICY_FIFO,
    POLICY_PRIORITY,
    RUN_OK,
    STATUS_COMPLETED,
    STATUS_NOT_STARTED,
    STATUS_UNFINISHED,
    TRIGGER_EXOGENOUS,
)
from .heaps import ev_pop, ev_push, rh_pop, rh_push
from .loop import _accumulate, _activate, _deactivate, _merge_sift_down, arrival_order_nb, find_node_nb


@njit(cache=True, error_model="numpy")
def one_task_jobs_nb(wa, k):
    """Is every pipeline of replication k of ``wa`` one task with no edge (and no slot)?

    Pipeline ``p0 + i`` then holds task ``t0 + i`` alone, which :func:`run_jobs_nb`
    relies on.
    """
    p0 = wa.rep_pipeline_ptr[k]
    p1 = wa.rep_pipeline_ptr[k + 1]
    t0 = wa.rep_task_ptr[k]
    if wa.rep_task_ptr[k + 1] - t0 != p1 - p0:
        return False
    for i in range(p1 - p0):
        p = p0 + i
        g = t0 + i
        if (wa.task_ptr[p] != g or wa.task_ptr[p + 1] != g + 1 or wa.pipeline_id[p] < 0 or wa.n_pred[g] != 0
                or wa.task_pipeline[g] != p or wa.succ_ptr[g + 1] != wa.succ_ptr[g]):
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def run_jobs_nb(
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
    out_ready,
    out_start,
    out_end,
    out_node,
    out_status,
    out_pipeline_end,
    out_outcome,
    out_trigger,
    out_source,
    out_rep,
    out_alloc,
    out_ext,
):
    """Simulate replication ``k`` of ``wa``, whose pipelines are jobs (:func:`one_task_jobs_nb`).

    The arguments are those of :func:`fastpipesim.engine.loop.run_replication_nb`
    of the same name (``policy`` one of fifo, priority, sjf, srpt; ``placement``
    one of first_fit, best_fit, worst_fit); there is no key function, lifecycle,
    rules, elastic cluster, series or devices. Fills the same slices of the same
    outputs with the same values.

    Parameters
    ----------
    wa : WorkloadArrays
    k : int
    task_shape : int64[T]
    shape_req : float64[S, 3]
    capacity : float64[N, 3]
    node_pool : int64[N]
    speed : float64[N]
    n_pools : int
    policy, placement : int
    backfill : bool
    horizon, warmup : float
    out_ready, out_start, out_end : float64[T]
    out_node, out_status : int64[T]
    out_pipeline_end : float64[P]
    out_outcome, out_trigger, out_source : int64[P]
    out_rep : float64[R, 4]
    out_alloc : float64[R, Q, 3]
    out_ext : int64[R, 4]

    Returns
    -------
    bool
        True; False if more jobs ran at once than the completion heap has room for
        (which its bound rules out): the caller then runs the general loop, with
        ``out_alloc[k]`` zeroed again.
    """
    submit = wa.submit
    duration = wa.duration
    p0 = wa.rep_pipeline_ptr[k]
    t0 = wa.rep_task_ptr[k]
    n = wa.rep_pipeline_ptr[k + 1] - p0  # job i: pipeline p0 + i, task t0 + i
    n_shapes = shape_req.shape[0]
    n_nodes = capacity.shape[0]

    for i in range(n):
        g = t0 + i
        out_ready[g] = np.nan
        out_start[g] = np.nan
        out_end[g] = np.nan
        out_node[g] = -1
        out_status[g] = STATUS_NOT_STARTED
        gp = p0 + i
        out_pipeline_end[gp] = np.nan
        out_outcome[gp] = OUTCOME_NOT_SUBMITTED
        out_trigger[gp] = TRIGGER_EXOGENOUS
        out_source[gp] = -1

    free = capacity.copy()
    pool_start = np.zeros(n_pools + 1, dtype=np.int64)  # nodes are numbered pool by pool
    for nd in range(n_nodes):
        pool_start[node_pool[nd] + 1] += 1
    for q in range(n_pools):
        pool_start[q + 1] += pool_start[q]
    pool_alloc = np.zeros((n_pools, 3))

    arrivals = arrival_order_nb(submit, p0, n)
    in_order = arrivals.shape[0] == 0  # pipeline index order is arrival order

    # --- ready queues ---
    # fifo with one request shape: the ready jobs are the arrivals from `head` on (they
    # start in arrival order), no queue to keep. Otherwise one queue per shape in `store`
    # (shape s owns store[base[s]:base[s] + count of s]): under fifo its jobs in arrival
    # order, filled up front (an arrival moves the queue's end on), else a heap by
    # (key, ready time, job index), the keys fixed at arrival (MODEL.md 5).
    fifo = policy == POLICY_FIFO
    one_queue = fifo and n_shapes == 1
    ready = submit[p0:p0 + n]  # a job is ready when it arrives
    n_key = 0 if fifo else n
    key = np.empty(n_key)
    for i in range(n_key):
        key[i] = -float(wa.priority[p0 + i]) if policy == POLICY_PRIORITY else duration[t0 + i]
    pos = np.empty(n_key, dtype=np.int64)  # (written by the heaps; fifo's queues need none)
    n_store = 0 if one_queue else n
    store = np.empty(n_store, dtype=np.int64)
    base = np.zeros(n_shapes, dtype=np.int64)
    front = np.zeros(n_shapes, dtype=np.int64)
    hsize = np.zeros(n_shapes, dtype=np.int64)
    active = np.zeros(n_shapes + 1, dtype=np.int64)  # shapes with ready jobs (loop._activate)
    merge = np.empty(n_shapes, dtype=np.int64)
    if not one_queue:
        count = np.zeros(n_shapes + 1, dtype=np.int64)
        for i in range(n):
            count[task_shape[t0 + i] + 1] += 1
        for s in range(n_shapes):
            base[s] = count[s]
            count[s + 1] += count[s]
            front[s] = base[s]
        if fifo:
            for x in range(n):
                i = x if in_order else arrivals[x]
                s = task_shape[t0 + i]
                store[count[s]] = i
                count[s] += 1
    # the number of completions applied when each shape last fitted no node (-1: never)
    blocked_at = np.empty(n_shapes, dtype=np.int64)
    for s in range(n_shapes):
        blocked_at[s] = -1

    # --- completions in a heap by (time, job index) ---
    # Its room is a bound on the jobs running at once, so that it never grows: arrays
    # reassigned in the loop (as a growing heap's are) cost Numba a reference count at
    # every event, which measured as half the loop's time. A node holds at most
    # (capacity + FIT_TOL) / request jobs of a shape in each dimension the shape
    # requests (MODEL.md 4.3), and jobs of other shapes only leave it less room; one
    # more per node and shape covers the rounding of the free capacity.
    ev_cap = 0
    for nd in range(n_nodes):
        for s in range(n_shapes):
            most = np.inf
            for d in range(3):
                r = shape_req[s, d]
                if r > 0.0:
                    most = min(most, (capacity[nd, d] + 1e-6) / r)
            if not most < n:
                ev_cap = n  # (a shape that requests nothing, or that many jobs fit)
                break
            ev_cap += int(most) + 1
        if ev_cap >= n:
            break
    ev_cap = min(ev_cap, n) + 1
    ev_time = np.empty(ev_cap)
    ev_task = np.empty(ev_cap, dtype=np.int64)
    ev_size = 0

    now = 0.0
    last_t = 0.0
    queue_area = 0.0
    n_events = 0
    n_passes = 0
    n_ready = 0
    n_done = 0  # completions applied
    n_arrived = 0
    head = 0  # (one queue) the arrival position of the first job not started
    while True:
        t_next = np.inf
        if ev_size > 0:
            t_next = ev_time[0]
        if n_arrived < n:
            ta = submit[p0 + (n_arrived if in_order else arrivals[n_arrived])]
            if ta < t_next:
                t_next = ta
        if t_next == np.inf or t_next > horizon:
            break
        now = t_next

        # time averages over [warmup, end]: the state is constant since last_t
        queue_area += _accumulate(out_alloc, k, pool_alloc, last_t, warmup, now, n_ready)
        last_t = now

        # 1. completions at `now`, by task index
        while ev_size > 0 and ev_time[0] == now:
            i = ev_task[0]
            ev_size = ev_pop(ev_time, ev_task, ev_size)
            g = t0 + i
            n_events += 1
            node = out_node[g]
            s = task_shape[g]
            q = node_pool[node]
            for d in range(3):
                free[node, d] += shape_req[s, d]
                pool_alloc[q, d] -= shape_req[s, d]
            out_end[g] = now
            out_status[g] = STATUS_COMPLETED
            out_pipeline_end[p0 + i] = now
            out_outcome[p0 + i] = OUTCOME_COMPLETED
            n_done += 1

        # 2. arrivals at `now`, by pipeline index
        while n_arrived < n:
            i = n_arrived if in_order else arrivals[n_arrived]
            if submit[p0 + i] != now:
                break
            n_arrived += 1
            n_events += 1
            out_outcome[p0 + i] = OUTCOME_UNFINISHED
            out_ready[t0 + i] = now
            n_ready += 1
            if not one_queue:
                s = task_shape[t0 + i]
                if fifo:
                    hsize[s] += 1  # (already in its place in the store)
                else:
                    hsize[s] = rh_push(store, pos, base[s], hsize[s], i, key, ready)
                if hsize[s] == 1:
                    _activate(active, s)

        # 3. one scheduling pass: the ready jobs in (key, ready time, index) order, each
        # to the node its placement chooses, until one fits nowhere (without backfill) or
        # every shape left fits nowhere
        if n_ready == 0:
            continue
        n_passes += 1
        m = 0
        if one_queue:
            if blocked_at[0] == n_done:
                continue  # no node fitted the head, and none gained capacity since
        else:
            for x in range(1, active[0] + 1):
                s = active[x]
                if backfill and blocked_at[s] == n_done:
                    continue  # fits nowhere yet (without backfill its head must stop the pass)
                merge[m] = s
                m += 1
            for j in range((m >> 1) - 1, -1, -1):
                if fifo:
                    _merge_sift_down(merge, m, j, store, front, ready, ready)
                else:
                    _merge_sift_down(merge, m, j, store, front, key, ready)
        while True:
            # the next job i of shape s, and its node
            if one_queue:
                if n_ready == 0:
                    break
                s = 0
            else:
                if m == 0:
                    break
                s = merge[0]
            node = find_node_nb(free, capacity, pool_start, shape_req, s, placement, pool_start, -1, 0)
            if node < 0:
                blocked_at[s] = n_done
                if one_queue or not backfill:
                    break
                m -= 1
                merge[0] = merge[m]
                if fifo:
                    _merge_sift_down(merge, m, 0, store, front, ready, ready)
                else:
                    _merge_sift_down(merge, m, 0, store, front, key, ready)
                continue
            if one_queue:
                i = head if in_order else arrivals[head]
                head += 1
            else:
                i = store[front[s]]
                if fifo:
                    front[s] += 1
                    hsize[s] -= 1
                else:
                    hsize[s] = rh_pop(store, pos, front[s], hsize[s], key, ready)
            n_ready -= 1
            # start job i on node
            g = t0 + i
            q = node_pool[node]
            for d in range(3):
                free[node, d] -= shape_req[s, d]
                pool_alloc[q, d] += shape_req[s, d]
            out_start[g] = now
            out_node[g] = node
            out_status[g] = STATUS_UNFINISHED  # until its completion is applied
            if ev_size == ev_cap:
                return False  # (never, by the bound above)
            v = speed[node]
            t_end = now + (duration[g] if v == 1.0 else duration[g] / v)  # (x / 1.0 is x: no division)
            ev_size = ev_push(ev_time, ev_task, ev_size, t_end, i)
            if not one_queue:
                if hsize[s] == 0:
                    _deactivate(active, s)
                    m -= 1
                    merge[0] = merge[m]
                if fifo:
                    _merge_sift_down(merge, m, 0, store, front, ready, ready)
                else:
                    _merge_sift_down(merge, m, 0, store, front, key, ready)

    end = now
    if horizon < np.inf:
        queue_area += _accumulate(out_alloc, k, pool_alloc, last_t, warmup, horizon, n_ready)
        end = horizon
    out_rep[k, 0] = end
    out_rep[k, 1] = n_events
    out_rep[k, 2] = queue_area
    out_rep[k, 3] = n_passes
    out_ext[k, 0] = RUN_OK
    out_ext[k, 1] = -1
    out_ext[k, 2] = n
    out_ext[k, 3] = n
    return True
