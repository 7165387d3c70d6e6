"""Classic queues as workloads, and the queueing formulas they must obey.

:class:`QueueWorkload` makes single-task pipelines ("jobs") with Poisson
arrivals and i.i.d. service times. Each job asks for ``cpu`` cores (1 by
default) and :meth:`QueueWorkload.cluster` gives nodes of exactly that
capacity, so a node is one server: ``cluster(c)`` with exponential service is
the M/M/c queue, ``cluster(1)`` with service ``det`` is M/D/1, and so on. The
simulator then has no more freedom than a textbook queue (one job per server,
first come first served under ``fifo``), which makes it checkable against
:func:`mm1`, :func:`mmc` and :func:`mg1_pk`.

Replication r of seed s draws from
``Generator(PCG64(SeedSequence(s, spawn_key=(r,))))`` as MODEL.md 8 asks, in
this order: the arrivals first (the inter-arrival times, or with a
``horizon`` the count and then the times), then one standard variate per job
for the service time. So two workloads that differ only in their service
distribution, mean or cv see the same arrival times for the same seed, and
an exponential or a log-normal service with another mean sees the same
variates scaled (common random numbers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .engine import fpmath
from .engine.constants import STANDARD_TYPES
from .workload import Batch, build_arrays

SERVICE_DISTRIBUTIONS = ("exp", "det", "lognormal", "gamma")
JOB_TYPE = "job"  # no lifecycle meaning (MODEL.md 7): a job is just served
DEFAULT_N_JOBS = 10_000
# A service time must be > 0 (MODEL.md 2). Only a gamma with cv above ~3 draws
# values this small with any real probability (they underflow towards 0); they
# are raised to this fraction of the mean, which moves the mean by < 1e-9.
MIN_SERVICE_FRACTION = 1e-9


class QueueMetrics(NamedTuple):
    """Steady-state means of a queue (time in seconds, lengths in jobs).

    Attributes
    ----------
    wq : float
        Mean wait in the queue (start - arrival).
    w : float
        Mean response time, wait + service.
    lq : float
        Time-average number of jobs waiting (the ready queue).
    l : float
        Time-average number of jobs in the system.
    utilization : float
        Fraction of the servers busy, lambda / (c mu).
    p_wait : float
        Probability that an arriving job waits (Erlang C; rho for M/G/1).
    """

    wq: float
    w: float
    lq: float
    l: float  # noqa: E741 - the textbook name
    utilization: float
    p_wait: float


def _positive(name, v):
    if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def _stable(rho):
    if not rho < 1.0:
        raise ValueError(f"the queue is unstable (utilization {rho:.4g} >= 1): it has no steady state")


def mm1(lam: float, mu: float) -> QueueMetrics:
    """M/M/1 with arrival rate ``lam`` and service rate ``mu`` (per second)."""
    return mmc(lam, mu, 1)


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load ``a = lam / mu`` (< c) erlangs.

    Computed through the Erlang B recursion B(k) = a B(k-1) / (k + a B(k-1)),
    which stays finite for any c (the factorials of the textbook form overflow).
    """
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


def mmc(lam: float, mu: float, c: int) -> QueueMetrics:
    """M/M/c: ``c`` servers of rate ``mu``, Poisson arrivals of rate ``lam`` (Erlang C)."""
    lam, mu = _positive("lam", lam), _positive("mu", mu)
    if not (isinstance(c, (int, np.integer)) and c >= 1):
        raise ValueError(f"c must be an integer >= 1, got {c!r}")
    c = int(c)
    rho = lam / (c * mu)
    _stable(rho)
    p_wait = erlang_c(c, lam / mu)
    wq = p_wait / (c * mu - lam)
    w = wq + 1.0 / mu
    return QueueMetrics(wq=wq, w=w, lq=lam * wq, l=lam * w, utilization=rho, p_wait=p_wait)


def mg1_pk(lam: float, mean: float, scv: float) -> QueueMetrics:
    """M/G/1 by Pollaczek-Khinchine: service of mean ``mean`` s and squared cv ``scv``.

    Wq = lam E[S^2] / (2 (1 - rho)) with E[S^2] = mean^2 (1 + scv); M/D/1 is
    ``scv = 0``, M/M/1 is ``scv = 1``.
    """
    lam, mean = _positive("lam", lam), _positive("mean", mean)
    if not (math.isfinite(scv) and scv >= 0):
        raise ValueError(f"scv must be a finite number >= 0, got {scv!r}")
    rho = lam * mean
    _stable(rho)
    wq = rho * mean * (1.0 + scv) / (2.0 * (1.0 - rho))
    w = wq + mean
    return QueueMetrics(wq=wq, w=w, lq=lam * wq, l=lam * w, utilization=rho, p_wait=rho)


