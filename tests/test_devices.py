"""GPUs as devices (MODEL.md 12): hand-computed placements for every policy, fragmentation, gangs, twins.

The numbers in the hand-computed cases are worked out in the comments from the
formulas of MODEL.md 12.5 and 12.7, not by the code under test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fastpipesim.engine import devices as D
from fastpipesim.engine.constants import (DEVICE_PLACEMENTS, PLACEMENT_BEST_FIT, PLACEMENT_FIRST_FIT,
                                          PLACEMENT_WORST_FIT, PLACEMENTS, TIES_INDEX, TIES_RANDOM)

P = {name: code for code, name in enumerate(DEVICE_PLACEMENTS)}
NORM = np.array([128.0, 8.0])


def cluster(caps, n_dev, models, spec_ok=None, max_replicas=4):
    cap = np.array(caps, dtype=np.float64)
    ok = np.ones((1, 1), np.uint8) if spec_ok is None else np.asarray(spec_ok, np.uint8)
    return D.new_state(cap, np.array(n_dev), np.array(models), ok, NORM, max_replicas)


def targets(rows):
    """rows: (cpu, share, count, spec, p)."""
    a = np.array(rows, dtype=object)
    return D.Targets(cpu=a[:, 0].astype(float), share=a[:, 1].astype(float), count=a[:, 2].astype(np.int64),
                     spec=a[:, 3].astype(np.int64), p=a[:, 4].astype(float))


# Targets of the hand cases: a 0.5 share (p 0.5), one whole GPU (p 0.3), a CPU-only task (p 0.2), all 4 cores.
TG = targets([(4.0, 0.5, 1, -1, 0.5), (4.0, 1.0, 1, -1, 0.3), (4.0, 0.0, 0, -1, 0.2)])


def scenario(tg=TG):
    """Three nodes (index order):

    n0: 8 devices, 96 cores, 384 GiB, nothing running;
    n1: 8 devices, 96 cores, 384 GiB, a 0.6 share on device 0 (10 cores, 10 GiB): devices [0.4, 1 x 7];
    n2: 2 devices, 16 cores, 64 GiB, one whole GPU on device 0 (8 cores, 16 GiB): devices [0, 1].
    """
    st, sc = cluster([[96, 8, 384], [96, 8, 384], [16, 2, 64]], [8, 8, 2], [0, 0, 0])
    D.allocate_nb(st, 1, 0, 10.0, 0.6, 10.0, sc.buf)
    D.allocate_nb(st, 2, -1, 8.0, 1.0, 16.0, sc.buf)
    D.init_frag_nb(st, tg, sc.buf, sc.buf2)
    return st, sc


def test_state_after_allocations():
    st, sc = scenario()
    assert st.dev_free[1, :8].tolist() == [0.4] + [1.0] * 7
    assert st.dev_free[2, :2].tolist() == [0.0, 1.0]
    assert st.whole_free.tolist() == [8, 7, 1] and st.max_share.tolist() == [1.0, 1.0, 1.0]
    assert st.free[:, 0].tolist() == [96.0, 86.0, 8.0] and st.free[:, 2].tolist() == [384.0, 374.0, 48.0]
    # free GPU = device shares summed smallest first: 0.4 + 1 + ... + 1
    assert st.free[1, 1] == 0.4 + 1.0 + 1.0 + 1.0 + 1.0 + 1.0 + 1.0 + 1.0 and st.free[2, 1] == 1.0
    assert st.node_cls[1, 0] == 1 and st.node_cls[2, 1] == 1 and st.node_cls.sum() == 2


def test_fragmentation_by_hand():
    st, sc = scenario()
    # n0, devices all 1, 96 cores: the 0.5 share and the whole GPU fit every device (0); the CPU-only
    # target cannot use any GPU: 0.2 x 8
    assert st.node_frag[0] == pytest.approx(1.6, abs=1e-12)
    # n1, [0.4, 1 x 7]: the 0.5 share and the whole GPU cannot use the 0.4 device: 0.5 x 0.4 + 0.3 x 0.4;
    # CPU-only: 0.2 x 7.4
    assert st.node_frag[1] == pytest.approx(0.2 + 0.12 + 1.48, abs=1e-12)
    # n2, [0, 1], 8 cores: both GPU targets fit device 1 (nothing fragmented); CPU-only: 0.2 x 1
    assert st.node_frag[2] == pytest.approx(0.2, abs=1e-12)
    # a target whose spec excludes the model, or that lacks cores, counts all free GPU
    spec_ok = np.array([[0, 1]], np.uint8)  # spec 0 allows model 1 only
    tg = targets([(4.0, 0.5, 1, 0, 1.0)])
    vals = np.array([1.0, 0.4, 0.0])
    suf = np.zeros(4)
    assert D.frag_of_values_nb(vals, 2, 8.0, 0, tg, spec_ok, suf) == 1.4   # model 0: excluded
    assert D.frag_of_values_nb(vals, 2, 8.0, 1, tg, spec_ok, suf) == 0.4   # model 1: the 0.4 device
    assert D.frag_of_values_nb(vals, 2, 3.0, 1, tg, spec_ok, suf) == 1.4   # 3 cores < 4
    assert D.frag_of_values_nb(vals, 2, 8.0, -1, tg, spec_ok, suf) == 1.4  # no model
    # whole k: needs k devices of share 1
    tg2 = targets([(1.0, 1.0, 2, -1, 1.0)])
    assert D.frag_of_values_nb(np.array([1.0, 1.0, 0.5]), 3, 8.0, 0, tg2, spec_ok, suf) == 0.5
    assert D.frag_of_values_nb(np.array([1.0, 0.9, 0.5]), 3, 8.0, 0, tg2, spec_ok, suf) == 0.5 + 0.9 + 1.0
    assert D.frag_of_values_nb(np.array([1.0]), 0, 8.0, 0, tg2, spec_ok, suf) == 0.0  # a CPU-only node


def scores(st, sc, policy, c, g, m, tg=TG):
    return [D.node_value_nb(st, tg, policy, n, c, g, m, -1, sc) for n in range(st.cap.shape[0])]


def test_share_request_every_policy_by_hand():
    """A 0.3 share, 4 cores, 8 GiB on the scenario; each policy's scores and choice (MODEL.md 12.4-12.5)."""
    st, sc = scenario()
    c, g, m = 4.0, 0.3, 8.0
    got = {}
    for name, code in P.items():
        got[name] = D.choose_node_nb(st, TG, code, TIES_INDEX, c, g, m, -1, 0.5, 0.9, -7, sc)
    # best_fit: section 6 sums (free - request) / capacity: n0 2.9, n1 2.6948, n2 0.25 + 0.35 + 0.625 = 1.225
    best = [s for s, _ in scores(st, sc, P["best_fit"], c, g, m)]
    assert best == pytest.approx([-(92 / 96 + 7.7 / 8 + 376 / 384), -(82 / 96 + 7.1 / 8 + 366 / 384),
                                  -(4 / 16 + 0.7 / 2 + 40 / 64)], abs=1e-12)
    # dot_product: floor(100 (1 - ((C/128)(4/128) + (F/8)(0.3/8)) / 2)): n0 96.95, n1 97.22, n2 99.67
    assert [s for s, _ in scores(st, sc, P["dot_product"], c, g, m)] == [96.0, 97.0, 99.0]
    # gpu_best_fit: floor((1 - (0.5 (C - 4)/128 + 0.5 (F - 0.3)/8)) 100): n0 15.94, n1 23.59, n2 94.06
    assert [s for s, _ in scores(st, sc, P["gpu_best_fit"], c, g, m)] == [15.0, 23.0, 94.0]
    # gpu_packing: n0 unused: max(33 - 8, 8); n1 tightest device 0.4: 100 - floor(40 / 10); n2's tightest
    # candidate is wholly free: 49
    assert [s for s, _ in scores(st, sc, P["gpu_packing"], c, g, m)] == [25.0, 96.0, 49.0]
    # gpu_clustering: base floor(25 (8 - F) / 8): 0, 1, 21; n0 holds no GPU part (+25), n1 only shares
    # (+75), n2 only a 1-GPU part (+0)
    assert [s for s, _ in scores(st, sc, P["gpu_clustering"], c, g, m)] == [25.0, 76.0, 21.0]
    # fgd: F before 1.6, 1.8, 0.2. n0 after (any device): [0.7, 1 x 7], 92 cores: 0.3 x 0.7 + 0.2 x 7.7 = 1.75,
    # delta -0.15 -> floor(100 sigmoid) = 46. n1 on device 0: [0.1, 1 x 7]: 0.05 + 0.03 + 1.42 = 1.5, delta 0.3
    # -> 57; on a whole device: [0.4, 0.7, 1 x 6]: 0.2 + 0.33 + 1.42 = 1.95 -> 46. n2: [0, 0.7]: the whole
    # target no longer fits: 0.3 x 0.7 + 0.2 x 0.7 = 0.35, delta -0.15 -> 46
    sig = lambda x: math.floor(100.0 / (1.0 + math.exp(-x)))  # noqa: E731
    assert (sig(-0.15), sig(0.3)) == (46, 57)
    assert scores(st, sc, P["fgd"], c, g, m) == [(46.0, 0), (57.0, 0), (46.0, 1)]
    assert got == {
        "first_fit": (0, 0),        # lowest index, its lowest-index device
        "best_fit": (2, 1),         # smallest section-6 score; the only device with room
        "worst_fit": (0, 0),        # largest score; the largest share, ties to the lowest index
        "random": (1, 7),           # 3 nodes fit: floor(0.5 x 3) = 1; n1 has 8 candidates: floor(0.9 x 8) = 7
        "dot_product": (2, 1),
        "gpu_clustering": (1, 0),   # n1; the tightest device, 0.4
        "gpu_packing": (1, 0),
        "gpu_best_fit": (2, 1),
        "fgd": (1, 0),
    }


