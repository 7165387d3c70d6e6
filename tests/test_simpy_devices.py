"""GPUs as devices (MODEL.md 12) in the SimPy reference model (benchmarks/simpy_model.py).

Hand-computed cases for every rule of MODEL.md 12.1-12.9: the numbers (scores,
fragmentation, time averages) are worked out in the comments from the formulas of
MODEL.md, not read from the code under test. Placement scores are checked on a
crafted node state (``bare_model`` builds the oracle's cluster without running it,
``set_node`` writes a node's device shares); the rest runs whole traces. Last, the
identity of MODEL.md 12.10: on whole-GPU traces the device path gives the pooled
path's schedule.
"""
import math

import numpy as np
import pandas as pd
import pytest
import simpy

import benchmarks.simpy_model as sm
from benchmarks.simpy_model import node_fragmentation, simulate_simpy, target_shapes, target_workload
from randtrace import random_device_trace

TAG = 0x9F1ACE   # MODEL.md 12.6


def pipelines(*rows):
    """rows: (pipeline_id, submit_time)"""
    return pd.DataFrame([{"pipeline_id": r[0], "submit_time": float(r[1])} for r in rows])


def tasks(*rows):
    """rows: (pipeline_id, task, duration, cpu, gpu[, spec[, replicas[, after]]])"""
    return pd.DataFrame([{"pipeline_id": r[0], "task": r[1], "type": "train", "cpu": float(r[3]),
                          "gpu": float(r[4]), "mem_gb": 0.0, "duration": float(r[2]),
                          "gpu_spec": r[5] if len(r) > 5 else "", "replicas": r[6] if len(r) > 6 else 1,
                          "after": r[7] if len(r) > 7 else ""} for r in rows])


def pool(name, count, cpu, gpu=0, model="", mem=0.0, speed=1.0):
    return {"pool": name, "count": count, "cpu": float(cpu), "gpu": float(gpu), "mem_gb": float(mem),
            "speed": float(speed), "gpu_model": model}


def cluster(*rows):
    return pd.DataFrame(list(rows))


def records(res):
    """(pipeline_id, task) -> (node, start, end) of the task records."""
    return {(r.pipeline_id, r.task): (r.node, r.start, r.end) for r in res.tasks.itertuples()}


def part_devices(res):
    """(pipeline_id, task, part) -> (node, devices) of the device records."""
    return {(r.pipeline_id, r.task, r.part): (r.node, r.devices) for r in res.devices.itertuples()}


def draws(seed, n_slots, replication=0):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        seed, spawn_key=(replication, TAG)))).random((n_slots, 2))


# ---- a crafted cluster state for the placement scores -------------------------------------

def bare_model(cl, ts, placement, ties="index", target=None, seed=0):
    """The oracle's cluster and tasks, not run: its state is set by hand with ``set_node``."""
    pl = pipelines(*[(p, 0.0) for p in sorted(set(ts["pipeline_id"]))])
    gpu = {"ties": ties, "target": target, "seed": seed, "replication": 0, "warmup": 0.0}
    return sm.ClusterModel(simpy.Environment(), pl, ts, cl, "fifo", placement, True, None, gpu)


def set_node(m, node, shares, cpu_used=0.0, mem_used=0.0, classes=None):
    m.dev[node] = list(shares)
    m.free[node] = [m.capacity[node][0] - cpu_used, sm.free_gpu(shares), m.capacity[node][2] - mem_used]
    m.gpu_classes[node] = dict(classes or {})


# n0: CPU-only (32 cores); n1, n2: 4 devices of model A (32 cores, 256 GiB); n3: 8 devices of
# model B (64 cores, 512 GiB). S_cpu = max(128, 64) = 128, S_gpu = max(8, 8) = 8.
FOUR = cluster(pool("c", 1, 32, mem=256), pool("a1", 1, 32, 4, "A", 256), pool("a2", 1, 32, 4, "A", 256),
               pool("b", 1, 64, 8, "B", 512))
# The part under test: 4 cores, half a GPU, 8 GiB.
PART = tasks((1, "x", 1, 4, 0.5))
PART["mem_gb"] = 8.0
# fgd's target: a half GPU with 2 cores (p 0.5), two whole GPUs with 8 cores (p 0.5)
TARGET2 = pd.DataFrame({"cpu": [2.0, 8.0], "gpu": [0.5, 2.0], "p": [0.5, 0.5]})


def four_state(placement, ties="index", seed=0):
    """n1 empty: C 32, F 4, W 4, no GPU part.
    n2: a 0.4 share on device 0: shares [0.6, 1, 1, 1], C 30, 4 GiB used, F 3.6, W 3, parts {share}.
    n3: three 2-GPU parts on devices 0-5 and a 0.7 share on device 6: shares [0 x 6, 0.3, 1],
        C 24, 100 GiB used, F 1.3, W 1, parts {2 GPUs x 3, share}.
    """
    m = bare_model(FOUR, PART, placement, ties, TARGET2, seed)
    set_node(m, 2, [0.6, 1.0, 1.0, 1.0], cpu_used=2.0, mem_used=4.0, classes={"share": 1})
    set_node(m, 3, [0.0] * 6 + [0.3, 1.0], cpu_used=40.0, mem_used=100.0, classes={2: 3, "share": 1})
    return m


