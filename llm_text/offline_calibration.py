"""Length and missingness calibration of the offline text model.

Two weaknesses of a small sampled language model are fixed here, both measured on the FAA bird
strike remarks before the change (``benchmarks/results/text_faa_bird_strikes.json``): sampled texts
ran long (108 characters on average against 66 real: a small LSTM underestimates the end-of-text
probability in the states its own samples drift into, the exposure bias of Bengio et al.,
*Scheduled Sampling*, NeurIPS 2015), and the missing head predicted 17.7 % missing texts for 14.9 %
real.

* **Length.** The length of a text is modelled explicitly, like the length-controlled decoders of
  Kikuchi et al., *Controlling Output Length in Neural Encoder-Decoders* (EMNLP 2016, "LenEmb":
  the remaining length is embedded and fed at every step). A *length head* on the row's context
  vector predicts a length bucket (:class:`LengthBuckets`: quantiles of the training token
  lengths); at sampling time a bucket is drawn from it, an exact token length is drawn from the
  training lengths inside that bucket, the LSTM reads the remaining length at every step and the
  end-of-text token is emitted exactly there. The length distribution therefore follows the real
  one conditioned on the row, and the model learns to wrap a text up when few tokens remain.
* **Calibration on the held-out split** (Guo et al., *On Calibration of Modern Neural Networks*,
  ICML 2017; Platt scaling, 1999): after training, the missing head's logit gets a scale fitted by
  maximum likelihood on the validation rows (so it is not over-confident on rows it has not seen)
  and then a bias that makes the mean predicted rate over the validation rows' contexts equal the
  missing rate of *all* training rows, and the length head a softmax temperature. The rate comes
  from all rows because a validation split of a few hundred rows has a missing rate a few points
  off (matching it moved the FAA rate from 0.151 to 0.199); the contexts come from the held-out
  rows because on the training rows the head is fitted, and its mean there is lower than on new
  rows (matching on training contexts gave 0.18 on real held-out FAA rows for 0.151).
* **Sampling temperature** (``temperature=None``, the default): the token-sampling temperature
  whose texts, written for the validation rows, have the distinct-2 (Li et al., NAACL 2016) of
  the real texts, both at half the corpus size (:func:`fit_temperature`, :func:`match_count`).
  A fixed temperature does not suit every column: on held-out rows
  (``benchmarks/results/text_tune_*.md``) temperature 1.0 gave FAA remarks a distinct-2 0.03 above
  real and Amazon reviews 0.14 above, 0.9 gave -0.06 and +0.05.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .metrics import distinct_n

__all__ = [
    "LengthBuckets",
    "Calibration",
    "text_lengths",
    "calibrate",
    "distinct_2_at",
    "fit_temperature",
    "match_count",
]

#: Quantile buckets of the token length predicted by the length head.
LENGTH_BUCKETS = 16
#: Range of the sampling temperature searched by :func:`fit_temperature`, and its steps.
SAMPLING_TEMPERATURE_RANGE = (0.6, 1.2)
SAMPLING_TEMPERATURE_STEPS = 4
#: Fewer validation texts than this: no search, temperature 1.0.
MIN_TEMPERATURE_TEXTS = 20
#: Share of the corpus at whose size the distinct-2 is matched (:func:`match_count`).
MATCH_SHARE = 0.5
#: Temperatures tried for the length head on the validation split.
_TEMPERATURES = np.exp(np.linspace(math.log(0.5), math.log(4.0), 25))


def text_lengths(sequences: list[list[int]], eos: int) -> np.ndarray:
    """Text token counts of encoded rows (``[BOS, ids..., EOS]`` or truncated ``[BOS, ids...]``);
    0 for a missing text (``[BOS]``)."""
    return np.array(
        [len(s) - 2 if len(s) > 1 and s[-1] == eos else len(s) - 1 for s in sequences],
        dtype=np.int64,
    )


class LengthBuckets:
    """Quantile buckets of the training text lengths and the lengths seen inside each.

    Args:
        edges: Inner bucket edges (a length ``L`` is in bucket ``searchsorted(edges, L, right)``).
        counts: ``[max_length + 1]`` training texts per token length.
    """

    def __init__(self, edges: list[int], counts: list[int]) -> None:
        self.edges = [int(e) for e in edges]
        self.counts = [int(c) for c in counts]
        table = np.zeros((self.n_buckets, len(self.counts)))
        lengths = np.arange(len(self.counts))
        for k, bucket in enumerate(self.bucket(lengths)):
            table[bucket, k] = self.counts[k]
        table[table.sum(1) == 0, min(1, len(self.counts) - 1)] = 1.0  # an empty bucket: length 1
        self._table = torch.as_tensor(table / table.sum(1, keepdims=True), dtype=torch.float32)

    @classmethod
    def fit(cls, lengths: np.ndarray, max_length: int) -> LengthBuckets:
        """Buckets from the token lengths (> 0) of the training texts."""
        lengths = np.asarray(lengths)
        lengths = lengths[lengths > 0]
        qs = np.linspace(0, 1, LENGTH_BUCKETS + 1)[1:-1]
        edges = np.unique(np.ceil(np.quantile(lengths, qs)).astype(int)) if len(lengths) else []
        counts = np.bincount(np.clip(lengths, 0, max_length), minlength=max_length + 1)
        return cls(list(edges), counts.tolist())

    @property
    def n_buckets(self) -> int:
        return len(self.edges) + 1

    def bucket(self, lengths) -> np.ndarray:
        """Bucket index of each length."""
        return np.searchsorted(np.asarray(self.edges), np.asarray(lengths), side="right")

    def draw(self, logits: torch.Tensor, temperature: float, generator: torch.Generator):
        """Target token lengths ``[batch]`` (CPU int64): a bucket from ``softmax(logits / T)``,
        then a length from the training lengths in it. Draws on ``generator``'s device."""
        device = generator.device
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        buckets = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        rows = self._table.to(device)[buckets]
        return torch.multinomial(rows, 1, generator=generator).squeeze(1).cpu()

    def to_dict(self) -> dict:
        return {"edges": self.edges, "counts": self.counts}

    @classmethod
    def from_dict(cls, d: dict) -> LengthBuckets:
        return cls(d["edges"], d["counts"])


