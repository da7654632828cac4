"""The offline text generator: a small row-conditioned language model trained from scratch.

Nothing is downloaded. :class:`OfflineTextGenerator` trains a byte-level BPE tokenizer on the
column and an LSTM language model conditioned on a context vector of the row
(:mod:`llm_text.offline_network`), trained with Lightning through the shared Trainer factory
(:mod:`llm_text.offline_training`), and samples one text per row.

Missing texts are learned, not dropped: a logistic head on the context vector predicts whether
the row's text is missing (its bias starts at the training missing rate, so the rate is right from
the first step), so missingness is conditioned on the row like everything else.

Lengths are modelled explicitly (``length_control=True``, the default): a length head predicts
the text's length bucket from the row, a target length is drawn from it and the text ends exactly
there. After training, the missing head gets a scale fitted on the validation split and a bias
matching the training missing rate, the length head a temperature fitted on the validation split
(:mod:`llm_text.offline_calibration`).

Whole texts that at least ``K_MAX`` training rows share word for word (boilerplate such as
"NO DAMAGE") are one token each (:mod:`llm_text.stock_texts`), drawn only as a one-token text.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tabargn.device import check_device, torch_device
from tabargn.errors import InvalidDataError, ModelFileError, NotFittedError

from ._text import clean_text
from .context import ContextEncoder
from .metrics import MAX_TEXTS
from .offline_calibration import (
    Calibration,
    LengthBuckets,
    calibrate,
    fit_temperature,
    match_count,
    match_rate,
    text_lengths,
)
from .offline_guidance import context_probes, fit_guidance, guidance_rows
from .offline_network import (
    EOS,
    PAD,
    ConditionalLM,
    blank_token_ids,
    choose_max_length,
    encode_texts,
    sample_tokens,
    train_tokenizer,
)
from .offline_training import OfflineTextData, train_network, training_config
from .stock_texts import StockTexts

__all__ = ["OfflineTextGenerator", "choose_max_length"]

#: Attempts at a text for a row whose sample cleaned to nothing.
BLANK_RETRIES = 10
#: Texts generated per step of the calibration searches (rows drawn again when fewer;
#: Amazon 4k distinct-2 at 2,000 texts: from 400 extrapolated 0.02 high, from 1,200 within 0.004).
CALIBRATION_TEXTS = 1200


class OfflineTextGenerator:
    """A small row-conditioned LSTM language model trained from scratch; no downloads.

    Defaults suit a few thousand texts on a CPU in minutes. For tests, use e.g.
    ``OfflineTextGenerator(embedding_dim=32, hidden_dim=64, max_epochs=1)``.

    Args:
        vocab_size: Target size of the byte-level BPE vocabulary (default 2000; smaller when the
            column has too little text to learn that many merges).
        embedding_dim: Token embedding width (default 64).
        hidden_dim: LSTM width (default 256).
        num_layers: LSTM layers (default 1).
        context_dim: Width of the row context vector (default 64).
        dropout: Dropout on LSTM inputs and outputs (default 0.1).
        context_dropout: Probability, per training cell, of hiding a context code (replacing it by
            the NULL code) so the model also learns from partial rows (default 0.1).
        row_dropout: Probability, per training row, of hiding all its context codes, so the
            model also learns the unconditioned distribution that ``guidance`` steers away from
            (default 0.1).
        max_epochs: Upper limit on epochs (default 20).
        max_time: Upper limit on training seconds, or ``None`` (default: ``max_epochs`` and
            early stopping end training, the same model on any load). A number stops training by
            the wall clock, so the model depends on the machine's load (600 s, FAA, 15,000 rows:
            11 and 12 epochs in two runs, consistency gaps 0.028 and 0.012; uncapped 14, 0.011).
        batch_size: Training batch size (default 64).
        learning_rate: AdamW learning rate (default 3e-3).
        val_fraction: Share of rows held out for early stopping (default 0.1; 0 disables early
            stopping and keeps the last epoch's weights).
        patience: Early-stopping patience in epochs (default 2).
        temperature: Sampling temperature, or ``None`` (default): fitted on the validation split
            so that the texts written for its rows have the real distinct-2, at half the corpus
            (:func:`~llm_text.offline_calibration.fit_temperature`; 1.0 without a validation
            split of at least 20 texts).
        top_p: Nucleus sampling mass (default 1.0: plain sampling, which keeps the text
            distribution calibrated; lower values favour the most common texts).
        guidance: Classifier-free guidance weight at sampling time (1.0: none; > 1 strengthens
            what the row's columns say in the text, at twice the sampling cost; see
            :func:`~llm_text.offline_network.sample_tokens`). ``None`` (default) fits it (1.0-4.0)
            so that generated texts reveal their row's categorical columns as often as real
            texts do (:mod:`llm_text.offline_guidance`; 1.5 without a validation split or a
            column the texts reveal).
        context_top_k: Categories kept per categorical context column (default 50).
        context_bins: Quantile bins per numeric context column (default 10).
        generation_batch_size: Rows sampled together (default 512).
        length_control: Model the text length explicitly (default ``True``): a length head on
            the row's context draws a target length, the LSTM reads the remaining length at every
            step and the text ends there; the missing and length heads are calibrated after
            training (validation split; the missing bias matches the training rate). ``False``: the model decides when to stop token by token, as
            before (models saved before this option load with ``False``).
        stock_texts: Whole texts held word for word by at least ``K_MAX`` training rows become
            one token each, at most this many, the most frequent first (default 256; 0: none;
            :mod:`llm_text.stock_texts`). FAA remarks, 6,000 rows: 13 stock texts, novelty gap
            to the holdout 0.051 -> 0.040, distinct-2 gap 0.031 -> 0.007.
        device: Where training and generation run (default ``"cpu"``; ``"cuda"``,
            ``"cuda:N"``, ``"mps"``, ``"auto"``; see :mod:`tabargn.device`). Inside
            :class:`tabargn.TabularARGN` it follows the estimator's ``device``. The same seed
            gives the same texts on the same device.
    """

    kind = "offline"

    def __init__(
        self,
        *,
        vocab_size: int = 2000,
        embedding_dim: int = 64,
        hidden_dim: int = 256,
        num_layers: int = 1,
        context_dim: int = 64,
        dropout: float = 0.1,
        context_dropout: float = 0.1,
        row_dropout: float = 0.1,
        max_epochs: int = 20,
        max_time: float | None = None,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        val_fraction: float = 0.1,
        patience: int = 2,
        temperature: float | None = None,
        top_p: float = 1.0,
        guidance: float | None = None,
        context_top_k: int = 50,
        context_bins: int = 10,
        generation_batch_size: int = 512,
        length_control: bool = True,
        stock_texts: int = 256,
        device: str = "cpu",
    ) -> None:
        self.params = {
            "vocab_size": int(vocab_size),
            "embedding_dim": int(embedding_dim),
            "hidden_dim": int(hidden_dim),
            "num_layers": int(num_layers),
            "context_dim": int(context_dim),
            "dropout": float(dropout),
            "context_dropout": float(context_dropout),
            "row_dropout": float(row_dropout),
            "max_epochs": int(max_epochs),
            "max_time": None if max_time is None else float(max_time),
            "batch_size": int(batch_size),
            "learning_rate": float(learning_rate),
            "val_fraction": float(val_fraction),
            "patience": int(patience),
            "temperature": None if temperature is None else float(temperature),
            "top_p": float(top_p),
            "guidance": None if guidance is None else float(guidance),
            "context_top_k": int(context_top_k),
            "context_bins": int(context_bins),
            "generation_batch_size": int(generation_batch_size),
            "length_control": bool(length_control),
            "stock_texts": int(stock_texts),
            "device": check_device(device),
        }
        if not 0 <= self.params["val_fraction"] < 1:
            raise InvalidDataError("val_fraction must be in [0, 1)")
        t = self.params["temperature"]
        if (t is not None and t <= 0) or not 0 < self.params["top_p"] <= 1:
            raise InvalidDataError("temperature must be > 0 and top_p in (0, 1]")
        if (guidance is not None and guidance < 0) or not 0 <= self.params["row_dropout"] < 1:
            raise InvalidDataError("guidance must be >= 0 and row_dropout in [0, 1)")
        if self.params["stock_texts"] < 0:
            raise InvalidDataError("stock_texts must be >= 0")
        self.tokenizer = None
        self.encoder: ContextEncoder | None = None
        self.network: ConditionalLM | None = None
        self.max_length: int | None = None
        self.missing_rate: float = 0.0
        self.fit_info: dict = {}
        self.length_buckets: LengthBuckets | None = None
        self.calibration = Calibration()
        self.stock = StockTexts()
        self._blank: torch.Tensor | None = None
        self._guidance_trace: list[list[float]] = []  # [[weight, agreement, texts], ...]

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        texts: pd.Series,
        context: pd.DataFrame,
        *,
        max_length: int | None = None,
        random_state: int | None,
        verbose: int = 0,
    ) -> OfflineTextGenerator:
        """Train the tokenizer and the language model.

        Args:
            texts: Cleaned texts (``str`` or NaN), ``[n_rows]``; at least one is non-missing.
            context: ``[n_rows, n_columns]`` tabular columns of the same rows.
            max_length: Texts are truncated to this many tokens; ``None`` (default) chooses it
                from the data (:func:`choose_max_length`), stored in :attr:`max_length`.
            random_state: Seed of weight initialization, the validation split, shuffling and
                dropout.
            verbose: 0 silent; 1 shows Lightning's progress bar.

        Returns:
            ``self``.
        """
        seed = 0 if random_state is None else int(random_state)
        started = time.perf_counter()
        sequences, codes, truncated = self._learn_vocabulary(texts, context, max_length)
        buckets = None
        self.length_buckets = None
        if self.params["length_control"]:
            lengths = text_lengths(sequences, EOS)
            self.length_buckets = LengthBuckets.fit(lengths, self.max_length)
            buckets = np.where(lengths > 0, self.length_buckets.bucket(lengths), -1)
        data = OfflineTextData(
            sequences,
            codes,
            buckets,
            val_fraction=self.params["val_fraction"],
            batch_size=self.params["batch_size"],
            seed=seed,
        )
        result = self._train_network(data, seed, verbose)
        self._guidance_trace = []
        self.calibration = (
            calibrate(
                self.network,
                data.val_items,
                self.length_buckets,
                EOS,
                all_items=data.train_items + data.val_items,
            )
            if self.params["length_control"]
            else Calibration()
        )
        if self.params["temperature"] is None:
            self.calibration.temperature = self._fit_temperature(
                data.val_items, data.train_items, seed
            )
        if self.params["guidance"] is None:
            self._fit_guidance(data, texts, context, seed)
        self.fit_info = {
            "rows": data.rows,
            "train_rows": len(data.train_items),
            "val_rows": len(data.val_items),
            "truncated_texts": truncated,
            **result,
            "calibration": self.calibration.to_dict(),
            "vocab_size": self.tokenizer.get_vocab_size(),
            "stock_texts": len(self.stock),
            "guidance": self.guidance,
            "guidance_trace": self._guidance_trace,
            "parameters": sum(q.numel() for q in self.network.parameters()),
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
        return self

    def _learn_vocabulary(self, texts: pd.Series, context: pd.DataFrame, max_length: int | None):
        """Fits the tokenizer and the context encoder; returns (token sequences, context codes,
        number of truncated texts)."""
        self.tokenizer = train_tokenizer(
            [t for t in texts.tolist() if isinstance(t, str)], self.params["vocab_size"]
        )
        self._blank = None
        self.encoder = ContextEncoder(self.params["context_top_k"], self.params["context_bins"])
        codes = self.encoder.fit_transform(context)
        if max_length is None:
            max_length = choose_max_length(self.tokenizer, texts)
        self.max_length = int(max_length)
        self.missing_rate = float(texts.isna().mean())
        self.stock = StockTexts.fit(  # a text that would be truncated is spelled (and cut)
            texts,
            self.tokenizer.get_vocab_size(),
            max_texts=self.params["stock_texts"],
            keep=lambda t: len(self.tokenizer.encode(t).ids) <= self.max_length,
        )
        sequences, truncated = encode_texts(
            self.tokenizer, texts, self.max_length, self.stock.index()
        )
        return sequences, codes, truncated

    def _train_network(self, data: OfflineTextData, seed: int, verbose: int) -> dict:
        """Builds and trains :attr:`network` with ``seed`` (the global torch random state is
        restored after); returns ``{"epochs", "best_val_loss"}``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.network = self._new_network()
            self.network.start_missing_rate(self.missing_rate)
            result = train_network(
                self.network,
                data,
                training_config(self.params, seed=seed, verbose=verbose),
                context_dropout=self.params["context_dropout"],
                row_dropout=self.params["row_dropout"],
            )
        self.network.eval()
        return result

    def _decoded(self, items) -> list[str]:
        """The texts of encoded rows as the model sees them (tokenized, truncated), cleaned."""
        texts = self.stock.decode(self.tokenizer, [[i for i in it[0] if i != EOS] for it in items])
        return [t for t in (clean_text(x) for x in texts) if isinstance(t, str)]

    def _fit_temperature(self, val_items, train_items, seed: int) -> float:
        """The sampling temperature fitted on the validation rows that have a text (drawn again
        up to :data:`CALIBRATION_TEXTS` texts), matched to the distinct-2 of the column's texts
        (a seeded subsample of at most :data:`MAX_TEXTS`, the evaluation's corpus size)."""
        present = [it for it in val_items if len(it[0]) > 1][:CALIBRATION_TEXTS]
        if not present:
            return 1.0
        every = [it for it in train_items + val_items if len(it[0]) > 1]
        order = np.random.default_rng(seed).permutation(len(every))[:MAX_TEXTS]
        corpus = self._decoded([every[i] for i in order])
        count = min(CALIBRATION_TEXTS, match_count(len(present), len(corpus)))
        codes = torch.as_tensor(np.stack([it[1] for it in present]), dtype=torch.long)
        codes = codes.repeat(max(1, count // len(present)), 1)
        real = self._decoded(present)
        return fit_temperature(lambda t: self._sample_rows(codes, seed, t), real, corpus)

    @property
    def guidance(self) -> float:
        """The guidance weight used: the ``guidance`` param, or the fitted one when it is None."""
        given = self.params["guidance"]
        return self.calibration.guidance if given is None else given

    def _fit_guidance(self, data: OfflineTextData, texts, context, seed: int) -> None:
        """Fits :attr:`Calibration.guidance` (then the temperature again, at that weight) on the
        rows :func:`~llm_text.offline_guidance.guidance_rows` picks."""
        has_text = texts.map(lambda t: isinstance(t, str)).to_numpy()
        val = [i for i in data.val_rows if has_text[i]]
        if not val:
            return
        rows = np.concatenate([data.val_rows, data.train_rows])
        pick = guidance_rows(has_text[rows], seed)
        items = data.val_items + data.train_items
        codes = torch.as_tensor(np.stack([items[i][1] for i in pick]), dtype=torch.long)
        probes = context_probes(texts.iloc[data.train_rows], context.iloc[data.train_rows], seed)

        def sample(weight: float, part: slice) -> list:  # a part's seed is the same at each weight
            self.calibration.guidance = weight
            return self._sample_rows(codes[part], seed + part.start, None)

        default = self.calibration.guidance
        weight, trace = fit_guidance(
            sample, probes, texts.iloc[val], context.iloc[val], context.iloc[rows[pick]], default
        )
        self.calibration.guidance = weight
        self._guidance_trace = trace
        if weight != default and self.params["temperature"] is None:
            self.calibration.temperature = self._fit_temperature(
                data.val_items, data.train_items, seed
            )

    def _sample_rows(self, codes: torch.Tensor, seed: int, temperature: float | None) -> list:
        """Texts (never missing) for context ``codes``, seeded: the calibration searches' draws."""
        gen = torch.Generator(device=torch_device(self.params["device"]))
        gen.manual_seed(seed)
        self.network.to(gen.device)
        texts = []
        for start in range(0, len(codes), self.params["generation_batch_size"]):
            part = codes[start : start + self.params["generation_batch_size"]]
            texts += self._sample(part, self.max_length, gen, True, temperature)[0]
        self.network.cpu()
        return texts

    def _new_network(self) -> ConditionalLM:
        p = self.params
        sizes = [p[k] for k in ("embedding_dim", "hidden_dim", "num_layers", "context_dim")]
        buckets = self.length_buckets.n_buckets if self.length_buckets else 0
        vocab = self.tokenizer.get_vocab_size() + len(self.stock)
        return ConditionalLM(
            vocab, self.encoder.cardinalities, *sizes, p["dropout"], length_buckets=buckets
        )

    # ------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        context: pd.DataFrame,
        *,
        max_length: int | None = None,
        random_state: int | None,
        allow_missing: bool = True,
        missing_bias: float | None = None,
    ) -> tuple[list[str | float], dict]:
        """Sample one text per row.

        Args:
            context: ``[n_rows, ...]`` tabular columns (the fitted ones are used).
            max_length: Maximum generated tokens (default: the fitted ``max_length``).
            random_state: Seed; the same seed and model give the same texts.
            allow_missing: ``False``: no row is missing (the missing head is not used).
            missing_bias: Replaces the calibrated bias of the missing head (from
                :meth:`matched_missing_bias`); default None keeps it.

        Returns:
            ``(texts, stats)``: a list of ``str`` or NaN of length ``n_rows``, and counts
            (``generated_tokens``).

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        if self.network is None or self.encoder is None:
            raise NotFittedError("OfflineTextGenerator is not fitted: call fit() first")
        max_length = int(max_length or self.max_length)
        codes = torch.as_tensor(self.encoder.transform(context), dtype=torch.long)
        device = torch_device(self.params["device"])
        self.network.to(device)
        gen = torch.Generator(device=device)
        gen.manual_seed(0 if random_state is None else int(random_state))
        bs = self.params["generation_batch_size"]
        out: list[str | float] = []
        n_tokens = 0
        for start in range(0, len(codes), bs):
            part = codes[start : start + bs]
            texts, blank, used = self._sample(
                part, max_length, gen, force_text=not allow_missing, missing_bias=missing_bias
            )
            n_tokens += used
            for _ in range(BLANK_RETRIES):  # rows meant to have text that cleaned to nothing
                redo = np.flatnonzero(blank)
                if len(redo) == 0:
                    break
                again, blank_again, used = self._sample(
                    part[redo], max_length, gen, force_text=True
                )
                n_tokens += used
                for j, i in enumerate(redo):
                    texts[i] = again[j]
                blank[redo] = blank_again
            out.extend(texts)
        return out, {"generated_tokens": int(n_tokens)}

    @torch.no_grad()
    def matched_missing_bias(self, context: pd.DataFrame) -> float | None:
        """The missing head's bias that gives ``context`` the training missing rate on average.

        The head's small errors add up on synthetic rows (FAA remarks, 6,000 rows: 0.156 against
        0.139). Shifting the bias keeps each row's odds relative to the others and fixes the
        mean: the intercept correction for a known prior (Saerens et al., 2002). Only for rows
        drawn without conditions; conditioned rows keep their own rate.

        Args:
            context: ``[n_rows, ...]`` tabular columns, as for :meth:`generate`.

        Returns:
            The bias, or None when there is nothing to match (no missing head, no rows, or a
            training missing rate of 0 or 1).

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        if self.network is None or self.encoder is None:
            raise NotFittedError("OfflineTextGenerator is not fitted: call fit() first")
        if self.length_buckets is None or len(context) == 0 or not 0 < self.missing_rate < 1:
            return None
        codes = torch.as_tensor(self.encoder.transform(context), dtype=torch.long)
        device = torch_device(self.params["device"])
        self.network.to(device)
        bs = self.params["generation_batch_size"]
        net = self.network
        parts = [codes[i : i + bs].to(device) for i in range(0, len(codes), bs)]
        z = torch.cat([net.missing_logit(net.context_vector(p)).float().cpu() for p in parts])
        return match_rate(z, self.calibration.missing_scale, self.missing_rate)

    def _sample(
        self,
        codes: torch.Tensor,
        max_length: int,
        gen: torch.Generator,
        force_text: bool = False,
        temperature: float | None = None,
        missing_bias: float | None = None,
    ):
        """Sample one batch: (cleaned texts or NaN, bool array "text wanted but blank", tokens).
        ``temperature``: default the ``temperature`` param, or the fitted one when it is None;
        ``missing_bias``: default the calibrated one."""
        temperature = temperature or self.params["temperature"] or self.calibration.temperature
        if self._blank is None:
            self._blank = blank_token_ids(self.tokenizer)
        p_missing = lengths = None
        if self.length_buckets is not None:
            ctx = self.network.context_vector(codes.to(gen.device))
            z = self.network.missing_logit(ctx)
            p_missing = torch.sigmoid(self.calibration.missing_logit(z, missing_bias))
            lengths = self.length_buckets.draw(
                self.network.length_head(ctx), self.calibration.length_temperature, gen
            ).clamp(max=max_length)
        ids, is_na, used = sample_tokens(
            self.network,
            codes,
            max_length,
            gen,
            temperature=temperature,
            top_p=self.params["top_p"],
            blank_ids=self._blank,
            # no missing text in training: none in the output
            allow_missing=self.missing_rate > 0.0 and not force_text,
            p_missing=p_missing,
            lengths=lengths,
            guidance=self.guidance,
            stock_ids=torch.as_tensor(self.stock.ids, dtype=torch.long),
        )
        decoded = self.stock.decode(
            self.tokenizer, [[i for i in row if i != PAD] for row in ids.tolist()]
        )
        texts: list[str | float] = []
        blank = np.zeros(len(decoded), dtype=bool)
        for i, (na, text) in enumerate(zip(is_na.tolist(), decoded, strict=True)):
            text = np.nan if na else clean_text(text)
            blank[i] = not na and not isinstance(text, str)
            texts.append(text)
        return texts, blank, used

    # ------------------------------------------------------------ save/load
    def get_config(self) -> dict:
        """JSON-serializable description (hyperparameters and fitted encoder state)."""
        return {
            "kind": self.kind,
            "params": self.params,
            "max_length": self.max_length,
            "missing_rate": self.missing_rate,
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
            "length_buckets": None
            if self.length_buckets is None
            else self.length_buckets.to_dict(),
            "calibration": self.calibration.to_dict(),
            "stock_texts": self.stock.to_dict(),
            "fit_info": self.fit_info,
        }

    def save(self, directory: Path) -> None:
        """Write ``model.safetensors`` and ``tokenizer.json`` into ``directory``.

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        from safetensors.torch import save_file

        if self.network is None:
            raise NotFittedError("OfflineTextGenerator is not fitted: call fit() first")
        state = {k: v.detach().contiguous() for k, v in self.network.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))
        self.tokenizer.save(str(directory / "tokenizer.json"))

    @classmethod
    def load(cls, directory: Path, config: dict) -> OfflineTextGenerator:
        """Rebuild a fitted generator from :meth:`save` and :meth:`get_config` output.

        Raises:
            ModelFileError: If a file is missing or corrupt.
        """
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        try:
            # models saved before length control / guidance had neither
            old = {"length_control": False, "row_dropout": 0.0, "guidance": 1.0, "stock_texts": 0}
            params = {**old, **config["params"], "device": "cpu"}
            generator = cls(**params)  # loads on the CPU
            if config.get("length_buckets"):
                generator.length_buckets = LengthBuckets.from_dict(config["length_buckets"])
            generator.calibration = Calibration.from_dict(config.get("calibration"))
            generator.max_length = config["max_length"]
            generator.missing_rate = float(config.get("missing_rate", 0.0))
            generator.fit_info = config.get("fit_info", {})
            generator.encoder = ContextEncoder.from_dict(config["encoder"])
            generator.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            generator.stock = StockTexts.from_dict(
                config.get("stock_texts"), generator.tokenizer.get_vocab_size()
            )
            generator.network = generator._new_network()
            generator.network.load_state_dict(load_file(str(directory / "model.safetensors")))
        except Exception as exc:  # noqa: BLE001 - any failure to read the files
            raise ModelFileError(
                f"cannot load the offline text model from {directory}: {exc}"
            ) from exc
        generator.network.eval()
        return generator
