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
request), each ordered by (key, ready time, task index); under fifo, where a
task's key is the time it becomes ready, in one sorted run per shape instead
(heaps.py), which a long ready queue pushes and pops in O(1). A pass merges the heads
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

Optional parts, compiled only into the runs that use them
---------------------------------------------------------
Each optional part is an argument that is None when a run does not use it, and
every line of its code sits under ``if <argument> is not None``, which Numba prunes
before typing: the custom key (``keyfn``), the lifecycle (``lc``), the rules'
reserve (``rules``), an elastic cluster (``el``, MODEL.md 11, with ``elastic.py``)
and binned series (``series``, MODEL.md 13, with ``series.py``). A static run
compiles and runs none of the last two. In an elastic run the nodes are slots; a
slot that is not up has free capacity -1, so placement needs no test of its own;
three more event sources (interruptions, boot completions, ticks) fold into the
next event time, applied in MODEL.md 3's order; an interrupted attempt's completion
stays in the heap and is dropped when it surfaces (its task is no longer running,
or its attempt ends at another time).

GPUs as devices (``dv``, MODEL.md 12, with ``devices.py``), also compiled only into
the runs that use them: the nodes' free capacity is then the device state's (its
gpu column the sum of the device shares), a pass places a task's parts with
``place_gang_nb`` (all or none, scores cached per shape and node), a completion
releases every part, and the free and fragmented GPUs after each instant are
written to the timeline and integrated. The shapes of the ready queues are refined
by GPU-model spec and replicas, so a shape still holds one request; the skip of a
blocked shape across passes holds for single parts only (a gang that did not fit
may have fitted some nodes). On an elastic cluster too (MODEL.md 12.12): a slot's
devices are reset when a new instance comes up (``devices.sync_slots_nb``), an
interruption stops every gang with a part on the node (its other parts released
at once), and the GPU totals and their integrals count the up nodes only.
"""
import numpy as np
from numba import cfunc, njit, types

from .constants import (
    FIT_TOL,
    GATE_ACCURACY,
    GATE_FAIRNESS,
    GATE_ROBUSTNESS,
    OUTCOME_COMPLETED,
    OUTCOME_NOT_SUBMITTED,
    OUTCOME_REJECTED_BIAS_CHECK,
    OUTCOME_REJECTED_EVALUATE,
    OUTCOME_REJECTED_ROBUSTNESS_CHECK,
    OUTCOME_UNFINISHED,
    PLACEMENT_BEST_FIT,
    PLACEMENT_FIRST_FIT,
    POLICY_CUSTOM,
    POLICY_FIFO,
    POLICY_PRIORITY,
    POLICY_SJF,
    POLICY_SRPT,
    POLICY_STALENESS,
    AUTOSCALER_STATIC,
    AUTOSCALER_TARGET_UTILIZATION,
    NODE_BOOTING,
    NODE_INITIAL,
    NODE_REPLACEMENT,
    NODE_UP,
    RELEASE_INTERRUPTED,
    RUN_NEED_NODE_ROWS,
    RUN_NEED_RESERVE,
    RUN_NEED_TIMELINE_ROWS,
    RUN_OK,
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    STATUS_NOT_STARTED,
    STATUS_UNFINISHED,
    TIES_INDEX,
    TRIGGER_EXOGENOUS,
    TRIGGER_ON_DRIFT,
    TRIGGER_PERIODIC,
    TYPE_BIAS_CHECK,
    TYPE_COMPRESS,
    TYPE_DEPLOY,
    TYPE_EVALUATE,
    TYPE_ROBUSTNESS_CHECK,
)
from .heaps import (
    ev_pop,
    ev_push,
    fq_push,
    fq_remove,
    rh_heapify,
    rh_pop,
    rh_push,
    rh_remove,
    rh_sift_up,
    task_before,
)
from .elastic import (
    C_INTERRUPTIONS,
    C_RESTARTED,
    C_WORK_LOST,
    P_INTERVAL,
    add_billing_nb,
    checkpointed_work_nb,
    next_boot_nb,
    next_interruption_nb,
    node_up_nb,
    release_node_nb,
    request_node_nb,
    sort_tasks_nb,
    tick_nb,
)
from .lifecycle import close_segment_nb, crossing_time_nb, deployed_accuracy_nb, first_periodic_index_nb
from .devices import (
    fits_any_nb,
    gpu_totals_nb,
    gpu_totals_up_nb,
    init_frag_nb,
    init_state_nb,
    part_fits_empty_nb,
    place_gang_nb,
    release_nb,
    release_parts_nb,
    sync_slots_nb,
    update_frag_nb,
)
from .series import series_accumulate_nb, series_count_nb

# Signature of a custom policy key (MODEL.md 5): the kernel calls it through a
# first-class function pointer, so the kernel itself stays cached and only the
# user's function is compiled. Arguments, in order:
#   now, ready, duration, cpu, gpu, mem_gb, type code, pipeline_id, priority,
#   model_id, submit_time, remaining (srpt's remaining work of the pipeline),
#   accuracy (the model's deployed accuracy now), threshold, stale (1.0 or 0.0)
#   (the last three NaN, NaN, 0.0 for a pipeline whose model has no lifecycle state)
CUSTOM_KEY_SIGNATURE = types.float64(
    *([types.float64] * 6),   # now, ready, duration, cpu, gpu, mem_gb
    *([types.int64] * 4),     # task type, pipeline_id, priority, model_id
    *([types.float64] * 5),   # submit_time, remaining, accuracy, threshold, stale
)


def _no_custom_key(now, ready, duration, cpu, gpu, mem, ttype, pid, priority, model, submit, remaining,
                   accuracy, threshold, stale):
    """Placeholder passed when the policy is built in; never called."""
    return 0.0


def __getattr__(name):
    # ``no_custom_key``, the compiled placeholder, is made on first use: compiling
    # (or loading) a cfunc initializes Numba's whole compiler, which would
    # otherwise cost every ``import fastpipesim`` a third of a second.
    if name == "no_custom_key":
        f = globals()["no_custom_key"] = cfunc(CUSTOM_KEY_SIGNATURE, cache=True)(_no_custom_key)
        return f
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@njit(cache=True, error_model="numpy", inline="always")
def _fits(free, n, shape_req, s):
    out = (
        free[n, 0] >= shape_req[s, 0] - FIT_TOL
        and free[n, 1] >= shape_req[s, 1] - FIT_TOL
        and free[n, 2] >= shape_req[s, 2] - FIT_TOL
    )
    free, shape_req  # keep-alive (heaps.py)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _score(free, capacity, n, shape_req, s):
    sc = 0.0
    for d in range(3):
        c = capacity[n, d]
        if c > 0.0:
            sc += (free[n, d] - shape_req[s, d]) / c
    free, capacity, shape_req  # keep-alive (heaps.py)
    return sc


@njit(cache=True, error_model="numpy", inline="always")
def _better(placement, score, best_score, node, best_node):
    """Is (score, node) preferred to (best_score, best_node) under best/worst fit?"""
    if placement == PLACEMENT_BEST_FIT:
        return score < best_score or (score == best_score and node < best_node)
    return score > best_score or (score == best_score and node < best_node)


@njit(cache=True, error_model="numpy", inline="always")
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
        first = False  # first fit found its node: stop (one exit, see heaps.py on keep-alive lines)
        for q in range(pool_start.shape[0] - 1):
            a = pool_start[q]
            b = pool_start[q + 1]
            if a == b or not _fits(capacity, a, shape_req, s):
                continue
            for n in range(a, b):
                if _fits(free, n, shape_req, s):
                    if placement == PLACEMENT_FIRST_FIT:
                        best = n
                        first = True
                        break
                    sc = _score(free, capacity, n, shape_req, s)
                    if best < 0 or _better(placement, sc, best_score, n, best):
                        best = n
                        best_score = sc
            if first:
                break
    else:
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
    free, capacity, pool_start, shape_req, cand  # keep-alive (heaps.py)
    return best


@njit(cache=True, error_model="numpy", inline="always")
def _shape_head_before(store, front, key, ready, s1, s2):
    out = task_before(key, ready, store[front[s1]], store[front[s2]])
    store, front, key, ready  # keep-alive (heaps.py)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _merge_sift_down(mh, m, j, store, front, key, ready):
    item = mh[j]
    while True:
        left = 2 * j + 1
        if left >= m:
            break
        child = left
        if left + 1 < m and _shape_head_before(store, front, key, ready, mh[left + 1], mh[left]):
            child = left + 1
        if _shape_head_before(store, front, key, ready, mh[child], item):
            mh[j] = mh[child]
            j = child
        else:
            break
    mh[j] = item
    mh, store, front, key, ready  # keep-alive (heaps.py)


@njit(cache=True, error_model="numpy", inline="always")
def _builtin_key(policy, duration, priority, remaining, g, gp, p, now):
    """The key of task g (of pipeline gp, local p); ``remaining`` is read by srpt alone (it is empty otherwise)."""
    if policy == POLICY_FIFO:
        out = now
    elif policy == POLICY_PRIORITY:
        out = -float(priority[gp])
    elif policy == POLICY_SJF:
        out = duration[g]
    else:
        out = remaining[p]  # POLICY_SRPT
    duration, priority, remaining  # keep-alive (heaps.py)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _accumulate(out_alloc, k, pool_alloc, last_t, warmup, t, n_ready):
    """Add the state held constant over [last_t, t], clipped to t >= warmup; returns the queue area."""
    lo = max(last_t, warmup)
    area = 0.0
    if t > lo:
        dt = t - lo
        for q in range(pool_alloc.shape[0]):
            for d in range(3):
                out_alloc[k, q, d] += pool_alloc[q, d] * dt
        area = n_ready * dt
    out_alloc, pool_alloc  # keep-alive (heaps.py)
    return area


@njit(cache=True, error_model="numpy", inline="always")
def _make_ready(j, g, gp, p, now, policy, custom, duration, priority, remaining, key, ready, out_ready, task_shape,
                store, pos, front, hsize, active, fifo):
    """Local task j (global g, of global pipeline gp, local pipeline p) becomes ready at now.

    It joins its shape's sorted run under fifo, its shape's heap otherwise (heaps.py).
    """
    ready[j] = now
    out_ready[g] = now
    key[j] = 0.0 if custom else _builtin_key(policy, duration, priority, remaining, g, gp, p, now)
    s = task_shape[g]
    if fifo:
        hsize[s] = fq_push(store, pos, front[s], hsize[s], j, key, ready)
    else:
        hsize[s] = rh_push(store, pos, front[s], hsize[s], j, key, ready)
    if hsize[s] == 1:
        _activate(active, s)
    duration, priority, remaining, key, ready, out_ready  # keep-alive (heaps.py)
    task_shape, store, pos, front, hsize, active  # keep-alive


@njit(cache=True, error_model="numpy", inline="always")
def _activate(active, s):
    """Add shape s to the shapes with ready tasks.

    ``active : int64[S + 1]``: ``active[0]`` is the count, ``active[1:1+count]``
    the shapes, so that a pass looks only at shapes that have ready tasks.
    """
    active[0] += 1
    active[active[0]] = s
    (active,)  # keep-alive (heaps.py)


@njit(cache=True, error_model="numpy", inline="always")
def _deactivate(active, s):
    n = active[0]
    for x in range(1, n + 1):
        if active[x] == s:
            active[x] = active[n]
            break
    active[0] = n - 1
    (active,)  # keep-alive (heaps.py)


@njit(cache=True, error_model="numpy")
def _cancel_rest(p, gp, t0, task_ptr, out_status, tasks_left, pos, store, front, hsize, active, key, ready, task_shape,
                 fifo):
    """A rejected pipeline's tasks that have not started are cancelled (MODEL.md 7).

    Ready ones leave their shape heaps. Returns how many ready tasks were removed.
    """
    removed = 0
    for g in range(task_ptr[gp], task_ptr[gp + 1]):
        if out_status[g] != STATUS_NOT_STARTED:
            continue
        out_status[g] = STATUS_CANCELLED
        tasks_left[p] -= 1
        j = g - t0
        if pos[j] >= 0:
            s = task_shape[g]
            if fifo:
                hsize[s] = fq_remove(store, pos, front[s], hsize[s], j)
            else:
                hsize[s] = rh_remove(store, pos, front[s], hsize[s], j, key, ready)
            removed += 1
            if hsize[s] == 0:
                _deactivate(active, s)
    return removed


@njit(cache=True, error_model="numpy")
def _grow_events(ev_time, ev_task, size):
    """The event heap's arrays with twice the room (the first ``size`` entries kept)."""
    t = np.empty(2 * ev_time.shape[0])
    x = np.empty(2 * ev_time.shape[0], dtype=np.int64)
    for i in range(size):  # a loop, not slices: slice assignment costs seconds of compile time
        t[i] = ev_time[i]
        x[i] = ev_task[i]
    return t, x


