"""fastpipesim: a fast, trace-driven simulator of AI operations platforms.

>>> import fastpipesim as fps
>>> res = fps.simulate(fps.ModelOpsWorkload(), fps.default_cluster(), replications=8, seed=1)
>>> table = res.stats()
"""
from . import autoscalers
from .campaign import Campaign, CampaignResults
from .cluster import Cluster, default_cluster, read_cluster
from .errors import InputError
from .policies import CustomPolicy, custom_policy
from .results import Results
from .simulate import simulate
from .workload import Batch, WorkloadArrays

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Campaign",
    "CampaignResults",
    "Cluster",
    "CustomPolicy",
    "InputError",
    "Results",
    "WorkloadArrays",
    "autoscalers",
    "custom_policy",
    "default_cluster",
    "read_cluster",
    "simulate",
]

try:  # these arrive with their modules
    from .trace import Trace, read_trace  # noqa: F401

    __all__ += ["Trace", "read_trace"]
except ImportError:  # pragma: no cover
    pass
try:
    from .modelops import ModelOpsWorkload  # noqa: F401

    __all__ += ["ModelOpsWorkload"]
except ImportError:  # pragma: no cover
    pass
try:
    from .queueing import QueueWorkload  # noqa: F401

    __all__ += ["QueueWorkload"]
except ImportError:  # pragma: no cover
    pass
try:
    from .fragmentation import StudyResult, fragmentation_study  # noqa: F401

    __all__ += ["StudyResult", "fragmentation_study"]
except ImportError:  # pragma: no cover
    pass
