"""The synthetic ModelOps workload (MODEL.md 8).

:class:`ModelOpsWorkload` holds every parameter of the generator, with its
default and the reason for it, in one place. A replication is generated from
its own stream, ``Generator(PCG64(SeedSequence(seed, spawn_key=(replication,))))``,
so it gives the same numbers whether it is generated alone, in a batch, or on
another worker. Time 0 is a Monday at 00:00.

The models (framework, base dataset size, priority, drift, threshold and the
lifecycle state at t = 0) are exogenous too, so they are drawn from the
replication's stream like everything else (MODEL.md 8): replications differ in
which models are hot, which makes the GPU load vary between replications (see
``zipf_s``). Model ids are popularity ranks: model 0 is the most popular.

Everything is drawn in one fixed order, in whole arrays (never one pipeline at
a time), and every draw is made for every model / pipeline / template step even
where its value ends up unused (an excluded step still draws its duration
factor), so that changing one parameter moves as few other numbers as possible:

models (``n_models`` each)
    1. framework (uniform -> inverse CDF of ``framework_mix``)
    2. base dataset size (standard normal -> log-normal)
    3. priority class (uniform -> inverse CDF of ``priority_mix``)
    4. drift per day (standard normal -> log-normal)
    5. threshold ratio (uniform on ``threshold_ratio``)
    6. initial accuracy noise (standard normal)
    7. initial robustness (beta), 8. initial fairness (beta)
    9. age of the initial deployment (uniform), 10. phase of the periodic rule (uniform)
arrivals
    11. count ~ Poisson(integrated rate), 12. that many uniforms in cumulative-rate
    space, sorted and mapped back through the piecewise-constant rate
pipelines (``n`` each, in submit order)
    13. model (uniform -> inverse CDF of the Zipf weights)
    14. dataset size factor (standard normal -> mean-one log-normal)
    15. step inclusion (uniform, ``n`` x steps)
    16. duration factor (standard normal, ``n`` x steps -> mean-one log-normal)
    17. candidate accuracy noise (normal), 18. candidate robustness (beta),
    19. candidate fairness (beta), 20. compress_loss (uniform)

``model_rules`` only changes which rules a model has (on_drift, period, phase),
never a draw: draw 10 is kept as a uniform u_m and the phase is u_m x the
model's period (or the override's phase_days).

Triggered pipelines (MODEL.md 7) come from other streams, one per model and
replication, never advanced by the schedule:
``Generator(PCG64(SeedSequence(seed, spawn_key=(replication, TRIGGER_STREAM_TAG, model))))``.
The k-th triggered pipeline of a model is row k of ``rng.random((count, 2 S + 5))``
(S template steps). NumPy fills the block row-major with one 64-bit output per
double, so row k is the same whatever ``count`` is. Every value is one uniform
mapped by an inverse CDF (normals by ``ndtri``, Betas by ``betaincinv``, unlike
``rng.beta`` which uses a variable number of outputs). Columns:

    0           dataset size factor (-> normal -> mean-one log-normal)
    1 .. S      step inclusion (u < p)
    S+1 .. 2S   duration factor of each step (-> normal -> mean-one log-normal)
    2S+1        candidate accuracy noise (-> normal)
    2S+2        candidate robustness (-> Beta), 2S+3 candidate fairness (-> Beta)
    2S+4        compress_loss (uniform on the range)

The model's framework, base size and priority are the replication's (draws 1-3).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy.special import betainc, betaincinv, ndtri

from .engine import fpmath
from .engine.constants import STANDARD_TYPES
from .engine.generate import assemble_tasks_nb
from .workload import Batch, ModelTable, RequestShapes, build_arrays, concat_batches

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
FRAMEWORKS = ("sklearn", "xgboost", "tensorflow", "pytorch")


#: Second word of the spawn key of the triggered pipelines' streams, (replication, tag, model).
#: SeedSequence concatenates the 32-bit words of the spawn key, so (r, tag, m) names
#: the m-th child of the tag-th child of replication r's stream: a single word near
#: 2**32 (not a larger int, which would split into two small words such as (7, 1))
#: could only collide if someone spawned ~3.7 billion children of a replication's
#: stream. It differs from the replication streams (r,) in length.
TRIGGER_STREAM_TAG = 0xDEC0DE07


def replication_rng(seed: int, replication: int) -> np.random.Generator:
    """The random stream of replication ``replication`` of ``seed`` (MODEL.md 8)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(replication),))))


