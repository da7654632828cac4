"""Sampling straight to Parquet parts, in bounded memory and independent of the part size.

Rows are generated in fixed blocks of :data:`BLOCK_ROWS`; block ``i`` draws from its own random
stream, seeded by one draw of the model's sampling stream and ``i``. So the same seed gives the
same rows whether they are written as one part or as many, and memory holds one block (plus
Parquet's write buffer) at a time. Parts are ``part-00000.parquet``, ``part-00001.parquet``, ...
in a directory that ``pyarrow.dataset`` / ``pandas.read_parquet`` read as one table.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabargn.errors import InvalidDataError

__all__ = ["BLOCK_ROWS", "write_parts"]

BLOCK_ROWS = 65_536
"""Rows generated per block (each block has its own random stream)."""


def _arrow_schema(first: pd.DataFrame) -> pa.Schema:
    """The parts' schema from the first block; an all-missing text column is typed string."""
    schema = pa.Schema.from_pandas(first, preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def write_parts(
    sample_block: Callable[[np.random.Generator, int], pd.DataFrame],
    stream: np.random.Generator,
    directory: str | Path,
    n_samples: int,
    *,
    rows_per_part: int = 250_000,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Generates ``n_samples`` rows block by block and writes them as Parquet parts.

    Args:
        sample_block: ``(block stream, rows) -> DataFrame``: generates one block from its own
            stream (the flat engine's :func:`tabargn.flat.sample_rows` with the call's
            settings).
        stream: The model's sampling stream; advanced by one draw.
        directory: Output directory (created; existing ``part-*.parquet`` files are replaced).
        n_samples: Rows in total (>= 0).
        rows_per_part: Rows per Parquet file (the last may hold fewer).
        progress: Called with the number of rows written after each block.

    Returns:
        The written part files, in order.

    Raises:
        InvalidDataError: Bad ``n_samples`` or ``rows_per_part``, or ``directory`` is a file.
    """
    for name, value, low in (("n_samples", n_samples, 0), ("rows_per_part", rows_per_part, 1)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
            raise InvalidDataError(f"{name} must be an integer >= {low}, got {value!r}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InvalidDataError(f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("part-*.parquet"):
        old.unlink()
    base = int(stream.integers(0, 2**62))
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    in_part = written = 0
    try:
        for index, start in enumerate(range(0, n_samples, BLOCK_ROWS)):
            rows = min(BLOCK_ROWS, n_samples - start)
            block = sample_block(np.random.default_rng([base, index]), rows)
            schema = schema or _arrow_schema(block)
            table = pa.Table.from_pandas(block, schema=schema, preserve_index=False)
            while table.num_rows:
                if writer is None:
                    parts.append(directory / f"part-{len(parts):05d}.parquet")
                    writer, in_part = pq.ParquetWriter(parts[-1], schema), 0
                take = min(rows_per_part - in_part, table.num_rows)
                writer.write_table(table.slice(0, take))
                table, in_part = table.slice(take), in_part + take
                if in_part == rows_per_part:
                    writer.close()
                    writer = None
            written += rows
            if progress is not None:
                progress(written)
    finally:
        if writer is not None:
            writer.close()
    return parts
