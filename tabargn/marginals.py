"""Sub-column code counts and their smoothed frequencies: the marginals a network's predictors
start from (:meth:`tabargn.model.ARGN.init_marginals`) and are calibrated back to after training
(:mod:`tabargn.marginal_calibration`)."""

from __future__ import annotations

import torch

__all__ = ["MARGINAL_SMOOTHING", "code_counts", "smoothed_frequencies"]


def code_counts(codes, n_sub: int) -> list:
    """Per sub-column code counts: ``torch.bincount(codes[:, i])`` for ``i < n_sub``.

    Args:
        codes: int64 ``[n_rows, C]`` codes, or any object whose ``codes[:, i]`` gives
            sub-column ``i`` as an int64 tensor (e.g. :class:`tabargn.out_of_core.MarginalColumns`).
        n_sub: Number of sub-columns ``C``.

    Returns:
        One int64 tensor per sub-column, of length its largest code seen plus one.
    """
    return [torch.bincount(codes[:, i]) for i in range(n_sub)]


#: Added to every code count before the counts become frequencies (Laplace smoothing): codes
#: unseen in the rows counted stay possible.
MARGINAL_SMOOTHING = 0.5


def smoothed_frequencies(counts, size: int, smoothing: float = MARGINAL_SMOOTHING) -> torch.Tensor:
    """One sub-column's smoothed code frequencies, float64 ``[size]`` summing to 1.

    Args:
        counts: Code counts (``counts[c]``: rows with code ``c``; any length: cut or zero-padded
            to ``size``).
        size: Length of the result (the cardinality, or a predictor's padded width).
        smoothing: Added to every count.
    """
    found = torch.as_tensor(counts).double()[:size]
    full = torch.zeros(size, dtype=torch.float64)
    full[: len(found)] = found
    full += smoothing
    return full / full.sum()
