"""GPUs as devices (MODEL.md 12): device state, fit test, device and node choice, fragmentation.

Every function here is Numba ``njit`` (compiled, cached); each has a plain-Python
twin in ``.py_func`` that gives the same answer bit for bit (tests/test_devices.py).
The event loop will call them to place a task's parts; the fragmentation study
(:mod:`fastpipesim.engine.fragstudy`) calls them now.

Three NamedTuples of arrays carry the state (structure of arrays; N nodes, G =
the most devices any node has, at least 1; :func:`new_state` builds them):

:class:`DeviceState`, one per replication:

- ``cap`` : float64[N, 3] -- capacity (cpu, gpu = number of devices, mem_gb).
- ``free`` : float64[N, 3] -- free cpu, free GPU, free mem_gb. Column 1 is the
  node's free GPU: the sum of its device shares in ascending order of value
  (MODEL.md 12.1), kept up to date by :func:`refresh_node_nb`.
- ``dev_free`` : float64[N, G] -- free share of each device in [0, 1]; entries
  past a node's ``n_dev`` are 0 and never read.
- ``n_dev`` : int64[N] -- devices of each node.
- ``whole_free`` : int64[N] -- devices whose share is exactly 1 (wholly free).
- ``max_share`` : float64[N] -- the largest device share (0 without devices),
  so that the fit test of a shared request is one comparison.
- ``node_model`` : int64[N] -- GPU model code of each node, -1 for none.
- ``node_cls`` : int64[N, G + 1] -- GPU parts running on each node by request
  class: column 0 shared requests, column k whole requests of k devices
  (the classes of ``gpu_clustering``).
- ``node_frag`` : float64[N] -- each node's fragmentation against the target
  workload (MODEL.md 12.7); 0 without one.
- ``node_ver`` : int64[N] -- incremented whenever a node's state changes, so
  that cached scores know when they are stale.
- ``spec_ok`` : uint8[S, K] -- whether GPU-model spec s allows model k.
- ``norm`` : float64[2] -- the study scores' normalizers (cpu, gpu), MODEL.md 12.5.

:class:`Targets`, the target workload (MODEL.md 12.7), M shapes in target
order: ``cpu`` float64[M]; ``share`` float64[M] (per-device share: the
fraction, 1 for whole devices, 0 for none); ``count`` int64[M] (devices: 1 for
a fraction, k, or 0); ``spec`` int64[M] (-1: none); ``p`` float64[M]. M = 0
means no target workload.

:class:`Scratch`: buffers the hot path writes, so that it allocates nothing.

A task's *part* asks for ``c`` cores, ``g`` GPU (0, a fraction in (0, 1) of one
device, or a whole number of devices) and ``m`` GiB, with GPU-model spec ``sp``
(an index into ``spec_ok``, -1 for none).

No reference counts (``_nrt=False``). These kernels allocate nothing and keep no
array beyond a call: every array they touch belongs to a caller that holds it for
the whole call. With Numba's runtime on, each array argument -- each of the 12 + 5
+ 10 arrays of ``st``, ``tg``, ``sc`` -- costs an atomic increment at the start of
every call (of every function LLVM does not inline) and a decrement at its end,
and Numba's pruning of those pairs fails here: a call to another kernel adds an
error exit that skips the decrements, and LLVM's inlining and jump threading,
which run before the pruning, split and merge the decrement blocks. The one-exit
and keep-alive shape that works for the event loop's inlined helpers
(``heaps.py``) removed a fifth of the time on the openb trace with fgd; NRT
increments and decrements still took 54% of it. Without the runtime the
compiler emits none (and refuses to compile an allocation), which
makes the device path 2 to 3 times faster (benchmarks/README.md, issue 11).
"""
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .constants import (
    FIT_TOL,
    NODE_UP,
    PLACEMENT_BEST_FIT,
    PLACEMENT_DOT_PRODUCT,
    PLACEMENT_FGD,
    PLACEMENT_FIRST_FIT,
    PLACEMENT_GPU_BEST_FIT,
    PLACEMENT_GPU_PACKING,
    PLACEMENT_RANDOM,
    PLACEMENT_WORST_FIT,
    TIES_INDEX,
)

NEG_INF = -math.inf


class DeviceState(NamedTuple):
    """The devices of a replication's cluster (see the module docstring)."""

    cap: np.ndarray
    free: np.ndarray
    dev_free: np.ndarray
    n_dev: np.ndarray
    whole_free: np.ndarray
    max_share: np.ndarray
    node_model: np.ndarray
    node_cls: np.ndarray
    node_frag: np.ndarray
    node_ver: np.ndarray
    spec_ok: np.ndarray
    norm: np.ndarray


