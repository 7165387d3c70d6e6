"""Where a campaign's batches of replications run: local threads or Dask, behind one interface.

A *unit* is one scenario's batch of replications: one ``simulate`` call. The
campaign submits units to an executor and collects them as they complete; it
does not know where they ran. Results are the same wherever they run, because
a replication's results depend only on (scenario, seed, replication).

Dask is imported only when a Dask executor is made.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os

import pandas as pd


def run_unit(workload, cluster, kwargs: dict, seed: int, replications: tuple, threads: int,
             series_bin: float | None) -> dict:
    """One ``simulate`` call, reduced to the tables a campaign stores.

    Returns ``{"summary", "models", "series", "seconds", "pid"}``: the summary with its
    ``replication`` index as a column, the per-model metrics (empty without a
    lifecycle), the binned time series (None unless asked for).
    """
    from ..simulate import simulate
    from .functions import resolve

    kwargs = resolve(kwargs)  # custom policies and autoscalers named in the file, built in this process
    extra = {} if series_bin is None else {"series_bin": series_bin}
    res = simulate(workload, cluster, seed=seed, replications=list(replications), threads=threads,
                   progress=False, **kwargs, **extra)
    return {
        "summary": res.summary.reset_index(),
        "models": res.models,
        "series": res.series if series_bin is not None else None,
        "seconds": res.elapsed,
        "pid": os.getpid(),
    }


class LocalExecutor:
    """Units on a pool of threads in this process, each unit's ``simulate`` on one thread.

    The event loop and the generator's kernels release the GIL, so ``slots``
    units run at once on ``slots`` cores; one thread per unit keeps every core
    busy to the end of each unit (no thread waits for a batch's last replication).
    """

    kind = "local"

    def __init__(self, slots: int | None = None):
        from ..simulate import default_threads

        self.slots = default_threads() if slots is None else int(slots)
        if self.slots < 1:
            raise ValueError("threads must be >= 1")
        self.unit_threads = 1
        self._pool = concurrent.futures.ThreadPoolExecutor(self.slots)

    def scatter(self, obj):
        return obj

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def wait_any(self, futures):
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        return done

    @staticmethod
    def result(future):
        return future.result()

    def cancel(self, futures):
        for f in futures:
            f.cancel()

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"{self.slots} thread{'s' * (self.slots != 1)} in this process"


class DaskExecutor:
    """Units on a Dask cluster: a ``LocalCluster`` of ``workers`` processes, or the scheduler at ``address``.

    Each unit runs on one worker with that worker's threads (``simulate``'s
    thread pool over the compiled kernels); a worker compiles the kernels, or
    loads them from Numba's cache, once. Heavy inputs (a trace) are scattered
    to the workers once. A worker that dies loses its unit in flight, which the
    scheduler runs again elsewhere.
    """

    kind = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None, threads: int | None = None):
        try:
            import distributed
        except ImportError:
            raise ValueError("running on Dask needs the distributed package: pip install 'fastpipesim[distributed]'") \
                from None
        self._distributed = distributed
        self._cluster = None
        if address is not None:
            self.client = distributed.Client(address, set_as_default=False)
        else:
            n = 1 if workers is None else int(workers)
            if n < 1:
                raise ValueError("workers must be >= 1")
            self._cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1 if threads is None else int(threads), processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR,
            )
            self.client = distributed.Client(self._cluster, set_as_default=False)
        info = self.client.scheduler_info()
        per = [w.get("nthreads", 1) for w in info.get("workers", {}).values()] or [1]
        self.unit_threads = int(threads) if threads is not None else max(1, min(per))
        self.slots = max(1, sum(per))
        self._scattered = {}

    def scatter(self, obj):
        """``obj`` as a Dask future that the units take as an argument.

        Not ``client.scatter``: scattered data that is lost with its workers cannot be
        made again, and the units that need it are cancelled. Here the object is the
        argument of a task that returns it, so the scheduler holds it and makes it again
        on another worker if every worker that held it died; a unit waiting for it runs
        once it is there."""
        key = id(obj)
        if key not in self._scattered:
            self._scattered[key] = (obj, self.client.submit(_hold, obj, pure=False))
        return self._scattered[key][1]

    def submit(self, fn, *args):
        # pure=False: a unit is run for its side of the campaign, never merged with another
        return self.client.submit(fn, *args, pure=False, retries=1)

    def wait_any(self, futures):
        with self.client.as_current():  # distributed.wait finds its client as the current one
            return self._distributed.wait(list(futures), return_when="FIRST_COMPLETED").done

    @staticmethod
    def result(future):
        return future.result()

    def cancel(self, futures):
        if futures:
            self.client.cancel(list(futures))

    def close(self):
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def describe(self) -> str:
        info = self.client.scheduler_info()
        n = len(info.get("workers", {}))
        where = "a local Dask cluster" if self._cluster is not None else f"Dask at {self.client.scheduler.address}"
        return f"{n} worker{'s' * (n != 1)} of {where}, {self.unit_threads} thread(s) per unit"


def _hold(obj):
    return obj


def make_executor(*, threads: int | None = None, workers: int | None = None, scheduler: str | None = None):
    """The executor for the options of ``fastpipesim campaign`` (no workers nor scheduler: local threads)."""
    if workers is not None and scheduler is not None:
        raise ValueError("give --workers (a local Dask cluster) or --scheduler (an existing one), not both")
    if workers is None and scheduler is None:
        return LocalExecutor(threads)
    return DaskExecutor(workers=workers, address=scheduler, threads=threads)


def frame_or_empty(frame) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame()
