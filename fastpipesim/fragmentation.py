"""The GPU-fragmentation experiment of the openb study, on any trace with GPU requests (MODEL.md 12.11).

Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
Fragmentation Gradient Descent" (USENIX ATC 2023) measure how many GPUs each
placement policy leaves unallocated as a workload of GPU-sharing pods arrives
and never leaves. :func:`fragmentation_study` runs exactly that experiment:

1. the trace's tasks, in trace order, are the base list of pods (a task with
   ``replicas`` is a gang: its parts are placed together or not at all);
2. per replication, the list is shuffled and then inflated, as the study's
   ``tuneUpPods`` does, by drawing base pods at random with replacement until
   the next one would push the GPU demand above ``inflate`` x the cluster's GPUs;
3. the pods arrive one by one and each is placed once (MODEL.md 12.3-12.5) or
   fails; after each pod the arrived GPU demand, the free (unallocated) GPUs
   and the fragmented GPUs (MODEL.md 12.7) are recorded;
4. per policy and arrived-demand percent 0..130: the median, 25th and 75th
   percentiles and mean over replications of the unallocated GPU percent (and
   of the fragmentation ratio).

The loop over pods is compiled (:mod:`fastpipesim.engine.fragstudy`); the runs
(policies x replications) go on a pool of threads. Randomness: replication r of
``seed`` orders the nodes, shuffles and inflates with
``Generator(PCG64(SeedSequence(seed, spawn_key=(r,))))`` and places with its
placement stream (MODEL.md 12.6), the same for every policy (common random
numbers). Score ties go to the first node of the random node order, as in the
study's simulator (see ``ties`` and ``node_order``).
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .devices import (Requests, check_device_fits, device_cluster, placement_rng, spec_table, target_arrays,
                      target_workload, task_requests)
from .engine.constants import DEVICE_PLACEMENTS, FIT_TOL, STUDY_PLACEMENTS, TIES
from .engine.devices import Targets, new_state
from .errors import InputError

# Scores kept per (request shape, node) by the compiled loop: at most this many (8 bytes x 3 each).
CACHE_ENTRIES = 2_000_000
ARRIVED_PERCENTS = np.arange(131)  # the study's x axis, 0..130% of the cluster's GPUs
DEFAULT_SEED = 42                  # the study's first seed (its Go seeds were 42..51)
DEFAULT_INFLATE = 1.3


# ----------------------------------------------------------------------------- the pod sequence

def workload_rng(seed: int, replication: int) -> np.random.Generator:
    """The stream that shuffles and inflates replication ``replication``'s pod list."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(replication),))))


_DRAW_BLOCK = 1024


def pod_sequence(req: Requests, cluster_gpus: float, inflate: float, rng: np.random.Generator) -> np.ndarray:
    """Indices (into the base list) of the pods of one replication, in arrival order (MODEL.md 12.11).

    The base list is shuffled (``rng.permutation``); then, if its GPU demand is
    below ``inflate`` x ``cluster_gpus``, pods drawn uniformly from the base
    list (draw k: ``floor(u_k n)``, u_k the k-th double of ``rng`` after the
    shuffle) are appended until the next drawn pod would push the demand above
    the target. As the study's ``tuneUpPods``, that test adds the drawn pod's
    per-device request (1 for whole devices) while the demand grows by its full
    request. Above the target, random pods of the list are removed instead
    (``tuneDownPods``) until the demand is at most the target.
    """
    n = len(req.gpu)
    demand = req.gpu * req.replicas
    per_device = np.where(req.gpu < 1, req.gpu, 1.0)
    target = float(inflate) * float(cluster_gpus)
    seq = rng.permutation(n).astype(np.int64)
    total = float(np.cumsum(demand)[-1]) if n else 0.0
    if total > target + FIT_TOL:
        seq = list(seq)
        while total > target + FIT_TOL and seq:
            k = min(int(rng.random() * len(seq)), len(seq) - 1)
            total -= demand[seq.pop(k)]
        return np.asarray(seq, dtype=np.int64)
    if total >= target - FIT_TOL:
        return seq
    extra = []
    while True:
        idx = np.minimum((rng.random(_DRAW_BLOCK) * n).astype(np.int64), n - 1)
        running = np.cumsum(np.concatenate([[total], demand[idx]]))  # the demand before each draw, summed in order
        stop = np.flatnonzero(running[:-1] + per_device[idx] > target + FIT_TOL)
        if len(stop):
            extra.append(idx[:stop[0]])
            break
        extra.append(idx)
        total = float(running[-1])
    return np.concatenate([seq] + extra)


# ----------------------------------------------------------------------------- the study

