"""The load a fitted workload carries, against its trace's: helpers for the tests, and the table.

``python tests/fitload.py [SEEDS] [SEEDS_X10]`` prints, for the real openb trace and the
Alibaba 2018 sample (both in ``shared/traces-real``), the table of traces/README.md:
pipelines, GPU-hours and CPU-hours per day and the mean task duration of the trace,
of its fitted workload at rate scale 1 (mean and standard deviation over SEEDS
replications) and at rate scale 10, and the utilizations of replaying the trace and
one generated x1 replication on the same (reduced) cluster.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import fastpipesim as fps
from fastpipesim import importers
from fastpipesim.fit import fit_trace

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "traces-real"
if not REAL.exists():
    REAL = Path("/work/shared/traces-real")
OPENB = REAL / "alibaba-gpu-v2023-openb"
ALI18 = REAL / "alibaba-v2018-batch_task-dag"


def real_trace(name: str):
    """(trace, cluster) of a real trace sample, imported as ``fastpipesim import`` does."""
    if name == "openb":
        r = importers.read("alibaba-gpu-2023", OPENB / "openb_node_list_gpu_node.csv",
                           OPENB / "openb_pod_list_default.csv")
    else:
        r = importers.read("alibaba-2018", ALI18 / "batch_task_dag_sample.csv")
    return r.trace, r.cluster


def work_per_day(arrays, days: float) -> dict:
    """Pipelines, GPU-hours and CPU-hours per day and mean task duration of a batch's arrays."""
    return {"pipelines": float(arrays.n_pipelines),
            "gpu_h_day": float(np.sum(arrays.gpu * arrays.duration)) / 3600.0 / days,
            "cpu_h_day": float(np.sum(arrays.cpu * arrays.duration)) / 3600.0 / days,
            "mean_duration": float(np.mean(arrays.duration)) if arrays.n_tasks else float("nan")}


def trace_load(trace, fit) -> dict:
    """The same figures for the trace's pipelines in the fitted window."""
    a = trace.to_batch().arrays
    w = fit.workload
    inside = (a.submit >= w.start) & (a.submit < w.default_horizon)
    t = np.repeat(inside, np.diff(a.task_ptr))
    return {"pipelines": float(inside.sum()),
            "gpu_h_day": float(np.sum(a.gpu[t] * a.duration[t])) / 3600.0 / w.days,
            "cpu_h_day": float(np.sum(a.cpu[t] * a.duration[t])) / 3600.0 / w.days,
            "mean_duration": float(np.mean(a.duration[t]))}


def generated_loads(workload, seeds) -> list[dict]:
    """Per seed (replication 0 of each), the generated workload's figures."""
    return [work_per_day(workload.generate(s, 0).arrays, workload.days) for s in seeds]


def reduced_cluster(cluster, fraction: float):
    """Every pool at ``fraction`` of its nodes (at least one, so every task still fits somewhere)."""
    counts = {p: max(1, int(round(c * fraction))) for p, c in zip(cluster.pools["pool"], cluster.pools["count"])}
    return cluster.scaled(**counts)


#: per trace: the cluster fraction and the warm-up (days) of the utilization comparison. openb's
#: 1,213 nodes run at 0.2% GPU utilization (and its first 110 days hold 17 pods); 3% of the nodes
#: over the busy weeks makes the comparison say something. The 2018 sample's tasks request one
#: instance each (IMPORT.md): 77 core-hours a day, so one 8-core machine instead of 4,000.
REPLAY = {"openb": (0.03, 110.0), "ali18": (None, 1.0)}


def replay_cluster(name: str, cluster):
    frac, _ = REPLAY[name]
    if frac is not None:
        return reduced_cluster(cluster, frac)
    return fps.Cluster.from_pools([{"pool": "cpu", "count": 1, "cpu": 8, "gpu": 0, "mem_gb": 100}])


