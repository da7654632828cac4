"""``TextColumnModel``: one free-text column, generated row by row from the row's other columns.

This is the interface the tabular model calls::

    m = TextColumnModel(backend="offline", max_length=128, random_state=0)
    m.fit(texts, context)              # texts: Series; context: the other columns of the same rows
    synthetic_texts = m.generate(synthetic_context, random_state=1)
    m.save("dir"); m = TextColumnModel.load("dir")
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn.encoding.value_protection import draw_k
from tabargn.errors import InvalidDataError, ModelFileError, NotFittedError

from ._text import clean_series, clean_text
from .card import CARD_VERSION, code_version, fingerprint, now, write_card
from .chat import Budget, ChatClient
from .curation import Curation
from .memorization import MemorizationGuard
from .offline import OfflineTextGenerator
from .prompted import PromptedTextGenerator

__all__ = ["TextColumnModel", "FORMAT_VERSION"]

FORMAT_VERSION = 1
GUARD_FILE = "guard.safetensors"


class TextColumnModel:
    """Generates one free-text column conditioned on the other (tabular) columns of each row.

    Backends (what writes the texts), one interface; the model holds a *text generator*
    (:attr:`text_generator`, with ``fit`` / ``generate``):

    * ``"offline"`` (default): :class:`~llm_text.offline.OfflineTextGenerator`, a small LSTM
      language model trained from scratch on the column, with a BPE tokenizer trained on the
      column and a context vector from the row's encoded tabular columns. No downloads; CPU.
      ``**options`` go to :class:`~llm_text.offline.OfflineTextGenerator` (``max_epochs``,
      ``hidden_dim``, ...).
    * A text generator instance, already configured:
      :class:`~llm_text.offline.OfflineTextGenerator` or
      :class:`~llm_text.prompted.PromptedTextGenerator`.
    * A chat client (:class:`~llm_text.openai_client.OpenAIChatClient`,
      :class:`~llm_text.hf_client.HuggingFaceChatClient` or another
      :class:`~llm_text.chat.ChatClient`): rows are written into few-shot prompts by a
      :class:`~llm_text.prompted.PromptedTextGenerator`, which ``**options`` go to (``n_shots``,
      ``example_selection``, ``one_example``, ``personas``, ``refine``, ``budget``, ...).

    Missing texts: the offline model learns when a text is missing (conditioned on the row); the
    prompted generator outputs NaN at the training missing rate, without a request.

    Args:
        backend: ``"offline"``, a text generator or a chat client (see above).
        max_length: Maximum tokens of a text, or ``None`` (default): offline, chosen from the
            data (the 0.99 quantile of the training texts' token lengths, within [16, 512];
            :func:`~llm_text.offline.choose_max_length`); prompted, 128. Training texts are
            truncated to it (offline: tokens of the trained tokenizer; prompted: examples cut to
            ``4 * max_length`` characters) and generation stops there (prompted:
            ``max_tokens``). The value used is :attr:`fitted_max_length`.
        random_state: Seed of training and the default seed of :meth:`generate`; ``None`` draws
            fresh seeds (recorded in the data card).
        verbose: 0 silent (default), 1 progress.
        curation: A :class:`~llm_text.curation.Curation` (dedup, length, empty and consistency
            filters) applied to generated texts, or ``None`` (default).
        curation_rounds: Rounds of regenerating the rows curation rejected (default 2).
        curation_fallback: What a row still rejected after the rounds gets: ``"last"`` (its last
            candidate, counted as ``unresolved``; default) or ``"missing"`` (NaN).
        card_path: File to write the data card JSON to after every fit and generate (default
            ``None``: kept in :attr:`card_` and written by :meth:`save`).
        column_name: Name of the text column (prompts, output Series name).
        memorization_guard: Refuse copies of rare training texts (default ``True``): a text
            held by fewer than ``k`` training rows (``k`` in 5..7, as tabargn's value
            protection) never comes out verbatim or as a near copy (MinHash similarity >= 0.7);
            offending texts are regenerated (3 rounds), then become missing. The model stores
            salted hashes, never the texts (:mod:`llm_text.memorization`).
        **options: Text generator options (see above).

    Attributes:
        text_generator: The :class:`~llm_text.offline.OfflineTextGenerator` or
            :class:`~llm_text.prompted.PromptedTextGenerator` that writes the texts.
        card_: The data card of the last run (dict).
        last_usage_: Per-row usage of the last :meth:`generate` (DataFrame indexed like the
            context: ``prompt_tokens``, ``completion_tokens``, ``cost``, ``cached``,
            ``requests``; offline: ``generated_tokens`` only in the card).

    Raises:
        InvalidDataError: For an unknown backend or options it does not accept.
    """

    def __init__(
        self,
        backend: str | OfflineTextGenerator | ChatClient | PromptedTextGenerator = "offline",
        *,
        max_length: int | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        curation: Curation | None = None,
        curation_rounds: int = 2,
        curation_fallback: str = "last",
        card_path: str | Path | None = None,
        column_name: str | None = None,
        memorization_guard: bool = True,
        **options,
    ) -> None:
        if max_length is not None and int(max_length) < 1:
            raise InvalidDataError("max_length must be >= 1 or None")
        if curation_fallback not in ("last", "missing"):
            raise InvalidDataError("curation_fallback must be 'last' or 'missing'")
        if curation is not None and not isinstance(curation, Curation):
            raise InvalidDataError("curation must be a llm_text.Curation or None")
        self.max_length = None if max_length is None else int(max_length)
        self.random_state = random_state
        self.verbose = int(verbose)
        self.curation = curation
        self.curation_rounds = int(curation_rounds)
        self.curation_fallback = curation_fallback
        self.card_path = None if card_path is None else str(card_path)
        self.column_name = column_name
        self.memorization_guard = bool(memorization_guard)
        self.guard_: MemorizationGuard | None = None
        self.options = dict(options)
        try:
            if isinstance(backend, str):
                if backend != "offline":
                    raise InvalidDataError(
                        f"unknown backend {backend!r}: use 'offline', a text generator or a "
                        "chat client"
                    )
                self.text_generator = OfflineTextGenerator(**options)
            elif isinstance(backend, OfflineTextGenerator | PromptedTextGenerator):
                if options:
                    raise InvalidDataError(
                        f"options {sorted(options)} cannot be combined with a configured "
                        f"{type(backend).__name__}; set them on it"
                    )
                self.text_generator = backend
            elif isinstance(backend, ChatClient):
                options.setdefault("column_name", column_name or "text")
                self.text_generator = PromptedTextGenerator(backend, **options)
            else:
                raise InvalidDataError(f"unsupported backend {type(backend).__name__}")
        except TypeError as exc:
            raise InvalidDataError(f"invalid backend option: {exc}") from exc
        self.card_: dict = {}
        self.last_usage_: pd.DataFrame | None = None
        self._fit_card: dict | None = None
        self._fitted = False

    # ------------------------------------------------------------------ helpers
    @property
    def backend_kind(self) -> str:
        """``"offline"`` or the chat client's kind (``"openai"``, ``"huggingface"``)."""
        chat = self._chat_client
        return "offline" if chat is None else chat.kind

    @property
    def _chat_client(self) -> ChatClient | None:
        """The chat client of a prompted text generator; None for the offline one."""
        if isinstance(self.text_generator, OfflineTextGenerator):
            return None
        return self.text_generator.chat_client

    @property
    def fitted_max_length(self) -> int | None:
        """The token limit in use: ``max_length``, or the one the generator chose in
        :meth:`fit` when it is ``None`` (``None`` before fitting)."""
        return self.max_length or getattr(self.text_generator, "max_length", None)

    def _model_name(self) -> str:
        chat = self._chat_client
        return "offline-lstm" if chat is None else chat.model

    @staticmethod
    def _check_context(context, n: int | None, name: str = "context") -> pd.DataFrame:
        if context is None:
            return pd.DataFrame(index=pd.RangeIndex(n or 0))
        if not isinstance(context, pd.DataFrame):
            raise InvalidDataError(
                f"{name} must be a pandas DataFrame, got {type(context).__name__}"
            )
        if context.columns.duplicated().any():
            raise InvalidDataError(f"{name} has duplicate column names")
        if n is not None and len(context) != n:
            raise InvalidDataError(f"{name} has {len(context)} rows but there are {n} texts")
        out = context.reset_index(drop=True)
        out.columns = [str(c) for c in out.columns]
        return out

    def _seed(self, random_state) -> int:
        if random_state is not None:
            return int(random_state)
        if self.random_state is not None:
            return int(self.random_state)
        return int(np.random.SeedSequence().entropy % (2**31 - 1))

    def _write_card(self) -> None:
        path = self.card_path
        if path is None and self._chat_client is not None:
            cache = self._chat_client.cache_path
            if cache and cache != ":memory:":
                path = str(cache) + ".card.json"
        if path is not None:
            write_card(self.card_, path)

    # ------------------------------------------------------------------ fit
    def fit(self, texts: pd.Series, context: pd.DataFrame | None = None) -> TextColumnModel:
        """Learn the text column.

        Args:
            texts: The text column ``[n_rows]`` (``str``, bytes or NaN; other scalars are
                converted with ``str``). Texts are cleaned first (non-UTF-8 bytes and control
                characters removed, blank strings treated as missing).
            context: The other (tabular) columns of the same rows ``[n_rows, n_columns]``, any
                dtypes, NaN allowed; ``None`` for an unconditioned model. Rows are matched by
                position.

        Returns:
            ``self``.

        Raises:
            InvalidDataError: If the column is empty or has no non-missing text, or ``context``
                does not have one row per text.
            LLMBackendError: When a chat client fails during fitting (``personas="auto"``).
        """
        if texts is None:
            raise InvalidDataError("texts is None")
        texts = clean_series(texts).reset_index(drop=True)
        if len(texts) == 0:
            raise InvalidDataError("the text column is empty (0 rows)")
        if texts.notna().sum() == 0:
            raise InvalidDataError(
                "the text column has no non-missing text (all values are NaN or blank)"
            )
        if self.column_name is None and getattr(texts, "name", None) is not None:
            self.column_name = str(texts.name)
        ctx = self._check_context(context, len(texts))
        seed = self._seed(None)
        t0 = time.perf_counter()
        self.text_generator.fit(
            texts, ctx, max_length=self.max_length, random_state=seed, verbose=self.verbose
        )
        if self.curation is not None:
            self.curation.fit(texts, ctx, random_state=seed)
        self.guard_ = None
        if self.memorization_guard:
            k = draw_k(np.random.default_rng([seed, 5]))
            self.guard_ = MemorizationGuard(k).fit(texts, np.random.default_rng([seed, 6]))
        fit_seconds = time.perf_counter() - t0
        self._fitted = True
        self._fit_card = {
            "created": now(),
            "rows": len(texts),
            "missing_texts": int(texts.isna().sum()),
            "context_columns": list(ctx.columns),
            "seed": seed,
            "seconds": round(fit_seconds, 3),
            "training_fingerprint": fingerprint(texts, ctx),
            "info": getattr(self.text_generator, "fit_info", {}),
        }
        if self.curation is not None and self.curation.filter_ is not None:
            f = self.curation.filter_
            self._fit_card["consistency_filter"] = {
                "column": f.column,
                "usable": f.usable_,
                "holdout_accuracy": f.accuracy_,
                "majority_baseline": f.baseline_,
            }
        if self._chat_client is not None:
            self._fit_card["backend_usage"] = self._chat_client.usage_dict()
        self.card_ = self._base_card() | {"run": "fit"}
        self._write_card()
        return self

    def _base_card(self) -> dict:
        settings = {
            "max_length": self.max_length,
            "random_state": self.random_state,
            "curation": None if self.curation is None else self.curation.to_dict(),
            "curation_rounds": self.curation_rounds,
            "curation_fallback": self.curation_fallback,
        }
        if self._chat_client is None:
            settings["backend_params"] = self.text_generator.params
        else:
            settings["generator_options"] = self.text_generator.options
            settings["backend_settings"] = self._chat_client.get_config()
        return {
            "card_version": CARD_VERSION,
            "backend": self.backend_kind,
            "model": self._model_name(),
            "column": self.column_name,
            "settings": settings,
            "fit": self._fit_card,
            "code_version": code_version(),
        }

    # ------------------------------------------------------------- generate
    def _raw_generate(self, ctx: pd.DataFrame, seed: int, allow_missing: bool, bias=None):
        extra = {} if bias is None else {"missing_bias": bias}  # offline only
        return self.text_generator.generate(
            ctx, max_length=self.max_length, random_state=seed, allow_missing=allow_missing, **extra
        )

    def generate(
        self,
        context: pd.DataFrame | None = None,
        *,
        random_state: int | None = None,
        n: int | None = None,
        allow_missing: bool = True,
        match_missing_rate: bool = False,
    ) -> pd.Series:
        """Generate one text per context row.

        Args:
            context: Synthetic rows ``[n_rows, ...]`` with the fitted context columns (missing
                columns count as NULL, extra ones are ignored). ``None`` with ``n`` for an
                unconditioned model.
            random_state: Seed; default: the model's ``random_state``. The same seed, model and
                context give the same texts (chat clients: with a deterministic server or
                the cache).
            n: Number of rows when ``context`` is ``None``.
            allow_missing: ``False`` gives every row a text (imputation of missing cells);
                default ``True``: rows are missing at the learned (offline: row-conditioned)
                rate.
            match_missing_rate: For rows drawn without conditions: the offline model's missing
                rate over these rows is set to the training rate (its head's bias shifted,
                :meth:`~llm_text.offline.OfflineTextGenerator.matched_missing_bias`); the
                prompted backends draw at the training rate already. Default ``False``.

        Returns:
            ``object`` Series of ``str`` or NaN, with the context's index.

        Raises:
            NotFittedError: Before :meth:`fit`.
            LLMBackendError: When a chat client fails after its retries; answers received
                before the failure are in its cache, so calling again resumes.
        """
        if not self._fitted:
            raise NotFittedError("TextColumnModel is not fitted: call fit() first")
        index = context.index if isinstance(context, pd.DataFrame) else pd.RangeIndex(n or 0)
        ctx = self._check_context(context, None if context is not None else int(n or 0))
        seed = self._seed(random_state)
        usage_before = {} if self._chat_client is None else self._chat_client.usage_dict()
        t0 = time.perf_counter()
        matched = getattr(self.text_generator, "matched_missing_bias", None)
        bias = matched(ctx) if match_missing_rate and allow_missing and matched else None
        texts, stats = self._raw_generate(ctx, seed, allow_missing, bias) if len(ctx) else ([], {})
        texts = list(texts)
        usage = stats.get("row_usage")
        generated_tokens = int(stats.get("generated_tokens", 0))
        intended_missing = np.array([not isinstance(t, str) for t in texts], dtype=bool)

        curation_log = []
        rejected = np.zeros(len(texts), dtype=bool)
        regenerated = 0
        unresolved = 0
        if self.curation is not None and len(texts):
            result = self.curation.apply(texts, ctx)
            curation_log.append(result.counts)
            for rnd in range(1, self.curation_rounds + 1):
                bad = np.flatnonzero(~result.keep)
                if len(bad) == 0:
                    break
                sub_texts, sub_stats = self._raw_generate(
                    ctx.iloc[bad].reset_index(drop=True), seed * 7919 + rnd, allow_missing, bias
                )
                regenerated += len(bad)
                generated_tokens += int(sub_stats.get("generated_tokens", 0))
                if usage is not None and sub_stats.get("row_usage") is not None:
                    sub_u = sub_stats["row_usage"]
                    for col in ("prompt_tokens", "completion_tokens", "cost", "requests"):
                        usage.loc[bad, col] = usage.loc[bad, col].to_numpy() + sub_u[col].to_numpy()
                for j, i in enumerate(bad):
                    texts[i] = sub_texts[j]
                kept_first = np.concatenate([np.flatnonzero(result.keep), bad])
                result = self.curation.apply(texts, ctx, priority=kept_first)
                curation_log.append(result.counts)
            bad = np.flatnonzero(~result.keep)
            unresolved = len(bad)
            rejected[bad] = True
            if self.curation_fallback == "missing":
                for i in bad:
                    texts[i] = np.nan
        texts = [clean_text(t) for t in texts]
        guard_counts = None
        if self.guard_ is not None and len(texts):

            def again(rows: np.ndarray, rnd: int) -> list:
                sub = ctx.iloc[rows].reset_index(drop=True)
                new, _ = self._raw_generate(sub, seed * 104_729 + rnd, allow_missing, bias)
                return [clean_text(t) for t in new]

            texts, guard_counts = self.guard_.apply(texts, again)
        out = pd.Series(texts, index=index, dtype=object, name=self.column_name)
        seconds = time.perf_counter() - t0

        if usage is not None:
            usage.index = index
        self.last_usage_ = usage
        self.card_ = self._generate_card(out, ctx, seed, seconds, stats, usage, usage_before,
                                         generated_tokens, intended_missing, curation_log,
                                         regenerated, unresolved, rejected)  # fmt: skip
        self.card_["memorization_guard"] = guard_counts
        self._write_card()
        return out

    def _generate_card(self, out, ctx, seed, seconds, stats, usage, usage_before, generated_tokens,
                       intended_missing, curation_log, regenerated, unresolved,
                       rejected) -> dict:  # fmt: skip
        kept_mask = out.notna().to_numpy()
        kept = int((kept_mask & ~rejected).sum())  # texts that passed curation (if any)
        card = self._base_card() | {
            "run": "generate",
            "created": now(),
            "seed": seed,
            "seconds": round(seconds, 3),
        }
        counts = {
            "rows": len(out),
            "texts": int(kept_mask.sum()),
            "missing": int((~kept_mask).sum()),
            "missing_intended": int(stats.get("missing_drawn", intended_missing.sum())),
            "skipped_by_budget": int(stats.get("skipped_by_budget", 0)),
            "regenerated": regenerated,
            "unresolved": unresolved,
            "kept": kept,
        }
        if curation_log:
            counts["filtered"] = {
                k: int(sum(c.get(k, 0) for c in curation_log))
                for k in ("empty", "length", "minhash", "embedding", "consistency")
            }
            counts["curation_rounds"] = curation_log
        card["counts"] = counts
        if usage is not None:
            p_tok = int(usage["prompt_tokens"].sum())
            c_tok = int(usage["completion_tokens"].sum())
            cost = float(usage["cost"].sum())
            after = self._chat_client.usage_dict()
            card["backend_usage"] = {
                k: after.get(k, 0) - usage_before.get(k, 0)
                for k in after
                if isinstance(after.get(k, 0), int | float)
            }
            card["prompts"] = {
                "first_prompt": stats.get("first_prompt"),
                "personas": stats.get("personas"),
            }
            budget = self.text_generator.budget
            card["budget"] = None if budget is None else budget.to_dict()
        else:
            p_tok, c_tok, cost = 0, generated_tokens, 0.0
        card["tokens"] = {"prompt": p_tok, "completion": c_tok, "total": p_tok + c_tok}
        card["cost"] = {
            "total": cost,
            "per_kept_row": cost / kept if kept else None,
            "tokens_per_kept_row": (p_tok + c_tok) / kept if kept else None,
        }
        card["fingerprints"] = {
            "training_inputs": (self._fit_card or {}).get("training_fingerprint"),
            "generation_context": fingerprint(ctx),
            "output": fingerprint(out.reset_index(drop=True)),
            "code": code_version()["llm_text_sha256"],
        }
        return card

    # ------------------------------------------------------------ save/load
    def save(self, directory: str | Path) -> None:
        """Write the model to ``directory``: ``config.json``, ``card.json`` and, for the offline
        generator, ``model.safetensors`` and ``tokenizer.json``. No pickle.

        Prompted models store the chat client's settings (never the API key) and the personas;
        the example pool of real rows only with the generator option ``save_examples=True``.
        :meth:`load` never re-creates the client from the saved settings: pass ``chat_client``.
        The consistency classifier of ``curation`` is not stored: it is retrained when
        :meth:`fit` runs, and inactive after :meth:`load`.

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        if not self._fitted:
            raise NotFittedError("TextColumnModel is not fitted: call fit() first")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.text_generator.save(directory)
        config = {
            "format_version": FORMAT_VERSION,
            "code_version": code_version(),
            "backend_kind": self.backend_kind,
            "params": {
                "max_length": self.max_length,
                "random_state": self.random_state,
                "verbose": self.verbose,
                "curation": None if self.curation is None else self.curation.to_dict(),
                "curation_rounds": self.curation_rounds,
                "curation_fallback": self.curation_fallback,
                "card_path": self.card_path,
                "column_name": self.column_name,
                "memorization_guard": self.memorization_guard,
            },
            "fit_card": self._fit_card,
            "generator": self.text_generator.get_config(),
            "guard": None if self.guard_ is None else self.guard_.get_config(),
        }
        if self.guard_ is not None:
            from safetensors.numpy import save_file

            save_file(self.guard_.arrays(), str(directory / GUARD_FILE))
        (directory / "config.json").write_text(
            json.dumps(config, indent=2, default=_json_default), encoding="utf-8"
        )
        write_card(self.card_, directory / "card.json")

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        chat_client: ChatClient | None = None,
        card_path: str | Path | None = None,
    ) -> TextColumnModel:
        """Load a model written by :meth:`save` (on CPU).

        The directory is untrusted input: only its own files are read (fixed names), the saved
        ``card_path`` is dropped (a loaded model writes no card unless ``card_path`` is given),
        and the chat client settings saved with a prompted model (URL, key variable, cache
        file, model folder) are never used.

        Args:
            directory: The model directory.
            chat_client: For prompted models, the chat client to generate with. Without it the
                model loads, but generating raises :class:`~tabargn.errors.LLMBackendError`.
            card_path: Where the loaded model writes its data card (default: nowhere).

        Raises:
            ModelFileError: If the directory is missing, corrupt or of another format version.
        """
        directory = Path(directory)
        try:
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"cannot read {directory / 'config.json'}: {exc}") from exc
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{directory} has format version {config.get('format_version')}, expected {FORMAT_VERSION}"
            )
        params = dict(config["params"])
        params["card_path"] = card_path
        cur = params.pop("curation")
        gen_cfg = config["generator"]
        if gen_cfg["kind"] == "offline":
            generator = OfflineTextGenerator.load(directory, gen_cfg)
        else:
            generator = PromptedTextGenerator.load(directory, gen_cfg, chat_client=chat_client)
        model = cls(generator, curation=None if cur is None else Curation(**cur), **params)
        model._fit_card = config.get("fit_card")
        model._fitted = True
        if config.get("guard") is not None:
            from safetensors.numpy import load_file

            try:
                arrays = load_file(str(directory / GUARD_FILE))
                model.guard_ = MemorizationGuard.from_saved(config["guard"], arrays)
            except Exception as exc:  # noqa: BLE001 - any failure to read the file
                raise ModelFileError(f"cannot read {directory / GUARD_FILE}: {exc}") from exc
        card_file = directory / "card.json"
        if card_file.exists():
            try:
                model.card_ = json.loads(card_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                model.card_ = {}
        return model


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Budget):
        return obj.to_dict()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
