"""Compiled pieces of elastic clusters (MODEL.md 11). Every function here is Numba ``njit``.

The event loop (``loop.run_replication_nb``) takes an :class:`ElasticArrays`, or
None for a cluster whose pools are all static with no spot pool: then none of
this module is compiled into it. With one, the loop's nodes are *slots*
(``max_count`` per pool) and it keeps, per slot, the state (released, booting,
up), the boot completion time, the idle-since time, the number of running tasks
and the node instance (a row of the node timeline); this module requests and
releases node instances, bills them, and runs the autoscalers' ticks on that
state.

A slot that is not up has free capacity -1 in every dimension in the loop's
``free`` array, so the placement search (``loop.find_node_nb``) never picks it
and needs no test of its own; a node that comes up (a request with boot_time 0,
a boot completion) gains capacity outside the free log, so the loop forgets
what it knew about blocked shapes (``blocked_at = -1``) at that moment.
"""
from typing import NamedTuple

import math

import numpy as np
from numba import njit, types

from .constants import (
    AUTOSCALER_CUSTOM,
    AUTOSCALER_REACTIVE,
    AUTOSCALER_SCHEDULE,
    AUTOSCALER_TARGET_UTILIZATION,
    EXPANDER_CHEAPEST,
    EXPANDER_FIRST,
    FIT_TOL,
    HOURS_PER_WEEK,
    NODE_BOOTING,
    NODE_RELEASED,
    NODE_REPLACEMENT,
    NODE_SCALE_UP,
    NODE_UP,
    PLACEMENT_BEST_FIT,
    PLACEMENT_FIRST_FIT,
    PLACEMENT_WORST_FIT,
    RELEASE_SCALE_DOWN,
    RESOURCE_AUTO,
)
from .heaps import task_before

# Signature of a custom autoscaler (MODEL.md 11.4 custom): desired(pool, up, booting,
# ready, utilization, now) -> nodes. Passed to the loop as a first-class function,
# like a custom policy key, so that the loop stays cached.
CUSTOM_AUTOSCALER_SIGNATURE = types.int64(types.int64, types.int64, types.int64, types.int64,
                                          types.float64, types.float64)

def _no_custom_autoscaler(pool, up, booting, ready, utilization, now):
    """Placeholder passed for an autoscaler that is built in; never called."""
    return 0


def __getattr__(name):
    # made on first use, like loop.no_custom_key (a cfunc initializes Numba's compiler)
    if name == "no_custom_autoscaler":
        from numba import cfunc

        f = globals()["no_custom_autoscaler"] = cfunc(CUSTOM_AUTOSCALER_SIGNATURE, cache=True)(
            _no_custom_autoscaler)
        return f
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Where each autoscaler parameter sits in ``ElasticArrays.params`` (constants.AUTOSCALER_PARAMETERS).
P_INTERVAL, P_IDLE_TIMEOUT, P_EXPANDER, P_TARGET, P_TOLERANCE, P_STABILIZATION, P_RESOURCE = range(7)

# out_counts columns (constants.ELASTIC_ACCUMULATORS)
C_SCALE_UPS, C_SCALE_DOWNS, C_REPLACEMENTS, C_INTERRUPTIONS, C_RESTARTED, C_WORK_LOST = range(6)