# placement -> (scores of n1, n2, n3, the node chosen, its devices)
HAND_SCORES = {
    # 0 everywhere: the lowest index
    "first_fit": ((0, 0, 0), 1, (0,)),
    # section 6's sum over cpu, gpu, mem of (free - request) / capacity, negated:
    # n1 28/32 + 3.5/4 + 248/256 = 0.875 + 0.875 + 0.96875 = 2.71875
    # n2 26/32 + 3.1/4 + 244/256 = 0.8125 + 0.775 + 0.953125 = 2.540625
    # n3 20/64 + 0.8/8 + 404/512 = 0.3125 + 0.1 + 0.7890625 = 1.2015625; the tightest device of n3 is 7
    "best_fit": ((-(28 / 32 + 3.5 / 4 + 248 / 256), -(26 / 32 + (3.6 - 0.5) / 4 + 244 / 256),
                  -(20 / 64 + (1.3 - 0.5) / 8 + 404 / 512)), 3, (7,)),
    "worst_fit": ((28 / 32 + 3.5 / 4 + 248 / 256, 26 / 32 + (3.6 - 0.5) / 4 + 244 / 256,
                   20 / 64 + (1.3 - 0.5) / 8 + 404 / 512), 1, (0,)),
    # [100 (1 - ((C/128)(4/128) + (F/8)(0.5/8)) / 2)]:
    # n1 (0.0078125 + 0.03125) / 2 = 0.01953125 -> 98.05 -> 98
    # n2 (0.00732421875 + 0.028125) / 2 = 0.017724609375 -> 98.23 -> 98
    # n3 (0.005859375 + 0.01015625) / 2 = 0.0080078125 -> 99.20 -> 99
    "dot_product": ((98, 98, 99), 3, (7,)),
    # [(1 - (0.5 (C - 4)/128 + 0.5 (F - 0.5)/8)) 100]:
    # n1 1 - (0.109375 + 0.21875) -> 67.19 -> 67; n2 1 - (0.1015625 + 0.19375) -> 70.47 -> 70;
    # n3 1 - (0.078125 + 0.05) -> 87.19 -> 87
    "gpu_best_fit": ((67, 70, 87), 3, (7,)),
    # n1 no device in use (W = G = 4): max(33 - 4, 4) = 29; n2 tightest candidate 0.6:
    # max(100 - floor(60 / 10), 50) = 94; n3 the only candidate (device 7) is wholly free: 49
    "gpu_packing": ((29, 94, 49), 2, (0,)),
    # [25 (8 - F) / 8] + class bonus: n1 [12.5] + 25 (no GPU part) = 37;
    # n2 [13.75] + 75 (only shares, the part's class) = 88; n3 [20.94] + 50 (shares and 2-GPU parts) = 70
    "gpu_clustering": ((37, 88, 70), 2, (0,)),
    # [100 / (1 + exp(-(F_before - F_after)))] against TARGET2 (half GPU / 2 cores, 2 GPUs / 8 cores):
    # n1 before: both shapes fit whole devices: F = 0. after (a 0.5 on device 0, C 28): shares
    #   [1, 1, 1, 0.5]; half: j = 4 -> R_4 = 0; 2 GPUs: j = 3 -> R_3 = 0.5; F = 0.25 -> 100/(1+e^0.25) = 43.78
    # n2 before: [1, 1, 1, 0.6]: half R_4 = 0, 2 GPUs R_3 = 0.6: F = 0.3.
    #   device 0 (-> 0.1): half j = 3 -> 0.1, 2 GPUs j = 3 -> 0.1: F = 0.1, 100/(1+e^-0.2) = 54.98
    #   devices 1-3 (-> 0.5): half 0, 2 GPUs j = 2 -> R_2 = 0.5 + 0.6: F = 0.55 -> 43.78. Best: device 0, 54
    # n3 before: [1, 0.3, 0 x 6]: half j = 1 -> R_1 = 0.3; 2 GPUs j = 1 < 2 -> R_0 = 1.3: F = 0.8.
    #   device 7 (-> 0.5), C 20: half R_1 = 0.3, 2 GPUs R_0 = 0.8: F = 0.55 -> 100/(1+e^-0.25) = 56.22
    "fgd": ((43, 54, 56), 3, (7,)),
}


@pytest.mark.parametrize("placement", sorted(HAND_SCORES))
def test_placement_scores_and_choice_by_hand(placement):
    scores, node, devs = HAND_SCORES[placement]
    m = four_state(placement)
    t = 0
    assert not m.part_fits(t, 0)   # CPU-only node: no device for a GPU part
    got = [m.part_score(t, n) for n in (1, 2, 3)]
    if placement in ("best_fit", "worst_fit"):
        assert got == pytest.approx(list(scores), abs=1e-12)
        # the order the rule uses is the hand computation's
        assert np.argmax(got) == np.argmax(scores)
    else:
        assert got == list(scores)
    assert m.choose_part_node(t, 0, set()) == (node, devs)


def test_random_placement_uses_the_slots_u1_and_u2():
    """random: the j-th fitting node, j = floor(u1 x 3), then the j'-th candidate device,
    j' = floor(u2 x candidates): n1 has 4 candidates, n2 4 (0.6 and three 1s), n3 1."""
    for seed in range(6):
        m = four_state("random", seed=seed)
        u1, u2 = draws(seed, 1)[0]
        node = (1, 2, 3)[math.floor(u1 * 3)]
        n_cand = {1: 4, 2: 4, 3: 1}[node]
        dev = {1: (0, 1, 2, 3), 2: (0, 1, 2, 3), 3: (7,)}[node][math.floor(u2 * n_cand)]
        assert m.choose_part_node(0, 0, set()) == (node, (dev,))


