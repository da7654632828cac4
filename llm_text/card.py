"""Data cards: a JSON record of every generation run (reproducibility, after DataDreamer).

A card holds the backend and model, the prompts, the settings, the seed, the counts of rows
generated, kept and filtered, tokens and cost (with cost per kept row), and fingerprints: a hash
of the training inputs, a hash of the generation context, and the code version (package version
plus a hash of the ``llm_text`` sources), so two runs can be compared exactly.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn._version import __version__

__all__ = ["fingerprint", "code_version", "write_card"]

CARD_VERSION = 1


def fingerprint(*objects) -> str:
    """SHA-256 over Series / DataFrames (values, column names and index) and JSON-able objects."""
    h = hashlib.sha256()
    for obj in objects:
        if isinstance(obj, pd.Series | pd.DataFrame):
            frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
            h.update(json.dumps([str(c) for c in frame.columns]).encode())
            try:
                hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
            except TypeError:  # unhashable cells (lists, dicts)
                hashed = pd.util.hash_pandas_object(frame.astype(str), index=True).to_numpy()
            h.update(np.ascontiguousarray(hashed).tobytes())
        else:
            h.update(json.dumps(obj, sort_keys=True, default=str).encode())
    return h.hexdigest()


def code_version() -> dict:
    """Package version and a SHA-256 of the ``llm_text`` source files."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return {"package_version": __version__, "llm_text_sha256": h.hexdigest()}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, float) and np.isnan(obj):
        return None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def now() -> str:
    """Current UTC time, ISO 8601."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def write_card(card: dict, path: str | Path) -> Path:
    """Write ``card`` as indented JSON (NaN becomes null); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(card), indent=2, ensure_ascii=False), encoding="utf-8")
    return path