@njit(cache=True, error_model="numpy")
def _next_trigger(on_drift, stale, cross, per_next):
    """Earliest pending trigger time: a drift crossing of a fresh on_drift model, or a periodic time."""
    t = np.inf
    for m in range(on_drift.shape[0]):
        if on_drift[m] and not stale[m]:
            c = max(cross[m], 0.0)
            if c < t:
                t = c
        if per_next[m] < t:
            t = per_next[m]
    return t


@njit(cache=True, error_model="numpy")
def arrival_order_nb(submit, p0, n):
    """Order of pipelines p0 .. p0+n-1 by submit time, ties in pipeline_id (index) order.

    ``submit : float64[P]``; returns ``int64[n]``, indices relative to p0, or an
    empty array for the identity, when the times are already sorted (generated
    workloads, queues, most traces): one pass instead of a sort, and no array. Otherwise a bottom-up merge sort,
    stable as ``np.argsort(kind="mergesort")`` (written out: Numba's own costs a
    second and a half of compile time).
    """
    is_sorted = True
    for i in range(1, n):
        if submit[p0 + i] < submit[p0 + i - 1]:
            is_sorted = False
            break
    if is_sorted:
        return np.empty(0, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[i] = i
    tmp = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            for x in range(lo, hi):
                # take from the left run unless the right one is strictly earlier: stable
                if i < mid and (j >= hi or not submit[p0 + order[j]] < submit[p0 + order[i]]):
                    tmp[x] = order[i]
                    i += 1
                else:
                    tmp[x] = order[j]
                    j += 1
        order, tmp = tmp, order
        width *= 2
    return order


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
    lc,
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
    out_model,
    out_ext,
    rules=None,
    el=None,
    scalefn=None,
    series=None,
    dv=None,
):
    """Simulate replication ``k`` of the batch ``wa`` (a ``WorkloadArrays``).

    Parameters
    ----------
    wa : WorkloadArrays
        With automation rules, replication k's slice may end in empty *slots*
        (pipelines with pipeline_id -1, after every real pipeline) into which
        the loop copies the pipelines the rules submit; its arrays are then
        written to.
    k : int
        Replication slot in the batch.
    task_shape : int64[T]
        Request shape of each task (index into ``shape_req``); written for slots.
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
    keyfn : FunctionType(CUSTOM_KEY_SIGNATURE) or None
        The key of ``POLICY_CUSTOM``; None with a built-in policy, which compiles
        the loop without the custom key's code (Numba prunes a branch on
        ``arg is None`` before typing it).
    lc : LifecycleArrays or None
        Models and gates; None (or no models): no lifecycle, and None compiles the
        loop without the lifecycle's code.
    out_ready, out_start, out_end : float64[T]
    out_node, out_status : int64[T]
    out_pipeline_end : float64[P]
        When each pipeline finished (completed, or rejected and its last
        running task ended), NaN if it did not.
    out_outcome, out_trigger, out_source : int64[P]
        ``constants.OUTCOME_*``, ``constants.TRIGGER_*``, and for a submitted
        copy the reserve pipeline it copies (-1 otherwise).
    out_rep : float64[R, 4]
        Per replication: end time, events applied, ready-queue area, passes.
    out_alloc : float64[R, Q, 3]
        Per replication and pool: time integral of the allocated amount over
        [warmup, end].
    out_model : float64[M, N_MODEL_ACCUMULATORS]
        This replication's per-model accumulators (``constants.MODEL_ACCUMULATORS``).
    out_ext : int64[R, 4]
        Status (``RUN_OK`` or ``RUN_NEED_RESERVE``), the model row that ran out
        of reserve, and the pipelines and tasks used (real ones and filled slots).
    rules : RuleArrays or None
        The reserve of pipelines the automation rules submit; None when no model
        has a rule (the loop is then compiled without the rules' code).
    el : ElasticArrays or None
        An elastic cluster (MODEL.md 11; ``elastic.py``): the nodes are then its
        slots, and ``out_ext[k, 0]`` may be ``RUN_NEED_NODE_ROWS``. None for a
        cluster of static pools without spot: the loop is then compiled without
        any of section 11's code, and runs exactly MODEL.md 1-9.
    scalefn : FunctionType(CUSTOM_AUTOSCALER_SIGNATURE) or None
        The custom autoscaler's function; None otherwise.
    series : SeriesArrays or None
        Binned time series to fill (MODEL.md 13; ``series.py``), zeroed by the
        caller, with ``lc`` given (``no_lifecycle`` without models); None keeps
        none, and compiles the loop without them.
    dv : DeviceRun or None
        GPUs as devices (MODEL.md 12; ``devices.py``): parts placed on devices
        by the placements of 12.5, gangs, device records, the GPU timeline and
        its integrals. None pools each node's GPUs into one number (sections
        4 and 6), and compiles the loop without any of section 12's code.

    Fills the slices of the output arrays that belong to replication k.
    """
    # The workload's arrays taken out of `wa` once: reading an array through the
    # tuple, or passing the tuple to a call, costs a reference count per array.
    submit, model, priority, pipeline_id = wa.submit, wa.model, wa.priority, wa.pipeline_id
    task_ptr, task_pipeline, task_type = wa.task_ptr, wa.task_pipeline, wa.task_type
    duration, n_pred, succ_ptr, succ = wa.duration, wa.n_pred, wa.succ_ptr, wa.succ
    cand_accuracy, cand_robustness, cand_fairness = wa.cand_accuracy, wa.cand_robustness, wa.cand_fairness
    compress_loss = wa.compress_loss
    p0 = wa.rep_pipeline_ptr[k]
    p1 = wa.rep_pipeline_ptr[k + 1]
    t0 = wa.rep_task_ptr[k]
    t1 = wa.rep_task_ptr[k + 1]
    n_p = p1 - p0
    n_t = t1 - t0
    n_shapes = shape_req.shape[0]
    n_nodes = capacity.shape[0]

    # real pipelines first, then empty slots (pipeline_id -1) for submitted copies
    p_used = n_p
    while p_used > 0 and pipeline_id[p0 + p_used - 1] < 0:
        p_used -= 1
    n_exo = p_used
    t_used = task_ptr[p0 + p_used] - t0
    e_used = succ_ptr[t0 + t_used]

    # --- per-task state (local index i = global - t0) ---
    # Slots are set up when a copy fills them (after _trigger_phase): until then the loop
    # reads none of their entries, so a generous reserve costs memory that is never touched.
    key = np.empty(n_t)
    ready = np.empty(n_t)  # inf until ready, so unset entries never sort first
    pred_left = np.empty(n_t, dtype=np.int64)
    pos = np.empty(n_t, dtype=np.int64)  # (np.empty and a loop, not np.full: each np.full costs compile time)
    for i in range(t_used):
        ready[i] = np.inf
        pos[i] = -1
        g = t0 + i
        pred_left[i] = n_pred[g]
        out_ready[g] = np.nan
        out_start[g] = np.nan
        out_end[g] = np.nan
        out_node[g] = -1
        out_status[g] = STATUS_NOT_STARTED

    # --- per-pipeline state ---
    # Arrays only some policies or the lifecycle read are empty otherwise (memory
    # that a big replication would pay per pipeline for nothing).
    custom = policy == POLICY_CUSTOM
    track_remaining = custom or policy == POLICY_SRPT  # only these keys read `remaining`
    n_track = n_p if track_remaining else 0
    remaining = np.zeros(n_track)  # srpt: reference seconds of not-started tasks
    tasks_left = np.zeros(n_p, dtype=np.int64)
    touched = np.zeros(n_track, dtype=np.bool_)
    touched_list = np.empty(n_track, dtype=np.int64)
    for p in range(n_p):
        gp = p0 + p
        out_pipeline_end[gp] = np.nan
        out_outcome[gp] = OUTCOME_NOT_SUBMITTED
        out_trigger[gp] = TRIGGER_EXOGENOUS
        out_source[gp] = -1
        if p >= p_used:
            continue
        a = task_ptr[gp]
        b = task_ptr[gp + 1]
        tasks_left[p] = b - a
        if track_remaining:
            s = 0.0
            for g in range(a, b):
                s += duration[g]
            remaining[p] = s

    # --- lifecycle state (MODEL.md 7), per model row ---
    # The arrays the hot paths read, taken out of `lc` once: reading an array
    # through the tuple costs a reference count each time (measured: a third of
    # the loop's speed on a single queue).
    # With no models, ``lc`` is None and Numba compiles the loop without any of the
    # lifecycle's code: every use below sits under ``if lc is not None``.
    lifecycle = False
    has_rules = False
    n_models = 0
    if lc is not None:
        pipeline_row = lc.pipeline_row
        gates = lc.gates
        on_drift = lc.on_drift
        drift = lc.drift
        threshold = lc.threshold
        n_models = lc.model_id.shape[0]
        lifecycle = n_models > 0
        a0 = lc.accuracy.copy()
        rob = lc.robustness.copy()
        fair = lc.fairness.copy()
        td = lc.deployed_at.copy()
        cross = np.empty(n_models)
        seg_start = np.empty(n_models)
        stale = np.zeros(n_models, dtype=np.bool_)
        finished = np.zeros(n_models, dtype=np.bool_)  # a pipeline of a stale model finished now
        fin_list = np.empty(n_models, dtype=np.int64)  # those models, n_finished of them
        in_flight = np.zeros(n_models, dtype=np.int64)
        n_submitted = np.zeros(n_models, dtype=np.int64)  # k of the next copy of each model
        per_k = np.zeros(n_models, dtype=np.int64)
        per_next = np.empty(n_models)
        for m in range(n_models):
            seg_start[m] = -np.inf
            per_next[m] = np.inf
            has_rules = has_rules or on_drift[m] or lc.period[m] > 0.0
            cross[m] = crossing_time_nb(a0[m], td[m], drift[m], threshold[m])
            if lc.period[m] > 0.0:
                per_k[m] = first_periodic_index_nb(lc.phase[m], lc.period[m])
                per_next[m] = lc.phase[m] + per_k[m] * lc.period[m]
            for c in range(out_model.shape[1]):
                out_model[m, c] = 0.0
    if custom and keyfn is None:
        raise ValueError("a custom policy needs its key function")
    t_trigger = np.inf
    if rules is not None:
        if has_rules:
            t_trigger = _next_trigger(on_drift, stale, cross, per_next)
    elif has_rules:
        raise ValueError("models with automation rules need their reserve (rules)")
    if lc is not None:
        model_key = np.empty(n_models)  # staleness key of each model in the current pass
        model_key_pass = np.zeros(n_models, dtype=np.int64) - 1
    n_finished = 0
    # candidate accuracy of each pipeline as compress changes it; rejected pipelines
    n_lc = n_p if lifecycle else 0
    cand_acc = np.empty(n_lc)
    rejected = np.zeros(n_lc, dtype=np.bool_)
    for p in range(p_used if lifecycle else 0):
        cand_acc[p] = cand_accuracy[p0 + p]
    pending = np.empty(max(n_p - n_exo, 1), dtype=np.int64)  # copies submitted now, to arrive now
    n_pending = 0
    cursor = np.zeros(5, dtype=np.int64)  # (p_used, t_used, e_used, next_pid, n_pending) for _trigger_phase
    next_pid = 0
    for p in range(p_used):
        if pipeline_id[p0 + p] >= next_pid:
            next_pid = pipeline_id[p0 + p] + 1

    # --- ready heaps, one per shape, sharing one store ---
    shape_count = np.zeros(n_shapes, dtype=np.int64)
    for i in range(t_used):
        shape_count[task_shape[t0 + i]] += 1
    if rules is not None:
        if n_t > t_used:
            # a shape of the reserve may get every slot
            in_reserve = np.zeros(n_shapes, dtype=np.bool_)
            for i in range(rules.res_shape.shape[0]):
                in_reserve[rules.res_shape[i]] = True
            for s in range(n_shapes):
                if in_reserve[s]:
                    shape_count[s] += n_t - t_used
    base = np.zeros(n_shapes, dtype=np.int64)
    acc = 0
    for s in range(n_shapes):
        base[s] = acc
        acc += shape_count[s]
    store = np.empty(max(acc, 1), dtype=np.int64)
    fifo = policy == POLICY_FIFO  # sorted runs instead of heaps (heaps.py)
    front = base.copy()  # where each shape's head is; a heap's stays at base
    hsize = np.zeros(n_shapes, dtype=np.int64)
    active = np.zeros(n_shapes + 1, dtype=np.int64)  # shapes with ready tasks (see _activate)
    blocked_at = np.zeros(n_shapes, dtype=np.int64) - 1  # free-log position, -1: unknown
    merge = np.empty(max(n_shapes, 1), dtype=np.int64)
    n_ready = 0

    # --- nodes ---
    free = capacity.copy()
    pool_start = np.zeros(n_pools + 1, dtype=np.int64)  # nodes are numbered pool by pool
    for n in range(n_nodes):
        pool_start[node_pool[n] + 1] += 1
    for q in range(n_pools):
        pool_start[q + 1] += pool_start[q]
    n_log = n_t

    # --- GPUs as devices (MODEL.md 12). Every use sits under ``if dv is not None``. ---
    if dv is not None:
        dst = dv.st
        dsc = dv.sc
        tg = dv.tg
        ties = dv.ties[0]
        dv_spec = dv.shape_spec
        dv_reps = dv.shape_reps
        u = dv.u
        slot_ptr = dv.slot_ptr
        part_node = dv.part_node
        part_mask = dv.part_mask
        cache_score = dv.cache_score
        cache_dev = dv.cache_dev
        cache_ver = dv.cache_ver
        cache_owner = dv.cache_owner
        n_cache = cache_owner.shape[0]
        timeline = dv.timeline
        tl_cap = timeline.shape[0]
        tl_n = 0
        init_state_nb(dst)
        init_frag_nb(dst, tg, dsc.buf, dsc.buf2)
        for n in range(n_nodes):
            dsc.excl[n] = -1
        for x in range(n_cache):
            cache_owner[x] = -1
        slot_ptr[0] = 0
        for i in range(t_used):
            slot_ptr[i + 1] = slot_ptr[i] + dv_reps[task_shape[t0 + i]]
        for x in range(part_node.shape[0]):
            part_node[x] = -1
            part_mask[x] = 0
        free = dst.free  # the devices' free capacity: column 1 is g_free(n) (MODEL.md 12.1)
        cur_free, cur_frag = gpu_totals_nb(dst)
        dirty = False  # the cluster's GPU state changed since cur_free, cur_frag
        had_instant = False  # an instant was applied whose timeline row is not written yet
        area_free = 0.0
        area_frag = 0.0
        cur_up = 0.0  # (elastic runs) GPUs of the up nodes, and its time integral (MODEL.md 12.12)
        area_up = 0.0
        gpu_t = 0.0  # (elastic runs) the last event instant: the GPU state is constant since
        n_log = max(n_t, u.shape[0])  # every part of every task may be freed once
    free_log = np.empty(n_log + 1, dtype=np.int64)
    log_len = 0
    pool_alloc = np.zeros((n_pools, 3))

    # --- events: completions in a heap, arrivals as a sorted stream ---
    # The heap holds one completion per running task, so n_t + 1 entries always do on a
    # static cluster: np.empty's pages become resident only when written, so the room
    # costs no memory the run does not use, and the arrays are assigned once (an array
    # variable assigned again inside the loop costs two atomic reference counts at each
    # use; see heaps.py). On an elastic cluster an interrupted attempt's completion stays
    # in the heap until its time, so there the heap starts small and doubles when full.
    ev_cap = n_t + 1
    if el is not None:
        ev_cap = min(n_t + 1, max(64, 4 * n_nodes))
    ev_time = np.empty(ev_cap)
    ev_task = np.empty(ev_cap, dtype=np.int64)
    ev_size = 0
    arrivals = arrival_order_nb(submit, p0, n_exo)
    in_order = arrivals.shape[0] == 0  # pipeline index order is arrival order
    next_arrival = 0

    now = 0.0
    last_t = 0.0
    queue_area = 0.0
    n_events = 0
    n_passes = 0
    rekey = custom or policy == POLICY_STALENESS  # keys that change with time: recomputed every pass
    out_ext[k, 0] = RUN_OK
    out_ext[k, 1] = -1

    # --- elastic cluster (MODEL.md 11): slot states, node instances, boots, spot, ticks ---
    # Every use of these sits under ``if el is not None``: a static cluster compiles none of it.
    if el is not None:
        state = np.zeros(n_nodes, dtype=np.int64)
        boot_end = np.empty(n_nodes)
        idle_since = np.zeros(n_nodes)
        running = np.zeros(n_nodes, dtype=np.int64)  # tasks running on each slot's instance
        inst = np.zeros(n_nodes, dtype=np.int64) - 1  # the instance's row of the node timeline
        req_time = np.empty(n_nodes)
        up_time = np.empty(n_nodes)
        pool_req = np.zeros(n_pools, dtype=np.int64)  # booting and up nodes
        pool_up = np.zeros(n_pools, dtype=np.int64)
        sp = np.empty(n_nodes, dtype=np.int64)  # each slot's next interruption time in spot_times
        for n in range(n_nodes):
            boot_end[n] = np.inf
            sp[n] = el.spot_ptr[n]
            for d in range(3):
                free[n, d] = -1.0  # not up: fits no task (elastic.py)
        work = np.empty(n_t)  # remaining work of each task (MODEL.md 11.5): its duration until interrupted
        run_end = np.empty(n_t)  # when the current attempt of a running task ends
        for i in range(t_used):  # (a copy's tasks: when it is submitted)
            work[i] = duration[t0 + i]
            run_end[i] = np.nan
            el.restarts[t0 + i] = 0
        for c in range(el.out_counts.shape[0]):
            el.out_counts[c] = 0.0
        for q in range(n_pools):
            el.out_pool[q, 0] = 0.0
            el.out_pool[q, 1] = 0.0
        el.node_rows[0] = 0
        for q in range(n_pools):
            for n in range(pool_start[q], pool_start[q] + el.pool_count[q]):
                row = el.node_rows[0]
                el.node_rows[0] = row + 1
                inst[n] = row
                req_time[n] = 0.0
                up_time[n] = 0.0
                pool_req[q] += 1
                if row < el.node_time.shape[0]:
                    el.node_time[row, 0] = 0.0
                    el.node_time[row, 2] = np.nan
                    el.node_code[row, 0] = n
                    el.node_code[row, 1] = NODE_INITIAL
                    el.node_code[row, 2] = -1
                node_up_nb(n, 0.0, capacity, free, state, idle_since, inst, pool_up, node_pool, blocked_at, el)
        kind = el.kind[0]
        interval = el.params[P_INTERVAL]
        k_tick = 0
        t_tick = np.inf if kind == AUTOSCALER_STATIC else 0.0
        t_boot = np.inf
        t_int = next_interruption_nb(sp, el.spot_ptr, el.spot_times)
        # target_utilization's recommendations, one per tick and pool
        n_rec = int(horizon / interval) + 2 if kind == AUTOSCALER_TARGET_UTILIZATION else 0
        rec_time = np.empty((n_pools, n_rec))
        rec_value = np.empty((n_pools, n_rec), dtype=np.int64)
        rec_lo = np.zeros(n_pools, dtype=np.int64)
        rec_n = np.zeros(n_pools, dtype=np.int64)
        order = np.empty(n_t, dtype=np.int64)  # the ready tasks in pass order, for a tick
        victims = np.empty(0, dtype=np.int64)
        touched_el = np.zeros(n_p, dtype=np.bool_)  # pipelines whose srpt remaining work rose
        # custom's ready count: does a task of shape s fit an empty node of pool q (MODEL.md 11.4, 12.12)
        empty_fit = np.zeros((shape_req.shape[0], n_pools), dtype=np.bool_)
        for q in range(n_pools):
            if pool_start[q + 1] > pool_start[q]:
                a = pool_start[q]
                for s in range(shape_req.shape[0]):
                    if dv is not None:
                        empty_fit[s, q] = part_fits_empty_nb(dst, a, shape_req[s, 0], shape_req[s, 1],
                                                             shape_req[s, 2], dv_spec[s])
                    else:
                        empty_fit[s, q] = (capacity[a, 0] >= shape_req[s, 0] - FIT_TOL
                                           and capacity[a, 1] >= shape_req[s, 1] - FIT_TOL
                                           and capacity[a, 2] >= shape_req[s, 2] - FIT_TOL)
        if dv is not None:
            # the devices of the slots' instances; the GPU totals count up nodes only (MODEL.md 12.12)
            dev_inst = np.zeros(n_nodes, dtype=np.int64) - 1
            sync_slots_nb(dst, tg, dsc, state, inst, dev_inst)
            cur_free, cur_frag, cur_up = gpu_totals_up_nb(dst, state)

    if series is not None:
        if lc is None:
            raise ValueError("binned series need lifecycle arrays (lifecycle.no_lifecycle without models)")
        ser_w = series.width[0]
        if el is not None:
            ser_up = pool_up  # the nodes up of each pool, as the run changes them
        else:
            ser_up = np.empty(n_pools, dtype=np.int64)  # a static pool's nodes, all up
            for q in range(n_pools):
                ser_up[q] = pool_start[q + 1] - pool_start[q]

    while True:
        t_next = t_trigger
        if el is not None:
            # an interrupted attempt's completion is cancelled: drop it when it reaches the top
            while ev_size > 0 and (out_status[t0 + ev_task[0]] != STATUS_UNFINISHED
                                   or run_end[ev_task[0]] != ev_time[0]):
                ev_size = ev_pop(ev_time, ev_task, ev_size)
            if t_int < t_next:
                t_next = t_int
            if t_boot < t_next:
                t_next = t_boot
            if t_tick < t_next:
                t_next = t_tick
        if ev_size > 0 and ev_time[0] < t_next:
            t_next = ev_time[0]
        if next_arrival < n_exo:
            ta = submit[p0 + (next_arrival if in_order else arrivals[next_arrival])]
            if ta < t_next:
                t_next = ta
        if dv is not None:
            # the GPU state after the last instant's pass: its timeline row (MODEL.md 12.9)
            if dirty:
                if el is not None:
                    cur_free, cur_frag, cur_up = gpu_totals_up_nb(dst, state)
                else:
                    cur_free, cur_frag = gpu_totals_nb(dst)
                dirty = False
            if had_instant:
                if tl_n < tl_cap:
                    timeline[tl_n, 0] = last_t
                    timeline[tl_n, 1] = cur_free
                    timeline[tl_n, 2] = cur_frag
                tl_n += 1
                had_instant = False
        if t_next == np.inf or t_next > horizon:
            break
        now = t_next

        # time averages over [warmup, end]: the state is constant since last_t
        queue_area += _accumulate(out_alloc, k, pool_alloc, last_t, warmup, now, n_ready)
        if dv is not None:
            if el is None:
                lo = max(last_t, warmup)
                if now > lo:
                    area_free += cur_free * (now - lo)
                    area_frag += cur_frag * (now - lo)
            had_instant = True
        if series is not None:
            if lc is not None:
                series_accumulate_nb(series, pool_alloc, ser_up, n_ready, a0, td, drift, last_t, now)
        last_t = now

        # 1. completions at `now`, by (pipeline_id, task index) = task index
        retrigger = False  # a deploy moved the earliest trigger time: compute it again
        instant_event = False  # (elastic runs) a time with only skipped interruptions is no event
        while ev_size > 0 and ev_time[0] == now:
            i = ev_task[0]
            ev_size = ev_pop(ev_time, ev_task, ev_size)
            g = t0 + i
            if el is not None:
                if out_status[g] != STATUS_UNFINISHED or run_end[i] != now:
                    continue  # an interrupted attempt
                instant_event = True
            n_events += 1
            node = out_node[g]
            sg = task_shape[g]
            if dv is not None:
                # every part's request is released, in part order (MODEL.md 12.8)
                slot0 = slot_ptr[i]
                reps = dv_reps[sg]
                release_parts_nb(dst, tg, dsc, part_node, part_mask, slot0, reps, shape_req[sg, 0],
                                 shape_req[sg, 1], shape_req[sg, 2])
                for j in range(reps):
                    n = part_node[slot0 + j]
                    for d in range(3):
                        pool_alloc[node_pool[n], d] -= shape_req[sg, d]
                    if el is not None:
                        running[n] -= 1
                        if running[n] == 0:
                            idle_since[n] = now
                    free_log[log_len] = n
                    log_len += 1
                dirty = True
            else:
                for d in range(3):
                    free[node, d] += shape_req[sg, d]
                    pool_alloc[node_pool[node], d] -= shape_req[sg, d]
                if el is not None:
                    running[node] -= 1
                    if running[node] == 0:
                        idle_since[node] = now
                free_log[log_len] = node
                log_len += 1
            out_end[g] = now
            out_status[g] = STATUS_COMPLETED
            gp = task_pipeline[g]
            p = gp - p0
            tasks_left[p] -= 1
            for e in range(succ_ptr[g], succ_ptr[g + 1]):
                j = succ[e] - t0
                pred_left[j] -= 1
                if pred_left[j] == 0 and out_status[t0 + j] != STATUS_CANCELLED:
                    _make_ready(j, t0 + j, gp, p, now, policy, rekey, duration, priority, remaining, key, ready,
                                out_ready, task_shape, store, pos, front, hsize, active, fifo)
                    n_ready += 1
            row = -1
            if lc is not None:
                row = pipeline_row[gp] if lifecycle else -1
                if row >= 0:
                    if not rejected[p] and cand_acc[p] == cand_acc[p]:
                        # the task's lifecycle effect (MODEL.md 7), at its completion
                        ty = task_type[g]
                        gate = -1
                        if ty == TYPE_EVALUATE and cand_acc[p] < gates[GATE_ACCURACY]:
                            gate = OUTCOME_REJECTED_EVALUATE
                        elif ty == TYPE_BIAS_CHECK and cand_fairness[gp] < gates[GATE_FAIRNESS]:
                            gate = OUTCOME_REJECTED_BIAS_CHECK
                        elif ty == TYPE_ROBUSTNESS_CHECK and cand_robustness[gp] < gates[GATE_ROBUSTNESS]:
                            gate = OUTCOME_REJECTED_ROBUSTNESS_CHECK
                        elif ty == TYPE_COMPRESS:
                            loss = compress_loss[gp]
                            if loss == loss:
                                # accuracy stays in [0, 1]: a loss larger than the accuracy leaves 0
                                cand_acc[p] = max(cand_acc[p] - loss, 0.0)
                        elif ty == TYPE_DEPLOY:
                            term = np.inf  # the model's term in t_trigger (_next_trigger) before the deploy
                            if rules is not None:
                                if on_drift[row] and not stale[row]:
                                    term = max(cross[row], 0.0)
                            _deploy(row, now, warmup, cand_acc[p], cand_robustness[gp], cand_fairness[gp],
                                    drift, threshold, a0, rob, fair, td, cross, seg_start, stale, out_model)
                            if rules is not None:
                                # only this model's term changed: the minimum moves with it, unless
                                # the old term was the minimum (then every model is looked at again)
                                if term == t_trigger:
                                    retrigger = True
                                elif on_drift[row] and max(cross[row], 0.0) < t_trigger:
                                    t_trigger = max(cross[row], 0.0)
                        if gate >= 0:
                            rejected[p] = True
                            out_outcome[gp] = gate
                            if now >= warmup:
                                out_model[row, 3 + gate - OUTCOME_REJECTED_EVALUATE] += 1.0
                            n_ready -= _cancel_rest(p, gp, t0, task_ptr, out_status, tasks_left, pos, store, front, hsize,
                                                    active, key, ready, task_shape, fifo)
            if tasks_left[p] == 0:
                # finished: completed, or rejected and its last running task ended
                out_pipeline_end[gp] = now
                if not (lifecycle and rejected[p]):
                    out_outcome[gp] = OUTCOME_COMPLETED
                    if series is not None:
                        series_count_nb(series.completed, now, ser_w)
                if lc is not None:
                    if row >= 0:
                        in_flight[row] -= 1
                        if stale[row] and on_drift[row] and not finished[row]:
                            finished[row] = True
                            fin_list[n_finished] = row
                            n_finished += 1
        if el is not None:
            if t_trigger == now:
                instant_event = True
            # 1b. spot interruptions at `now`, by node index (MODEL.md 11.5)
            if t_int == now:
                for n in range(n_nodes):
                    x = sp[n]
                    if x >= el.spot_ptr[n + 1] or el.spot_times[x] != now:
                        continue
                    sp[n] = x + 1
                    if state[n] != NODE_UP:
                        continue  # skipped: no event
                    instant_event = True
                    if now >= warmup:
                        el.out_counts[C_INTERRUPTIONS] += 1.0
                    release_node_nb(n, now, RELEASE_INTERRUPTED, warmup, horizon, free, state, inst, req_time,
                                    up_time, pool_req, pool_up, node_pool, el)
                    # its running tasks (the valid entries of the completion heap), by task index
                    if victims.shape[0] < ev_size:
                        victims = np.empty(ev_size, dtype=np.int64)
                    n_v = 0
                    for e in range(ev_size):
                        j = ev_task[e]
                        on_n = out_node[t0 + j] == n
                        if dv is not None:
                            # a gang with a part on n (MODEL.md 12.12)
                            on_n = False
                            for x in range(slot_ptr[j], slot_ptr[j + 1]):
                                if part_node[x] == n:
                                    on_n = True
                        if (on_n and out_status[t0 + j] == STATUS_UNFINISHED
                                and run_end[j] == ev_time[e]):
                            v = n_v
                            while v > 0 and victims[v - 1] > j:
                                victims[v] = victims[v - 1]
                                v -= 1
                            victims[v] = j
                            n_v += 1
                    # an earlier, interrupted attempt of a task may have ended at the very time of its
                    # current one: its stale heap entry then passes the test above too (once per task)
                    n_u = 0
                    for x2 in range(n_v):
                        if n_u == 0 or victims[x2] != victims[n_u - 1]:
                            victims[n_u] = victims[x2]
                            n_u += 1
                    n_v = n_u
                    q = node_pool[n]
                    for x2 in range(n_v):
                        j = victims[x2]
                        g = t0 + j
                        sg = task_shape[g]
                        v_run = speed[n]
                        if dv is not None:
                            # the whole gang stops: its parts on the other nodes are released now, in
                            # part order; a node this leaves empty is idle since now (MODEL.md 12.12)
                            slot0 = slot_ptr[j]
                            v_run = speed[part_node[slot0]]
                            for x in range(slot0, slot_ptr[j + 1]):
                                pn = part_node[x]
                                if speed[pn] < v_run:
                                    v_run = speed[pn]
                                for d in range(3):
                                    pool_alloc[node_pool[pn], d] -= shape_req[sg, d]
                                if pn != n:
                                    release_nb(dst, pn, part_mask[x], shape_req[sg, 0], shape_req[sg, 1],
                                               shape_req[sg, 2], dsc.buf)
                                    update_frag_nb(dst, tg, pn, dsc.buf, dsc.buf2)
                                    running[pn] -= 1
                                    if running[pn] == 0:
                                        idle_since[pn] = now
                                if dsc.excl[pn] == slot0:
                                    dsc.excl[pn] = -1  # the next attempt may use the node again
                            dirty = True
                            # the other nodes gained capacity outside the free log
                            for s2 in range(blocked_at.shape[0]):
                                blocked_at[s2] = -1
                        else:
                            for d in range(3):
                                pool_alloc[q, d] -= shape_req[sg, d]
                        progress = (now - out_start[g]) * v_run
                        saved = checkpointed_work_nb(progress, work[j], el.checkpoint[g])
                        work[j] = work[j] - saved
                        if now >= warmup:
                            el.out_counts[C_WORK_LOST] += progress - saved
                        run_end[j] = np.nan
                        gp = task_pipeline[g]
                        p = gp - p0
                        cancel = False
                        if lc is not None:
                            cancel = lifecycle and rejected[p]
                        if cancel:
                            # a rejected pipeline's task is not run again (MODEL.md 11.5)
                            out_status[g] = STATUS_CANCELLED
                            tasks_left[p] -= 1
                            if tasks_left[p] == 0:
                                out_pipeline_end[gp] = now
                                if lc is not None:
                                    row = pipeline_row[gp]
                                    if row >= 0:
                                        in_flight[row] -= 1
                                        if stale[row] and on_drift[row] and not finished[row]:
                                            finished[row] = True
                                            fin_list[n_finished] = row
                                            n_finished += 1
                            continue
                        out_status[g] = STATUS_NOT_STARTED
                        el.restarts[g] += 1
                        if now >= warmup:
                            el.out_counts[C_RESTARTED] += 1.0
                        if track_remaining:
                            touched_el[p] = True
                        if fifo and front[sg] > base[sg]:
                            # A task queued a second time: the run moves back to the start of its part of
                            # the store, which then has room for every task of the shape once more (a run
                            # has room for each task once, heaps.py).
                            for jj in range(hsize[sg]):
                                other = store[front[sg] + jj]
                                store[base[sg] + jj] = other
                                pos[other] = base[sg] + jj
                            front[sg] = base[sg]
                        _make_ready(j, g, gp, p, now, policy, rekey, duration, priority, remaining, key, ready,
                                    out_ready, task_shape, store, pos, front, hsize, active, fifo)
                        n_ready += 1
                        if policy == POLICY_SJF and work[j] != duration[g]:
                            # sjf's key is the remaining work (MODEL.md 11.5), never more than the duration
                            key[j] = work[j]
                            rh_sift_up(store, pos, base[sg], pos[j], key, ready)
                    running[n] = 0
                    while pool_req[q] < el.pool_min[q]:
                        request_node_nb(q, now, NODE_REPLACEMENT, warmup, pool_start, capacity, free, state, boot_end,
                                        idle_since, inst, req_time, up_time, pool_req, pool_up, node_pool, blocked_at,
                                        el)
                t_int = next_interruption_nb(sp, el.spot_ptr, el.spot_times)
                t_boot = next_boot_nb(state, boot_end)
                if track_remaining:
                    # srpt: the restarted tasks' pipelines have more work left than their keys say
                    raised = False
                    for p in range(n_p):
                        if touched_el[p]:
                            touched_el[p] = False
                            raised = True
                            gp = p0 + p
                            rem = 0.0
                            for g in range(task_ptr[gp], task_ptr[gp + 1]):
                                if out_status[g] == STATUS_NOT_STARTED:
                                    rem += work[g - t0]
                            remaining[p] = rem
                            if policy == POLICY_SRPT:
                                for g in range(task_ptr[gp], task_ptr[gp + 1]):
                                    if pos[g - t0] >= 0:
                                        key[g - t0] = rem
                    if raised and policy == POLICY_SRPT:
                        for x in range(1, active[0] + 1):
                            s = active[x]
                            rh_heapify(store, pos, base[s], hsize[s], key, ready)
            # 1c. boot completions at `now`, by node index
            if t_boot == now:
                instant_event = True
                for n in range(n_nodes):
                    if state[n] == NODE_BOOTING and boot_end[n] == now:
                        boot_end[n] = np.inf
                        up_time[n] = now
                        node_up_nb(n, now, capacity, free, state, idle_since, inst, pool_up, node_pool, blocked_at, el)
                t_boot = next_boot_nb(state, boot_end)
            if dv is not None:
                # slots released or come up at this instant: their devices (MODEL.md 12.12)
                if sync_slots_nb(dst, tg, dsc, state, inst, dev_inst):
                    dirty = True

        # 2. lifecycle triggers at `now`, by model_id; on_drift before periodic
        if rules is not None:
            if retrigger and has_rules:
                t_trigger = _next_trigger(on_drift, stale, cross, per_next)
            if has_rules and (t_trigger == now or n_finished > 0):
                # a crossing or a periodic time now: every model; else only the models whose
                # pipelines finished stale (nothing else can fire: t_trigger > now)
                every = t_trigger == now
                cursor[0], cursor[1], cursor[2], cursor[3], cursor[4] = p_used, t_used, e_used, next_pid, n_pending
                p_before = p_used
                t_before = t_used
                short = _trigger_phase(wa, lc, rules, k, p0, t0, now, warmup, task_shape, stale, cross, finished,
                                       in_flight, n_submitted, per_k, per_next, tasks_left, remaining, pred_left,
                                       cand_acc, pending, cursor, out_trigger, out_source, out_model, every,
                                       fin_list, n_finished)
                p_used, t_used, e_used, next_pid, n_pending = cursor[0], cursor[1], cursor[2], cursor[3], cursor[4]
                for i in range(t_before, t_used):
                    # the copies' tasks, as the real tasks were set up at the start
                    ready[i] = np.inf
                    pos[i] = -1
                    g = t0 + i
                    out_ready[g] = np.nan
                    out_start[g] = np.nan
                    out_end[g] = np.nan
                    out_node[g] = -1
                    out_status[g] = STATUS_NOT_STARTED
                if dv is not None:
                    # the copies' parts take the next slots, in the order they are submitted (MODEL.md 12.6)
                    for i in range(t_before, t_used):
                        slot_ptr[i + 1] = slot_ptr[i] + dv_reps[task_shape[t0 + i]]
                if el is not None:
                    # the copies' tasks: their remaining work is their duration, their checkpoints the reserve's
                    for p in range(p_before, p_used):
                        gp = p0 + p
                        a = rules.res.task_ptr[out_source[gp]]
                        for g in range(task_ptr[gp], task_ptr[gp + 1]):
                            work[g - t0] = duration[g]
                            run_end[g - t0] = np.nan
                            el.restarts[g] = 0
                            if el.res_checkpoint.shape[0] > 0:
                                el.checkpoint[g] = el.res_checkpoint[a + g - task_ptr[gp]]
                if short >= 0:
                    # out of pre-drawn copies: say which model, when, and how many each
                    # model has used so far, so that the caller can draw enough
                    out_ext[k, 0] = RUN_NEED_RESERVE
                    out_ext[k, 1] = short
                    out_rep[k, 0] = now
                    for mm in range(n_models):
                        out_model[mm, 10] = n_submitted[mm]
                    return
                n_finished = 0
                if every:
                    # (models visited for their finished pipelines change no term of t_trigger)
                    t_trigger = _next_trigger(on_drift, stale, cross, per_next)

        if el is not None:
            # 2b. the autoscaler's tick (MODEL.md 11.4): after the triggers, before the arrivals
            if t_tick == now:
                instant_event = True
                n_order = 0
                for x in range(1, active[0] + 1):
                    s = active[x]
                    if rekey:
                        # keys that change with time, at the tick's time (as the pass computes them)
                        # (the pass's rule, 4.1; a tick does not see the pass's per-model cache)
                        for jj in range(hsize[s]):
                            j = store[base[s] + jj]
                            g = t0 + j
                            gp = task_pipeline[g]
                            row = -1
                            acc_now = np.nan
                            thr = np.nan
                            st = 0.0
                            if lc is not None:
                                row = pipeline_row[gp] if lifecycle else -1
                                if row >= 0:
                                    acc_now = deployed_accuracy_nb(a0[row], td[row], drift[row], now)
                                    thr = threshold[row]
                                    st = 1.0 if stale[row] else 0.0
                            kv = np.inf
                            if keyfn is not None:
                                if custom:
                                    sg = task_shape[g]
                                    kv = keyfn(
                                        now, ready[j], duration[g], shape_req[sg, 0], shape_req[sg, 1],
                                        shape_req[sg, 2], task_type[g], pipeline_id[gp], priority[gp], model[gp],
                                        submit[gp], remaining[gp - p0], acc_now, thr, st,
                                    )
                            if not custom and row >= 0:
                                kv = -(thr - acc_now)
                            if kv != kv:
                                kv = np.inf
                            key[j] = kv
                        rh_heapify(store, pos, base[s], hsize[s], key, ready)
                    for jj in range(hsize[s]):
                        order[n_order] = store[front[s] + jj]
                        n_order += 1
                sort_tasks_nb(order, n_order, key, ready)
                tick_nb(now, order, n_order, t0, task_shape, shape_req, placement, warmup, horizon, pool_start,
                        capacity, free, state, boot_end, idle_since, running, inst, req_time, up_time, pool_req,
                        pool_up, node_pool, blocked_at, rec_time, rec_value, rec_lo, rec_n, empty_fit, el,
                        scalefn)
                if dv is not None:
                    if sync_slots_nb(dst, tg, dsc, state, inst, dev_inst):
                        dirty = True
                k_tick += 1
                t_tick = k_tick * interval
                t_boot = next_boot_nb(state, boot_end)
            if el.node_rows[0] > el.node_time.shape[0]:
                # the node timeline is full: the caller gives it more rows and runs again
                out_ext[k, 0] = RUN_NEED_NODE_ROWS
                out_rep[k, 0] = now
                return

        # 3. arrivals at `now`, by pipeline_id: the workload's, then the copies submitted
        # now (their ids are larger). Inline, not a call: a call that takes the workload's
        # tuple costs a reference count per array, which halved the loop's speed.
        x = 0
        while True:
            p = -1
            if next_arrival < n_exo:
                p = next_arrival if in_order else arrivals[next_arrival]
            if p >= 0 and submit[p0 + p] == now:
                next_arrival += 1
                if lc is not None:
                    if lifecycle and pipeline_row[p0 + p] >= 0:
                        in_flight[pipeline_row[p0 + p]] += 1  # (a copy is in flight since its trigger)
            elif x < n_pending:
                p = pending[x]
                x += 1
            else:
                break
            n_events += 1
            if el is not None:
                instant_event = True
            if series is not None:
                series_count_nb(series.arrivals, now, ser_w)
            gp = p0 + p
            out_outcome[gp] = OUTCOME_UNFINISHED
            for g in range(task_ptr[gp], task_ptr[gp + 1]):
                if n_pred[g] == 0:
                    _make_ready(g - t0, g, gp, p, now, policy, rekey, duration, priority, remaining, key, ready,
                                out_ready, task_shape, store, pos, front, hsize, active, fifo)
                    n_ready += 1
        n_pending = 0

        # 4. one scheduling pass
        if el is not None:
            if not instant_event:
                if dv is not None:
                    had_instant = False  # no event: no row of the GPU timeline (the state did not change)
                continue  # only interruption times of slots that were not up: no event, no pass
            if dv is not None:
                # the GPU integrals over the intervals between event instants (an instant with no
                # event does not split them: the oracle's sums, bit for bit). cur_* are still the
                # state since gpu_t: they are recomputed at the top of the loop.
                lo = max(gpu_t, warmup)
                if now > lo:
                    area_free += cur_free * (now - lo)
                    area_frag += cur_frag * (now - lo)
                    area_up += cur_up * (now - lo)
                gpu_t = now
        if n_ready == 0:
            continue
        n_passes += 1
        m = 0
        for x in range(1, active[0] + 1):
            s = active[x]
            b0 = blocked_at[s]
            if backfill and b0 >= 0 and log_len - b0 < n_nodes:
                # Known to fit nowhere but on the nodes freed since b0. If none of
                # those fits now, none will later in this pass (free capacity
                # only falls within a pass): skip the shape without merging it.
                if dv is not None:
                    # (a gang that did not fit may have fitted some nodes, fewer than its parts:
                    # only single parts are skipped this way)
                    if dv_reps[s] == 1 and (b0 == log_len or not fits_any_nb(
                            dst, free_log, b0, log_len, shape_req[s, 0], shape_req[s, 1], shape_req[s, 2],
                            dv_spec[s])):
                        blocked_at[s] = log_len
                        continue
                elif b0 == log_len or find_node_nb(free, capacity, pool_start, shape_req, s, placement,
                                                   free_log, b0, log_len) < 0:
                    blocked_at[s] = log_len
                    continue
            if rekey:
                # Keys that change with time, computed for this pass (MODEL.md 4.1). Only
                # for the shapes the pass looks at: a skipped shape's keys are compared
                # with nothing now, and it is keyed afresh (and its heap rebuilt) at the
                # first pass that looks at it.
                b = base[s]
                for jj in range(hsize[s]):
                    j = store[b + jj]
                    g = t0 + j
                    gp = task_pipeline[g]
                    row = -1
                    if lc is not None:
                        row = pipeline_row[gp] if lifecycle else -1
                    kv = np.inf
                    if keyfn is not None:
                        if custom:
                            sg = task_shape[g]
                            acc_now = np.nan
                            thr = np.nan
                            st = 0.0
                            if lc is not None:
                                if row >= 0:
                                    acc_now = deployed_accuracy_nb(a0[row], td[row], drift[row], now)
                                    thr = threshold[row]
                                    st = 1.0 if stale[row] else 0.0
                            kv = keyfn(
                                now, ready[j], duration[g], shape_req[sg, 0], shape_req[sg, 1], shape_req[sg, 2],
                                task_type[g],
                                pipeline_id[gp], priority[gp], model[gp], submit[gp], remaining[gp - p0],
                                acc_now, thr, st,
                            )
                    if lc is not None:
                        if not custom and row >= 0:
                            # staleness: -(threshold - a(now)); the model furthest below runs
                            # first. One value per model and pass, computed when first needed.
                            if model_key_pass[row] != n_passes:
                                model_key_pass[row] = n_passes
                                model_key[row] = -(threshold[row]
                                                   - deployed_accuracy_nb(a0[row], td[row], drift[row], now))
                            kv = model_key[row]
                    if kv != kv:  # NaN sorts last
                        kv = np.inf
                    key[j] = kv
                rh_heapify(store, pos, b, hsize[s], key, ready)
            merge[m] = s
            m += 1
        for j in range((m >> 1) - 1, -1, -1):
            _merge_sift_down(merge, m, j, store, front, key, ready)
        n_touched = 0
        while m > 0:
            s = merge[0]
            i = store[front[s]]
            g = t0 + i
            if dv is not None:
                # a task's parts, all or none (MODEL.md 12.8); the scores of a shape are cached
                # per node and recomputed for the nodes that changed since (devices.py)
                slot0 = slot_ptr[i]
                reps = dv_reps[s]
                crow = -1  # first_fit with index ties: the first node that fits, nothing scored
                if placement != PLACEMENT_FIRST_FIT or ties != TIES_INDEX:
                    crow = s % n_cache
                    if cache_owner[crow] != s:
                        cache_owner[crow] = s
                        for n in range(n_nodes):
                            cache_ver[crow, n] = -1
                placed, _ = place_gang_nb(dst, tg, placement, ties, shape_req[s, 0], shape_req[s, 1],
                                          shape_req[s, 2], dv_spec[s], reps, u, slot0, dsc, crow, cache_score,
                                          cache_dev, cache_ver)
                node = dsc.gang_node[0] if placed else -1
            else:
                c0 = blocked_at[s]
                c1 = log_len
                if c0 < 0 or log_len - c0 >= n_nodes:
                    # unknown, or more nodes were freed since than a full scan reads
                    c0 = -1
                node = find_node_nb(free, capacity, pool_start, shape_req, s, placement, free_log, c0, c1)
            if node < 0:
                blocked_at[s] = log_len
                if not backfill:
                    break
                m -= 1
                merge[0] = merge[m]
                _merge_sift_down(merge, m, 0, store, front, key, ready)
                continue
            # start task i on node
            if fifo:
                pos[i] = -1
                front[s] += 1
                hsize[s] -= 1
            else:
                hsize[s] = rh_pop(store, pos, front[s], hsize[s], key, ready)
            n_ready -= 1
            v_run = speed[node]
            if dv is not None:
                # a gang runs at the pace of its slowest node (MODEL.md 12.8)
                for j in range(reps):
                    n = dsc.gang_node[j]
                    part_node[slot0 + j] = n
                    part_mask[slot0 + j] = dsc.gang_mask[j]
                    for d in range(3):
                        pool_alloc[node_pool[n], d] += shape_req[s, d]
                    if speed[n] < v_run:
                        v_run = speed[n]
                dirty = True
            else:
                for d in range(3):
                    free[node, d] -= shape_req[s, d]
                    pool_alloc[node_pool[node], d] += shape_req[s, d]
            out_start[g] = now
            out_node[g] = node
            out_status[g] = STATUS_UNFINISHED  # until its completion is applied
            if el is not None:
                if ev_size == ev_time.shape[0]:
                    ev_time, ev_task = _grow_events(ev_time, ev_task, ev_size)
                # an attempt runs for the task's remaining work (its duration unless interrupted)
                t_end = now + work[i] / v_run
                run_end[i] = t_end
                if dv is not None:
                    for j in range(reps):
                        running[dsc.gang_node[j]] += 1
                else:
                    running[node] += 1
                ev_size = ev_push(ev_time, ev_task, ev_size, t_end, i)
            else:
                ev_size = ev_push(ev_time, ev_task, ev_size, now + duration[g] / v_run, i)
            p = task_pipeline[g] - p0
            if track_remaining and not touched[p]:
                touched[p] = True
                touched_list[n_touched] = p
                n_touched += 1
            if hsize[s] == 0:
                _deactivate(active, s)
                m -= 1
                merge[0] = merge[m]
            _merge_sift_down(merge, m, 0, store, front, key, ready)

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
            for g in range(task_ptr[gp], task_ptr[gp + 1]):
                if out_status[g] == STATUS_NOT_STARTED:
                    if el is not None:
                        rem += work[g - t0]
                    else:
                        rem += duration[g]
            remaining[p] = rem
            if policy == POLICY_SRPT:
                for g in range(task_ptr[gp], task_ptr[gp + 1]):
                    j = g - t0
                    if pos[j] >= 0:
                        key[j] = rem
                        rh_sift_up(store, pos, base[task_shape[g]], pos[j], key, ready)

    end = now
    if horizon < np.inf:
        queue_area += _accumulate(out_alloc, k, pool_alloc, last_t, warmup, horizon, n_ready)
        end = horizon
        if dv is not None:
            lo = max(last_t, warmup)
            if el is not None:
                lo = max(gpu_t, warmup)
            if horizon > lo:
                area_free += cur_free * (horizon - lo)
                area_frag += cur_frag * (horizon - lo)
                if el is not None:
                    area_up += cur_up * (horizon - lo)
        if series is not None:
            if lc is not None:
                series_accumulate_nb(series, pool_alloc, ser_up, n_ready, a0, td, drift, last_t, horizon)
    if el is not None:
        # the instances not released, in node index order (MODEL.md 11.6)
        for n in range(n_nodes):
            if inst[n] >= 0:
                add_billing_nb(el, node_pool[n], req_time[n], up_time[n], np.inf, warmup, end)
        for i in range(t_used):
            if out_status[t0 + i] == STATUS_NOT_STARTED and el.restarts[t0 + i] > 0:
                out_status[t0 + i] = STATUS_UNFINISHED  # interrupted and not started again
        if el.node_rows[0] > el.node_time.shape[0]:
            out_ext[k, 0] = RUN_NEED_NODE_ROWS
    if lc is not None:
        for m in range(n_models):
            close_segment_nb(out_model, m, seg_start[m], end, a0[m], td[m], drift[m], cross[m], warmup)
            out_model[m, 10] = n_submitted[m]
    if dv is not None:
        dv.out_gpu[0] = area_free
        dv.out_gpu[1] = area_frag
        if el is not None:
            dv.out_gpu[2] = area_up
        dv.tl_rows[0] = tl_n
        if tl_n > tl_cap and tl_cap > 0:
            out_ext[k, 0] = RUN_NEED_TIMELINE_ROWS
    out_rep[k, 0] = end
    out_rep[k, 1] = n_events
    out_rep[k, 2] = queue_area
    out_rep[k, 3] = n_passes
    out_ext[k, 2] = p_used
    out_ext[k, 3] = t_used


