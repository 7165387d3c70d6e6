"""Functions named in experiment files: custom policies and custom autoscalers.

An experiment file names a function as ``"keys.py:my_key"`` (a Python file,
relative to the experiment file) or ``"mypackage.keys:my_key"`` (an importable
module). A file's *text* travels with the reference, so Dask workers on other
machines need nothing but the package; an importable module must be installed
on every worker. The reference is plain data (picklable); each process turns
it into what ``simulate`` takes (:func:`custom_policy`, :class:`Custom`) once,
on first use, so a worker compiles a custom key once per process.

A file is executed in a namespace of its own, named after its digest and not
entered in ``sys.modules``: two experiments' files never see each other.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path


class FunctionError(ValueError):
    """A function reference that does not resolve; the message says why."""


@dataclass(frozen=True)
class FunctionRef:
    """``"file.py:name"`` or ``"package.module:name"``, as written, with the file's text."""

    text: str
    name: str
    module: str | None = None   # an importable module
    path: str | None = None     # a file (for messages)
    source: str | None = None   # the file's text

    @property
    def digest(self) -> str:
        return hashlib.sha256((self.source if self.source is not None else self.module).encode()).hexdigest()

    def function(self):
        """The named function (cached per process)."""
        key = (self.digest, self.module, self.name)
        if key not in _FUNCTIONS:
            if self.source is not None:
                ns = {"__name__": f"fastpipesim_experiment_{self.digest[:16]}", "__file__": self.path}
                try:
                    exec(compile(self.source, self.path, "exec"), ns)
                except Exception as e:  # the user's file: say where it broke
                    raise FunctionError(f"{self.path}: could not be run: {type(e).__name__}: {e}") from None
                where = self.path
            else:
                try:
                    ns = vars(importlib.import_module(self.module))
                except ImportError as e:
                    raise FunctionError(f"module {self.module!r} cannot be imported: {e}") from None
                where = f"module {self.module}"
            func = ns.get(self.name)
            if func is None:
                raise FunctionError(f"{where} defines no {self.name!r}")
            if not callable(func):
                raise FunctionError(f"{where}: {self.name!r} is not a function")
            _FUNCTIONS[key] = func
        return _FUNCTIONS[key]


_FUNCTIONS: dict = {}
_BUILT: dict = {}


def parse_ref(text: str, base_dir: Path) -> FunctionRef:
    """A reference from its text; a file is read now (its text goes with the reference)."""
    where, sep, name = text.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise FunctionError(f"expected 'file.py:function' or 'package.module:function', got {text!r}")
    if where.endswith(".py"):
        path = Path(where).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        if not path.is_file():
            raise FunctionError(f"file not found: {path}")
        ref = FunctionRef(text, name, path=str(path), source=path.read_text(encoding="utf-8"))
    else:
        ref = FunctionRef(text, name, module=where)
    ref.function()  # resolves now, so a bad reference fails before anything runs
    return ref


def is_ref(text) -> bool:
    """Whether a [run] policy value names a function rather than a built-in policy."""
    return isinstance(text, str) and ":" in text


@dataclass(frozen=True)
class PolicyRef:
    """A custom scheduling policy (:func:`fastpipesim.custom_policy`) from a function reference."""

    ref: FunctionRef

    def check(self) -> None:
        from ..policies import CUSTOM_KEY_FIELDS

        try:
            params = list(inspect.signature(self.ref.function()).parameters)
        except (TypeError, ValueError):
            raise FunctionError(f"{self.ref.text}: its parameters cannot be read; write it in Python") from None
        unknown = [p for p in params if p not in CUSTOM_KEY_FIELDS]
        if unknown:
            raise FunctionError(f"{self.ref.text}: parameters {unknown} are not key fields; a key function may "
                                f"take any of {list(CUSTOM_KEY_FIELDS)}")

    def build(self):
        key = ("policy", self.ref.digest, self.ref.module, self.ref.name)
        if key not in _BUILT:
            from ..policies import custom_policy

            _BUILT[key] = custom_policy(self.ref.function(), name=self.ref.text)
        return _BUILT[key]


@dataclass(frozen=True)
class AutoscalerRef:
    """A custom autoscaler (:class:`fastpipesim.autoscalers.Custom`) from a function reference."""

    ref: FunctionRef
    params: tuple = ()   # (name, value) pairs: interval

    def build(self):
        key = ("autoscaler", self.ref.digest, self.ref.module, self.ref.name, self.params)
        if key not in _BUILT:
            from ..autoscalers import Custom

            _BUILT[key] = Custom(func=self.ref.function(), name=self.ref.text, **dict(self.params))
        return _BUILT[key]


def resolve(kwargs: dict) -> dict:
    """``simulate`` keywords with every reference built (in the process that runs them)."""
    return {k: (v.build() if isinstance(v, (PolicyRef, AutoscalerRef)) else v) for k, v in kwargs.items()}


def referenced_files(kwargs: dict) -> list:
    """The files a scenario's references read (their digests go into the experiment's hash)."""
    return [v.ref for v in kwargs.values() if isinstance(v, (PolicyRef, AutoscalerRef)) and v.ref.path]


__all__ = ["FunctionRef", "PolicyRef", "AutoscalerRef", "FunctionError", "parse_ref", "resolve", "is_ref",
           "referenced_files"]
