"""Compiled binary heaps on parallel arrays (all functions are Numba ``njit``).

Two kinds are used by the event loop:

* the *event heap* of task completions, ordered by (time, task index): arrays
  ``ev_time : float64[cap]`` and ``ev_task : int64[cap]``;
* the *ready heaps*, one per request shape, ordered by the scheduling order of
  MODEL.md 4.2, (key, ready time, task index). All of a replication's ready
  heaps share one store, ``store : int64[n_tasks]``, in which shape ``s`` owns
  ``store[base[s] : base[s] + count_of_shape_s]``; ``pos[i]`` is task i's slot
  in its heap (for decrease-key), -1 when it is in none.

Under fifo a shape's ready tasks are a *sorted run* instead of a heap
(``fq_*``): a task becomes ready at the current time, so its key is at least
every key already queued and it goes last, but for ties at that time, which it
is sorted among. The head is popped by moving the run's front one slot on, so
pushes and pops cost O(1) and touch memory in order, where a heap of a long
ready queue misses the cache at every level. The run of shape ``s`` starts at
``front[s] >= base[s]`` and never outgrows its part of the store (a task is
queued once). ``pos[i]`` is then the absolute slot of task i.

Indices in ``store``/``pos`` are replication-local task indices.

Keep-alive lines. These helpers are inlined into the event loop at Numba's IR
level, where each array argument becomes a local copy with a reference count:
an increment where the call starts, a decrement after the argument's last use.
When that last use differs from path to path (an early return, a branch that
does not read every array), the decrements land in several blocks and Numba's
reference-count pruning (which removes an increment/decrement pair when one
dominates and the other post-dominates) keeps them all: two atomic operations
per array per call, which took about 60% of the loop's time on a DAG trace.
So every helper has one exit, and ends with a statement that names each of its
array arguments (``store, pos, key, ready  # keep-alive``): every decrement is
then in one block after the body, and the pairs are pruned. The line must build a
tuple: a bare name (``active``) is dropped by Numba's bytecode reader, so a single
array is named as ``(active,)``.
"""
from numba import njit


@njit(cache=True, error_model="numpy", inline="always")
def ev_less(ev_time, ev_task, a, b):
    ta = ev_time[a]
    tb = ev_time[b]
    out = ta < tb or (ta == tb and ev_task[a] < ev_task[b])
    ev_time, ev_task  # keep-alive (module docstring)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def ev_push(ev_time, ev_task, size, t, task):
    """Push (t, task); returns the new size."""
    i = size
    ev_time[i] = t
    ev_task[i] = task
    while i > 0:
        parent = (i - 1) >> 1
        if ev_less(ev_time, ev_task, i, parent):
            ev_time[i], ev_time[parent] = ev_time[parent], ev_time[i]
            ev_task[i], ev_task[parent] = ev_task[parent], ev_task[i]
            i = parent
        else:
            break
    ev_time, ev_task  # keep-alive (module docstring)
    return size + 1