class Targets(NamedTuple):
    """The target workload, M shapes in target order (see the module docstring)."""

    cpu: np.ndarray
    share: np.ndarray
    count: np.ndarray
    spec: np.ndarray
    p: np.ndarray


class Scratch(NamedTuple):
    """Buffers of one replication.

    Attributes
    ----------
    buf, buf2 : float64[G + 1]
        Sorted device shares and their suffix sums.
    seen : float64[2 G]
        (share, score) pairs fgd has evaluated on a node.
    score : float64[N]
    dev : int64[N]
        Each node's score and fgd device for the part being placed.
    excl : int64[N]
        Nodes holding an earlier part of the gang being placed carry its token.
    save_f : float64[R, 5 + G]
    save_i : int64[R, 2 + G]
        The state of the nodes of a gang's placed parts (R = most replicas).
    gang_node, gang_mask : int64[R]
        Node and devices of each part of the last gang placed.
    """

    buf: np.ndarray
    buf2: np.ndarray
    seen: np.ndarray
    score: np.ndarray
    dev: np.ndarray
    excl: np.ndarray
    save_f: np.ndarray
    save_i: np.ndarray
    gang_node: np.ndarray
    gang_mask: np.ndarray


def new_state(cap, n_dev, node_model, spec_ok, norm, max_replicas: int = 1):
    """An empty cluster's :class:`DeviceState` and its :class:`Scratch` (every device wholly free).

    Parameters
    ----------
    cap : float64[N, 3]
    n_dev, node_model : int64[N]
    spec_ok : uint8[S, K]
    norm : float64[2]
    max_replicas : int
        The most parts of a gang the scratch must hold.
    """
    n = cap.shape[0]
    g = max(1, int(n_dev.max(initial=0)))
    st = DeviceState(cap=np.ascontiguousarray(cap, dtype=np.float64), free=np.empty((n, 3)),
                     dev_free=np.zeros((n, g)), n_dev=np.ascontiguousarray(n_dev, dtype=np.int64),
                     whole_free=np.zeros(n, dtype=np.int64), max_share=np.zeros(n),
                     node_model=np.ascontiguousarray(node_model, dtype=np.int64),
                     node_cls=np.zeros((n, g + 1), dtype=np.int64), node_frag=np.zeros(n),
                     node_ver=np.zeros(n, dtype=np.int64), spec_ok=np.ascontiguousarray(spec_ok, dtype=np.uint8),
                     norm=np.ascontiguousarray(norm, dtype=np.float64))
    init_state_nb(st)
    r = max(1, int(max_replicas))
    sc = Scratch(buf=np.zeros(g + 1), buf2=np.zeros(g + 1), seen=np.zeros(2 * g), score=np.zeros(n),
                 dev=np.zeros(n, dtype=np.int64), excl=np.full(n, -1, dtype=np.int64), save_f=np.zeros((r, 5 + g)),
                 save_i=np.zeros((r, 2 + g), dtype=np.int64), gang_node=np.zeros(r, dtype=np.int64),
                 gang_mask=np.zeros(r, dtype=np.int64))
    return st, sc


def no_targets() -> Targets:
    """An empty target workload (no fragmentation measured)."""
    return Targets(cpu=np.zeros(0), share=np.zeros(0), count=np.zeros(0, dtype=np.int64),
                   spec=np.zeros(0, dtype=np.int64), p=np.zeros(0))


# ----------------------------------------------------------------------------- small helpers

@njit(cache=True, error_model="numpy", _nrt=False)
def snap_nb(x):
    """A device share after an update: within 1e-9 of 1 or 0 it is exactly 1 or 0 (MODEL.md 12.1)."""
    if abs(x - 1.0) <= FIT_TOL:
        return 1.0
    if abs(x) <= FIT_TOL:
        return 0.0
    return x


@njit(cache=True, error_model="numpy", _nrt=False)
def ifloor_nb(x):
    """The integer part used by the study's scores: floor(x + 1e-9), as a float (MODEL.md 12.5)."""
    return math.floor(x + FIT_TOL)


@njit(cache=True, error_model="numpy", _nrt=False)
def spec_allows_nb(spec_ok, sp, model):
    """Does GPU-model spec ``sp`` (-1: none) allow a node of model ``model`` (-1: none)?"""
    if sp < 0:
        return True
    if model < 0:
        return False
    return spec_ok[sp, model] != 0


@njit(cache=True, error_model="numpy", _nrt=False)
def insert_desc_nb(buf, size, v):
    """Insert ``v`` into the descending ``buf[:size]``; returns size + 1."""
    i = size
    while i > 0 and buf[i - 1] < v:
        buf[i] = buf[i - 1]
        i -= 1
    buf[i] = v
    return size + 1


@njit(cache=True, error_model="numpy", _nrt=False)
def sorted_desc_nb(dev_free, n, nd, buf):
    """Copy node ``n``'s ``nd`` device shares into ``buf[:nd]`` in descending order."""
    size = 0
    for d in range(nd):
        size = insert_desc_nb(buf, size, dev_free[n, d])