def test_whole_request_and_devices_taken():
    st, sc = scenario()
    # 2 whole GPUs: n2 has one wholly free device only
    assert not D.part_fits_nb(st, 2, 4.0, 2.0, 8.0, -1)
    assert D.choose_node_nb(st, TG, P["gpu_packing"], TIES_INDEX, 4.0, 2.0, 8.0, -1, 0.0, 0.0, -7, sc) == (1, -1)
    # n0 unused: max(33 - 8, 8) = 25; n1 used: max(50 - 2, 33) = 48
    assert [s for s, _ in scores(st, sc, P["gpu_packing"], 4.0, 2.0, 8.0)] == [25.0, 48.0, -math.inf]
    mask = D.allocate_nb(st, 1, -1, 4.0, 2.0, 8.0, sc.buf)
    assert mask == 0b110  # the two wholly free devices of lowest index: 1 and 2
    assert st.dev_free[1, :4].tolist() == [0.4, 0.0, 0.0, 1.0] and st.node_cls[1, 2] == 1
    D.release_nb(st, 1, mask, 4.0, 2.0, 8.0, sc.buf)
    assert st.dev_free[1, :4].tolist() == [0.4, 1.0, 1.0, 1.0] and st.node_cls[1, 2] == 0
    # a share that brings a device within 1e-9 of 0 or 1 is snapped
    D.allocate_nb(st, 1, 0, 0.0, 0.4 - 5e-10, 0.0, sc.buf)
    assert st.dev_free[1, 0] == 0.0
    D.release_nb(st, 1, 1, 0.0, 0.4 - 5e-10, 0.0, sc.buf)
    assert st.dev_free[1, 0] == 0.4 - 5e-10
    D.release_nb(st, 1, 1, 10.0, 0.6, 10.0, sc.buf)
    assert st.dev_free[1, 0] == 1.0 and st.whole_free[1] == 8


