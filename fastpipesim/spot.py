"""Interruption times of spot nodes (MODEL.md 11.5), drawn before a run.

Each slot j of a spot pool has its own stream,
``Generator(PCG64(SeedSequence(seed, spawn_key=(replication, SPOT_STREAM_TAG,
crc32(pool name), j))))``, never advanced by the schedule: two configurations run
with the same seed see the same interruption times on the same slot of a pool of
the same name (common random numbers), whatever their policy, autoscaler or
pool order. The times are absolute (T_0 = 0, T_i = T_(i-1) + exponential gap);
the run applies one only if the slot is up then, which thins them to a Poisson
process over the slot's up time.

The gaps use the C library's ``log`` on scalars (``math.log``), not NumPy's
array log, whose vector kernels may differ in the last bit (see
``engine/fpmath``), so the compiled engine and the SimPy oracle get the same
floats.
"""
from __future__ import annotations

import math
import zlib
from typing import NamedTuple

import numpy as np

from .engine.constants import SECONDS_PER_DAY

#: Second word of the spot streams' spawn key (replication, tag, crc32(pool), slot): a
#: single 32-bit word near 2**32, like modelops.TRIGGER_STREAM_TAG, and different from it.
SPOT_STREAM_TAG = 0xDEC05B07


def spot_rng(seed: int, replication: int, pool: str, slot: int) -> np.random.Generator:
    """The stream of one slot of a spot pool (MODEL.md 11.5)."""
    key = (int(replication), SPOT_STREAM_TAG, zlib.crc32(str(pool).encode("utf-8")), int(slot))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


def interruption_times(seed: int, replication: int, pool: str, slot: int, per_day: float,
                       horizon: float) -> np.ndarray:
    """The slot's interruption times up to ``horizon`` (float64, increasing).

    T_i = T_(i-1) + (-86400 * ln(1 - U_i)) / per_day, left to right, U_i the
    stream's successive ``random()`` doubles; none if ``per_day`` is 0."""
    if per_day < 0 or not math.isfinite(per_day):
        raise ValueError(f"interruptions_per_day must be finite and >= 0, got {per_day}")
    if per_day == 0.0:
        return np.empty(0)
    if not math.isfinite(horizon):
        raise ValueError("spot interruptions need a finite horizon")
    rng = spot_rng(seed, replication, pool, slot)
    times = []
    t = 0.0
    # one double per call: the same sequence as rng.random(n) in blocks, and no more
    # draws than needed
    while True:
        t = t + (-SECONDS_PER_DAY * math.log(1.0 - rng.random())) / per_day
        if t > horizon:
            return np.array(times, dtype=np.float64)
        times.append(t)


class SpotTimes(NamedTuple):
    """Interruption times of every slot of a cluster, for one replication (CSR).

    Attributes
    ----------
    ptr : int64[n_slots + 1]
        Slot s's times are ``times[ptr[s]:ptr[s + 1]]`` (none for a slot of a pool
        that is not spot).
    times : float64[n_times]
    """

    ptr: np.ndarray
    times: np.ndarray


def cluster_spot_times(cluster, seed: int, replication: int, horizon: float) -> SpotTimes:
    """The interruption times of every slot (global slot order, MODEL.md 11.2) of an
    elastic ``Cluster``, for the kernel."""
    pools = cluster.elastic_pools()
    blocks, ptr = [], [0]
    for row in pools.itertuples(index=False):
        n_slots = int(row.max_count) if cluster.is_elastic else int(row.count)
        for j in range(n_slots):
            t = (interruption_times(seed, replication, row.pool, j, float(row.interruptions_per_day), horizon)
                 if row.spot else np.empty(0))
            blocks.append(t)
            ptr.append(ptr[-1] + len(t))
    times = np.concatenate(blocks) if blocks else np.empty(0)
    return SpotTimes(np.array(ptr, dtype=np.int64), times.astype(np.float64))