def test_ties_index_and_random():
    """dot_product ties n1 and n2 at 98 when n3 is excluded: index -> n1; random -> the
    floor(u1 x 2)-th of (n1, n2). first_fit with random ties: every fitting node is tied."""
    seen = set()
    for seed in range(12):
        u1 = draws(seed, 1)[0, 0]
        m = four_state("dot_product", seed=seed)
        assert m.choose_part_node(0, 0, {3})[0] == 1
        m = four_state("dot_product", ties="random", seed=seed)
        assert m.choose_part_node(0, 0, {3})[0] == (1, 2)[math.floor(u1 * 2)]
        # n3's 99 is not tied: random ties change nothing
        assert m.choose_part_node(0, 0, set())[0] == 3
        m = four_state("first_fit", ties="random", seed=seed)
        node = m.choose_part_node(0, 0, set())[0]
        assert node == (1, 2, 3)[math.floor(u1 * 3)]
        seen.add(node)
    assert len(seen) == 3


def test_device_choice_inside_a_node():
    """A 0.5 part on a node with shares [0.7, 0.6, 0.8, 1] (all candidates):
    first_fit device 0; the tightest (best_fit, dot_product, gpu_clustering, gpu_packing,
    gpu_best_fit) device 1 (0.6); worst_fit device 3 (1.0); fgd against one shape (0.3 GPU,
    1 core): before, every share >= 0.3: F = 0; device 0 -> 0.2: F = R_3 = 0.2 -> 45;
    device 1 -> 0.1: F = 0.1 -> 47; device 2 -> 0.3 (usable): F = 0 -> 50; device 3 -> 0.5: 50:
    device 2. random: floor(u2 x 4)."""
    target = pd.DataFrame({"cpu": [1.0], "gpu": [0.3], "p": [1.0]})
    want = {"first_fit": 0, "best_fit": 1, "dot_product": 1, "gpu_clustering": 1, "gpu_packing": 1,
            "gpu_best_fit": 1, "worst_fit": 3, "fgd": 2}
    for placement, dev in want.items():
        m = bare_model(FOUR, PART, placement, target=target)
        set_node(m, 1, [0.7, 0.6, 0.8, 1.0])
        assert m.devices_taken(0, 1, 0.99) == (dev,), placement
    m = bare_model(FOUR, PART, "fgd", target=target)
    set_node(m, 1, [0.7, 0.6, 0.8, 1.0])
    assert [m.fgd_score(0, 1, (d,)) for d in range(4)] == [45, 47, 50, 50]
    for u2, dev in ((0.0, 0), (0.26, 1), (0.5, 2), (0.999, 3)):
        m = bare_model(FOUR, PART, "random", target=target)
        set_node(m, 1, [0.7, 0.6, 0.8, 1.0])
        assert m.devices_taken(0, 1, u2) == (dev,)


def test_whole_devices_are_the_lowest_wholly_free_ones_whatever_the_placement():
    two = tasks((1, "x", 1, 1, 2))
    for placement in sm.DEVICE_PLACEMENTS:
        m = bare_model(FOUR, two, placement)
        set_node(m, 3, [1.0, 0.5, 0.0, 1.0, 1.0, 0.2, 1.0, 1.0])
        assert m.devices_taken(0, 3, 0.7) == (0, 3), placement


# ---- fit tests, end to end ----------------------------------------------------------------

def test_a_fraction_takes_one_device_not_two():
    """Two 0.7 shares leave [0.3, 0.3]: 0.6 GPU free in total, but a 0.5 part needs one device
    with 0.5, so it waits for the first 0.7 to end (t = 2), and takes its device 0."""
    pl = pipelines((1, 0), (2, 0), (3, 1))
    ts = tasks((1, "a", 2, 1, 0.7), (2, "b", 3, 1, 0.7), (3, "c", 1, 1, 0.5))
    res = simulate_simpy(pl, ts, cluster(pool("g", 1, 8, 2)))
    rec = records(res)
    assert rec[(3, "c")] == (0, 2.0, 3.0)
    dev = part_devices(res)
    assert dev[(1, "a", 0)] == (0, "0") and dev[(2, "b", 0)] == (0, "1") and dev[(3, "c", 0)] == (0, "0")
    assert res.gpu_timeline["unallocated_gpus"].tolist()[:2] == [(1 - 0.7) + (1 - 0.7)] * 2


def test_whole_k_needs_wholly_free_devices():
    """A 0.3 share on device 0 leaves 1.7 GPUs free but one wholly free device: a 2-GPU task
    waits until the share ends (t = 4); a 1-GPU task arriving later takes device 1 at once."""
    pl = pipelines((1, 0), (2, 0), (3, 1))
    ts = tasks((1, "a", 4, 1, 0.3), (2, "b", 1, 1, 2), (3, "c", 1, 1, 1))
    res = simulate_simpy(pl, ts, cluster(pool("g", 1, 8, 2)))
    rec = records(res)
    assert rec[(3, "c")] == (0, 1.0, 2.0)
    assert rec[(2, "b")] == (0, 4.0, 5.0)
    assert part_devices(res)[(2, "b", 0)] == (0, "0,1")


