"""The LightningDataModule: batches of sub-column codes, from memory or from disk.

No pandas per batch: a batch is a set of rows of the code matrix ``[n_rows, n_sub_columns]``,
int64 for the network. The codes come either as one int64 tensor (split here at random) or,
as the flat engine fits, as a :class:`StoredCodes` pair of compact on-disk matrices
(:mod:`tabargn.code_store`) already split by row hash. Those are read in blocks of
:data:`BLOCK_ROWS` rows: each epoch visits the blocks in a random order, a *window* of
``window_blocks`` blocks at a time, and shuffles the rows within the window
(:class:`BlockShuffleSampler`). The window is as large as the memory budget allows, so a table
that fits the budget is shuffled as a whole (one window), and a larger one is held a window at
a time: memory is set by the budget, not by the row count.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from tabargn.code_store import CodeMatrix

__all__ = [
    "BLOCK_ROWS",
    "CodeRows",
    "StoredCodes",
    "BlockRows",
    "BlockShuffleSampler",
    "CodesDataModule",
    "split_rows",
    "pins_memory",
]

BLOCK_ROWS = 8192
"""Rows per block of a stored code matrix (the unit of shuffling and reading)."""


def pins_memory(datamodule: L.LightningDataModule) -> bool:
    """True when the batches go to a CUDA device: page-locked batches copy to it faster.

    The loaders use no worker processes (``num_workers=0``): a batch is one slice of a tensor
    already in memory, which worker processes would only copy again. Under DDP, Lightning wraps
    the batch sampler in a distributed sampler, so each rank trains on its own share of the
    batches.
    """
    trainer = datamodule.trainer
    return bool(trainer is not None and trainer.strategy.root_device.type == "cuda")


class CodeRows(Dataset):
    """Index-batch view of a code tensor: ``dataset[list_of_rows]`` returns a ``[b, C]`` slice."""

    def __init__(self, codes: torch.Tensor) -> None:
        self.codes = codes

    def __len__(self) -> int:
        return self.codes.shape[0]

    def __getitem__(self, rows):
        return self.codes[rows]


def split_rows(
    n_rows: int, validation_share: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random train/validation split of row indices (default 80/20 in the estimator).

    Returns:
        ``(train_rows, validation_rows)``, int64 tensors. Both are non-empty when ``n_rows >= 2``.
    """
    order = torch.randperm(n_rows, generator=generator)
    n_val = int(round(n_rows * validation_share))
    n_val = min(max(n_val, 1), n_rows - 1) if n_rows >= 2 else 0
    return order[n_val:], order[:n_val]


@dataclass
class StoredCodes:
    """Training and validation codes on disk (split by row hash) and the reading budget.

    Attributes:
        train: Training rows.
        validation: Validation rows.
        window_bytes: Bytes of codes the training loader may hold at once (its window).
    """

    train: CodeMatrix
    validation: CodeMatrix
    window_bytes: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.train.n_rows + self.validation.n_rows, self.train.n_columns)

    @property
    def window_blocks(self) -> int:
        """Blocks in one shuffling window (at least 1)."""
        return max(1, self.window_bytes // max(BLOCK_ROWS * self.train.row_bytes, 1))


class BlockRows(Dataset):
    """Rows of a :class:`~tabargn.code_store.CodeMatrix`, read by blocks and cached.

    ``dataset[rows]`` returns int64 ``[len(rows), C]``; blocks stay in their compact dtypes in
    an LRU cache of ``cache_blocks`` blocks, and are converted per batch.
    """

    def __init__(self, matrix: CodeMatrix, cache_blocks: int) -> None:
        self.matrix = matrix
        self.cache_blocks = max(1, cache_blocks)
        self.cache: OrderedDict[int, list] = OrderedDict()

    def __len__(self) -> int:
        return self.matrix.n_rows

    def _block(self, b: int) -> list:
        if b in self.cache:
            self.cache.move_to_end(b)
            return self.cache[b]
        start = b * BLOCK_ROWS
        stop = min(start + BLOCK_ROWS, self.matrix.n_rows)
        block = []
        for dtype, cols in self.matrix.groups.items():
            data = self.matrix.read(start, stop, dtype)[:, cols]
            block.append((cols, np.ascontiguousarray(data)))
        self.cache[b] = block
        while len(self.cache) > self.cache_blocks:
            self.cache.popitem(last=False)
        return block

    def __getitem__(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.matrix.n_columns), dtype=np.int64)
        blocks = rows // BLOCK_ROWS
        for b in np.unique(blocks).tolist():
            at = np.flatnonzero(blocks == b)
            local = rows[at] - b * BLOCK_ROWS
            for cols, data in self._block(b):
                out[np.ix_(at, cols)] = data[local]
        return torch.from_numpy(out)


