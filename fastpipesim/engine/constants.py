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
POLICY_STALENESS = 5  # MODEL.md 7: the model furthest below its threshold first
POLICIES = ("fifo", "priority", "sjf", "srpt", "custom", "staleness")

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

# How a pipeline ended (pipeline records). A rejected pipeline keeps its
# rejection even if a task it had started is still running at the horizon.
OUTCOME_COMPLETED = 0
OUTCOME_UNFINISHED = 1       # submitted, not finished by the end of the run
OUTCOME_NOT_SUBMITTED = 2    # its submit time is after the horizon
OUTCOME_REJECTED_EVALUATE = 3
OUTCOME_REJECTED_BIAS_CHECK = 4
OUTCOME_REJECTED_ROBUSTNESS_CHECK = 5
OUTCOMES = ("completed", "unfinished", "not_submitted", "rejected_by_evaluate",
            "rejected_by_bias_check", "rejected_by_robustness_check")

# Who submitted a pipeline (MODEL.md 7).
TRIGGER_EXOGENOUS = 0
TRIGGER_ON_DRIFT = 1
TRIGGER_PERIODIC = 2
TRIGGERS = ("exogenous", "on_drift", "periodic")

# Gate thresholds, in the order of the kernel's ``gates`` array.
GATE_ACCURACY = 0
GATE_FAIRNESS = 1
GATE_ROBUSTNESS = 2

# Per-model accumulators the event loop fills (MODEL.md 7 metrics, over [warmup, end]).
MODEL_ACCUMULATORS = (
    "accuracy_integral",          # integral of the deployed accuracy a(t), accuracy x s
    "time_below",                 # s at or after the threshold crossing
    "deployments",
    "rejected_evaluate",
    "rejected_bias_check",
    "rejected_robustness_check",
    "submitted_on_drift",
    "submitted_periodic",
    "delay_sum",                  # sum of (deploy - threshold crossing), s
    "delay_count",
    "copies",                     # pipelines the rules submitted over the whole run (the reserve used)
)
N_MODEL_ACCUMULATORS = len(MODEL_ACCUMULATORS)

# What a run of the event loop reports in its status slot.
RUN_OK = 0
RUN_NEED_RESERVE = 1   # a model ran out of pre-drawn triggered pipelines: draw more, run again
RUN_NEED_NODE_ROWS = 2  # an elastic run's node timeline ran out of rows: give it more, run again
RUN_NEED_TIMELINE_ROWS = 3  # a device run's GPU timeline ran out of rows (a bound that was too low)

SECONDS_PER_DAY = 86400.0

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

# ---- Elastic clusters (MODEL.md 11) ----------------------------------------------------

# Autoscalers (MODEL.md 11.4).
AUTOSCALER_STATIC = 0
AUTOSCALER_REACTIVE = 1
AUTOSCALER_TARGET_UTILIZATION = 2
AUTOSCALER_SCHEDULE = 3
AUTOSCALER_CUSTOM = 4
AUTOSCALERS = ("static", "reactive", "target_utilization", "schedule", "custom")

# Expanders of the reactive autoscaler: which pool's option a scale-up takes.
EXPANDER_LEAST_WASTE = 0
EXPANDER_CHEAPEST = 1
EXPANDER_FIRST = 2
EXPANDERS = ("least_waste", "cheapest", "first")

# target_utilization's dimension: DIM_CPU, DIM_GPU, DIM_MEM, or this one, "auto"
# (gpu if the pool's node has any, else cpu if it has any, else mem_gb).
RESOURCE_AUTO = -1

# The float64 parameter vector an autoscaler hands the kernel (autoscalers.Autoscaler.
# kernel_parameters); codes are stored as floats, NaN where a kind has no such parameter.
AUTOSCALER_PARAMETERS = ("interval", "idle_timeout", "expander", "target", "tolerance",
                         "stabilization", "resource")
N_AUTOSCALER_PARAMETERS = len(AUTOSCALER_PARAMETERS)

# State of a node slot (MODEL.md 11.2).
NODE_RELEASED = 0    # also a slot never used
NODE_BOOTING = 1
NODE_UP = 2
NODE_STATES = ("released", "booting", "up")

# Why a node instance was requested, and why it ended (the node timeline, MODEL.md 11.6).
NODE_INITIAL = 0
NODE_SCALE_UP = 1
NODE_REPLACEMENT = 2
NODE_REASONS = ("initial", "scale_up", "replacement")
RELEASE_SCALE_DOWN = 0
RELEASE_INTERRUPTED = 1
RELEASE_REASONS = ("scale_down", "interrupted")

# Per-replication counters of an elastic run (MODEL.md 11.6), over [warmup, end].
ELASTIC_ACCUMULATORS = (
    "scale_ups",
    "scale_downs",
    "replacements",
    "interruptions",
    "tasks_restarted",
    "work_lost",        # reference seconds
)
N_ELASTIC_ACCUMULATORS = len(ELASTIC_ACCUMULATORS)

# Columns of the node timeline the event loop writes (one row per node instance).
NODE_TIME_COLUMNS = ("requested", "up", "released")      # float64, NaN where it did not happen
NODE_CODE_COLUMNS = ("node", "reason", "release_reason")  # int64, -1 where it did not happen

HOURS_PER_WEEK = 168

# ---- GPUs as devices (MODEL.md 12) ----------------------------------------------
# Placement rules beyond MODEL.md 6: the policies of the openb fragmentation study
# (Weng et al., ATC 2023). Codes continue PLACEMENTS; PLACEMENTS itself stays the
# event loop's list until the loop places on devices.
PLACEMENT_RANDOM = 3
PLACEMENT_DOT_PRODUCT = 4
PLACEMENT_GPU_CLUSTERING = 5
PLACEMENT_GPU_PACKING = 6
PLACEMENT_GPU_BEST_FIT = 7
PLACEMENT_FGD = 8
DEVICE_PLACEMENTS = PLACEMENTS + ("random", "dot_product", "gpu_clustering", "gpu_packing", "gpu_best_fit", "fgd")
STUDY_PLACEMENTS = DEVICE_PLACEMENTS[3:]  # the six policies of the openb study, in its order

# How ties between equally scored nodes are broken (MODEL.md 12.5).
TIES_INDEX = 0    # the lowest node index
TIES_RANDOM = 1   # uniformly at random, from the replication's placement stream
TIES = ("index", "random")

# Tag of the replication's placement stream (MODEL.md 12.6):
# Generator(PCG64(SeedSequence(seed, spawn_key=(replication, PLACEMENT_STREAM_TAG)))).
PLACEMENT_STREAM_TAG = 0x9F1ACE