def test_a_spec_excludes_other_models_model_less_and_cpu_only_nodes():
    """Nodes: 0 CPU-only, 1 GPUs without a model, 2 model A, 3 model B. A spec 'B' goes to
    node 3 (first_fit would take node 1); '||A|' (empty names ignored) to node 2; a GPU-less
    task with spec 'A|B' to node 2 too, never to the CPU-only node."""
    cl = cluster(pool("c", 1, 8), pool("none", 1, 8, 2), pool("a", 1, 8, 2, "A"), pool("b", 1, 8, 2, "B"))
    pl = pipelines((1, 0), (2, 0), (3, 0), (4, 0))
    ts = tasks((1, "b", 1, 1, 0.5, "B"), (2, "a", 1, 1, 1, "||A|"), (3, "cpu", 1, 1, 0, "A|B"),
               (4, "free", 1, 1, 0.5))
    rec = records(simulate_simpy(pl, ts, cl))
    assert {k: v[0] for k, v in rec.items()} == {(1, "b"): 3, (2, "a"): 2, (3, "cpu"): 2, (4, "free"): 1}
    with pytest.raises(ValueError, match="12.2"):
        simulate_simpy(pl, tasks((1, "x", 1, 1, 1, "C")), cl)
    with pytest.raises(ValueError, match="12.2"):   # 2 replicas of a 'B' task: one B node
        simulate_simpy(pl, tasks((1, "x", 1, 1, 1, "B", 2)), cl)


def test_shares_are_snapped_to_0_and_1():
    """1 - 0.7 - 0.3 = 5.6e-17 is set to 0: nothing is free (unallocated 0, ratio NaN).
    Device 0 of a second node: 1 - 0.1 - 0.2 = 0.7; the 0.2 ends first (0.9, in floats
    0.8999999999999999), then the 0.1: 0.9999999999999999, set to 1, so a whole GPU starts
    at t = 3 (without the snap it would never fit)."""
    pl = pipelines((1, 0), (2, 0), (3, 0), (4, 0), (5, 0))
    ts = tasks((1, "a", 5, 1, 0.7, "A"), (2, "b", 5, 1, 0.3, "A"),
               (3, "c", 3, 1, 0.1, "B"), (4, "d", 2, 1, 0.2, "B"), (5, "e", 1, 1, 1, "B"))
    cl = cluster(pool("a", 1, 8, 1, "A"), pool("b", 1, 8, 1, "B"))
    res = simulate_simpy(pl, ts, cl)
    assert records(res)[(5, "e")] == (1, 3.0, 4.0)
    row0 = res.gpu_timeline.iloc[0]
    assert row0["time"] == 0.0 and row0["unallocated_gpus"] == 0.0 + (1 - 0.1 - 0.2)
    tl = res.gpu_timeline.set_index("time")
    assert tl.loc[5.0, "unallocated_gpus"] == 2.0          # everything back, exactly
    res = simulate_simpy(pipelines((1, 0), (2, 0)), tasks((1, "a", 5, 1, 0.7), (2, "b", 5, 1, 0.3)),
                         cluster(pool("a", 1, 8, 1)))
    first = res.gpu_timeline.iloc[0]
    assert first["unallocated_gpus"] == 0.0 and math.isnan(first["frag_ratio"])


# ---- gangs (12.8) ---------------------------------------------------------------------------

def gang_case():
    """Nodes: n0 (1 GPU), n1 (1 GPU, speed 0.5), n2 (1 GPU). At t = 0: b1 (1 GPU, 10 s) and
    b2 (1 GPU, 2 s, so 4 s on n1) take n0 and n1 (first_fit); the gang g (2 parts of 1 GPU, 2 s) places part
    0 on n2, finds nothing for part 1 and gives n2 back; s (1 GPU, 1 s) comes after it."""
    pl = pipelines((1, 0), (2, 0), (3, 0))
    ts = tasks((1, "b1", 10, 1, 1), (1, "b2", 2, 1, 1), (2, "g", 2, 1, 1, "", 2), (3, "s", 1, 1, 1))
    cl = cluster(pool("p0", 1, 8, 1), pool("slow", 1, 8, 1, speed=0.5), pool("p2", 1, 8, 1))
    return pl, ts, cl


def test_a_gang_is_all_or_nothing_and_backfill_skips_it():
    """Backfill: s takes n2 at t = 0 (the gang gave it back). At t = 4 (b2 ends) the gang's
    parts take n1 and n2 and end together at 4 + 2 / 0.5 (n1 is the slowest) = 8."""
    res = simulate_simpy(*gang_case())
    rec = records(res)
    assert rec[(3, "s")] == (2, 0.0, 1.0)
    assert rec[(2, "g")] == (1, 4.0, 8.0)
    dev = part_devices(res)
    assert dev[(2, "g", 0)] == (1, "0") and dev[(2, "g", 1)] == (2, "0")
    assert (2, "g", 2) not in dev


def test_a_blocked_gang_stops_a_strict_pass():
    """Without backfill the pass stops at the gang: s waits. t = 4: the gang takes n1, n2 (end 8);
    s fits nowhere and waits again; t = 8: s takes n1 (first_fit) and runs 1 / 0.5 = 2 s."""
    res = simulate_simpy(*gang_case(), backfill=False)
    rec = records(res)
    assert rec[(2, "g")] == (1, 4.0, 8.0)
    assert rec[(3, "s")] == (1, 8.0, 10.0)


