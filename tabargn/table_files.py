"""Table and rules files: CSV (sniffed) and Parquet in, CSV or Parquet out; tables by chunks.

:func:`open_table` opens a fit input of any form (a DataFrame, a Parquet or CSV file, a
directory of Parquet or CSV files, a ``pyarrow.Table`` or a ``pyarrow.dataset.Dataset``) as a
:class:`TableSource` that yields pandas chunks of a bounded number of rows, so a table larger
than memory is read one chunk at a time (with ``pyarrow.dataset``); :func:`read_table` reads a
whole file. CSV inputs are sniffed: the encoding is UTF-8 if the file decodes as UTF-8, else cp1252, else
Latin-1, and the separator is guessed among ``, ; TAB |`` by :class:`csv.Sniffer` on the first
64 KiB; ``sep`` and ``encoding`` override both. CSV outputs are UTF-8 with ``,``. Rules files
(constraints and fairness) are JSON, or YAML with PyYAML installed.
"""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from tabargn.errors import InvalidDataError

__all__ = [
    "TableSource",
    "open_table",
    "TABLE_SUFFIXES",
    "SEP_HELP",
    "ENCODING_HELP",
    "sniff_csv",
    "read_table",
    "check_output",
    "write_table",
    "read_rules",
]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
SNIFF_BYTES = 64 * 1024
"""CSV sniffing reads this many bytes of the file."""
CSV_ENCODINGS = ("utf-8", "cp1252", "latin-1")
"""Encodings tried in order when ``--encoding`` is not given (Latin-1 decodes any byte)."""
CSV_SEPARATORS = ",;\t|"
"""Separators the sniffer chooses from when ``--sep`` is not given."""


def _csv_options(sep: str | None, encoding: str | None) -> tuple[str | None, str | None]:
    """``--sep`` / ``--encoding`` checked (``\\t`` and ``tab`` mean a tab)."""
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
        if not sep:
            raise InvalidDataError("--sep must not be empty; e.g. --sep ';'")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InvalidDataError(
                f"--encoding {encoding!r} is not a known encoding; e.g. utf-8, cp1252, latin-1"
            ) from None
    return sep, encoding


def sniff_csv(path: Path, sep: str | None = None, encoding: str | None = None) -> tuple[str, str]:
    """Separator and encoding of a CSV file (the given ones win).

    The encoding is the first of :data:`CSV_ENCODINGS` that decodes the first
    :data:`SNIFF_BYTES`; the separator is :class:`csv.Sniffer`'s guess among
    :data:`CSV_SEPARATORS` on the complete lines of that sample (``,`` if it cannot tell, e.g.
    for a single column).

    Raises:
        InvalidDataError: The sample does not decode with the given ``encoding``.
    """
    with open(path, "rb") as f:
        raw = f.read(SNIFF_BYTES)
    complete = len(raw) < SNIFF_BYTES
    text = None
    for candidate in [encoding] if encoding else CSV_ENCODINGS:
        try:
            text = codecs.getincrementaldecoder(candidate)().decode(raw, final=complete)
        except UnicodeDecodeError as e:
            if encoding:
                raise InvalidDataError(f"cannot read {path} as {encoding}: {e}") from None
            continue
        encoding = candidate
        break
    if sep is None:
        text = text.lstrip("\ufeff")
        if not complete and "\n" in text:
            text = text[: text.rfind("\n")]  # complete lines only
        try:
            sep = csv.Sniffer().sniff(text, delimiters=CSV_SEPARATORS).delimiter
        except csv.Error:
            sep = ","
    return sep, encoding


