"""Training of the offline text model's network with Lightning.

:func:`train_network` fits a :class:`~llm_text.offline_network.ConditionalLM` on
:class:`OfflineTextData` (length-bucketed batches of token sequences and context codes). The
Trainer comes from the shared factory :func:`tabargn.trainer.make_trainer`, run by
:func:`tabargn.trainer.run_fit`; :class:`~tabargn.trainer.BestWeights` restores the weights of the
best validation epoch, and Lightning's ``EarlyStopping`` stops after ``patience`` epochs without a
lower validation loss. Without a validation split, the last epoch's weights are kept.

The loss is the token cross-entropy summed over a batch and divided by the mean number of tokens
per row (so every token weighs the same whatever its batch), plus the binary cross-entropy of the
missing head and, for a length-controlled network, the cross-entropy of the length head on the
rows with a text, all per row.
"""

from __future__ import annotations

import warnings

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn

from tabargn.trainer import BestWeights, TrainingConfig, make_trainer, quiet_lightning, run_fit

from .offline_network import EOS, PAD, ConditionalLM

__all__ = [
    "training_config",
    "OfflineTextData",
    "LanguageModelModule",
    "BucketSampler",
    "collate_batch",
    "train_network",
]

WEIGHT_DECAY = 0.01
GRADIENT_CLIP_NORM = 1.0
VALIDATION_BATCH_SIZE = 256
#: Batches whose rows are sorted by length together (less padding, still shuffled).
BUCKET_BATCHES = 50


def training_config(params: dict, *, seed: int, verbose: int) -> TrainingConfig:
    """The shared :class:`~tabargn.trainer.TrainingConfig` from the offline generator's params."""
    return TrainingConfig(
        max_epochs=params["max_epochs"],
        max_time=params["max_time"],
        batch_size=params["batch_size"],
        learning_rate=params["learning_rate"],
        weight_decay=WEIGHT_DECAY,
        patience=params["patience"],
        validation_share=params["val_fraction"],
        device=params["device"],
        seed=seed,
        verbose=int(verbose),
    )