def test_a_failed_gang_restores_the_exact_previous_shares():
    """n0's device holds a 0.1 share (free 0.9); n1 is taken whole. The gang's part 0 (0.2)
    goes to n0 (0.9 - 0.2 = 0.7), part 1 finds nothing: n0 gets back 0.9 itself; adding 0.2
    back would give 0.8999999999999999. At t = 5 (n1 free) the gang starts: n0 0.7, n1 0.8."""
    pl = pipelines((1, 0), (2, 0), (3, 0))
    ts = tasks((1, "x", 10, 1, 0.1), (2, "y", 5, 1, 1), (3, "g", 1, 1, 0.2, "", 2))
    res = simulate_simpy(pl, ts, cluster(pool("p", 2, 8, 1)))
    tl = res.gpu_timeline.set_index("time")
    assert tl.loc[0.0, "unallocated_gpus"] == 0.9 + 0.0
    assert (0.9 - 0.2) + 0.2 != 0.9   # the case is sharp
    assert records(res)[(3, "g")] == (0, 5.0, 6.0)
    assert tl.loc[5.0, "unallocated_gpus"] == (1 - 0.1 - 0.2) + (1 - 0.2)


def test_gang_parts_use_their_own_slots_in_batch_order():
    """random placement: slots follow (pipeline_id, task index), replicas slots per task. Rows:
    pipeline 9's gang (3 parts) comes first in the table but after pipeline 4's task in batch
    order: slot 0 is pipeline 4's, slots 1-3 the gang's. Four 1-GPU nodes, all empty at t = 0:
    the task takes node floor(u1[0] x 4); part j of the gang the floor(u1[1+j] x n)-th of the
    nodes still empty and not holding an earlier part."""
    for seed in range(5):
        pl = pipelines((9, 0), (4, 0))
        ts = tasks((9, "g", 1, 1, 1, "", 3), (4, "a", 1, 1, 1))
        res = simulate_simpy(pl, ts, cluster(pool("p", 4, 8, 1)), placement="random", seed=seed)
        u = draws(seed, 4)
        free = [0, 1, 2, 3]
        a = free.pop(math.floor(u[0, 0] * 4))
        parts = []
        for j in range(3):
            parts.append(free.pop(math.floor(u[1 + j, 0] * len(free))))
        dev = part_devices(res)
        assert dev[(4, "a", 0)][0] == a
        assert [dev[(9, "g", j)][0] for j in range(3)] == parts


# ---- target workload and fragmentation (12.7) ---------------------------------------------

def test_target_workload_order_and_95_percent_cut():
    """Parts: (1 core, 0.5) 10 (5 tasks x 2 replicas); (2, 1 GPU) 6; (1, 0) 2; (1, 2 GPUs, 'A') 1;
    (1, 0.25) 1; (1, 1 GPU, 'B') 1 and (1, 1 GPU, 'A') 1: total 22, 95% of 22 = 20.9.
    Order: counts 10, 6, 2, then the four shapes of count 1 by cpu (all 1), per-device share
    (1, 1, 1, 0.25), devices (2 before 1), spec text ('B' before 'A'): (1, 2, A), (1, 1, B),
    (1, 1, A), (1, 0.25). Cumulative 10, 16, 18, 19, 20, 21 >= 20.9: six shapes kept, p =
    (count / 22) / (21 / 22)."""
    ts = tasks(*[(1, f"h{i}", 1, 1, 0.5, "", 2) for i in range(5)],
               *[(2, f"w{i}", 1, 2, 1) for i in range(6)],
               (3, "c0", 1, 1, 0), (3, "c1", 1, 1, 0), (4, "two", 1, 1, 2, "A"), (4, "q", 1, 1, 0.25),
               (5, "b", 1, 1, 1, "B"), (5, "a", 1, 1, 1, "A"))
    tw = target_workload(ts)
    assert list(zip(tw["cpu"], tw["gpu"], tw["gpu_spec"], tw["count"])) == [
        (1.0, 0.5, "", 10), (2.0, 1.0, "", 6), (1.0, 0.0, "", 2), (1.0, 2.0, "A", 1), (1.0, 1.0, "B", 1),
        (1.0, 1.0, "A", 1)]
    assert tw["p"].tolist() == [(c / 22) / (21 / 22) for c in (10, 6, 2, 1, 1, 1)]
    # one more part of (1, 0.5) (a sixth task): total 24, 95% = 22.8: 12, 18, 20, 21, 22, 23 -> six again;
    # with the 2 replicas of h0 cut to 1: total 21, 95% = 19.95: 9, 15, 17, 18, 19, 20 -> six
    ts.loc[0, "replicas"] = 1
    tw = target_workload(ts)
    assert tw["count"].tolist() == [9, 6, 2, 1, 1, 1]
    # drop the 'A' one-GPU task: total 20, 95% = 19: 9, 15, 17, 18, 19 -> five, the 0.25 one is cut
    tw = target_workload(ts[ts["task"] != "a"])
    assert tw["count"].tolist() == [9, 6, 2, 1, 1] and tw["gpu"].tolist()[-1] == 1.0
    assert tw["p"].tolist() == [(c / 20) / (19 / 20) for c in (9, 6, 2, 1, 1)]