@njit(cache=True, error_model="numpy", _nrt=False)
def ascending_sum_nb(vals, nd):
    """Sum of the descending ``vals[:nd]`` taken smallest first (the order MODEL.md 12.1 fixes)."""
    s = 0.0
    for i in range(nd - 1, -1, -1):
        s += vals[i]
    return s


# ----------------------------------------------------------------------------- state

@njit(cache=True, error_model="numpy", _nrt=False)
def refresh_node_nb(st, n, buf):
    """Recompute node ``n``'s free GPU, wholly free devices and largest share from its devices."""
    nd = st.n_dev[n]
    sorted_desc_nb(st.dev_free, n, nd, buf)
    st.free[n, 1] = ascending_sum_nb(buf, nd)
    w = 0
    for i in range(nd):
        if buf[i] == 1.0:
            w += 1
    st.whole_free[n] = w
    st.max_share[n] = buf[0] if nd > 0 else 0.0
    st.node_ver[n] += 1


@njit(cache=True, error_model="numpy", _nrt=False)
def empty_node_nb(st, n):
    """Node ``n`` of ``st`` empty: its capacity free, every device wholly free, no GPU part
    (its fragmentation and version are the caller's)."""
    nd = st.n_dev[n]
    st.free[n, 0] = st.cap[n, 0]
    st.free[n, 1] = float(nd)
    st.free[n, 2] = st.cap[n, 2]
    for d in range(st.dev_free.shape[1]):
        st.dev_free[n, d] = 1.0 if d < nd else 0.0
    for k in range(st.node_cls.shape[1]):
        st.node_cls[n, k] = 0
    st.whole_free[n] = nd
    st.max_share[n] = 1.0 if nd > 0 else 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def init_state_nb(st):
    """Empty the cluster of ``st``: every device wholly free, nothing running, fragmentation 0."""
    for n in range(st.cap.shape[0]):
        empty_node_nb(st, n)
        st.node_frag[n] = 0.0
        st.node_ver[n] += 1


@njit(cache=True, error_model="numpy", _nrt=False)
def part_fits_nb(st, n, c, g, m, sp):
    """Does a part (c, g, m, spec sp) fit node ``n`` now (MODEL.md 12.3)?

    A fraction needs one device with at least that share free; k >= 1 needs k
    wholly free devices; cpu and mem as in section 4 (tolerance 1e-9).
    """
    if sp >= 0 and not spec_allows_nb(st.spec_ok, sp, st.node_model[n]):
        return False
    if st.free[n, 0] < c - FIT_TOL or st.free[n, 2] < m - FIT_TOL:
        return False
    if g <= 0.0:
        return True
    if g < 1.0:
        return st.max_share[n] >= g - FIT_TOL
    return st.whole_free[n] >= int(g)


@njit(cache=True, error_model="numpy", _nrt=False)
def share_device_nb(st, policy, n, g, u_dev):
    """The device a shared request ``g`` takes on node ``n`` (MODEL.md 12.4), or -1 if none fits.

    first_fit: lowest index; worst_fit: largest share; random: the
    ``floor(u_dev * count)``-th fitting device in index order; every other rule
    (best_fit and the study's, fgd aside): the tightest, smallest share. Ties
    to the lowest index.
    """
    dev_free = st.dev_free
    nd = st.n_dev[n]
    if policy == PLACEMENT_RANDOM:
        count = 0
        for d in range(nd):
            if dev_free[n, d] >= g - FIT_TOL:
                count += 1
        if count == 0:
            return -1
        j = min(int(u_dev * count), count - 1)
        for d in range(nd):
            if dev_free[n, d] >= g - FIT_TOL:
                if j == 0:
                    return d
                j -= 1
        return -1
    best = -1
    for d in range(nd):
        v = dev_free[n, d]
        if v < g - FIT_TOL:
            continue
        if policy == PLACEMENT_FIRST_FIT:
            return d
        if best < 0:
            best = d
        elif policy == PLACEMENT_WORST_FIT:
            if v > dev_free[n, best]:
                best = d
        elif v < dev_free[n, best]:
            best = d
    return best


@njit(cache=True, error_model="numpy", _nrt=False)
def whole_devices_nb(st, n, k):
    """Bit mask of the ``k`` wholly free devices of lowest index on node ``n`` (0 if there are fewer)."""
    mask = 0
    taken = 0
    for d in range(st.n_dev[n]):
        if taken == k:
            break
        if st.dev_free[n, d] == 1.0:
            mask |= 1 << d
            taken += 1
    return mask if taken == k else 0