class Calibration:
    """Post-hoc calibration of the two heads (identity until :func:`calibrate` sets it).

    Attributes:
        missing_scale: Factor on the missing logit.
        missing_bias: Added to the scaled missing logit.
        length_temperature: Softmax temperature of the length head.
        temperature: Token-sampling temperature fitted by :func:`fit_temperature` (used when the
            generator's ``temperature`` is ``None``).
        guidance: Guidance weight fitted by :func:`llm_text.offline_guidance.fit_guidance`
            (used when the generator's ``guidance`` is ``None``; default 1.5).
    """

    def __init__(
        self,
        missing_scale: float = 1.0,
        missing_bias: float = 0.0,
        length_temperature: float = 1.0,
        temperature: float = 1.0,
        guidance: float = 1.5,
    ) -> None:
        self.missing_scale = float(missing_scale)
        self.missing_bias = float(missing_bias)
        self.length_temperature = float(length_temperature)
        self.temperature = float(temperature)
        self.guidance = float(guidance)

    def missing_logit(self, logit: torch.Tensor, bias: float | None = None) -> torch.Tensor:
        """The calibrated logit; ``bias`` replaces :attr:`missing_bias` when given."""
        return logit * self.missing_scale + (self.missing_bias if bias is None else bias)

    def to_dict(self) -> dict:
        return {
            "missing_scale": self.missing_scale,
            "missing_bias": self.missing_bias,
            "length_temperature": self.length_temperature,
            "temperature": self.temperature,
            "guidance": self.guidance,
        }

    @classmethod
    def from_dict(cls, d: dict | None) -> Calibration:
        return cls(**(d or {}))


@torch.no_grad()
def _head_outputs(network, items, buckets: LengthBuckets | None, eos: int):
    """Missing logits, missing labels, length logits and length buckets of the given rows."""
    codes = torch.as_tensor(np.stack([it[1] for it in items]), dtype=torch.long)
    sequences = [it[0] for it in items]
    missing = torch.as_tensor([float(len(s) == 1) for s in sequences])
    ctx = network.context_vector(codes)
    miss_logit = network.missing_logit(ctx)
    if buckets is None or not network.length_buckets:
        return miss_logit, missing, None, None
    lengths = text_lengths(sequences, eos)
    present = lengths > 0
    target = torch.as_tensor(buckets.bucket(lengths[present]), dtype=torch.long)
    return miss_logit, missing, network.length_head(ctx)[torch.as_tensor(present)], target


