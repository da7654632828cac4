"""The compact on-disk code matrix that training reads: smallest unsigned dtypes, memory-mapped.

The codec (:mod:`tabargn.codec`) turns rows into int64 codes ``[n_rows, n_sub_columns]``; the
network wants int64 per batch, but storing them so costs 8 bytes a cell. A :class:`CodeMatrix`
stores each sub-column in the smallest unsigned integer dtype that holds its cardinality
(``uint8`` up to 256 codes, ``uint16`` up to 65,536, ...); sub-columns of the same dtype sit side
by side in one row-major file, so a census row of 48 sub-columns takes 48-60 bytes instead of
384. Rows are appended chunk by chunk (:meth:`CodeMatrix.append`), and read back as int64 by row
range (:meth:`CodeMatrix.read`, through a :class:`numpy.memmap` of just that range, closed after
the copy, so resident memory holds what was read, not the file) or by column.

:func:`validation_mask` splits rows into training and validation by a hash of the row's global
position and the seed: stable, and independent of how the table was cut into chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["uint_dtype", "validation_mask", "CodeMatrix"]

_UINTS = (np.uint8, np.uint16, np.uint32, np.uint64)


def uint_dtype(cardinality: int) -> np.dtype:
    """The smallest unsigned integer dtype holding codes ``0 .. cardinality - 1``."""
    for dtype in _UINTS:
        if cardinality - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"cardinality {cardinality} does not fit 64 bits")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer (Steele, Lea and Flood, 2014): a fast, well-mixed 64-bit hash."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def validation_mask(first_row: int, n_rows: int, share: float, seed: int) -> np.ndarray:
    """Which of the rows ``first_row .. first_row + n_rows - 1`` are validation rows.

    A row is a validation row when the hash of its global position and ``seed``, as a fraction
    of ``2**64``, is below ``share``: each row independently, so the split does not depend on the
    chunking, and about ``share`` of the rows are held out.

    Returns:
        ``bool [n_rows]``.
    """
    rows = np.arange(first_row, first_row + n_rows, dtype=np.uint64)
    salt = _splitmix64(np.asarray([seed], dtype=np.uint64))[0]
    h = _splitmix64(rows ^ salt)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53 < share


class CodeMatrix:
    """Codes ``[n_rows, C]`` on disk, one file per dtype group, appended by chunks.

    Args:
        directory: Folder for the files (created).
        cardinalities: Cardinality of each sub-column (its codes are ``0 .. card - 1``).
        name: File name prefix (a folder can hold several matrices).
    """

    def __init__(self, directory: str | Path, cardinalities: list[int], name: str = "codes"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dtypes = [uint_dtype(int(c)) for c in cardinalities]
        self.n_columns = len(cardinalities)
        self.n_rows = 0
        # groups: dtype -> sub-column indices stored in its file, in order
        self.groups: dict[np.dtype, list[int]] = {}
        for i, dtype in enumerate(self.dtypes):
            self.groups.setdefault(dtype, []).append(i)
        self.paths = {d: self.directory / f"{name}-{d.name}.bin" for d in self.groups}
        for path in self.paths.values():
            path.write_bytes(b"")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_columns)

    @property
    def row_bytes(self) -> int:
        """Bytes one row takes on disk."""
        return sum(d.itemsize for d in self.dtypes)

    def __len__(self) -> int:
        return self.n_rows

    def append(self, codes: np.ndarray) -> None:
        """Appends rows (int64 or any integer dtype, ``[n, C]``, every code within its
        sub-column's cardinality)."""
        if codes.shape[1] != self.n_columns:
            raise ValueError(f"expected {self.n_columns} sub-columns, got {codes.shape[1]}")
        for dtype, cols in self.groups.items():
            block = np.ascontiguousarray(codes[:, cols], dtype=dtype)
            with open(self.paths[dtype], "ab") as f:
                f.write(block.tobytes())
        self.n_rows += codes.shape[0]

    def read(self, start: int, stop: int, dtype=np.int64) -> np.ndarray:
        """Rows ``start .. stop - 1`` as ``dtype`` ``[stop - start, C]`` (a copy)."""
        start, stop = max(0, start), min(stop, self.n_rows)
        out = np.empty((max(stop - start, 0), self.n_columns), dtype=dtype)
        if stop <= start:
            return out
        for d, cols in self.groups.items():
            view = self._view(d, start, stop)
            out[:, cols] = view
            del view
        return out

    def take(self, rows: np.ndarray, dtype=np.int64) -> np.ndarray:
        """Rows at sorted indices ``rows`` (int ``[k]``, each in ``0 .. n_rows - 1``) as
        ``dtype`` ``[k, C]`` (a copy; only the pages holding them are read)."""
        out = np.empty((len(rows), self.n_columns), dtype=dtype)
        if len(rows) == 0:
            return out
        for d, cols in self.groups.items():
            view = self._view(d, 0, self.n_rows)
            out[:, cols] = view[rows]
            del view
        return out

    def _view(self, d: np.dtype, start: int, stop: int) -> np.memmap:
        """Read-only ``[stop - start, width]`` view of rows of the file of dtype ``d``."""
        width = len(self.groups[d])
        return np.memmap(
            self.paths[d],
            dtype=d,
            mode="r",
            offset=start * width * d.itemsize,
            shape=(stop - start, width),
        )

    def column(self, index: int, chunk_rows: int = 1 << 18) -> np.ndarray:
        """Sub-column ``index`` of every row, int64 ``[n_rows]`` (read by chunks)."""
        d = self.dtypes[index]
        cols = self.groups[d]
        at = cols.index(index)
        out = np.empty(self.n_rows, dtype=np.int64)
        for start in range(0, self.n_rows, chunk_rows):
            stop = min(start + chunk_rows, self.n_rows)
            view = self._view(d, start, stop)
            out[start:stop] = view[:, at]
            del view
        return out

    def to_array(self, dtype=np.int64) -> np.ndarray:
        """The whole matrix in memory (DP-SGD, small tables)."""
        return self.read(0, self.n_rows, dtype)
