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
``seed`` shuffles and inflates with ``Generator(PCG64(SeedSequence(seed,
spawn_key=(r,))))`` and places with its placement stream (MODEL.md 12.6), the
same for every policy (common random numbers).
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .engine.constants import DEVICE_PLACEMENTS, FIT_TOL, PLACEMENT_STREAM_TAG, STUDY_PLACEMENTS, TIES
from .engine.devices import Targets, new_state
from .errors import InputError, offending

# The scores' normalizers are the study's (128 CPUs, 8 GPUs) unless a node is larger (MODEL.md 12.5).
STUDY_MAX_CPU = 128.0
STUDY_MAX_GPU = 8.0
# Target workload: the most common shapes until they cover this share of the parts (MODEL.md 12.7).
TARGET_COVERAGE_PERCENT = 95
# Scores kept per (request shape, node) by the compiled loop: at most this many (8 bytes x 3 each).
CACHE_ENTRIES = 2_000_000
ARRIVED_PERCENTS = np.arange(131)  # the study's x axis, 0..130% of the cluster's GPUs
DEFAULT_SEED = 42                  # the study's first seed (its Go seeds were 42..51)
DEFAULT_INFLATE = 1.3


# ----------------------------------------------------------------------------- cluster and requests

class DeviceCluster(NamedTuple):
    """A cluster's nodes as the device kernels read them (MODEL.md 12.1).

    Attributes
    ----------
    cap : float64[N, 3]
        cpu, gpu (devices), mem_gb of each node.
    n_dev : int64[N]
    node_model : int64[N]
        Index into ``models``; -1 for a node without GPUs or without a model.
    models : tuple of str
        The GPU models of the cluster, sorted.
    s_cpu, s_gpu : float
        The study scores' normalizers: max(128, largest node's cpu), max(8, most devices).
    """

    cap: np.ndarray
    n_dev: np.ndarray
    node_model: np.ndarray
    models: tuple
    s_cpu: float
    s_gpu: float

    @property
    def n_gpus(self) -> int:
        return int(self.n_dev.sum())


def device_cluster(cluster) -> DeviceCluster:
    """The device arrays of a :class:`~fastpipesim.cluster.Cluster` (optional column ``gpu_model``).

    A node's ``gpu`` is its number of devices, so it must be a whole number.
    """
    pools = cluster.pools
    gpu = pools["gpu"].to_numpy(np.float64)
    bad = gpu != np.floor(gpu)
    if bad.any():
        raise offending(cluster.source, "a node's gpu is its number of GPU devices (MODEL.md 12.1): "
                        "it must be a whole number", pools, bad)
    model = (pools["gpu_model"] if "gpu_model" in pools.columns else pd.Series("", index=pools.index))
    model = model.fillna("").astype(str).str.strip()
    model = model.where(gpu > 0, "")
    models = tuple(sorted(set(model) - {""}))
    code = {m: i for i, m in enumerate(models)}
    counts = pools["count"].to_numpy(np.int64)
    nodes = cluster.nodes()
    n_dev = np.repeat(gpu.astype(np.int64), counts)
    node_model = np.repeat(np.array([code.get(m, -1) for m in model], dtype=np.int64), counts)
    cap = np.ascontiguousarray(nodes.capacity)
    return DeviceCluster(cap=cap, n_dev=n_dev, node_model=node_model, models=models,
                         s_cpu=float(max(STUDY_MAX_CPU, cap[:, 0].max())),
                         s_gpu=float(max(STUDY_MAX_GPU, n_dev.max(initial=0))))


