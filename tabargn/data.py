"""The LightningDataModule: the whole encoded table held as one int64 tensor.

No pandas per batch: batches are index slices of the code tensor ``[n_rows, n_sub_columns]``.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

__all__ = ["CodeRows", "CodesDataModule", "split_rows", "pins_memory"]


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


class CodesDataModule(L.LightningDataModule):
    """Train/validation batches of sub-column codes.

    Args:
        codes: int64 ``[n_rows, C]``.
        batch_size: Rows per batch.
        validation_share: Fraction of rows held out for validation (early stopping).
        seed: Seed of the split and of the shuffling.
    """

    def __init__(
        self, codes: torch.Tensor, batch_size: int, validation_share: float = 0.2, seed: int = 0
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.shuffle_generator = torch.Generator().manual_seed(seed + 1)
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

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_codes, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_codes, shuffle=False)
