"""The offline backend: a small row-conditioned language model trained from scratch on the column.

Nothing is downloaded. A byte-level BPE tokenizer is trained on the column with ``tokenizers``;
an LSTM language model (PyTorch, trained with Lightning) reads, at every step, the token embedding
concatenated with a *context vector* of the row, and the same vector also sets the LSTM's initial
state. The context vector is the sum of one learned embedding per tabular column code
(:class:`~llm_text.context.ContextEncoder`: categorical top-k codes, numeric quantile bins),
passed through a small MLP.

Missing texts are learned, not dropped: a logistic head on the context vector predicts whether
the row's text is missing (its bias starts at the training missing rate, so the rate is right from
the first step), so missingness is conditioned on the row like everything else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from tabargn.errors import InvalidDataError, ModelFileError

from ._text import clean_text
from .context import ContextEncoder

__all__ = ["OfflineBackend"]

PAD, BOS, EOS, NA = 0, 1, 2, 3
SPECIAL_TOKENS = ["[PAD]", "[BOS]", "[EOS]", "[NA]"]


class _ConditionalLM(nn.Module):
    """LSTM language model conditioned on a per-row context vector.

    Shapes: ``tokens`` ``[batch, time]`` int64, ``codes`` ``[batch, n_context_columns]`` int64;
    ``forward`` returns logits ``[batch, time, vocab]`` float32.
    """

    def __init__(
        self,
        vocab_size: int,
        cardinalities: list[int],
        embedding_dim: int,
        hidden_dim: int,
        num_layers: int,
        context_dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.context_dim = context_dim
        self.tok = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]) if cardinalities else []
        self.register_buffer(
            "offsets", torch.as_tensor(offsets, dtype=torch.long), persistent=False
        )
        self.ctx_emb = nn.Embedding(max(1, int(sum(cardinalities))), context_dim)
        self.ctx_bias = nn.Parameter(torch.zeros(context_dim))
        self.ctx_mlp = nn.Sequential(nn.Linear(context_dim, context_dim), nn.Tanh())
        self.init_state = nn.Linear(context_dim, 2 * num_layers * hidden_dim)
        self.lstm = nn.LSTM(
            embedding_dim + context_dim,
            hidden_dim,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, vocab_size)
        self.missing_head = nn.Linear(context_dim, 1)

    def missing_logit(self, ctx: torch.Tensor) -> torch.Tensor:
        """``[batch, context_dim]`` -> ``[batch]`` logit of "the text is missing"."""
        return self.missing_head(ctx).squeeze(-1)

    def context_vector(self, codes: torch.Tensor) -> torch.Tensor:
        """``[batch, n_cols]`` codes -> ``[batch, context_dim]`` context vector."""
        batch = codes.shape[0]
        if codes.shape[1] == 0:
            summed = self.ctx_bias.expand(batch, -1)
        else:
            emb = self.ctx_emb(codes + self.offsets)  # [B, C, D]
            summed = emb.sum(1) / math.sqrt(codes.shape[1]) + self.ctx_bias
        return self.ctx_mlp(summed)

    def initial_state(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = ctx.shape[0]
        hc = torch.tanh(self.init_state(ctx)).view(batch, 2, self.num_layers, self.hidden_dim)
        h = hc[:, 0].transpose(0, 1).contiguous()
        c = hc[:, 1].transpose(0, 1).contiguous()
        return h, c

    def step(self, tokens: torch.Tensor, ctx: torch.Tensor, state):
        """Run ``tokens`` ``[B, T]`` from ``state``; returns (logits ``[B, T, V]``, new state)."""
        x = self.tok(tokens)
        x = torch.cat([x, ctx.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        y, state = self.lstm(self.drop(x), state)
        return self.out(self.drop(y)), state

    def forward(self, tokens: torch.Tensor, codes: torch.Tensor):
        """Returns (token logits ``[B, T, V]``, missing logit ``[B]``)."""
        ctx = self.context_vector(codes)
        logits, _ = self.step(tokens, ctx, self.initial_state(ctx))
        return logits, self.missing_logit(ctx)


def _lightning_module(
    model: _ConditionalLM, learning_rate: float, context_dropout: float, tokens_per_row: float
):
    import lightning as L

    class _Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def _loss(self, batch, drop_context: bool) -> torch.Tensor:
            tokens, codes, missing = batch
            if drop_context and context_dropout > 0 and codes.shape[1]:
                keep = torch.rand(codes.shape, device=codes.device) >= context_dropout
                codes = codes * keep
            logits, missing_logit = self.model(tokens[:, :-1], codes)
            missing_loss = nn.functional.binary_cross_entropy_with_logits(
                missing_logit, missing, reduction="sum"
            )
            total = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                tokens[:, 1:].reshape(-1),
                ignore_index=PAD,
                reduction="sum",
            )
            # every token weighs the same whatever its batch: batches are grouped by length, and a
            # per-batch token mean would over-weight short texts
            return (total / tokens_per_row + missing_loss) / tokens.shape[0]

        def training_step(self, batch, batch_idx):
            loss = self._loss(batch, drop_context=True)
            self.log("train_loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
            return loss

        def validation_step(self, batch, batch_idx):
            loss = self._loss(batch, drop_context=False)
            self.log("val_loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=learning_rate, weight_decay=0.01)

    return _Module()


class _KeepBest:
    """Lightning callback: remember the weights with the lowest ``val_loss`` in memory."""

    def __new__(cls):
        import lightning as L

        class _Callback(L.Callback):
            def __init__(self) -> None:
                self.best = math.inf
                self.state = None
                self.epochs = 0

            def on_validation_epoch_end(self, trainer, pl_module):
                if trainer.sanity_checking:
                    return
                loss = trainer.callback_metrics.get("val_loss")
                if loss is not None and float(loss) < self.best:
                    self.best = float(loss)
                    self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

            def on_train_epoch_end(self, trainer, pl_module):
                self.epochs += 1

        return _Callback()


class _BucketSampler(torch.utils.data.Sampler):
    """Batches of similar length (less padding): shuffle, sort chunks of 50 batches by length,
    cut into batches, shuffle the batches. Deterministic for a given generator state."""

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        perm = torch.randperm(len(self.lengths), generator=self.generator).numpy()
        chunk = self.batch_size * 50
        batches = []
        for start in range(0, len(perm), chunk):
            part = perm[start : start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += [
                part[i : i + self.batch_size].tolist() for i in range(0, len(part), self.batch_size)
            ]
        for b in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[b]


def _collate(items):
    tokens = [it[0] for it in items]
    width = max(2, max(len(t) for t in tokens))  # all-missing batches still have one step
    out = torch.full((len(tokens), width), PAD, dtype=torch.long)
    for i, t in enumerate(tokens):
        out[i, : len(t)] = torch.as_tensor(t, dtype=torch.long)
    codes = torch.as_tensor(np.stack([it[1] for it in items]), dtype=torch.long)
    missing = torch.as_tensor([float(len(t) == 1) for t in tokens], dtype=torch.float32)
    return out, codes, missing


@contextlib.contextmanager
def _quiet_lightning(verbose: int):
    if verbose:
        yield
        return
    names = ["lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for lg, lvl in zip(loggers, levels, strict=True):
                lg.setLevel(lvl)


class OfflineBackend:
    """A small row-conditioned LSTM language model trained from scratch; no downloads.

    Defaults suit a few thousand texts on a CPU in minutes. For tests, use e.g.
    ``OfflineBackend(embedding_dim=32, hidden_dim=64, max_epochs=1)``.

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
        max_epochs: Upper limit on epochs (default 20).
        max_time: Upper limit on training seconds, or ``None`` (default 600).
        batch_size: Training batch size (default 64).
        learning_rate: AdamW learning rate (default 3e-3).
        val_fraction: Share of rows held out for early stopping (default 0.1; 0 disables early
            stopping and keeps the last epoch's weights).
        patience: Early-stopping patience in epochs (default 2).
        temperature: Sampling temperature (default 1.0).
        top_p: Nucleus sampling mass (default 1.0: plain sampling, which keeps the text
            distribution calibrated; lower values favour the most common texts).
        context_top_k: Categories kept per categorical context column (default 50).
        context_bins: Quantile bins per numeric context column (default 10).
        generation_batch_size: Rows sampled together (default 512).
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
        max_epochs: int = 20,
        max_time: float | None = 600.0,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        val_fraction: float = 0.1,
        patience: int = 2,
        temperature: float = 1.0,
        top_p: float = 1.0,
        context_top_k: int = 50,
        context_bins: int = 10,
        generation_batch_size: int = 512,
    ) -> None:
        self.params = {
            "vocab_size": int(vocab_size),
            "embedding_dim": int(embedding_dim),
            "hidden_dim": int(hidden_dim),
            "num_layers": int(num_layers),
            "context_dim": int(context_dim),
            "dropout": float(dropout),
            "context_dropout": float(context_dropout),
            "max_epochs": int(max_epochs),
            "max_time": None if max_time is None else float(max_time),
            "batch_size": int(batch_size),
            "learning_rate": float(learning_rate),
            "val_fraction": float(val_fraction),
            "patience": int(patience),
            "temperature": float(temperature),
            "top_p": float(top_p),
            "context_top_k": int(context_top_k),
            "context_bins": int(context_bins),
            "generation_batch_size": int(generation_batch_size),
        }
        if not 0 <= self.params["val_fraction"] < 1:
            raise InvalidDataError("val_fraction must be in [0, 1)")
        if self.params["temperature"] <= 0 or not 0 < self.params["top_p"] <= 1:
            raise InvalidDataError("temperature must be > 0 and top_p in (0, 1]")
        self.tokenizer = None
        self.encoder: ContextEncoder | None = None
        self.model: _ConditionalLM | None = None
        self.max_length: int | None = None
        self.missing_rate: float = 0.0
        self.fit_info: dict = {}

    # ------------------------------------------------------------------ fit
    def _train_tokenizer(self, texts: list[str]):
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=self.params["vocab_size"],
            min_frequency=2,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        for i, name in enumerate(SPECIAL_TOKENS):
            if tok.token_to_id(name) != i:
                raise RuntimeError("tokenizer special tokens are not at their fixed ids")
        return tok

    def fit(
        self,
        texts: pd.Series,
        context: pd.DataFrame,
        *,
        max_length: int,
        random_state: int | None,
        verbose: int = 0,
    ) -> OfflineBackend:
        """Train the tokenizer and the language model.

        Args:
            texts: Cleaned texts (``str`` or NaN), ``[n_rows]``; at least one is non-missing.
            context: ``[n_rows, n_columns]`` tabular columns of the same rows.
            max_length: Texts are truncated to this many tokens.
            random_state: Seed of weight initialization, the validation split, shuffling and
                dropout.
            verbose: 0 silent; 1 shows Lightning's progress bar.

        Returns:
            ``self``.
        """
        import lightning as L

        seed = 0 if random_state is None else int(random_state)
        t0 = time.perf_counter()
        present = [t for t in texts.tolist() if isinstance(t, str)]
        self.tokenizer = self._train_tokenizer(present)
        self._blank = None
        self.encoder = ContextEncoder(self.params["context_top_k"], self.params["context_bins"])
        codes = self.encoder.fit_transform(context)
        self.max_length = int(max_length)
        self.missing_rate = float(texts.isna().mean())

        sequences: list[list[int]] = []
        truncated = 0
        encodings = self.tokenizer.encode_batch(present) if present else []
        it = iter(encodings)
        for t in texts.tolist():
            if not isinstance(t, str):
                sequences.append([BOS])  # missing text: only the missing head learns from it
                continue
            ids = next(it).ids
            if len(ids) > self.max_length:
                truncated += 1
                sequences.append([BOS, *ids[: self.max_length]])
            else:
                sequences.append([BOS, *ids, EOS])
        items = list(zip(sequences, codes, strict=True))

        rng = np.random.default_rng(seed)
        order = rng.permutation(len(items))
        n_val = int(round(len(items) * self.params["val_fraction"]))
        if len(items) - n_val < 1 or n_val < 1:
            n_val = 0
        val_items = [items[i] for i in order[:n_val]]
        train_items = [items[i] for i in order[n_val:]]

        with torch.random.fork_rng(devices=[]), _quiet_lightning(verbose):
            torch.manual_seed(seed)
            self.model = _ConditionalLM(
                self.tokenizer.get_vocab_size(),
                self.encoder.cardinalities,
                self.params["embedding_dim"],
                self.params["hidden_dim"],
                self.params["num_layers"],
                self.params["context_dim"],
                self.params["dropout"],
            )
            tokens_per_row = float(np.mean([len(seq) - 1 for seq in sequences if len(seq) > 1]))
            rate = min(max(self.missing_rate, 1e-4), 1 - 1e-4)
            with torch.no_grad():
                self.model.missing_head.weight.zero_()
                self.model.missing_head.bias.fill_(math.log(rate / (1 - rate)))
            module = _lightning_module(
                self.model,
                self.params["learning_rate"],
                self.params["context_dropout"],
                tokens_per_row,
            )
            gen = torch.Generator().manual_seed(seed)
            # missing rows take the length of a random text as their bucket key, so every batch
            # holds them at the base rate (all-missing batches would bias the missing head)
            present_lengths = [len(it[0]) for it in train_items if len(it[0]) > 1] or [1]
            sort_keys = [
                len(it[0])
                if len(it[0]) > 1
                else present_lengths[int(rng.integers(len(present_lengths)))]
                for it in train_items
            ]
            train_dl = torch.utils.data.DataLoader(
                train_items,
                batch_sampler=_BucketSampler(sort_keys, self.params["batch_size"], gen),
                collate_fn=_collate,
            )
            val_dl = (
                torch.utils.data.DataLoader(
                    val_items, batch_size=256, shuffle=False, collate_fn=_collate
                )
                if val_items
                else None
            )
            keep_best = _KeepBest()
            callbacks = [keep_best]
            if val_dl is not None:
                from lightning.pytorch.callbacks import EarlyStopping

                callbacks.append(
                    EarlyStopping("val_loss", patience=self.params["patience"], mode="min")
                )
            max_time = self.params["max_time"]
            trainer = L.Trainer(
                max_epochs=self.params["max_epochs"],
                max_time=None if max_time is None else {"seconds": max_time},
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=bool(verbose),
                enable_model_summary=False,
                num_sanity_val_steps=0,
                gradient_clip_val=1.0,
                callbacks=callbacks,
                limit_val_batches=1.0 if val_dl is not None else 0,
            )
            trainer.fit(module, train_dl, val_dl)
            if keep_best.state is not None:
                module.load_state_dict(keep_best.state)
        self.model.eval()
        self.fit_info = {
            "rows": len(items),
            "train_rows": len(train_items),
            "val_rows": len(val_items),
            "truncated_texts": truncated,
            "epochs": keep_best.epochs,
            "best_val_loss": None if math.isinf(keep_best.best) else keep_best.best,
            "vocab_size": self.tokenizer.get_vocab_size(),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "fit_seconds": round(time.perf_counter() - t0, 3),
        }
        return self

    # ------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        context: pd.DataFrame,
        *,
        max_length: int | None = None,
        random_state: int | None,
        allow_missing: bool = True,
    ) -> tuple[list[str | float], dict]:
        """Sample one text per row.

        Args:
            context: ``[n_rows, ...]`` tabular columns (the fitted ones are used).
            max_length: Maximum generated tokens (default: the fitted ``max_length``).
            random_state: Seed; the same seed and model give the same texts.
            allow_missing: ``False``: no row is missing (the missing head is not used).

        Returns:
            ``(texts, stats)``: a list of ``str`` or NaN of length ``n_rows``, and counts
            (``generated_tokens``).
        """
        if self.model is None or self.encoder is None:
            raise RuntimeError("OfflineBackend is not fitted")
        max_length = int(max_length or self.max_length)
        codes = torch.as_tensor(self.encoder.transform(context), dtype=torch.long)
        gen = torch.Generator().manual_seed(0 if random_state is None else int(random_state))
        bs = self.params["generation_batch_size"]
        out: list[str | float] = []
        n_tokens = 0
        for start in range(0, len(codes), bs):
            part = codes[start : start + bs]
            texts, blank, used = self._sample(part, max_length, gen, force_text=not allow_missing)
            n_tokens += used
            for _ in range(10):  # a row meant to have text whose sample cleaned to nothing
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

    def _blank_tokens(self) -> torch.Tensor:
        """Ids of tokens that decode to whitespace only (or nothing)."""
        if getattr(self, "_blank", None) is None:
            vocab = self.tokenizer.get_vocab_size()
            ids = [
                i
                for i in range(len(SPECIAL_TOKENS), vocab)
                if not self.tokenizer.decode([i], skip_special_tokens=True).strip()
            ]
            self._blank = torch.as_tensor(ids, dtype=torch.long)
        return self._blank

    def _sample(
        self, codes: torch.Tensor, max_length: int, gen: torch.Generator, force_text: bool = False
    ):
        """Sample one batch: (cleaned texts or NaN, bool array "text wanted but blank", tokens)."""
        model = self.model
        batch = codes.shape[0]
        ctx = model.context_vector(codes)
        state = model.initial_state(ctx)
        tokens = torch.full((batch, 1), BOS, dtype=torch.long)
        p_missing = torch.sigmoid(model.missing_logit(ctx))
        if self.missing_rate == 0.0 or force_text:
            p_missing = torch.zeros_like(p_missing)  # no missing text in training: none in output
        is_na = torch.rand(batch, generator=gen) < p_missing
        done = is_na.clone()
        generated = torch.full((batch, max_length), PAD, dtype=torch.long)
        temperature, top_p = self.params["temperature"], self.params["top_p"]
        used = 0
        for t in range(max_length):
            logits, state = model.step(tokens, ctx, state)
            logits = logits[:, -1] / temperature
            logits[:, PAD] = -math.inf
            logits[:, BOS] = -math.inf
            logits[:, NA] = -math.inf  # reserved id, unused since missingness has its own head
            if t == 0:
                logits[:, EOS] = -math.inf  # never an empty text
                logits[:, self._blank_tokens()] = -math.inf  # cleaned texts never start blank
            probs = torch.softmax(logits, dim=-1)
            if top_p < 1.0:
                sorted_p, idx = probs.sort(dim=-1, descending=True)
                cum = sorted_p.cumsum(-1)
                sorted_p[(cum - sorted_p) > top_p] = 0.0
                probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p)
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
            nxt[done] = PAD
            done |= nxt == EOS
            used += int((~done).sum())
            generated[:, t] = torch.where(nxt == EOS, PAD, nxt)
            if bool(done.all()):
                break
            tokens = nxt.unsqueeze(1)
        texts: list[str | float] = []
        decoded = self.tokenizer.decode_batch(
            [[i for i in row if i != PAD] for row in generated.tolist()], skip_special_tokens=True
        )
        blank = np.zeros(batch, dtype=bool)
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
            "fit_info": self.fit_info,
        }

    def save(self, directory: Path) -> None:
        """Write ``model.safetensors`` and ``tokenizer.json`` into ``directory``."""
        from safetensors.torch import save_file

        if self.model is None:
            raise RuntimeError("OfflineBackend is not fitted")
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))
        self.tokenizer.save(str(directory / "tokenizer.json"))

    @classmethod
    def load(cls, directory: Path, config: dict) -> OfflineBackend:
        """Rebuild a fitted backend from :meth:`save` and :meth:`get_config` output."""
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        try:
            backend = cls(**config["params"])
            backend.max_length = config["max_length"]
            backend.missing_rate = float(config.get("missing_rate", 0.0))
            backend.fit_info = config.get("fit_info", {})
            backend.encoder = ContextEncoder.from_dict(config["encoder"])
            backend.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            p = backend.params
            backend.model = _ConditionalLM(
                backend.tokenizer.get_vocab_size(),
                backend.encoder.cardinalities,
                p["embedding_dim"],
                p["hidden_dim"],
                p["num_layers"],
                p["context_dim"],
                p["dropout"],
            )
            backend.model.load_state_dict(load_file(str(directory / "model.safetensors")))
        except (OSError, KeyError, RuntimeError, json.JSONDecodeError, Exception) as exc:
            raise ModelFileError(
                f"cannot load the offline text model from {directory}: {exc}"
            ) from exc
        backend.model.eval()
        return backend