# Inlined into the loop (Numba IR): a call takes the workload's, the lifecycle's and the reserve's
# tuples, and Numba counts a reference for each of their ~60 arrays at every call.
@njit(cache=True, error_model="numpy", inline="always")
def _trigger_phase(wa, lc, rules, k, p0, t0, now, warmup, task_shape, stale, cross, finished, in_flight, n_submitted,
                   per_k, per_next, tasks_left, remaining, pred_left, cand_acc, pending, cursor, out_trigger,
                   out_source, out_model, every, fin_list, n_fin):
    """Apply the lifecycle triggers at ``now`` (MODEL.md 3 and 7), models in model_id order.

    ``cursor`` holds (pipelines used, tasks used, edges used, next pipeline_id,
    copies pending arrival) and is advanced for every copy submitted. With
    ``every`` false (no crossing or periodic time is now) only the ``n_fin``
    models of ``fin_list``, whose pipelines finished while stale, can submit:
    only they are visited (a model's row is its model_id order). Returns -1,
    or the model row that ran out of pre-drawn copies.
    """
    n_visit = lc.model_id.shape[0]
    if not every:
        n_visit = n_fin
        for x in range(1, n_fin):  # insertion sort: a few models
            v = fin_list[x]
            y = x
            while y > 0 and fin_list[y - 1] > v:
                fin_list[y] = fin_list[y - 1]
                y -= 1
            fin_list[y] = v
    out = -1
    for x in range(n_visit):
        m = x if every else fin_list[x]
        submit_rule = -1
        if lc.on_drift[m]:
            if not stale[m] and max(cross[m], 0.0) == now:
                stale[m] = True
                if in_flight[m] == 0:
                    submit_rule = TRIGGER_ON_DRIFT
            elif stale[m] and finished[m] and in_flight[m] == 0:
                submit_rule = TRIGGER_ON_DRIFT
        finished[m] = False
        for rule in (submit_rule, TRIGGER_PERIODIC if per_next[m] == now else -1):
            if rule < 0 or in_flight[m] > 0:
                continue
            # the k-th copy of model m is the k-th reserve pipeline of its row
            r = rules.res_ptr[m] + n_submitted[m]
            if r >= rules.res_ptr[m + 1]:
                out = m  # ran out: stop here (one exit, see heaps.py on keep-alive lines)
                break
            p = cursor[0]
            gp = p0 + p
            g_next, e_next = _copy_pipeline(wa, lc, rules, task_shape, r, gp, t0 + cursor[1], cursor[2], m)
            cursor[0] += 1
            cursor[1] = g_next - t0
            cursor[2] = e_next
            wa.pipeline_id[gp] = cursor[3]
            cursor[3] += 1
            wa.submit[gp] = now
            out_trigger[gp] = rule
            out_source[gp] = r
            tasks_left[p] = wa.task_ptr[gp + 1] - wa.task_ptr[gp]
            rem = 0.0
            for g in range(wa.task_ptr[gp], wa.task_ptr[gp + 1]):
                rem += wa.duration[g]
                pred_left[g - t0] = wa.n_pred[g]
            if remaining.shape[0] > 0:
                remaining[p] = rem
            cand_acc[p] = wa.cand_accuracy[gp]
            n_submitted[m] += 1
            in_flight[m] += 1
            if now >= warmup:
                out_model[m, 6 if rule == TRIGGER_ON_DRIFT else 7] += 1.0
            pending[cursor[4]] = p
            cursor[4] += 1
        if out >= 0:
            break
        if per_next[m] == now:
            per_k[m] += 1
            per_next[m] = lc.phase[m] + per_k[m] * lc.period[m]
    wa, lc, rules, task_shape, stale, cross, finished, in_flight, n_submitted  # keep-alive (heaps.py)
    per_k, per_next, tasks_left, remaining, pred_left, cand_acc, pending, cursor  # keep-alive
    out_trigger, out_source, out_model, fin_list  # keep-alive
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _deploy(row, now, warmup, accuracy, robustness, fairness, drift, threshold, a0, rob, fair, td, cross,
            seg_start, stale, out_model):
    """Model ``row`` deploys the candidate (accuracy, robustness, fairness) now (MODEL.md 7).

    Closes the deployment that ends (its accuracy integral and time below
    threshold) and, if its threshold crossing led to this deploy, the delay.
    """
    close_segment_nb(out_model, row, seg_start[row], now, a0[row], td[row], drift[row], cross[row], warmup)
    c = max(cross[row], 0.0)  # when the trigger fired (or would have)
    if c >= warmup and cross[row] <= now:
        out_model[row, 8] += now - c
        out_model[row, 9] += 1.0
    if now >= warmup:
        out_model[row, 2] += 1.0
    a0[row] = accuracy
    rob[row] = robustness
    fair[row] = fairness
    td[row] = now
    cross[row] = crossing_time_nb(accuracy, now, drift[row], threshold[row])
    seg_start[row] = now
    stale[row] = False
    # inlined, with a keep-alive line (heaps.py): as a call it paid an atomic reference count
    # per array at every deploy (10% of a lifecycle run's loop)
    drift, threshold, a0, rob, fair, td, cross, seg_start, stale, out_model  # keep-alive