def _read_csv(path: Path, sep: str | None, encoding: str | None) -> pd.DataFrame:
    sep, first = sniff_csv(path, sep, encoding)
    tried = [first] if encoding else list(CSV_ENCODINGS[CSV_ENCODINGS.index(first) :])
    for candidate in tried:
        try:
            return pd.read_csv(path, sep=sep, encoding=candidate)
        except UnicodeDecodeError as e:  # past the sniffed sample
            if candidate == tried[-1]:
                raise InvalidDataError(f"cannot read {path} as {candidate}: {e}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def read_table(path: Path, sep: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Reads a ``.csv`` (separator and encoding sniffed unless given) or ``.parquet`` file.

    Raises:
        InvalidDataError: Unknown suffix, missing or unreadable file, bad ``sep``/``encoding``.
    """
    suffix = path.suffix.lower()
    if not path.exists():
        raise InvalidDataError(f"file {path} does not exist")
    sep, encoding = _csv_options(sep, encoding)
    try:
        if suffix == ".csv":
            return _read_csv(path, sep, encoding)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (OSError, ValueError, csv.Error) as e:
        if isinstance(e, InvalidDataError):
            raise
        message = " ".join(str(e).split())
        raise InvalidDataError(f"cannot read {path}: {message}") from None
    raise InvalidDataError(f"{path}: use a .csv or .parquet file")


def check_output(path: Path) -> Path:
    """Checks an output table's suffix before any work is done.

    Raises:
        InvalidDataError: Not ``.csv`` / ``.parquet``, or an existing directory.
    """
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InvalidDataError(f"{path}: use a .csv or .parquet output file")
    if path.is_dir():
        raise InvalidDataError(f"output {path} is a directory; give a .csv or .parquet file path")
    return path


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Writes a ``.csv`` (UTF-8, ``,``) or ``.parquet`` file (by suffix), creating parent
    folders."""
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


SEP_HELP = "CSV separator (default: sniffed among , ; TAB |); '\\t' or 'tab' for a tab."
ENCODING_HELP = "CSV encoding (default: utf-8 if it decodes, else cp1252, else latin-1)."


def read_rules(path: Path | None) -> tuple[list, dict | None]:
    """Reads a rules file: ``{"constraints": [...], "fairness": {...}}`` (JSON, or YAML with
    the ``.yaml``/``.yml`` suffix); a bare list is the constraints alone.

    Each constraint is the dict of a :mod:`tabargn.constraints` rule, e.g.
    ``{"kind": "inequality", "low": "checkin", "high": "checkout"}``; ``fairness`` is
    ``{"target": column, "sensitive": [columns]}``. Predicates (Python functions) cannot be
    given in a file.

    Returns:
        ``(constraints, fairness or None)``; ``([], None)`` without a file.

    Raises:
        InvalidDataError: Missing or unreadable file, or a bad layout.
        ConstraintError: A bad rule.
    """
    from tabargn.constraints import parse_rules

    if path is None:
        return [], None
    if not path.exists():
        raise InvalidDataError(f"rules file {path} does not exist")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text())
        else:
            data = json.loads(path.read_text())
    except ImportError:
        raise InvalidDataError("YAML rules files need PyYAML (pip install pyyaml)") from None
    except Exception as e:  # OSError, JSONDecodeError, yaml.YAMLError
        raise InvalidDataError(f"cannot read rules file {path}: {e}") from None
    if isinstance(data, list):
        data = {"constraints": data}
    if not isinstance(data, dict) or set(data) - {"constraints", "fairness"}:
        raise InvalidDataError(
            f"{path}: expected a list of rules or {{'constraints': [...], 'fairness': {{...}}}}"
        )
    return parse_rules(data.get("constraints") or []), data.get("fairness")


# ====================================================================== chunked sources
def _plain_type(t: pa.DataType) -> pa.DataType:
    """Dictionary types as their value type: pandas would give each chunk its own categories."""
    return t.value_type if pa.types.is_dictionary(t) else t


class TableSource:
    """A table read in chunks of pandas rows (see :func:`open_table`).

    Attributes:
        columns: Column names, in order.
        frame: The DataFrame when the input was one (in memory), else None.
    """

    def __init__(self, frame: pd.DataFrame | None = None, dataset=None, columns=None) -> None:
        self.frame = frame
        self.dataset = dataset
        self.selected = list(columns) if columns is not None else None
        if frame is not None:
            self.columns = [c for c in frame.columns if self.selected is None or c in columns]
        else:
            names = dataset.schema.names
            self.columns = [c for c in names if self.selected is None or c in columns]
            plain = [pa.field(f.name, _plain_type(f.type)) for f in dataset.schema]
            self.schema = pa.schema([f for f in plain if f.name in self.columns])

    @property
    def in_memory(self) -> bool:
        return self.frame is not None

    def select(self, columns: list[str]) -> TableSource:
        """The same table restricted to ``columns`` (e.g. without the CLI's ``--drop``)."""
        if self.frame is not None:
            return TableSource(self.frame[list(columns)])
        return TableSource(dataset=self.dataset, columns=columns)

    def frames(self, rows: int):
        """Yields DataFrame chunks of at most ``rows`` rows, in table order, with a RangeIndex
        continuing across chunks."""
        if self.frame is not None:
            for start in range(0, len(self.frame), rows):
                yield self.frame.iloc[start : start + rows]
            return
        start = 0
        # no read-ahead: pyarrow's default decodes up to 4 files and 16 batches ahead, memory
        # that grows with the files' row groups, outside the budget
        batches = iter(
            self.dataset.to_batches(
                columns=self.columns, batch_size=rows, batch_readahead=1, fragment_readahead=1
            )
        )
        while True:
            try:
                batch = next(batches, None)
            except pa.ArrowException as e:  # e.g. a CSV value that does not fit its column type
                message = " ".join(str(e).split())
                raise InvalidDataError(f"cannot read the table: {message}") from None
            if batch is None:
                pa.default_memory_pool().release_unused()  # give decoded pages back
                return
            if batch.num_rows:
                frame = batch.cast(self.schema).to_pandas()
                frame.index = pd.RangeIndex(start, start + len(frame))
                start += len(frame)
                yield frame

    def head(self, rows: int) -> pd.DataFrame:
        """The first ``rows`` rows (schema inference, text detection)."""
        if self.frame is not None:
            return self.frame.iloc[:rows]
        return next(self.frames(rows), self.schema.empty_table().to_pandas())

    def count_rows(self) -> int:
        if self.frame is not None:
            return len(self.frame)
        return int(self.dataset.count_rows())


