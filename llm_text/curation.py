"""Curation of generated texts (filters from the LLM-data survey, arXiv 2406.15126).

:class:`Curation` runs, in this order, on the non-missing texts:

1. **empty**: empty or whitespace-only outputs;
2. **length**: fewer than ``min_chars`` or more than ``max_chars`` characters;
3. **minhash**: near-duplicates by MinHash LSH on word 3-gram shingles (character 5-grams for
   texts of fewer than three words) with Jaccard threshold ``minhash_threshold``; uses
   ``datasketch`` when installed, else an exact NumPy MinHash with the same estimate;
4. **embedding**: near-duplicates whose embedding cosine similarity exceeds
   ``embedding_threshold`` (default 0.9) (:mod:`llm_text.embeddings`: MiniLM if installed, else
   TF-IDF vectors, a surface-level fallback);
5. **consistency**: a classifier trained on real text -> ``consistency_column`` (TF-IDF +
   linear SVM, scikit-learn) must predict the synthetic row's own value of that column.

Dedup is greedy: texts earlier in ``priority`` order are kept, later near-copies are dropped.
With ``against_real=True``, the dedup steps also drop near-copies of real training texts
(memorization).

The same TF-IDF + linear SVM reader (:func:`text_classifier`) also backs :class:`ColumnProbe`,
:data:`FOLDS` classifiers cross-fitted on real texts, with which the text metrics
(:func:`llm_text.metrics.text_metrics`) and the guidance fit (:mod:`llm_text.offline_guidance`)
read how often texts agree with their rows.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError

from .embeddings import cosine_similarity, get_embedder

__all__ = [
    "Curation",
    "CurationResult",
    "ColumnProbe",
    "ConsistencyFilter",
    "minhash_duplicates",
    "embedding_duplicates",
    "text_classifier",
    "value_labels",
]

#: Cross-fitting folds of a :class:`ColumnProbe`.
FOLDS = 4
#: Values of the column a :class:`ColumnProbe` models at most (the most frequent).
TOP_VALUES = 20


_WORD = re.compile(r"\w+", re.UNICODE)


def _shingles(text: str, n_words: int = 3, n_chars: int = 5) -> set[str]:
    words = _WORD.findall(text.lower())
    if len(words) >= n_words:
        return {" ".join(words[i : i + n_words]) for i in range(len(words) - n_words + 1)}
    s = " ".join(words) if words else text.lower()
    if len(s) <= n_chars:
        return {s}
    return {s[i : i + n_chars] for i in range(len(s) - n_chars + 1)}


def _hash32(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=4).digest(), "little")


class _NumpyMinHash:
    """Exact MinHash signatures (universal hashing mod the prime 2^31 - 1), no dependency."""

    _P = np.uint64((1 << 31) - 1)

    def __init__(self, num_perm: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, (1 << 31) - 1, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, (1 << 31) - 1, size=num_perm, dtype=np.uint64)

    def signature(self, shingles: set[str]) -> np.ndarray:
        x = np.array([_hash32(s) for s in shingles], dtype=np.uint64)[:, None] % self._P
        return ((self.a * x + self.b) % self._P).min(axis=0)  # a, x < 2^31: no overflow


def minhash_duplicates(
    texts: list[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 64,
    priority: np.ndarray | None = None,
    reference: list[str] | None = None,
    seed: int = 1,
) -> np.ndarray:
    """Flag near-duplicate texts by MinHash LSH (estimated Jaccard similarity of shingles).

    Args:
        texts: The texts to check.
        threshold: Jaccard similarity above which two texts are near-duplicates (default 0.8).
        num_perm: MinHash permutations (default 64).
        priority: Order in which texts claim their place (default: as given); a text is flagged
            when a near-duplicate earlier in this order was kept.
        reference: Texts that always come first (e.g. the real training texts) and are never
            flagged themselves.
        seed: Hash seed.

    Returns:
        ``bool`` array ``[len(texts)]``: ``True`` for a near-duplicate.
    """
    reference = list(reference or [])
    order = np.arange(len(texts)) if priority is None else np.asarray(priority)
    all_texts = reference + [texts[i] for i in order]
    shingles = [_shingles(t) for t in all_texts]
    try:
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)

        def make(sh):
            m = MinHash(num_perm=num_perm, seed=seed)
            m.update_batch([s.encode("utf-8") for s in sh])
            return m

        def query(m):
            return bool(lsh.query(m))

        def insert(key, m):
            lsh.insert(key, m)
    except ImportError:  # same estimate, exact pairwise check over kept signatures
        hasher = _NumpyMinHash(num_perm, seed)
        kept: list[np.ndarray] = []

        def make(sh):
            return hasher.signature(sh)

        def query(m):
            if not kept:
                return False
            return bool(((np.stack(kept) == m[None, :]).mean(1) >= threshold).any())

        def insert(key, m):
            kept.append(m)

    flags = np.zeros(len(texts), dtype=bool)
    for k, sh in enumerate(shingles):
        m = make(sh)
        if k < len(reference):
            insert(f"r{k}", m)
            continue
        i = int(order[k - len(reference)])
        if query(m):
            flags[i] = True
        else:
            insert(f"s{i}", m)
    return flags


def embedding_duplicates(
    texts: list[str],
    *,
    threshold: float = 0.9,
    embedder: str = "auto",
    priority: np.ndarray | None = None,
    reference: list[str] | None = None,
    chunk: int = 512,
) -> np.ndarray:
    """Flag texts whose embedding cosine similarity to an earlier kept text exceeds ``threshold``.

    Args:
        texts: The texts to check.
        threshold: Cosine similarity above which two texts are duplicates (default 0.9).
        embedder: See :func:`~llm_text.embeddings.get_embedder` (default ``"auto"``: MiniLM when
            installed, else TF-IDF).
        priority: Order in which texts claim their place (default: as given).
        reference: Texts that always come first and are never flagged (e.g. real texts).
        chunk: Rows compared per block (memory ``chunk * n`` floats).

    Returns:
        ``bool`` array ``[len(texts)]``.
    """
    reference = list(reference or [])
    order = np.arange(len(texts)) if priority is None else np.asarray(priority)
    all_texts = reference + [texts[i] for i in order]
    emb = get_embedder(embedder) or get_embedder("tfidf")
    vecs = emb.encode(all_texts)
    n_ref = len(reference)
    kept = np.zeros(len(all_texts), dtype=bool)
    kept[:n_ref] = True
    flags = np.zeros(len(texts), dtype=bool)
    for start in range(n_ref, len(all_texts), chunk):
        stop = min(start + chunk, len(all_texts))
        sims = cosine_similarity(vecs[start:stop], vecs[:stop])
        for r in range(stop - start):
            k = start + r
            if (sims[r, :k][kept[:k]] > threshold).any():
                flags[int(order[k - n_ref])] = True
            else:
                kept[k] = True
    return flags


def value_labels(values) -> pd.Series:
    """A categorical column's values as ``str`` labels (missing: None), indexed ``0..n-1``."""
    return pd.Series(values).reset_index(drop=True).map(lambda v: None if pd.isna(v) else str(v))


