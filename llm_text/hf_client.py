"""Chat client for a local Hugging Face causal language model loaded from a directory.

An optional extra: it needs ``transformers`` (and ``peft`` for a LoRA adapter), imported only when
the client is created. Nothing is downloaded: ``model_dir`` must hold the weights and tokenizer.
Prompts are the same chat messages as for :class:`~llm_text.openai_client.OpenAIChatClient`,
rendered with the tokenizer's chat template (or plain ``role: content`` lines when it has none).
"""

from __future__ import annotations

from pathlib import Path

from tabargn.errors import LLMBackendError

from .chat import ChatClient, ChatRequest, RetryableError

__all__ = ["HuggingFaceChatClient"]


class HuggingFaceChatClient(ChatClient):
    """A local causal LM (optionally with a LoRA adapter) used through chat prompts.

    Args:
        model_dir: Directory with a ``transformers`` causal LM and its tokenizer.
        lora_dir: Optional directory of a ``peft`` LoRA adapter to apply.
        device: Torch device (default ``"cpu"``).
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
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                self.model_dir, local_files_only=True
            )
            self.lm = transformers.AutoModelForCausalLM.from_pretrained(
                self.model_dir, local_files_only=True, use_safetensors=True
            )
        except OSError as exc:
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
        cfg.update(model_dir=self.model_dir, lora_dir=self.lora_dir, device=self.device)
        return cfg

    def _render(self, request: ChatRequest) -> str:
        messages = [dict(m) for m in request.messages]
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
