"""Free-text columns inside :class:`tabargn.TabularARGN` (the glue to :mod:`llm_text`).

Text columns are left out of the ARGN network. After the network is trained, one
:class:`llm_text.TextColumnModel` per text column learns ``P(text | the row's tabular
columns)``; ``sample`` and ``impute`` first complete the tabular columns and then generate each
text conditioned on its (synthetic or observed) row.

A column is text when ``encoding_types`` says ``"text"``, or, when it names no kind for the
column, when :func:`llm_text._text.is_text_column` recognises free text in a string column
(mean word count >= 3 and at least 30 % distinct values). ``encoding_types={"col":
"categorical"}`` keeps a column categorical.

Seeds: the text model of the i-th text column is trained with a seed derived from the
estimator's seed, and every ``sample`` / ``impute`` call derives the text seeds from the
estimator's sampling stream, so one ``random_state`` covers the whole table and a saved model
reproduces its draws after loading.

Files: ``save`` writes each text model into ``<model dir>/text/<k>/`` (``config.json``,
``card.json`` and, for the offline text generator, ``model.safetensors`` and ``tokenizer.json``; no
pickle). ``config.json`` of the model directory maps column names to these folders.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError, ModelFileError
from tabargn.schema import ColumnSpec, restore_dtype

__all__ = [
    "TEXT_DIR",
    "detect_text_columns",
    "text_seed",
    "validate_text_settings",
    "fit_text_models",
    "fill_text_columns",
    "save_text_models",
    "load_text_models",
]

TEXT_DIR = "text"
_MARKER = ".tabargn-text"
_CONTEXT_KINDS = ("categorical", "numeric", "datetime")


def detect_text_columns(
    df: pd.DataFrame, specs: list[ColumnSpec], encoding_types: dict | None
) -> list[ColumnSpec]:
    """Marks inferred-categorical string columns that hold free text as kind ``"text"``.

    Columns named in ``encoding_types`` keep the kind given there.
    """
    from llm_text._text import is_text_column

    explicit = set(encoding_types or {})
    for spec in specs:
        if spec.kind == "categorical" and spec.name not in explicit:
            if is_text_column(df[spec.name]):
                spec.kind = "text"
    return specs


def text_seed(*keys: int) -> int:
    """A seed in ``[0, 2**31 - 1)`` derived from integer keys (``SeedSequence``)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint32)
    return int(state[0] % (2**31 - 1))


def context_columns(specs: list[ColumnSpec]) -> list[str]:
    """The tabular columns a text model is conditioned on (every modelled column)."""
    return [s.name for s in specs if s.kind in _CONTEXT_KINDS]


def _make_model(
    backend, options: dict | None, column: str, seed: int, verbose: int, device: str = "cpu"
):
    from llm_text import ChatClient, OfflineTextGenerator, PromptedTextGenerator, TextColumnModel

    options = dict(options or {})
    kwargs = {k: options.pop(k) for k in _MODEL_KWARGS if k in options}
    if isinstance(backend, str):
        if backend != "offline":
            raise InvalidDataError(
                f"text_backend={backend!r}; use 'offline' or a chat client such as "
                "llm_text.OpenAIChatClient(model, base_url=...)"
            )
        options.setdefault("device", device)  # the offline model follows the estimator
    elif isinstance(backend, OfflineTextGenerator):
        # one fresh generator per column with the same settings (a generator holds fitted state)
        options = {**backend.params, **options}
        backend = "offline"
    elif isinstance(backend, PromptedTextGenerator):
        raise InvalidDataError(
            "text_backend must be 'offline' or a chat client (OpenAIChatClient, "
            "HuggingFaceChatClient); pass PromptedTextGenerator settings in text_options"
        )
    elif not isinstance(backend, ChatClient):
        raise InvalidDataError(
            f"text_backend must be 'offline' or a llm_text chat client, got "
            f"{type(backend).__name__}"
        )
    return TextColumnModel(
        backend,
        random_state=seed,
        verbose=verbose,
        column_name=column,
        **kwargs,
        **options,
    )


# TextColumnModel keyword arguments (the rest of text_options goes to the text generator)
_MODEL_KWARGS = (
    "max_length",
    "curation",
    "curation_rounds",
    "curation_fallback",
    "card_path",
    "memorization_guard",
)