@njit(cache=True, error_model="numpy", _nrt=False)
def allocate_nb(st, n, dev, c, g, m, buf):
    """Start a part on node ``n``: subtract its request; returns the bit mask of its devices.

    ``dev`` is the device of a shared request (:func:`share_device_nb` or the
    fgd score); whole requests take :func:`whole_devices_nb`. The node's
    fragmentation is not updated here (:func:`update_frag_nb`).
    """
    st.free[n, 0] -= c
    st.free[n, 2] -= m
    mask = 0
    if g > 0.0:
        if g < 1.0:
            st.dev_free[n, dev] = snap_nb(st.dev_free[n, dev] - g)
            mask = 1 << dev
            st.node_cls[n, 0] += 1
        else:
            k = int(g)
            mask = whole_devices_nb(st, n, k)
            for d in range(st.n_dev[n]):
                if (mask >> d) & 1:
                    st.dev_free[n, d] = 0.0
            st.node_cls[n, k] += 1
    refresh_node_nb(st, n, buf)
    return mask


@njit(cache=True, error_model="numpy", _nrt=False)
def release_nb(st, n, mask, c, g, m, buf):
    """A part on node ``n`` ends: its request is added back (its devices given by ``mask``)."""
    st.free[n, 0] += c
    st.free[n, 2] += m
    if g > 0.0:
        share = g if g < 1.0 else 1.0
        for d in range(st.n_dev[n]):
            if (mask >> d) & 1:
                st.dev_free[n, d] = snap_nb(st.dev_free[n, d] + share)
        st.node_cls[n, 0 if g < 1.0 else int(g)] -= 1
    refresh_node_nb(st, n, buf)


# ----------------------------------------------------------------------------- fragmentation

@njit(cache=True, error_model="numpy", _nrt=False)
def frag_of_values_nb(vals, nd, cpu_free, model, tg, spec_ok, suf):
    """Fragmentation of a node whose device shares are ``vals[:nd]`` (descending) (MODEL.md 12.7).

    F = sum over target shapes t, in target order, of p_t times the free GPU t
    could not use: all of it (R_0) if t asks no GPU, is not allowed on the
    node's model, lacks cpu, or finds fewer devices with share >= its
    per-device request than it needs; else the shares of the devices too small
    for it (R_j, j = the devices large enough).

    Parameters
    ----------
    vals : float64[>= nd]
        Device shares, descending.
    suf : float64[>= nd + 1]
        Scratch: ``suf[j]`` = vals[nd-1] + ... + vals[j], smallest first.
    """
    suf[nd] = 0.0
    for j in range(nd - 1, -1, -1):
        suf[j] = suf[j + 1] + vals[j]
    total = suf[0]
    f = 0.0
    for t in range(tg.p.shape[0]):
        p = tg.p[t]
        s = tg.share[t]
        if s <= 0.0 or cpu_free < tg.cpu[t] - FIT_TOL or not spec_allows_nb(spec_ok, tg.spec[t], model):
            f += p * total
            continue
        j = 0
        while j < nd and vals[j] >= s - FIT_TOL:
            j += 1
        if j >= tg.count[t]:
            f += p * suf[j]
        else:
            f += p * total
    return f


@njit(cache=True, error_model="numpy", _nrt=False)
def node_frag_nb(st, tg, n, buf, buf2):
    """Fragmentation F_n of node ``n`` in its current state (MODEL.md 12.7)."""
    nd = st.n_dev[n]
    sorted_desc_nb(st.dev_free, n, nd, buf)
    return frag_of_values_nb(buf, nd, st.free[n, 0], st.node_model[n], tg, st.spec_ok, buf2)


@njit(cache=True, error_model="numpy", _nrt=False)
def update_frag_nb(st, tg, n, buf, buf2):
    """Recompute node ``n``'s cached fragmentation; returns the change (for the cluster's total)."""
    old = st.node_frag[n]
    st.node_frag[n] = node_frag_nb(st, tg, n, buf, buf2) if tg.p.shape[0] > 0 else 0.0
    return st.node_frag[n] - old


@njit(cache=True, error_model="numpy", _nrt=False)
def init_frag_nb(st, tg, buf, buf2):
    """Compute every node's fragmentation (after :func:`init_state_nb`, once targets are known); returns the sum."""
    total = 0.0
    for n in range(st.cap.shape[0]):
        total += update_frag_nb(st, tg, n, buf, buf2)
    return total


@njit(cache=True, error_model="numpy", _nrt=False)
def frag_after_nb(st, tg, n, dev, c, g, buf, buf2):
    """F_n as it would be after a part (c, g) starts on node ``n`` (a shared one on device ``dev``).

    The changed share is snapped as :func:`allocate_nb` would; whole requests
    take wholly free devices.
    """
    nd = st.n_dev[n]
    k = int(g) if g >= 1.0 else 0
    size = 0
    for d in range(nd):
        v = st.dev_free[n, d]
        if d == dev:
            v = snap_nb(v - g)
        elif k > 0 and v == 1.0:
            v = 0.0
            k -= 1
        size = insert_desc_nb(buf, size, v)
    return frag_of_values_nb(buf, nd, st.free[n, 0] - c, st.node_model[n], tg, st.spec_ok, buf2)