def trigger_rng(seed: int, replication: int, model: int) -> np.random.Generator:
    """The stream of model ``model``'s triggered pipelines in a replication (MODEL.md 7, common random numbers)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(int(replication), TRIGGER_STREAM_TAG, int(model)))
    ))


@dataclass(frozen=True)
class Step:
    """One step of a pipeline template.

    Duration on a node of speed 1.0::

        (a + b * size_gb ** e) * framework factor * LogNormal(mean 1, sigma)

    Attributes
    ----------
    name : str
        Task name, unique within the template.
    type : str
        Task type (MODEL.md 7 gives some types a lifecycle meaning).
    after : tuple of str
        Names of earlier steps of the template that must finish first.
    p : float
        Inclusion probability. An excluded step's successors inherit its predecessors.
    a, b, e : float
        Fixed seconds, seconds per GB**e, and the size exponent.
    sigma : float
        Standard deviation of the log of the mean-one log-normal duration factor.
    request : (cpu, gpu, mem_gb)
        Resources held while running, unless ``request_by_framework`` overrides it.
    request_by_framework : tuple of (framework, (cpu, gpu, mem_gb))
    factor_by_framework : tuple of (framework, factor)
        Duration factor of a framework; 1.0 for frameworks not named.
    """

    name: str
    type: str
    after: tuple = ()
    p: float = 1.0
    a: float = 60.0
    b: float = 0.0
    e: float = 1.0
    sigma: float = 0.25
    request: tuple = (1.0, 0.0, 4.0)
    request_by_framework: tuple = ()
    factor_by_framework: tuple = ()

    def __post_init__(self):
        if isinstance(self.after, str):
            object.__setattr__(self, "after", tuple(x for x in self.after.split(";") if x))
        else:
            object.__setattr__(self, "after", tuple(self.after))
        object.__setattr__(self, "request", tuple(float(x) for x in self.request))
        object.__setattr__(
            self,
            "request_by_framework",
            tuple((str(f), tuple(float(x) for x in r)) for f, r in dict(self.request_by_framework).items()),
        )
        object.__setattr__(
            self, "factor_by_framework", tuple((str(f), float(x)) for f, x in dict(self.factor_by_framework).items())
        )
        where = f"step {self.name!r}"
        if not self.name or ";" in self.name:
            raise ValueError(f"{where}: a step name must be non-empty and must not contain ';'")
        if not (0.0 <= self.p <= 1.0):
            raise ValueError(f"{where}: inclusion probability p must be in [0, 1], got {self.p}")
        for nm in ("a", "b", "e", "sigma"):
            v = getattr(self, nm)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{where}: {nm} must be finite and >= 0, got {v}")
        if self.a <= 0 and self.b <= 0:
            raise ValueError(f"{where}: a or b must be > 0, or the duration would be 0")
        for label, req in [("request", self.request)] + [
            (f"request_by_framework[{f!r}]", r) for f, r in self.request_by_framework
        ]:
            if len(req) != 3 or not all(math.isfinite(x) and x >= 0 for x in req):
                raise ValueError(f"{where}: {label} must be three finite numbers >= 0 (cpu, gpu, mem_gb), got {req}")
        for f, x in self.factor_by_framework:
            if not (math.isfinite(x) and x > 0):
                raise ValueError(f"{where}: factor_by_framework[{f!r}] must be finite and > 0, got {x}")


# --- the default template (MODEL.md 8) ---------------------------------------------
# Requests are fixed per step (not scaled with the dataset) so that every task
# fits the default nodes whatever its size; sizes act through durations.
# Durations at the median dataset (4 GB), framework factor 1, are in the comments.
_GPU_TRAIN = (8.0, 1.0, 40.0)  # 4 of them fill a GPU node (48 cpu, 4 gpu, 192 GiB) on gpu and leave cpu for CPU tasks
DEFAULT_TEMPLATE = (
    # Feature extraction and cleaning: linear in the data read. 4 GB -> ~6 min.
    Step("preprocess", "preprocess", (), 1.0, a=120.0, b=60.0, e=1.0, sigma=0.3, request=(4.0, 0.0, 16.0)),
    # Training dominates the pipeline and the cluster. Sub-linear in size (e = 0.7:
    # larger sets are trained with fewer epochs / early stopping). 4 GB -> ~50 min
    # before the framework factor; deep learning runs longer (factor 2.5, ~2 h on
    # one GPU), gradient-boosted and classic models shorter on 8 cores.
    # sigma = 0.5: training times vary widely (hyper-parameters, convergence).
    Step(
        "train", "train", ("preprocess",), 1.0, a=600.0, b=900.0, e=0.7, sigma=0.5,
        request=(8.0, 0.0, 32.0),
        request_by_framework=(("tensorflow", _GPU_TRAIN), ("pytorch", _GPU_TRAIN)),
        factor_by_framework=(("sklearn", 0.5), ("xgboost", 0.7), ("tensorflow", 2.5), ("pytorch", 2.5)),
    ),
    # Scoring the hold-out set: cheap and nearly linear. 4 GB -> ~2.5 min.
    Step("evaluate", "evaluate", ("train",), 1.0, a=60.0, b=20.0, e=1.0, sigma=0.3, request=(2.0, 0.0, 8.0)),
    # Slice metrics over groups: a fixed cost dominates. ~3 min.
    Step("bias_check", "bias_check", ("evaluate",), 1.0, a=120.0, b=10.0, e=1.0, sigma=0.3, request=(2.0, 0.0, 8.0)),
    # Perturbation / adversarial tests: re-scores the set many times. ~7 min.
    Step(
        "robustness_check", "robustness_check", ("evaluate",), 1.0, a=300.0, b=30.0, e=1.0, sigma=0.3,
        request=(4.0, 0.0, 16.0),
    ),
    # Quantization / pruning, only for models served at the edge (p = 0.3, MODEL.md 8). ~6 min.
    Step(
        "compress", "compress", ("bias_check", "robustness_check"), 0.3, a=300.0, b=20.0, e=1.0, sigma=0.3,
        request=(4.0, 0.0, 16.0),
    ),
    # Packaging and rollout: fixed cost, independent of size. ~2 min.
    Step("deploy", "deploy", ("compress",), 1.0, a=120.0, b=0.0, e=1.0, sigma=0.2, request=(1.0, 0.0, 4.0)),
)

# Relative arrivals per hour of day (shape only; stored normalized to mean 1):
# engineers submit during working hours (peak ~1.5x the mean mid-morning and
# mid-afternoon, a lunch dip), scheduled jobs keep a floor (~0.4x) at night.
DEFAULT_HOURLY = (
    0.50, 0.45, 0.40, 0.40, 0.40, 0.45, 0.55, 0.75, 1.00, 1.30, 1.50, 1.55,
    1.35, 1.45, 1.55, 1.55, 1.45, 1.25, 1.05, 0.90, 0.80, 0.70, 0.60, 0.55,
)
# Relative arrivals per day of week, Monday first: weekend at about half a
# weekday (only scheduled jobs and a few people). Mean is exactly 1.
DEFAULT_WEEKDAY = (1.15, 1.15, 1.15, 1.15, 1.15, 0.625, 0.625)


@dataclass(frozen=True)
class ModelOpsWorkload:
    """Parameters of the synthetic ModelOps workload (MODEL.md 8), with their defaults.

    Change parameters with :func:`dataclasses.replace`; every parameter is checked
    when the object is made. Tuples indexed by framework follow ``frameworks``.
    """

    # --- template ---
    template: tuple = DEFAULT_TEMPLATE  # MODEL.md 8's default DAG; see DEFAULT_TEMPLATE for each step's numbers
    # --- horizon and arrivals ---
    days: float = 7.0  # one full weekly cycle of the profiles, so the mean rate is exactly base_rate
    base_rate: float = 8.0  # pipelines per hour on average: ~1340 per week, busy yet quick to simulate
    hourly: tuple = DEFAULT_HOURLY  # see DEFAULT_HOURLY
    weekday: tuple = DEFAULT_WEEKDAY  # see DEFAULT_WEEKDAY
    # --- models ---
    n_models: int = 100  # a mid-size platform: a few hot models retrain often, a long tail rarely
    # Popularity exponent below classic Zipf (1.0): the top model gets ~12% of the
    # pipelines (19% with 1.0). Models are drawn per replication, so whether the
    # hottest models train on GPUs swings the GPU load between replications: with
    # 1.0 its coefficient of variation is ~35% and ~1 replication in 10 overloads
    # the default cluster; with 0.8 (and size_sigma 0.6) it is ~21%.
    zipf_s: float = 0.8
    frameworks: tuple = FRAMEWORKS
    framework_mix: tuple = (0.35, 0.20, 0.20, 0.25)  # tabular models still the majority; 45% deep learning on GPUs
    size_median_gb: float = 4.0  # base dataset size per model: median 4 GB ...
    size_sigma: float = 0.6  # ... within x3.2 either way (95%); heavier tails swing the GPU load between replications
    size_factor_sigma: float = 0.25  # per pipeline: the data of one retraining varies ~25% around the model's base
    priority_classes: tuple = (0, 1, 2)  # batch, normal, business-critical
    priority_mix: tuple = (0.6, 0.3, 0.1)  # most models are batch; few are critical
    drift_median_per_day: float = 0.01  # accuracy decays ~1% a day for the typical model ...
    drift_sigma: float = 0.7  # ... from ~0.25%/day (stable data) to ~4%/day (fast-moving data)
    threshold_ratio: tuple = (0.95, 0.98)  # threshold = U(lo, hi) x expected accuracy at the base size: crossed after days, not hours
    initial_age_days: float = 3.0  # initial deployments happened U(0, 3) days before t = 0
    on_drift: bool = False  # automation rules off by default: the default experiment is the exogenous load
    period_days: float = 0.0  # periodic retraining period (0 = none); phase per model is U(0, period)
    # Per-model overrides of the rules: {model_id: {"on_drift": bool, "period_days": float,
    # "phase_days": float}}, any subset of the keys. Stored as a sorted tuple of
    # (model_id, on_drift or None, period_days or None, phase_days or None) so that the
    # workload stays hashable and comparable. A model with an overridden period and no
    # phase keeps its phase uniform: phase = u_m * its period, with the u_m of the draw.
    model_rules: Mapping | tuple = ()
    # --- GPUs as devices (MODEL.md 12) ---
    # Fractional GPU tasks per step: {step name: share in (0, 1)}. A listed step's tasks of the
    # frameworks that use a GPU somewhere in the template (tensorflow and pytorch by default)
    # ask for that share of one device instead of their own GPU request, for example
    # {"evaluate": 0.25, "robustness_check": 0.5} (inference on a slice of a GPU) or {"train": 0.5}.
    # Stored as a sorted tuple of (step, share). Empty (the default): whole GPUs only, and the
    # workload and its runs are exactly those without this option.
    gpu_share: Mapping | tuple = ()
    # --- candidate outcomes (MODEL.md 7) ---
    # Learning curve A_f - B_f * size_gb ** -c_f: deep learning has the higher ceiling
    # but needs more data to reach it (larger B, slower c).
    curve_A: tuple = (0.86, 0.90, 0.94, 0.94)
    curve_B: tuple = (0.08, 0.08, 0.12, 0.12)
    curve_c: tuple = (0.5, 0.5, 0.4, 0.4)
    accuracy_noise_sd: float = 0.01  # run-to-run noise of a retraining: about one point of accuracy
    robustness_beta: tuple = (8.0, 2.0)  # mean 0.8, sd 0.12: robustness is the weakest of the three metrics
    fairness_beta: tuple = (18.0, 2.0)  # mean 0.9, sd 0.065
    compress_loss_range: tuple = (0.0, 0.02)  # compression costs up to two points of accuracy
    # --- gates (MODEL.md 7): a pipeline is rejected when its candidate falls below one ---
    # Rejection rates are per pipeline under the defaults above. Accuracy is checked at
    # evaluate, before compress: the learning curve over the framework mix and the
    # sizes (median 4 GB, log-sd sqrt(0.6**2 + 0.25**2)) plus the noise puts 1.0% of
    # candidates below 0.78 (mostly sklearn models on small data).
    accuracy_gate: float = 0.78  # rejects ~1.0% of pipelines (0.79 would reject 2.5%, 0.80 5.7%)
    fairness_gate: float = 0.75  # P(Beta(18, 2) < 0.75) = 3.1%
    robustness_gate: float = 0.5  # P(Beta(8, 2) < 0.5) = 2.0%
    # together ~6% of the pipelines are rejected by some gate (the three are independent)

    # ------------------------------------------------------------------ checks
    def __post_init__(self):
        for nm in ("template", "hourly", "weekday", "frameworks", "framework_mix", "priority_classes", "priority_mix",
                   "threshold_ratio", "curve_A", "curve_B", "curve_c", "robustness_beta", "fairness_beta",
                   "compress_loss_range"):
            v = getattr(self, nm)
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
                raise ValueError(f"{nm} must be a sequence, got {v!r}")
            object.__setattr__(self, nm, tuple(v))
        for nm in ("hourly", "weekday", "framework_mix", "priority_mix", "threshold_ratio", "curve_A", "curve_B",
                   "curve_c", "robustness_beta", "fairness_beta", "compress_loss_range"):
            object.__setattr__(self, nm, tuple(float(x) for x in getattr(self, nm)))
        object.__setattr__(self, "frameworks", tuple(str(f) for f in self.frameworks))

        def finite(nm, lo=None, strict=False):
            v = getattr(self, nm)
            ok = isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)
            if ok and lo is not None:
                ok = v > lo if strict else v >= lo
            if not ok:
                rel = "" if lo is None else (f" and > {lo}" if strict else f" and >= {lo}")
                raise ValueError(f"{nm} must be a finite number{rel}, got {v!r}")

        finite("days", 0, strict=True)
        finite("base_rate", 0)
        finite("zipf_s", 0)
        finite("size_median_gb", 0, strict=True)
        for nm in ("size_sigma", "size_factor_sigma", "drift_sigma", "accuracy_noise_sd", "initial_age_days",
                   "period_days"):
            finite(nm, 0)
        finite("drift_median_per_day", 0)
        if not isinstance(self.on_drift, (bool, np.bool_)):
            raise ValueError(f"on_drift must be True or False, got {self.on_drift!r}")
        if not isinstance(self.n_models, (int, np.integer)) or isinstance(self.n_models, bool) or self.n_models < 1:
            raise ValueError(f"n_models must be an integer >= 1, got {self.n_models!r}")

        for nm, n in (("hourly", 24), ("weekday", 7)):
            prof = np.array(getattr(self, nm))
            if len(prof) != n or not np.all(np.isfinite(prof)) or np.any(prof < 0) or prof.sum() <= 0:
                raise ValueError(f"{nm} must hold {n} finite numbers >= 0, not all 0, got {getattr(self, nm)}")
            if abs(prof.mean() - 1.0) > 1e-12:  # a shape is accepted and normalized, so base_rate stays the mean rate
                object.__setattr__(self, nm, tuple(float(x) for x in prof / prof.mean()))

        nf = len(self.frameworks)
        if nf == 0 or len(set(self.frameworks)) != nf:
            raise ValueError(f"frameworks must be non-empty and unique, got {self.frameworks}")
        self._check_mix("framework_mix", self.framework_mix, nf, "frameworks")
        for nm in ("curve_A", "curve_B", "curve_c"):
            v = getattr(self, nm)
            if len(v) != nf or not all(math.isfinite(x) for x in v):
                raise ValueError(f"{nm} must hold one finite number per framework ({nf}), got {v}")
        if any(c < 0 for c in self.curve_c):
            raise ValueError(f"curve_c must be >= 0, got {self.curve_c}")
        if len(self.priority_classes) == 0 or not all(isinstance(c, (int, np.integer)) for c in self.priority_classes):
            raise ValueError(f"priority_classes must be integers, got {self.priority_classes}")
        self._check_mix("priority_mix", self.priority_mix, len(self.priority_classes), "priority_classes")
        lo, hi = self._pair("threshold_ratio", self.threshold_ratio)
        if not (0 < lo <= hi):
            raise ValueError(f"threshold_ratio must satisfy 0 < lo <= hi, got {self.threshold_ratio}")
        for nm in ("robustness_beta", "fairness_beta"):
            a, b = self._pair(nm, getattr(self, nm))
            if not (a > 0 and b > 0):
                raise ValueError(f"{nm} must be two Beta parameters > 0, got {getattr(self, nm)}")
        lo, hi = self._pair("compress_loss_range", self.compress_loss_range)
        if not (0 <= lo <= hi):
            raise ValueError(f"compress_loss_range must satisfy 0 <= lo <= hi, got {self.compress_loss_range}")
        for nm in ("accuracy_gate", "fairness_gate", "robustness_gate"):
            finite(nm, 0)
            if getattr(self, nm) > 1:
                raise ValueError(f"{nm} must be in [0, 1], got {getattr(self, nm)!r}")
        self._check_template()
        object.__setattr__(self, "model_rules", self._normalize_rules(self.model_rules))
        object.__setattr__(self, "gpu_share", self._normalize_shares(self.gpu_share))

    def _normalize_shares(self, shares) -> tuple:
        """``gpu_share`` as a sorted tuple of (step name, share), each share in (0, 1)."""
        items = shares.items() if isinstance(shares, Mapping) else shares
        try:
            items = [(str(k), v) for k, v in items]
        except (TypeError, ValueError):
            raise ValueError(f"gpu_share must be a mapping {{step: share}}, got {shares!r}") from None
        names = {st.name for st in self.template}
        out = {}
        for name, v in items:
            if name not in names:
                raise ValueError(f"gpu_share: {name!r} is not a step of the template ({sorted(names)})")
            if not (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                    and 0 < v < 1):
                raise ValueError(f"gpu_share[{name!r}] must be a fraction of one GPU in (0, 1), got {v!r}")
            if name in out:
                raise ValueError(f"gpu_share: step {name!r} appears twice")
            out[name] = float(v)
        return tuple(sorted(out.items()))

    def device_reasons(self) -> list:
        """Why the workload needs GPUs as devices (MODEL.md 12): its fractional GPU steps, if any."""
        return [f"fractional GPU steps {dict(self.gpu_share)} (gpu_share)"] if self.gpu_share else []

    _RULE_KEYS = ("on_drift", "period_days", "phase_days")

    def _normalize_rules(self, rules) -> tuple:
        """``model_rules`` as a sorted tuple of (model_id, on_drift, period_days, phase_days), None = not overridden.

        Accepts the mapping a user writes or the tuple already stored (``dataclasses.replace``
        passes the stored value back in).
        """
        if isinstance(rules, Mapping):
            items = []
            for mid, rule in rules.items():
                if not isinstance(rule, Mapping):
                    raise ValueError(
                        f"model_rules[{mid!r}] must be a mapping with keys among {self._RULE_KEYS}, got {rule!r}"
                    )
                unknown = sorted(str(k) for k in rule if k not in self._RULE_KEYS)
                if unknown:
                    raise ValueError(
                        f"model_rules[{mid!r}]: unknown key(s) {unknown}; the known keys are {self._RULE_KEYS}"
                    )
                items.append((mid, rule.get("on_drift"), rule.get("period_days"), rule.get("phase_days")))
        elif isinstance(rules, (tuple, list)):
            items = []
            for it in rules:
                if not (isinstance(it, (tuple, list)) and len(it) == 4):
                    raise ValueError(
                        "model_rules must be a mapping {model_id: {'on_drift': ..., 'period_days': ..., "
                        f"'phase_days': ...}} or tuples (model_id, on_drift, period_days, phase_days), got {it!r}"
                    )
                items.append(tuple(it))
        else:
            raise ValueError(f"model_rules must be a mapping {{model_id: {{rule: value}}}}, got {rules!r}")
        out = []
        for mid, on_drift, period, phase in items:
            if not isinstance(mid, (int, np.integer)) or isinstance(mid, (bool, np.bool_)) \
                    or not (0 <= mid < self.n_models):
                raise ValueError(
                    f"model_rules: model id {mid!r} is not a model of this workload (0 .. {self.n_models - 1})"
                )
            mid = int(mid)
            where = f"model_rules[{mid}]"
            if on_drift is not None:
                if not isinstance(on_drift, (bool, np.bool_)):
                    raise ValueError(f"{where}: on_drift must be True or False, got {on_drift!r}")
                on_drift = bool(on_drift)
            for nm, v in (("period_days", period), ("phase_days", phase)):
                if v is not None and not (
                    isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                    and math.isfinite(v) and v >= 0
                ):
                    raise ValueError(f"{where}: {nm} must be a finite number >= 0, got {v!r}")
            period = None if period is None else float(period)
            phase = None if phase is None else float(phase)
            if phase is not None and (self.period_days if period is None else period) == 0:
                raise ValueError(f"{where}: phase_days is given but the model has no periodic rule (its period is 0)")
            if on_drift is None and period is None and phase is None:
                continue  # an empty override changes nothing
            out.append((mid, on_drift, period, phase))
        ids = [r[0] for r in out]
        if len(set(ids)) != len(ids):
            raise ValueError(f"model_rules: a model id appears twice in {sorted(ids)}")
        return tuple(sorted(out))

    @staticmethod
    def _pair(nm, v):
        if len(v) != 2 or not all(math.isfinite(x) for x in v):
            raise ValueError(f"{nm} must be two finite numbers, got {v}")
        return v

    @staticmethod
    def _check_mix(nm, mix, n, of):
        if len(mix) != n or not all(math.isfinite(x) and x >= 0 for x in mix) or abs(sum(mix) - 1.0) > 1e-9:
            raise ValueError(f"{nm} must hold one probability per entry of {of} ({n}), >= 0 and summing to 1, got {mix}")

    def _check_template(self):
        if len(self.template) == 0:
            raise ValueError("template must hold at least one step")
        seen = set()
        for st in self.template:
            if not isinstance(st, Step):
                raise ValueError(f"template entries must be Step objects, got {st!r}")
            if st.name in seen:
                raise ValueError(f"template: step name {st.name!r} is used twice")
            for pred in st.after:
                if pred not in seen:
                    raise ValueError(
                        f"template: step {st.name!r} comes after {pred!r}, which is not an earlier step "
                        "(list steps in an order where every step follows the steps in its 'after')"
                    )
            for f, _ in st.request_by_framework + st.factor_by_framework:
                if f not in self.frameworks:
                    raise ValueError(f"template: step {st.name!r} names framework {f!r}, not one of {self.frameworks}")
            seen.add(st.name)
        if sum(st.p < 1.0 for st in self.template) > 62:
            raise ValueError("template: at most 62 steps may have p < 1 (inclusion patterns are 64-bit integers)")
        if not any(st.p == 1.0 for st in self.template):
            raise ValueError("template: at least one step must have p = 1, or a pipeline could have no task")

    # ------------------------------------------------------------------ derived tables
    @cached_property
    def _plan(self) -> "_Plan":
        return _make_plan(self)

    @property
    def default_horizon(self) -> float:
        """Seconds: ``simulate`` observes the generated period (``days``) unless told otherwise."""
        return self.days * SECONDS_PER_DAY

    @property
    def type_names(self) -> tuple:
        """Type names of the batches: the standard types, then the template's others."""
        return self._plan.type_names

    # ------------------------------------------------------------------ generation
    def generate(self, seed: int, replication: int = 0) -> Batch:
        """The workload of one replication as a :class:`Batch` (pipeline ids 0..n-1 in submit order)."""
        d = _draw(self, seed, replication)
        return _pipelines_batch(
            self._plan, replication, np.arange(d.n, dtype=np.int64), d.submit, d.model, d.priority, d.task_count,
            d.task_step, d.task_cell, d.duration, d.edge_pred, d.edge_succ,
            (d.cand_accuracy, d.cand_robustness, d.cand_fairness, d.compress_loss),
            models=(_model_table(d.models),),
            triggered=(_TriggerSource(self, seed, replication, d.models),),
            gates=(self.accuracy_gate, self.fairness_gate, self.robustness_gate),
        )

    def model_table(self, seed: int, replication: int = 0) -> ModelTable:
        """The lifecycle state at t = 0 and the rules of a replication's models (MODEL.md 7).

        The same numbers as ``tables(seed, replication)["models"]``, drawn alone
        (the models are the first draws of the replication's stream).
        """
        return _model_table(_draw_models(self, replication_rng(seed, replication)))

    def triggered(self, seed: int, replication: int, counts) -> Batch:
        """The pipelines the automation rules submit in a replication (MODEL.md 7).

        Parameters
        ----------
        seed, replication : int
        counts : int64[n_models]
            How many triggered pipelines of each model to return.

        Returns
        -------
        Batch
            One replication: for each model m = 0 .. n_models-1 in order, its
            triggered pipelines k = 0 .. counts[m]-1, with ``pipeline_id`` -1 and
            ``submit`` 0 (the engine sets both when it submits one). The k-th of
            model m depends on (seed, replication, m, k) only (common random
            numbers): it comes from row k of the uniform block of the model's own
            stream (see the module docstring), never from a stream the schedule
            advances, and is the same whatever ``counts`` is. It is distributed
            like an exogenous pipeline of model m.
        """
        return _TriggerSource(self, seed, replication)(counts)

    def _triggered_from(self, models: "_Models", u: np.ndarray, counts: np.ndarray, replication: int,
                        gates: np.ndarray | None = None) -> Batch:
        """Triggered pipelines from their uniform blocks ``u`` (rows: model by model, k in order).

        With ``gates`` (float64[3], accuracy, fairness, robustness), the robustness
        and fairness candidates are stand-ins that the gates judge as they would
        the values (see :func:`_gate_stand_ins`): for the simulator, which needs
        the values of the copies it uses only (:meth:`_TriggerSource.for_run`).
        """
        plan = self._plan
        M = self.n_models
        S = len(self.template)
        n = int(counts.sum())
        model = np.repeat(np.arange(M, dtype=np.int64), counts)
        fw = models.framework[model]
        size = models.base_size_gb[model] * _lognormal_mean_one(_normal(u[:, 0]), self.size_factor_sigma)
        inc = u[:, 1 : 1 + S] < plan.p
        dur_z = _normal(u[:, 1 + S : 1 + 2 * S])
        c0 = 1 + 2 * S
        cand_acc = np.clip(_curve(self, fw, size) + self.accuracy_noise_sd * _normal(u[:, c0]), 0.0, 1.0)
        if gates is None:
            cand_rob = betaincinv(self.robustness_beta[0], self.robustness_beta[1], u[:, c0 + 1])
            cand_fair = betaincinv(self.fairness_beta[0], self.fairness_beta[1], u[:, c0 + 2])
        else:
            cand_rob = _gate_stand_ins(self.robustness_beta, float(gates[2]), u[:, c0 + 1])
            cand_fair = _gate_stand_ins(self.fairness_beta, float(gates[1]), u[:, c0 + 2])
        lo, hi = self.compress_loss_range
        closs = lo + (hi - lo) * u[:, c0 + 3]
        _, task_count, task_step, task_cell, duration, edge_pred, edge_succ = _assemble(
            plan, inc, np.ascontiguousarray(dur_z), size, fw
        )
        return _pipelines_batch(plan, replication, np.full(n, -1, dtype=np.int64), np.zeros(n), model,
                                models.priority[model], task_count, task_step, task_cell, duration, edge_pred,
                                edge_succ, (cand_acc, cand_rob, cand_fair, closs))

    def batch(self, seed: int, replications: Sequence[int]) -> Batch:
        """The workloads of several replications, concatenated in the order given."""
        reps = [int(r) for r in np.atleast_1d(replications)]
        if not reps:
            raise ValueError("replications must name at least one replication")
        return concat_batches([self.generate(seed, r) for r in reps])

    def tables(self, seed: int, replication: int = 0) -> dict:
        """The same replication as :meth:`generate`, as trace tables (MODEL.md 2).

        Returns ``{'pipelines', 'tasks', 'models'}`` DataFrames. ``models`` holds the
        lifecycle state at t = 0 (MODEL.md 7) plus the generator's per-model
        attributes (framework, base_dataset_size_gb, priority, popularity) as extra
        columns.

        A trace's retraining copies a template pipeline (MODEL.md 7), while the
        generator draws each retraining afresh: a model with a rule gets its first
        pipeline of the replication as its template, so that the tables make a
        valid trace (its replay then retrains with copies of that pipeline, not
        with the generator's draws); a model with a rule but no pipeline in the
        replication keeps no rule in the table. Without rules,
        ``template_pipeline_id`` is -1 and the replay equals the generator's run.
        """
        d = _draw(self, seed, replication)
        plan = self._plan
        fw = np.asarray(self.frameworks, dtype=object)
        pipelines = pd.DataFrame({
            "pipeline_id": np.arange(d.n, dtype=np.int64),
            "submit_time": d.submit,
            "model_id": d.model,
            "priority": d.priority,
            "framework": fw[d.framework],
            "dataset_size_gb": d.size_gb,
            "candidate_accuracy": d.cand_accuracy,
            "candidate_robustness": d.cand_robustness,
            "candidate_fairness": d.cand_fairness,
            "compress_loss": d.compress_loss,
        })
        cpu, gpu, mem = _requests(plan, d.task_cell)
        tasks = pd.DataFrame({
            "pipeline_id": np.repeat(np.arange(d.n, dtype=np.int64), d.task_count),
            "task": plan.step_name[d.task_step],
            "type": np.asarray(plan.type_names, dtype=object)[plan.step_type[d.task_step]],
            "cpu": cpu,
            "gpu": gpu,
            "mem_gb": mem,
            "duration": d.duration,
            "after": _after(plan, d.task_pattern, d.task_step),
        })
        m = d.models
        template = np.full(self.n_models, -1, dtype=np.int64)
        first = np.unique(d.model, return_index=True)  # pipelines are in id order
        template[first[0]] = first[1]
        has_rule = np.asarray(m.on_drift, dtype=bool) | (np.asarray(m.period) > 0)
        template = np.where(has_rule, template, -1)
        orphan = has_rule & (template < 0)
        models = pd.DataFrame({
            "model_id": np.arange(self.n_models, dtype=np.int64),
            "accuracy": m.accuracy,
            "robustness": m.robustness,
            "fairness": m.fairness,
            "deployed_at": m.deployed_at,
            "drift_per_day": m.drift_per_day,
            "threshold": m.threshold,
            "on_drift": np.asarray(m.on_drift, dtype=bool) & ~orphan,
            "period": np.where(orphan, 0.0, m.period),
            "phase": m.phase,
            "template_pipeline_id": template,
            "framework": fw[m.framework],
            "base_dataset_size_gb": m.base_size_gb,
            "priority": m.priority,
            "popularity": self._plan.popularity,
        })
        return {"pipelines": pipelines, "tasks": tasks, "models": models}

    def models(self, seed: int, replication: int = 0) -> pd.DataFrame:
        """The models table of a replication (see :meth:`tables`)."""
        return self.tables(seed, replication)["models"]

    # ------------------------------------------------------------------ analysis
    def expected_pipelines(self) -> float:
        """Expected number of pipelines per replication (the integrated arrival rate)."""
        return float(self._plan.bin_mass.sum())

    def expected_demand(self) -> pd.DataFrame:
        """Expected resource-seconds (at speed 1) per pipeline, per template step and framework class.

        Exact from the parameters: a pipeline's framework is distributed as
        ``framework_mix`` (its model's framework, drawn independently of popularity),
        and E[size ** e] follows from the two log-normals.
        """
        plan = self._plan
        mu = math.log(self.size_median_gb) - 0.5 * self.size_factor_sigma ** 2
        var = self.size_sigma ** 2 + self.size_factor_sigma ** 2
        rows = []
        mix = np.array(self.framework_mix)
        for j, st in enumerate(self.template):
            e_size = math.exp(st.e * mu + 0.5 * st.e ** 2 * var)
            mean_dur = (st.a + st.b * e_size) * plan.factor[j]  # [F]
            req = plan.request[j]  # [F, 3]
            demand = st.p * (mix * mean_dur)[:, None] * req  # [F, 3]
            for f, fwname in enumerate(self.frameworks):
                rows.append({"step": st.name, "framework": fwname, "uses_gpu": bool(req[f, 1] > 0),
                             "share": st.p * mix[f], "mean_duration": mean_dur[f],
                             "cpu": demand[f, 0], "gpu": demand[f, 1], "mem_gb": demand[f, 2]})
        return pd.DataFrame(rows)

    def offered_load(self, cluster=None) -> pd.DataFrame:
        """Expected demand per second over capacity, per pool and dimension.

        A task that requests GPUs is counted on the pools that have GPUs; a task
        that does not, on the pools without GPUs (on all pools if every pool has
        GPUs). Among its eligible pools, demand is split in proportion to each
        pool's capacity times speed in the task's main dimension (gpu, resp. cpu),
        so eligible pools are equally loaded. With the profiles' mean over the
        horizon, this is the long-run utilization if the cluster keeps up. It is
        the mean over replications: one replication's load differs by the luck of
        its model draw (for the default, GPU demand has a coefficient of variation
        of ~21% between replications).
        Returns a DataFrame indexed by pool with columns cpu, gpu, mem_gb, and a
        row ``total`` for the whole cluster (NaN where capacity is 0).
        """
        if cluster is None:
            from .cluster import default_cluster

            cluster = default_cluster()
        pools = cluster.pools
        cap = pools[["cpu", "gpu", "mem_gb"]].to_numpy(np.float64) * pools["count"].to_numpy(np.float64)[:, None]
        speed = pools["speed"].to_numpy(np.float64)
        rate = self.expected_pipelines() / (self.days * SECONDS_PER_DAY)  # pipelines per second
        dem = self.expected_demand()
        has_gpu = cap[:, 1] > 0
        busy = np.zeros_like(cap)  # node-seconds of allocation per second, at each pool's speed
        for uses_gpu, grp in dem.groupby("uses_gpu"):
            d = grp[["cpu", "gpu", "mem_gb"]].to_numpy().sum(axis=0) * rate
            if not d.any():
                continue
            elig = has_gpu if uses_gpu else (~has_gpu if (~has_gpu).any() else np.ones_like(has_gpu))
            main = 1 if uses_gpu else 0
            weight = np.where(elig, cap[:, main] * speed, 0.0)
            if weight.sum() <= 0:
                raise ValueError(
                    f"no pool can take the {'GPU' if uses_gpu else 'CPU'} tasks of this workload"
                )
            busy += (weight / weight.sum())[:, None] * d[None, :] / speed[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            load = np.where(cap > 0, busy / cap, np.nan)
            total = np.where(cap.sum(0) > 0, busy.sum(0) / cap.sum(0), np.nan)
        out = pd.DataFrame(load, columns=["cpu", "gpu", "mem_gb"], index=list(pools["pool"]))
        out.loc["total"] = total
        out.index.name = "pool"
        return out


# --------------------------------------------------------------------------- internals
class _Plan(NamedTuple):
    """Everything derived from the parameters alone, computed once per workload object."""

    type_names: tuple
    step_name: np.ndarray  # object[S]
    step_type: np.ndarray  # int64[S]
    p: np.ndarray  # float64[S]
    a: np.ndarray  # float64[S]
    b: np.ndarray  # float64[S]
    e: np.ndarray  # float64[S]
    sigma: np.ndarray  # float64[S]
    factor: np.ndarray  # float64[S, F]
    request: np.ndarray  # float64[S, F, 3]
    shape_of: np.ndarray  # int64[S * F]: request shape of (step, framework) cell s * F + f
    shape_req: np.ndarray  # float64[n_shapes, 3]: the distinct requests
    optional: np.ndarray  # int64[K]: steps with p < 1; bit k of a pipeline's inclusion pattern is step optional[k]
    preds: tuple  # template predecessors of each step (indices)
    patterns: dict  # inclusion pattern -> _Pattern, filled as patterns occur (at most 2**K, usually a few)
    popularity: np.ndarray  # float64[M], sums to 1
    popularity_cdf: np.ndarray  # float64[M]
    framework_cdf: np.ndarray
    priority_cdf: np.ndarray
    bin_mass: np.ndarray  # float64[H]: expected arrivals in each hour bin (the last may be partial)
    bin_cum: np.ndarray  # float64[H]: cumulative mass at the end of each bin
    bin_start: np.ndarray  # float64[H]: seconds
    bin_length: np.ndarray  # float64[H]: seconds
    last_bin: int  # the last bin with mass > 0 (0 if none)


def _after(plan: "_Plan", task_pattern: np.ndarray, task_step: np.ndarray) -> np.ndarray:
    out = np.empty(len(task_step), dtype=object)
    for q in np.unique(task_pattern):
        hit = task_pattern == q
        out[hit] = _pattern(plan, int(q)).after[task_step[hit]]
    return out


def _cdf(p) -> np.ndarray:
    c = np.cumsum(np.asarray(p, dtype=np.float64))
    return c / c[-1]


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of a discrete distribution: the first index with cdf > u."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).astype(np.int64)


def _make_plan(w: ModelOpsWorkload) -> _Plan:
    steps = w.template
    S, F = len(steps), len(w.frameworks)
    extra = []
    for st in steps:
        if st.type not in STANDARD_TYPES and st.type not in extra:
            extra.append(st.type)
    type_names = STANDARD_TYPES + tuple(extra)
    code = {n: c for c, n in enumerate(type_names)}
    fidx = {f: i for i, f in enumerate(w.frameworks)}
    factor = np.ones((S, F))
    request = np.zeros((S, F, 3))
    for j, st in enumerate(steps):
        request[j, :, :] = st.request
        for f, r in st.request_by_framework:
            request[j, fidx[f]] = r
        for f, x in st.factor_by_framework:
            factor[j, fidx[f]] = x
    if w.gpu_share:
        # the frameworks that use a GPU somewhere take the listed steps' shares of one device
        gpu_fw = request[:, :, 1].max(axis=0) > 0
        for j, st in enumerate(steps):
            share = dict(w.gpu_share).get(st.name)
            if share is not None:
                request[j, gpu_fw, 1] = share
    # cells with the same request share a request shape (fewer shapes, cheaper passes)
    shape_req, shape_of = np.unique(request.reshape(-1, 3), axis=0, return_inverse=True)
    name_idx = {st.name: j for j, st in enumerate(steps)}
    preds = [[name_idx[x] for x in st.after] for st in steps]
    optional = np.array([j for j, st in enumerate(steps) if st.p < 1.0], dtype=np.int64)
    step_name = np.array([st.name for st in steps], dtype=object)
    pop = 1.0 / fpmath.power(np.arange(1, w.n_models + 1, dtype=np.float64), w.zipf_s)
    pop /= pop.sum()
    hours = w.days * 24.0
    n_bins = int(math.ceil(hours - 1e-9))
    bin_idx = np.arange(n_bins)
    length = np.minimum(hours - bin_idx, 1.0)  # hours; the last bin may be partial
    rate = w.base_rate * np.array(w.hourly)[bin_idx % 24] * np.array(w.weekday)[(bin_idx // 24) % 7]
    return _Plan(
        type_names=type_names,
        step_name=step_name,
        step_type=np.array([code[st.type] for st in steps], dtype=np.int64),
        p=np.array([st.p for st in steps]),
        a=np.array([st.a for st in steps]),
        b=np.array([st.b for st in steps]),
        e=np.array([st.e for st in steps]),
        sigma=np.array([st.sigma for st in steps]),
        factor=factor,
        request=request,
        shape_of=shape_of.reshape(-1).astype(np.int64),
        shape_req=shape_req,
        optional=optional,
        preds=tuple(tuple(p) for p in preds),
        patterns={},
        popularity=pop,
        popularity_cdf=_cdf(pop),
        framework_cdf=_cdf(w.framework_mix),
        priority_cdf=_cdf(w.priority_mix),
        bin_mass=rate * length,
        bin_cum=np.cumsum(rate * length),
        bin_start=bin_idx * SECONDS_PER_HOUR,
        bin_length=length * SECONDS_PER_HOUR,
        last_bin=int(np.flatnonzero(rate * length > 0)[-1]) if np.any(rate * length > 0) else 0,
    )


class _Pattern(NamedTuple):
    """The DAG of a pipeline under one inclusion pattern."""

    after: np.ndarray  # object[S]: 'after' of each step (names joined by ';'; '' for excluded steps)
    pred: np.ndarray  # int64[E]: edges as task indices within the pipeline (included steps only)
    succ: np.ndarray  # int64[E]


def _pattern(plan: _Plan, q: int) -> _Pattern:
    """The DAG under inclusion pattern ``q``: an excluded step's successors inherit its predecessors."""
    got = plan.patterns.get(q)
    if got is not None:
        return got
    S = len(plan.step_name)
    inc = np.ones(S, dtype=bool)
    for bit, j in enumerate(plan.optional):
        inc[j] = bool((q >> bit) & 1)
    local = np.cumsum(inc) - 1
    eff = []  # effective predecessors of each step; steps are in topological order
    for j in range(S):
        acc = set()
        for i in plan.preds[j]:
            acc.update([i] if inc[i] else eff[i])
        eff.append(sorted(acc))
    after = np.array([";".join(plan.step_name[eff[j]]) if inc[j] else "" for j in range(S)], dtype=object)
    pred = [local[i] for j in range(S) if inc[j] for i in eff[j]]
    succ = [local[j] for j in range(S) if inc[j] for _ in eff[j]]
    got = _Pattern(after, np.array(pred, dtype=np.int64), np.array(succ, dtype=np.int64))
    plan.patterns[q] = got
    return got


class _Models(NamedTuple):
    framework: np.ndarray  # int64[M]
    base_size_gb: np.ndarray  # float64[M]
    priority: np.ndarray  # int64[M]
    drift_per_day: np.ndarray
    threshold: np.ndarray
    accuracy: np.ndarray
    robustness: np.ndarray
    fairness: np.ndarray
    deployed_at: np.ndarray  # seconds, <= 0
    on_drift: np.ndarray  # bool[M], after model_rules
    period: np.ndarray  # seconds, after model_rules
    phase: np.ndarray  # seconds, after model_rules


class _Draw(NamedTuple):
    n: int
    models: _Models
    submit: np.ndarray  # float64[n]
    model: np.ndarray  # int64[n]
    priority: np.ndarray
    framework: np.ndarray
    size_gb: np.ndarray
    cand_accuracy: np.ndarray
    cand_robustness: np.ndarray
    cand_fairness: np.ndarray
    compress_loss: np.ndarray
    task_count: np.ndarray  # int64[n]
    task_step: np.ndarray  # int64[T]: template step of each task
    task_cell: np.ndarray  # int64[T]: (step, framework) cell, step * n_frameworks + framework
    task_pattern: np.ndarray  # int64[T]: inclusion pattern of the task's pipeline
    duration: np.ndarray
    edge_pred: np.ndarray  # int64[E], task indices of the replication
    edge_succ: np.ndarray


def _model_table(m: _Models) -> ModelTable:
    M = len(m.accuracy)
    return ModelTable(
        model_id=np.arange(M, dtype=np.int64),
        accuracy=m.accuracy,
        robustness=m.robustness,
        fairness=m.fairness,
        deployed_at=m.deployed_at,
        drift_per_day=m.drift_per_day,
        threshold=m.threshold,
        on_drift=m.on_drift,
        period=m.period,
        phase=m.phase,
    )


class _TriggerSource:
    """``counts -> Batch`` of one replication's triggered pipelines (see ``ModelOpsWorkload.triggered``).

    Keeps each model's stream and the uniform rows drawn so far, so that asking
    again with larger counts (the simulator does when a model runs out) draws
    only the new rows: continuing a stream gives the same rows as drawing them
    all at once.
    """

    def __init__(self, workload: ModelOpsWorkload, seed: int, replication: int, models: "_Models | None" = None):
        self.workload = workload
        self.seed = int(seed)
        self.replication = int(replication)
        self.models = models if models is not None else _draw_models(workload, replication_rng(seed, replication))
        self.width = _trigger_block_width(len(workload.template))
        self.streams = {}
        self.rows = {}

    def _uniforms(self, m: int, c: int) -> np.ndarray:
        have = self.rows.get(m)
        n_have = 0 if have is None else len(have)
        if c > n_have:
            rng = self.streams.get(m)
            if rng is None:
                rng = self.streams[m] = trigger_rng(self.seed, self.replication, m)
            new = rng.random((c - n_have, self.width))
            have = new if have is None else np.concatenate([have, new])
            self.rows[m] = have
        return have[:c]

    def _block(self, counts):
        """(counts as int64, the uniform rows of the copies: model by model, k in order)."""
        counts = np.asarray(counts)
        M = self.workload.n_models
        if counts.shape != (M,) or not (np.issubdtype(counts.dtype, np.integer) or counts.size == 0) \
                or np.any(counts < 0):
            raise ValueError(f"counts must hold {M} integers >= 0 (one per model), got shape {counts.shape}")
        counts = counts.astype(np.int64)
        live = np.flatnonzero(counts)
        u = (np.concatenate([self._uniforms(int(m), int(counts[m])) for m in live]) if len(live)
             else np.empty((0, self.width)))
        return counts, u

    def __call__(self, counts) -> Batch:
        counts, u = self._block(counts)
        return self.workload._triggered_from(self.models, u, counts, self.replication)

    def for_run(self, counts, gates: np.ndarray):
        """The simulator's reserve: ``(batch, exact)``.

        ``batch`` is ``self(counts)`` except that its robustness and fairness
        candidates are stand-ins that ``gates`` (float64[3]: accuracy, fairness,
        robustness) judge exactly as they judge the values (SciPy's
        ``betaincinv``, the costliest part of a copy, for about one copy in six
        that a run uses). ``exact(index) -> (robustness, fairness)`` gives the
        values of the reserve pipelines ``index``, the same doubles as
        ``self(counts)`` holds, for the copies that were submitted.
        """
        w = self.workload
        counts, u = self._block(counts)
        c0 = 1 + 2 * len(w.template)
        u_rob, u_fair = u[:, c0 + 1].copy(), u[:, c0 + 2].copy()

        def exact(index):
            index = np.asarray(index, dtype=np.int64)
            return (betaincinv(w.robustness_beta[0], w.robustness_beta[1], u_rob[index]),
                    betaincinv(w.fairness_beta[0], w.fairness_beta[1], u_fair[index]))

        return w._triggered_from(self.models, u, counts, self.replication, gates=gates), exact


#: Stand-ins for a Beta candidate that a gate rejects / passes (values lie in [0, 1], gates too).
STAND_IN_BELOW = -1.0
STAND_IN_ABOVE = 2.0
# Half-width of the band of uniforms around betainc(a, b, gate), relative, where the
# value itself is computed (see _gate_stand_ins)
_GATE_BAND = 1e-3


def _gate_stand_ins(beta: tuple, gate: float, u: np.ndarray) -> np.ndarray:
    """For each uniform u, a number that is below ``gate`` exactly when ``betaincinv(a, b, u)`` is.

    The quantile x(u) = betaincinv(a, b, u) increases with u and crosses the gate
    at u* = betainc(a, b, gate). Far from u* its side of the gate is known without
    computing it: ``STAND_IN_BELOW`` for u < u* (1 - 1e-3), ``STAND_IN_ABOVE`` for
    u > u* (1 + 1e-3). There x(u) is at least 1e-3 u* / pdf(gate) away from the
    gate (about 1e-5 for the default Betas and gates), some ten orders of
    magnitude above the error of SciPy's quantile (Boost's ``ibeta_inv``, a
    few ulp) and of u* itself. Inside the band (about one uniform in 10^4) the
    stand-in is the value itself. A gate of 0 rejects nothing.
    """
    out = np.full(len(u), STAND_IN_ABOVE)
    if gate <= 0.0:
        return out
    a, b = beta
    u_star = float(betainc(a, b, gate))
    lo, hi = u_star * (1.0 - _GATE_BAND), u_star * (1.0 + _GATE_BAND)
    out[u < lo] = STAND_IN_BELOW
    near = np.flatnonzero((u >= lo) & (u <= hi))
    if len(near):
        out[near] = betaincinv(a, b, u[near])
    return out


def _trigger_block_width(n_steps: int) -> int:
    """Uniforms per triggered pipeline: size, inclusion[S], duration[S], accuracy, robustness, fairness, compress."""
    return 2 * n_steps + 5


def _normal(u: np.ndarray) -> np.ndarray:
    """Standard normals from uniforms in [0, 1) by the inverse CDF (u = 0, probability 2**-53, maps to ~-8.3)."""
    return ndtri(np.maximum(u, 2.0 ** -53))


def _lognormal_mean_one(z: np.ndarray, sigma) -> np.ndarray:
    sigma = np.asarray(sigma, dtype=np.float64)
    return fpmath.exp(sigma * z - 0.5 * sigma * sigma)


def _curve(w: ModelOpsWorkload, framework: np.ndarray, size_gb: np.ndarray) -> np.ndarray:
    A = np.asarray(w.curve_A)[framework]
    B = np.asarray(w.curve_B)[framework]
    c = np.asarray(w.curve_c)[framework]
    return A - B * fpmath.power(size_gb, -c)


def _draw_models(w: ModelOpsWorkload, rng: np.random.Generator) -> _Models:
    """The models: draws 1-10 of the module docstring, the first of the replication's stream.

    ``model_rules`` are applied here: they change which rules a model has, never a draw.
    """
    plan = w._plan
    M = w.n_models
    m_fw = _pick(plan.framework_cdf, rng.random(M))
    base = w.size_median_gb * fpmath.exp(w.size_sigma * rng.standard_normal(M))
    m_prio = np.asarray(w.priority_classes, dtype=np.int64)[_pick(plan.priority_cdf, rng.random(M))]
    drift = w.drift_median_per_day * fpmath.exp(w.drift_sigma * rng.standard_normal(M))
    lo, hi = w.threshold_ratio
    ratio = lo + (hi - lo) * rng.random(M)
    expected_acc = _curve(w, m_fw, base)
    threshold = ratio * np.clip(expected_acc, 0.0, 1.0)
    acc0 = np.clip(expected_acc + w.accuracy_noise_sd * rng.standard_normal(M), 0.0, 1.0)
    rob0 = rng.beta(*w.robustness_beta, size=M)
    fair0 = rng.beta(*w.fairness_beta, size=M)
    deployed_at = -w.initial_age_days * SECONDS_PER_DAY * rng.random(M)
    phase_u = rng.random(M)
    on_drift = np.full(M, bool(w.on_drift))
    period_days = np.full(M, float(w.period_days))
    phase_days = np.full(M, np.nan)
    for mid, od, per, ph in w.model_rules:
        if od is not None:
            on_drift[mid] = od
        if per is not None:
            period_days[mid] = per
        if ph is not None:
            phase_days[mid] = ph
    # the same product as without overrides, so a model without one keeps its phase bit for bit
    phase = period_days * SECONDS_PER_DAY * phase_u
    explicit = ~np.isnan(phase_days)
    phase[explicit] = phase_days[explicit] * SECONDS_PER_DAY
    phase[period_days == 0] = 0.0  # no periodic rule: the phase means nothing (it was 0 * u before)
    return _Models(m_fw, base, m_prio, drift, threshold, acc0, rob0, fair0, deployed_at, on_drift,
                   period_days * SECONDS_PER_DAY, phase)


def _draw(w: ModelOpsWorkload, seed: int, replication: int) -> _Draw:
    """All random numbers of one replication, in the fixed order of the module docstring."""
    plan = w._plan
    rng = replication_rng(seed, replication)
    models = _draw_models(w, rng)
    m_fw, base, m_prio = models.framework, models.base_size_gb, models.priority

    # arrivals: exact inversion of the piecewise-constant cumulative rate
    total = float(plan.bin_mass.sum())
    n = int(rng.poisson(total)) if total > 0 else 0
    u = np.sort(rng.random(n)) * total
    # the first bin whose cumulative mass exceeds u: a zero-mass bin never is (its
    # cumulative mass equals its predecessor's); u == total after rounding goes to
    # the last bin with mass
    k = np.minimum(np.searchsorted(plan.bin_cum, u, side="right"), plan.last_bin)
    frac = (u - (plan.bin_cum[k] - plan.bin_mass[k])) / plan.bin_mass[k]
    frac = np.clip(frac, 0.0, np.nextafter(1.0, 0.0))  # stay inside the bin, so inside the horizon
    submit = plan.bin_start[k] + frac * plan.bin_length[k]
    submit = np.maximum.accumulate(submit) if n else submit  # rounding must not unsort neighbours across a bin edge

    # pipelines
    model = _pick(plan.popularity_cdf, rng.random(n))
    fw = m_fw[model]
    size = base[model] * _lognormal_mean_one(rng.standard_normal(n), w.size_factor_sigma)
    S = len(w.template)
    inc = rng.random((n, S)) < plan.p  # p = 1 always includes, p = 0 never (random() is in [0, 1))
    dur_z = rng.standard_normal((n, S))
    cand_acc = np.clip(_curve(w, fw, size) + w.accuracy_noise_sd * rng.standard_normal(n), 0.0, 1.0)
    cand_rob = rng.beta(*w.robustness_beta, size=n)
    cand_fair = rng.beta(*w.fairness_beta, size=n)
    lo, hi = w.compress_loss_range
    closs = lo + (hi - lo) * rng.random(n)

    pattern, task_count, task_step, task_cell, duration, edge_pred, edge_succ = _assemble(plan, inc, dur_z, size, fw)
    task_pipeline = np.repeat(np.arange(n, dtype=np.int64), task_count)

    return _Draw(
        n=n,
        models=models,
        submit=submit,
        model=model,
        priority=m_prio[model],
        framework=fw,
        size_gb=size,
        cand_accuracy=cand_acc,
        cand_robustness=cand_rob,
        cand_fairness=cand_fair,
        compress_loss=closs,
        task_count=task_count,
        task_step=task_step,
        task_cell=task_cell,
        task_pattern=pattern[task_pipeline],
        duration=duration,
        edge_pred=edge_pred,
        edge_succ=edge_succ,
    )


def _requests(plan: _Plan, task_cell: np.ndarray):
    """(cpu, gpu, mem) of each task: its (step, framework) cell's request."""
    request = plan.request.reshape(-1, 3)
    return request[:, 0].take(task_cell), request[:, 1].take(task_cell), request[:, 2].take(task_cell)


def _pipelines_batch(plan: _Plan, replication: int, pipeline_id, submit, model, priority, task_count, task_step,
                     task_cell, duration, edge_pred, edge_succ, candidates, **lifecycle) -> Batch:
    """A one-replication Batch of generated pipelines (the workload's, or the copies rules submit).

    ``candidates`` is (accuracy, robustness, fairness, compress_loss);
    ``lifecycle`` the Batch's models / triggered / gates, if any.
    """
    cpu, gpu, mem = _requests(plan, task_cell)
    arrays = build_arrays(
        pipeline_id=pipeline_id,
        submit=submit,
        model=model,
        priority=priority,
        task_count=task_count,
        task_type=plan.step_type[task_step],
        cpu=cpu,
        gpu=gpu,
        mem=mem,
        duration=duration,
        edge_pred=edge_pred,
        edge_succ=edge_succ,
        cand_accuracy=candidates[0],
        cand_robustness=candidates[1],
        cand_fairness=candidates[2],
        compress_loss=candidates[3],
    )
    # a task's request is its step's for its pipeline's framework: (step, framework)
    # names its request shape, so the simulator need not group requests itself
    return Batch(
        arrays=arrays,
        type_names=plan.type_names,
        task_names=plan.step_name[task_step],
        replications=np.array([int(replication)], dtype=np.int64),
        shapes=RequestShapes(task_shape=plan.shape_of[task_cell], shape_req=plan.shape_req),
        **lifecycle,
    )


def _assemble(plan: _Plan, inc: np.ndarray, dur_z: np.ndarray, size: np.ndarray, fw: np.ndarray):
    """Tasks and edges of pipelines from their draws: the included cells of the (pipeline, step) grid, row by row.

    Assembled by a compiled kernel that releases the GIL (so that replications can
    be generated on several threads). Returns the inclusion pattern of each
    pipeline, then :func:`assemble_tasks_nb`'s arrays.
    """
    n = len(size)
    pattern = np.zeros(n, dtype=np.int64)
    for bit, j in enumerate(plan.optional):
        pattern |= inc[:, j].astype(np.int64) << bit
    if n and pattern.max() < 4096:
        # np.unique's sorted patterns and inverse, by counting (few optional steps, few patterns)
        present = np.bincount(pattern) > 0
        patterns = np.flatnonzero(present).astype(np.int64)
        pattern_index = (np.cumsum(present) - 1)[pattern]
    else:
        patterns, pattern_index = np.unique(pattern, return_inverse=True)
    pat_ptr, pat_pred, pat_succ = _pattern_tables(plan, patterns)
    out = assemble_tasks_nb(
        inc, dur_z, size, fw.astype(np.int64), pattern_index.reshape(-1).astype(np.int64),
        pat_ptr, pat_pred, pat_succ, plan.a, plan.b, plan.e, plan.sigma,
        np.ascontiguousarray(plan.factor), plan.request.shape[1],
    )
    return (pattern,) + tuple(out)


def _pattern_tables(plan: _Plan, patterns: np.ndarray):
    """The edges of each inclusion pattern in ``patterns``, concatenated (CSR), each sorted by (pred, succ)."""
    preds, succs, ptr = [], [], [0]
    for q in patterns:
        pat = _pattern(plan, int(q))
        order = np.lexsort((pat.succ, pat.pred))
        preds.append(pat.pred[order])
        succs.append(pat.succ[order])
        ptr.append(ptr[-1] + len(order))
    empty = np.zeros(0, dtype=np.int64)
    return (np.array(ptr, dtype=np.int64),
            np.concatenate(preds).astype(np.int64) if preds else empty,
            np.concatenate(succs).astype(np.int64) if succs else empty)