class BlockShuffleSampler(Sampler):
    """Batches of row indices: blocks in random order, rows shuffled within each window.

    Args:
        n_rows: Rows of the matrix.
        batch_size: Rows per batch (rows short of a batch at the end of a window are carried
            into the next one, so only the epoch's last batch may hold fewer).
        window_blocks: Blocks of :data:`BLOCK_ROWS` rows per window.
        generator: Shuffling generator (None: sequential order, no shuffling).
    """

    def __init__(
        self,
        n_rows: int,
        batch_size: int,
        window_blocks: int,
        generator: torch.Generator | None,
    ) -> None:
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.window_blocks = max(1, window_blocks)
        self.generator = generator
        self.n_blocks = math.ceil(n_rows / BLOCK_ROWS)

    def _windows(self):
        if self.generator is None:
            order = torch.arange(self.n_blocks)
        else:
            order = torch.randperm(self.n_blocks, generator=self.generator)
        for w in range(0, self.n_blocks, self.window_blocks):
            blocks = order[w : w + self.window_blocks].tolist()
            if self.generator is None:
                yield w * BLOCK_ROWS, min((w + len(blocks)) * BLOCK_ROWS, self.n_rows)
            else:
                yield blocks

    def __iter__(self):
        carry = torch.zeros(0, dtype=torch.int64)  # rows short of a batch, carried over
        for window in self._windows():
            if self.generator is None:
                rows = torch.arange(*window)
            else:
                rows = torch.cat(
                    [
                        torch.arange(b * BLOCK_ROWS, min((b + 1) * BLOCK_ROWS, self.n_rows))
                        for b in window
                    ]
                )
                rows = rows[torch.randperm(len(rows), generator=self.generator)]
            rows = torch.cat([carry, rows])
            full = len(rows) - len(rows) % self.batch_size
            for i in range(0, full, self.batch_size):
                yield rows[i : i + self.batch_size].tolist()
            carry = rows[full:]
        if len(carry):
            yield carry.tolist()

    def __len__(self) -> int:
        return math.ceil(self.n_rows / self.batch_size)


class CodesDataModule(L.LightningDataModule):
    """Train/validation batches of sub-column codes.

    Args:
        codes: int64 ``[n_rows, C]`` (split here at random with ``validation_share``), or
            :class:`StoredCodes` (already split; read by blocks within its window budget).
        batch_size: Rows per batch.
        validation_share: Fraction of rows held out for validation (early stopping); unused
            with :class:`StoredCodes`.
        seed: Seed of the split and of the shuffling.
    """

    def __init__(
        self,
        codes: torch.Tensor | StoredCodes,
        batch_size: int,
        validation_share: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.shuffle_generator = torch.Generator().manual_seed(seed + 1)
        self.stored = codes if isinstance(codes, StoredCodes) else None
        if self.stored is not None:
            self.train_codes, self.val_codes = self.stored.train, self.stored.validation
            return
        train_rows, val_rows = split_rows(
            codes.shape[0], validation_share, torch.Generator().manual_seed(seed)
        )
        self.train_codes = codes[train_rows].contiguous()
        self.val_codes = codes[val_rows].contiguous()

    def _loader(self, codes: torch.Tensor, shuffle: bool) -> DataLoader:
        data = CodeRows(codes)
        base = (
            RandomSampler(data, generator=self.shuffle_generator)
            if shuffle
            else SequentialSampler(data)
        )
        sampler = BatchSampler(base, batch_size=self.batch_size, drop_last=False)
        return DataLoader(data, sampler=sampler, batch_size=None, pin_memory=pins_memory(self))

    def _stored_loader(self, matrix: CodeMatrix, shuffle: bool) -> DataLoader:
        window = self.stored.window_blocks if shuffle else 1
        # the window, plus the blocks of rows carried over from the previous window
        cache = window + math.ceil(self.batch_size / BLOCK_ROWS) + 1
        sampler = BlockShuffleSampler(
            matrix.n_rows, self.batch_size, window, self.shuffle_generator if shuffle else None
        )
        data = BlockRows(matrix, cache)
        return DataLoader(data, sampler=sampler, batch_size=None, pin_memory=pins_memory(self))

    def train_dataloader(self) -> DataLoader:
        if self.stored is not None:
            return self._stored_loader(self.train_codes, shuffle=True)
        return self._loader(self.train_codes, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        if self.stored is not None:
            return self._stored_loader(self.val_codes, shuffle=False)
        return self._loader(self.val_codes, shuffle=False)