def test_node_fragmentation_against_two_shapes_by_hand():
    """Shares [1, 1, 0.5, 0.25] (R_0 = 0.25 + 0.5 + 1 + 1 = 2.75), model A. Target: t1 = (4 cores,
    0.5 GPU) p 0.6, t2 = (2 cores, 2 GPUs, spec 'A') p 0.4.
    free cpu 3: t1 cpu 3 < 4: phi = R_0 = 2.75; t2: j = 2 >= 2: R_2 = 0.25 + 0.5; F = 0.6 x 2.75 + 0.4 x 0.75.
    free cpu 6: t1 j = 3: R_3 = 0.25; F = 0.6 x 0.25 + 0.4 x 0.75.
    model B (t2's spec excludes it): t2 phi = R_0; free cpu 6: F = 0.6 x 0.25 + 0.4 x 2.75.
    No GPU (a CPU-only node): 0. Shares [1, 0.4]: t2 j = 1 < 2: R_0 = 1.4; t1 j = 1: R_1 = 0.4."""
    shapes = target_shapes(pd.DataFrame({"cpu": [4.0, 2.0], "gpu": [0.5, 2.0], "gpu_spec": ["", "A"],
                                         "p": [0.6, 0.4]}))
    v = [1.0, 0.5, 1.0, 0.25]
    assert node_fragmentation(3.0, v, "A", shapes) == 0.6 * 2.75 + 0.4 * 0.75
    assert node_fragmentation(6.0, v, "A", shapes) == 0.6 * 0.25 + 0.4 * 0.75
    assert node_fragmentation(6.0, v, "B", shapes) == 0.6 * 0.25 + 0.4 * 2.75
    assert node_fragmentation(6.0, [], "", shapes) == 0.0
    assert node_fragmentation(6.0, [0.4, 1.0], "A", shapes) == 0.6 * 0.4 + 0.4 * 1.4


# ---- timeline and summary (12.9) ------------------------------------------------------------

def test_timeline_and_summary_of_two_tasks():
    """One node of 2 devices, target one whole GPU (p 1). a: 0.5 GPU, 4 s, at t = 0; b: 1 GPU, 2 s,
    at t = 1. After each pass:
    t = 0: a on device 0, shares [0.5, 1]: free 1.5; the whole GPU fits (j = 1): F = R_1 = 0.5
    t = 1: b on device 1, [0.5, 0]: free 0.5; j = 0: F = R_0 = 0.5; ratio 1
    t = 3: b ends: [0.5, 1]: 1.5, 0.5
    t = 4: a ends: [1, 1]: 2, F = R_2 = 0; ratio 0
    Over [0, 4]: free 1.5 x 1 + 0.5 x 2 + 1.5 x 1 = 4 -> mean 1 GPU, 50% of 2; fragmented
    0.5 x 4 = 2 -> 25%; ratio 2 / 4 = 0.5. Over [2, 3.5] (warmup 2, horizon 3.5): free 0.5 + 0.75,
    fragmented 0.5 + 0.25."""
    pl = pipelines((1, 0), (2, 1))
    ts = tasks((1, "a", 4, 1, 0.5), (2, "b", 2, 1, 1))
    cl = cluster(pool("g", 1, 8, 2))
    target = pd.DataFrame({"cpu": [0.0], "gpu": [1.0], "p": [1.0]})
    res = simulate_simpy(pl, ts, cl, target=target)
    tl = res.gpu_timeline
    assert tl.columns.tolist() == ["replication", "time", "unallocated_gpus", "fragmented_gpus", "frag_ratio"]
    assert tl["time"].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert tl["unallocated_gpus"].tolist() == [1.5, 0.5, 1.5, 2.0]
    assert tl["fragmented_gpus"].tolist() == [0.5, 0.5, 0.5, 0.0]
    assert tl["frag_ratio"].tolist() == [0.5 / 1.5, 1.0, 0.5 / 1.5, 0.0]
    assert res.gpu_summary == {"gpu_unallocated_pct": 50.0, "gpu_fragmented_pct": 25.0, "gpu_frag_ratio": 0.5}
    assert res.devices.columns.tolist() == ["replication", "pipeline_id", "task", "part", "node", "devices"]
    res = simulate_simpy(pl, ts, cl, target=target, warmup=2.0, horizon=3.5)
    s = res.gpu_summary
    assert s["gpu_unallocated_pct"] == 100.0 * ((0.5 * 1.0 + 1.5 * 0.5) / 1.5) / 2.0
    assert s["gpu_fragmented_pct"] == 100.0 * ((0.5 * 1.0 + 0.5 * 0.5) / 1.5) / 2.0
    assert s["gpu_frag_ratio"] == (0.5 * 1.0 + 0.5 * 0.5) / (0.5 * 1.0 + 1.5 * 0.5)


def test_the_empty_cluster_counts_before_the_first_pass():
    """The first event at t = 2: over [0, 2] the cluster is empty (2 GPUs free, fragmentation of
    the target 'one whole GPU' is 0); a (0.5 GPU, 2 s) then leaves 1.5 free, 0.5 fragmented for
    2 s: free (2 x 2 + 1.5 x 2) / 4 = 1.75 -> 87.5%; fragmented 1 / 4 -> 12.5%."""
    res = simulate_simpy(pipelines((1, 2)), tasks((1, "a", 2, 1, 0.5)), cluster(pool("g", 1, 8, 2)),
                         target=pd.DataFrame({"cpu": [0.0], "gpu": [1.0], "p": [1.0]}))
    assert res.gpu_timeline["time"].tolist() == [2.0, 4.0]
    assert res.gpu_summary == {"gpu_unallocated_pct": 87.5, "gpu_fragmented_pct": 12.5,
                               "gpu_frag_ratio": 1.0 / 7.0}


