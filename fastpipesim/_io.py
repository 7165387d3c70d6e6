"""Optional file formats."""
from __future__ import annotations

import pandas as pd

from .errors import InputError


def read_parquet(path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(
            str(path),
            "reading Parquet needs pyarrow, which is not installed; "
            "install it with: pip install 'fastpipesim[parquet]'",
        ) from None
    return pd.read_parquet(path)


def write_parquet(frame: pd.DataFrame, path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(
            str(path),
            "writing Parquet needs pyarrow, which is not installed; "
            "install it with: pip install 'fastpipesim[parquet]'",
        ) from None
    frame.to_parquet(path, index=False)
