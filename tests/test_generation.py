"""Generation: the draw of one code per row (sample_codes) and the tabulated draw loop."""

import torch

import tabargn.generation as generation
from tabargn.generation import sample_codes
from tests.test_model import _network


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


def _draw(net, codes, known, tables, seed=7):
    codes, known = codes.clone(), known.clone()
    generation.draw_sub_columns(
        net,
        codes,
        known,
        order=list(range(net.n_sub)),
        rows=torch.arange(codes.shape[0]),
        context=None,
        tables=tables,
        constraint=None,
        temperature=1.0,
        top_p=1.0,
        generator=torch.Generator().manual_seed(seed),
    )
    assert bool(known.all())
    return codes


def test_tabulated_generation_draws_the_same_rows_as_the_direct_path():
    """The buffer of known codes (every row knows the same sub-columns), the per-row bag
    (conditions differ by row) and the eager / lazy tables all draw what the direct path draws."""
    from tabargn.model import LazyCodeTables

    net = _network().eval()  # the small network of the model tests
    n = 400
    codes = torch.zeros(n, net.n_sub, dtype=torch.long)
    eager, lazy = net.first_layer_tables(), LazyCodeTables.for_network(net)
    with torch.no_grad():
        # unconditional: nothing known; conditions on every row alike: sub-columns 1 and 4 known
        for known_cols in ([], [1, 4]):
            known = torch.zeros(n, net.n_sub, dtype=torch.bool)
            known[:, known_cols] = True
            codes[:, 1], codes[:, 4] = 2, 123
            direct = _draw(net, codes, known, None)
            assert torch.equal(_draw(net, codes, known, eager), direct)
            assert torch.equal(_draw(net, codes, known, lazy), direct)
        # conditions that differ by row
        known = torch.rand(n, net.n_sub, generator=torch.Generator().manual_seed(1)) < 0.4
        direct = _draw(net, codes, known, None)
        assert torch.equal(_draw(net, codes, known, eager), direct)