# ---- when the device path runs ------------------------------------------------------------

def test_the_device_path_is_taken_when_needed():
    pl, cl = pipelines((1, 0)), cluster(pool("g", 1, 8, 2, "A"))
    whole = tasks((1, "a", 1, 1, 1))
    assert simulate_simpy(pl, whole, cl).devices is None
    assert simulate_simpy(pl, whole, cl, devices=True).devices is not None
    for ts, kw in ((tasks((1, "a", 1, 1, 0.5)), {}), (tasks((1, "a", 1, 1, 1, "A")), {}),
                   (tasks((1, "a", 1, 1, 1, "", 2)), {}), (whole, {"placement": "fgd"}),
                   (whole, {"ties": "random"})):
        if ts is not whole or kw:
            cl2 = cluster(pool("g", 2, 8, 2, "A"))
            assert simulate_simpy(pl, ts, cl2, **kw).devices is not None
            with pytest.raises(ValueError, match="devices=False"):
                simulate_simpy(pl, ts, cl2, devices=False, **kw)
    with pytest.raises(ValueError, match="12.1"):
        simulate_simpy(pl, tasks((1, "a", 1, 1, 0.5)), cluster(pool("g", 1, 8, 0.5)))
    with pytest.raises(ValueError, match="12.2"):
        simulate_simpy(pl, tasks((1, "a", 1, 1, 1.5)), cl)


# ---- MODEL.md 12.10 -------------------------------------------------------------------------

@pytest.mark.parametrize("placement", ["first_fit", "best_fit", "worst_fit"])
def test_whole_gpus_on_devices_keep_the_pooled_schedule(placement):
    """On random whole-GPU traces (no fraction, spec or replicas), the device path's task records
    are the pooled path's, for every policy and both backfill settings."""
    waited = 0
    for seed in range(10):
        pl, ts, cl = random_device_trace(np.random.default_rng([seed, 1210]), n_tasks=(20, 40),
                                         fractions=False, specs=False, max_replicas=1, max_count=1)
        policy = ("fifo", "priority", "sjf", "srpt")[seed % 4]
        for backfill in (True, False):
            horizon = 9.0 if seed % 3 == 2 else None
            pooled = simulate_simpy(pl, ts, cl, policy=policy, placement=placement, backfill=backfill,
                                    horizon=horizon)
            dev = simulate_simpy(pl, ts, cl, policy=policy, placement=placement, backfill=backfill,
                                 horizon=horizon, devices=True)
            assert pooled.devices is None and dev.devices is not None
            pd.testing.assert_frame_equal(pooled.tasks, dev.tasks, check_exact=True)
            waited += int((pooled.tasks["start"] > pooled.tasks["ready"]).sum())
    assert waited > 50   # tasks competed for nodes


# ---- with the ML model lifecycle (MODEL.md 7) -----------------------------------------------

def test_a_rejected_pipeline_on_devices_finishes_with_its_last_running_task():
    """Regression: a task started on devices counts as running for its pipeline. evaluate (0.5 GPU,
    2 s) fails the accuracy gate at t = 2: deploy is cancelled and the pipeline finishes at 2 (it
    never finished before the fix: its running count went below 0)."""
    pl = pipelines((1, 0)).assign(model_id=0, candidate_accuracy=0.5, candidate_robustness=0.9,
                                  candidate_fairness=0.9)
    ts = tasks((1, "ev", 2, 1, 0.5), (1, "dep", 1, 1, 0, "", 1, "ev"))
    ts["type"] = ["evaluate", "deploy"]
    models = pd.DataFrame([{"model_id": 0, "accuracy": 0.9, "robustness": 0.9, "fairness": 0.9,
                            "deployed_at": 0.0, "drift_per_day": 0.0, "threshold": 0.6, "on_drift": True,
                            "period": 0.0, "phase": 0.0, "template_pipeline_id": 1}])
    res = simulate_simpy(pl, ts, cluster(pool("g", 1, 8, 1)), models=models, accuracy_gate=0.7, horizon=3.0)
    p = res.pipelines.set_index("pipeline_id")
    assert p.loc[1, "outcome"] == "rejected_by_evaluate" and p.loc[1, "end"] == 2.0
    assert res.tasks.set_index("task")["status"].to_dict() == {"ev": "completed", "dep": "cancelled"}


# ---- on elastic clusters (MODEL.md 11) --------------------------------------------------------

def fixed_interruptions(monkeypatch, times_by_slot):
    """Replace the spot streams: ``{(pool, slot): [times]}``; other slots are never interrupted."""
    def fake(seed, replication, pool_name, slot, per_day, horizon):
        return [t for t in times_by_slot.get((pool_name, slot), []) if t <= horizon]
    monkeypatch.setattr(sm, "interruption_times", fake)


