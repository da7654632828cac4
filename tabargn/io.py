"""Saving and loading fitted models: a directory of JSON and safetensors, never pickle.

Layout of a model directory::

    config.json        format version, package version, estimator parameters, network shape,
                       training summary, the seed, the folders of the text models
    encoders.json      column specs and encoding stats (value-protected: no rare values)
    model.safetensors  the network's weights (float32, CPU)
    text/<k>/          one llm_text model per free-text column (config.json, card.json and,
                       offline, model.safetensors + tokenizer.json); see tabargn.text_columns

A model trained on a GPU loads on the CPU. Files written by another format version raise
:class:`tabargn.errors.ModelFileError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tabargn.codec import TableCodec
from tabargn.errors import ModelFileError
from tabargn.model import ARGN, ModelConfig
from tabargn.text_columns import json_safe_params, load_text_models, save_text_models

__all__ = ["FORMAT_VERSION", "save_model", "load_model"]

FORMAT_VERSION = 1
CONFIG, ENCODERS, WEIGHTS = "config.json", "encoders.json", "model.safetensors"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def save_model(model, path: str | Path) -> Path:
    """Writes a fitted :class:`tabargn.TabularARGN` to directory ``path`` (created if needed).

    Returns:
        The directory as a Path.
    """
    from tabargn import __version__

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "package": "tabargn",
        "package_version": __version__,
        "params": json_safe_params(model.get_params()),
        "seed": model.seed_,
        "feature_names": [str(c) for c in model.feature_names_in_],
        "network": model.network_.config.to_dict(),
        "training": model.training_,
    }
    extra = getattr(model, "_extra_config", None)
    if extra:
        config.update(extra())
    text_models = getattr(model, "text_models_", None) or {}
    config["text_models"] = save_text_models(text_models, path)
    (path / CONFIG).write_text(json.dumps(config, indent=2, default=_json_default))
    (path / ENCODERS).write_text(json.dumps(model.codec_.to_json(), default=_json_default))
    state = {
        k: v.detach().float().cpu().contiguous() for k, v in model.network_.state_dict().items()
    }
    save_file(state, str(path / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})
    return path


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(
            f"{path.name} is missing from {path.parent}; is this a tabargn model directory?"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path} is corrupt (not valid JSON: {e})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path} is corrupt (expected a JSON object)")
    return data


def load_model(cls, path: str | Path):
    """Reads a model directory written by :func:`save_model`.

    Raises:
        ModelFileError: The directory or a file is missing, corrupt, of another format version,
            or the weights do not match the network shape.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(f"model directory {path} does not exist")
    config = _read_json(path / CONFIG)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {version!r}; this tabargn reads version {FORMAT_VERSION}"
        )
    encoders = _read_json(path / ENCODERS)
    try:
        model = cls(**config["params"])
        codec = TableCodec.from_json(encoders)
        network = ARGN(ModelConfig(**config["network"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} has an inconsistent configuration: {e!r}") from None
    try:
        state = load_file(str(path / WEIGHTS), device="cpu")
    except FileNotFoundError:
        raise ModelFileError(f"{WEIGHTS} is missing from {path}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path / WEIGHTS} is corrupt: {e}") from None
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(f"{path / WEIGHTS} does not match {CONFIG}: {e}") from None
    if codec.cardinalities != network.config.cardinalities:
        raise ModelFileError(f"{ENCODERS} does not match {CONFIG} in {path}")
    model.seed_ = int(config["seed"])
    model.codec_ = codec
    model.network_ = network.eval()
    model.feature_names_in_ = np.asarray(config["feature_names"], dtype=object)
    model.n_features_in_ = len(model.feature_names_in_)
    model.training_ = config.get("training", {})
    model.text_models_ = load_text_models(config.get("text_models"), path)
    restore = getattr(model, "_restore_extra", None)
    if restore:
        restore(config, path)
    model._reset_stream()
    return model
