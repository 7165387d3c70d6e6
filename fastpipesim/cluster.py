"""Clusters: pools of identical nodes (MODEL.md 1 and 2), elastic or spot pools (MODEL.md 11)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import InputError, offending

CLUSTER_COLUMNS = ("pool", "count", "cpu", "gpu", "mem_gb", "speed", "price_per_hour")
_CLUSTER_DEFAULTS = {"speed": 1.0, "price_per_hour": 0.0}
# MODEL.md 11.1. min_count and max_count default to count (a static pool); a table
# that has none of these columns keeps exactly the columns above, so a static cluster
# is the same object (and prints, hashes and saves the same) as before they existed.
ELASTIC_COLUMNS = ("min_count", "max_count", "boot_time", "billing_minimum", "spot", "interruptions_per_day")
_ELASTIC_DEFAULTS = {"boot_time": 0.0, "billing_minimum": 0.0, "spot": False, "interruptions_per_day": 0.0}
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


class NodeArrays(NamedTuple):
    """Structure of arrays of a cluster's nodes (N nodes, Q pools).

    Attributes
    ----------
    capacity : float64[N, 3]
        cpu, gpu, mem_gb capacity of each node (DIMENSIONS order).
    node_pool : int64[N]
        Pool index of each node; nodes of the first pool come first.
    speed : float64[N]
        Speed of each node's pool.
    pool_capacity : float64[Q, 3]
        Total capacity of each pool.
    pool_node_capacity : float64[Q, 3]
        Capacity of one node of each pool.
    pool_count : int64[Q]
        Nodes in each pool.

    In an elastic cluster (MODEL.md 11.2) the nodes are the *slots*: ``max_count``
    of each pool, and ``pool_count`` and ``pool_capacity`` count slots.
    """

    capacity: np.ndarray
    node_pool: np.ndarray
    speed: np.ndarray
    pool_capacity: np.ndarray
    pool_node_capacity: np.ndarray
    pool_count: np.ndarray


@dataclass(frozen=True)
class Cluster:
    """A cluster: one row per pool, columns ``CLUSTER_COLUMNS``."""

    pools: pd.DataFrame
    source: str = "<cluster>"

    def __post_init__(self):
        object.__setattr__(self, "pools", validate_cluster(self.pools, self.source))

    @classmethod
    def from_pools(cls, rows, source: str = "<cluster>") -> "Cluster":
        """Build from a list of dicts (one per pool) or a DataFrame."""
        return cls(pd.DataFrame(rows), source)

    @property
    def n_nodes(self) -> int:
        """Nodes up at t = 0."""
        return int(self.pools["count"].sum())

    @cached_property
    def is_elastic(self) -> bool:
        """Does MODEL.md 11 act: a pool with min_count != count or max_count != count, or
        a spot pool? (If not, the run is exactly MODEL.md 1-9, whatever the autoscaler.)"""
        if "max_count" not in self.pools.columns:
            return False
        p = self.pools
        return bool(((p["min_count"] != p["count"]) | (p["max_count"] != p["count"]) | p["spot"]).any())

    @property
    def n_slots(self) -> int:
        """Node slots (MODEL.md 11.2): max_count per pool in an elastic cluster, else count."""
        return int(self.pools["max_count"].sum()) if self.is_elastic else self.n_nodes

    def elastic_pools(self) -> pd.DataFrame:
        """The pool table with every MODEL.md 11.1 column, defaults filled in."""
        p = self.pools.copy()
        for col in ("min_count", "max_count"):
            if col not in p.columns:
                p[col] = p["count"]
        for col, default in _ELASTIC_DEFAULTS.items():
            if col not in p.columns:
                p[col] = default
        return p

    @cached_property
    def pool_names(self) -> list[str]:
        return [str(p) for p in self.pools["pool"]]

    @cached_property
    def price_per_hour(self) -> float:
        """Price of the whole cluster per hour (every node)."""
        return float((self.pools["count"] * self.pools["price_per_hour"]).sum())

    def nodes(self) -> NodeArrays:
        """The node arrays the kernels read (built once per Cluster): one per slot of an
        elastic cluster (``max_count`` per pool, MODEL.md 11.2), else one per node."""
        return self._nodes

    @cached_property
    def _nodes(self) -> NodeArrays:
        counts = self.pools["max_count" if self.is_elastic else "count"].to_numpy(np.int64)
        cap = self.pools[["cpu", "gpu", "mem_gb"]].to_numpy(np.float64)
        return NodeArrays(
            capacity=np.ascontiguousarray(np.repeat(cap, counts, axis=0)),
            node_pool=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
            speed=np.repeat(self.pools["speed"].to_numpy(np.float64), counts),
            pool_capacity=cap * counts[:, None],
            pool_node_capacity=cap,
            pool_count=counts,
        )

    def scaled(self, **counts: int) -> "Cluster":
        """A copy with some pools' node counts changed: ``cluster.scaled(gpu=12)``."""
        pools = self.pools.copy()
        for name, n in counts.items():
            hit = pools["pool"] == name
            if not hit.any():
                raise KeyError(f"no pool named {name!r}; pools are {self.pool_names}")
            pools.loc[hit, "count"] = int(n)
        return Cluster(pools, self.source)

    def to_csv(self, path) -> None:
        self.pools.to_csv(path, index=False)

    def __repr__(self) -> str:
        return f"Cluster({self.n_nodes} nodes)\n{self.pools.to_string(index=False)}"