@dataclass
class StudyResult:
    """What :func:`fragmentation_study` measured.

    Attributes
    ----------
    curves : DataFrame
        One row per (policy, replication, arrived_pct 0..130): ``unallocated_pct``
        (free GPUs, % of the cluster's), ``fragmented_pct`` (fragmented GPUs, %
        of the cluster's) and ``frag_ratio_pct`` (fragmented / free GPUs, %),
        each the mean over the pods whose arrived demand rounds to that percent
        (the study's discretization; +-1 percent when none does).
    unallocated, frag_ratio : DataFrame
        Per (policy, arrived_pct): ``median``, ``p25``, ``p75`` and ``mean`` over
        replications.
    runs : DataFrame
        One row per (policy, replication): pods, failed pods, arrived demand and
        unallocated GPUs at the end, seconds.
    target : DataFrame
        The target workload (MODEL.md 12.7).
    cluster_gpus : int
    elapsed : float
        Wall-clock seconds of the runs.
    """

    curves: pd.DataFrame
    unallocated: pd.DataFrame
    frag_ratio: pd.DataFrame
    runs: pd.DataFrame
    target: pd.DataFrame
    cluster_gpus: int
    elapsed: float
    settings: dict = field(default_factory=dict)

    def at(self, arrived_pct: int = 100) -> pd.DataFrame:
        """Unallocated GPU % per policy at one arrived-demand percent (median, p25, p75, mean)."""
        u = self.unallocated
        return u[u["arrived_pct"] == arrived_pct].set_index("policy").drop(columns="arrived_pct")

    def write(self, folder) -> list[Path]:
        """Write unallocated.csv, frag_ratio.csv, curves.csv, runs.csv, target.csv and fragmentation.png."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in (("unallocated", self.unallocated), ("frag_ratio", self.frag_ratio),
                            ("curves", self.curves), ("runs", self.runs), ("target", self.target)):
            path = out / f"{name}.csv"
            frame.to_csv(path, index=False)
            written.append(path)
        written.append(self.plot(out / "fragmentation.png"))
        return written

    def plot(self, path) -> Path:
        """Unallocated GPU % (median and 25-75% band) and fragmentation ratio against arrived demand."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
        for policy, grp in self.unallocated.groupby("policy", sort=False):
            x = grp["arrived_pct"].to_numpy()
            line, = axes[0].plot(x, grp["median"], label=policy, lw=1.8)
            axes[0].fill_between(x, grp["p25"], grp["p75"], color=line.get_color(), alpha=0.25, lw=0)
        x = ARRIVED_PERCENTS
        axes[0].plot(x, np.maximum(100 - x, 0), ls=":", color="grey", label="ideal")
        axes[0].set(xlim=(75, 130), ylim=(0, 25), xlabel="arrived GPU demand (% of cluster GPUs)",
                    ylabel="unallocated GPUs (%)", title="Unallocated GPUs (median, 25-75% over seeds)")
        for policy, grp in self.frag_ratio.groupby("policy", sort=False):
            x = grp["arrived_pct"].to_numpy()
            line, = axes[1].plot(x, grp["median"], label=policy, lw=1.8)
            axes[1].fill_between(x, grp["p25"], grp["p75"], color=line.get_color(), alpha=0.25, lw=0)
        axes[1].set(xlim=(0, 130), ylim=(0, 100), xlabel="arrived GPU demand (% of cluster GPUs)",
                    ylabel="fragmented / free GPUs (%)", title="Fragmentation ratio")
        for ax in axes:
            ax.grid(ls="-.", alpha=0.6)
        axes[0].legend(loc="upper right", fontsize=9)
        s = self.settings
        fig.suptitle(f"{s.get('source', '')}: {self.cluster_gpus} GPUs, {s.get('replications')} seeds, "
                     f"inflated to {s.get('inflate')}x, ties {s.get('ties')}", fontsize=10)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _discretize(arrived_pct: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The study's curve: at x = 0..130, the mean of ``values`` over pods whose arrived % rounds to x.

    When no pod rounds to x, the pods within x-1..x+1 are used; NaN if none
    (as the study's merge_alloc_discrete.py).
    """
    x = np.round(arrived_pct).astype(np.int64)  # half to even, as Python's round()
    hi = int(ARRIVED_PERCENTS[-1]) + 2
    x = np.clip(x, -1, hi)
    ok = np.isfinite(values)
    sums = np.bincount(x[ok] + 1, weights=values[ok], minlength=hi + 2)
    counts = np.bincount(x[ok] + 1, minlength=hi + 2).astype(np.float64)
    out = np.full(len(ARRIVED_PERCENTS), np.nan)
    for i, p in enumerate(ARRIVED_PERCENTS):
        k = p + 1
        if counts[k] > 0:
            out[i] = sums[k] / counts[k]
        else:
            c = counts[k - 1:k + 2].sum()
            if c > 0:
                out[i] = sums[k - 1:k + 2].sum() / c
    return out


def _summary(curves: pd.DataFrame, column: str, policies) -> pd.DataFrame:
    rows = []
    for policy in policies:
        grp = curves[curves["policy"] == policy]
        table = grp.pivot(index="replication", columns="arrived_pct", values=column).to_numpy()
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(table, axis=0)
                p25 = np.nanpercentile(table, 25, axis=0)
                p75 = np.nanpercentile(table, 75, axis=0)
                mean = np.nanmean(table, axis=0)
        rows.append(pd.DataFrame({"policy": policy, "arrived_pct": ARRIVED_PERCENTS, "median": med, "p25": p25,
                                  "p75": p75, "mean": mean}))
    return pd.concat(rows, ignore_index=True)


def _placement_codes(policies) -> list[int]:
    if isinstance(policies, str):
        policies = [p.strip() for p in policies.split(",") if p.strip()]
    codes = []
    for p in policies:
        if p not in DEVICE_PLACEMENTS:
            raise ValueError(f"unknown placement {p!r}; known: {', '.join(DEVICE_PLACEMENTS)}")
        codes.append(DEVICE_PLACEMENTS.index(p))
    if not codes:
        raise ValueError("give at least one placement policy")
    return codes


def fragmentation_study(trace, cluster, policies=STUDY_PLACEMENTS, replications: int = 10,
                        seed: int = DEFAULT_SEED, inflate: float = DEFAULT_INFLATE, ties: str = "index",
                        node_order: str = "random", target: pd.DataFrame | None = None, memory: bool = True,
                        threads: int | None = None) -> StudyResult:
    """Run the openb fragmentation experiment (MODEL.md 12.11) of ``trace`` on ``cluster``.

    Parameters
    ----------
    trace : Trace or DataFrame
        Its tasks (``cpu``, ``gpu``, ``mem_gb``, optional ``gpu_spec`` and
        ``replicas``), in trace order, are the base list of pods; times and
        ``after`` are not used (pods never leave).
    cluster : Cluster
        Node ``gpu`` = devices; optional pool column ``gpu_model``.
    policies : sequence of str or "a,b,c"
        Placement rules, among ``DEVICE_PLACEMENTS`` (default: the six of the study).
    replications : int
        Replications 0..R-1 of ``seed`` (the study used 10).
    inflate : float
        Target GPU demand as a multiple of the cluster's GPUs (the study: 1.3).
    ties : "index" or "random"
        How equally scored nodes are broken (MODEL.md 12.5). The study's
        scheduler (a modified kube-scheduler) takes the smallest node name, and
        its simulator names the nodes with a random permutation per seed:
        "index" with ``node_order="random"``. "random" is stock
        kube-scheduler's rule (uniformly among the tied nodes).
    node_order : "random" or "given"
        A random order of the nodes per replication (the study's), or the
        cluster's own order.
    target : DataFrame, optional
        A target workload (``cpu``, ``gpu``, ``p``, optional ``gpu_spec``);
        by default the trace's own (MODEL.md 12.7).
    memory : bool
        Whether the fit test checks memory (kube-scheduler's resource filter does).
    threads : int, optional
        Runs at once (default: all cores).
    """
    from .engine.fragstudy import study_run_nb

    codes = _placement_codes(policies)
    if node_order not in ("random", "given"):
        raise ValueError(f"node_order must be 'random' or 'given', got {node_order!r}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    if not (isinstance(replications, (int, np.integer)) and replications >= 1):
        raise ValueError(f"replications must be a whole number >= 1, got {replications!r}")
    if not (inflate > 0 and math.isfinite(inflate)):
        raise ValueError(f"inflate must be a positive number, got {inflate!r}")
    tasks = trace.tasks if hasattr(trace, "tasks") else pd.DataFrame(trace)
    source = trace.files["tasks"] if hasattr(trace, "files") else "<tasks>"
    if "pipeline_id" in tasks.columns:
        tasks = tasks.iloc[np.argsort(tasks["pipeline_id"].to_numpy(), kind="stable")]  # trace order
    tasks = tasks.reset_index(drop=True)
    if not len(tasks):
        raise InputError(source, "no task: the study needs at least one pod")
    dc = device_cluster(cluster)
    req = task_requests(tasks, source, memory=memory)
    check_device_fits(req, dc, tasks, source)
    if dc.n_gpus == 0:
        raise InputError(cluster.source, "the cluster has no GPU: nothing to fragment")
    tg = target_workload(req) if target is None else pd.DataFrame(target).reset_index(drop=True)
    for col in ("cpu", "gpu", "p"):
        if col not in tg.columns:
            raise ValueError(f"a target workload needs columns cpu, gpu, p; {col!r} is missing")
    tg_cpu, tg_share, tg_count, tg_spec_text, tg_p = target_arrays(tg, dc.models)
    spec_code, spec_ok = spec_table(np.concatenate([req.spec, tg_spec_text]), dc.models)
    pod_spec_all, tg_spec = spec_code[:len(req.spec)], spec_code[len(req.spec):]

    seqs, draws, slots, orders = [], [], [], []
    n_nodes = len(dc.n_dev)
    for r in range(replications):
        rng = workload_rng(seed, r)
        # The study's simulator renames the nodes with a random permutation and its scheduler
        # breaks ties by the smallest name: ties go to the first node of a random order.
        orders.append(rng.permutation(n_nodes) if node_order == "random" else np.arange(n_nodes))
        seq = pod_sequence(req, dc.n_gpus, inflate, rng)
        reps = req.replicas[seq]
        slot = np.concatenate([[0], np.cumsum(reps)[:-1]]).astype(np.int64)
        seqs.append(seq)
        slots.append(slot)
        draws.append(placement_rng(seed, r).random((int(reps.sum()), 2)))

    # request shapes: the score cache of the compiled loop is kept per shape
    _, shape_of = np.unique(np.column_stack([req.cpu, req.gpu, req.mem, pod_spec_all]), axis=0, return_inverse=True)
    shape_of = shape_of.ravel().astype(np.int64)
    n_shapes = int(shape_of.max()) + 1
    cache_rows = max(1, min(n_shapes, CACHE_ENTRIES // max(n_nodes, 1)))
    targets = Targets(cpu=tg_cpu, share=tg_share, count=tg_count, spec=tg_spec, p=tg_p)
    norm = np.array([dc.s_cpu, dc.s_gpu])
    max_reps = int(req.replicas.max())

    jobs = [(pi, code, r) for pi, code in enumerate(codes) for r in range(replications)]
    outputs = {}

    def run(job):
        pi, code, r = job
        seq, order = seqs[r], orders[r]
        p = len(seq)
        out = (np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p, dtype=np.int64))
        t0 = time.perf_counter()
        st, sc = new_state(dc.cap[order], dc.n_dev[order], dc.node_model[order], spec_ok, norm, max_reps)
        cache = (np.zeros((cache_rows, n_nodes)), np.zeros((cache_rows, n_nodes), dtype=np.int64),
                 np.full((cache_rows, n_nodes), -1, dtype=np.int64), np.full(cache_rows, -1, dtype=np.int64))
        study_run_nb(st, targets, sc, code, TIES.index(ties), np.ascontiguousarray(req.cpu[seq]),
                     np.ascontiguousarray(req.gpu[seq]), np.ascontiguousarray(req.mem[seq]),
                     np.ascontiguousarray(pod_spec_all[seq]), np.ascontiguousarray(req.replicas[seq]), slots[r],
                     np.ascontiguousarray(shape_of[seq]), draws[r], *cache, *out)
        out[3][:] = np.where(out[3] >= 0, order[np.maximum(out[3], 0)], -1)  # back to cluster node indices
        outputs[job] = out + (time.perf_counter() - t0,)

    workers = threads or os.cpu_count() or 1
    start = time.perf_counter()
    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            run(job)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, jobs))
    elapsed = time.perf_counter() - start

    names = [DEVICE_PLACEMENTS[c] for c in codes]
    total = float(dc.n_gpus)
    curves, runs = [], []
    for job in jobs:
        pi, code, r = job
        arrived, free, frag, node, secs = outputs[job]
        arrived_pct = 100.0 * arrived / total
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(free > 0, 100.0 * frag / np.where(free > 0, free, 1.0), np.nan)
        curves.append(pd.DataFrame({
            "policy": names[pi], "replication": r, "arrived_pct": ARRIVED_PERCENTS,
            "unallocated_pct": _discretize(arrived_pct, 100.0 * free / total),
            "fragmented_pct": _discretize(arrived_pct, 100.0 * frag / total),
            "frag_ratio_pct": _discretize(arrived_pct, ratio),
        }))
        runs.append({"policy": names[pi], "replication": r, "pods": len(node), "failed": int((node < 0).sum()),
                     "arrived_pct": float(arrived_pct[-1]), "unallocated_pct": float(100.0 * free[-1] / total),
                     "fragmented_pct": float(100.0 * frag[-1] / total), "seconds": secs})
    curves = pd.concat(curves, ignore_index=True)
    settings = {"source": getattr(trace, "source", source), "replications": replications, "seed": seed,
                "inflate": inflate, "ties": ties, "memory": memory, "policies": names}
    return StudyResult(curves=curves, unallocated=_summary(curves, "unallocated_pct", names),
                       frag_ratio=_summary(curves, "frag_ratio_pct", names), runs=pd.DataFrame(runs),
                       target=tg, cluster_gpus=int(dc.n_gpus), elapsed=elapsed, settings=settings)
