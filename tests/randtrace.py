"""Small random traces for the oracle and invariant tests: DAGs, ties in time, several pools."""
from __future__ import annotations

import numpy as np
import pandas as pd

TYPES = ("preprocess", "train", "evaluate", "bias_check", "deploy", "etl")


def random_trace(rng: np.random.Generator, n_pipelines: int = 8, max_tasks: int = 5,
                 grid: float = 1.0, tie_heavy: bool = True):
    """Random (pipelines, tasks, cluster) frames in the MODEL.md 2 formats.

    Times and durations sit on a coarse grid when ``tie_heavy`` so that arrivals
    and completions often coincide; task rows of a pipeline are shuffled so the
    table order is not a topological order; ids are not sorted.
    """
    pools = [
        {"pool": "small", "count": int(rng.integers(1, 3)), "cpu": 4.0, "gpu": 0.0, "mem_gb": 16.0,
         "speed": float(rng.choice([0.5, 1.0, 2.0])), "price_per_hour": 1.0},
        {"pool": "big", "count": int(rng.integers(1, 3)), "cpu": 8.0, "gpu": 2.0, "mem_gb": 64.0,
         "speed": float(rng.choice([1.0, 2.0])), "price_per_hour": 4.0},
    ]
    if rng.random() < 0.5:
        pools.append({"pool": "frac", "count": 1, "cpu": 2.5, "gpu": 1.0, "mem_gb": 8.0,
                      "speed": 1.0, "price_per_hour": 2.0})
    cluster = pd.DataFrame(pools)
    ids = rng.permutation(np.arange(100, 100 + 3 * n_pipelines))[:n_pipelines]
    if tie_heavy:
        submit = rng.integers(0, 6, n_pipelines) * grid
    else:
        submit = np.round(rng.exponential(3.0, n_pipelines), 3)
    pipelines = pd.DataFrame({
        "pipeline_id": ids,
        "submit_time": submit.astype(float),
        "model_id": rng.integers(0, 3, n_pipelines),
        "priority": rng.integers(0, 3, n_pipelines),
    })
    rows = []
    for pid in ids:
        n = int(rng.integers(1, max_tasks + 1))
        names = [f"t{k}" for k in range(n)]
        topo = rng.permutation(n)  # topological order; edges only go forward in it
        for pos, k in enumerate(topo):
            earlier = [names[j] for j in topo[:pos]]
            after = [a for a in earlier if rng.random() < 0.4]
            # whole GPUs only: a fraction is a share of one device (MODEL.md 12), which
            # random_device_trace covers; these traces exercise the pooled path of 1-11
            gpu = float(rng.choice([0.0, 0.0, 1.0, 2.0]))
            cpu = float(rng.choice([0.5, 1.0, 2.0, 4.0]))
            mem = float(rng.choice([1.0, 4.0, 8.0]))
            if gpu > 1.0:
                cpu = min(cpu, 8.0)
            dur = float(rng.integers(1, 5)) * grid if tie_heavy else float(np.round(rng.exponential(2.0) + 0.01, 3))
            rows.append({"pipeline_id": pid, "task": names[k], "type": str(rng.choice(TYPES)),
                         "cpu": cpu, "gpu": gpu, "mem_gb": mem, "duration": dur, "after": ";".join(after)})
    tasks = pd.DataFrame(rows)
    # shuffle the rows: the table order (task index) is then not a topological
    # order, and pipelines interleave
    tasks = tasks.iloc[rng.permutation(len(tasks))].reset_index(drop=True)
    return pipelines, tasks, cluster


GPU_MODELS = ("V100", "A100", "T4")
SHARES = (0.1, 0.2, 0.25, 0.3, 0.5, 0.6, 0.7)


def _fits_empty(pool, cpu, gpu, mem, spec) -> bool:
    """A part fits an empty node of the pool (MODEL.md 12.3 on an empty node)."""
    if cpu > pool["cpu"] or mem > pool["mem_gb"]:
        return False
    if spec is not None and pool["gpu_model"] not in [s for s in spec.split("|") if s]:
        return False
    return gpu <= 0 or (gpu < 1 and pool["gpu"] >= 1) or pool["gpu"] >= gpu


