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
        pools.append({"pool": "frac", "count": 1, "cpu": 2.5, "gpu": 0.5, "mem_gb": 8.0,
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
            gpu = float(rng.choice([0.0, 0.0, 0.5, 1.0]))
            cpu = float(rng.choice([0.5, 1.0, 2.0, 4.0]))
            mem = float(rng.choice([1.0, 4.0, 8.0]))
            if gpu > 0.5:
                cpu = min(cpu, 8.0)
            dur = float(rng.integers(1, 5)) * grid if tie_heavy else float(np.round(rng.exponential(2.0) + 0.01, 3))
            rows.append({"pipeline_id": pid, "task": names[k], "type": str(rng.choice(TYPES)),
                         "cpu": cpu, "gpu": gpu, "mem_gb": mem, "duration": dur, "after": ";".join(after)})
    tasks = pd.DataFrame(rows)
    # shuffle the rows: the table order (task index) is then not a topological
    # order, and pipelines interleave
    tasks = tasks.iloc[rng.permutation(len(tasks))].reset_index(drop=True)
    return pipelines, tasks, cluster