class ElasticArrays(NamedTuple):
    """What the event loop reads and writes of an elastic cluster, for one replication.

    N slots (``max_count`` per pool, pool by pool), Q pools, T tasks of the batch.

    Attributes
    ----------
    pool_count, pool_min, pool_max : int64[Q]
        Nodes up at t = 0, min_count, max_count.
    pool_boot, pool_billing_minimum, pool_price : float64[Q]
        boot_time (s), billing_minimum (s), price_per_hour.
    kind : int64[1]
        The autoscaler (``constants.AUTOSCALER_*``).
    params : float64[N_AUTOSCALER_PARAMETERS]
        Its parameters (``constants.AUTOSCALER_PARAMETERS``; NaN where it has none).
    schedule : int64[Q, 168]
        The schedule autoscaler's count of each pool at each hour of week, -1 for
        a pool it leaves alone (empty for the other autoscalers).
    spot_ptr : int64[N + 1]
        Slot n's interruption times are ``spot_times[spot_ptr[n]:spot_ptr[n+1]]``.
    spot_times : float64[n_times]
    checkpoint : float64[T]
        ``checkpoint_every`` of each task of the batch (0 for none); the loop writes
        those of the pipelines the automation rules submit.
    res_checkpoint : float64[T_res]
        ``checkpoint_every`` of each task of the rules' reserve (``RuleArrays.res``);
        empty if none has one.
    restarts : int64[T]
        Written: each task's restarts (MODEL.md 11.5).
    node_time : float64[rows, 3]
        Written: the node timeline's requested, up and released times
        (``constants.NODE_TIME_COLUMNS``), NaN where they did not happen.
    node_code : int64[rows, 3]
        Written: node index, reason, release reason (``constants.NODE_CODE_COLUMNS``).
    node_rows : int64[1]
        Written: rows of the timeline used (more than ``rows``: the run stopped
        with ``RUN_NEED_NODE_ROWS`` and must be run again with more rows).
    out_counts : float64[N_ELASTIC_ACCUMULATORS]
        Written: ``constants.ELASTIC_ACCUMULATORS`` over [warmup, end].
    out_pool : float64[Q, 2]
        Written: billed seconds and up seconds of each pool over [warmup, end].
    """

    pool_count: np.ndarray
    pool_min: np.ndarray
    pool_max: np.ndarray
    pool_boot: np.ndarray
    pool_billing_minimum: np.ndarray
    pool_price: np.ndarray
    kind: np.ndarray
    params: np.ndarray
    schedule: np.ndarray
    spot_ptr: np.ndarray
    spot_times: np.ndarray
    checkpoint: np.ndarray
    res_checkpoint: np.ndarray
    restarts: np.ndarray
    node_time: np.ndarray
    node_code: np.ndarray
    node_rows: np.ndarray
    out_counts: np.ndarray
    out_pool: np.ndarray


@njit(cache=True, error_model="numpy")
def checkpointed_work_nb(progress, remaining, every):
    """MODEL.md 11.5: m * every for the largest whole m >= 0 with m * every <= progress
    and m * every < remaining; 0 without checkpoints (every NaN or 0). floor() gives m
    up to one rounding step; the loops settle it on the float products themselves."""
    if not every > 0.0:
        return 0.0
    # (progress < remaining in a run: a task interrupted has not completed; the min keeps the
    # search short whatever it is given)
    m = math.floor(min(progress, remaining) / every)
    while m > 0 and (m * every > progress or m * every >= remaining):
        m -= 1
    while (m + 1) * every <= progress and (m + 1) * every < remaining:
        m += 1
    return m * every


@njit(cache=True, error_model="numpy")
def add_billing_nb(el, q, r, u, e, warmup, end):
    """Add one node instance's billed and up seconds within [warmup, end] to pool q (MODEL.md 11.6).

    r, u, e: request, up (NaN if it never came up) and release (inf if not released) times."""
    hi = min(max(e, r + el.pool_billing_minimum[q]), end)
    lo = max(r, warmup)
    el.out_pool[q, 0] += hi - lo if hi > lo else 0.0
    if u == u:
        hi = min(e, end)
        lo = max(u, warmup)
        el.out_pool[q, 1] += hi - lo if hi > lo else 0.0


@njit(cache=True, error_model="numpy")
def node_up_nb(n, now, capacity, free, state, idle_since, inst, pool_up, node_pool, blocked_at, el):
    """Slot n's instance is up at ``now``: it takes tasks from the pass of this instant on."""
    state[n] = NODE_UP
    for d in range(3):
        free[n, d] = capacity[n, d]
    idle_since[n] = now
    pool_up[node_pool[n]] += 1
    row = inst[n]
    if row < el.node_time.shape[0]:
        el.node_time[row, 1] = now
    # it gained capacity outside the free log: every shape may fit again
    for s in range(blocked_at.shape[0]):
        blocked_at[s] = -1