def test_first_and_worst_fit_devices():
    st, sc = scenario()
    D.allocate_nb(st, 0, 3, 0.0, 0.5, 0.0, sc.buf)   # n0: [1, 1, 1, 0.5, 1, ...]
    D.allocate_nb(st, 0, 5, 0.0, 0.8, 0.0, sc.buf)   # [1, 1, 1, 0.5, 1, 0.2, 1, 1]
    assert D.share_device_nb(st, PLACEMENT_FIRST_FIT, 0, 0.3, 0.0) == 0
    assert D.share_device_nb(st, PLACEMENT_WORST_FIT, 0, 0.3, 0.0) == 0
    assert D.share_device_nb(st, PLACEMENT_BEST_FIT, 0, 0.3, 0.0) == 3   # 0.5 is the tightest with room
    assert D.share_device_nb(st, PLACEMENT_BEST_FIT, 0, 0.2, 0.0) == 5   # 0.2 >= 0.2
    assert D.share_device_nb(st, PLACEMENT_BEST_FIT, 0, 0.6, 0.0) == 0
    # random: 7 candidates for 0.3, devices 0, 1, 2, 3, 4, 6, 7 (not the 0.2 one): the floor(u x 7)-th
    assert [D.share_device_nb(st, P["random"], 0, 0.3, u) for u in (0.0, 0.5, 0.99)] == [0, 3, 7]


