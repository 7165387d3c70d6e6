"""The event loop's inlined helpers keep their array arguments alive to one exit (engine/heaps.py).

Each helper that Numba inlines into the loop at IR level turns its array
arguments into local copies with reference counts. Unless every array
argument's last use is in one block after the body, Numba cannot prune the
increment/decrement pairs, and every call pays two atomic operations per array
(measured: 60% of a DAG trace's loop). The rule is structural, so it is
checked on the source: one exit, and a last statement naming every argument
the helper indexes.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "fastpipesim" / "engine"
MODULES = ("heaps.py", "loop.py", "elastic.py")


def _inlined(fn: ast.FunctionDef) -> bool:
    for d in fn.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "njit":
            for kw in d.keywords:
                if kw.arg == "inline" and getattr(kw.value, "value", None) == "always":
                    return True
    return False


def _helpers():
    for name in MODULES:
        tree = ast.parse((ENGINE / name).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and _inlined(node):
                yield pytest.param(node, id=f"{name}:{node.name}")


def _indexed_params(fn: ast.FunctionDef) -> set:
    params = {a.arg for a in fn.args.args}
    return {n.value.id for n in ast.walk(fn) if isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name) and n.value.id in params}


def _named(stmt) -> set:
    # a tuple: a bare name is dropped by Numba's bytecode reader and keeps nothing alive
    if isinstance(stmt, ast.Expr):
        v = stmt.value
        if isinstance(v, ast.Tuple) and all(isinstance(e, ast.Name) for e in v.elts):
            return {e.id for e in v.elts}
    return set()


@pytest.mark.parametrize("fn", list(_helpers()))
def test_inlined_helper_has_one_exit_and_keeps_its_arrays(fn):
    arrays = _indexed_params(fn)
    if not arrays:
        return  # scalars only (such as _better): nothing is counted
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    body = fn.body
    if returns:
        assert len(returns) == 1 and body[-1] is returns[0], f"{fn.name}: more than one exit"
        body = body[:-1]
    kept = set()
    for stmt in reversed(body):  # the keep-alive lines at the end (one or more statements)
        names = _named(stmt)
        if not names:
            break
        kept |= names
    missing = arrays - kept
    assert not missing, f"{fn.name}: no keep-alive line names {sorted(missing)}"


def test_the_rule_finds_a_helper_without_a_keep_alive_line():
    bad = ast.parse(
        "@njit(inline='always')\n"
        "def f(a, b, i):\n"
        "    if i > 0:\n"
        "        return a[i]\n"
        "    return b[i]\n"
    ).body[0]
    assert _inlined(bad)
    with pytest.raises(AssertionError, match="more than one exit"):
        test_inlined_helper_has_one_exit_and_keeps_its_arrays(bad)
    half = ast.parse("@njit(inline='always')\ndef g(a, b, i):\n    a[i] = b[i]\n    (a,)\n").body[0]
    bare = ast.parse("@njit(inline='always')\ndef h(a, i):\n    a[i] = 0\n    a\n").body[0]
    with pytest.raises(AssertionError, match=r"names \['a'\]"):
        test_inlined_helper_has_one_exit_and_keeps_its_arrays(bare)
    with pytest.raises(AssertionError, match=r"names \['b'\]"):
        test_inlined_helper_has_one_exit_and_keeps_its_arrays(half)


def test_every_module_has_inlined_helpers():
    # the check would pass vacuously if the decorator were spelled differently
    names = {p.id.split(":")[0] for p in _helpers()}
    assert names == set(MODULES)