@njit(cache=True, error_model="numpy")
def request_node_nb(q, now, reason, warmup, pool_start, capacity, free, state, boot_end, idle_since, inst,
                    req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el):
    """A new instance of pool q on its lowest released slot (MODEL.md 11.2); returns the slot.

    Counts a scale-up or a replacement (``reason``) when now >= warmup."""
    n = pool_start[q]
    while state[n] != NODE_RELEASED:
        n += 1
    row = el.node_rows[0]
    el.node_rows[0] = row + 1
    inst[n] = row
    req_time[n] = now
    up_time[n] = np.nan
    pool_req[q] += 1
    if row < el.node_time.shape[0]:
        el.node_time[row, 0] = now
        el.node_time[row, 1] = np.nan
        el.node_time[row, 2] = np.nan
        el.node_code[row, 0] = n
        el.node_code[row, 1] = reason
        el.node_code[row, 2] = -1
    if now >= warmup:
        if reason == NODE_SCALE_UP:
            el.out_counts[C_SCALE_UPS] += 1.0
        elif reason == NODE_REPLACEMENT:
            el.out_counts[C_REPLACEMENTS] += 1.0
    if el.pool_boot[q] == 0.0:
        up_time[n] = now
        node_up_nb(n, now, capacity, free, state, idle_since, inst, pool_up, node_pool, blocked_at, el)
    else:
        state[n] = NODE_BOOTING
        boot_end[n] = now + el.pool_boot[q]
    return n


@njit(cache=True, error_model="numpy")
def release_node_nb(n, now, why, warmup, horizon, free, state, inst, req_time, up_time, pool_req, pool_up,
                    node_pool, el):
    """End slot n's (up) instance at ``now`` and bill it (MODEL.md 11.2, 11.6)."""
    q = node_pool[n]
    row = inst[n]
    if row < el.node_time.shape[0]:
        el.node_time[row, 2] = now
        el.node_code[row, 2] = why
    if why == RELEASE_SCALE_DOWN and now >= warmup:
        el.out_counts[C_SCALE_DOWNS] += 1.0
    add_billing_nb(el, q, req_time[n], up_time[n], now, warmup, horizon)
    state[n] = NODE_RELEASED
    inst[n] = -1
    pool_req[q] -= 1
    pool_up[q] -= 1
    for d in range(3):
        free[n, d] = -1.0


@njit(cache=True, error_model="numpy")
def next_boot_nb(state, boot_end):
    """Earliest boot completion of a booting slot (inf if none)."""
    t = np.inf
    for n in range(state.shape[0]):
        if state[n] == NODE_BOOTING and boot_end[n] < t:
            t = boot_end[n]
    return t


@njit(cache=True, error_model="numpy")
def next_interruption_nb(sp, spot_ptr, spot_times):
    """Earliest interruption time not yet applied, over every slot (inf if none)."""
    t = np.inf
    for n in range(sp.shape[0]):
        if sp[n] < spot_ptr[n + 1] and spot_times[sp[n]] < t:
            t = spot_times[sp[n]]
    return t


@njit(cache=True, error_model="numpy")
def sort_tasks_nb(items, n, key, ready):
    """Sort local tasks ``items[:n]`` in MODEL.md 4.2's order (key, ready, index), in place.

    A bottom-up merge sort: stable, O(n log n), and Numba's own sorts cannot take
    this comparison."""
    tmp = np.empty(n, dtype=np.int64)
    width = 1
    src = items
    dst = tmp
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            for x in range(lo, hi):
                if i < mid and (j >= hi or not task_before(key, ready, src[j], src[i])):
                    dst[x] = src[i]
                    i += 1
                else:
                    dst[x] = src[j]
                    j += 1
        src, dst = dst, src
        width *= 2
    if src is not items:
        for x in range(n):
            items[x] = src[x]


@njit(cache=True, error_model="numpy", inline="always")
def _fits_row(free, n, req, s):
    out = free[n, 0] >= req[s, 0] - FIT_TOL and free[n, 1] >= req[s, 1] - FIT_TOL and free[n, 2] >= req[s, 2] - FIT_TOL
    free, req  # keep-alive (heaps.py)
    return out