def match_rate(z: torch.Tensor, scale: float, rate: float) -> float:
    """The bias ``b`` with ``mean(sigmoid(scale * z + b)) == rate`` (bisection over [-30, 30]).

    Args:
        z: Raw missing logits, float ``[n_rows]``.
        scale: The calibrated factor on ``z``.
        rate: The target mean probability, in (0, 1).
    """
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if float(torch.sigmoid(z * scale + mid).mean()) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def calibrate(
    network, items, buckets: LengthBuckets | None, eos: int, all_items=None
) -> Calibration:
    """Fit a :class:`Calibration` on held-out rows (identity when there are none).

    Args:
        network: The trained :class:`~llm_text.offline_network.ConditionalLM`, eval mode, CPU.
        items: ``[(token ids, context codes), ...]`` validation rows.
        buckets: The length buckets, or ``None`` without a length head.
        eos: The end-of-text id.
        all_items: Every training row (validation included): the missing bias is set so the
            mean predicted rate over the contexts of ``items`` equals the missing rate of
            ``all_items`` (default: ``items``).

    Returns:
        The fitted calibration; the missing scale is maximum-likelihood on ``items`` (Platt
        scaling) when they hold both missing and present texts, the bias matches the rate of
        ``all_items`` on the contexts of ``items``; the length temperature minimizes the validation negative
        log-likelihood over a grid in [0.5, 4].
    """
    cal = Calibration()
    if not items:
        return cal
    was_training = network.training
    network.eval()
    z, y, length_logits, length_target = _head_outputs(network, items, buckets, eos)
    network.train(was_training)
    if 0 < float(y.sum()) < len(y):
        params = torch.tensor([1.0, 0.0], requires_grad=True)
        opt = torch.optim.LBFGS([params], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")
        loss_fn = nn.BCEWithLogitsLoss()

        def closure():
            opt.zero_grad()
            # a little L2 towards the identity keeps tiny validation splits sane
            loss = loss_fn(z * params[0] + params[1], y) + 1e-3 * (
                (params[0] - 1) ** 2 + params[1] ** 2
            )
            loss.backward()
            return loss

        opt.step(closure)
        scale, bias = params.detach().tolist()
        if math.isfinite(scale) and math.isfinite(bias) and scale > 0:
            cal.missing_scale, cal.missing_bias = scale, bias
    rate = float(np.mean([len(it[0]) == 1 for it in (all_items or items)]))
    if 0 < rate < 1:
        cal.missing_bias = match_rate(z, cal.missing_scale, rate)
    if length_logits is not None and len(length_target):
        nll = [
            float(nn.functional.cross_entropy(length_logits / t, length_target))
            for t in _TEMPERATURES
        ]
        cal.length_temperature = float(_TEMPERATURES[int(np.argmin(nll))])
    return cal


def distinct_2_at(texts: list[str], count: int) -> float:
    """Distinct-2 that ``texts`` would have as a corpus of ``count`` texts (Heaps' law).

    Distinct-2 falls as a corpus grows: its distinct bigrams grow like ``K m^beta`` with the
    bigram count ``m`` (Heaps' law; Heaps, *Information Retrieval*, 1978), so
    ``log distinct-2`` is linear in ``log m``, and so in the log of the text count. The slope is
    fitted on nested prefixes of ``texts`` (a quarter, half, all) and followed up to ``count``
    texts. For ``count`` at most ``len(texts)``, the distinct-2 of the first ``count`` texts.

    Args:
        texts: Texts in random order (non-missing).
        count: Corpus size in texts.

    Returns:
        The distinct-2 (NaN when ``texts`` holds no bigram).
    """
    n = len(texts)
    if count <= n:
        return distinct_n(texts[: max(count, 1)], 2)
    sizes = [max(1, n // 4), max(1, n // 2), n]
    values = [distinct_n(texts[:k], 2) for k in sizes]
    if len(set(sizes)) < 3 or not all(math.isfinite(v) and v > 0 for v in values):
        return values[-1]
    # the bigram count grows with the text count (at the texts' mean bigrams per text)
    slope = float(np.polyfit(np.log(sizes), np.log(values), 1)[0])
    return values[-1] * (count / n) ** min(slope, 0.0)


def match_count(n_real: int, n_corpus: int) -> int:
    """The corpus size, in texts, at which :func:`fit_temperature` matches the distinct-2.

    Generated texts' distinct-2 falls more slowly with their count than real texts' (real
    columns repeat stock phrases), so no temperature matches it at every size: on Amazon reviews
    (4,000 rows) the temperature matched at 4,000 texts left generated texts 0.057 below the
    real distinct-2 at 1,000 texts, while one matched at 1,000 would be 0.07 above it at 4,000.
    Synthetic texts are compared with real ones at the corpus size (the evaluation, against the
    training texts) and at a holdout's size (commonly a quarter of that); the middle of that
    range on a log scale, half the corpus, balances the two gaps (Amazon, temperature 0.93
    matched at 2,000 texts: -0.014 at 1,000, +0.018 at 4,000).

    Args:
        n_real: Real validation texts.
        n_corpus: Texts of the whole column (at most the evaluation's corpus size).

    Returns:
        ``max(n_real, MATCH_SHARE * n_corpus)``, or ``n_real`` for a corpus no larger.
    """
    if n_corpus <= n_real:
        return n_real
    return max(n_real, int(n_corpus * MATCH_SHARE))


def fit_temperature(sample, real_texts: list[str], corpus: list[str] | None = None) -> float:
    """The sampling temperature whose texts match the real distinct-2 at :func:`match_count`.

    Distinct-2 rises with the temperature, so a bisection over
    ``SAMPLING_TEMPERATURE_RANGE`` (4 steps) brackets where the generated texts' distinct-2
    crosses the real one, and the temperature is interpolated linearly inside the last bracket
    (an end of the range when it does not cross).

    Both sides are compared at :func:`match_count` texts, not at the few hundred validation texts:
    real columns repeat stock phrases, so their distinct-2 falls faster with the count than a
    sampled model's, and a temperature matched on 300 texts left generated FAA remarks and Amazon
    reviews 0.06-0.07 more diverse than real ones at 2,400-6,000 texts
    (``benchmarks/results/text_issue15.md``). The real side is the distinct-2 of the first
    ``count`` texts of ``corpus``; the generated side is measured on as many texts when
    ``sample`` returns that many, else extrapolated by :func:`distinct_2_at` (which reads high:
    on real Amazon reviews, 400 texts extrapolated to 4,000 gave 0.368 for 0.314, 1,200 to 2,000
    0.381 for 0.377).

    Args:
        sample: ``temperature -> list of texts`` (the same rows, the same seed at every call;
            ideally :func:`match_count` texts).
        real_texts: The real validation texts (non-missing).
        corpus: The real texts of the whole column (non-missing, random order); None or no
            more than ``real_texts``: both sides are compared at the validation size.

    Returns:
        The temperature; 1.0 for fewer than 20 real texts.
    """
    if len(real_texts) < MIN_TEMPERATURE_TEXTS:
        return 1.0
    pool = real_texts if corpus is None or len(corpus) <= len(real_texts) else corpus
    count = match_count(len(real_texts), len(pool))
    target = distinct_n(pool[:count], 2)
    if not math.isfinite(target):
        return 1.0
    low, high = SAMPLING_TEMPERATURE_RANGE
    tried = {}
    for _ in range(SAMPLING_TEMPERATURE_STEPS):
        mid = (low + high) / 2
        tried[mid] = distinct_2_at([t for t in sample(mid) if isinstance(t, str)], count)
        if tried[mid] < target:
            low = mid
        else:
            high = mid
    if low in tried and high in tried and tried[high] > tried[low]:
        share = (target - tried[low]) / (tried[high] - tried[low])
        return round(low + min(max(share, 0.0), 1.0) * (high - low), 4)
    return round((low + high) / 2, 4)