# ----------------------------------------------------------------------------- scores

@njit(cache=True, error_model="numpy", _nrt=False)
def fgd_score_nb(st, tg, n, c, g, sc):
    """fgd's score of node ``n`` and the device a shared request takes there (MODEL.md 12.5).

    score = floor(100 sigmoid(F_before - F_after)); a shared request tries every
    device with room and keeps the best, ties to the lowest index (devices with
    equal shares give equal results, so each share is evaluated once).
    """
    before = st.node_frag[n]
    if g <= 0.0 or g >= 1.0:
        after = frag_after_nb(st, tg, n, -1, c, g, sc.buf, sc.buf2)
        return ifloor_nb(1.0 / (1.0 + math.exp(-(before - after))) * 100.0), -1
    best = NEG_INF
    best_dev = -1
    n_seen = 0
    seen = sc.seen
    for d in range(st.n_dev[n]):
        v = st.dev_free[n, d]
        if v < g - FIT_TOL:
            continue
        score = NEG_INF
        for i in range(n_seen):
            if seen[2 * i] == v:
                score = seen[2 * i + 1]
                break
        if score == NEG_INF:
            after = frag_after_nb(st, tg, n, d, c, g, sc.buf, sc.buf2)
            score = ifloor_nb(1.0 / (1.0 + math.exp(-(before - after))) * 100.0)
            seen[2 * n_seen] = v
            seen[2 * n_seen + 1] = score
            n_seen += 1
        if score > best:
            best = score
            best_dev = d
    return best, best_dev


@njit(cache=True, error_model="numpy", _nrt=False)
def node_score_nb(st, policy, n, c, g, m):
    """Score of node ``n`` for a part (c, g, m) under ``policy``; the highest wins (MODEL.md 12.5).

    Not for fgd (:func:`fgd_score_nb`). first_fit and random score every node
    0; best_fit returns minus the section-6 score, so that for every rule the
    highest score wins. Ties are broken by the caller.
    """
    free = st.free
    if policy == PLACEMENT_FIRST_FIT or policy == PLACEMENT_RANDOM:
        return 0.0
    if policy == PLACEMENT_BEST_FIT or policy == PLACEMENT_WORST_FIT:
        cap = st.cap
        sc = 0.0
        if cap[n, 0] > 0.0:
            sc += (free[n, 0] - c) / cap[n, 0]
        if cap[n, 1] > 0.0:
            sc += (free[n, 1] - g) / cap[n, 1]
        if cap[n, 2] > 0.0:
            sc += (free[n, 2] - m) / cap[n, 2]
        return -sc if policy == PLACEMENT_BEST_FIT else sc
    s_cpu = st.norm[0]
    s_gpu = st.norm[1]
    if policy == PLACEMENT_DOT_PRODUCT:
        dot = (free[n, 0] / s_cpu) * (c / s_cpu) + (free[n, 1] / s_gpu) * (g / s_gpu)
        return ifloor_nb(100.0 * (1.0 - dot / 2.0))
    if policy == PLACEMENT_GPU_BEST_FIT:
        sc = 0.5 * (free[n, 0] - c) / s_cpu + 0.5 * (free[n, 1] - g) / s_gpu
        return ifloor_nb((1.0 - sc) * 100.0)
    if g <= 0.0:  # gpu_packing and gpu_clustering give every node 0 for a part without GPU
        return 0.0
    if policy == PLACEMENT_GPU_PACKING:
        w = st.whole_free[n]
        if w == st.n_dev[n]:
            return float(max(33 - w, w))  # an unused node
        if g >= 1.0:
            return float(max(50 - int(g), 33))  # wholly free devices of a used node
        v = st.dev_free[n, share_device_nb(st, PLACEMENT_BEST_FIT, n, g, 0.0)]
        if v == 1.0:
            return 49.0  # max(50 - 1, 33): a wholly free device of a used node
        return max(100.0 - math.floor(ifloor_nb(100.0 * v) / 10.0), 50.0)  # a shared device
    # gpu_clustering
    cls = 0 if g < 1.0 else int(g)
    base = ifloor_nb(25.0 * (s_gpu - free[n, 1]) / s_gpu)
    classes = 0
    for k in range(st.node_cls.shape[1]):
        if st.node_cls[n, k] > 0:
            classes += 1
    if st.node_cls[n, cls] > 0:
        return base + (75.0 if classes == 1 else 50.0)
    return base + (25.0 if classes == 0 else 0.0)