def test_a_new_instance_has_every_device_wholly_free(monkeypatch):
    """A spot node of 2 devices: a (0.5 GPU, 10 s) takes device 0 at t = 0; b (2 GPUs, 2 s) arrives at
    t = 1 and waits. The node is interrupted at 3, its replacement boots 3 -> 8 with devices
    [1, 1] (not a's [0.5, 1]): b (ready since 1) takes both, a (ready again since 3) waits until
    b ends at 10 and runs its 10 s again (no checkpoint) to 20.
    GPUs over [0, 25] (target: one whole GPU): rows 0, 1: [0.5, 1] free 1.5, fragmented R_1 = 0.5,
    2 up; 3: no node up; 8: [0, 0]; 10: [0.5, 1]; 20: [1, 1]. Free 1.5 x 3 + 1.5 x 10 + 2 x 5 = 29.5,
    fragmented 0.5 x 3 + 0.5 x 10 = 6.5, up GPUs 2 x 3 + 2 x 17 = 40: 73.75% and 16.25% of the
    GPUs up (the elastic summary's denominator)."""
    fixed_interruptions(monkeypatch, {("s", 0): [3.0]})
    cl = cluster(dict(pool("s", 1, 8, 2), spot=True, interruptions_per_day=1.0, boot_time=5.0))
    res = simulate_simpy(pipelines((1, 0), (2, 1)), tasks((1, "a", 10, 1, 0.5), (2, "b", 2, 1, 2)), cl,
                         horizon=25.0, target=pd.DataFrame({"cpu": [0.0], "gpu": [1.0], "p": [1.0]}))
    rec = records(res)
    assert rec[(2, "b")] == (0, 8.0, 10.0) and rec[(1, "a")] == (0, 10.0, 20.0)
    assert part_devices(res)[(2, "b", 0)] == (0, "0,1")
    tl = res.gpu_timeline
    assert tl["time"].tolist() == [0.0, 1.0, 3.0, 8.0, 10.0, 20.0]
    assert tl["unallocated_gpus"].tolist() == [1.5, 1.5, 0.0, 0.0, 1.5, 2.0]
    assert res.gpu_summary == {"gpu_unallocated_pct": 73.75, "gpu_fragmented_pct": 16.25,
                               "gpu_frag_ratio": 6.5 / 29.5}


def test_an_interruption_stops_the_whole_gang(monkeypatch):
    """The gang g (2 parts of 1 GPU, 4 s) starts at 0 on the spot node s (speed 1) and the on-demand
    node d (speed 0.5): it would end at 4 / 0.5 = 8. w (1 GPU, 1 s) arrives at 1 and waits. s is
    interrupted at 2: the gang stops on both nodes, d's part is released at 2, w starts there
    (2 -> 2 + 1 / 0.5 = 4); the gang needs 2 nodes and waits for s's replacement (up at 12):
    12 -> 12 + 4 / 0.5 = 20. Work lost: (2 - 0) x 0.5 (the gang's pace) = 1 s."""
    fixed_interruptions(monkeypatch, {("s", 0): [2.0]})
    cl = cluster(dict(pool("s", 1, 8, 1), spot=True, interruptions_per_day=1.0, boot_time=10.0),
                 pool("d", 1, 8, 1, speed=0.5))
    res = simulate_simpy(pipelines((1, 0), (2, 1)), tasks((1, "g", 4, 1, 1, "", 2), (2, "w", 1, 1, 1)), cl,
                         horizon=30.0)
    rec = records(res)
    assert rec[(2, "w")] == (1, 2.0, 4.0)
    assert rec[(1, "g")] == (0, 12.0, 20.0)
    assert res.tasks.set_index("task").loc["g", "restarts"] == 1
    assert res.elastic["work_lost_h"] == 1.0 / 3600.0
    assert res.elastic["interruptions"] == 1 and res.elastic["tasks_restarted"] == 1


def test_the_reactive_autoscaler_on_devices_is_not_modelled():
    cl = cluster(dict(pool("g", 1, 8, 2), min_count=0, max_count=2))
    with pytest.raises(NotImplementedError, match="reactive"):
        simulate_simpy(pipelines((1, 0)), tasks((1, "a", 1, 1, 0.5)), cl, horizon=5.0, autoscaler="reactive")


def test_custom_autoscaler_counts_ready_tasks_that_fit_an_empty_node_by_12_3():
    """On devices, custom's ``ready`` counts the ready tasks whose part fits an empty node of the
    pool by MODEL.md 12.3: the 'B' task is not counted for pool a (model A), the 2-GPU task not for
    pool b (1 device), the 0.5 one for both. Both pools have 0 nodes up, so all three wait."""
    seen = []

    def desired(pool_index, up, booting, ready, utilization, now):
        seen.append((pool_index, ready))
        return 0

    cl = cluster(dict(pool("a", 0, 8, 2, "A"), min_count=0, max_count=1),
                 dict(pool("b", 0, 8, 1, "B"), min_count=0, max_count=1))
    ts = tasks((1, "spec_b", 1, 1, 1, "B"), (1, "two", 1, 1, 2), (1, "half", 1, 1, 0.5))
    simulate_simpy(pipelines((1, 0)), ts, cl, horizon=10.0,
                   autoscaler={"kind": "custom", "interval": 10.0, "func": desired})
    assert seen[:2] == [(0, 0), (1, 0)]          # t = 0: the tick comes before the arrival
    assert seen[2:4] == [(0, 2), (1, 2)]         # t = 10
