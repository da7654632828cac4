"""The draw of one code per row (tabargn.generation.sample_codes)."""

import torch

import tabargn.generation as generation
from tabargn.generation import sample_codes


def test_draws_follow_the_probabilities_and_skip_impossible_codes():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0, 0.0])  # zeros inside and at the end
    logits = probs.clamp(min=1e-30).log().expand(200_000, -1)
    gen = torch.Generator().manual_seed(0)
    drawn = sample_codes(logits, generator=gen)
    counts = torch.bincount(drawn, minlength=6).float() / drawn.numel()
    torch.testing.assert_close(counts, probs, atol=0.005, rtol=0)
    # a restriction: only codes 0 and 3 allowed, renormalized (0.1 : 0.3)
    allowed = torch.tensor([True, False, False, True, False, False]).expand(200_000, -1)
    drawn = sample_codes(logits, allowed=allowed, generator=gen)
    assert set(drawn.unique().tolist()) == {0, 3}
    assert abs((drawn == 3).float().mean().item() - 0.75) < 0.005


def test_a_uniform_rounded_up_to_the_total_mass_lands_on_the_last_possible_code(monkeypatch):
    """u can round up to the cdf's total; such rows take their last code of positive mass."""
    logits = torch.tensor([[0.0, 0.0, -1e9, -1e9], [0.0, 0.0, 0.0, 0.0]])
    monkeypatch.setattr(generation.torch, "rand", lambda *a, **k: torch.ones(2, 1))
    assert sample_codes(logits).tolist() == [1, 3]
