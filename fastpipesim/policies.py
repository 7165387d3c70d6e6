"""Scheduling policies and placement rules by name, and user-defined (custom) policies."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from .engine.constants import DEVICE_PLACEMENTS, POLICIES, POLICY_CUSTOM

# The fields a custom key function may ask for, by parameter name, in the order
# the compiled kernel passes them (engine.loop.CUSTOM_KEY_SIGNATURE).
CUSTOM_KEY_FIELDS = (
    "now",          # time of the scheduling pass, s
    "ready",        # when the task became ready, s
    "duration",     # reference duration of the task, s
    "cpu",
    "gpu",
    "mem_gb",
    "task_type",    # type code (fastpipesim.engine.constants, STANDARD_TYPES first)
    "pipeline_id",
    "priority",
    "model_id",
    "submit_time",
    "remaining",    # reference seconds of the pipeline's tasks not started yet (srpt's key)
    # lifecycle (MODEL.md 7) of the task's model; NaN, NaN, 0.0 if it has no lifecycle state
    "accuracy",     # deployed accuracy now, a(now)
    "threshold",    # its threshold
    "stale",        # 1.0 if the model is stale (crossed its threshold, not redeployed since), else 0.0
)


@dataclass(frozen=True)
class CustomPolicy:
    """A compiled key function; smaller keys run first (MODEL.md 5).

    Build it with :func:`custom_policy`. ``cfunc`` is the compiled function
    pointer the kernel calls; ``func`` the user's Python function, kept for the
    plain-Python path and for display.
    """

    func: Callable
    fields: tuple
    cfunc: object
    name: str

    def key(self, **fields) -> float:
        """Evaluate the key in Python (used by tests and the reference model)."""
        return float(self.func(*(fields[f] for f in self.fields)))


def custom_policy(func: Callable, name: str | None = None) -> CustomPolicy:
    """Compile ``func`` into a scheduling policy.

    ``func``'s parameter names choose which fields it receives, from
    ``CUSTOM_KEY_FIELDS``; it returns a float key, and the ready task with the
    smallest key is tried first (ties by ready time, pipeline_id, task index).
    A NaN key sorts last. The function is compiled with Numba once per process;
    the simulator's own kernel stays cached.

    Example
    -------
    >>> pol = custom_policy(lambda ready, priority: ready - 3600.0 * priority)
    """
    from numba import cfunc, njit

    from .engine.loop import CUSTOM_KEY_SIGNATURE

    params = list(inspect.signature(func).parameters)
    unknown = [p for p in params if p not in CUSTOM_KEY_FIELDS]
    if unknown:
        raise ValueError(
            f"custom policy parameters {unknown} are not known fields; "
            f"a key function may take any of {list(CUSTOM_KEY_FIELDS)}"
        )
    user = njit(func)
    src = (
        f"def _key({', '.join(CUSTOM_KEY_FIELDS)}):\n"
        f"    return float(_user({', '.join(params)}))\n"
    )
    namespace = {"_user": user}
    exec(src, namespace)  # a fixed-signature wrapper around the user's function
    compiled = cfunc(CUSTOM_KEY_SIGNATURE)(namespace["_key"])
    return CustomPolicy(func=func, fields=tuple(params), cfunc=compiled,
                        name=name or getattr(func, "__name__", "custom"))


def policy_code(policy) -> int:
    if isinstance(policy, CustomPolicy):
        return POLICY_CUSTOM
    if callable(policy):
        raise TypeError("wrap a key function with fastpipesim.custom_policy(func) first")
    if policy not in POLICIES or policy == "custom":
        names = [p for p in POLICIES if p != "custom"]
        raise ValueError(f"unknown policy {policy!r}; choose one of {names} or a custom_policy(...)")
    return POLICIES.index(policy)


def placement_code(placement: str) -> int:
    """The code of a placement (MODEL.md 6, and on devices 12.5)."""
    if placement not in DEVICE_PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of {list(DEVICE_PLACEMENTS)}")
    return DEVICE_PLACEMENTS.index(placement)
