"""GPUs as devices, the Python side (MODEL.md 12): a cluster's device arrays, requests, specs, target workloads.

What the compiled kernels of :mod:`fastpipesim.engine.devices` read, built from
the public tables: :func:`device_cluster` (nodes: devices, GPU models),
:func:`task_requests` (per-part requests, GPU-model specs, replicas, checked
against MODEL.md 12.2), :func:`device_fit_room` / :func:`check_device_fits` (a
task must fit enough empty nodes), :func:`target_workload` (MODEL.md 12.7) and
:func:`placement_rng` (the replication's placement stream, MODEL.md 12.6).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .engine.constants import FIT_TOL, PLACEMENT_STREAM_TAG
from .errors import offending

# The study scores' normalizers are the study's (128 CPUs, 8 GPUs) unless a node is larger (MODEL.md 12.5).
STUDY_MAX_CPU = 128.0
STUDY_MAX_GPU = 8.0
# Target workload: the most common shapes until they cover this share of the parts (MODEL.md 12.7).
TARGET_COVERAGE_PERCENT = 95
# The most devices of one node: a part's devices are the bits of an int64 (engine/devices.py).
MAX_DEVICES = 62


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
    bad = gpu > MAX_DEVICES
    if bad.any():  # the kernels keep a part's devices as the bits of one 64-bit integer
        raise offending(cluster.source, f"a node holds at most {MAX_DEVICES} GPU devices", pools, bad)
    model = (pools["gpu_model"] if "gpu_model" in pools.columns else pd.Series("", index=pools.index))
    model = model.fillna("").astype(str).str.strip()
    model = model.where(gpu > 0, "")
    models = tuple(sorted(set(model) - {""}))
    code = {m: i for i, m in enumerate(models)}
    # one node per slot of an elastic cluster (MODEL.md 11.2), as Cluster.nodes()
    counts = pools["max_count" if cluster.is_elastic else "count"].to_numpy(np.int64)
    nodes = cluster.nodes()
    n_dev = np.repeat(gpu.astype(np.int64), counts)
    node_model = np.repeat(np.array([code.get(m, -1) for m in model], dtype=np.int64), counts)
    cap = np.ascontiguousarray(nodes.capacity)
    return DeviceCluster(cap=cap, n_dev=n_dev, node_model=node_model, models=models,
                         s_cpu=float(max(STUDY_MAX_CPU, cap[:, 0].max())),
                         s_gpu=float(max(STUDY_MAX_GPU, n_dev.max(initial=0))))


def spec_text(values) -> np.ndarray:
    """Canonical GPU-model specs: the non-empty ``|``-separated names, joined by ``|``; '' for none.

    Each distinct value is canonicalized once (a trace repeats a few specs over many tasks).
    """
    values = list(values) if not isinstance(values, (np.ndarray, pd.Series)) else values
    codes, uniq = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    canon = ["|".join(t.strip() for t in str(v).split("|") if t.strip()) for v in uniq]
    return np.asarray(canon + [""], dtype=object)[codes]  # (a missing value's code is -1: '')


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


def device_fit_room(req: Requests, dc: DeviceCluster) -> np.ndarray:
    """int64[T]: on how many nodes of the cluster, empty, each task's part fits (MODEL.md 12.3)."""
    spec_code, spec_ok = spec_table(req.spec, dc.models)
    # the distinct kinds of node (a few pools), vectorized over tasks
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
    return room


def check_device_fits(req: Requests, dc: DeviceCluster, tasks: pd.DataFrame, source: str = "<tasks>") -> None:
    """Raise :class:`InputError` for a task whose parts fit no empty node, or fewer than its replicas."""
    bad = device_fit_room(req, dc) < req.replicas
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