@dataclass(frozen=True)
class QueueWorkload:
    """Single-task pipelines arriving as a Poisson process: a classic queue.

    Parameters
    ----------
    rate : float
        Arrivals per second (lambda).
    service_mean : float
        Mean service time, seconds on a node of speed 1 (1 / mu).
    service : str
        ``exp``, ``det``, ``lognormal`` or ``gamma``.
    cv : float
        Coefficient of variation of ``lognormal`` and ``gamma`` service (ignored
        by ``exp``, cv 1, and ``det``, cv 0).
    n_jobs : int, optional
        Jobs per replication. The default when ``horizon`` is not given: 10,000.
    horizon : float, optional
        Instead of ``n_jobs``: every arrival in [0, horizon) (a Poisson number of
        jobs). The simulation itself still runs until every job is served
        unless ``simulate(..., horizon=...)`` says otherwise.
    cpu, gpu, mem_gb : float
        Request of every job; :meth:`cluster` makes nodes of exactly this size,
        so that each node serves one job at a time.
    """

    rate: float = 0.8
    service_mean: float = 1.0
    service: str = "exp"
    cv: float = 1.0
    n_jobs: int | None = None
    horizon: float | None = None
    cpu: float = 1.0
    gpu: float = 0.0
    mem_gb: float = 0.0

    def __post_init__(self):
        _positive("rate", self.rate)
        _positive("service_mean", self.service_mean)
        if self.service not in SERVICE_DISTRIBUTIONS:
            raise ValueError(f"service must be one of {SERVICE_DISTRIBUTIONS}, got {self.service!r}")
        if self.service in ("lognormal", "gamma"):
            _positive("cv", self.cv)
        if self.horizon is not None:
            if self.n_jobs is not None:
                raise ValueError("give n_jobs or horizon, not both")
            _positive("horizon", self.horizon)
        else:
            n = DEFAULT_N_JOBS if self.n_jobs is None else self.n_jobs
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
                raise ValueError(f"n_jobs must be an integer >= 1, got {self.n_jobs!r}")
            object.__setattr__(self, "n_jobs", int(n))
        for nm in ("cpu", "gpu", "mem_gb"):
            v = getattr(self, nm)
            if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{nm} must be a finite number >= 0, got {v!r}")
        if self.cpu + self.gpu + self.mem_gb <= 0:
            raise ValueError("a job must request something (cpu, gpu or mem_gb > 0), or every node serves it at once")

    # ------------------------------------------------------------------ theory
    @property
    def scv(self) -> float:
        """Squared coefficient of variation of the service time."""
        return {"exp": 1.0, "det": 0.0}.get(self.service, float(self.cv) ** 2)

    def utilization(self, servers: int) -> float:
        """Offered load per server, lambda / (c mu)."""
        return self.rate * self.service_mean / servers

    def theory(self, servers: int = 1) -> QueueMetrics:
        """The steady-state means of this queue on ``servers`` servers, where a formula is exact.

        Exponential service: M/M/c (:func:`mmc`). Any service on one server:
        M/G/1 (:func:`mg1_pk`). Otherwise there is no closed form and this raises.
        """
        if self.service == "exp":
            return mmc(self.rate, 1.0 / self.service_mean, int(servers))
        if servers == 1:
            return mg1_pk(self.rate, self.service_mean, self.scv)
        raise ValueError(f"no exact formula for M/G/c with {self.service} service and c = {servers} > 1")

    # ------------------------------------------------------------------ generation
    def cluster(self, servers: int):
        """A cluster of ``servers`` identical nodes, each the size of one job's request."""
        from .cluster import Cluster

        if not isinstance(servers, (int, np.integer)) or servers < 1:
            raise ValueError(f"servers must be an integer >= 1, got {servers!r}")
        return Cluster.from_pools(
            [{"pool": "server", "count": int(servers), "cpu": float(self.cpu), "gpu": float(self.gpu),
              "mem_gb": float(self.mem_gb), "speed": 1.0, "price_per_hour": 0.0}],
            source=f"QueueWorkload.cluster({int(servers)})",
        )

    def arrivals(self, rng: np.random.Generator) -> np.ndarray:
        """Arrival times (sorted, seconds) drawn from ``rng``."""
        if self.horizon is None:
            return np.cumsum(rng.standard_exponential(self.n_jobs) / self.rate)
        n = int(rng.poisson(self.rate * self.horizon))
        # given their number, Poisson arrivals are uniform on [0, horizon)
        return np.sort(rng.random(n) * self.horizon)

    def service_times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` service times (seconds at speed 1) drawn from ``rng``."""
        m = float(self.service_mean)
        if self.service == "exp":
            s = rng.standard_exponential(n) * m
        elif self.service == "det":
            return np.full(n, m)
        elif self.service == "lognormal":
            sigma2 = math.log1p(float(self.cv) ** 2)
            s = fpmath.exp(rng.standard_normal(n) * math.sqrt(sigma2) + (math.log(m) - 0.5 * sigma2))
        else:  # gamma: shape 1/cv^2, scale mean cv^2
            shape = 1.0 / float(self.cv) ** 2
            s = rng.standard_gamma(shape, n) * (m / shape)
        return np.maximum(s, MIN_SERVICE_FRACTION * m)

    def generate(self, seed: int, replication: int = 0) -> Batch:
        """Replication ``replication`` of ``seed`` as a :class:`Batch` (pipeline ids 0..n-1 by arrival)."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(replication),))))
        submit = self.arrivals(rng)
        n = len(submit)
        duration = self.service_times(rng, n)
        empty = np.zeros(0, np.int64)
        arrays = build_arrays(
            pipeline_id=np.arange(n, dtype=np.int64),
            submit=submit,
            model=np.zeros(n, np.int64),
            priority=np.zeros(n, np.int64),
            task_count=np.ones(n, np.int64),
            task_type=np.full(n, len(STANDARD_TYPES), np.int64),
            cpu=np.full(n, float(self.cpu)),
            gpu=np.full(n, float(self.gpu)),
            mem=np.full(n, float(self.mem_gb)),
            duration=duration,
            edge_pred=empty,
            edge_succ=empty,
        )
        return Batch(
            arrays=arrays,
            type_names=STANDARD_TYPES + (JOB_TYPE,),
            task_names=np.full(n, JOB_TYPE, dtype=object),
            replications=np.array([int(replication)], dtype=np.int64),
        )
