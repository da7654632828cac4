"""Fitting inputs of any size: two streaming passes into a compact on-disk code matrix.

Every flat fit goes this way, for a DataFrame as for a directory of Parquet files
(:func:`tabargn.table_files.open_table`):

1. **Statistics**: one pass over chunks of rows, each analyzed and folded into bounded
   summaries; the codec is reduced once at the end (:func:`tabargn.codec.fit_statistics`).
2. **Encoding**: a second pass encodes each chunk and appends it to a
   :class:`~tabargn.code_store.CodeMatrix` (smallest unsigned dtype per sub-column) in a
   temporary folder, validation rows (a hash of the row's position,
   :func:`tabargn.code_store.validation_mask`) to a second one.
3. **Training** reads shuffled blocks of them (:class:`tabargn.data.StoredCodes`).

Memory is set by ``memory_budget_mb`` (:data:`DEFAULT_MEMORY_BUDGET_MB`): a chunk's pandas
rows take at most :data:`CHUNK_SHARE` of it (rows per chunk estimated from the first rows),
the training window :data:`WINDOW_SHARE`; the network and its batches come on top (they do not
grow with the table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tabargn.code_store import CodeMatrix, validation_mask
from tabargn.codec import TableCodec
from tabargn.data import StoredCodes
from tabargn.dtypes import KINDS, kind_of
from tabargn.schema import infer_schema, validate_frame
from tabargn.table_files import TableSource

__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB",
    "CHUNK_SHARE",
    "WINDOW_SHARE",
    "HEAD_ROWS",
    "chunk_rows",
    "infer_specs",
    "encode_to_disk",
    "MarginalColumns",
]

DEFAULT_MEMORY_BUDGET_MB = 512
"""Default memory budget of the data side of a fit (chunks being read, the training window)."""
CHUNK_SHARE = 1 / 8
"""Share of the budget for one chunk's pandas rows (analysis and encoding make copies)."""
WINDOW_SHARE = 1 / 2
"""Share of the budget for the training window of compact codes."""
HEAD_ROWS = 4096
"""Rows read first to infer the column kinds of a streamed input and the chunk size."""
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 1024, 1 << 20


def chunk_rows(head: pd.DataFrame, budget_mb: float) -> int:
    """Rows per chunk so that one chunk's frame takes about ``CHUNK_SHARE`` of the budget.

    The bytes per row are measured on ``head`` (``memory_usage(deep=True)``, strings
    included); the result is clamped to ``[1024, 2**20]``.
    """
    per_row = max(float(head.memory_usage(deep=True, index=False).sum()) / max(len(head), 1), 8)
    rows = int(budget_mb * 2**20 * CHUNK_SHARE / per_row)
    return int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, rows)))


def infer_specs(source: TableSource, head: pd.DataFrame, encoding_types: dict | None) -> list:
    """Column kinds from the whole frame (in memory) or from the first rows (streamed).

    A streamed column with no value in the first rows gets the kind of its dtype; the
    statistics pass makes it ``empty`` if it holds no value anywhere.

    Raises:
        InvalidDataError, UnsupportedDtypeError: As :func:`tabargn.schema.validate_frame`.
    """
    if not source.in_memory:  # a DataFrame was validated by the caller
        validate_frame(head)
    specs = infer_schema(head, encoding_types)
    if not source.in_memory:
        for spec in specs:
            if spec.kind == "empty" and spec.name not in (encoding_types or {}):
                kind = kind_of(spec.dtype_info)
                spec.kind = kind if kind in KINDS and kind != "text" else "categorical"
    return specs


def _move_last(src: CodeMatrix, dst: CodeMatrix) -> None:
    """Moves the last row of ``src`` to ``dst`` (keeps both splits non-empty)."""
    row = src.read(src.n_rows - 1, src.n_rows)
    for dtype, cols in src.groups.items():
        path = src.paths[dtype]
        with open(path, "r+b") as f:
            f.truncate((src.n_rows - 1) * len(cols) * dtype.itemsize)
    src.n_rows -= 1
    dst.append(row)


def encode_to_disk(
    source: TableSource,
    codec: TableCodec,
    directory: str | Path,
    *,
    rows: int,
    seed: int,
    validation_share: float,
    window_bytes: int,
) -> StoredCodes:
    """The second pass: encodes every chunk into compact training and validation matrices.

    Args:
        source: The table.
        codec: The fitted codec.
        directory: Folder for the files (the caller removes it after training).
        rows: Rows per chunk.
        seed: Seed of the validation split (:func:`tabargn.code_store.validation_mask`).
        validation_share: Expected share of validation rows; with at least 2 rows both
            splits hold at least one.
        window_bytes: Training window budget (:class:`tabargn.data.StoredCodes`).

    Returns:
        The stored codes.

    Raises:
        InvalidDataError: A chunk with values the codec cannot encode (see
            :meth:`tabargn.codec.TableCodec.encode`).
    """
    cards = codec.cardinalities
    train = CodeMatrix(directory, cards, "train")
    validation = CodeMatrix(directory, cards, "validation")
    start = 0
    for frame in source.frames(rows):
        codes = codec.encode(frame)
        held = validation_mask(start, len(frame), validation_share, seed)
        train.append(codes[~held])
        validation.append(codes[held])
        start += len(frame)
    if start >= 2 and validation.n_rows == 0:
        _move_last(train, validation)
    if start >= 2 and train.n_rows == 0:
        _move_last(validation, train)
    return StoredCodes(train, validation, int(window_bytes))


class MarginalColumns:
    """Column access to stored codes for :meth:`tabargn.model.ARGN.init_marginals`.

    ``self[:, i]`` is sub-column ``i`` of every row (training and validation, as the network's
    marginals were always counted), int64, read one column at a time.
    """

    def __init__(self, stored: StoredCodes) -> None:
        self.stored = stored

    def __getitem__(self, key):
        import torch

        _, i = key
        parts = [self.stored.train.column(i), self.stored.validation.column(i)]
        return torch.from_numpy(np.concatenate(parts))
