"""The Python side of the ML model lifecycle (MODEL.md 7): gates, the arrays the event loop reads,
and room for the pipelines that automation rules submit during a run.

The event loop copies a submitted pipeline into an empty *slot* at the end of
its replication's arrays: triggered pipelines are numbered after every
pipeline of the workload in submission order (MODEL.md 7), so appending keeps
"global task index order = (pipeline_id, task index) order", which every tie
rule of the loop relies on. What a copy contains comes from a *reserve*: the
k-th pipeline of each model, drawn (or, for a trace, copied from the template)
before the run, so that it cannot depend on the schedule (common random numbers).

A slot's task entries are left unset until a copy fills it (the loop sets them
up then), so a reserve larger than a run needs costs little beyond drawing it. A
generator's reserve (``_TriggerSource.for_run`` in ``modelops``) carries
stand-ins for the robustness and fairness candidates that the gates judge as
they would the values; the values of the copies submitted replace them in the
run's records.

There is no fixed buffer that could overflow silently: the slots are exactly
the reserve, and when a model needs more copies than were drawn, the loop
stops with ``RUN_NEED_RESERVE`` and the simulator (``simulate._run_with_rules``)
draws more (:func:`more_copies`) and runs the replication again (it is deterministic, so the rerun gives the same
schedule up to that point and goes on). Only ``max_triggered`` bounds it, with
an error that names it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .engine.constants import N_MODEL_ACCUMULATORS, SECONDS_PER_DAY
from .workload import (PIPELINE_FIELDS, TASK_FIELDS, Batch, LifecycleArrays, ModelTable, RequestShapes, RuleArrays,
                       WorkloadArrays, build_arrays)

# The per-model metrics (MODEL.md 7) as reported, in order; MODEL_COUNTS are the counts among them.
MODEL_METRICS = ("mean_accuracy", "frac_below", "deployments", "rejected_evaluate", "rejected_bias_check",
                 "rejected_robustness_check", "submitted_on_drift", "submitted_periodic", "crossing_to_deploy")
MODEL_COUNTS = MODEL_METRICS[2:8]


@dataclass(frozen=True)
class Gates:
    """Quality gates (MODEL.md 7): a pipeline is rejected when its candidate value is below the gate.

    0.0 disables a gate (a value in [0, 1] is never below it).
    """

    accuracy: float = 0.0    # checked when an ``evaluate`` task completes
    fairness: float = 0.0    # ``bias_check``
    robustness: float = 0.0  # ``robustness_check``

    def __post_init__(self):
        for name in ("accuracy", "fairness", "robustness"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating, np.integer)) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"{name}_gate must be a number in [0, 1], got {v!r}")

    def array(self) -> np.ndarray:
        return np.array([self.accuracy, self.fairness, self.robustness], dtype=np.float64)


def resolve_gates(workload, accuracy_gate, fairness_gate, robustness_gate) -> Gates:
    """Gates given to ``simulate``, else the workload's defaults (``ModelOpsWorkload``, or a
    Batch it generated), else off."""
    own = getattr(workload, "gates", None) if isinstance(workload, Batch) else None

    def pick(given, name):
        if given is not None:
            return float(given)
        if own is not None:
            return float(own[("accuracy_gate", "fairness_gate", "robustness_gate").index(name)])
        return float(getattr(workload, name, 0.0))

    return Gates(pick(accuracy_gate, "accuracy_gate"), pick(fairness_gate, "fairness_gate"),
                 pick(robustness_gate, "robustness_gate"))


_NO_MODELS = ModelTable(*([np.zeros(0, dtype=np.int64)] + [np.zeros(0)] * 6 + [np.zeros(0, dtype=np.bool_)]
                          + [np.zeros(0)] * 2))


def pipeline_rows(table: ModelTable | None, model: np.ndarray) -> np.ndarray:
    """Model row of each pipeline (``table`` is sorted by model_id), -1 where the model has no state."""
    if table is None or table.n_models == 0:
        return np.full(len(model), -1, dtype=np.int64)
    m = table.n_models
    ids = table.model_id
    if ids[0] == 0 and ids[-1] == m - 1 and np.array_equal(ids, np.arange(m)):
        # model ids 0 .. M-1 (a generator's): the row is the id
        return np.where((model >= 0) & (model < m), model, -1).astype(np.int64)
    k = np.minimum(np.searchsorted(table.model_id, model), table.n_models - 1)
    return np.where(table.model_id[k] == model, k, -1).astype(np.int64)


def lifecycle_arrays(table: ModelTable | None, gates: Gates, pipeline_row: np.ndarray) -> LifecycleArrays:
    """The event loop's view of one replication's lifecycle (no models: none)."""
    t = _NO_MODELS if table is None else table
    return LifecycleArrays(
        model_id=np.ascontiguousarray(t.model_id, dtype=np.int64),
        accuracy=np.ascontiguousarray(t.accuracy, dtype=np.float64),
        robustness=np.ascontiguousarray(t.robustness, dtype=np.float64),
        fairness=np.ascontiguousarray(t.fairness, dtype=np.float64),
        deployed_at=np.ascontiguousarray(t.deployed_at, dtype=np.float64),
        drift=np.ascontiguousarray(t.drift_per_day, dtype=np.float64),
        threshold=np.ascontiguousarray(t.threshold, dtype=np.float64),
        on_drift=np.ascontiguousarray(t.on_drift, dtype=np.bool_),
        period=np.ascontiguousarray(t.period, dtype=np.float64),
        phase=np.ascontiguousarray(t.phase, dtype=np.float64),
        gates=gates.array(),
        pipeline_row=pipeline_row,
    )


def rule_arrays(reserve: Batch, reserve_shape, reserve_ptr) -> RuleArrays:
    """The event loop's view of the reserve of triggered pipelines (see :class:`TriggerRoom`)."""
    return RuleArrays(res=reserve.arrays, res_shape=np.ascontiguousarray(reserve_shape, dtype=np.int64),
                      res_ptr=np.ascontiguousarray(reserve_ptr, dtype=np.int64))