def test_specs():
    # n0 model A (0), n1 model B (1), n2 no model; specs: 0 = "B", 1 = "A|B"
    spec_ok = np.array([[0, 1], [1, 1]], np.uint8)
    st, sc = cluster([[8, 2, 16]] * 3, [2, 2, 2], [0, 1, -1], spec_ok)
    fits = lambda sp, g: [D.part_fits_nb(st, n, 1.0, g, 1.0, sp) for n in range(3)]  # noqa: E731
    assert fits(0, 0.5) == [False, True, False]
    assert fits(1, 1.0) == [True, True, False]
    assert fits(-1, 0.5) == [True, True, True]
    assert fits(0, 0.0) == [False, True, False]  # a spec binds a task without GPU too: no model, no run
    assert D.choose_node_nb(st, D.no_targets(), P["first_fit"], TIES_INDEX, 1.0, 0.5, 1.0, 0, 0.0, 0.0, -7,
                            sc) == (1, 0)


def test_ties_index_and_random():
    st, sc = cluster([[8, 2, 16]] * 4, [2] * 4, [0] * 4)
    tg = D.no_targets()
    for code in (P["gpu_packing"], P["gpu_best_fit"], P["dot_product"], P["gpu_clustering"]):
        assert D.choose_node_nb(st, tg, code, TIES_INDEX, 1.0, 0.5, 1.0, -1, 0.99, 0.0, -7, sc)[0] == 0
        # four equal nodes: the floor(u x 4)-th
        got = [D.choose_node_nb(st, tg, code, TIES_RANDOM, 1.0, 0.5, 1.0, -1, u, 0.0, -7, sc)[0]
               for u in (0.0, 0.26, 0.5, 0.99)]
        assert got == [0, 1, 2, 3]
    # excluded nodes (an earlier part of the same gang) are skipped, in the count too
    sc.excl[:] = [5, -1, 5, -1]
    assert D.choose_node_nb(st, tg, P["gpu_packing"], TIES_RANDOM, 1.0, 0.5, 1.0, -1, 0.6, 0.0, 5, sc)[0] == 3
    assert D.choose_node_nb(st, tg, P["first_fit"], TIES_INDEX, 1.0, 0.5, 1.0, -1, 0.6, 0.0, 5, sc)[0] == 1
    sc.excl[:] = -1