def validate_text_settings(backend, options: dict | None) -> None:
    """Raises :class:`InvalidDataError` for a bad ``text_backend`` / ``text_options`` (cheap:
    builds an unfitted model), so a mistake shows before the network is trained."""
    if options is not None and not isinstance(options, dict):
        raise InvalidDataError(f"text_options must be a dict or None, got {type(options).__name__}")
    _make_model(backend, options, "text", 0, 0)


def fit_text_models(
    df: pd.DataFrame,
    specs: list[ColumnSpec],
    *,
    backend,
    options: dict | None,
    seed: int,
    verbose: int = 0,
    device: str = "cpu",
    codec=None,
    context: pd.DataFrame | None = None,
) -> dict:
    """Fits one :class:`llm_text.TextColumnModel` per text column, conditioned on the row.

    The text models see the value-protected row (``codec.protected_frame``): rare categories
    are missing, numbers and datetimes clipped as in the network, so nothing a text model stores
    about its context (e.g. the top categories of ``llm_text``'s context encoder) names a value
    value protection removed.

    Args:
        df: The training table.
        specs: Fitted column specs (kinds decide text and context columns).
        backend: The estimator's ``text_backend``: ``"offline"``, an ``OfflineTextGenerator``
            (its settings are reused per column) or a chat client (``llm_text.ChatClient``).
        options: ``TextColumnModel`` keywords (``max_length``, ``curation``, ...) and text
            generator options (offline: ``max_epochs``, ``hidden_dim``, ...).
        seed: The estimator's seed.
        verbose: 0 silent, 1 progress.
        device: Where the offline text model trains and generates (the estimator's
            ``device``; ``text_options={"device": ...}`` overrides it).
        codec: The fitted :class:`tabargn.codec.TableCodec` (None: the raw rows).
        context: The frame the texts are conditioned on, aligned with ``df`` (default: the
            modelled columns of ``df``; sequential models pass the history context).

    Returns:
        Column name -> fitted model, in the table's column order. Empty when no column is text.
    """
    models = {}
    text = [s for s in specs if s.kind == "text"]
    if not text:
        return models
    if context is None:
        ctx = df[context_columns(specs)].reset_index(drop=True)
    else:
        ctx = context.reset_index(drop=True)
    if codec is not None:
        ctx = codec.protected_frame(ctx)
    for k, spec in enumerate(text):
        model = _make_model(
            backend, options, spec.name, text_seed(seed, 2, k), int(verbose), device
        )
        values = df[spec.name].reset_index(drop=True)
        if values.notna().sum() == 0:
            raise InvalidDataError(
                f"text column {spec.name!r} has no text; drop it or type it another kind"
            )
        models[spec.name] = model.fit(values, ctx)
    return models


def fill_text_columns(
    out: pd.DataFrame,
    given: pd.DataFrame | None,
    models: dict,
    specs: list[ColumnSpec],
    seed: int,
    *,
    impute: bool = False,
    context: pd.DataFrame | None = None,
    match_missing_rate: bool = False,
) -> pd.DataFrame:
    """Generates the text columns of decoded rows, in place of the codec's empty columns.

    Args:
        out: Decoded rows (tabular columns complete), RangeIndex.
        given: Conditions / the table being imputed: its non-missing text cells are copied
            verbatim; the other rows get a text generated from their row.
        models: Column -> fitted ``TextColumnModel``.
        specs: Fitted column specs (for the text columns' dtypes).
        seed: Seed of this call (drawn from the estimator's sampling stream).
        impute: Rows whose text is missing always get a text (no missing draws).
        context: The frame the texts are conditioned on, aligned with ``out`` (default: the
            modelled columns of ``out``).
        match_missing_rate: The rows were drawn without conditions: their texts are missing at
            the training rate on average (``TextColumnModel.generate``'s option).

    Returns:
        ``out`` with its text columns filled (same object).
    """
    by_name = {s.name: s for s in specs}
    ctx_cols = context_columns(specs)
    n = len(out)
    for k, (name, model) in enumerate(models.items()):
        values = pd.Series([np.nan] * n, dtype=object)
        keep = np.zeros(n, dtype=bool)
        if given is not None and name in given.columns:
            col = given[name].reset_index(drop=True)
            keep = col.notna().to_numpy()
            values[keep] = col[keep].astype(object)
        todo = np.flatnonzero(~keep)
        if len(todo):
            source = out[ctx_cols] if context is None else context.reset_index(drop=True)
            ctx = source.iloc[todo].reset_index(drop=True)
            texts = model.generate(
                ctx,
                random_state=text_seed(seed, k),
                allow_missing=not impute,
                match_missing_rate=match_missing_rate,
            )
            values.iloc[todo] = texts.to_numpy(dtype=object)
        out[name] = restore_dtype(values, by_name[name]).array  # keeps extension dtypes
    return out


