"""The compiled loop of the fragmentation study (MODEL.md 12.11): pods arrive one by one and never leave.

Not the event loop: there is no time, no queue and no retry. Each pod (a task,
possibly a gang) is placed once with the device functions of
:mod:`fastpipesim.engine.devices`, or fails; after each pod the arrived GPU
demand, the free GPUs and the fragmented GPUs of the cluster are recorded.
Numba ``njit``, GIL released: the runs of a study (policies x seeds) go on a
pool of threads.
"""
import numpy as np
from numba import njit

from .devices import allocate_nb, choose_node_cached_nb, init_frag_nb, place_gang_nb, update_frag_nb


@njit(cache=True, nogil=True, error_model="numpy")
def study_run_nb(st, tg, sc, policy, ties, pod_cpu, pod_gpu, pod_mem, pod_spec, pod_reps, pod_slot, pod_shape, u,
                 cache_score, cache_dev, cache_ver, cache_owner, out_arrived, out_free, out_frag, out_node):
    """Place the pods of one replication in order under one placement rule.

    Parameters
    ----------
    st, tg, sc : DeviceState, Targets, Scratch
        An empty cluster (``devices.new_state``), the target workload and scratch.
    policy, ties : int
        Placement code (``DEVICE_PLACEMENTS``) and tie rule (``TIES``).
    pod_cpu, pod_gpu, pod_mem : float64[P]
        Each pod's per-part request, in arrival order.
    pod_spec : int64[P]
        GPU-model spec of each pod (-1: none).
    pod_reps : int64[P]
        Parts of each pod (1 unless it is a gang).
    pod_slot : int64[P]
        Row of ``u`` of each pod's first part (its parts take consecutive rows).
    pod_shape : int64[P]
        Request shape of each pod (equal requests, equal shape).
    u : float64[n_slots, 2]
        The placement stream's draws (MODEL.md 12.6).
    cache_score : float64[R, N]
    cache_dev, cache_ver : int64[R, N]
    cache_owner : int64[R]
        Score cache (``devices.choose_node_cached_nb``), direct-mapped: shape s
        uses row s % R, which is emptied when another shape owned it.
        ``cache_owner`` all -1 at first.
    out_arrived, out_free, out_frag : float64[P]
        Filled: after each pod, the GPU demand arrived so far (failed pods
        included), the cluster's free GPUs and its fragmented GPUs.
    out_node : int64[P]
        Filled: the node of each pod's first part, -1 if it failed.
    """
    frag_total = init_frag_nb(st, tg, sc.buf, sc.buf2)
    free_total = 0.0
    for n in range(st.cap.shape[0]):
        free_total += st.free[n, 1]
    arrived = 0.0
    for i in range(pod_cpu.shape[0]):
        c = pod_cpu[i]
        g = pod_gpu[i]
        m = pod_mem[i]
        reps = pod_reps[i]
        slot = pod_slot[i]
        arrived += g * reps
        row = pod_shape[i] % cache_owner.shape[0]
        if cache_owner[row] != pod_shape[i]:
            cache_owner[row] = pod_shape[i]
            cache_ver[row, :] = -1
        node = -1
        if reps == 1:
            node, dev = choose_node_cached_nb(st, tg, policy, ties, c, g, m, pod_spec[i], u[slot, 0], u[slot, 1], slot,
                                              sc, row, cache_score, cache_dev, cache_ver)
            if node >= 0:
                before = st.free[node, 1]
                allocate_nb(st, node, dev, c, g, m, sc.buf)
                free_total += st.free[node, 1] - before
                frag_total += update_frag_nb(st, tg, node, sc.buf, sc.buf2)
        else:
            placed, dfrag = place_gang_nb(st, tg, policy, ties, c, g, m, pod_spec[i], reps, u, slot, sc, row,
                                          cache_score, cache_dev, cache_ver)
            if placed:
                node = sc.gang_node[0]
                frag_total += dfrag
                for j in range(reps):
                    free_total += st.free[sc.gang_node[j], 1] - sc.save_f[j, 1]
        out_arrived[i] = arrived
        out_free[i] = free_total
        out_frag[i] = frag_total
        out_node[i] = node
