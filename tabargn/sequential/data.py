"""The LightningDataModule of sequences: per-entity windows gathered from one code tensor.

All events are held as one int64 tensor ``[n_events, C]`` sorted by entity and order, with each
entity's offset and length. A training item is one *window* of one entity: steps
``S .. S + W - 1`` with ``S = k * W``. A batch holds windows of the same ``k`` (so the LSTM
prefix has one length, ``S``) and of similar lengths (little padding); its size is bounded by a
budget of events. Batches are gathered with tensor indexing only: no pandas per batch.
Entities are split 80/20 into training and validation (DESIGN.md section 3).
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tabargn.data import pins_memory, split_rows

__all__ = ["SequenceData", "SequenceDataModule"]


class SequenceData(Dataset):
    """Events of a set of entities, indexable by batches of ``(entity, window)`` items.

    Args:
        codes: int64 ``[n_events, C]``, events sorted by entity then order.
        offsets: int64 ``[E]``, index of each entity's first event in ``codes``.
        lengths: int64 ``[E]``, number of events per entity.
        entity_codes: int64 ``[E, Ce]``, each entity's row in the entity codec.
        entities: int64 ``[E']``, the entities of this dataset (indices into the above).
        window: Window length ``W`` in steps.
    """

    def __init__(self, codes, offsets, lengths, entity_codes, entities, window: int) -> None:
        self.codes = codes
        self.offsets = offsets
        self.lengths = lengths
        self.entity_codes = entity_codes
        self.window = window
        ent = entities[lengths[entities] > 0]
        n_windows = (lengths[ent] + window - 1) // window
        self.item_entity = ent.repeat_interleave(n_windows)
        first = torch.cumsum(n_windows, 0) - n_windows
        self.item_window = torch.arange(len(self.item_entity)) - first.repeat_interleave(n_windows)
        steps = lengths[self.item_entity] - self.item_window * window
        self.item_steps = steps.clamp(max=window)  # real events in each item's window

    def __len__(self) -> int:
        return len(self.item_entity)

    def __getitem__(self, items: list[int]) -> dict:
        """A batch: ``codes [B, S + W', C]``, ``entity_codes [B, Ce]``, ``length [B]``, ``start``."""
        items = torch.as_tensor(items, dtype=torch.long)
        e = self.item_entity[items]
        k = int(self.item_window[items[0]])
        start = k * self.window
        span = start + int(self.item_steps[items].max())
        length = self.lengths[e]
        t = torch.arange(span)[None, :]
        idx = self.offsets[e][:, None] + torch.minimum(t, length[:, None] - 1)
        return {
            "codes": self.codes[idx],
            "entity_codes": self.entity_codes[e],
            "length": length,
            "start": start,
        }

    def plan(self, budget: int, generator: torch.Generator | None) -> list[list[int]]:
        """Batches of items: same window index, similar lengths, at most ``budget`` events each.

        With a generator the order inside equal lengths and the order of batches are random.
        """
        n = len(self)
        if n == 0:
            return []
        noise = torch.rand(n, generator=generator) if generator is not None else torch.zeros(n)
        # sort by window index, then by steps (descending), then by noise
        key = self.item_window.double() * 1e6 - self.item_steps.double() + noise.double() * 0.5
        order = torch.argsort(key).tolist()
        batches: list[list[int]] = []
        current: list[int] = []
        width = 0
        for i in order:
            steps = int(self.item_steps[i])
            same = not current or int(self.item_window[current[0]]) == int(self.item_window[i])
            w = max(width, steps)
            if current and (not same or (len(current) + 1) * w > budget):
                batches.append(current)
                current, w = [], steps
            current.append(i)
            width = w
        batches.append(current)
        if generator is not None:
            perm = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[j] for j in perm]
        return batches


class _PlanSampler(Sampler):
    def __init__(self, data: SequenceData, budget: int, generator: torch.Generator | None):
        self.data, self.budget, self.generator = data, budget, generator
        self._fixed = None if generator is not None else data.plan(budget, None)

    def __iter__(self):
        plan = (
            self._fixed if self._fixed is not None else self.data.plan(self.budget, self.generator)
        )
        return iter(plan)

    def __len__(self) -> int:
        plan = self._fixed if self._fixed is not None else self.data.plan(self.budget, None)
        return len(plan)


class SequenceDataModule(L.LightningDataModule):
    """Train/validation batches of entity windows (80/20 split by entity).

    Args:
        codes, offsets, lengths, entity_codes: As in :class:`SequenceData`, for all entities.
        batch_events: Budget of padded events per batch.
        window: Window length in steps.
        validation_share: Share of entities held out for validation.
        seed: Seed of the split and the shuffling.
    """

    def __init__(
        self,
        codes: torch.Tensor,
        offsets: torch.Tensor,
        lengths: torch.Tensor,
        entity_codes: torch.Tensor,
        *,
        batch_events: int,
        window: int,
        validation_share: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.batch_events = batch_events
        self.shuffle_generator = torch.Generator().manual_seed(seed + 1)
        with_events = torch.nonzero(lengths > 0).squeeze(1)
        tr, va = split_rows(len(with_events), validation_share, torch.Generator().manual_seed(seed))
        args = (codes, offsets, lengths, entity_codes)
        self.train = SequenceData(*args, with_events[tr], window)
        self.val = SequenceData(*args, with_events[va], window)
        self.n_train_events = int(lengths[with_events[tr]].sum())
        self.n_train_entities = len(tr)

    def _loader(self, data: SequenceData, shuffle: bool) -> DataLoader:
        sampler = _PlanSampler(data, self.batch_events, self.shuffle_generator if shuffle else None)
        return DataLoader(data, sampler=sampler, batch_size=None, pin_memory=pins_memory(self))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)
