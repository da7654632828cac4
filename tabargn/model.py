"""The ARGN network: per-sub-column embeddings, regressors and predictors with permutation masks.

Reference: Tiwald et al., "TabularARGN: A Flexible and Efficient Auto-Regressive Framework for
Generating High-Fidelity Synthetic Data" (2025, arXiv 2501.12012), sections 3.1-3.3.

A table row is a vector of ``C`` categorical sub-column codes. For every sub-column ``i`` the
network computes ``P(x_i | x_visible(i))``:

1. **Embeddings.** Each sub-column ``j`` has its own embedding table of width ``d_j`` (growing
   with its cardinality). The row's embeddings are concatenated into ``x`` of width ``D = sum d_j``.
2. **Permutation mask.** A boolean ``visible[b, i, j]`` says whether sub-column ``j`` comes before
   ``i`` in row ``b``'s order. Training draws a random *column* order per row; the sub-columns of
   one column always follow each other in their fixed order. The input of sub-column ``i`` is
   ``x`` with the dimensions of invisible sub-columns zeroed, plus the visibility bits themselves
   (so "not visible" and "an embedding that happens to be zero" are told apart).
3. **Regressor.** An MLP per sub-column (its own weights), ``D + C -> H -> ... -> H``.
4. **Predictor.** A linear layer per sub-column, ``H -> cardinality_i``, then softmax.

Vectorization: the regressors of all ``C`` sub-columns run as one batched matmul per layer
(weights ``[C, in, out]``); predictors are grouped by padded cardinality (powers of two), so the
forward pass loops over a handful of groups, never over sub-columns.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from tabargn.marginals import MARGINAL_SMOOTHING, code_counts, smoothed_frequencies

__all__ = [
    "ModelConfig",
    "ARGN",
    "LazyCodeTables",
    "embedding_dim",
    "MODEL_SIZES",
    "REGRESSOR_DROPOUT",
]

# hidden width and number of hidden layers of each regressor. On adult (31k training rows, 2 CPU
# cores) (128, 1) reached the validation loss of (128, 2) at less than half the cost per epoch,
# with detection score 0.92 vs mostlyai-engine's 0.85; see benchmarks/results.
MODEL_SIZES: dict[str, tuple[int, int]] = {
    "small": (64, 1),
    "medium": (128, 1),
    "large": (256, 2),
}

# Dropout after each regressor layer, used by the flat and the sequential models. Without it the
# network overfits within a few epochs and the sampler over-draws frequent values. Adult (39k
# training rows): mean per-column TVD 0.013 -> 0.008 (0.008 between training data and holdout),
# detection score 0.90 -> 0.97, best epoch ~9 -> ~17 (0.25 gave 0.013; 0.5 the same as 0.4, but
# slower). Baseball sequences: coherence of consecutive seasons 0.84 -> 0.92, per-player
# aggregates 0.83 -> 0.90. Flat models with more than 40,000 training rows use less
# (tabargn.flat.flat_dropout).
REGRESSOR_DROPOUT = 0.4


class LazyCodeTables:
    """First-layer tables of an :class:`ARGN`, each computed when it is read: ``tables[sub]``.

    A drop-in for :meth:`ARGN.first_layer_tables` where sub-columns are drawn one at a time
    (flat generation): the same logits, but only one ``[total_codes, H]`` table is alive at a
    time instead of all ``C``; each costs ``sum_j card_j x d_j x H`` multiply-adds per read.

    Args:
        network: The trained network (its weights are read at each access).
    """

    def __init__(self, network: ARGN) -> None:
        self.network = network

    def __getitem__(self, sub: int) -> torch.Tensor:
        with torch.no_grad():
            return self.network.code_tables(sub)

    @classmethod
    def for_network(cls, network: ARGN, max_elements: int = 2**26) -> LazyCodeTables | None:
        """Lazy tables, or None when one table would exceed ``max_elements`` (direct path)."""
        n_codes = network.embedding.num_embeddings
        return None if n_codes * network.weights[0].shape[2] > max_elements else cls(network)


def embedding_dim(cardinality: int) -> int:
    """Embedding width of a sub-column: ``min(card, max(4, 3 * ceil(card ** 0.25)))``, at least 1.

    Follows the growth rule of DESIGN.md section 3 (a small table for small cardinalities).
    """
    return max(1, min(cardinality, max(4, 3 * math.ceil(cardinality**0.25))))


@dataclass
class ModelConfig:
    """Shape of an :class:`ARGN` network (JSON-serializable via ``asdict``).

    Attributes:
        cardinalities: Number of codes of each sub-column, length ``C``.
        column_of: Index of the column each sub-column belongs to, length ``C``.
        position: Position of each sub-column inside its column (0, 1, ...), length ``C``.
        hidden: Width ``H`` of the regressor layers.
        n_layers: Number of hidden layers of each regressor (>= 1).
        dropout: Dropout probability after each hidden layer.
        embedding_dims: Width of each sub-column's embedding; derived when empty.
        context_dim: Width of an optional per-row context vector appended to every regressor's
            input (0: none). Sequential models feed their history and context encoders here.
        natural_order_share: Share of training rows (in [0, 1]) that use the data's column
            order instead of a random one. The unconditional sampler draws in that order, so
            giving it part of the training signal improves unconditional samples while every
            other order is still trained (Shih et al., "Training and Inference on Any-Order
            Autoregressive Models the Right Way", NeurIPS 2022, argue for fewer orders).
    """

    cardinalities: list[int]
    column_of: list[int]
    position: list[int]
    hidden: int = 128
    n_layers: int = 2
    dropout: float = 0.0
    embedding_dims: list[int] = field(default_factory=list)
    context_dim: int = 0
    natural_order_share: float = 0.0

    def __post_init__(self) -> None:
        if not self.embedding_dims:
            self.embedding_dims = [embedding_dim(c) for c in self.cardinalities]

    def to_dict(self) -> dict:
        return asdict(self)


class ARGN(nn.Module):
    """Any-order autoregressive network over categorical sub-columns.

    Args:
        config: The network's shape.

    Shapes: ``B`` rows, ``C`` sub-columns, ``D`` total embedding width, ``H`` hidden width.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        cards = torch.tensor(config.cardinalities, dtype=torch.long)
        dims = torch.tensor(config.embedding_dims, dtype=torch.long)
        n_sub = len(config.cardinalities)
        d_max = int(dims.max())
        self.n_sub = n_sub
        self.n_columns = max(config.column_of) + 1

        # 1. one flat embedding table; sub-column j uses rows offsets[j] .. offsets[j] + card_j
        #    and its first d_j dimensions (the rest of the table row is never read).
        offsets = torch.cumsum(cards, 0) - cards
        self.register_buffer("offsets", offsets, persistent=False)
        self.embedding = nn.Embedding(int(cards.sum()), d_max)
        nn.init.normal_(self.embedding.weight, std=0.5)
        flat = torch.arange(n_sub * d_max).view(n_sub, d_max)
        keep = torch.arange(d_max)[None, :] < dims[:, None]
        self.register_buffer("embedding_index", flat[keep], persistent=False)  # [D]
        self.register_buffer(
            "dim_owner", torch.arange(n_sub).repeat_interleave(dims), persistent=False
        )  # [D]: which sub-column each input dimension belongs to
        d_total = int(dims.sum())

        # 2. ranks used to build permutation masks: sub-columns of a column stay in order
        self.register_buffer(
            "column_of", torch.tensor(config.column_of, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "position", torch.tensor(config.position, dtype=torch.long), persistent=False
        )
        self.max_position = int(max(config.position)) + 1

        # 3. regressors: per-sub-column MLPs, stored as [C, in, out] for batched matmuls
        h = config.hidden
        sizes = [d_total + n_sub + config.context_dim] + [h] * config.n_layers
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1 / math.sqrt(fan_in)  # the default init of nn.Linear, per sub-column
            self.weights.append(
                nn.Parameter(torch.empty(n_sub, fan_in, fan_out).uniform_(-bound, bound))
            )
            self.biases.append(nn.Parameter(torch.zeros(n_sub, fan_out)))
        self.dropout = nn.Dropout(config.dropout)

        # 4. predictors, grouped by cardinality padded to a power of two
        padded = [1 << max(1, math.ceil(math.log2(c))) for c in config.cardinalities]
        self.groups: list[tuple[int, ...]] = []
        self.group_of = [0] * n_sub
        self.slot_of = [0] * n_sub
        self.pred_weights = nn.ParameterList()
        self.pred_biases = nn.ParameterList()
        for g, size in enumerate(sorted(set(padded))):
            members = tuple(i for i in range(n_sub) if padded[i] == size)
            self.groups.append(members)
            for slot, i in enumerate(members):
                self.group_of[i], self.slot_of[i] = g, slot
            bound = 1 / math.sqrt(h)
            self.pred_weights.append(
                nn.Parameter(torch.empty(len(members), h, size).uniform_(-bound, bound))
            )
            self.pred_biases.append(nn.Parameter(torch.zeros(len(members), size)))
            pad = torch.arange(size)[None, :] >= cards[list(members)][:, None]
            self.register_buffer(f"pad_mask_{g}", pad, persistent=False)  # [members, size]
            self.register_buffer(
                f"members_{g}", torch.tensor(members, dtype=torch.long), persistent=False
            )
        # sub-columns sorted by predictor group: the tabulated path computes its hidden states
        # in this order, so each group is a contiguous slice (no activation-sized gathers)
        self.group_sizes = [len(m) for m in self.groups]
        self.register_buffer(
            "group_order",
            torch.tensor([i for m in self.groups for i in m], dtype=torch.long),
            persistent=False,
        )

    @torch.no_grad()
    def init_marginals(self, codes: torch.Tensor, smoothing: float = MARGINAL_SMOOTHING) -> list:
        """Starts every predictor at its sub-column's marginal distribution.

        Sets each predictor's bias to the log of the (smoothed) code frequencies in ``codes`` and
        shrinks its weights tenfold, so that at step 0 every sub-column already predicts its
        marginal; training then only has to learn the dependencies ("init well": the loss starts
        near the sum of the marginal entropies instead of ``sum log(card)``). Under DP, ``codes``
        are drawn from the released DP statistics, never the training rows.

        Args:
            codes: int64 ``[n_rows, C]`` codes, or any object whose ``codes[:, i]`` gives
                sub-column ``i`` (e.g. :class:`tabargn.out_of_core.MarginalColumns`).
            smoothing: Added to every count (Laplace smoothing); keeps unseen codes possible.

        Returns:
            The code counts, one int64 tensor per sub-column (up to its largest code seen).
        """
        counts = code_counts(codes, self.n_sub)
        self.init_marginals_from_counts(counts, smoothing)
        return counts

    @torch.no_grad()
    def init_marginals_from_counts(
        self, counts: list, smoothing: float = MARGINAL_SMOOTHING
    ) -> None:
        """:meth:`init_marginals` from code counts already summed (over data blocks, say).

        Args:
            counts: One count vector per sub-column (``counts[i][c]``: rows with code ``c``).
            smoothing: Added to every count.
        """
        for g, members in enumerate(self.groups):
            size = self.pred_biases[g].shape[1]
            for slot, i in enumerate(members):
                bias = smoothed_frequencies(counts[i], size, smoothing).log().float()
                self.pred_biases[g][slot] = bias.to(self.pred_biases[g].device)
            self.pred_weights[g].mul_(0.1)

    # ------------------------------------------------------------------ masks
    def random_visibility(self, batch_size: int, generator: torch.Generator | None = None):
        """Draws a random column order per row and returns its permutation mask.

        A share ``config.natural_order_share`` of the rows keeps the data's column order.

        Returns:
            Bool tensor ``[B, C, C]``: ``visible[b, i, j]`` is True when sub-column ``j`` precedes
            sub-column ``i`` in row ``b``'s order.
        """
        device = self.offsets.device
        noise = torch.rand(batch_size, self.n_columns, generator=generator, device=device)
        share = self.config.natural_order_share
        if share > 0:  # these rows keep the data's column order
            natural = torch.rand(batch_size, 1, generator=generator, device=device) < share
            ranks = torch.arange(self.n_columns, device=device, dtype=noise.dtype)
            noise = torch.where(natural, ranks[None, :] / self.n_columns, noise)
        column_rank = noise.argsort(dim=1).argsort(dim=1)  # [B, n_columns]
        return self.visibility_from_ranks(column_rank)

    def visibility_from_ranks(self, column_rank: torch.Tensor) -> torch.Tensor:
        """Permutation mask ``[B, C, C]`` from per-row column ranks ``[B, n_columns]``."""
        sub_rank = column_rank[:, self.column_of] * self.max_position + self.position  # [B, C]
        return sub_rank[:, None, :] < sub_rank[:, :, None]

    # ------------------------------------------------------------------ forward
    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Concatenated sub-column embeddings ``[B, D]`` of codes ``[B, C]`` (int64)."""
        e = self.embedding(codes + self.offsets)  # [B, C, d_max]
        return e.flatten(1)[:, self.embedding_index]

    def _regress(self, inputs: torch.Tensor, sub: torch.Tensor | None = None) -> torch.Tensor:
        """Runs the regressors. ``inputs``: ``[C, B, D + C]`` (all sub-columns) or ``[B, D + C]``
        with ``sub`` the single sub-column index; returns ``[C, B, H]`` or ``[B, H]``."""
        h = inputs
        for w, b in zip(self.weights, self.biases, strict=True):
            if sub is None:
                h = torch.baddbmm(b[:, None, :], h, w)
            else:
                h = torch.addmm(b[sub], h, w[sub])
            h = self.dropout(F.relu(h))
        return h

    def code_tables(self, sub: int | None = None) -> torch.Tensor:
        """First-layer contribution of every code to every regressor, ``[C, total_codes, H]``.

        ``table[i, offset_j + r] = E_j[r] @ W1_i[dims of j] + W1_i[bit of j]``: what sub-column
        ``j`` holding code ``r`` adds to the pre-activation of sub-column ``i`` when ``j`` is
        visible to ``i``. Differentiable (one small matmul per sub-column ``j``, ``card_j x d_j``
        by ``d_j x H`` for every ``i``), so training can use it at every step. With ``sub``, only
        that regressor's table, ``[total_codes, H]`` (:class:`LazyCodeTables`).
        """
        # [C, D + C (+ context), H], or [D + C (+ context), H] for one sub-column
        w1 = self.weights[0] if sub is None else self.weights[0][sub]
        dims = self.config.embedding_dims
        d_total = len(self.embedding_index)
        # split once (never slice per sub-column: each slice's backward writes a full-size grad)
        w_dims = torch.split(w1[..., :d_total, :], dims, dim=-2)
        w_bits = torch.unbind(w1[..., d_total : d_total + self.n_sub, :], dim=-2)
        e_rows = torch.split(self.embedding.weight, self.config.cardinalities, dim=0)
        blocks = [
            torch.matmul(e[:, :dim], w)  # [C, card_j, H] (or [card_j, H])
            + bit[..., None, :]
            for e, dim, w, bit in zip(e_rows, dims, w_dims, w_bits, strict=True)
        ]
        return torch.cat(blocks, dim=-2)

    def _hidden_tabulated(
        self, codes: torch.Tensor, visible: torch.Tensor, context: torch.Tensor | None
    ) -> torch.Tensor:
        """Regressor outputs ``[C, B, H]`` of every sub-column, in ``group_order``.

        The first layer sums the :meth:`code_tables` rows of the codes visible to each
        sub-column with ``F.embedding_bag`` (one bag per (sub-column, row)); it equals the first
        layer of the direct path, which is linear in the masked embeddings and visibility bits.
        Sub-columns come in predictor-group order, so :meth:`forward` slices the groups.
        """
        n_b = codes.shape[0]
        order = self.group_order
        tables = self.code_tables()  # [C, T, H]
        n_codes, width = tables.shape[1], tables.shape[2]
        vis = visible[:, order, :].transpose(0, 1)  # [C (group order), B, C]
        # bag (k, b) holds order[k] * T + the flat code of every sub-column visible in row b
        index = (codes + self.offsets)[None, :, :] + (order * n_codes)[:, None, None]
        counts = vis.sum(dim=2).flatten()  # [C * B]
        offsets = torch.cumsum(counts, 0) - counts
        h = F.embedding_bag(index[vis], tables.reshape(-1, width), offsets, mode="sum")
        h = h.view(self.n_sub, n_b, width) + self.biases[0][order][:, None, :]
        if context is not None:
            d_in = len(self.embedding_index) + self.n_sub
            w_context = self.weights[0][order, d_in:, :]  # [C, context_dim, H]
            h = h + torch.matmul(context.to(h.dtype)[None, :, :], w_context)
        h = self.dropout(F.relu(h))
        for w, b in zip(self.weights[1:], self.biases[1:], strict=True):
            h = self.dropout(F.relu(torch.baddbmm(b[order][:, None, :], h, w[order])))
        return h

    def _hidden_direct(
        self,
        codes: torch.Tensor,
        visible: torch.Tensor,
        context: torch.Tensor | None,
        order: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Regressor outputs ``[C, B, H]`` from masked embeddings (sub-columns in ``order``)."""
        x = self.embed(codes)  # [B, D]
        if order is not None:
            visible = visible[:, order, :]
        vis = visible.to(x.dtype)  # [B, C, C]
        masked = x[:, None, :] * vis[:, :, self.dim_owner]  # [B, C, D]
        parts = [masked, vis]
        if context is not None:
            parts.append(context[:, None, :].to(x.dtype).expand(-1, self.n_sub, -1))
        inputs = torch.cat(parts, dim=2).transpose(0, 1)  # [C, B, D + C (+ context)]
        if order is None:
            return self._regress(inputs)
        h = inputs
        for w, b in zip(self.weights, self.biases, strict=True):
            h = self.dropout(F.relu(torch.baddbmm(b[order][:, None, :], h, w[order])))
        return h

    def uses_tables(self, batch_size: int) -> bool:
        """Whether the fast training path tabulates the first layer for this batch size.

        The tables cost ``C x total_codes x H`` per step (values and gradients), the masked
        matmul ``C x B x (D + C) x H``: tabulating pays once a batch holds at least as many rows
        as there are codes. CPU time per step against the plain path, 1 thread, from
        ``benchmarks/forward_speed.py`` (results/forward_speed*.md), six panel tables: at batch
        2048 the tabulated layer took 0.70-0.87x the plain path's time; at batch 128-256
        (fewer rows than codes) 1.2-2.8x, so those batches keep the masked matmul.
        """
        return batch_size >= self.embedding.num_embeddings

    def gathers_activations(self, batch_size: int) -> bool:
        """Whether the fast path puts the regressor outputs, not the weights, in group order.

        Either the weights of every regressor layer (``C x in x out`` each) are gathered into
        predictor-group order before the batched matmuls, or the outputs (``C x B x H``) after
        them; each gather is written back by its backward pass at every step. The smaller one
        is gathered: on lending_club_loans (batch 64, 588 inputs) gathering the weights was
        31 % of a step's CPU time.
        """
        weight_elements = sum(w[0].numel() for w in self.weights)
        return batch_size * self.config.hidden < weight_elements

    def forward(
        self,
        codes: torch.Tensor,
        visible: torch.Tensor,
        context: torch.Tensor | None = None,
        fast: bool = False,
    ) -> list[torch.Tensor]:
        """Logits of every sub-column under a permutation mask.

        Args:
            codes: int64 ``[B, C]`` sub-column codes.
            visible: bool ``[B, C, C]`` permutation mask (see :meth:`random_visibility`).
            context: float ``[B, context_dim]`` (only when ``config.context_dim > 0``), seen by
                every sub-column.
            fast: Training path: the same function and gradients, computed with sub-columns
                in predictor-group order (one gather, of the weights or of the regressor
                outputs, whichever is smaller: :meth:`gathers_activations`) and, on large
                batches (:meth:`uses_tables`), the first layer summed from per-code tables
                (:meth:`_hidden_tabulated`: ``O(B C^2 H)`` additions instead of the
                ``O(B C D H)`` masked matmul, no ``[B, C, D]`` tensor). The default (False) is
                the plain path that DP-SGD's per-sample gradients are written for.

        Returns:
            One float tensor per predictor group, ``[members, B, padded_cardinality]``; padded
            logits are ``-inf``-like so softmax ignores them.
        """
        if not fast:
            hidden = self._hidden_direct(codes, visible, context)  # [C, B, H]
            per_group = [hidden[getattr(self, f"members_{g}")] for g in range(len(self.groups))]
        else:
            if self.uses_tables(codes.shape[0]):
                hidden = self._hidden_tabulated(codes, visible, context)
            elif self.gathers_activations(codes.shape[0]):
                hidden = self._hidden_direct(codes, visible, context)
                hidden = hidden.index_select(0, self.group_order)
            else:
                hidden = self._hidden_direct(codes, visible, context, self.group_order)
            per_group = torch.split(hidden, self.group_sizes, dim=0)
        out = []
        for g, h in enumerate(per_group):
            logits = torch.baddbmm(self.pred_biases[g][:, None, :], h, self.pred_weights[g])
            pad = getattr(self, f"pad_mask_{g}")[:, None, :]
            out.append(logits.masked_fill(pad, torch.finfo(logits.dtype).min))
        return out

    def loss(
        self,
        codes: torch.Tensor,
        visible: torch.Tensor,
        context: torch.Tensor | None = None,
        fast: bool = False,
    ) -> torch.Tensor:
        """Sum over sub-columns of the mean cross-entropy (nats per row), a scalar tensor.

        ``fast`` as in :meth:`forward` (the same value, cheaper; not for DP-SGD).
        """
        total = codes.new_zeros((), dtype=torch.float32)
        for g, logits in enumerate(self.forward(codes, visible, context, fast)):
            target = codes[:, getattr(self, f"members_{g}")].T  # [members, B]
            total = total + F.cross_entropy(
                logits.float().flatten(0, 1), target.flatten(), reduction="sum"
            )
        return total / codes.shape[0]

    def log_probs(
        self, codes: torch.Tensor, visible: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-row, per-sub-column log-probability of the given codes, ``[B, C]`` float32."""
        result = codes.new_zeros(codes.shape, dtype=torch.float32)
        for g, logits in enumerate(self.forward(codes, visible, context)):
            members = getattr(self, f"members_{g}")
            lp = torch.log_softmax(logits.float(), dim=-1)  # [m, B, K]
            target = codes[:, members].T  # [m, B]
            result[:, members] = lp.gather(2, target[:, :, None]).squeeze(2).T
        return result

    def sub_column_logits(
        self,
        sub: int,
        codes: torch.Tensor,
        known: torch.Tensor,
        context: torch.Tensor | None = None,
        tables: torch.Tensor | None = None,
        known_flat: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, card_sub]`` of one sub-column given the known sub-columns of each row.

        Used in generation, where each row's visible set is exactly what it already knows.

        Args:
            sub: Index of the sub-column to predict.
            codes: int64 ``[B, C]`` codes (entries of unknown sub-columns are ignored).
            known: bool ``[B, C]``, True where a sub-column's code is known.
            context: Optional float ``[B, context_dim]``, as in :meth:`forward`.
            tables: Optional output of :meth:`first_layer_tables`; the same logits, computed
                without the ``D x H`` matmul of the first layer.
            known_flat: With ``tables``, when every row knows the same ``k`` sub-columns: int64
                ``[B, k]``, their codes plus :attr:`offsets` (rows of the flat code table), in
                any order. Saves the per-call gather of the known codes; ``known`` is then not
                read.
        """
        if tables is None:
            x = self.embed(codes)
            vis = known.to(x.dtype)
            parts = [x * vis[:, self.dim_owner], vis]
            if context is not None:
                parts.append(context.to(x.dtype))
            inputs = torch.cat(parts, dim=1)  # [B, D + C (+ context)]
            hidden = self._regress(inputs, sub)
        else:
            # first layer: sum of the tabulated rows of the known codes (an embedding bag)
            table = tables[sub]  # [total_codes, H]
            if known_flat is None:
                known_flat = self.shared_known_codes(codes, known)
            if known_flat is not None:
                # bag only the known codes (unconditional sampling: on average half of them)
                if known_flat.shape[1]:
                    h = F.embedding_bag(known_flat, table, mode="sum") + self.biases[0][sub]
                else:
                    h = self.biases[0][sub].expand(codes.shape[0], -1).clone()
            else:
                h = (
                    F.embedding_bag(
                        codes + self.offsets,
                        table,
                        per_sample_weights=known.to(table.dtype),
                        mode="sum",
                    )
                    + self.biases[0][sub]
                )
            if context is not None:
                w_context = self.weights[0][sub, self.n_sub + len(self.embedding_index) :]
                h = h + context.to(h.dtype) @ w_context
            hidden = h.relu_()
            for w, b in zip(self.weights[1:], self.biases[1:], strict=True):
                hidden = torch.addmm(b[sub], hidden, w[sub]).relu_()
        g, slot, card = self.group_of[sub], self.slot_of[sub], self.config.cardinalities[sub]
        # only the real codes' columns (the group pads cardinalities to a power of two)
        return torch.addmm(
            self.pred_biases[g][slot][:card], hidden, self.pred_weights[g][slot][:, :card]
        )

    def shared_known_codes(self, codes: torch.Tensor, known: torch.Tensor) -> torch.Tensor | None:
        """Flat code-table rows of the known sub-columns when every row knows the same ones.

        Args:
            codes: int64 ``[B, C]``.
            known: bool ``[B, C]``.

        Returns:
            int64 ``[B, k]`` (codes plus :attr:`offsets` of the ``k`` known sub-columns, in
            sub-column order), or None when rows know different sub-columns or ``B`` is 0.
        """
        if len(known) == 0 or not bool((known == known[:1]).all()):
            return None
        cols = known[0].nonzero().squeeze(1)
        return codes[:, cols] + self.offsets[cols]

    @torch.no_grad()
    def first_layer_tables(self, max_elements: int = 2**26) -> torch.Tensor | None:
        """Tabulates every regressor's first layer per input code, for fast generation.

        The first layer is linear and its input is a sum of per-sub-column blocks (the masked
        embedding and the visibility bit of each sub-column ``j``), so for a predicted sub-column
        ``i`` and a code ``r`` of sub-column ``j``: ``table[i, offset_j + r] = E_j[r] @ W1_i[dims
        of j] + W1_i[bit of j]``. The pre-activation of ``i`` is then the sum of the table rows
        of the known codes: ``C`` additions of width ``H`` per sub-column instead of a
        ``(D + C) x H`` matmul.

        Args:
            max_elements: Size limit of the table; beyond it None is returned (the caller falls
                back to the direct computation).

        Returns:
            float ``[C, total_codes, H]`` or None.
        """
        if self.n_sub * self.embedding.num_embeddings * self.weights[0].shape[2] > max_elements:
            return None
        return self.code_tables()
