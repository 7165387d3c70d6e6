#!/usr/bin/env python
"""The lean loop for jobs (engine/jobs.py) against the general loop, side by side in one process.

    python benchmarks/lean_loop.py [--repeats 7] [--scale]

Section c's single queue (M/M/1 at utilization 0.9, 1M jobs; ``bench.single_queue``)
through ``simulate(Batch)`` on one thread, with ``simulate.LEAN_LOOP`` on and off in
alternating repeats: medians of the kernel's and of simulate's events per second
(``bench.timed_engine``, which times whichever loop ran as the kernel). With
``--scale``, section j's M/M/8 runs (``bench.SCALE_RUN``) at 1M and 16M jobs, each in
a fresh process, the lean loop on (the default).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fastpipesim as fps  # noqa: E402
from benchmarks import bench  # noqa: E402

sim_mod = sys.modules["fastpipesim.simulate"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--scale", action="store_true", help="also section j's M/M/8 at 1M and 16M jobs")
    args = ap.parse_args(argv)
    _, batch, cl = bench.single_queue(1_000_000)
    small = bench.single_queue(1000)
    kw = dict(threads=1, progress=False)
    times = {lean: {"kernel": [], "simulate": []} for lean in (True, False)}
    events = 0
    for lean in (True, False):
        sim_mod.LEAN_LOOP = lean
        fps.simulate(small[1], small[2], **kw)   # compiled before timing
    for _ in range(args.repeats):
        for lean in (True, False):
            sim_mod.LEAN_LOOP = lean
            wall, kern, _, res = bench.timed_engine(
                lambda: bench._summarized(fps.simulate(batch, cl, **kw)), 0.0)
            times[lean]["kernel"].append(kern)
            times[lean]["simulate"].append(wall)
            events = res.n_events
    sim_mod.LEAN_LOOP = True
    med = {lean: {k: statistics.median(v) for k, v in t.items()} for lean, t in times.items()}
    for lean, name in ((True, "lean loop"), (False, "general loop")):
        m = med[lean]
        print(f"single queue, {name:12s}: kernel {events / m['kernel'] / 1e6:6.2f} M events/s, "
              f"simulate(Batch) {events / m['simulate'] / 1e6:6.2f} M events/s")
    print(f"lean / general: kernel {med[False]['kernel'] / med[True]['kernel']:.2f}x, "
          f"simulate(Batch) {med[False]['simulate'] / med[True]['simulate']:.2f}x "
          f"(medians of {args.repeats}, alternating)")
    if args.scale:
        rates = {}
        for n in (1_000_000, 16_000_000):
            runs = [bench.run_python(bench.SCALE_RUN.format(n=n))[1] for _ in range(args.repeats)]
            rates[n] = statistics.median(o["events"] / o["seconds"] for o in runs)
            per_job = statistics.median((o["peak"] - o["base"]) * 2 ** 20 / n for o in runs)
            print(f"M/M/8, {n:,} jobs, simulate(Batch): {rates[n] / 1e6:.2f} M events/s, "
                  f"peak {per_job:.0f} B/job")
        print(f"events/s at 16M / at 1M: {rates[16_000_000] / rates[1_000_000]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