def utilizations(name, trace, workload, cluster, seed=1) -> tuple[dict, dict]:
    """Utilization columns of replaying the trace and replication 0 of ``seed`` of the workload."""
    _, warm_days = REPLAY[name]
    kw = dict(horizon=workload.default_horizon, warmup=workload.start + warm_days * 86400.0, progress=False)
    rt = fps.simulate(trace, cluster, **kw).summary.iloc[0]
    rg = fps.simulate(workload, cluster, replications=[0], seed=seed, **kw).summary.iloc[0]
    cols = [c for c in rt.index if c.startswith("util_")]
    return {c: float(rt[c]) for c in cols}, {c: float(rg[c]) for c in cols}


def cluster_utilization(cluster, util: dict) -> dict:
    """Cluster-wide utilization per dimension: the pools' utilizations weighted by their capacity."""
    pools = cluster.pools
    out = {}
    for dim in ("cpu", "gpu", "mem_gb"):
        cap = (pools[dim] * pools["count"]).to_numpy(np.float64)
        u = np.array([util.get(f"util_{p}_{dim}", 0.0) for p in pools["pool"]])
        u = np.where(np.isfinite(u), u, 0.0)
        if cap.sum() > 0:
            out[dim] = float(np.sum(u * cap) / cap.sum())
    return out


def main(n_seeds: int = 20, n_seeds_x10: int = 5) -> None:
    for name in ("openb", "ali18"):
        trace, cluster = real_trace(name)
        fit = fit_trace(trace, start="first")
        tl = trace_load(trace, fit)
        x1 = generated_loads(fit.workload, range(1, n_seeds + 1))
        x10 = generated_loads(fit.generator(rate_scale=10), range(1, n_seeds_x10 + 1))
        print(f"\n{name}: {fit.workload.arrivals} arrivals; classes: "
              + ", ".join(f"{c.type} {c.duration.label()}" for c in fit.workload.classes))
        print(fit.load.to_string(index=False))
        print(f"{'':28s} {'pipelines':>10s} {'GPU-h/day':>12s} {'CPU-h/day':>12s} {'mean dur (s)':>13s}")
        print(f"{'trace':28s} {tl['pipelines']:10,.0f} {tl['gpu_h_day']:12,.1f} {tl['cpu_h_day']:12,.1f} "
              f"{tl['mean_duration']:13,.0f}")
        for label, rows, k in ((f"x1, mean of {n_seeds} seeds", x1, 1), (f"x10, mean of {n_seeds_x10} seeds", x10, 10)):
            m = {c: np.mean([r[c] for r in rows]) for c in rows[0]}
            sd = {c: np.std([r[c] for r in rows], ddof=1) for c in rows[0]}
            print(f"{label:28s} {m['pipelines']:10,.0f} {m['gpu_h_day']:12,.1f} {m['cpu_h_day']:12,.1f} "
                  f"{m['mean_duration']:13,.0f}")
            print(f"{'  sd over seeds':28s} {sd['pipelines']:10,.0f} {sd['gpu_h_day']:12,.1f} "
                  f"{sd['cpu_h_day']:12,.1f} {sd['mean_duration']:13,.0f}")
            print(f"{'  / (trace x ' + str(k) + ')':28s} {m['pipelines'] / k / tl['pipelines']:10.3f} "
                  f"{m['gpu_h_day'] / k / max(tl['gpu_h_day'], 1e-300):12.3f} "
                  f"{m['cpu_h_day'] / k / tl['cpu_h_day']:12.3f} {m['mean_duration'] / tl['mean_duration']:13.3f}")
        small = replay_cluster(name, cluster)
        runs = [utilizations(name, trace, fit.workload, small, seed=s) for s in range(1, n_seeds_x10 + 4)]
        want = cluster_utilization(small, runs[0][0])
        got = [cluster_utilization(small, g) for _, g in runs]
        print(f"replay on {small.n_nodes} nodes ({len(got)} generated x1 replications), cluster-wide: " + ", ".join(
            f"{d} trace {100 * want[d]:.1f}% generated {100 * np.mean([g[d] for g in got]):.1f}% "
            f"(sd {100 * np.std([g[d] for g in got], ddof=1):.1f})" for d in want))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