class BucketSampler(torch.utils.data.Sampler):
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
        chunk = self.batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, len(perm), chunk):
            part = perm[start : start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += [
                part[i : i + self.batch_size].tolist() for i in range(0, len(part), self.batch_size)
            ]
        for b in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[b]


def collate_batch(items):
    """``[(token ids, codes, length bucket), ...]`` -> tokens ``[B, T]`` (PAD-filled), codes
    ``[B, C]``, missing ``[B]`` float (1.0 for a missing text, whose sequence is ``[BOS]``
    alone), text token counts ``[B]`` and length buckets ``[B]`` (-1 for a missing text)."""
    tokens = [it[0] for it in items]
    width = max(2, max(len(t) for t in tokens))  # all-missing batches still have one step
    out = torch.full((len(tokens), width), PAD, dtype=torch.long)
    for i, t in enumerate(tokens):
        out[i, : len(t)] = torch.as_tensor(t, dtype=torch.long)
    codes = torch.as_tensor(np.stack([it[1] for it in items]), dtype=torch.long)
    missing = torch.as_tensor([float(len(t) == 1) for t in tokens], dtype=torch.float32)
    lengths = torch.as_tensor(
        [len(t) - 2 if len(t) > 1 and t[-1] == EOS else len(t) - 1 for t in tokens],
        dtype=torch.long,
    )
    buckets = torch.as_tensor([it[2] if len(it) > 2 else -1 for it in items], dtype=torch.long)
    return out, codes, missing, lengths, buckets


class OfflineTextData(L.LightningDataModule):
    """Training rows split into train / validation, batched by length.

    Args:
        sequences: Token ids per row (:func:`~llm_text.offline_network.encode_texts`).
        codes: ``[n_rows, n_context_columns]`` context codes of the same rows.
        buckets: Length bucket per row (-1 for a missing text), or ``None`` without a length
            head.
        val_fraction: Share of rows held out (none when the split would leave a side empty).
        batch_size: Training batch size.
        seed: Seed of the split, of the bucket keys of missing rows and of the batch order.
    """

    def __init__(
        self,
        sequences: list[list[int]],
        codes: np.ndarray,
        buckets: np.ndarray | None = None,
        *,
        val_fraction: float,
        batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        if buckets is None:
            items = list(zip(sequences, codes, strict=True))
        else:
            items = list(zip(sequences, codes, buckets.tolist(), strict=True))
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(items))
        n_val = int(round(len(items) * val_fraction))
        if len(items) - n_val < 1 or n_val < 1:
            n_val = 0
        self.rows = len(items)
        self.val_rows, self.train_rows = order[:n_val], order[n_val:]  # row positions
        self.val_items = [items[i] for i in self.val_rows]
        self.train_items = [items[i] for i in self.train_rows]
        self.batch_size = batch_size
        self.tokens_per_row = float(np.mean([len(s) - 1 for s in sequences if len(s) > 1]))
        # missing rows take the length of a random text as their bucket key, so every batch
        # holds them at the base rate (all-missing batches would bias the missing head)
        present = [len(it[0]) for it in self.train_items if len(it[0]) > 1] or [1]
        self.sort_keys = [
            len(it[0]) if len(it[0]) > 1 else present[int(rng.integers(len(present)))]
            for it in self.train_items
        ]
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def has_validation(self) -> bool:
        return bool(self.val_items)

    def train_dataloader(self):
        sampler = BucketSampler(self.sort_keys, self.batch_size, self.generator)
        return torch.utils.data.DataLoader(
            self.train_items, batch_sampler=sampler, collate_fn=collate_batch
        )

    def val_dataloader(self):
        return torch.utils.data.DataLoader(
            self.val_items,
            batch_size=VALIDATION_BATCH_SIZE,
            shuffle=False,
            collate_fn=collate_batch,
        )


class LanguageModelModule(L.LightningModule):
    """The LightningModule of :class:`~llm_text.offline_network.ConditionalLM`.

    Args:
        network: The network (attribute ``network``, restored by ``BestWeights``).
        config: Learning rate and weight decay of AdamW.
        context_dropout: Probability, per training cell, of replacing a context code by the NULL
            code (0), so the model also learns from partial rows.
        row_dropout: Probability, per training row, of replacing all its context codes by NULL,
            so the model also learns the unconditioned text distribution (the reference of
            classifier-free guidance at sampling time; Ho & Salimans, 2022).
        tokens_per_row: Mean predicted tokens per row (the loss normalizer).
    """

    def __init__(
        self,
        network: ConditionalLM,
        config: TrainingConfig,
        *,
        context_dropout: float,
        tokens_per_row: float,
        row_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.network = network
        self.learning_rate = config.learning_rate
        self.weight_decay = config.weight_decay
        self.context_dropout = context_dropout
        self.row_dropout = row_dropout
        self.tokens_per_row = tokens_per_row

    def _loss(self, batch, drop_context: bool) -> torch.Tensor:
        tokens, codes, missing, lengths, buckets = batch
        if drop_context and self.context_dropout > 0 and codes.shape[1]:
            keep = torch.rand(codes.shape, device=codes.device) >= self.context_dropout
            codes = codes * keep
        if drop_context and self.row_dropout > 0 and codes.shape[1]:
            keep = torch.rand(codes.shape[0], 1, device=codes.device) >= self.row_dropout
            codes = codes * keep
        logits, missing_logit, length_logits = self.network(tokens[:, :-1], codes, lengths)
        missing_loss = nn.functional.binary_cross_entropy_with_logits(
            missing_logit, missing, reduction="sum"
        )
        if length_logits is not None and bool((buckets >= 0).any()):
            missing_loss = missing_loss + nn.functional.cross_entropy(
                length_logits, buckets, ignore_index=-1, reduction="sum"
            )
        total = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            tokens[:, 1:].reshape(-1),
            ignore_index=PAD,
            reduction="sum",
        )
        # every token weighs the same whatever its batch: batches are grouped by length, and a
        # per-batch token mean would over-weight short texts
        return (total / self.tokens_per_row + missing_loss) / tokens.shape[0]

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch, drop_context=True)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch, drop_context=False)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ) -> None:
        # the shared Trainer sets no clipping; LSTMs want it (gradient norm at most 1)
        self.clip_gradients(
            optimizer, gradient_clip_val=GRADIENT_CLIP_NORM, gradient_clip_algorithm="norm"
        )


def train_network(
    network: ConditionalLM,
    data: OfflineTextData,
    config: TrainingConfig,
    *,
    context_dropout: float,
    row_dropout: float = 0.0,
) -> dict:
    """Train ``network`` in place (left on the CPU with the best validation epoch's weights).

    Args:
        network: A freshly initialized network.
        data: The training rows.
        config: From :func:`training_config`.
        context_dropout, row_dropout: See :class:`LanguageModelModule`.

    Returns:
        ``{"epochs", "best_val_loss"}`` (``best_val_loss`` is None without validation).
    """
    module = LanguageModelModule(
        network,
        config,
        context_dropout=context_dropout,
        tokens_per_row=data.tokens_per_row,
        row_dropout=row_dropout,
    )
    best = BestWeights(attribute="network", monitor="val_loss")
    callbacks = [best]
    if data.has_validation:
        callbacks.append(EarlyStopping("val_loss", patience=config.patience, mode="min"))
    # quiet from the Trainer's construction on (it logs the devices it found)
    with quiet_lightning(config.verbose), warnings.catch_warnings():
        if not config.verbose:  # Lightning's hints (logging interval, workers) are noise here
            warnings.simplefilter("ignore")
        trainer = make_trainer(config, callbacks=callbacks, validate=data.has_validation)
        summary = run_fit(trainer, module, data, verbose=config.verbose)
    network.cpu()
    return {
        "epochs": summary["epochs"],
        "best_val_loss": None if best.best_epoch < 0 else best.best,
    }