def test_gang_all_or_nothing():
    st, sc = cluster([[8, 2, 16]] * 3, [2] * 3, [0] * 3)
    tg = targets([(1.0, 0.5, 1, -1, 1.0)])
    for n in range(3):
        D.update_frag_nb(st, tg, n, sc.buf, sc.buf2)
    u = np.full((20, 2), 0.5)
    cache = (np.zeros((2, 3)), np.zeros((2, 3), np.int64), np.full((2, 3), -1, np.int64))  # a row per shape
    ok, dfrag = D.place_gang_nb(st, tg, P["gpu_packing"], TIES_INDEX, 2.0, 1.0, 2.0, -1, 2, u, 0, sc, -1, *cache)
    assert ok and sorted(sc.gang_node[:2].tolist()) == [0, 1] and sc.gang_mask[:2].tolist() == [1, 1]
    assert dfrag == 0.0  # the 0.5 target still fits a wholly free device on both nodes
    before = [a.copy() for a in st]
    # 3 parts of 2 GPUs: only n2 has 2 wholly free devices -> fails after part 0, restored exactly
    ok, _ = D.place_gang_nb(st, tg, P["gpu_packing"], TIES_INDEX, 2.0, 2.0, 2.0, -1, 3, u, 4, sc, -1, *cache)
    assert not ok
    for name, a, b in zip(D.DeviceState._fields, before, st):
        if name != "node_ver":
            assert np.array_equal(a, b), name
    assert (sc.excl != 4).all()
    # the same with the score cache
    ok, _ = D.place_gang_nb(st, tg, P["gpu_packing"], TIES_INDEX, 2.0, 2.0, 2.0, -1, 3, u, 8, sc, 0, *cache)
    assert not ok
    ok, _ = D.place_gang_nb(st, tg, P["gpu_packing"], TIES_INDEX, 2.0, 0.5, 2.0, -1, 3, u, 12, sc, 1, *cache)
    assert ok and sorted(sc.gang_node[:3].tolist()) == [0, 1, 2]


# ------------------------------------------------------------------------------ random states: properties and twins

