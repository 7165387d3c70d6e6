"""Integer codes that the compiled kernels read.

One place to read what an integer in a kernel array means. Codes start at 0;
-1 means "none".
"""

# Scheduling policies (MODEL.md 5). The key is ascending: smaller runs first.
POLICY_FIFO = 0
POLICY_PRIORITY = 1
POLICY_SJF = 2
POLICY_SRPT = 3
POLICY_CUSTOM = 4
POLICIES = ("fifo", "priority", "sjf", "srpt", "custom")

# Placement rules (MODEL.md 6).
PLACEMENT_FIRST_FIT = 0
PLACEMENT_BEST_FIT = 1
PLACEMENT_WORST_FIT = 2
PLACEMENTS = ("first_fit", "best_fit", "worst_fit")

# Task status in the task records (MODEL.md 9).
STATUS_NOT_STARTED = 0   # never became ready, or ready but never started
STATUS_COMPLETED = 1
STATUS_CANCELLED = 2
STATUS_UNFINISHED = 3    # running at the horizon
STATUSES = ("not_started", "completed", "cancelled", "unfinished")

# Task types with a lifecycle meaning (MODEL.md 7) have fixed codes; any other
# type name found in a trace gets the next free code, in order of first appearance.
TYPE_PREPROCESS = 0
TYPE_TRAIN = 1
TYPE_EVALUATE = 2
TYPE_BIAS_CHECK = 3
TYPE_ROBUSTNESS_CHECK = 4
TYPE_COMPRESS = 5
TYPE_DEPLOY = 6
STANDARD_TYPES = (
    "preprocess",
    "train",
    "evaluate",
    "bias_check",
    "robustness_check",
    "compress",
    "deploy",
)

# Resource dimensions, in the order used by every [.., 3] array.
DIM_CPU = 0
DIM_GPU = 1
DIM_MEM = 2
DIMENSIONS = ("cpu", "gpu", "mem_gb")

# Tolerance of the fit test (MODEL.md 4.3): free >= request - FIT_TOL.
FIT_TOL = 1e-9

NONE = -1