def no_rules(n_models: int) -> RuleArrays:
    """An empty reserve (no model submits anything), for the loop's variant that takes one."""
    i, f = np.zeros(0, dtype=np.int64), np.zeros(0)
    res = WorkloadArrays(
        rep_pipeline_ptr=np.zeros(2, dtype=np.int64), rep_task_ptr=np.zeros(2, dtype=np.int64), pipeline_id=i,
        submit=f, model=i, priority=i, task_ptr=np.zeros(1, dtype=np.int64), cand_accuracy=f, cand_robustness=f,
        cand_fairness=f, compress_loss=f, task_pipeline=i, task_type=i, cpu=f, gpu=f, mem=f, duration=f, n_pred=i,
        succ_ptr=np.zeros(1, dtype=np.int64), succ=i)
    return RuleArrays(res=res, res_shape=i, res_ptr=np.zeros(n_models + 1, dtype=np.int64))


def no_lifecycle(n_pipelines: int) -> LifecycleArrays:
    # writable arrays, as a real lifecycle's are: Numba types a read-only array apart, and
    # would compile the loop once more for it
    empty = lifecycle_arrays(None, Gates(), np.full(n_pipelines, -1, dtype=np.int64))
    return LifecycleArrays(*(np.array(a) for a in empty))


def initial_counts(table: ModelTable, horizon: float, stale: np.ndarray | None = None) -> np.ndarray:
    """How many copies of each model to draw before the first try.

    A guess, not a limit (:func:`more_copies` draws more when a model runs
    out): a periodic model submits at most one per period; an on_drift model
    about once per threshold crossing, which the default workload's models
    reach a few days after a deploy (ln(a0 / threshold) of 0.02-0.05 at about
    1% drift a day), and once more after each deploy of the workload's own
    pipelines that leaves it stale at once (``stale``, int64[M], from
    :func:`stale_deploys`: a retraining follows when its pipelines are done).
    The weights were fitted on the default workload with on_drift (64
    replications of seed 1); on seeds 2-4 (64 replications each) about 1,070
    copies are drawn and 210 used, and 0.11-0.125 runs again per replication,
    against 0.23-0.25 with the earlier guess of 3 + days x drift / 1% (about
    1,240 drawn).
    """
    days = horizon / SECONDS_PER_DAY
    n = np.zeros(table.n_models, dtype=np.int64)
    per = table.period > 0
    n[per] += np.ceil(horizon / table.period[per]).astype(np.int64) + 1
    drift = table.on_drift.astype(bool)
    extra = 0 if stale is None else 2 * stale[drift]
    n[drift] += 1 + np.ceil(0.9 * days * table.drift_per_day[drift] / 0.01 + extra).astype(np.int64)
    return n