def validate_cluster(frame: pd.DataFrame, source: str = "<cluster>", row_base: int = 2) -> pd.DataFrame:
    """Check a cluster table against MODEL.md 2 and 11.1 and return it with defaults filled in.

    The MODEL.md 11.1 columns are checked and filled in (all of them) only if the table
    has at least one of them; otherwise the table keeps MODEL.md 2's columns."""
    missing = [c for c in ("pool", "count", "cpu", "gpu", "mem_gb") if c not in frame.columns]
    if missing:
        raise InputError(source, f"missing required column(s) {missing}; a cluster table has columns {list(CLUSTER_COLUMNS)}")
    # Checks on NumPy arrays; a DataFrame is built only to show offending rows.
    # (Cheap, because a campaign builds a cluster per scenario.)
    out = frame.reset_index(drop=True)
    cols = {c: out[c] for c in out.columns}
    for col, default in _CLUSTER_DEFAULTS.items():
        if col not in cols:
            cols[col] = pd.Series(np.full(len(out), default), index=out.index)
        elif cols[col].dtype != object:
            cols[col] = cols[col].fillna(default)
    cols["pool"] = cols["pool"].astype(str)
    shown = pd.DataFrame(cols)

    def check(bad, rule):
        if bad.any():
            raise offending(source, rule, shown, bad, row_base=row_base)

    values = {}
    for col in ("count", "cpu", "gpu", "mem_gb", "speed", "price_per_hour"):
        x = cols[col]
        if x.dtype.kind not in "fiu":
            x = pd.to_numeric(x, errors="coerce")
        a = x.to_numpy(np.float64, na_value=np.nan)
        check(~np.isfinite(a), f"column {col!r} must hold finite numbers")
        values[col] = a
    for col in ("cpu", "gpu", "mem_gb", "price_per_hour"):
        check(values[col] < 0, f"column {col!r} must be >= 0")
    count = values["count"]
    check((count < 0) | (count != np.round(count)), "column 'count' must be a whole number >= 0")
    check(values["speed"] <= 0, "column 'speed' must be > 0")
    check(cols["pool"].duplicated(keep=False).to_numpy(), "pool names must be unique")
    elastic = {}
    if any(c in cols for c in ELASTIC_COLUMNS):
        elastic = _validate_elastic(cols, count, shown, check)
        slots = elastic["max_count"]
    else:
        slots = count
    if slots.sum() < 1:
        raise InputError(source, "the cluster has no nodes (every count is 0)" if not elastic
                         else "the cluster has no node slots (every max_count is 0)")
    values["count"] = count.astype(np.int64)
    extra = [c for c in out.columns if c not in CLUSTER_COLUMNS and c not in ELASTIC_COLUMNS]
    return pd.DataFrame({"pool": cols["pool"].to_numpy(), **{c: values[c] for c in CLUSTER_COLUMNS[1:]},
                         **elastic, **{c: cols[c].to_numpy() for c in extra}})


