"""The array form of a workload, shared by traces, the synthetic generator and the engine.

A *batch* holds the workloads of one or more replications, concatenated along
the replication axis (ragged: replications have different numbers of pipelines
and tasks, so ``rep_pipeline_ptr`` / ``rep_task_ptr`` give each one's slice).
Every index stored in the arrays is global to the batch, so a kernel never adds
offsets. Within a replication, pipelines are sorted by ``pipeline_id`` and the
tasks of a pipeline are contiguous and in task-index order (MODEL.md 2), so
comparing global task indices is comparing (pipeline_id, task index): the tie
order of MODEL.md 3 and 4.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from .engine.constants import STANDARD_TYPES


class WorkloadArrays(NamedTuple):
    """Structure of arrays of a batch (P pipelines, T tasks, E DAG edges, R replications).

    Attributes
    ----------
    rep_pipeline_ptr : int64[R + 1]
        Pipelines of replication k are ``rep_pipeline_ptr[k]:rep_pipeline_ptr[k+1]``.
    rep_task_ptr : int64[R + 1]
        Tasks of replication k are ``rep_task_ptr[k]:rep_task_ptr[k+1]``.
    pipeline_id : int64[P]
    submit : float64[P]
        Submit time, seconds.
    model : int64[P]
        model_id.
    priority : int64[P]
        Larger is more important.
    task_ptr : int64[P + 1]
        Tasks of pipeline p are ``task_ptr[p]:task_ptr[p+1]``.
    cand_accuracy, cand_robustness, cand_fairness, compress_loss : float64[P]
        Candidate outcomes (MODEL.md 7); NaN where the pipeline carries none.
    task_pipeline : int64[T]
        Global pipeline index of each task.
    task_type : int64[T]
        Code into ``Batch.type_names``.
    cpu, gpu, mem : float64[T]
        Request while running (cores, devices, GiB).
    duration : float64[T]
        Seconds on a node of speed 1.0, > 0.
    n_pred : int64[T]
        Number of predecessors.
    succ_ptr : int64[T + 1]
        Successors of task i are ``succ[succ_ptr[i]:succ_ptr[i+1]]``.
    succ : int64[E]
        Global task indices.
    """

    rep_pipeline_ptr: np.ndarray
    rep_task_ptr: np.ndarray
    pipeline_id: np.ndarray
    submit: np.ndarray
    model: np.ndarray
    priority: np.ndarray
    task_ptr: np.ndarray
    cand_accuracy: np.ndarray
    cand_robustness: np.ndarray
    cand_fairness: np.ndarray
    compress_loss: np.ndarray
    task_pipeline: np.ndarray
    task_type: np.ndarray
    cpu: np.ndarray
    gpu: np.ndarray
    mem: np.ndarray
    duration: np.ndarray
    n_pred: np.ndarray
    succ_ptr: np.ndarray
    succ: np.ndarray

    @property
    def n_replications(self) -> int:
        return len(self.rep_pipeline_ptr) - 1

    @property
    def n_tasks(self) -> int:
        return len(self.duration)

    @property
    def n_pipelines(self) -> int:
        return len(self.submit)


class RequestShapes(NamedTuple):
    """Tasks grouped by request: every task of a shape asks for the same (cpu, gpu, mem_gb).

    The engine keeps one ready heap per shape. Two shapes may hold the same
    request (a finer grouping is still exact); they only must not mix requests.

    Attributes
    ----------
    task_shape : int64[T]
    shape_req : float64[S, 3]
    """

    task_shape: np.ndarray
    shape_req: np.ndarray


class ModelTable(NamedTuple):
    """The lifecycle state of a replication's models at t = 0 and their rules (MODEL.md 7).

    M rows sorted by ``model_id`` (the order of simultaneous triggers, MODEL.md 3).

    Attributes
    ----------
    model_id : int64[M]
    accuracy, robustness, fairness : float64[M]
        The deployed state.
    deployed_at : float64[M]
        Seconds, usually <= 0.
    drift_per_day, threshold : float64[M]
    on_drift : bool[M]
    period, phase : float64[M]
        Seconds; period 0 for no periodic rule.
    """

    model_id: np.ndarray
    accuracy: np.ndarray
    robustness: np.ndarray
    fairness: np.ndarray
    deployed_at: np.ndarray
    drift_per_day: np.ndarray
    threshold: np.ndarray
    on_drift: np.ndarray
    period: np.ndarray
    phase: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.model_id)

    @property
    def has_rules(self) -> bool:
        return bool(np.any(self.on_drift) or np.any(self.period > 0))


class LifecycleArrays(NamedTuple):
    """What the event loop reads of the lifecycle (MODEL.md 7) for one replication.

    M models (rows sorted by model_id); M = 0 runs without a lifecycle.

    Attributes
    ----------
    model_id : int64[M]
    accuracy, robustness, fairness, deployed_at, drift, threshold : float64[M]
        State at t = 0 (drift per day).
    on_drift : bool[M]
    period, phase : float64[M]
    gates : float64[3]
        accuracy, fairness and robustness gates (``constants.GATE_*``).
    pipeline_row : int64[P]
        Model row of each pipeline of the batch, -1 for a model without state.
        The loop sets it for the pipelines it submits.
    """

    model_id: np.ndarray
    accuracy: np.ndarray
    robustness: np.ndarray
    fairness: np.ndarray
    deployed_at: np.ndarray
    drift: np.ndarray
    threshold: np.ndarray
    on_drift: np.ndarray
    period: np.ndarray
    phase: np.ndarray
    gates: np.ndarray
    pipeline_row: np.ndarray


class RuleArrays(NamedTuple):
    """The pipelines a replication's automation rules (MODEL.md 7) may submit: the reserve.

    Passed to the event loop apart from :class:`LifecycleArrays`, and only when
    some model has a rule: a loop called without it is compiled without the
    rules' code (a cold start compiles only what a run uses).

    Attributes
    ----------
    res : WorkloadArrays
        One replication: the pipelines of model row m are ``res_ptr[m]:res_ptr[m+1]``,
        the k-th submitted copies the k-th.
    res_shape : int64[T_res]
        Request shape of each reserve task (the batch's shape table).
    res_ptr : int64[M + 1]
    """

    res: WorkloadArrays
    res_shape: np.ndarray
    res_ptr: np.ndarray


@dataclass(frozen=True)
class Batch:
    """A batch of workloads with the names the kernels do not need.

    ``task_names[i]`` is the name of global task i; ``type_names[c]`` the name of
    type code c; ``replications[k]`` the replication number of the k-th slice.
    ``shapes`` may be given by a generator that knows its requests; otherwise
    the simulator groups the requests itself.

    Lifecycle (MODEL.md 7), both optional and one entry per replication:
    ``models[k]`` is replication k's :class:`ModelTable` (None: no lifecycle);
    ``triggered[k]`` is a function ``counts -> Batch`` that returns the pipelines
    the automation rules submit: for each model row m in order, its triggered
    pipelines k = 0 .. counts[m]-1 (the k-th always the same whatever
    ``counts``, so that runs compared with one seed see the same k-th
    retraining), as a one-replication Batch with the same ``type_names`` and a
    ``shapes`` table (pipeline ids and submit times are set when submitted).
    ``gates`` are the quality gates the workload comes with (``simulate``'s
    own arguments override them).
    """

    arrays: WorkloadArrays
    type_names: tuple
    task_names: np.ndarray
    replications: np.ndarray
    shapes: RequestShapes | None = None
    models: tuple | None = None
    triggered: tuple | None = None
    gates: tuple | None = None  # the workload's default (accuracy, fairness, robustness) gates
    # MODEL.md 11.5: float64[T], each task's checkpoint_every (0 for none); None: no checkpoints
    checkpoint_every: np.ndarray | None = None
    # MODEL.md 12.2: object[T], each task's GPU-model spec ('' for none); None: no task has one
    gpu_spec: np.ndarray | None = None
    # MODEL.md 12.2: int64[T], each task's replicas (parts of a gang); None: every task has one part
    replicas: np.ndarray | None = None

    @property
    def n_replications(self) -> int:
        return self.arrays.n_replications


def group_requests(batch: Batch) -> RequestShapes:
    """Distinct requests of a batch: ``task_shape : int64[T]`` and ``shape_req : float64[S, 3]``.

    The batch's own ``shapes`` if it has them (a generator knows its requests).
    """
    wa = batch.arrays
    if batch.shapes is not None:
        return batch.shapes
    if wa.n_tasks == 0:
        return RequestShapes(np.zeros(0, np.int64), np.zeros((1, 3)))
    # Group identical requests: code each dimension by its distinct values,
    # then the triples. Shape numbering cannot change a schedule: the pass
    # merges shapes by their head tasks' total order, not by shape number.
    cols = [col for col in (wa.cpu, wa.gpu, wa.mem) if not (col[0] == col[-1] and (col == col[0]).all())]
    if not cols:
        # one request (a queue's jobs, say): one shape, no sort needed
        return RequestShapes(np.zeros(wa.n_tasks, dtype=np.int64),
                             np.array([[wa.cpu[0], wa.gpu[0], wa.mem[0]]], dtype=np.float64))
    key = np.zeros(wa.n_tasks, dtype=np.int64)
    for col in cols:  # (a column of one value codes 0 for every task: left out)
        values, code = np.unique(col, return_inverse=True)
        key = key * len(values) + code.reshape(-1)
    _, task_shape = np.unique(key, return_inverse=True)
    task_shape = task_shape.reshape(-1).astype(np.int64)
    shape_req = np.empty((int(task_shape.max()) + 1, 3))
    shape_req[task_shape, 0] = wa.cpu
    shape_req[task_shape, 1] = wa.gpu
    shape_req[task_shape, 2] = wa.mem
    return RequestShapes(task_shape, shape_req)


def type_codes(names: Sequence[str]) -> tuple[np.ndarray, tuple]:
    """Map task type names to codes: standard types first, then others by first appearance."""
    names = np.asarray(names, dtype=object)
    uniq, first, inverse = np.unique(names.astype(str), return_index=True, return_inverse=True)
    extra = [str(u) for u in uniq[np.argsort(first)] if u not in STANDARD_TYPES]
    type_names = STANDARD_TYPES + tuple(extra)
    lookup = {n: c for c, n in enumerate(type_names)}
    code_of_uniq = np.array([lookup[str(u)] for u in uniq], dtype=np.int64)
    return code_of_uniq[inverse.reshape(-1)], type_names


def build_arrays(
    *,
    pipeline_id,
    submit,
    model,
    priority,
    task_count,
    task_type,
    cpu,
    gpu,
    mem,
    duration,
    edge_pred,
    edge_succ,
    cand_accuracy=None,
    cand_robustness=None,
    cand_fairness=None,
    compress_loss=None,
) -> WorkloadArrays:
    """Build the arrays of ONE replication from columns that are already in order.

    Pipelines must be sorted by ``pipeline_id``; ``task_count[p]`` tasks of
    pipeline p follow each other in task-index order. ``edge_pred[e] ->
    edge_succ[e]`` are DAG edges as task indices (0 .. T-1) of this replication.
    Validation is the caller's job (traces validate before building).
    """
    n_p = len(submit)
    task_count = np.asarray(task_count, dtype=np.int64)
    task_ptr = np.zeros(n_p + 1, dtype=np.int64)
    np.cumsum(task_count, out=task_ptr[1:])
    n_t = int(task_ptr[-1])
    task_pipeline = np.repeat(np.arange(n_p, dtype=np.int64), task_count)
    edge_pred = np.asarray(edge_pred, dtype=np.int64)
    edge_succ = np.asarray(edge_succ, dtype=np.int64)
    d_pred, d_succ = np.diff(edge_pred), np.diff(edge_succ)
    if ((d_pred > 0) | ((d_pred == 0) & (d_succ >= 0))).all():
        succ = edge_succ.copy()  # already in (pred, succ) order, as a generator's edges are: no sort
    else:
        succ = edge_succ[np.lexsort((edge_succ, edge_pred))]
    succ_ptr = np.zeros(n_t + 1, dtype=np.int64)
    np.cumsum(np.bincount(edge_pred, minlength=n_t), out=succ_ptr[1:])
    n_pred = np.bincount(edge_succ, minlength=n_t).astype(np.int64)

    def col(x, dtype, fill=np.nan, n=n_p):
        if x is None:
            return np.full(n, fill, dtype=dtype)
        return np.ascontiguousarray(x, dtype=dtype)

    return WorkloadArrays(
        rep_pipeline_ptr=np.array([0, n_p], dtype=np.int64),
        rep_task_ptr=np.array([0, n_t], dtype=np.int64),
        pipeline_id=col(pipeline_id, np.int64),
        submit=col(submit, np.float64),
        model=col(model, np.int64),
        priority=col(priority, np.int64),
        task_ptr=task_ptr,
        cand_accuracy=col(cand_accuracy, np.float64),
        cand_robustness=col(cand_robustness, np.float64),
        cand_fairness=col(cand_fairness, np.float64),
        compress_loss=col(compress_loss, np.float64),
        task_pipeline=task_pipeline,
        task_type=col(task_type, np.int64, n=n_t),
        cpu=col(cpu, np.float64, n=n_t),
        gpu=col(gpu, np.float64, n=n_t),
        mem=col(mem, np.float64, n=n_t),
        duration=col(duration, np.float64, n=n_t),
        n_pred=n_pred,
        succ_ptr=succ_ptr,
        succ=succ,
    )


# The fields with one entry per pipeline and per task (the others are pointers
# with one more entry, and the edges).
PIPELINE_FIELDS = ("pipeline_id", "submit", "model", "priority", "cand_accuracy", "cand_robustness",
                   "cand_fairness", "compress_loss")
TASK_FIELDS = ("task_pipeline", "task_type", "cpu", "gpu", "mem", "duration", "n_pred")

_POINTER_FIELDS = {"task_ptr": "task", "succ_ptr": "edge"}
_INDEX_FIELDS = {"task_pipeline": "pipeline", "succ": "task"}


def concat(parts: Sequence[WorkloadArrays]) -> WorkloadArrays:
    """Concatenate batches along the replication axis, shifting every stored index."""
    if len(parts) == 1:
        return parts[0]
    n_pipe = np.array([p.n_pipelines for p in parts], dtype=np.int64)
    n_task = np.array([p.n_tasks for p in parts], dtype=np.int64)
    n_edge = np.array([len(p.succ) for p in parts], dtype=np.int64)
    off = {
        "pipeline": np.concatenate([[0], np.cumsum(n_pipe)[:-1]]),
        "task": np.concatenate([[0], np.cumsum(n_task)[:-1]]),
        "edge": np.concatenate([[0], np.cumsum(n_edge)[:-1]]),
    }
    out = {}
    for name in WorkloadArrays._fields:
        if name in ("rep_pipeline_ptr", "rep_task_ptr"):
            kind = "pipeline" if name == "rep_pipeline_ptr" else "task"
            pieces = [p[WorkloadArrays._fields.index(name)][1:] + off[kind][k] for k, p in enumerate(parts)]
            out[name] = np.concatenate([[0]] + pieces).astype(np.int64)
        elif name in _POINTER_FIELDS:
            kind = _POINTER_FIELDS[name]
            pieces = [getattr(p, name)[1:] + off[kind][k] for k, p in enumerate(parts)]
            out[name] = np.concatenate([[0]] + pieces).astype(np.int64)
        elif name in _INDEX_FIELDS:
            kind = _INDEX_FIELDS[name]
            out[name] = np.concatenate([getattr(p, name) + off[kind][k] for k, p in enumerate(parts)])
        else:
            out[name] = np.concatenate([getattr(p, name) for p in parts])
    return WorkloadArrays(**out)


def concat_batches(parts: Sequence[Batch]) -> Batch:
    """Concatenate :class:`Batch` objects that share their type names."""
    type_names = parts[0].type_names
    for b in parts[1:]:
        if b.type_names != type_names:
            raise ValueError("cannot concatenate batches with different task type tables")
    shapes = None
    if all(b.shapes is not None for b in parts):
        # one table of distinct requests for the whole batch: a replication's
        # pass looks at every shape of the batch, so duplicates would cost time
        offsets = np.cumsum([0] + [len(b.shapes.shape_req) for b in parts[:-1]])
        stacked = np.concatenate([b.shapes.shape_req for b in parts])
        shape_req, merged = np.unique(stacked, axis=0, return_inverse=True)
        merged = merged.reshape(-1).astype(np.int64)
        shapes = RequestShapes(
            task_shape=np.concatenate([merged[b.shapes.task_shape + o] for b, o in zip(parts, offsets)]),
            shape_req=shape_req,
        )
    return Batch(
        arrays=concat([b.arrays for b in parts]),
        type_names=type_names,
        task_names=np.concatenate([b.task_names for b in parts]),
        replications=np.concatenate([b.replications for b in parts]),
        shapes=shapes,
        models=_per_replication(parts, "models"),
        triggered=_per_replication(parts, "triggered"),
        gates=parts[0].gates,
        checkpoint_every=_per_task(parts, "checkpoint_every", 0.0, np.float64),
        gpu_spec=_per_task(parts, "gpu_spec", "", object),
        replicas=_per_task(parts, "replicas", 1, np.int64),
    )


def _per_task(parts: Sequence[Batch], name: str, default, dtype):
    """Concatenate an optional per-task field; None when no part has one."""
    if all(getattr(b, name) is None for b in parts):
        return None
    return np.concatenate([np.full(b.arrays.n_tasks, default, dtype=dtype) if getattr(b, name) is None
                           else np.asarray(getattr(b, name), dtype=dtype) for b in parts])


def _per_replication(parts: Sequence[Batch], name: str):
    """Concatenate a per-replication tuple field; None when no part has one."""
    if all(getattr(b, name) is None for b in parts):
        return None
    out = []
    for b in parts:
        value = getattr(b, name)
        out.extend([None] * b.n_replications if value is None else value)
    return tuple(out)
