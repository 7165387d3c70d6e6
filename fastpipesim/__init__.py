"""fastpipesim: a fast, trace-driven simulator of AI operations platforms.

>>> import fastpipesim as fps
>>> res = fps.simulate(fps.ModelOpsWorkload(), fps.default_cluster(), replications=8, seed=1)
>>> table = res.stats()
"""
from .cluster import Cluster, default_cluster, read_cluster
from .errors import InputError
from .policies import CustomPolicy, custom_policy
from .results import Results
from .simulate import simulate
from .workload import Batch, WorkloadArrays

__version__ = "0.1.0"

# Imported on first use (PEP 562): the generators bring SciPy, which a run that
# replays a trace never needs, and ``import fastpipesim`` should cost little more
# than importing NumPy, pandas and Numba.
_LAZY = {
    "Campaign": "campaign",
    "CampaignResults": "campaign",
    "autoscalers": None,
    "StudyResult": "fragmentation",
    "fragmentation_study": "fragmentation",
    "Trace": "trace",
    "read_trace": "trace",
    "ModelOpsWorkload": "modelops",
    "QueueWorkload": "queueing",
}

__all__ = [
    "Batch",
    "Campaign",
    "CampaignResults",
    "Cluster",
    "CustomPolicy",
    "InputError",
    "ModelOpsWorkload",
    "QueueWorkload",
    "Results",
    "StudyResult",
    "Trace",
    "WorkloadArrays",
    "autoscalers",
    "custom_policy",
    "default_cluster",
    "fragmentation_study",
    "read_cluster",
    "read_trace",
    "simulate",
]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = _LAZY[name]
    if module is None:  # a submodule itself
        value = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
