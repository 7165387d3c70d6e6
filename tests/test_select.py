"""The summary's order statistics (written out instead of np.partition) equal numpy's, compiled and in Python."""
import numpy as np
import pytest

from fastpipesim.engine.summary import percentile_nb, select_nb


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 16, 101, 1000])
def test_select_and_percentile_equal_numpy(n):
    rng = np.random.default_rng(n)
    for trial in range(20):
        kind = trial % 4
        if kind == 0:
            x = rng.standard_normal(n)
        elif kind == 1:
            x = rng.integers(0, 4, n).astype(float)  # many ties
        elif kind == 2:
            x = np.sort(rng.exponential(size=n))  # sorted
        else:
            x = np.sort(rng.exponential(size=n))[::-1].copy()  # reversed
        k = int(rng.integers(0, n))
        for f in (select_nb, select_nb.py_func):
            a = x.copy()
            v = f(a, k)
            assert v == np.partition(x, k)[k] and a[k] == v
            assert (a[:k] <= v).all() and (a[k + 1:] >= v).all() and np.array_equal(np.sort(a), np.sort(x))
        for q in (0.0, 50.0, 95.0, 99.0, 100.0):
            want = np.percentile(x, q)
            for f in (percentile_nb, percentile_nb.py_func):
                assert f(x, q) == want, (n, kind, q)
    y = rng.standard_normal(max(n, 2))
    y[-1] = np.nan
    assert np.isnan(percentile_nb(y, 95.0)) and np.isnan(np.percentile(y, 95.0))


def test_arrival_order_is_a_stable_argsort():
    from fastpipesim.engine.loop import arrival_order_nb

    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 3, 8, 33, 500):
        for ties in (False, True):
            x = rng.integers(0, 5, n + 4).astype(float) if ties else rng.standard_normal(n + 4)
            want = np.argsort(x[2:2 + n], kind="mergesort")
            for f in (arrival_order_nb, arrival_order_nb.py_func):
                got = f(x, 2, n)
                # an empty order means the identity (the times are sorted already)
                assert np.array_equal(got if len(got) else np.arange(n), want)
                assert len(f(np.sort(x), 2, n)) == 0


@pytest.mark.parametrize("n", [0, 1, 5, 31, 32, 33, 200, 5000])
def test_sort_equals_numpy(n):
    from fastpipesim.engine.summary import sort_nb

    rng = np.random.default_rng(n + 1)
    cases = [rng.standard_normal(n) * 1e3, rng.exponential(size=n) * 86400.0,
             rng.integers(-3, 4, n).astype(float), np.full(n, 2.5)]
    if n:
        special = rng.standard_normal(n)
        special[rng.integers(0, n, 3)] = np.inf
        special[rng.integers(0, n, 2)] = -np.inf
        special[rng.integers(0, n, 2)] = np.nan
        cases.append(special)
    for x in cases:
        for f in (sort_nb, sort_nb.py_func):
            got = f(x)
            assert np.array_equal(got, np.sort(x), equal_nan=True)


def test_fifo_sorted_run_twin():
    """fq_push / fq_remove keep a run sorted by (key, ready, index), compiled and in Python alike."""
    from fastpipesim.engine import heaps

    for trial in range(10):
        runs = []
        for use_py in (False, True):
            push = heaps.fq_push.py_func if use_py else heaps.fq_push
            remove = heaps.fq_remove.py_func if use_py else heaps.fq_remove
            r = np.random.default_rng(trial)
            n, front = 80, 5
            key = np.zeros(n)
            ready = np.zeros(n)
            store, pos = np.full(n + front, -7, np.int64), np.full(n, -1, np.int64)
            size, now, popped = 0, 0.0, []
            for task in r.permutation(n):
                now += float(r.integers(0, 2))  # often several tasks at one time, in any index order
                key[task] = ready[task] = now
                size = push(store, pos, front, size, int(task), key, ready)
                if r.random() < 0.2 and size > 1:
                    victim = int(store[front + int(r.integers(0, size))])
                    size = remove(store, pos, front, size, victim)
                if r.random() < 0.3:
                    popped.append(int(store[front]))
                    pos[store[front]] = -1
                    front += 1
                    size -= 1
            run = store[front:front + size]
            order = sorted(run, key=lambda t: (key[t], ready[t], t))
            assert list(run) == order and all(pos[t] == front + i for i, t in enumerate(run))
            runs.append((popped, run.copy()))
        assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