def placement_rng(seed: int, replication: int) -> np.random.Generator:
    """The replication's placement stream (MODEL.md 12.6)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(int(seed), spawn_key=(int(replication), PLACEMENT_STREAM_TAG))))




# ----------------------------------------------------------------------------- the event loop on devices

def batch_requests(batch) -> Requests:
    """Per-part requests of every task of a :class:`~fastpipesim.workload.Batch` (MODEL.md 12.2)."""
    wa = batch.arrays
    n = wa.n_tasks
    spec = (np.full(n, "", dtype=object) if batch.gpu_spec is None else spec_text(batch.gpu_spec))
    reps = np.ones(n, np.int64) if batch.replicas is None else np.asarray(batch.replicas, np.int64)
    return Requests(cpu=wa.cpu, gpu=wa.gpu, mem=wa.mem, spec=spec, replicas=reps)


def device_reasons(gpu, spec, replicas) -> list[str]:
    """Why a workload needs GPUs as devices (MODEL.md 12): its fractional requests, specs or gangs."""
    gpu = np.asarray(gpu, np.float64)
    out = []
    if ((gpu > 0) & (gpu < 1)).any():
        out.append("a fractional GPU request")
    if spec is not None and (spec_text(spec) != "").any():
        out.append("a gpu_spec")
    if replicas is not None and (np.asarray(replicas) > 1).any():
        out.append("replicas > 1")
    return out


def batch_frame(batch, rows: np.ndarray) -> pd.DataFrame:
    """Some tasks of a batch as a table, for error messages."""
    wa = batch.arrays
    req = batch_requests(batch)
    rep = np.searchsorted(wa.rep_task_ptr, rows, side="right") - 1
    return pd.DataFrame({
        "replication": np.asarray(batch.replications)[rep], "pipeline_id": wa.pipeline_id[wa.task_pipeline[rows]],
        "task": np.asarray(batch.task_names, dtype=object)[rows], "cpu": wa.cpu[rows], "gpu": wa.gpu[rows],
        "mem_gb": wa.mem[rows], "gpu_spec": req.spec[rows], "replicas": req.replicas[rows]}, index=rows)


def check_batch_requests(batch, dc: DeviceCluster) -> Requests:
    """MODEL.md 12.2 for a batch: GPU requests a fraction or whole devices, replicas >= 1, and every task
    fits at least ``replicas`` nodes of the cluster, empty. Raises InputError naming the tasks."""
    req = batch_requests(batch)
    bad = ((req.gpu > 1.0) & (req.gpu != np.floor(req.gpu))) | (req.replicas < 1)
    rule = "a GPU request above 1 must be a whole number of devices, and replicas >= 1 (MODEL.md 12.2)"
    if not bad.any():
        bad = device_fit_room(req, dc) < req.replicas
        rule = ("task's parts fit on no node, or on fewer nodes than its replicas, of the cluster "
                "(the task could never run; MODEL.md 12.2)")
    if bad.any():
        rows = np.flatnonzero(bad)
        frame = batch_frame(batch, rows)
        raise offending("<batch>", rule, frame.reset_index(drop=True), np.ones(len(rows), bool), row_numbers=rows,
                        note="(rows are batch task indices)")
    return req


def spec_codes(names, models) -> tuple[dict, np.ndarray]:
    """{canonical spec text: code} over ``names`` ('' maps to -1) and ``spec_ok`` : uint8[S, K]."""
    names = sorted(set(spec_text(names)) - {""})
    code, ok = spec_table(np.asarray(names, dtype=object), models)
    return {"": -1, **{n: int(c) for n, c in zip(names, code)}}, ok


def device_shapes(task_shape: np.ndarray, shape_req: np.ndarray, spec: np.ndarray, replicas: np.ndarray,
                  code: dict) -> tuple[np.ndarray, np.ndarray]:
    """Request shapes refined by GPU-model spec and replicas (the loop keeps one ready queue per shape).

    Returns ``task_shape : int64[T]`` and ``table : float64[S, 5]`` (cpu, gpu, mem_gb, spec code, replicas).
    """
    sc = np.array([code[s] for s in spec_text(spec)], dtype=np.float64) if len(spec) else np.zeros(0)
    if not len(task_shape):
        return task_shape, np.zeros((1, 5))
    if (sc < 0).all() and (np.asarray(replicas) == 1).all():
        table = np.column_stack([shape_req, np.full(len(shape_req), -1.0), np.ones(len(shape_req))])
        return task_shape, table
    rows = np.column_stack([shape_req[task_shape], sc, np.asarray(replicas, np.float64)])
    table, inverse = np.unique(rows, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), table