def random_state(rng, n_nodes=12, max_dev=8, whole_only=False, n_models=3):
    n_dev = rng.integers(0, max_dev + 1, n_nodes)
    cap = np.column_stack([rng.choice([8.0, 16.0, 64.0, 96.0], n_nodes), n_dev,
                           rng.choice([32.0, 64.0, 256.0], n_nodes)])
    models = np.where(n_dev > 0, rng.integers(-1, n_models, n_nodes), -1)
    spec_ok = rng.integers(0, 2, (4, n_models)).astype(np.uint8)
    st, sc = D.new_state(cap, n_dev, models, spec_ok, NORM, 4)
    tg = targets([(float(rng.choice([1.0, 4.0, 12.0])), s, k, int(rng.integers(-1, 4)), 0.0)
                  for s, k in [(0.0, 0), (0.3, 1), (0.5, 1), (1.0, 1), (1.0, 2)]])
    tg.p[:] = rng.dirichlet(np.ones(len(tg.p)))
    D.init_frag_nb(st, tg, sc.buf, sc.buf2)
    running = []
    for _ in range(rng.integers(0, 4 * n_nodes)):
        c = float(rng.choice([0.5, 1.0, 4.0]))
        g = float(rng.choice([0.0, 1.0, 2.0] if whole_only else [0.0, 0.1, 0.25, 0.5, 0.7, 1.0, 2.0]))
        m = float(rng.choice([1.0, 8.0]))
        node, dev = D.choose_node_nb(st, tg, int(rng.integers(0, len(DEVICE_PLACEMENTS))), TIES_INDEX, c, g, m, -1,
                                     rng.random(), rng.random(), -7, sc)
        if node >= 0:
            running.append((node, D.allocate_nb(st, node, dev, c, g, m, sc.buf), c, g, m))
            D.update_frag_nb(st, tg, node, sc.buf, sc.buf2)
    for k in rng.permutation(len(running))[: len(running) // 3]:
        node, mask, c, g, m = running[k]
        D.release_nb(st, node, mask, c, g, m, sc.buf)
        D.update_frag_nb(st, tg, node, sc.buf, sc.buf2)
    return st, sc, tg


def test_invariants_on_random_states():
    rng = np.random.default_rng(3)
    for _ in range(30):
        st, sc, tg = random_state(rng)
        nd = st.n_dev
        for n in range(len(nd)):
            devs = st.dev_free[n, :nd[n]]
            assert ((devs >= 0) & (devs <= 1)).all()
            assert st.whole_free[n] == (devs == 1.0).sum()
            assert st.free[n, 1] == sum(sorted(devs))  # ascending order
            assert st.free[n, 0] >= -1e-9 and st.free[n, 2] >= -1e-9
            assert st.node_frag[n] == D.node_frag_nb(st, tg, n, sc.buf, sc.buf2)
            assert 0.0 <= st.node_frag[n] <= st.free[n, 1] + 1e-12  # never more than the free GPU


def test_twins_bit_for_bit():
    """Each kernel's plain-Python twin (py_func) gives the compiled kernel's answer, bit for bit."""
    rng = np.random.default_rng(11)
    for _ in range(25):
        st, sc, tg = random_state(rng)
        for _ in range(10):
            c, g, m = float(rng.choice([1.0, 4.0])), float(rng.choice([0.0, 0.2, 0.5, 1.0, 2.0])), 4.0
            sp = int(rng.integers(-1, 4))
            policy = int(rng.integers(0, len(DEVICE_PLACEMENTS)))
            ties = int(rng.integers(0, 2))
            u1, u2 = rng.random(), rng.random()
            for n in range(st.cap.shape[0]):
                a = D.node_value_nb(st, tg, policy, n, c, g, m, sp, sc)
                b = D.node_value_nb.py_func(st, tg, policy, n, c, g, m, sp, sc)
                assert a == b
                assert D.node_frag_nb(st, tg, n, sc.buf, sc.buf2) == D.node_frag_nb.py_func(st, tg, n, sc.buf,
                                                                                            sc.buf2)
                if g > 0 and g < 1:
                    assert (D.fgd_score_nb(st, tg, n, c, g, sc) == D.fgd_score_nb.py_func(st, tg, n, c, g, sc))
            assert (D.choose_node_nb(st, tg, policy, ties, c, g, m, sp, u1, u2, -7, sc)
                    == D.choose_node_nb.py_func(st, tg, policy, ties, c, g, m, sp, u1, u2, -7, sc))


def test_cached_choice_equals_full_scoring():
    """choose_node_cached_nb gives choose_node_nb's answer while nodes change between requests."""
    rng = np.random.default_rng(5)
    shapes = [(1.0, 0.3, 2.0, -1), (4.0, 1.0, 8.0, -1), (2.0, 0.0, 1.0, -1), (1.0, 0.7, 2.0, 0), (8.0, 2.0, 8.0, -1)]
    for policy in range(len(DEVICE_PLACEMENTS)):
        st, sc, tg = random_state(rng)
        n = st.cap.shape[0]
        cache = (np.zeros((len(shapes), n)), np.zeros((len(shapes), n), np.int64),
                 np.full((len(shapes), n), -1, np.int64))
        for step in range(60):
            k = int(rng.integers(0, len(shapes)))
            c, g, m, sp = shapes[k]
            u1, u2 = rng.random(), rng.random()
            ties = step % 2
            full = D.choose_node_nb(st, tg, policy, ties, c, g, m, sp, u1, u2, -7, sc)
            cached = D.choose_node_cached_nb(st, tg, policy, ties, c, g, m, sp, u1, u2, -7, sc, k, *cache)
            assert full == cached
            if full[0] >= 0 and rng.random() < 0.7:
                D.allocate_nb(st, full[0], full[1], c, g, m, sc.buf)
                D.update_frag_nb(st, tg, full[0], sc.buf, sc.buf2)


def test_whole_gpus_give_the_old_placement():
    """MODEL.md 12.10: whole GPUs, no spec -> first/best/worst fit choose the node the pooled engine does."""
    from fastpipesim.engine.loop import find_node_nb

    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(40):
        st, sc, tg = random_state(rng, whole_only=True)
        # the pooled engine's view: one pool per node, free = the device state's free
        cap = st.cap.copy()
        pool_start = np.arange(cap.shape[0] + 1, dtype=np.int64)
        for _ in range(15):
            req = np.array([[float(rng.choice([0.5, 1.0, 4.0])), float(rng.integers(0, 4)),
                             float(rng.choice([1.0, 8.0]))]])
            for placement in range(len(PLACEMENTS)):
                old = find_node_nb(st.free.copy(), cap, pool_start, req, 0, placement, np.zeros(0, np.int64), -1, 0)
                new, _ = D.choose_node_nb(st, tg, placement, TIES_INDEX, req[0, 0], req[0, 1], req[0, 2], -1, 0.3,
                                          0.3, -7, sc)
                assert old == new
                checked += 1
    assert checked == 40 * 15 * 3
    assert PLACEMENT_BEST_FIT == 1 and PLACEMENT_WORST_FIT == 2  # the codes section 6 always had


def copy_state(st, sc):
    return D.DeviceState(*[a.copy() for a in st]), D.Scratch(*[a.copy() for a in sc])


def test_twins_of_state_changes_bit_for_bit():
    """allocate, release, gang placement (and its rollback), the cached choice and the study's loop: each
    kernel and its py_func leave identical states and give identical answers."""
    from fastpipesim.engine.fragstudy import study_run_nb

    rng = np.random.default_rng(21)
    for trial in range(12):
        st0, sc0, tg = random_state(rng)
        runs = []
        for twin in (False, True):
            st, sc = copy_state(st0, sc0)
            f = (lambda k: k.py_func) if twin else (lambda k: k)  # noqa: E731
            n = st.cap.shape[0]
            cache = (np.zeros((3, n)), np.zeros((3, n), np.int64), np.full((3, n), -1, np.int64))
            r = np.random.default_rng(trial)
            out = []
            for step in range(25):
                c, g, m = float(r.choice([1.0, 4.0])), float(r.choice([0.0, 0.3, 0.6, 1.0, 2.0])), 2.0
                policy, reps = int(r.integers(0, len(DEVICE_PLACEMENTS))), int(r.integers(1, 4))
                u = r.random((4, 2))
                shape = int(r.integers(-1, 3))
                ok, dfrag = f(D.place_gang_nb)(st, tg, policy, int(r.integers(0, 2)), c, g, m, -1, reps, u, 0, sc,
                                               shape, *cache)
                out.append((ok, dfrag, sc.gang_node[:reps].tolist() if ok else None))
                if ok and r.random() < 0.5:
                    for j in range(reps):
                        f(D.release_nb)(st, sc.gang_node[j], sc.gang_mask[j], c, g, m, sc.buf)
                        out.append(f(D.update_frag_nb)(st, tg, sc.gang_node[j], sc.buf, sc.buf2))
                    sc.excl[:] = -1
            runs.append((out, [a.copy() for a in st]))
        (out_a, st_a), (out_b, st_b) = runs
        assert out_a == out_b
        for name, a, b in zip(D.DeviceState._fields, st_a, st_b):
            assert np.array_equal(a, b), name
    # the study's loop, on a small random cluster
    st0, sc0, tg = random_state(np.random.default_rng(2))
    st0, sc0 = D.new_state(st0.cap, st0.n_dev, st0.node_model, st0.spec_ok, NORM, 3)
    p = 30
    pr = np.random.default_rng(4)
    pods = (pr.choice([1.0, 2.0], p), pr.choice([0.0, 0.25, 0.5, 1.0, 2.0], p), pr.choice([1.0, 4.0], p),
            pr.integers(-1, 2, p), pr.integers(1, 3, p))
    slot = np.concatenate([[0], np.cumsum(pods[4])[:-1]])
    shape = pr.integers(0, 5, p)
    u = pr.random((int(pods[4].sum()), 2))
    results = []
    for kernel in (study_run_nb, study_run_nb.py_func):
        st, sc = copy_state(st0, sc0)
        n = st.cap.shape[0]
        cache = (np.zeros((2, n)), np.zeros((2, n), np.int64), np.full((2, n), -1, np.int64), np.full(2, -1))
        outs = (np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p, np.int64))
        kernel(st, tg, sc, P["fgd"], TIES_INDEX, *pods, slot, shape, u, *cache, *outs)
        results.append(outs)
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    assert (results[0][3] >= 0).any() and (results[0][3] < 0).any()  # some placed, some failed


def test_kernels_compiled_without_reference_counts():
    """Every compiled kernel of engine/devices.py is built without Numba's runtime (``_nrt=False``): with
    it, each call counts every array of its arguments up and down atomically (most of the device path's
    time on the openb trace; module docstring). Without it a kernel cannot allocate, which these never do."""
    kernels = {name: obj for name, obj in vars(D).items() if hasattr(obj, "py_func") and hasattr(obj, "targetoptions")}
    assert len(kernels) >= 30
    assert sorted(name for name, k in kernels.items() if k.targetoptions.get("_nrt", True)) == []