def spec_text(values) -> np.ndarray:
    """Canonical GPU-model specs: the non-empty ``|``-separated names, joined by ``|``; '' for none."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        else:
            out.append("|".join(t.strip() for t in str(v).split("|") if t.strip()))
    return np.asarray(out, dtype=object)


def spec_table(specs, models) -> tuple[np.ndarray, np.ndarray]:
    """Spec codes (-1 for none) and ``spec_ok`` : uint8[S, max(K, 1)] (does spec s allow model k)."""
    specs = np.asarray(specs, dtype=object)
    names = sorted(set(specs) - {""})
    code = {s: i for i, s in enumerate(names)}
    ok = np.zeros((max(len(names), 1), max(len(models), 1)), dtype=np.uint8)
    for s, i in code.items():
        allowed = set(s.split("|"))
        for k, m in enumerate(models):
            ok[i, k] = m in allowed
    return np.array([code.get(s, -1) for s in specs], dtype=np.int64), ok


class Requests(NamedTuple):
    """Per-part requests of a list of tasks (MODEL.md 12.2).

    cpu, gpu, mem : float64[T]; spec : object[T] (canonical text, '' for none);
    replicas : int64[T].
    """

    cpu: np.ndarray
    gpu: np.ndarray
    mem: np.ndarray
    spec: np.ndarray
    replicas: np.ndarray


def task_requests(tasks: pd.DataFrame, source: str = "<tasks>", memory: bool = True) -> Requests:
    """The requests of a tasks table (``cpu``, ``gpu``, ``mem_gb``; optional ``gpu_spec``, ``replicas``).

    Checks MODEL.md 12.2: a GPU request is 0, a fraction in (0, 1) or a whole
    number of devices; ``replicas`` is a whole number >= 1. ``memory=False``
    leaves memory out of the fit test (requests of 0 GiB).
    """
    gpu = tasks["gpu"].to_numpy(np.float64)
    bad = (gpu > 1.0) & (gpu != np.floor(gpu))
    if bad.any():
        raise offending(source, "a GPU request above 1 must be a whole number of devices (MODEL.md 12.2)",
                        tasks, bad)
    if "replicas" in tasks.columns:
        reps = pd.to_numeric(tasks["replicas"], errors="coerce").fillna(1.0).to_numpy(np.float64)
        bad = (reps < 1) | (reps != np.floor(reps))
        if bad.any():
            raise offending(source, "replicas must be a whole number >= 1 (MODEL.md 12.2)", tasks, bad)
    else:
        reps = np.ones(len(tasks))
    spec = spec_text(tasks["gpu_spec"]) if "gpu_spec" in tasks.columns else np.full(len(tasks), "", dtype=object)
    mem = tasks["mem_gb"].to_numpy(np.float64) if memory else np.zeros(len(tasks))
    return Requests(cpu=tasks["cpu"].to_numpy(np.float64), gpu=gpu, mem=np.ascontiguousarray(mem), spec=spec,
                    replicas=reps.astype(np.int64))


def check_device_fits(req: Requests, dc: DeviceCluster, tasks: pd.DataFrame, source: str = "<tasks>") -> None:
    """Raise :class:`InputError` for a task whose parts fit no (or too few) empty nodes (MODEL.md 12.2)."""
    spec_code, spec_ok = spec_table(req.spec, dc.models)
    # distinct node kinds: a few pools, vectorized over tasks
    kinds, inverse = np.unique(np.column_stack([dc.cap, dc.n_dev, dc.node_model]), axis=0, return_inverse=True)
    per_kind = np.bincount(inverse.ravel(), minlength=len(kinds))
    room = np.zeros(len(req.gpu), dtype=np.int64)
    for (c, _, m, nd, model), count in zip(kinds, per_kind):
        nd, model = int(nd), int(model)
        ok = (req.cpu <= c + FIT_TOL) & (req.mem <= m + FIT_TOL)
        ok &= np.where(req.gpu <= 0, True, np.where(req.gpu < 1, nd >= 1, req.gpu <= nd))
        allowed = spec_ok[:, model] != 0 if model >= 0 else np.zeros(spec_ok.shape[0], dtype=bool)
        ok &= (spec_code < 0) | allowed[np.maximum(spec_code, 0)]
        room += ok * int(count)
    bad = room < req.replicas
    if bad.any():
        raise offending(source, "task's parts fit on no node, or on fewer nodes than its replicas, of the "
                        "cluster (the task could never run; MODEL.md 12.2)", tasks, bad)


# ----------------------------------------------------------------------------- target workload

def target_workload(req: Requests, coverage_percent: float = TARGET_COVERAGE_PERCENT) -> pd.DataFrame:
    """The target workload of a list of tasks (MODEL.md 12.7).

    Every part counts once. Shapes (cpu, gpu, gpu_spec) are ordered by count,
    then cpu, per-device share, devices and spec, all descending; the first ones
    are kept until they cover ``coverage_percent`` of the parts, and their
    frequencies renormalised.

    Returns
    -------
    DataFrame
        ``cpu``, ``gpu``, ``gpu_spec``, ``count``, ``p``, in target order.
    """
    shapes = pd.DataFrame({"cpu": req.cpu, "gpu": req.gpu, "gpu_spec": req.spec, "w": req.replicas})
    t = shapes.groupby(["cpu", "gpu", "gpu_spec"], sort=False)["w"].sum().rename("count").reset_index()
    share = np.where(t["gpu"] <= 0, 0.0, np.where(t["gpu"] < 1, t["gpu"], 1.0))
    devices = np.where(t["gpu"] <= 0, 0, np.where(t["gpu"] < 1, 1, t["gpu"])).astype(np.int64)
    t = t.assign(_share=share, _dev=devices)
    # a total order, as the study's sort (count, then cpu, share, devices, model text), descending
    t = t.sort_values(["count", "cpu", "_share", "_dev", "gpu_spec"], ascending=False, kind="stable")
    total = float(t["count"].sum())
    expected = float(coverage_percent) * total / 100.0
    cum = np.cumsum(t["count"].to_numpy(np.float64))
    keep = int(np.searchsorted(cum, expected, side="left")) + 1  # up to the first shape with cum >= expected
    keep = min(keep, len(t))
    t = t.iloc[:keep].drop(columns=["_share", "_dev"]).reset_index(drop=True)
    covered = float(cum[keep - 1])
    t["p"] = (t["count"].to_numpy(np.float64) / total) / (covered / total)
    t["count"] = t["count"].astype(np.int64)
    return t


def target_arrays(target: pd.DataFrame, models) -> tuple:
    """(tg_cpu, tg_share, tg_count, tg_spec, tg_p, spec_ok rows) of a target workload table.

    ``target`` has ``cpu``, ``gpu``, ``p`` and optionally ``gpu_spec``.
    """
    g = target["gpu"].to_numpy(np.float64)
    share = np.where(g <= 0, 0.0, np.where(g < 1, g, 1.0))
    count = np.where(g <= 0, 0, np.where(g < 1, 1, g)).astype(np.int64)
    spec = spec_text(target["gpu_spec"]) if "gpu_spec" in target.columns else np.full(len(target), "", object)
    return (target["cpu"].to_numpy(np.float64), share, count, spec, target["p"].to_numpy(np.float64))


# ----------------------------------------------------------------------------- the pod sequence

def workload_rng(seed: int, replication: int) -> np.random.Generator:
    """The stream that shuffles and inflates replication ``replication``'s pod list."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(replication),))))


def placement_rng(seed: int, replication: int) -> np.random.Generator:
    """The replication's placement stream (MODEL.md 12.6)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(int(seed), spawn_key=(int(replication), PLACEMENT_STREAM_TAG))))


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
        axes[0].legend(loc="upper left", fontsize=9)
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
    ties : "random" or "index"
        How equally scored nodes are broken (MODEL.md 12.5). The study's
        scheduler (kube-scheduler) picks uniformly among them: "random".
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