@njit(cache=True, error_model="numpy", inline="always")
def ev_pop(ev_time, ev_task, size):
    """Remove the top; returns the new size (the top was ev_time[0], ev_task[0])."""
    size -= 1
    ev_time[0] = ev_time[size]
    ev_task[0] = ev_task[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and ev_less(ev_time, ev_task, right, left):
            child = right
        if ev_less(ev_time, ev_task, child, i):
            ev_time[i], ev_time[child] = ev_time[child], ev_time[i]
            ev_task[i], ev_task[child] = ev_task[child], ev_task[i]
            i = child
        else:
            break
    ev_time, ev_task  # keep-alive (module docstring)
    return size


@njit(cache=True, error_model="numpy", inline="always")
def task_before(key, ready, a, b):
    """True when local task a comes before task b in the order of MODEL.md 4.2."""
    ka = key[a]
    kb = key[b]
    if ka != kb:
        out = ka < kb
    else:
        ra = ready[a]
        rb = ready[b]
        out = ra < rb if ra != rb else a < b
    key, ready  # keep-alive (module docstring)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def rh_sift_up(store, pos, b, j, key, ready):
    """Move the entry in slot j of the heap starting at b towards the root."""
    item = store[b + j]
    while j > 0:
        parent = (j - 1) >> 1
        other = store[b + parent]
        if task_before(key, ready, item, other):
            store[b + j] = other
            pos[other] = j
            j = parent
        else:
            break
    store[b + j] = item
    pos[item] = j
    store, pos, key, ready  # keep-alive (module docstring)


@njit(cache=True, error_model="numpy", inline="always")
def rh_sift_down(store, pos, b, size, j, key, ready):
    item = store[b + j]
    while True:
        left = 2 * j + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and task_before(key, ready, store[b + right], store[b + left]):
            child = right
        other = store[b + child]
        if task_before(key, ready, other, item):
            store[b + j] = other
            pos[other] = j
            j = child
        else:
            break
    store[b + j] = item
    pos[item] = j
    store, pos, key, ready  # keep-alive (module docstring)


@njit(cache=True, error_model="numpy", inline="always")
def rh_push(store, pos, b, size, task, key, ready):
    """Insert local task into the heap at b of current size; returns the new size."""
    store[b + size] = task
    pos[task] = size
    rh_sift_up(store, pos, b, size, key, ready)
    store, pos, key, ready  # keep-alive (module docstring)
    return size + 1


@njit(cache=True, error_model="numpy", inline="always")
def rh_pop(store, pos, b, size, key, ready):
    """Remove the head; returns the new size."""
    head = store[b]
    pos[head] = -1
    size -= 1
    if size > 0:
        store[b] = store[b + size]
        pos[store[b]] = 0
        rh_sift_down(store, pos, b, size, 0, key, ready)
    store, pos, key, ready  # keep-alive (module docstring)
    return size


@njit(cache=True, error_model="numpy", inline="always")
def rh_heapify(store, pos, b, size, key, ready):
    for j in range(size):
        pos[store[b + j]] = j
    for j in range((size >> 1) - 1, -1, -1):
        rh_sift_down(store, pos, b, size, j, key, ready)
    store, pos, key, ready  # keep-alive (module docstring)


@njit(cache=True, error_model="numpy", inline="always")
def rh_remove(store, pos, b, size, task, key, ready):
    """Remove ``task`` from the heap at b wherever it is; returns the new size."""
    j = pos[task]
    pos[task] = -1
    size -= 1
    if j < size:
        last = store[b + size]
        store[b + j] = last
        pos[last] = j
        # the moved entry may belong above or below its new slot
        rh_sift_up(store, pos, b, j, key, ready)
        if pos[last] == j:
            rh_sift_down(store, pos, b, size, j, key, ready)
    store, pos, key, ready  # keep-alive (module docstring)
    return size


@njit(cache=True, error_model="numpy", inline="always")
def fq_push(store, pos, front, size, task, key, ready):
    """Insert ``task`` into the sorted run ``store[front:front+size]``; returns the new size.

    It goes after every entry that comes before it in the order of MODEL.md 4.2
    (under fifo: after all but the tasks of the current time with a larger index).
    """
    t = front + size
    while t > front and task_before(key, ready, task, store[t - 1]):
        other = store[t - 1]
        store[t] = other
        pos[other] = t
        t -= 1
    store[t] = task
    pos[task] = t
    store, pos, key, ready  # keep-alive (module docstring)
    return size + 1


@njit(cache=True, error_model="numpy", inline="always")
def fq_remove(store, pos, front, size, task):
    """Remove ``task`` from the sorted run at ``front`` (the entries after it move up); returns the new size."""
    t = pos[task]
    pos[task] = -1
    for x in range(t, front + size - 1):
        other = store[x + 1]
        store[x] = other
        pos[other] = x
    store, pos  # keep-alive (module docstring)
    return size - 1
