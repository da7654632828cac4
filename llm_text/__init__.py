"""llm_text: free-text columns for tabargn, generated row by row from the synthetic tabular row.

Main entry point: :class:`TextColumnModel` (``fit(texts, context)``, ``generate(context)``,
``save`` / ``load``). What writes the texts:

* text generators (``fit`` / ``generate``): the offline default :class:`OfflineTextGenerator` (a
  small LSTM trained from scratch, no downloads) and :class:`PromptedTextGenerator` (few-shot
  prompts through a chat client);
* chat clients (answer chat requests, cached, concurrent, with retries and cost accounting):
  :class:`OpenAIChatClient` (any OpenAI-compatible server) and :class:`HuggingFaceChatClient` (a
  local causal LM; needs the optional ``transformers``), both :class:`ChatClient` subclasses.

Methods: one-example data creation (:class:`OneExampleCreator`), personas
(:func:`build_personas`), curation (:class:`Curation`), refinement (``refine=True``), budgets
(:class:`Budget`) and data cards. Evaluation: :func:`text_metrics`.
"""

from .chat import Budget, ChatClient, ChatRequest, ChatResult
from .curation import ConsistencyFilter, Curation, CurationResult
from .hf_client import HuggingFaceChatClient
from .metrics import text_metrics
from .model import TextColumnModel
from .offline import OfflineTextGenerator
from .one_example import OneExampleCreator, select_examples
from .openai_client import OpenAIChatClient
from .personas import build_personas, expand_personas, text_to_persona
from .prompted import PromptedTextGenerator

__all__ = [
    "TextColumnModel",
    "OfflineTextGenerator",
    "PromptedTextGenerator",
    "ChatClient",
    "OpenAIChatClient",
    "HuggingFaceChatClient",
    "ChatRequest",
    "ChatResult",
    "Budget",
    "Curation",
    "CurationResult",
    "ConsistencyFilter",
    "OneExampleCreator",
    "select_examples",
    "text_to_persona",
    "expand_personas",
    "build_personas",
    "text_metrics",
]