@njit(cache=True, error_model="numpy")
def _place_copy(free, capacity, state, shape_req, s, placement):
    """MODEL.md 6's node for request shape s over the requested (booting or up) slots of
    ``free`` (the reactive autoscaler's copy), or -1."""
    best = -1
    best_score = 0.0
    for n in range(free.shape[0]):
        if state[n] == NODE_RELEASED or not _fits_row(free, n, shape_req, s):
            continue
        if placement == PLACEMENT_FIRST_FIT:
            return n
        sc = 0.0
        for d in range(3):
            c = capacity[n, d]
            if c > 0.0:
                sc += (free[n, d] - shape_req[s, d]) / c
        if (best < 0 or (placement == PLACEMENT_BEST_FIT and sc < best_score)
                or (placement == PLACEMENT_WORST_FIT and sc > best_score)):
            best = n
            best_score = sc
    return best


@njit(cache=True, error_model="numpy")
def scale_down_nb(q, target, now, warmup, horizon, pool_start, free, state, running, inst, req_time, up_time,
                  pool_req, pool_up, node_pool, el):
    """Release idle up nodes of q, highest index first, until q has ``target`` requested nodes."""
    for n in range(pool_start[q + 1] - 1, pool_start[q] - 1, -1):
        if pool_req[q] <= target:
            return
        if state[n] == NODE_UP and running[n] == 0:
            release_node_nb(n, now, RELEASE_SCALE_DOWN, warmup, horizon, free, state, inst, req_time, up_time,
                            pool_req, pool_up, node_pool, el)


@njit(cache=True, error_model="numpy")
def utilization_nb(q, d, pool_start, capacity, free, state, pool_req):
    """target_utilization's u of pool q in dimension d (MODEL.md 11.4), or -1.0 where the
    rule leaves the pool alone (no requested node, or no capacity in d)."""
    n_req = pool_req[q]
    if n_req == 0:
        return -1.0
    c = capacity[pool_start[q], d]
    if c == 0.0:
        return -1.0
    allocated = 0.0
    for n in range(pool_start[q], pool_start[q + 1]):
        if state[n] == NODE_UP:
            allocated += c - free[n, d]
    return allocated / (n_req * c)


@njit(cache=True, error_model="numpy")
def auto_dimension_nb(capacity, n, resource):
    """``resource``, or for auto: gpu if the node has any, else cpu if any, else mem_gb."""
    if resource != RESOURCE_AUTO:
        return resource
    if capacity[n, 1] > 0.0:
        return 1
    if capacity[n, 0] > 0.0:
        return 0
    return 2