def stale_deploys(batch: Batch, table: ModelTable, gates: Gates, row: np.ndarray | None = None) -> np.ndarray:
    """Per model row (int64[M]): the workload's pipelines whose deploy would leave their model stale at once.

    A pipeline with a deploy task, candidates that pass the gates and a
    candidate accuracy (less its compress loss, if it has a compress task)
    at or below its model's threshold. For :func:`initial_counts`' guess only.
    ``row``: :func:`pipeline_rows` of the batch, if the caller has it.
    """
    from .engine.constants import TYPE_COMPRESS, TYPE_DEPLOY

    wa = batch.arrays
    out = np.zeros(table.n_models, dtype=np.int64)
    n_p = wa.n_pipelines
    if table.n_models == 0 or n_p == 0:
        return out
    if row is None:
        row = pipeline_rows(table, wa.model)
    has = np.zeros((2, n_p), dtype=bool)
    has[0, wa.task_pipeline[wa.task_type == TYPE_COMPRESS]] = True
    has[1, wa.task_pipeline[wa.task_type == TYPE_DEPLOY]] = True
    loss = np.where(has[0] & (wa.compress_loss == wa.compress_loss), wa.compress_loss, 0.0)
    acc = np.maximum(wa.cand_accuracy - loss, 0.0)
    g = gates.array()
    with np.errstate(invalid="ignore"):
        ok = ((wa.cand_accuracy >= g[0]) & (wa.cand_fairness >= g[1]) & (wa.cand_robustness >= g[2]) & has[1]
              & (row >= 0))
        stale = ok & (acc <= table.threshold[np.maximum(row, 0)])
    return np.bincount(row[stale], minlength=table.n_models).astype(np.int64)


def more_copies(counts: np.ndarray, used: np.ndarray, model: int, t_stop: float, horizon: float,
                limit: int) -> np.ndarray:
    """Counts for the next try after ``model`` ran out at ``t_stop`` having used ``used`` copies.

    Every model's use so far is projected to the horizon with a margin, so one
    more try is usually enough; the model that ran out at least doubles.
    """
    frac = max(t_stop / horizon, 0.05) if horizon > 0 else 1.0
    projected = np.ceil(used / frac * 1.25).astype(np.int64) + 1
    # only models with a rule (a first guess > 0) submit; the others have no template to copy
    out = np.where(counts > 0, np.maximum(counts, projected), 0)
    out[model] = max(out[model], 4 * counts[model] + 4)  # a model that ran out is often in a retraining storm
    return np.minimum(out, max(limit, 1))


class TriggerRoom(NamedTuple):
    """A one-replication batch with slots for the reserve's pipelines, and the reserve."""

    batch: Batch
    task_shape: np.ndarray
    shape_req: np.ndarray
    reserve: Batch
    reserve_shape: np.ndarray
    reserve_ptr: np.ndarray
    n_real: int  # pipelines of the workload (before the slots)


def _pad(x: np.ndarray, n: int, fill) -> np.ndarray:
    out = np.empty(len(x) + n, dtype=x.dtype)
    out[: len(x)] = x
    out[len(x):] = fill
    return out


