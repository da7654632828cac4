"""llm_text: free-text columns for tabargn, generated row by row from the synthetic tabular row.

Main entry point: :class:`TextColumnModel` (``fit(texts, context)``, ``generate(context)``,
``save`` / ``load``). Backends: the offline default (:class:`OfflineBackend`, a small LSTM trained
from scratch, no downloads), :class:`OpenAIBackend` (any OpenAI-compatible server, cached,
concurrent, with retries and cost accounting) and :class:`HuggingFaceBackend` (a local causal LM;
needs the optional ``transformers``). Methods: one-example data creation
(:class:`OneExampleCreator`), personas (:mod:`llm_text.personas`), curation (:class:`Curation`),
refinement (``refine=True``), budgets (:class:`Budget`) and data cards. Evaluation:
:func:`text_metrics`.
"""

from ._text import clean_series, clean_text, is_text_column
from .chat import Budget, ChatBackend, ChatRequest, ChatResult
from .context import ContextEncoder, describe_row
from .curation import ConsistencyFilter, Curation, CurationResult
from .hf_backend import HuggingFaceBackend
from .metrics import text_metrics
from .model import TextColumnModel
from .offline import OfflineBackend
from .one_example import OneExampleCreator, select_examples
from .openai_backend import OpenAIBackend
from .personas import build_personas, expand_personas, text_to_persona
from .prompted import PromptedGenerator

__all__ = [
    "TextColumnModel",
    "OfflineBackend",
    "OpenAIBackend",
    "HuggingFaceBackend",
    "ChatBackend",
    "ChatRequest",
    "ChatResult",
    "PromptedGenerator",
    "Budget",
    "Curation",
    "CurationResult",
    "ConsistencyFilter",
    "OneExampleCreator",
    "select_examples",
    "text_to_persona",
    "expand_personas",
    "build_personas",
    "ContextEncoder",
    "describe_row",
    "text_metrics",
    "clean_text",
    "clean_series",
    "is_text_column",
]