@njit(cache=True, error_model="numpy", inline="always")
def _copy_pipeline(wa, lc, rules, task_shape, r, gp, g0, e0, row):
    """Copy reserve pipeline r into slot gp (tasks from g0, edges from e0); returns the next free (g, e).

    The copy belongs to model row ``row`` and keeps the reserve pipeline's
    priority and candidate outcomes; its pipeline_id and submit time are the caller's.
    """
    res = rules.res
    a = res.task_ptr[r]
    b = res.task_ptr[r + 1]
    wa.model[gp] = lc.model_id[row]
    wa.priority[gp] = res.priority[r]
    wa.cand_accuracy[gp] = res.cand_accuracy[r]
    wa.cand_robustness[gp] = res.cand_robustness[r]
    wa.cand_fairness[gp] = res.cand_fairness[r]
    wa.compress_loss[gp] = res.compress_loss[r]
    lc.pipeline_row[gp] = row
    wa.task_ptr[gp] = g0
    wa.task_ptr[gp + 1] = g0 + (b - a)
    e = e0
    for u in range(a, b):
        g = g0 + (u - a)
        wa.task_pipeline[g] = gp
        wa.task_type[g] = res.task_type[u]
        wa.cpu[g] = res.cpu[u]
        wa.gpu[g] = res.gpu[u]
        wa.mem[g] = res.mem[u]
        wa.duration[g] = res.duration[u]
        wa.n_pred[g] = res.n_pred[u]
        task_shape[g] = rules.res_shape[u]
        wa.succ_ptr[g] = e
        for x in range(res.succ_ptr[u], res.succ_ptr[u + 1]):
            wa.succ[e] = res.succ[x] - a + g0
            e += 1
    wa.succ_ptr[g0 + (b - a)] = e
    wa, lc, rules, task_shape  # keep-alive (heaps.py)
    return g0 + (b - a), e