@njit(cache=True, error_model="numpy", _nrt=False)
def node_value_nb(st, tg, policy, n, c, g, m, sp, sc):
    """(score, fgd device) of node ``n`` for a part, or (-inf, -1) if the part does not fit there."""
    if not part_fits_nb(st, n, c, g, m, sp):
        return NEG_INF, -1
    if policy == PLACEMENT_FGD:
        return fgd_score_nb(st, tg, n, c, g, sc)
    return node_score_nb(st, policy, n, c, g, m), -1


@njit(cache=True, error_model="numpy", _nrt=False)
def select_node_nb(scores, excl, token, pick_random, u_node):
    """The winner among ``scores`` (-inf: does not fit), skipping nodes with ``excl == token``.

    The highest score wins; among equal ones the lowest index, or with
    ``pick_random`` the ``floor(u_node * count)``-th in index order. -1 if none.
    """
    best = NEG_INF
    count = 0
    first = -1
    for n in range(scores.shape[0]):
        s = scores[n]
        if s == NEG_INF or excl[n] == token:
            continue
        if count == 0 or s > best:
            best = s
            count = 1
            first = n
        elif s == best:
            count += 1
    if count <= 1 or not pick_random:
        return first
    j = min(int(u_node * count), count - 1)
    for n in range(first, scores.shape[0]):
        if scores[n] == best and excl[n] != token:
            if j == 0:
                return n
            j -= 1
    return first


@njit(cache=True, error_model="numpy", _nrt=False)
def choose_node_nb(st, tg, policy, ties, c, g, m, sp, u_node, u_dev, token, sc):
    """The node (and, for a shared request, the device) a part goes to, or (-1, -1) (MODEL.md 12.3-12.5).

    Every node is scored. ``token`` marks the nodes of earlier parts of the
    same gang in ``sc.excl`` (they are skipped); ``u_node``, ``u_dev`` are the
    part's two draws (MODEL.md 12.6).

    Returns
    -------
    (node, device) : (int, int)
        device is -1 unless the request is a fraction.
    """
    share = g > 0.0 and g < 1.0
    if policy == PLACEMENT_FIRST_FIT and ties == TIES_INDEX:
        for n in range(st.cap.shape[0]):  # the first node that fits: no need to score the others
            if sc.excl[n] != token and part_fits_nb(st, n, c, g, m, sp):
                return n, (share_device_nb(st, policy, n, g, u_dev) if share else -1)
        return -1, -1
    for n in range(st.cap.shape[0]):
        sc.score[n], sc.dev[n] = node_value_nb(st, tg, policy, n, c, g, m, sp, sc)
    node = select_node_nb(sc.score, sc.excl, token, policy == PLACEMENT_RANDOM or ties != TIES_INDEX, u_node)
    if node < 0 or not share:
        return node, -1
    if policy == PLACEMENT_FGD:
        return node, sc.dev[node]
    return node, share_device_nb(st, policy, node, g, u_dev)


@njit(cache=True, error_model="numpy", _nrt=False)
def choose_node_cached_nb(st, tg, policy, ties, c, g, m, sp, u_node, u_dev, token, sc, shape, cache_score,
                          cache_dev, cache_ver):
    """As :func:`choose_node_nb`, rescoring only the nodes that changed since request shape ``shape`` last came.

    A node's score for a request depends only on the node's state, so it is
    kept per (shape, node) with the node's version (``DeviceState.node_ver``)
    at the time; same answers as :func:`choose_node_nb`, much less work when
    few nodes change between requests of a shape.

    Parameters
    ----------
    shape : int
        The request shape (c, g, m, sp) of the part, 0..n_shapes-1.
    cache_score : float64[n_shapes, N]
    cache_dev : int64[n_shapes, N]
    cache_ver : int64[n_shapes, N]
        Initially -1.
    """
    row = cache_score[shape]
    ver = cache_ver[shape]
    devs = cache_dev[shape]
    for n in range(st.cap.shape[0]):
        if ver[n] != st.node_ver[n]:
            row[n], devs[n] = node_value_nb(st, tg, policy, n, c, g, m, sp, sc)
            ver[n] = st.node_ver[n]
    node = select_node_nb(row, sc.excl, token, policy == PLACEMENT_RANDOM or ties != TIES_INDEX, u_node)
    if node < 0 or not (g > 0.0 and g < 1.0):
        return node, -1
    if policy == PLACEMENT_FGD:
        return node, devs[node]
    return node, share_device_nb(st, policy, node, g, u_dev)


