"""The network: permutation masks really mask, per-row orders, single-sub-column path."""

import torch

from tabargn.model import ARGN, LazyCodeTables, ModelConfig


def _network(seed=0, context_dim=0):
    torch.manual_seed(seed)
    # 4 columns: the third has 2 sub-columns, the fourth 3 (one of high cardinality)
    config = ModelConfig(
        cardinalities=[7, 3, 40, 16, 500, 12, 2],
        column_of=[0, 1, 2, 2, 3, 3, 3],
        position=[0, 0, 0, 1, 0, 1, 2],
        hidden=32,
        n_layers=2,
        context_dim=context_dim,
    )
    return ARGN(config)


def _context_network(seed=3):
    return _network(seed, context_dim=5)


def _codes(net, n, seed):
    g = torch.Generator().manual_seed(seed)
    cards = net.config.cardinalities
    return torch.stack([torch.randint(0, c, (n,), generator=g) for c in cards], dim=1)


def _group_logits(net, codes, visible):
    """Logits ``[B, C, K_max]`` gathered from the predictor groups."""
    out = net.forward(codes, visible)
    k = max(o.shape[2] for o in out)
    full = torch.zeros(codes.shape[0], net.n_sub, k)
    for g, logits in enumerate(out):
        members = list(net.groups[g])
        full[:, members, : logits.shape[2]] = logits.transpose(0, 1)
    return full


def test_visibility_is_a_random_order_per_row():
    net = _network()
    vis = net.random_visibility(256, generator=torch.Generator().manual_seed(1))
    n = net.n_sub
    # strict total order: irreflexive, and for i != j exactly one of (i<j, j<i)
    assert not vis[:, torch.arange(n), torch.arange(n)].any()
    assert (vis ^ vis.transpose(1, 2)).sum(dim=(1, 2)).eq(n * (n - 1)).all()
    # sub-columns of one column stay in their fixed order in every row
    assert vis[:, 3, 2].all() and vis[:, 5, 4].all() and vis[:, 6, 5].all()
    # orders differ between rows
    assert len({tuple(v.flatten().tolist()) for v in vis}) > 10


def test_natural_order_share_keeps_the_data_order_for_that_share_of_rows():
    net = _network()
    net.config.natural_order_share = 0.5
    vis = net.random_visibility(2000, generator=torch.Generator().manual_seed(2))
    natural = torch.tril(torch.ones(net.n_sub, net.n_sub, dtype=torch.bool), diagonal=-1)
    is_natural = (vis == natural).all(dim=(1, 2))
    assert 0.45 < is_natural.float().mean() < 0.58  # 0.5 plus the random orders that match
    others = vis[~is_natural]
    assert not others[:, torch.arange(net.n_sub), torch.arange(net.n_sub)].any()
    assert len({tuple(v.flatten().tolist()) for v in others[:200]}) > 10


def test_mask_really_masks():
    """Perturbing a column later in a row's order leaves that sub-column's logits unchanged."""
    net = _network().eval()
    codes = _codes(net, 512, seed=2)
    vis = net.random_visibility(512, generator=torch.Generator().manual_seed(3))
    column = torch.randint(0, net.n_columns, (512,), generator=torch.Generator().manual_seed(4))
    perturbed = codes.clone()
    other = _codes(net, 512, seed=5)
    in_column = net.column_of[None, :] == column[:, None]  # [B, C]
    perturbed[in_column] = other[in_column]
    changed = (perturbed != codes) & in_column  # sub-columns that really changed
    with torch.no_grad():
        before = _group_logits(net, codes, vis)
        after = _group_logits(net, perturbed, vis)
    sees_change = (vis & changed[:, None, :]).any(dim=2)  # [B, C]
    diff = (before - after).abs().amax(dim=2)
    assert diff[~sees_change].max() == 0
    assert (diff[sees_change] > 0).float().mean() > 0.95  # and visible changes do matter


def test_single_sub_column_path_matches_batched_forward():
    net = _network().eval()
    codes = _codes(net, 64, seed=6)
    vis = net.random_visibility(64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        full = _group_logits(net, codes, vis)
        for sub in range(net.n_sub):
            one = net.sub_column_logits(sub, codes, vis[:, sub, :])
            card = net.config.cardinalities[sub]
            torch.testing.assert_close(one, full[:, sub, :card], rtol=1e-5, atol=1e-5)


def test_loss_decreases_on_a_learnable_table():
    net = _network()
    n = 2048
    g = torch.Generator().manual_seed(8)
    a = torch.randint(0, 7, (n,), generator=g)
    codes = _codes(net, n, seed=9)
    codes[:, 1] = a % 3  # column 1 is a function of column 0
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    codes[:, 0] = a
    first = None
    for _ in range(60):
        loss = net.loss(codes, net.random_visibility(n))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first - 1.0


def test_tabulated_first_layer_gives_the_same_logits():
    """Fast generation (first layer as table lookups) equals the direct computation."""
    net = _context_network(seed=3).eval()
    config = net.config
    codes = _codes(net, 64, seed=4)
    known = torch.rand(64, net.n_sub, generator=torch.Generator().manual_seed(5)) < 0.5
    context = torch.randn(64, 5)
    tables = net.first_layer_tables()
    assert tables is not None and tables.shape == (net.n_sub, sum(config.cardinalities), 32)
    for sub in range(net.n_sub):
        direct = net.sub_column_logits(sub, codes, known, context)
        fast = net.sub_column_logits(sub, codes, known, context, tables)
        torch.testing.assert_close(fast, direct, rtol=1e-4, atol=1e-4)
    assert net.first_layer_tables(max_elements=10) is None
    lazy = LazyCodeTables.for_network(net)
    for sub in range(net.n_sub):  # one table at a time: the same rows
        torch.testing.assert_close(lazy[sub], tables[sub], rtol=1e-5, atol=1e-6)
    assert LazyCodeTables.for_network(net, max_elements=10) is None


def test_fast_training_path_gives_the_same_loss_and_gradients():
    """Every variant of the fast path equals the plain one: weights or regressor outputs
    gathered into group order, or the tabulated first layer."""
    net = _context_network()
    codes = _codes(net, 96, seed=11)
    visible = net.random_visibility(96, generator=torch.Generator().manual_seed(12))
    context = torch.randn(96, 5)
    params = list(net.parameters())
    plain = net.loss(codes, visible, context)
    plain_grads = torch.autograd.grad(plain, params)
    assert not net.uses_tables(96) and net.uses_tables(sum(net.config.cardinalities))
    for tabulated, outputs in ((False, False), (False, True), (True, False)):
        net.uses_tables = lambda batch_size, tabulated=tabulated: tabulated
        net.gathers_activations = lambda batch_size, outputs=outputs: outputs
        fast = net.loss(codes, visible, context, fast=True)
        torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-4)
        for got, want in zip(torch.autograd.grad(fast, params), plain_grads, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    del net.uses_tables, net.gathers_activations
    # a sub-column that sees nothing still gets its bias: its logits match too
    nothing = torch.zeros_like(visible)
    torch.testing.assert_close(
        net.loss(codes, nothing, context, fast=True), net.loss(codes, nothing, context)
    )