def save_text_models(models: dict, path: Path) -> dict:
    """Writes each text model to ``path/text/<k>/`` and returns ``{column: "text/<k>"}``.

    The models are written to a fresh folder inside ``path`` first, then moved to ``text/``. An
    existing ``text/`` is replaced only when an earlier save wrote it (it holds the marker file
    ``.tabargn-text``); anything else there is left alone.

    Raises:
        ModelFileError: ``path/text`` exists but was not written by tabargn (or is a link).
    """
    path = Path(path)
    root = path / TEXT_DIR
    ours = root.is_dir() and not root.is_symlink() and (root / _MARKER).is_file()
    if (root.exists() or root.is_symlink()) and not ours:
        raise ModelFileError(
            f"{root} exists and was not written by tabargn; move it away or save elsewhere"
        )
    fresh = None
    folders = {}
    if models:
        fresh = Path(tempfile.mkdtemp(prefix=".text-new-", dir=path))
        try:
            for k, (name, model) in enumerate(models.items()):
                model.save(fresh / str(k))
                folders[name] = f"{TEXT_DIR}/{k}"
            (fresh / _MARKER).write_text("written by tabargn; replaced by the next save\n")
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
    if ours:  # an earlier save of this directory: swap it out, then remove it
        old = Path(tempfile.mkdtemp(prefix=".text-old-", dir=path))
        root.rename(old / TEXT_DIR)
        shutil.rmtree(old)
    if fresh is not None:
        fresh.rename(root)
    return folders


def load_text_models(
    folders: dict | None, path: Path, *, chat_client=None, root: Path | None = None
) -> dict:
    """Reads the text models listed in the model's ``config.json``.

    The listed folders are untrusted: each must resolve inside the model directory ``root``
    (default ``path``); the saved card path and chat client settings are not used (see
    :meth:`llm_text.TextColumnModel.load`).

    Args:
        folders: ``{column: folder relative to path}`` from ``config.json``.
        path: The (flat) model directory.
        chat_client: For prompted text models, the chat client to generate with (None: they
            load, but raise :class:`~tabargn.errors.LLMBackendError` when generating).
        root: The top model directory every folder must stay inside.

    Raises:
        ModelFileError: A text model folder is missing, corrupt or outside the directory.
    """
    from llm_text import TextColumnModel

    if not folders:
        return {}
    if not isinstance(folders, dict):
        raise ModelFileError(f"config.json in {path} has a corrupt 'text_models' entry")
    top = Path(root if root is not None else path).resolve()
    models = {}
    for name, rel in folders.items():
        folder = (Path(path) / str(rel)).resolve()
        if not isinstance(rel, str) or folder == top or not folder.is_relative_to(top):
            raise ModelFileError(
                f"the text model of column {name!r} points outside the model directory "
                f"({rel!r}); a model folder may only name folders inside itself"
            )
        if not folder.is_dir():
            raise ModelFileError(
                f"the text model of column {name!r} is missing: {folder} does not exist; "
                "copy the whole model directory (with its text/ folder) or fit again"
            )
        try:
            models[name] = TextColumnModel.load(folder, chat_client=chat_client)
        except ModelFileError as e:
            raise ModelFileError(f"the text model of column {name!r} is corrupt: {e}") from None
        except Exception as e:  # noqa: BLE001 - any failure to read a model file
            raise ModelFileError(
                f"the text model of column {name!r} in {folder} is corrupt: {e!r}"
            ) from None
    return models


def json_safe_params(params: dict) -> dict:
    """Estimator parameters with a chat client or text generator (or other objects) replaced by
    a label."""

    def safe(value):
        if value is None or isinstance(value, str | bool | int | float):
            return value
        if isinstance(value, dict):
            return {str(k): safe(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [safe(v) for v in value]
        if hasattr(value, "to_dict"):
            return value.to_dict()
        kind = getattr(value, "kind", None)
        return f"<{kind or type(value).__name__}>"

    return {k: safe(v) for k, v in params.items()}