@njit(cache=True, error_model="numpy", _nrt=False)
def place_gang_nb(st, tg, policy, ties, c, g, m, sp, reps, u, slot0, sc, shape, cache_score, cache_dev,
                  cache_ver):
    """Place the ``reps`` parts of a task one after another on distinct nodes, all or none (MODEL.md 12.8).

    Part j uses the draws ``u[slot0 + j]``; each placed part marks its node in
    ``sc.excl`` with the token ``slot0`` (unique per task) so that later parts
    skip it. If a part finds no node, the nodes of the earlier parts get back
    their exact previous state (not the request added back: float sums need
    not return to the same bits) and their marks are cleared.

    Returns
    -------
    (placed, dfrag) : (bool, float)
        On success, ``sc.gang_node[:reps]`` and ``sc.gang_mask[:reps]`` hold
        each part's node and devices, and ``dfrag`` is the change of the
        cluster's fragmentation (node fragmentation is kept up to date).
    With ``shape < 0`` every node is scored (:func:`choose_node_nb`), else the
    cache of :func:`choose_node_cached_nb` is used.

    Parameters
    ----------
    u : float64[n_slots, 2]
    """
    n_gd = st.dev_free.shape[1]
    n_cls = st.node_cls.shape[1]
    dfrag = 0.0
    for j in range(reps):
        if shape < 0:
            node, dev = choose_node_nb(st, tg, policy, ties, c, g, m, sp, u[slot0 + j, 0], u[slot0 + j, 1], slot0, sc)
        else:
            node, dev = choose_node_cached_nb(st, tg, policy, ties, c, g, m, sp, u[slot0 + j, 0], u[slot0 + j, 1],
                                              slot0, sc, shape, cache_score, cache_dev, cache_ver)
        if node < 0:
            for i in range(j - 1, -1, -1):
                n = sc.gang_node[i]
                st.free[n, 0] = sc.save_f[i, 0]
                st.free[n, 1] = sc.save_f[i, 1]
                st.free[n, 2] = sc.save_f[i, 2]
                st.node_frag[n] = sc.save_f[i, 3]
                st.max_share[n] = sc.save_f[i, 4]
                for d in range(n_gd):
                    st.dev_free[n, d] = sc.save_f[i, 5 + d]
                st.whole_free[n] = sc.save_i[i, 0]
                for k in range(n_cls):
                    st.node_cls[n, k] = sc.save_i[i, 1 + k]
                st.node_ver[n] += 1
                sc.excl[n] = -1  # so that a later attempt of this task may use the node again
            return False, 0.0
        sc.save_f[j, 0] = st.free[node, 0]
        sc.save_f[j, 1] = st.free[node, 1]
        sc.save_f[j, 2] = st.free[node, 2]
        sc.save_f[j, 3] = st.node_frag[node]
        sc.save_f[j, 4] = st.max_share[node]
        for d in range(n_gd):
            sc.save_f[j, 5 + d] = st.dev_free[node, d]
        sc.save_i[j, 0] = st.whole_free[node]
        for k in range(n_cls):
            sc.save_i[j, 1 + k] = st.node_cls[node, k]
        sc.gang_node[j] = node
        sc.gang_mask[j] = allocate_nb(st, node, dev, c, g, m, sc.buf)
        dfrag += update_frag_nb(st, tg, node, sc.buf, sc.buf2)
        sc.excl[node] = slot0
    return True, dfrag


# ----------------------------------------------------------------------------- the event loop's devices

class DeviceRun(NamedTuple):
    """What the event loop (:func:`fastpipesim.engine.loop.run_replication_nb`) reads and
    writes to place a replication's tasks on devices (MODEL.md 12). One per replication.

    S request shapes (the loop's, refined by spec and replicas), T tasks of the
    replication (local indices), X part slots (MODEL.md 12.6), C cache rows.

    Attributes
    ----------
    st, sc, tg : DeviceState, Scratch, Targets
        The cluster's devices (emptied by the loop), scratch, the target workload.
    ties : int64[1]
        ``TIES_INDEX`` or ``TIES_RANDOM``.
    shape_spec : int64[S]
        GPU-model spec of each shape (-1: none).
    shape_reps : int64[S]
        Parts (replicas) of each shape's tasks.
    u : float64[X, 2]
        The placement stream's draws, one row per part slot.
    slot_ptr : int64[T + 1]
        Written by the loop: the parts of local task i are slots
        ``slot_ptr[i]:slot_ptr[i+1]`` (tasks in batch order, copies submitted by
        the automation rules after them in the order they are submitted).
    part_node, part_mask : int64[X]
        Written: the node and the devices (bit mask) of each part's last start;
        -1 and 0 for a part never started.
    cache_score : float64[C, N]
    cache_dev, cache_ver : int64[C, N]
    cache_owner : int64[C]
        The score cache of :func:`choose_node_cached_nb`, direct-mapped (shape
        s uses row s % C).
    timeline : float64[L, 3]
        Written when L > 0: per event instant (time, free GPUs, fragmented GPUs)
        after the instant's pass (MODEL.md 12.9).
    tl_rows : int64[1]
        Written: the rows the run needed (more than L: the caller gave too few).
    out_gpu : float64[2]
        Written: time integrals over [warmup, end] of the free and the
        fragmented GPUs.
    """

    st: DeviceState
    sc: Scratch
    tg: Targets
    ties: np.ndarray
    shape_spec: np.ndarray
    shape_reps: np.ndarray
    u: np.ndarray
    slot_ptr: np.ndarray
    part_node: np.ndarray
    part_mask: np.ndarray
    cache_score: np.ndarray
    cache_dev: np.ndarray
    cache_ver: np.ndarray
    cache_owner: np.ndarray
    timeline: np.ndarray
    tl_rows: np.ndarray
    out_gpu: np.ndarray