@njit(cache=True, error_model="numpy")
def tick_nb(now, order, n_order, t0, task_shape, shape_req, placement, warmup, horizon, pool_start, capacity,
            free, state, boot_end, idle_since, running, inst, req_time, up_time, pool_req, pool_up, node_pool,
            blocked_at, rec_time, rec_value, rec_lo, rec_n, empty_fit, el, scalefn):
    """One autoscaler tick at ``now`` (MODEL.md 11.4).

    Parameters
    ----------
    order : int64[n_order]
        The ready tasks not started (local indices), in MODEL.md 4.2's order
        with keys at ``now`` (read by reactive and custom).
    rec_time, rec_value : float64[Q, ticks], int64[Q, ticks]
        target_utilization's recommendations; ``rec_lo[q]``, ``rec_n[q]`` the
        first in its stabilization window and how many there are (int64[Q]).
    empty_fit : bool[S, Q]
        Whether a task of request shape s fits an empty node of pool q (MODEL.md 4,
        or 12.3 on devices): custom's ready count.
    scalefn : FunctionType(CUSTOM_AUTOSCALER_SIGNATURE) or None
    """
    kind = el.kind[0]
    n_pools = pool_start.shape[0] - 1
    if kind == AUTOSCALER_REACTIVE:
        _reactive_tick(now, order, n_order, t0, task_shape, shape_req, placement, warmup, horizon, pool_start,
                       capacity, free, state, boot_end, idle_since, running, inst, req_time, up_time, pool_req,
                       pool_up, node_pool, blocked_at, el)
    elif kind == AUTOSCALER_TARGET_UTILIZATION:
        target = el.params[P_TARGET]
        tol = el.params[P_TOLERANCE]
        stab_window = el.params[P_STABILIZATION]
        resource = int(el.params[P_RESOURCE])
        for q in range(n_pools):
            n_req = pool_req[q]
            rec = n_req
            if pool_start[q + 1] > pool_start[q]:
                d = auto_dimension_nb(capacity, pool_start[q], resource)
                u = utilization_nb(q, d, pool_start, capacity, free, state, pool_req)
                if u >= 0.0:
                    ratio = u / target
                    if abs(ratio - 1.0) > tol:
                        rec = min(max(math.ceil(n_req * ratio), el.pool_min[q]), el.pool_max[q])
            i = rec_n[q]
            rec_time[q, i] = now
            rec_value[q, i] = rec
            rec_n[q] = i + 1
            while now - rec_time[q, rec_lo[q]] > stab_window:
                rec_lo[q] += 1
            stab = rec
            for x in range(rec_lo[q], rec_n[q]):
                if rec_value[q, x] > stab:
                    stab = rec_value[q, x]
            if rec > n_req:
                for _ in range(rec - n_req):
                    request_node_nb(q, now, NODE_SCALE_UP, warmup, pool_start, capacity, free, state, boot_end, idle_since,
                                    inst, req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el)
            elif stab < n_req:
                scale_down_nb(q, stab, now, warmup, horizon, pool_start, free, state, running, inst, req_time,
                              up_time, pool_req, pool_up, node_pool, el)
    elif kind == AUTOSCALER_SCHEDULE:
        how = int(math.floor(now / 3600.0)) % HOURS_PER_WEEK
        for q in range(n_pools):
            target = el.schedule[q, how]
            if target >= 0:
                _scale_to(q, target, now, warmup, horizon, pool_start, capacity, free, state, boot_end, idle_since,
                          running, inst, req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el)
    elif kind == AUTOSCALER_CUSTOM:
        if scalefn is not None:
            for q in range(n_pools):
                up = 0
                booting = 0
                for n in range(pool_start[q], pool_start[q + 1]):
                    if state[n] == NODE_UP:
                        up += 1
                    elif state[n] == NODE_BOOTING:
                        booting += 1
                n_fit = 0
                if pool_start[q + 1] > pool_start[q]:
                    a = pool_start[q]
                    for x in range(n_order):
                        if empty_fit[task_shape[t0 + order[x]], q]:
                            n_fit += 1
                    u = utilization_nb(q, auto_dimension_nb(capacity, a, RESOURCE_AUTO), pool_start, capacity,
                                       free, state, pool_req)
                else:
                    u = -1.0
                desired = scalefn(q, up, booting, n_fit, u if u >= 0.0 else 0.0, now)
                _scale_to(q, desired, now, warmup, horizon, pool_start, capacity, free, state, boot_end, idle_since,
                          running, inst, req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el)


@njit(cache=True, error_model="numpy")
def _scale_to(q, target, now, warmup, horizon, pool_start, capacity, free, state, boot_end, idle_since, running,
              inst, req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el):
    """schedule and custom: request up to ``target`` (clipped to [min_count, max_count]), or scale down to it."""
    target = min(max(target, el.pool_min[q]), el.pool_max[q])
    n_req = pool_req[q]
    for _ in range(target - n_req):
        request_node_nb(q, now, NODE_SCALE_UP, warmup, pool_start, capacity, free, state, boot_end, idle_since, inst,
                        req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el)
    if target < n_req:
        scale_down_nb(q, target, now, warmup, horizon, pool_start, free, state, running, inst, req_time, up_time,
                      pool_req, pool_up, node_pool, el)