def _csv_format(paths: list[Path], sep: str | None, encoding: str | None):
    """``pyarrow.dataset`` CSV format with the sniffed separator and encoding; dates and
    timestamps stay strings (as :func:`read_table` reads them)."""
    import pyarrow.csv as pa_csv
    import pyarrow.dataset as pa_ds

    sep, encoding = _csv_options(sep, encoding)
    sep, encoding = sniff_csv(paths[0], sep, encoding)
    read = pa_csv.ReadOptions(encoding=encoding)
    parse = pa_csv.ParseOptions(delimiter=sep)
    fmt = pa_ds.CsvFileFormat(read_options=read, parse_options=parse)
    schema = pa_ds.dataset([str(p) for p in paths], format=fmt).schema
    as_text = {
        f.name: pa.string()
        for f in schema
        if pa.types.is_temporal(f.type) and not pa.types.is_duration(f.type)
    }
    if as_text:
        convert = pa_csv.ConvertOptions(column_types=as_text)
        fmt = pa_ds.CsvFileFormat(read_options=read, parse_options=parse, convert_options=convert)
    return fmt


def open_table(source, sep: str | None = None, encoding: str | None = None) -> TableSource:
    """Opens a fit input as a :class:`TableSource` (nothing is read yet beyond file footers).

    Args:
        source: A ``pandas.DataFrame`` (or an opened :class:`TableSource`); a path (``str`` or ``Path``) to a ``.parquet`` / ``.pq``
            or ``.csv`` file, or to a directory of such files (read as one table, in file name
            order); a ``pyarrow.Table``; or a ``pyarrow.dataset.Dataset``.
        sep, encoding: CSV separator and encoding (sniffed when None; see :func:`sniff_csv`).

    Returns:
        The source.

    Raises:
        InvalidDataError: A missing path, an unknown suffix, an empty directory, an unreadable
            file, or an input of another type.
    """
    if isinstance(source, TableSource):
        return source
    if isinstance(source, pd.DataFrame):
        return TableSource(source)
    # Arrow's dataset readers (and its cloud file systems, about 6 MB) load only for the inputs
    # read through them, not for a DataFrame
    import pyarrow.dataset as pa_ds

    if isinstance(source, pa.Table):
        return TableSource(dataset=pa_ds.dataset(source))
    if isinstance(source, pa_ds.Dataset):
        return TableSource(dataset=source)
    if not isinstance(source, str | Path):
        raise InvalidDataError(
            "fit takes a pandas DataFrame, a path to a Parquet or CSV file or to a directory of "
            f"them, a pyarrow.Table or a pyarrow.dataset.Dataset; got {type(source).__name__}"
        )
    path = Path(source)
    if not path.exists():
        raise InvalidDataError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        files = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES]
        if not files:
            raise InvalidDataError(f"directory {path} holds no .parquet or .csv file")
        kinds = {p.suffix.lower() == ".csv" for p in files}
        if len(kinds) > 1:
            raise InvalidDataError(f"directory {path} mixes CSV and Parquet files; use one kind")
    elif path.suffix.lower() in TABLE_SUFFIXES:
        files = [path]
    else:
        raise InvalidDataError(f"{path}: use a .csv or .parquet file, or a directory of them")
    try:
        if files[0].suffix.lower() == ".csv":
            fmt = _csv_format(files, sep, encoding)
        else:
            fmt = "parquet"
        return TableSource(dataset=pa_ds.dataset([str(p) for p in files], format=fmt))
    except (OSError, pa.ArrowException) as e:
        message = " ".join(str(e).split())
        raise InvalidDataError(f"cannot read {path}: {message}") from None
