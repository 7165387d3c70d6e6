"""The compiled kernels (Numba). See loop.py (the event loop) and summary.py."""


def engine_is_compiled() -> bool:
    """True when the event loop is already compiled in this process or in Numba's on-disk cache.

    Used only to warn the user before a first, slow compile; it reads a private
    attribute of Numba's dispatcher and answers True whenever it cannot tell.
    """
    from .loop import run_replication_nb

    if getattr(run_replication_nb, "signatures", True):  # a plain function under NUMBA_DISABLE_JIT=1
        return True
    try:
        import os

        return os.path.exists(run_replication_nb._cache._cache_file._index_path)
    except Exception:  # pragma: no cover - a Numba without these internals
        return True