@njit(cache=True, error_model="numpy")
def _reactive_tick(now, order, n_order, t0, task_shape, shape_req, placement, warmup, horizon, pool_start,
                   capacity, free, state, boot_end, idle_since, running, inst, req_time, up_time, pool_req, pool_up,
                   node_pool, blocked_at, el):
    """MODEL.md 11.4 reactive: (a) pending tasks, (b) scale-up by the expander, (c) scale-down."""
    n_nodes = free.shape[0]
    n_pools = pool_start.shape[0] - 1
    # (a) the walk over a copy of the requested nodes' free capacity (a booting node's is its capacity)
    copy = np.empty((n_nodes, 3))
    for n in range(n_nodes):
        for d in range(3):
            copy[n, d] = capacity[n, d] if state[n] == NODE_BOOTING else free[n, d]
    needed = np.zeros(n_nodes, dtype=np.bool_)
    pending = np.empty(n_order, dtype=np.int64)  # request shapes of the pending tasks, in walk order
    n_pending = 0
    for x in range(n_order):
        s = task_shape[t0 + order[x]]
        n = _place_copy(copy, capacity, state, shape_req, s, placement)
        if n < 0:
            pending[n_pending] = s
            n_pending += 1
            continue
        needed[n] = True
        for d in range(3):
            copy[n, d] -= shape_req[s, d]
    # (b) one option per pool with room; the expander chooses one; repeat
    expander = int(el.params[P_EXPANDER])
    placed = np.zeros(n_pending, dtype=np.bool_)
    best_placed = np.zeros(n_pending, dtype=np.bool_)
    opened = np.empty((max(n_pending, 1), 3))
    left = n_pending
    while left > 0:
        best_q = -1
        best_n = 0
        best_score = 0.0
        for q in range(n_pools):
            room = el.pool_max[q] - pool_req[q]
            if room <= 0:
                continue
            a = pool_start[q]
            n_open = 0
            any_placed = False
            for x in range(n_pending):
                placed[x] = False
            for x in range(n_pending):
                if pending[x] < 0:
                    continue
                s = pending[x]
                if not _fits_row(capacity, a, shape_req, s):
                    continue
                target = -1
                for o in range(n_open):
                    if _fits_row(opened, o, shape_req, s):
                        target = o
                        break
                if target < 0:
                    if n_open == room:
                        continue
                    target = n_open
                    for d in range(3):
                        opened[target, d] = capacity[a, d]
                    n_open += 1
                for d in range(3):
                    opened[target, d] -= shape_req[s, d]
                placed[x] = True
                any_placed = True
            if not any_placed:
                continue
            if expander == EXPANDER_FIRST:
                score = 0.0
            elif expander == EXPANDER_CHEAPEST:
                score = n_open * el.pool_price[q]
            else:
                total = 0.0
                dims = 0
                for d in range(3):
                    c = capacity[a, d]
                    if c > 0.0:
                        idle = 0.0
                        for o in range(n_open):
                            idle += opened[o, d]
                        total += idle / (n_open * c)
                        dims += 1
                score = total / dims if dims > 0 else 0.0
            if best_q < 0 or score < best_score:
                best_q = q
                best_n = n_open
                best_score = score
                for x in range(n_pending):
                    best_placed[x] = placed[x]
            if expander == EXPANDER_FIRST:
                break
        if best_q < 0:
            break
        for _ in range(best_n):
            request_node_nb(best_q, now, NODE_SCALE_UP, warmup, pool_start, capacity, free, state, boot_end, idle_since, inst,
                            req_time, up_time, pool_req, pool_up, node_pool, blocked_at, el)
        for x in range(n_pending):
            if best_placed[x] and pending[x] >= 0:
                pending[x] = -1
                left -= 1
    # (c) scale-down: idle, not needed, idle for idle_timeout; highest index first, down to min_count
    timeout = el.params[P_IDLE_TIMEOUT]
    for q in range(n_pools):
        for n in range(pool_start[q + 1] - 1, pool_start[q] - 1, -1):
            if pool_req[q] <= el.pool_min[q]:
                break
            if state[n] == NODE_UP and running[n] == 0 and not needed[n] and now - idle_since[n] >= timeout:
                release_node_nb(n, now, RELEASE_SCALE_DOWN, warmup, horizon, free, state, inst, req_time, up_time,
                                pool_req, pool_up, node_pool, el)