def _validate_elastic(cols: dict, count: np.ndarray, shown: pd.DataFrame, check) -> dict:
    """MODEL.md 11.1: the elastic and spot columns, defaults filled in, as arrays."""
    def numbers(col, default):
        if col not in cols:
            return np.asarray(default, dtype=np.float64).copy()
        x = cols[col]
        raw = x.to_numpy(object)
        if x.dtype.kind not in "fiu":
            x = pd.to_numeric(x, errors="coerce")
        a = x.to_numpy(np.float64, na_value=np.nan)
        blank = pd.isna(raw)
        check(~blank & ~np.isfinite(a), f"column {col!r} must hold finite numbers")
        shown[col] = cols[col]
        return np.where(blank, default, a)

    out = {}
    for col in ("min_count", "max_count"):
        a = numbers(col, count)
        check((a < 0) | (a != np.round(a)), f"column {col!r} must be a whole number >= 0")
        out[col] = a
    check(out["min_count"] > count, "min_count must be <= count (count nodes are up at t = 0)")
    check(count > out["max_count"], "count must be <= max_count")
    for col in ("boot_time", "billing_minimum", "interruptions_per_day"):
        a = numbers(col, np.full(len(count), _ELASTIC_DEFAULTS[col]))
        check(a < 0, f"column {col!r} must be >= 0")
        out[col] = a
    spot = np.zeros(len(count), dtype=bool)
    if "spot" in cols:
        raw = cols["spot"]
        shown["spot"] = raw
        if raw.dtype == bool:
            spot = raw.to_numpy(bool)
        else:
            text = raw.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v))
                           else str(v).strip().lower().replace(".0", "")).to_numpy(object)
            known = np.array([t in _TRUE or t in _FALSE for t in text])
            check(~known, "column 'spot' must be true or false")
            spot = np.array([t in _TRUE for t in text])
    check(~spot & (out["interruptions_per_day"] > 0), "interruptions_per_day > 0 needs spot = true")
    return {"min_count": out["min_count"].astype(np.int64), "max_count": out["max_count"].astype(np.int64),
            "boot_time": out["boot_time"], "billing_minimum": out["billing_minimum"], "spot": spot,
            "interruptions_per_day": out["interruptions_per_day"]}


def cluster_of_machines(machines: pd.DataFrame, model: str, source: str = "<machines>") -> Cluster:
    """A cluster from a table of machines (one row each): identical machines form a pool.

    ``machines`` has columns ``model`` (a GPU model or machine type, any text),
    ``cpu``, ``mem_gb`` and ``gpu``. Pools are named ``MODEL-{cpu}c-{mem}g-{gpu}gpu``
    and ordered by GPUs, then cores, then memory; the model is kept as a column.
    """
    pools = machines.groupby([model, "cpu", "mem_gb", "gpu"], sort=False).size().rename("count").reset_index()
    pools["pool"] = (pools[model] + "-" + pools["cpu"].map("{:g}".format) + "c-"
                     + pools["mem_gb"].map("{:g}".format) + "g-" + pools["gpu"].map("{:g}".format) + "gpu")
    pools = pools.sort_values(["gpu", "cpu", "mem_gb", "pool"], kind="stable").reset_index(drop=True)
    pools["speed"] = 1.0
    pools["price_per_hour"] = 0.0
    return Cluster.from_pools(pools[list(CLUSTER_COLUMNS) + [model]], source=source)


def read_cluster(path) -> Cluster:
    """Read a cluster table (CSV or Parquet): one row per pool."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "file not found")
    try:
        if path.suffix == ".parquet":
            from ._io import read_parquet

            frame = read_parquet(path)
        else:
            frame = pd.read_csv(path, skipinitialspace=True)
    except InputError:
        raise
    except Exception as exc:  # a malformed file must end in a clear error, not a traceback
        raise InputError(str(path), f"cannot be read as a table: {exc}") from None
    return Cluster(frame, str(path))


# The default cluster of the ModelOps experiment (MODEL.md 8). Sized with the
# default workload (modelops.ModelOpsWorkload) so that it is busy but stable:
# ModelOpsWorkload().offered_load() gives an expected GPU utilization of ~0.66
# (deep-learning training is the bottleneck) and ~0.29 of the CPU pool's cores.
# - cpu: general-purpose nodes like AWS m5.8xlarge (32 vCPU, 128 GiB, $1.536/h).
#   Three of them: the CPU load peaks at ~1.8x its mean on weekday afternoons and
#   varies ~30% between replications, and must never be the bottleneck.
# - gpu: nodes like AWS g5.12xlarge (48 vCPU, 4 GPUs, 192 GiB, $5.672/h). A GPU
#   training task asks for 8 cpu, 1 gpu, 40 GiB, so four fill the GPUs and leave
#   16 cores for CPU tasks. Three nodes = 12 GPUs for ~7.9 GPUs of mean demand;
#   two would be overloaded, four would idle at ~50%.
DEFAULT_POOLS = (
    {"pool": "cpu", "count": 3, "cpu": 32.0, "gpu": 0.0, "mem_gb": 128.0, "speed": 1.0, "price_per_hour": 1.536},
    {"pool": "gpu", "count": 3, "cpu": 48.0, "gpu": 4.0, "mem_gb": 192.0, "speed": 1.0, "price_per_hour": 5.672},
)


def default_cluster() -> Cluster:
    """The default cluster: a CPU pool and a GPU pool (MODEL.md 8)."""
    return Cluster.from_pools(list(DEFAULT_POOLS), source="default_cluster")