def _room(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` followed by ``n`` entries left unset: the loop writes a slot's task entries when a copy
    fills it and reads none before (untouched, the pages of a generous reserve cost nothing)."""
    out = np.empty(len(x) + n, dtype=x.dtype)
    out[: len(x)] = x
    return out


def _sorted_unique_rows(a: np.ndarray) -> bool:
    """Whether the rows of a 2-D array are strictly increasing in lexicographic order."""
    if len(a) < 2:
        return True
    d = np.sign(np.diff(a, axis=0))
    first = d[np.arange(len(d)), np.argmax(d != 0, axis=1)]  # the sign at the first column that differs
    return bool((first > 0).all())


def make_room(batch: Batch, task_shape: np.ndarray, shape_req: np.ndarray, reserve: Batch,
              reserve_task_shape: np.ndarray, reserve_shape_req: np.ndarray, counts: np.ndarray) -> TriggerRoom:
    """Copy ``batch`` (one replication) with one empty slot per reserve pipeline, tasks and edges included.

    The two shape tables are merged into one (the loop keeps one ready heap per shape).
    """
    wa = batch.arrays
    res = reserve.arrays
    n_p, n_t, n_e = wa.n_pipelines, wa.n_tasks, len(wa.succ)
    xp, xt, xe = res.n_pipelines, res.n_tasks, len(res.succ)
    if _sorted_unique_rows(shape_req) and np.array_equal(shape_req, reserve_shape_req):
        # (a generator's copies share its shape table: np.unique below would give it back as it is)
        merged_req, main_shape, res_shape = shape_req, task_shape, reserve_task_shape
    else:
        stacked = np.concatenate([shape_req, reserve_shape_req])
        merged_req, merged = np.unique(stacked, axis=0, return_inverse=True)
        merged = merged.reshape(-1).astype(np.int64)
        main_shape = merged[task_shape]
        res_shape = merged[reserve_task_shape + len(shape_req)]
    arrays = WorkloadArrays(
        rep_pipeline_ptr=np.array([0, n_p + xp], dtype=np.int64),
        rep_task_ptr=np.array([0, n_t + xt], dtype=np.int64),
        pipeline_id=_pad(wa.pipeline_id, xp, -1),
        submit=_pad(wa.submit, xp, np.inf),
        model=_pad(wa.model, xp, -1),
        priority=_pad(wa.priority, xp, 0),
        task_ptr=_pad(wa.task_ptr, xp, n_t),
        cand_accuracy=_pad(wa.cand_accuracy, xp, np.nan),
        cand_robustness=_pad(wa.cand_robustness, xp, np.nan),
        cand_fairness=_pad(wa.cand_fairness, xp, np.nan),
        compress_loss=_pad(wa.compress_loss, xp, np.nan),
        task_pipeline=_room(wa.task_pipeline, xt),
        task_type=_room(wa.task_type, xt),
        cpu=_room(wa.cpu, xt),
        gpu=_room(wa.gpu, xt),
        mem=_room(wa.mem, xt),
        duration=_room(wa.duration, xt),
        n_pred=_room(wa.n_pred, xt),
        succ_ptr=_room(wa.succ_ptr, xt),
        succ=_room(wa.succ, xe),
    )
    room = Batch(arrays=arrays, type_names=batch.type_names, task_names=batch.task_names,
                 replications=batch.replications, shapes=None, models=batch.models, triggered=batch.triggered,
                 gates=batch.gates,
                 checkpoint_every=None if batch.checkpoint_every is None else _pad(batch.checkpoint_every, xt, 0.0),
                 gpu_spec=None if batch.gpu_spec is None else _pad(batch.gpu_spec, xt, ""),
                 replicas=None if batch.replicas is None else _pad(batch.replicas, xt, 1))
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return TriggerRoom(room, _room(main_shape, xt), np.ascontiguousarray(merged_req), reserve, res_shape, ptr,
                       n_p)


def trim(room: TriggerRoom, p_used: int, t_used: int, source: np.ndarray, copy: bool = True) -> Batch:
    """The run's workload: the real pipelines and the filled slots, with the copies' task names.

    ``copy=False`` leaves the arrays views of the room's (for a run that keeps no records: the
    summary reads them, and the room is dropped after).
    """
    wa = room.batch.arrays

    def head(x, n):
        return x[:n].copy() if copy else x[:n]

    e_used = int(wa.succ_ptr[t_used])
    fields = {name: head(getattr(wa, name), p_used) for name in PIPELINE_FIELDS}
    fields.update({name: head(getattr(wa, name), t_used) for name in TASK_FIELDS})
    fields.update(
        rep_pipeline_ptr=np.array([0, p_used], dtype=np.int64),
        rep_task_ptr=np.array([0, t_used], dtype=np.int64),
        task_ptr=head(wa.task_ptr, p_used + 1),
        succ_ptr=head(wa.succ_ptr, t_used + 1),
        succ=head(wa.succ, e_used),
    )
    res = room.reserve
    copies = source[room.n_real:p_used]
    names = [room.batch.task_names]
    src = np.zeros(0, dtype=np.int64)
    if len(copies):
        a, b = res.arrays.task_ptr[copies], res.arrays.task_ptr[copies + 1]
        src = _ranges(a, b)
        names.append(res.task_names[src])
    n_real_tasks = len(room.batch.task_names)

    def per_task(name, default, dtype):
        # the real tasks' values, then the copies' (from the reserve)
        mine, theirs = getattr(room.batch, name), getattr(res, name)
        if mine is None and theirs is None:
            return None
        a = np.full(n_real_tasks, default, dtype) if mine is None else np.asarray(mine[:n_real_tasks], dtype)
        b = np.full(len(src), default, dtype) if theirs is None else np.asarray(theirs, dtype)[src]
        return np.concatenate([a, b])

    return Batch(arrays=WorkloadArrays(**fields), type_names=room.batch.type_names,
                 task_names=np.concatenate(names), replications=room.batch.replications,
                 models=room.batch.models, triggered=room.batch.triggered, gates=room.batch.gates,
                 gpu_spec=per_task("gpu_spec", "", object), replicas=per_task("replicas", 1, np.int64))


def _ranges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Concatenation of arange(a[i], b[i])."""
    n = b - a
    if n.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(a - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return starts + np.arange(int(n.sum()), dtype=np.int64)


def select_pipelines(batch: Batch, index: np.ndarray, replication: int = 0) -> Batch:
    """A one-replication batch of the pipelines ``index`` of ``batch`` (repeats allowed), in that order.

    Used for a trace's triggered pipelines (copies of a template, MODEL.md 7).
    """
    wa = batch.arrays
    index = np.asarray(index, dtype=np.int64)
    a, b = wa.task_ptr[index], wa.task_ptr[index + 1]
    src = _ranges(a, b)
    count = b - a
    new_start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    shift = np.repeat(new_start - a, count)  # new task index = source index + shift
    deg = wa.succ_ptr[src + 1] - wa.succ_ptr[src]
    edge_pred = np.repeat(np.arange(len(src), dtype=np.int64), deg)
    edge_succ = wa.succ[_ranges(wa.succ_ptr[src], wa.succ_ptr[src + 1])] + np.repeat(shift, deg)
    arrays = build_arrays(
        pipeline_id=np.full(len(index), -1, dtype=np.int64), submit=np.zeros(len(index)),
        model=wa.model[index], priority=wa.priority[index], task_count=count, task_type=wa.task_type[src],
        cpu=wa.cpu[src], gpu=wa.gpu[src], mem=wa.mem[src], duration=wa.duration[src],
        edge_pred=edge_pred, edge_succ=edge_succ,
        cand_accuracy=wa.cand_accuracy[index], cand_robustness=wa.cand_robustness[index],
        cand_fairness=wa.cand_fairness[index], compress_loss=wa.compress_loss[index],
    )
    shapes = None
    if batch.shapes is not None:
        shapes = RequestShapes(batch.shapes.task_shape[src], batch.shapes.shape_req)
    return Batch(arrays=arrays, type_names=batch.type_names, task_names=batch.task_names[src],
                 replications=np.array([replication], dtype=np.int64), shapes=shapes,
                 checkpoint_every=None if batch.checkpoint_every is None else batch.checkpoint_every[src],
                 gpu_spec=None if batch.gpu_spec is None else batch.gpu_spec[src],
                 replicas=None if batch.replicas is None else batch.replicas[src])


def replication_batch(batch: Batch, k: int) -> Batch:
    """Replication slot k of a batch as a batch of its own."""
    wa = batch.arrays
    p0, p1 = int(wa.rep_pipeline_ptr[k]), int(wa.rep_pipeline_ptr[k + 1])
    sub = _slice_replication(batch, k)
    if sub is None:
        sub = select_pipelines(batch, np.arange(p0, p1), int(batch.replications[k]))
    arrays = sub.arrays._replace(pipeline_id=wa.pipeline_id[p0:p1].copy(), submit=wa.submit[p0:p1].copy())
    return Batch(arrays=arrays, type_names=batch.type_names, task_names=sub.task_names,
                 replications=sub.replications, shapes=sub.shapes,
                 models=None if batch.models is None else (batch.models[k],),
                 triggered=None if batch.triggered is None else (batch.triggered[k],), gates=batch.gates,
                 checkpoint_every=sub.checkpoint_every, gpu_spec=sub.gpu_spec, replicas=sub.replicas)


def _slice_replication(batch: Batch, k: int) -> Batch | None:
    """``select_pipelines`` of replication slot k's pipelines, by slicing: the same arrays (views of
    the batch's where they are equal), without gathering and sorting the edges again. None if the
    slot's edges are not sorted by successor within each task (as ``build_arrays`` sorts them),
    where slicing would keep another order."""
    wa = batch.arrays
    p0, p1 = int(wa.rep_pipeline_ptr[k]), int(wa.rep_pipeline_ptr[k + 1])
    t0, t1 = int(wa.rep_task_ptr[k]), int(wa.rep_task_ptr[k + 1])
    e0, e1 = int(wa.succ_ptr[t0]), int(wa.succ_ptr[t1])
    succ = wa.succ[e0:e1] - t0
    succ_ptr = wa.succ_ptr[t0:t1 + 1] - e0
    if len(succ) > 1:
        step_up = np.diff(succ) > 0
        inner = succ_ptr[1:-1]
        step_up[inner[(inner > 0) & (inner < len(succ))] - 1] = True  # where a task's edges begin
        if not step_up.all():
            return None
    task_ptr = wa.task_ptr[p0:p1 + 1] - t0
    count = np.diff(task_ptr)
    n_t = t1 - t0
    arrays = WorkloadArrays(
        rep_pipeline_ptr=np.array([0, p1 - p0], dtype=np.int64),
        rep_task_ptr=np.array([0, n_t], dtype=np.int64),
        pipeline_id=np.full(p1 - p0, -1, dtype=np.int64), submit=np.zeros(p1 - p0),
        model=wa.model[p0:p1], priority=wa.priority[p0:p1], task_ptr=task_ptr,
        cand_accuracy=wa.cand_accuracy[p0:p1], cand_robustness=wa.cand_robustness[p0:p1],
        cand_fairness=wa.cand_fairness[p0:p1], compress_loss=wa.compress_loss[p0:p1],
        task_pipeline=np.repeat(np.arange(p1 - p0, dtype=np.int64), count),
        task_type=wa.task_type[t0:t1], cpu=wa.cpu[t0:t1], gpu=wa.gpu[t0:t1],
        mem=wa.mem[t0:t1], duration=wa.duration[t0:t1],
        n_pred=np.bincount(succ, minlength=n_t).astype(np.int64), succ_ptr=succ_ptr, succ=succ)
    shapes = None
    if batch.shapes is not None:
        shapes = RequestShapes(batch.shapes.task_shape[t0:t1], batch.shapes.shape_req)

    def per_task(x):
        return None if x is None else x[t0:t1]

    return Batch(arrays=arrays, type_names=batch.type_names, task_names=batch.task_names[t0:t1],
                 replications=np.array([int(batch.replications[k])], dtype=np.int64), shapes=shapes,
                 checkpoint_every=per_task(batch.checkpoint_every), gpu_spec=per_task(batch.gpu_spec),
                 replicas=per_task(batch.replicas))


def model_metrics(acc: np.ndarray, span: float) -> np.ndarray:
    """Per-model metrics from the loop's accumulators (``float64[M, N_MODEL_ACCUMULATORS]``), and a total row.

    Returns float64[M + 1, 9] in the order of ``MODEL_METRICS``; the
    last row is the total: accuracy and time below averaged over the models,
    counts summed, crossing-to-deploy averaged over every model's delays.
    """
    assert acc.shape[1] == N_MODEL_ACCUMULATORS
    m = acc.shape[0]
    out = np.empty((m + 1, len(MODEL_METRICS)))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:m, 0] = acc[:, 0] / span if span > 0 else np.nan
        out[:m, 1] = acc[:, 1] / span if span > 0 else np.nan
        out[:m, 2:8] = acc[:, 2:8]
        out[:m, 8] = np.where(acc[:, 9] > 0, acc[:, 8] / np.maximum(acc[:, 9], 1), np.nan)
        # (column 10, the copies used over the whole run, is for the caller's bookkeeping)
        out[m, 0:2] = out[:m, 0:2].mean(axis=0) if m else np.nan
        out[m, 2:8] = acc[:, 2:8].sum(axis=0)
        n = acc[:, 9].sum()
        out[m, 8] = acc[:, 8].sum() / n if n > 0 else np.nan
    return out


def check_rules(tables, horizon) -> None:
    """A rule keeps submitting retrainings for as long as the run goes: it needs a horizon."""
    if horizon is not None and math.isfinite(horizon):
        return
    for t in tables:
        if t is not None and t.has_rules:
            raise ValueError(
                "the workload's models have automation rules (on_drift or a period), which submit "
                "retraining pipelines for as long as the run lasts: give a horizon"
            )