def random_device_trace(rng: np.random.Generator, n_tasks: tuple = (20, 60), fractions: bool = True,
                        specs: bool = True, max_replicas: int = 3, grid: float = 1.0, max_count: int = 3):
    """Random (pipelines, tasks, cluster) frames for GPUs as devices (MODEL.md 12).

    The cluster: a CPU-only pool and 2-3 GPU pools of 1, 2, 4 or 8 devices, each of one
    of 2-3 GPU models (one pool may have no model), speeds 0.5-2. Tasks (``n_tasks``
    between the bounds, in small DAGs as ``random_trace``'s, times on a grid so events
    coincide): no GPU, a fraction (``SHARES``, which sum to exactly 1 or miss it by a
    rounding step, so shares are snapped) or 1, 2 or 4 whole devices; with ``specs`` a
    third of the GPU tasks name 1-2 models (sometimes with an empty name); replicas 1 to
    ``max_replicas``. Every task fits at least ``replicas`` empty nodes (MODEL.md 12.2).
    ``fractions=False, specs=False, max_replicas=1`` gives whole GPUs only (MODEL.md 12.10).
    A GPU pool has 1 to ``max_count`` nodes (fewer nodes: more contention).
    """
    models = list(rng.choice(GPU_MODELS, size=int(rng.integers(2, 4)), replace=False))
    pools = [{"pool": "cpu", "count": int(rng.integers(1, 3)), "cpu": 8.0, "gpu": 0.0, "mem_gb": 32.0,
              "speed": float(rng.choice([0.5, 1.0])), "price_per_hour": 1.0, "gpu_model": ""}]
    for q in range(int(rng.integers(2, 4))):
        model = models[q % len(models)] if (q < len(models) or rng.random() < 0.7) else ""
        pools.append({"pool": f"g{q}", "count": int(rng.integers(1, max_count + 1)),
                      "cpu": float(rng.choice([16.0, 32.0, 96.0])), "gpu": float(rng.choice([1, 2, 4, 8])),
                      "mem_gb": float(rng.choice([64.0, 256.0])), "speed": float(rng.choice([0.5, 1.0, 2.0])),
                      "price_per_hour": 3.0, "gpu_model": model})
    cluster = pd.DataFrame(pools)
    n_target = int(rng.integers(n_tasks[0], n_tasks[1] + 1))
    rows, pid = [], 100
    pipelines = []
    while len(rows) < n_target:
        pid += int(rng.integers(1, 4))
        pipelines.append({"pipeline_id": pid, "submit_time": float(rng.integers(0, 8)) * grid,
                          "model_id": int(rng.integers(0, 3)), "priority": int(rng.integers(0, 3))})
        n = int(min(rng.integers(1, 5), n_target - len(rows)))
        names = [f"t{k}" for k in range(n)]
        topo = rng.permutation(n)
        for pos, k in enumerate(topo):
            after = [names[j] for j in topo[:pos] if rng.random() < 0.4]
            rows.append({"pipeline_id": pid, "task": names[k], "type": str(rng.choice(TYPES)),
                         **_device_request(rng, pools, models, fractions, specs, max_replicas),
                         "duration": float(rng.integers(1, 6)) * grid, "after": ";".join(after)})
    tasks = pd.DataFrame(rows)
    tasks = tasks.iloc[rng.permutation(len(tasks))].reset_index(drop=True)
    pl = pd.DataFrame(pipelines)
    pl = pl.iloc[rng.permutation(len(pl))].reset_index(drop=True)
    return pl, tasks, cluster


def _device_request(rng, pools, models, fractions, specs, max_replicas) -> dict:
    """One task's request, drawn again until it fits ``replicas`` empty nodes."""
    while True:
        kind = rng.random()
        if kind < 0.3:
            gpu = 0.0
        elif kind < 0.65 and fractions:
            gpu = float(rng.choice(SHARES))
        else:
            gpu = float(rng.choice([1.0, 1.0, 2.0, 4.0]))
        spec = None
        if specs and gpu > 0 and rng.random() < 0.35:
            names = list(rng.choice(models, size=int(rng.integers(1, 3)), replace=False))
            spec = ("||" if rng.random() < 0.2 else "|").join(names)
        replicas = int(rng.integers(1, max_replicas + 1)) if rng.random() < 0.4 else 1
        cpu = float(rng.choice([0.5, 1.0, 2.0, 4.0, 8.0]))
        mem = float(rng.choice([1.0, 4.0, 8.0, 16.0]))
        room = sum(q["count"] for q in pools if _fits_empty(q, cpu, gpu, mem, spec))
        if room >= replicas:
            return {"cpu": cpu, "gpu": gpu, "mem_gb": mem, "gpu_spec": spec if spec is not None else "",
                    "replicas": replicas}


def random_elastic_device_trace(rng: np.random.Generator, n_tasks: tuple = (15, 40)):
    """A ``random_device_trace`` on an elastic cluster (MODEL.md 11, 12.12): every pool gets
    0-2 more slots, a start count between 0 and its slots (at least 1 where min_count is 1),
    boot times, billing minimums, and half the pools are spot with an interruption every few
    seconds, so that interruptions stop gangs, new instances come up and autoscalers act
    within a short horizon. Every task still fits ``replicas`` empty slots (more slots than
    the static trace's nodes)."""
    pl, ts, cl = random_device_trace(rng, n_tasks=n_tasks, max_count=2)
    cl["min_count"] = 0
    cl["max_count"] = cl["count"] + rng.integers(0, 3, len(cl))
    cl["count"] = [int(rng.integers(0, m + 1)) for m in cl["max_count"]]
    keep = rng.random(len(cl)) < 0.5
    cl["min_count"] = np.where(keep, np.minimum(1, cl["count"]), 0)
    cl["boot_time"] = rng.choice([0.0, 1.0, 2.5], len(cl))
    cl["billing_minimum"] = rng.choice([0.0, 3.0], len(cl))
    cl["spot"] = rng.random(len(cl)) < 0.5
    cl["interruptions_per_day"] = np.where(cl["spot"], 86400.0 / rng.choice([4.0, 10.0]), 0.0)
    return pl, ts, cl