def text_classifier(n_texts: int, random_state: int = 0):
    """The scikit-learn pipeline that reads a categorical value from a text: TF-IDF of word
    1-2-grams and character 3-5-grams (sublinear term frequencies; terms in at least 2 texts
    from ``n_texts`` >= 500 on) and a linear SVM (``C=0.5``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.svm import LinearSVC

    min_df = 2 if n_texts >= 500 else 1
    return make_pipeline(
        FeatureUnion(
            [
                ("w", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df,
                                      max_features=20000)),
                ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                      min_df=min_df, max_features=30000)),
            ]
        ),
        LinearSVC(C=0.5, random_state=random_state),
    )  # fmt: skip


class ConsistencyFilter:
    """Classifier real text -> a categorical column, used to check synthetic (text, row) pairs.

    TF-IDF (word 1-2-grams and character 3-5-grams) and a linear SVM, trained on 75% of the real
    texts with their row's value of ``column`` (the ``top_k`` most frequent values; the rest are
    not used). Its accuracy on the other 25% on real data (``accuracy_``, over ``n_held_``
    texts) is compared with always guessing the majority value (``baseline_``); when it is not
    better by ``min_gain``, the filter is not ``usable_`` and keeps everything (text does not
    reveal that column).

    Args:
        column: The categorical context column to check.
        top_k: Values of the column modelled (default 20).
        min_gain: Required accuracy gain over the majority baseline (default 0.05).
        random_state: Seed of the holdout split.
    """

    def __init__(
        self, column: str, *, top_k: int = 20, min_gain: float = 0.05, random_state: int = 0
    ) -> None:
        self.column = column
        self.top_k = int(top_k)
        self.min_gain = float(min_gain)
        self.random_state = int(random_state)
        self.usable_ = False
        self.accuracy_ = float("nan")
        self.baseline_ = float("nan")
        self.n_held_ = 0
        self.model_ = None

    def fit(self, texts: pd.Series, labels: pd.Series) -> ConsistencyFilter:
        """Train on real texts and their rows' values of the column.

        Args:
            texts: Real texts ``[n]`` (NaN rows are skipped).
            labels: The column's values for the same rows ``[n]``.
        """
        from sklearn.model_selection import train_test_split

        y = value_labels(labels)
        x = pd.Series(texts).reset_index(drop=True)
        ok = x.map(lambda t: isinstance(t, str)) & y.notna()
        x, y = x[ok], y[ok]
        top = y.value_counts().index[: self.top_k]
        keep = y.isin(top)
        x, y = x[keep].tolist(), y[keep].tolist()
        if len(set(y)) < 2 or len(y) < 10:
            return self
        model = text_classifier(len(y), self.random_state)
        counts = pd.Series(y).value_counts()
        strat = y if counts.min() >= 2 else None
        xtr, xte, ytr, yte = train_test_split(
            x, y, test_size=0.25, random_state=self.random_state, stratify=strat
        )
        if len(set(ytr)) < 2:
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model.fit(xtr, ytr)
            except ValueError:  # empty vocabulary
                return self
        self.accuracy_ = float(np.mean(model.predict(xte) == np.asarray(yte, dtype=object)))
        self.n_held_ = len(yte)
        self.baseline_ = float(pd.Series(yte).value_counts(normalize=True).iloc[0])
        self.usable_ = self.accuracy_ >= self.baseline_ + self.min_gain
        self.model_ = model
        return self

    def agree(self, texts: pd.Series, labels: pd.Series) -> np.ndarray:
        """Whether each text's predicted value equals its row's value.

        Returns:
            ``bool`` array; ``True`` also where the check does not apply (missing text or label,
            a label outside the modelled values, or an unusable filter).
        """
        texts = pd.Series(texts).reset_index(drop=True)
        y = value_labels(labels)
        out = np.ones(len(texts), dtype=bool)
        if self.model_ is None:
            return out
        classes = set(self.model_.classes_)
        idx = [i for i in range(len(texts)) if isinstance(texts[i], str) and y[i] in classes]
        if idx:
            pred = self.model_.predict([texts[i] for i in idx])
            out[idx] = pred == np.asarray([y[i] for i in idx], dtype=object)
        return out


@dataclass
class ColumnProbe:
    """Cross-fitted classifiers reading one categorical context column from texts.

    Attributes:
        column: The context column.
        models: :data:`FOLDS` fitted pipelines, each trained without one fold of the texts.
        classes: The modelled values (as ``str``).
        accuracy_: Out-of-fold accuracy: each training text read by the model that did not
            learn from it.
        baseline_: Share of the most frequent value (always guessing it).
        n_held_: Texts in ``accuracy_`` (all the training texts with a modelled value).
    """

    column: str
    models: list = field(repr=False)
    classes: set[str]
    accuracy_: float
    baseline_: float
    n_held_: int

    @classmethod
    def fit(cls, column: str, texts: list[str], labels: list[str], random_state: int = 0):
        """Cross-fits the probe on real ``texts`` and their rows' values (``str``); None when
        fewer than two values or :data:`FOLDS` texts per value remain."""
        from sklearn.model_selection import StratifiedKFold

        y = pd.Series(labels)
        top = y.value_counts().index[:TOP_VALUES]
        keep = y.isin(top).to_numpy() & y.map(y.value_counts()).ge(FOLDS).to_numpy()
        x, y = np.asarray(texts, dtype=object)[keep], y[keep].to_numpy(dtype=object)
        if len(set(y)) < 2:
            return None
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=random_state)
        models, right = [], 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for train, held in folds.split(x, y):
                model = text_classifier(len(train), random_state)
                try:
                    model.fit(list(x[train]), y[train])
                except ValueError:  # empty vocabulary
                    return None
                right += int((model.predict(list(x[held])) == y[held]).sum())
                models.append(model)
        baseline = float(pd.Series(y).value_counts(normalize=True).iloc[0])
        return cls(column, models, set(y), right / len(y), baseline, len(y))

    def agree(self, texts: list[str], labels: list[str]) -> np.ndarray:
        """Per text ``[n]`` (``float``), the share of the folds' models that read its row's
        value."""
        if not texts:
            return np.zeros(0)
        truth = np.asarray(labels, dtype=object)
        return np.mean([model.predict(list(texts)) == truth for model in self.models], axis=0)


@dataclass
class CurationResult:
    """Which texts survived curation.

    Attributes:
        keep: ``bool`` array ``[n]``; missing texts count as kept (nothing to filter).
        reasons: ``object`` array ``[n]``: ``None`` or the first filter that dropped the text
            (``"empty"``, ``"length"``, ``"minhash"``, ``"embedding"``, ``"consistency"``).
        counts: ``{"checked", "kept", "empty", "length", "minhash", "embedding", "consistency"}``.
    """

    keep: np.ndarray
    reasons: np.ndarray
    counts: dict = field(default_factory=dict)


@dataclass
class Curation:
    """Filter settings; see the module docstring for the steps and their order.

    Args:
        min_chars: Minimum characters of a kept text (default 1).
        max_chars: Maximum characters, or ``None`` (default).
        minhash_threshold: Jaccard threshold of MinHash dedup, or ``None`` to skip (default 0.8).
        num_perm: MinHash permutations (default 64).
        embedding_threshold: Cosine threshold of embedding dedup, or ``None`` to skip
            (default 0.9).
        embedder: Embedder for embedding dedup (default ``"auto"``).
        consistency_column: Categorical context column checked by a :class:`ConsistencyFilter`,
            or ``None`` (default).
        against_real: Also drop near-copies of the real training texts (default ``False``).
    """

    min_chars: int = 1
    max_chars: int | None = None
    minhash_threshold: float | None = 0.8
    num_perm: int = 64
    embedding_threshold: float | None = 0.9
    embedder: str = "auto"
    consistency_column: str | None = None
    against_real: bool = False

    def __post_init__(self) -> None:
        self.filter_: ConsistencyFilter | None = None
        self.real_texts_: list[str] = []

    def to_dict(self) -> dict:
        """Settings as a JSON-serializable dict."""
        return asdict(self)

    def fit(
        self, texts: pd.Series, context: pd.DataFrame | None = None, *, random_state: int = 0
    ) -> Curation:
        """Learn what needs real data: the consistency classifier and (``against_real``) the
        real texts.

        Raises:
            InvalidDataError: If ``consistency_column`` is set but not in ``context``.
        """
        present = [t for t in pd.Series(texts).tolist() if isinstance(t, str)]
        self.real_texts_ = present if self.against_real else []
        if self.consistency_column is not None:
            if context is None or self.consistency_column not in context.columns:
                raise InvalidDataError(
                    f"consistency_column {self.consistency_column!r} is not a context column"
                )
            self.filter_ = ConsistencyFilter(
                self.consistency_column, random_state=random_state
            ).fit(pd.Series(texts), context[self.consistency_column])
        return self

    def apply(
        self, texts: pd.Series | list, context: pd.DataFrame | None = None, *, priority=None
    ) -> CurationResult:
        """Filter texts.

        Args:
            texts: ``[n]`` texts (``str`` or NaN; NaN means "intentionally missing" and is kept).
            context: ``[n, ...]`` rows of the texts (needed for the consistency check).
            priority: Order of precedence for dedup (default: as given).

        Returns:
            A :class:`CurationResult`.
        """
        texts = list(pd.Series(texts).tolist())
        n = len(texts)
        reasons = np.full(n, None, dtype=object)
        present = np.array([isinstance(t, str) for t in texts], dtype=bool)
        for i in np.flatnonzero(present):
            t = texts[i]
            if not t.strip():
                reasons[i] = "empty"
            elif len(t.strip()) < self.min_chars or (
                self.max_chars is not None and len(t) > self.max_chars
            ):
                reasons[i] = "length"
        order = np.arange(n) if priority is None else np.asarray(priority)

        def alive():
            return [i for i in order if present[i] and reasons[i] is None]

        if self.minhash_threshold is not None:
            idx = alive()
            if idx:
                flags = minhash_duplicates(
                    [texts[i] for i in idx], threshold=self.minhash_threshold, num_perm=self.num_perm,
                    reference=self.real_texts_ or None,
                )  # fmt: skip
                for i, f in zip(idx, flags, strict=True):
                    if f:
                        reasons[i] = "minhash"
        if self.embedding_threshold is not None:
            idx = alive()
            if idx:
                flags = embedding_duplicates(
                    [texts[i] for i in idx], threshold=self.embedding_threshold, embedder=self.embedder,
                    reference=self.real_texts_ or None,
                )  # fmt: skip
                for i, f in zip(idx, flags, strict=True):
                    if f:
                        reasons[i] = "embedding"
        if self.filter_ is not None and self.filter_.usable_ and context is not None:
            idx = alive()
            if idx:
                labels = context[self.consistency_column].reset_index(drop=True)
                agree = self.filter_.agree(pd.Series([texts[i] for i in idx]), labels.iloc[idx])
                for i, a in zip(idx, agree, strict=True):
                    if not a:
                        reasons[i] = "consistency"
        keep = np.array([r is None for r in reasons], dtype=bool)
        counts = {"checked": int(present.sum()), "kept": int((keep & present).sum())}
        for name in ("empty", "length", "minhash", "embedding", "consistency"):
            counts[name] = int((reasons == name).sum())
        return CurationResult(keep, reasons, counts)