@njit(cache=True, error_model="numpy", _nrt=False)
def gpu_totals_nb(st):
    """(free GPUs, fragmented GPUs) of the cluster: sums of g_free(n) and F_n in node index order (MODEL.md 12.12)."""
    f = 0.0
    fr = 0.0
    for n in range(st.cap.shape[0]):
        f += st.free[n, 1]
        fr += st.node_frag[n]
    return f, fr


@njit(cache=True, error_model="numpy", _nrt=False)
def fits_any_nb(st, nodes, a, b, c, g, m, sp):
    """Does a part (c, g, m, spec sp) fit now on one of the nodes ``nodes[a:b]`` (MODEL.md 12.3)?

    ``nodes : int64[:]`` (the loop's log of nodes freed by completions).
    """
    for x in range(a, b):
        if part_fits_nb(st, nodes[x], c, g, m, sp):
            return True
    return False


@njit(cache=True, error_model="numpy", _nrt=False)
def release_parts_nb(st, tg, sc, part_node, part_mask, slot0, reps, c, g, m):
    """A task's ``reps`` parts (slots ``slot0..``) end: each part's request is released, in part order,
    and its node's fragmentation updated (MODEL.md 12.8)."""
    for j in range(reps):
        n = part_node[slot0 + j]
        release_nb(st, n, part_mask[slot0 + j], c, g, m, sc.buf)
        update_frag_nb(st, tg, n, sc.buf, sc.buf2)


# ----------------------------------------------------------------------- elastic clusters (MODEL.md 12.12)

@njit(cache=True, error_model="numpy", _nrt=False)
def gpu_totals_up_nb(st, state):
    """(free GPUs, fragmented GPUs, GPUs) of the up nodes of an elastic cluster, summed in node
    index order (MODEL.md 12.12). ``state : int64[N]`` -- each slot's state (``NODE_UP``...)."""
    f = 0.0
    fr = 0.0
    up = 0.0
    for n in range(st.cap.shape[0]):
        if state[n] == NODE_UP:
            f += st.free[n, 1]
            fr += st.node_frag[n]
            up += float(st.n_dev[n])
    return f, fr, up


@njit(cache=True, error_model="numpy", _nrt=False)
def part_fits_empty_nb(st, n, c, g, m, sp):
    """Does a part (c, g, m, spec sp) fit node ``n`` when it is empty (MODEL.md 12.2, 12.3)?"""
    if sp >= 0 and not spec_allows_nb(st.spec_ok, sp, st.node_model[n]):
        return False
    if st.cap[n, 0] < c - FIT_TOL or st.cap[n, 2] < m - FIT_TOL:
        return False
    if g <= 0.0:
        return True
    if g < 1.0:
        return st.n_dev[n] >= 1
    return st.n_dev[n] >= int(g)


@njit(cache=True, error_model="numpy", _nrt=False)
def sync_slots_nb(st, tg, sc, state, inst, dev_inst):
    """Bring the device state of an elastic cluster's slots in line with their instances (MODEL.md 12.12).

    A slot whose instance came up since the last call (``inst[n]``, the instance's
    row, differs from ``dev_inst[n]``) gets every device wholly free and no GPU part;
    a slot that is no longer up takes no part (its free capacity is -1, set by
    ``elastic.release_node_nb``). Either way the node's version changes, so that
    cached scores are recomputed. Returns whether any slot changed.

    ``state``, ``inst``, ``dev_inst`` : int64[N] (``dev_inst`` -1 for a slot not up).
    """
    changed = False
    for n in range(st.cap.shape[0]):
        if state[n] == NODE_UP:
            if dev_inst[n] != inst[n]:
                empty_node_nb(st, n)
                update_frag_nb(st, tg, n, sc.buf, sc.buf2)
                st.node_ver[n] += 1
                dev_inst[n] = inst[n]
                changed = True
        elif dev_inst[n] >= 0:
            dev_inst[n] = -1
            st.node_frag[n] = 0.0
            st.node_ver[n] += 1
            changed = True
    return changed
